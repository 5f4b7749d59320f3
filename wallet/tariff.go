package wallet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/BurntSushi/toml"
)

// basisPointsMax is 100% in basis points.
const basisPointsMax = 10_000

// tariffBytesMax bounds a tariff file. A real one is a few kilobytes; the
// bound stops a wrong path (a log, a binary) from being read whole.
const tariffBytesMax = 1 << 20

// bandsMax bounds each band table. M-Pesa's tables have about fifteen rows;
// thousands would be a generated mistake, and Quote's lookup and
// WriteTable's output should stay small.
const bandsMax = 1_000

// Band is one row of a banded tariff. It covers the amounts from the previous
// band's Max+1 (1 for the first band) up to Max inclusive. All three fields
// are minor units. In a tariff file they are written in major units (see
// ParseTariff), under the same keys.
type Band struct {
	Max        int64 `toml:"max" json:"max"`
	Fee        int64 `toml:"fee" json:"fee"`               // paid by the customer
	Commission int64 `toml:"commission" json:"commission"` // earned by the agent
}

// Percent is a fee proportional to the amount: BasisPoints/10,000 of it,
// rounded half up, then raised to Min and lowered to Cap (0: no cap), and
// never more than the amount itself. Min and Cap are minor units.
type Percent struct {
	BasisPoints int64 `toml:"basis_points" json:"basis_points"`
	Min         int64 `toml:"min" json:"min"`
	Cap         int64 `toml:"cap" json:"cap"`
}

// Tariff says what each kind of transfer costs and who earns what.
//
//	Send      fee paid by the sender; no commission
//	Withdraw  fee paid by the customer; Commission earned by the agent
//	Deposit   free for the customer (Fee must be 0); Commission earned by the agent
//	Till      fee paid by the merchant out of the payment; the customer pays nothing
//	Paybill   fee paid by the business out of the payment; the customer pays nothing
//	Airtime   fee paid by the customer (usually none); no commission
//	Payout    fee paid by the merchant on top of the amount (B2C); no commission
//	Settle    a tab settlement's fee, paid by the merchants out of the
//	          settlement: zero, or a percentage with a floor (Min) so that a
//	          tab of thousands of sub-cent charges pays one fee, not thousands
//
// Float issues, reversals, refunds, holds and releases carry no fee and no
// commission.
type Tariff struct {
	Send     []Band  `toml:"send" json:"send"`
	Withdraw []Band  `toml:"withdraw" json:"withdraw"`
	Deposit  []Band  `toml:"deposit" json:"deposit"`
	Till     Percent `toml:"till" json:"till"`
	Paybill  Percent `toml:"paybill" json:"paybill"`
	Airtime  []Band  `toml:"airtime" json:"airtime"`
	Payout   []Band  `toml:"payout" json:"payout"`
	Settle   Percent `toml:"settle" json:"settle"`
}

// Fee returns the fee on amount (minor units). p must be valid (see
// Tariff.Validate) and amount positive.
func (p Percent) Fee(amount int64) int64 {
	if p.BasisPoints < 0 || p.BasisPoints > basisPointsMax || amount <= 0 {
		panic(fmt.Sprintf("wallet: percent fee of %d basis points on %d", p.BasisPoints, amount))
	}
	// amount×BasisPoints can exceed int64, so multiply into 128 bits. The
	// high word is below 5,000 (amount < 2^63, BasisPoints ≤ 10^4), so the
	// carry of the rounding term cannot overflow it and Div64 cannot panic.
	hi, lo := bits.Mul64(uint64(amount), uint64(p.BasisPoints))
	lo, carry := bits.Add64(lo, basisPointsMax/2, 0)
	hi += carry
	q, _ := bits.Div64(hi, lo, basisPointsMax)
	fee := int64(q) // q ≤ amount, so it fits
	fee = max(fee, p.Min)
	if p.Cap > 0 {
		fee = min(fee, p.Cap)
	}
	return min(fee, amount)
}

// majorBand is a band written in major units, as a person reads a tariff.
type majorBand struct{ max, fee, commission int64 }

