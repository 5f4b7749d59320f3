package wallet

import (
	"math/bits"
	"strconv"
	"strings"
)

// Micro is an amount in millionths of a currency's major unit: what
// metering (micropayment tabs, pay-per-click) counts in, below the minor
// unit the ledger holds. KES 0.0025, a quarter of a cent, is Micro 2500.
// Only metering holds Micro; the ledger moves whole minor units, and the
// fraction left over is carried to the next settlement (Accrual), so
// nothing is created or destroyed.
type Micro int64

const (
	// MicroPlaces is how many decimals of the major unit a Micro has.
	MicroPlaces = 6
	// MicroMax bounds any Micro amount the wallet accepts: a billion major
	// units, far above any tab's cap, and far enough below the int64
	// ceiling that millions of charges cannot overflow a sum.
	MicroMax Micro = 1e15
)

// MicroPerMinor is how many Micro make one minor unit: 10,000 for KES
// (two decimals), 1,000,000 for UGX (none).
func (c Currency) MicroPerMinor() int64 {
	per := int64(1)
	for range MicroPlaces - c.Exponent {
		per *= 10
	}
	c.unit() // panics on a broken currency
	return per
}

// Micro is minor units as Micro.
func (c Currency) Micro(minor int64) Micro { return Micro(minor * c.MicroPerMinor()) }

// Whole splits m into the whole minor units it holds and the Micro left
// over, 0 ≤ rest < MicroPerMinor for m ≥ 0: m = Micro(minor) + rest.
func (c Currency) Whole(m Micro) (minor int64, rest Micro) {
	per := c.MicroPerMinor()
	minor, r := int64(m)/per, int64(m)%per
	if r < 0 { // floor, for a negative m
		minor, r = minor-1, r+per
	}
	return minor, Micro(r)
}

// ParseMicro parses a decimal amount in major units with at most
// MicroPlaces decimals ("0.0025", "12", ".5"), whatever the currency's own
// minor unit, and returns it in Micro. It refuses what ParseAmount refuses
// (signs, separators, exponents, zero), more decimals, and more than
// MicroMax, with a CodeInvalidAmount error a merchant can act on.
func (c Currency) ParseMicro(s string) (Micro, error) {
	c.unit()
	v, err := c.parseDecimal(s, MicroPlaces, int64(MicroMax), func(v int64) string { return c.FormatMicro(Micro(v)) })
	if err != nil {
		return 0, err
	}
	if v == 0 {
		return 0, Errorf(CodeInvalidAmount, "the amount must be more than zero")
	}
	return Micro(v), nil
}

// FormatMicro writes m as a decimal in major units with the currency's own
// decimals at least and no trailing zeros beyond them: KES 0.0025, KES 1.50,
// UGX 3.25. ParseMicro reads it back.
func (c Currency) FormatMicro(m Micro) string {
	neg := m < 0
	u := uint64(m)
	if neg {
		u = -u
	}
	s := strconv.FormatUint(u, 10)
	if len(s) <= MicroPlaces {
		s = strings.Repeat("0", MicroPlaces-len(s)+1) + s
	}
	whole, frac := s[:len(s)-MicroPlaces], strings.TrimRight(s[len(s)-MicroPlaces:], "0")
	c.unit()
	if len(frac) < c.Exponent {
		frac += strings.Repeat("0", c.Exponent-len(frac))
	}
	if neg {
		whole = "-" + whole
	}
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

// Accrual is a tab's running account in Micro: what was charged against
// its cap, and how much of that has been settled into the ledger. Charges
// accumulate here without touching the ledger; Settle takes the whole minor
// units out and leaves the fraction for the next settlement. At every step
// Charged = Settled + Unsettled, exactly, and Charged ≤ Cap.
type Accrual struct {
	Cap     Micro `json:"cap"`
	Charged Micro `json:"charged"`
	Settled Micro `json:"settled"` // always whole minor units
}

// Unsettled is what was charged and not yet settled.
func (a Accrual) Unsettled() Micro { return a.Charged - a.Settled }

// Charge adds m to the tab. It refuses, changing nothing, an amount that is
// not positive (CodeInvalidAmount) or that would take the charges over the
// cap (CodeLimitExceeded).
func (a *Accrual) Charge(m Micro) error {
	switch {
	case m <= 0 || m > MicroMax:
		return Errorf(CodeInvalidAmount, "a charge must be more than zero and at most %d millionths", MicroMax)
	case m > a.Cap-a.Charged:
		return &Error{Code: CodeLimitExceeded, Message: "the charge would take the tab over its cap", Limit: LimitTabCap}
	}
	a.Charged += m
	return nil
}

// Settle takes the whole minor units of what is unsettled and returns them:
// the amount of the one transfer that settles them into the ledger. The
// fraction of a minor unit stays unsettled, carried to the next settlement.
func (a *Accrual) Settle(c Currency) (minor int64) {
	minor, _ = c.Whole(a.Unsettled())
	a.Settled += c.Micro(minor)
	return minor
}

// Split divides total minor units among parts in proportion to weights, by
// the largest remainder method: each part gets the floor of its exact
// share, and the units left over go one each to the parts with the largest
// fractions, ties to the earlier part. The parts always sum to total, each
// is within one unit of its exact share, and the same input always gives
// the same parts. It panics on a negative total or weight, or weights that
// sum to zero: a bug in the split rules the caller validated.
func Split(total int64, weights []int64) []int64 {
	if total < 0 {
		panic("wallet: split of a negative total")
	}
	var sum int64
	for _, w := range weights {
		if w < 0 {
			panic("wallet: split with a negative weight")
		}
		sum += w
	}
	if sum <= 0 {
		panic("wallet: split with no weight")
	}
	parts := make([]int64, len(weights))
	rems := make([]int64, len(weights))
	left := total
	for i, w := range weights {
		// total × w may exceed int64: (q·sum + r) × w / sum = q·w + r·w / sum,
		// and q·w ≤ total.
		q, r := total/sum, total%sum
		hi, lo := mulDiv(r, w, sum)
		parts[i] = q*w + hi
		rems[i] = lo
		left -= parts[i]
	}
	for ; left > 0; left-- {
		best := -1
		for i := range rems {
			if rems[i] >= 0 && (best < 0 || rems[i] > rems[best]) {
				best = i
			}
		}
		parts[best]++
		rems[best] = -1 // one extra unit each at most
	}
	return parts
}

// mulDiv returns a×b / c and a×b mod c exactly, for 0 ≤ a < c and b ≥ 0:
// the product in 128 bits, so a large total and weights cannot overflow.
// The quotient is below b, so it fits.
func mulDiv(a, b, c int64) (q, r int64) {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	uq, ur := bits.Div64(hi, lo, uint64(c))
	return int64(uq), int64(ur)
}
