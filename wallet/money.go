package wallet

import (
	"strconv"
	"strings"
	"sync"

	"golang.org/x/text/currency"
)

// AmountMax is the largest amount, in minor units, the wallet accepts
// anywhere: one transfer, one fee, one limit. It is far above any real limit
// (10^13 shillings for KES) so it never gets in a customer's way, and far
// below the int64 ceiling (about 9.2×10^18) so that sums of thousands of
// postings, and a day's debits, cannot overflow.
const AmountMax int64 = 1e15

// amountBytesMax bounds the text ParseAmount reads. AmountMax has 16 digits;
// with a decimal point and a few leading zeros, 32 bytes is plenty, and the
// bound keeps a hostile string from costing more than a glance.
const amountBytesMax = 32

// exponentMax is the most minor-unit digits any ISO 4217 currency has
// (CLF has 4). It keeps 10^Exponent × AmountMax-sized values within int64.
const exponentMax = 4

// Currency is an ISO 4217 currency and the number of digits in its minor
// unit: an amount of 1250 is 12.50 KES (Exponent 2) but 1,250 UGX (Exponent 0).
type Currency struct {
	Code     string `json:"code"`     // ISO 4217 code, upper case, e.g. KES
	Exponent int    `json:"exponent"` // digits after the decimal point, e.g. 2 for KES, 0 for UGX
}

// minorDigits overrides CLDR where its digits (what golang.org/x/text reports)
// differ from the ISO 4217 minor unit for a currency the platform targets.
// CLDR describes how amounts are usually displayed; ISO 4217 defines the
// minor unit a ledger counts in. CLDR gives TZS 0 digits, ISO 4217 gives 2.
var minorDigits = map[string]int{
	"TZS": 2,
}

// tenderUnits is the set of currencies that are legal tender somewhere today
// according to CLDR. It keeps out the ISO 4217 codes that are not money a
// wallet can hold: XXX (no currency), XTS (testing), precious metals (XAU…)
// and withdrawn currencies (DEM…), all of which currency.ParseISO accepts.
var tenderUnits = sync.OnceValue(func() map[currency.Unit]bool {
	m := make(map[currency.Unit]bool)
	for it := currency.Query(); it.Next(); {
		m[it.Unit()] = true
	}
	return m
})

// LookupCurrency returns the currency with the given ISO 4217 code (any case,
// e.g. "KES" or "kes"), with its minor-unit exponent from the CLDR data in
// golang.org/x/text (corrected to ISO 4217 where they differ, see minorDigits).
// It returns a CodeInvalid error for a code that is not a currency in use today.
func LookupCurrency(code string) (Currency, error) {
	u, err := currency.ParseISO(code)
	if err != nil || !tenderUnits()[u] {
		return Currency{}, Errorf(CodeInvalid, "%q is not a currency in use; want an ISO 4217 code like KES", excerpt(code))
	}
	// Standard, not Cash: the ledger counts what accounts can hold, not what
	// coins exist (HUF has 2 standard digits but 0 cash digits).
	digits, _ := currency.Standard.Rounding(u)
	c := Currency{Code: u.String(), Exponent: digits}
	if d, ok := minorDigits[c.Code]; ok {
		c.Exponent = d
	}
	if c.Exponent < 0 || c.Exponent > exponentMax {
		return Currency{}, Errorf(CodeInvalid, "currency %s has %d minor-unit digits; at most %d are supported", c.Code, c.Exponent, exponentMax)
	}
	return c, nil
}

// unit returns the number of minor units in one major unit, 10^Exponent.
// A Currency not from LookupCurrency with an absurd exponent is a bug.
func (c Currency) unit() int64 {
	if c.Exponent < 0 || c.Exponent > exponentMax {
		panic("wallet: currency " + c.Code + " has exponent " + strconv.Itoa(c.Exponent) + " outside 0.." + strconv.Itoa(exponentMax))
	}
	u := int64(1)
	for range c.Exponent {
		u *= 10
	}
	return u
}

// ParseAmount parses a decimal amount in major units, as a person types it
// ("100000", "12.50", "12.5", "0.01", ".5"), and returns it in minor units.
// It accepts ASCII digits with at most one decimal point followed by at most
// Exponent digits; a leading dot (".5") is accepted because people write it,
// a trailing one ("5.") is not because it looks like a truncated amount.
// Everything else is a CodeInvalidAmount error with a message a customer can
// act on: empty, signs, separators (commas, spaces), exponents, zero, too many
// decimals, any decimal point for a currency without minor units, or more
// than AmountMax.
func (c Currency) ParseAmount(s string) (int64, error) {
	v, err := c.parseMinor(s)
	if err != nil {
		return 0, err
	}
	if v == 0 {
		return 0, Errorf(CodeInvalidAmount, "the amount must be more than zero")
	}
	return v, nil
}