// The default bands, in major units. They are illustrative defaults modelled
// on Safaricom's published M-Pesa bands (2023 on), not a copy of any
// operator's current tariff: configure the real one with a tariff file.
// Every table stops at 250,000, the per-transaction limit; larger amounts
// are refused by Quote.
var (
	defaultSend = []majorBand{
		{100, 0, 0}, // sending small amounts is free
		{500, 7, 0},
		{1_000, 13, 0},
		{1_500, 23, 0},
		{2_500, 33, 0},
		{3_500, 53, 0},
		{5_000, 57, 0},
		{7_500, 78, 0},
		{10_000, 90, 0},
		{15_000, 100, 0},
		{20_000, 105, 0},
		{35_000, 108, 0},
		{50_000, 108, 0},
		{250_000, 108, 0},
	}
	defaultWithdraw = []majorBand{
		{100, 11, 5},
		{2_500, 29, 14},
		{3_500, 52, 25},
		{5_000, 69, 33},
		{7_500, 87, 42},
		{10_000, 115, 55},
		{15_000, 167, 80},
		{20_000, 185, 90},
		{35_000, 197, 95},
		{50_000, 278, 135},
		{250_000, 309, 150},
	}
	// Deposits are free for the customer; the operator pays the agent.
	defaultDeposit = []majorBand{
		{100, 0, 1},
		{500, 0, 3},
		{1_000, 0, 5},
		{2_500, 0, 10},
		{5_000, 0, 20},
		{10_000, 0, 35},
		{20_000, 0, 50},
		{50_000, 0, 75},
		{250_000, 0, 100},
	}
	defaultAirtime = []majorBand{
		{250_000, 0, 0},
	}
	// Payouts (B2C): the merchant pays, modelled on M-Pesa's business
	// payment bands; small payouts are free.
	defaultPayout = []majorBand{
		{100, 0, 0},
		{1_500, 5, 0},
		{5_000, 9, 0},
		{20_000, 11, 0},
		{250_000, 13, 0},
	}
)

// Buy goods and pay bill: the merchant pays 0.5%, at most 200.
// Real pay bill tariffs are agreed per business; this is a starting point.
const (
	defaultMerchantBasisPoints = 50
	defaultMerchantCapMajor    = 200
)

// DefaultTariff returns the illustrative default tariff (see defaultSend and
// the tables after it) in c's minor units. Amounts are whole major units, so
// they mean the same in a currency without minor units (UGX) as in KES;
// they are not converted between currencies.
func DefaultTariff(c Currency) Tariff {
	u := c.unit()
	scale := func(major []majorBand) []Band {
		bs := make([]Band, len(major))
		for i, b := range major {
			bs[i] = Band{Max: b.max * u, Fee: b.fee * u, Commission: b.commission * u}
		}
		return bs
	}
	merchant := Percent{BasisPoints: defaultMerchantBasisPoints, Cap: defaultMerchantCapMajor * u}
	return Tariff{
		Send:     scale(defaultSend),
		Withdraw: scale(defaultWithdraw),
		Deposit:  scale(defaultDeposit),
		Till:     merchant,
		Paybill:  merchant,
		Airtime:  scale(defaultAirtime),
		Payout:   scale(defaultPayout),
		// Tab settlements are free by default: the merchant's till or
		// paybill fee is the place to charge for commerce.
		Settle: Percent{},
	}
}

// LoadTariff reads and validates the tariff file at path; see ParseTariff.
func LoadTariff(path string, c Currency) (Tariff, error) {
	f, err := os.Open(path)
	if err != nil {
		return Tariff{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, tariffBytesMax+1))
	if err != nil {
		return Tariff{}, err
	}
	t, err := ParseTariff(data, c)
	if err != nil {
		return Tariff{}, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// tariffFile is a tariff as written in a file: amounts in major units.
type tariffFile struct {
	Send     []bandFile  `toml:"send"`
	Withdraw []bandFile  `toml:"withdraw"`
	Deposit  []bandFile  `toml:"deposit"`
	Till     percentFile `toml:"till"`
	Paybill  percentFile `toml:"paybill"`
	Airtime  []bandFile  `toml:"airtime"`
	Payout   []bandFile  `toml:"payout"`
	// Settle may be left out: settlements are then free.
	Settle *percentFile `toml:"settle"`
}

type bandFile struct {
	Max        majorAmount `toml:"max"`
	Fee        majorAmount `toml:"fee"`
	Commission majorAmount `toml:"commission"`
}

type percentFile struct {
	BasisPoints *int64      `toml:"basis_points"`
	Min         majorAmount `toml:"min"`
	Cap         majorAmount `toml:"cap"`
}

// majorAmount is an amount in major units as written in a tariff file: a
// decimal string ("12.50") or an integer (2500). It keeps the text so the
// currency's own ParseAmount rules apply to it.
type majorAmount struct {
	text string
	set  bool
}

// UnmarshalTOML implements toml.Unmarshaler.
func (a *majorAmount) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		a.text = v
	case int64:
		a.text = strconv.FormatInt(v, 10)
	default:
		// A TOML decimal like 12.5 would arrive as a binary fraction.
		return errors.New("write amounts as integers or quoted decimals, e.g. 2500 or \"12.50\"")
	}
	a.set = true
	return nil
}

