package wallet_test

import (
	"math"
	"math/big"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/kibubu/kibubu/wallet"
)

var (
	kesMicro = wallet.Currency{Code: "KES", Exponent: 2}
	ugxMicro = wallet.Currency{Code: "UGX", Exponent: 0}
)

func TestParseMicro(t *testing.T) {
	tests := []struct {
		cur  wallet.Currency
		in   string
		want wallet.Micro // 0: refused
		back string       // FormatMicro of want
	}{
		{kesMicro, "0.0025", 2500, "0.0025"},
		{kesMicro, "0.001", 1000, "0.001"},
		{kesMicro, "0.000001", 1, "0.000001"},
		{kesMicro, "12", 12_000_000, "12.00"},
		{kesMicro, "12.5", 12_500_000, "12.50"},
		{kesMicro, ".5", 500_000, "0.50"},
		{ugxMicro, "3.25", 3_250_000, "3.25"},
		{ugxMicro, "7", 7_000_000, "7"},
		{kesMicro, "1000000000", wallet.MicroMax, "1000000000.00"},
		{kesMicro, "0.0000001", 0, ""},     // seven decimals
		{kesMicro, "0", 0, ""},             // zero
		{kesMicro, "0.000000", 0, ""},      // zero
		{kesMicro, "-0.01", 0, ""},         // sign
		{kesMicro, "1e-3", 0, ""},          // exponent
		{kesMicro, "1,000.5", 0, ""},       // separator
		{kesMicro, "1000000000.01", 0, ""}, // over MicroMax
		{kesMicro, "5.", 0, ""},
		{kesMicro, "", 0, ""},
		{kesMicro, "0x10", 0, ""},
		{kesMicro, "NaN", 0, ""},
	}
	for _, tt := range tests {
		got, err := tt.cur.ParseMicro(tt.in)
		if tt.want == 0 {
			if err == nil || wallet.ErrorCode(err) != wallet.CodeInvalidAmount {
				t.Errorf("%s ParseMicro(%q) = %d, %v; want invalid_amount", tt.cur.Code, tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s ParseMicro(%q) = %d, %v; want %d", tt.cur.Code, tt.in, got, err, tt.want)
		}
		if s := tt.cur.FormatMicro(got); s != tt.back {
			t.Errorf("%s FormatMicro(%d) = %q, want %q", tt.cur.Code, got, s, tt.back)
		}
	}
	if got := kesMicro.FormatMicro(-2500); got != "-0.0025" {
		t.Errorf("FormatMicro(-2500) = %q, want -0.0025", got)
	}
}

// FuzzParseMicro: whatever a merchant sends, ParseMicro never panics, and
// what it accepts is positive, bounded, and formats back to itself.
func FuzzParseMicro(f *testing.F) {
	for _, s := range []string{"0.0025", "12", ".5", "1000000000", "0.0000001", "-1", "1e3", "٣", "0.00000１"} {
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, s string, exp uint8) {
		c := wallet.Currency{Code: "XTS", Exponent: int(exp % 5)}
		m, err := c.ParseMicro(s)
		if err != nil {
			return
		}
		if m <= 0 || m > wallet.MicroMax {
			t.Fatalf("ParseMicro(%q) = %d, out of (0, MicroMax]", s, m)
		}
		back, err := c.ParseMicro(c.FormatMicro(m))
		if err != nil || back != m {
			t.Fatalf("ParseMicro(FormatMicro(%d) = %q) = %d, %v", m, c.FormatMicro(m), back, err)
		}
	})
}

func TestWhole(t *testing.T) {
	for _, tt := range []struct {
		cur   wallet.Currency
		m     wallet.Micro
		minor int64
		rest  wallet.Micro
	}{
		{kesMicro, 0, 0, 0},
		{kesMicro, 9_999, 0, 9_999},
		{kesMicro, 10_000, 1, 0},
		{kesMicro, 25_001, 2, 5_001},
		{kesMicro, -1, -1, 9_999},
		{ugxMicro, 2_500_000, 2, 500_000},
	} {
		minor, rest := tt.cur.Whole(tt.m)
		if minor != tt.minor || rest != tt.rest {
			t.Errorf("%s Whole(%d) = %d, %d; want %d, %d", tt.cur.Code, tt.m, minor, rest, tt.minor, tt.rest)
		}
	}
}

// TestAccrualProperties: random charges against a cap, settled at random
// moments, never create or destroy a Micro and never exceed the cap; every
// settlement is whole minor units, and what stays unsettled after one is
// less than a minor unit.
func TestAccrualProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		cur := rapid.SampledFrom([]wallet.Currency{kesMicro, ugxMicro}).Draw(rt, "currency")
		per := cur.MicroPerMinor()
		a := wallet.Accrual{Cap: wallet.Micro(rapid.Int64Range(1, 1e9).Draw(rt, "cap"))}
		var charged, settled wallet.Micro
		for i := range rapid.IntRange(0, 200).Draw(rt, "steps") {
			if rapid.IntRange(0, 9).Draw(rt, "settle?") == 0 {
				minor := a.Settle(cur)
				if minor < 0 {
					rt.Fatalf("step %d: settled %d", i, minor)
				}
				settled += cur.Micro(minor)
				if u := a.Unsettled(); u < 0 || int64(u) >= per {
					rt.Fatalf("step %d: %d unsettled after a settlement, want under one minor unit (%d)", i, u, per)
				}
				continue
			}
			m := wallet.Micro(rapid.Int64Range(-10, 3*per).Draw(rt, "charge"))
			before := a
			err := a.Charge(m)
			switch {
			case m <= 0 && err == nil, before.Charged+m > before.Cap && err == nil:
				rt.Fatalf("step %d: charge %d on %+v accepted", i, m, before)
			case err != nil && a != before:
				rt.Fatalf("step %d: refused charge %d changed %+v to %+v", i, m, before, a)
			case err == nil:
				charged += m
			}
			if a.Charged > a.Cap {
				rt.Fatalf("step %d: %+v over its cap", i, a)
			}
		}
		if a.Charged != charged || a.Settled != settled || a.Charged != a.Settled+a.Unsettled() {
			rt.Fatalf("%+v: charged %d, settled %d: a Micro was created or lost", a, charged, settled)
		}
		if int64(a.Settled)%per != 0 {
			rt.Fatalf("settled %d is not whole minor units of %d", a.Settled, per)
		}
	})
}