// parseMinor is ParseAmount without the refusal of zero, for the places (fees
// in a tariff file) where zero is a valid amount.
func (c Currency) parseMinor(s string) (int64, error) {
	c.unit() // panics on a broken currency before any parsing
	return c.parseDecimal(s, c.Exponent, AmountMax, func(v int64) string { return c.Format(v) })
}

// parseDecimal reads s, a decimal amount in major units with at most places
// decimals, as an integer count of 10^-places major units, at most max
// (formatted by show for the message). See ParseAmount for what it accepts.
func (c Currency) parseDecimal(s string, places int, max int64, show func(int64) string) (int64, error) {
	if s == "" {
		return 0, Errorf(CodeInvalidAmount, "the amount is empty")
	}
	if len(s) > amountBytesMax {
		return 0, Errorf(CodeInvalidAmount, "the amount is too long")
	}
	dot, digits := -1, 0
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case '0' <= b && b <= '9':
			digits++
		case b == '.':
			if dot >= 0 {
				return 0, Errorf(CodeInvalidAmount, "the amount has more than one decimal point")
			}
			dot = i
		case b == '+' || b == '-':
			return 0, Errorf(CodeInvalidAmount, "write the amount without a + or - sign")
		case b == ',' || b == ' ' || b == '_' || b == '\'' || b == '\t':
			return 0, Errorf(CodeInvalidAmount, "write the amount without commas, spaces or other separators")
		default:
			return 0, Errorf(CodeInvalidAmount, "the amount must contain only the digits 0-9 and a decimal point")
		}
	}
	if digits == 0 {
		return 0, Errorf(CodeInvalidAmount, "the amount has no digits")
	}
	decimals := 0
	if dot >= 0 {
		decimals = len(s) - dot - 1
		switch {
		case places == 0:
			return 0, Errorf(CodeInvalidAmount, "%s amounts are whole numbers, without a decimal point", c.name())
		case decimals == 0:
			return 0, Errorf(CodeInvalidAmount, "the amount needs digits after the decimal point")
		case decimals > places:
			return 0, Errorf(CodeInvalidAmount, "%s amounts have at most %d decimal places", c.name(), places)
		}
	}
	// v never exceeds max (at most AmountMax) before it is multiplied by
	// 10, so neither the multiplication nor the addition can overflow.
	tooLarge := func() error {
		return Errorf(CodeInvalidAmount, "the amount is more than the maximum of %s", show(max))
	}
	var v int64
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			continue
		}
		v = v*10 + int64(s[i]-'0')
		if v > max {
			return 0, tooLarge()
		}
	}
	for range places - decimals {
		v *= 10
		if v > max {
			return 0, tooLarge()
		}
	}
	return v, nil
}

// name is how messages refer to the currency.
func (c Currency) name() string {
	if c.Code == "" {
		return "the currency's"
	}
	return c.Code
}

// FormatAmount returns minor as a plain decimal in major units: "1250.00"
// for KES, "1250" for UGX, "-5.00" for a negative KES amount. No grouping
// and no code: it is the canonical form for machines and the CLI, and
// ParseAmount reads it back unchanged for every amount in (0, AmountMax].
func (c Currency) FormatAmount(minor int64) string {
	whole, frac, neg := c.split(minor)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	b.WriteString(whole)
	if frac != "" {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}

// Format returns minor for people: the code, then the amount grouped by
// thousands: "KES 1,250.00", "UGX 1,250", "KES -5.00".
func (c Currency) Format(minor int64) string {
	whole, frac, neg := c.split(minor)
	var b strings.Builder
	if c.Code != "" {
		b.WriteString(c.Code)
		b.WriteByte(' ')
	}
	if neg {
		b.WriteByte('-')
	}
	for i := 0; i < len(whole); i++ {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(whole[i])
	}
	if frac != "" {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}

// split returns the digits of |minor| before and after the decimal point.
func (c Currency) split(minor int64) (whole, frac string, neg bool) {
	neg = minor < 0
	u := uint64(minor)
	if neg {
		u = -u // correct for math.MinInt64 too, in two's complement
	}
	s := strconv.FormatUint(u, 10)
	c.unit() // panics on a broken currency
	e := c.Exponent
	if e == 0 {
		return s, "", neg
	}
	if len(s) <= e {
		s = strings.Repeat("0", e-len(s)+1) + s
	}
	return s[:len(s)-e], s[len(s)-e:], neg
}