// minor converts a to minor units of c; zero is allowed only if zeroOK.
// An amount left out of the file is zero.
func (a majorAmount) minor(c Currency, zeroOK bool) (int64, error) {
	if !a.set {
		if zeroOK {
			return 0, nil
		}
		return 0, errors.New("is missing")
	}
	v, err := c.parseMinor(a.text)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return 0, fmt.Errorf("%q: %s", excerpt(a.text), e.Message)
		}
		return 0, err
	}
	if v == 0 && !zeroOK {
		return 0, fmt.Errorf("%q: must be more than zero", a.text)
	}
	return v, nil
}

// ParseTariff parses a tariff file in TOML and validates it. Amounts are in
// major units of c, as integers or decimal strings (max = 2500, fee = "29",
// fee = "12.50"); max must be positive, fees and commissions may be 0 or left
// out. basis_points is an integer, 50 meaning 0.5%. Every band table (send,
// withdraw, deposit, airtime, payout) and till and paybill are required;
// settle may be left out (free settlements). Unknown keys are refused
// so that a misspelt key is not silently ignored. testdata/tariff.toml is
// the default tariff written out. Errors are CodeInvalid.
func ParseTariff(data []byte, c Currency) (Tariff, error) {
	if len(data) > tariffBytesMax {
		return Tariff{}, Errorf(CodeInvalid, "the tariff file is larger than %d bytes", tariffBytesMax)
	}
	var f tariffFile
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&f)
	if err != nil {
		return Tariff{}, Errorf(CodeInvalid, "tariff: %v", err)
	}
	if keys := md.Undecoded(); len(keys) > 0 {
		return Tariff{}, Errorf(CodeInvalid, "tariff: unknown key %q", excerpt(keys[0].String()))
	}
	var t Tariff
	tables := []struct {
		name string
		in   []bandFile
		out  *[]Band
	}{
		{"send", f.Send, &t.Send},
		{"withdraw", f.Withdraw, &t.Withdraw},
		{"deposit", f.Deposit, &t.Deposit},
		{"airtime", f.Airtime, &t.Airtime},
		{"payout", f.Payout, &t.Payout},
	}
	for _, tb := range tables {
		if len(tb.in) > bandsMax {
			return Tariff{}, Errorf(CodeInvalid, "tariff: %s has more than %d bands", tb.name, bandsMax)
		}
		bands := make([]Band, len(tb.in))
		for i, b := range tb.in {
			var err error
			field := "max"
			if bands[i].Max, err = b.Max.minor(c, false); err == nil {
				field = "fee"
				if bands[i].Fee, err = b.Fee.minor(c, true); err == nil {
					field = "commission"
					bands[i].Commission, err = b.Commission.minor(c, true)
				}
			}
			if err != nil {
				return Tariff{}, Errorf(CodeInvalid, "tariff: %s band %d: %s %v", tb.name, i+1, field, err)
			}
		}
		*tb.out = bands
	}
	percents := []struct {
		name string
		in   percentFile
		out  *Percent
	}{
		{"till", f.Till, &t.Till},
		{"paybill", f.Paybill, &t.Paybill},
	}
	if f.Settle != nil {
		percents = append(percents, struct {
			name string
			in   percentFile
			out  *Percent
		}{"settle", *f.Settle, &t.Settle})
	}
	for _, p := range percents {
		if p.in.BasisPoints == nil {
			return Tariff{}, Errorf(CodeInvalid, "tariff: %s: basis_points is missing", p.name)
		}
		p.out.BasisPoints = *p.in.BasisPoints
		var err error
		field := "min"
		if p.out.Min, err = p.in.Min.minor(c, true); err == nil {
			field = "cap"
			p.out.Cap, err = p.in.Cap.minor(c, true)
		}
		if err != nil {
			return Tariff{}, Errorf(CodeInvalid, "tariff: %s: %s %v", p.name, field, err)
		}
	}
	if err := t.Validate(); err != nil {
		return Tariff{}, err
	}
	return t, nil
}