// TestSplitProperties: the parts of a split always sum to the whole, each
// within one unit of its exact share, the same input always gives the
// same parts, and shares in order of weight.
func TestSplitProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		total := rapid.Int64Range(0, math.MaxInt64/2).Draw(rt, "total")
		if rapid.Bool().Draw(rt, "small") {
			total = rapid.Int64Range(0, 1000).Draw(rt, "small total")
		}
		weights := rapid.SliceOfN(rapid.Int64Range(0, math.MaxInt32), 1, 10).Draw(rt, "weights")
		var sum int64
		for _, w := range weights {
			sum += w
		}
		if sum == 0 {
			weights[0], sum = 1, 1
		}
		parts := wallet.Split(total, weights)
		var got int64
		for i, p := range parts {
			got += p
			// exact share = total·w/sum; p must be its floor or floor+1.
			lo := mulDivFloor(total, weights[i], sum)
			if p != lo && p != lo+1 {
				rt.Fatalf("part %d = %d, exact share floor %d (total %d, weights %v)", i, p, lo, total, weights)
			}
			for j := range parts {
				if weights[j] > weights[i] && parts[j] < parts[i] {
					rt.Fatalf("weight %d got %d, less than weight %d's %d", weights[j], parts[j], weights[i], parts[i])
				}
			}
		}
		if got != total {
			rt.Fatalf("parts %v of %d sum to %d", parts, total, got)
		}
		if again := wallet.Split(total, weights); !slices.Equal(again, parts) {
			rt.Fatalf("split of %d by %v gave %v then %v", total, weights, parts, again)
		}
	})
}

// mulDivFloor is ⌊a·b/c⌋ for a, b, c ≥ 0, in arbitrary precision.
func mulDivFloor(a, b, c int64) int64 {
	p := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
	return p.Quo(p, big.NewInt(c)).Int64()
}

func TestSplitExamples(t *testing.T) {
	for _, tt := range []struct {
		total   int64
		weights []int64
		want    []int64
	}{
		{100, []int64{70, 30}, []int64{70, 30}},          // pay-per-click: site owner, network
		{1, []int64{70, 30}, []int64{1, 0}},              // one cent: the larger fraction
		{10, []int64{1, 1, 1}, []int64{4, 3, 3}},         // ties to the earlier part
		{7, []int64{5000, 3000, 2000}, []int64{4, 2, 1}}, // 3.5, 2.1, 1.4
		{0, []int64{1, 2}, []int64{0, 0}},
	} {
		if got := wallet.Split(tt.total, tt.weights); !slices.Equal(got, tt.want) {
			t.Errorf("Split(%d, %v) = %v, want %v", tt.total, tt.weights, got, tt.want)
		}
	}
	for _, bad := range [][]int64{{0, 0}, {-1, 2}, {}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Split(1, %v) did not panic", bad)
				}
			}()
			wallet.Split(1, bad)
		}()
	}
}
