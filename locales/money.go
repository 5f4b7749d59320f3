package locales

import (
	"strconv"
	"strings"

	"github.com/kibubu/kibubu/wallet"
)

// numberStyle is how a language writes an amount. Only plain ASCII
// separators: CLDR's French group separator is a no-break space (U+00A0, or
// U+202F in newer CLDR), which is not GSM-7 and would turn a whole screen
// into UCS-2, so French groups with an ordinary space. That is why this is
// plain integer code rather than golang.org/x/text/number: with the
// separators overridden nothing of CLDR is left to use, and integers keep
// every minor unit exact up to math.MinInt64.
type numberStyle struct {
	group     byte // between groups of three digits
	decimal   byte // before the minor-unit digits
	codeAfter bool // "1 250,00 KES" rather than "KES 1,250.00"
}

// styles has one entry per supported language. Kenya and Tanzania write
// 1,250.00 in Kiswahili as in English; francophone West Africa writes
// 1 250,00 and puts the currency after the amount (5 000 FCFA).
var styles = map[string]numberStyle{
	"en": {group: ',', decimal: '.'},
	"sw": {group: ',', decimal: '.'},
	"fr": {group: ' ', decimal: ',', codeAfter: true},
}

// exponentDigitsMax bounds Currency.Exponent: an int64 has at most 19
// digits, and ISO 4217 uses at most 4. A Currency outside 0..18 is a bug.
const exponentDigitsMax = 18

// FormatMoney returns minor (in cur's minor units) as people read money in
// lang: the ISO code and the amount grouped by thousands. In English and
// Kiswahili "KES 1,250.00", "UGX 1,250", "KES -5.00"; in French the code
// follows, "1 250,00 KES", "1 250 XOF", "-5,00 KES", with plain spaces so it
// stays GSM-7. A currency without a code gives the amount alone. An unknown
// lang is formatted as English. It panics on a Currency whose Exponent is
// outside 0..18, which no wallet.LookupCurrency returns.
func FormatMoney(lang string, cur wallet.Currency, minor int64) string {
	st := styles[resolve(lang)]
	amount := formatAmount(st, cur, minor)
	switch {
	case cur.Code == "":
		return amount
	case st.codeAfter:
		return amount + " " + cur.Code
	default:
		return cur.Code + " " + amount
	}
}

// FormatAmount is FormatMoney without the currency code: "1,250.00",
// "-1 250,00", "1,250" for UGX. The mini statement uses it, where the code
// is in the title.
func FormatAmount(lang string, cur wallet.Currency, minor int64) string {
	return formatAmount(styles[resolve(lang)], cur, minor)
}

func formatAmount(st numberStyle, cur wallet.Currency, minor int64) string {
	e := cur.Exponent
	if e < 0 || e > exponentDigitsMax {
		panic("locales: currency " + cur.Code + " has exponent " + strconv.Itoa(e) + " outside 0.." + strconv.Itoa(exponentDigitsMax))
	}
	u := uint64(minor)
	if minor < 0 {
		u = -u // two's complement: right for math.MinInt64 too
	}
	digits := strconv.FormatUint(u, 10)
	if len(digits) <= e {
		digits = strings.Repeat("0", e-len(digits)+1) + digits
	}
	whole, frac := digits[:len(digits)-e], digits[len(digits)-e:]

	var b strings.Builder
	b.Grow(len(digits) + len(digits)/3 + 2)
	if minor < 0 {
		b.WriteByte('-')
	}
	for i := 0; i < len(whole); i++ {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(st.group)
		}
		b.WriteByte(whole[i])
	}
	if e > 0 {
		b.WriteByte(st.decimal)
		b.WriteString(frac)
	}
	return b.String()
}