// Validate checks that t can quote every transfer: each band table has at
// least one band, strictly increasing Max, and fees and commissions in
// [0, AmountMax]; deposits have no fee; sends, airtime and payouts no
// commission (nobody would earn it); percentages are within 0..100% with
// Min ≤ Cap.
// Amounts are reported in minor units. Errors are CodeInvalid.
func (t Tariff) Validate() error {
	tables := []struct {
		name          string
		bands         []Band
		noFee, noComm bool
	}{
		{"send", t.Send, false, true},
		{"withdraw", t.Withdraw, false, false},
		{"deposit", t.Deposit, true, false},
		{"airtime", t.Airtime, false, true},
		{"payout", t.Payout, false, true},
	}
	for _, tb := range tables {
		if len(tb.bands) == 0 {
			return Errorf(CodeInvalid, "tariff: %s has no bands", tb.name)
		}
		if len(tb.bands) > bandsMax {
			return Errorf(CodeInvalid, "tariff: %s has more than %d bands", tb.name, bandsMax)
		}
		prev := int64(0)
		for i, b := range tb.bands {
			bad := func(format string, args ...any) error {
				return Errorf(CodeInvalid, "tariff: %s band %d (max %d): %s", tb.name, i+1, b.Max, fmt.Sprintf(format, args...))
			}
			switch {
			case b.Max <= prev:
				if i == 0 {
					return bad("max must be positive")
				}
				return bad("max must be more than the previous band's max %d", prev)
			case b.Max > AmountMax:
				return bad("max must be at most %d minor units", AmountMax)
			case b.Fee < 0 || b.Fee > AmountMax:
				return bad("fee %d must be between 0 and %d", b.Fee, AmountMax)
			case b.Commission < 0 || b.Commission > AmountMax:
				return bad("commission %d must be between 0 and %d", b.Commission, AmountMax)
			case tb.noFee && b.Fee != 0:
				return bad("fee must be 0: the customer pays nothing for a %s", tb.name)
			case tb.noComm && b.Commission != 0:
				return bad("commission must be 0: no agent takes part in a %s", tb.name)
			}
			prev = b.Max
		}
	}
	for _, p := range []struct {
		name string
		p    Percent
	}{{"till", t.Till}, {"paybill", t.Paybill}, {"settle", t.Settle}} {
		switch {
		case p.p.BasisPoints < 0 || p.p.BasisPoints > basisPointsMax:
			return Errorf(CodeInvalid, "tariff: %s: basis points %d must be between 0 and %d", p.name, p.p.BasisPoints, basisPointsMax)
		case p.p.Min < 0 || p.p.Min > AmountMax:
			return Errorf(CodeInvalid, "tariff: %s: min %d must be between 0 and %d", p.name, p.p.Min, AmountMax)
		case p.p.Cap < 0 || p.p.Cap > AmountMax:
			return Errorf(CodeInvalid, "tariff: %s: cap %d must be between 0 (no cap) and %d", p.name, p.p.Cap, AmountMax)
		case p.p.Cap > 0 && p.p.Min > p.p.Cap:
			return Errorf(CodeInvalid, "tariff: %s: min %d is more than cap %d", p.name, p.p.Min, p.p.Cap)
		}
	}
	return nil
}

// Quote returns the fee and the agent's commission on a transfer of amount
// (minor units) of the given kind; who pays and who earns is as described on
// Tariff. t must be valid (see Validate). Errors: CodeInvalidAmount for an
// amount outside (0, AmountMax]; CodeLimitExceeded (LimitPerTransaction) for
// an amount above the kind's top band; CodeInvalid for an unknown kind.
func (t Tariff) Quote(kind TransferKind, amount int64) (fee, commission int64, err error) {
	if amount <= 0 {
		return 0, 0, Errorf(CodeInvalidAmount, "the amount must be more than zero")
	}
	if amount > AmountMax {
		return 0, 0, Errorf(CodeInvalidAmount, "the amount is more than the maximum")
	}
	var bands []Band
	switch kind {
	case TransferSend:
		bands = t.Send
	case TransferWithdraw:
		bands = t.Withdraw
	case TransferDeposit:
		bands = t.Deposit
	case TransferAirtime:
		bands = t.Airtime
	case TransferPayout:
		bands = t.Payout
	case TransferTill:
		return t.Till.Fee(amount), 0, nil
	case TransferPaybill:
		return t.Paybill.Fee(amount), 0, nil
	case TransferSettle:
		return t.Settle.Fee(amount), 0, nil
	case TransferFloat, TransferReversal, TransferRefund, TransferHold, TransferRelease:
		return 0, 0, nil
	default:
		return 0, 0, Errorf(CodeInvalid, "unknown transfer kind %q", excerpt(string(kind)))
	}
	i, _ := slices.BinarySearchFunc(bands, amount, func(b Band, amount int64) int {
		switch {
		case b.Max < amount:
			return -1
		case b.Max > amount:
			return 1
		}
		return 0
	})
	if i == len(bands) {
		e := Errorf(CodeLimitExceeded, "this amount is more than a single %s may move", kind)
		e.Limit = LimitPerTransaction
		return 0, 0, e
	}
	b := bands[i]
	switch kind {
	case TransferSend, TransferAirtime, TransferPayout:
		return b.Fee, 0, nil
	case TransferDeposit:
		return 0, b.Commission, nil
	}
	return b.Fee, b.Commission, nil
}

// WriteTable writes t as a text table for people (kibubu tariff show): one
// section per kind, one row per band with its amount range, fee and
// commission, and the percent fees (buy goods, pay bill, tab settlement) as
// "0.50% (min KES 0.00, cap KES 200.00)". Refunds, holds and releases are
// free and have no section.
func (t Tariff) WriteTable(w io.Writer, c Currency) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	sections := []struct {
		title string
		bands []Band
	}{
		{"Send money (fee paid by the sender)", t.Send},
		{"Withdraw at an agent (fee paid by the customer, commission to the agent)", t.Withdraw},
		{"Deposit at an agent (free for the customer, commission to the agent)", t.Deposit},
		{"Airtime (fee paid by the customer)", t.Airtime},
		{"Payout to a customer (fee paid by the merchant)", t.Payout},
	}
	for i, s := range sections {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintln(tw, s.title)
		fmt.Fprintln(tw, "  Amount\tFee\tCommission")
		lo := int64(1)
		for _, b := range s.bands {
			fmt.Fprintf(tw, "  %s - %s\t%s\t%s\n", c.Format(lo), c.Format(b.Max), c.Format(b.Fee), c.Format(b.Commission))
			lo = b.Max + 1
		}
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "Buy goods (fee paid by the merchant)\n  %s\n\n", formatPercent(t.Till, c))
	fmt.Fprintf(tw, "Pay bill (fee paid by the business)\n  %s\n\n", formatPercent(t.Paybill, c))
	fmt.Fprintf(tw, "Tab settlement (fee paid by the merchants out of the settlement)\n  %s\n", formatPercent(t.Settle, c))
	return tw.Flush()
}

// formatPercent writes p as "0.50% (min KES 0.00, cap KES 200.00)".
func formatPercent(p Percent, c Currency) string {
	var b strings.Builder
	sign := ""
	bp := p.BasisPoints
	if bp < 0 { // only an invalid tariff; show it as it is
		sign, bp = "-", -bp
	}
	fmt.Fprintf(&b, "%s%d.%02d%% (min %s, ", sign, bp/100, bp%100, c.Format(p.Min))
	if p.Cap > 0 {
		fmt.Fprintf(&b, "cap %s)", c.Format(p.Cap))
	} else {
		b.WriteString("no cap)")
	}
	return b.String()
}
