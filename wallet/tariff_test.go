package wallet

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestDefaultTariffIsValid(t *testing.T) {
	for _, c := range []Currency{curKES, curUGX, curKWD, {"CLF", 4}} {
		if err := DefaultTariff(c).Validate(); err != nil {
			t.Errorf("DefaultTariff(%s).Validate() = %v", c.Code, err)
		}
	}
}

func TestDefaultTariffScales(t *testing.T) {
	k, u := DefaultTariff(curKES), DefaultTariff(curUGX)
	if got, want := k.Send[1], (Band{Max: 50000, Fee: 700}); got != want {
		t.Errorf("KES send band 2 = %+v, want %+v", got, want)
	}
	if got, want := u.Send[1], (Band{Max: 500, Fee: 7}); got != want {
		t.Errorf("UGX send band 2 = %+v, want %+v", got, want)
	}
	if got, want := k.Till, (Percent{BasisPoints: 50, Cap: 20000}); got != want {
		t.Errorf("KES till = %+v, want %+v", got, want)
	}
}

// quoteCase is one expected quote. amount is in major units and scaled by
// the currency under test, unless minor is set.
type quoteCase struct {
	kind            TransferKind
	amount          int64
	minor           bool
	fee, commission int64 // major units, scaled likewise (unless minor)
	code            Code  // the expected error's code, if any
}

var quoteCases = []quoteCase{
	// Send: free up to 100, then banded up to 108.
	{kind: TransferSend, amount: 1},
	{kind: TransferSend, amount: 100},
	{kind: TransferSend, amount: 101, fee: 7},
	{kind: TransferSend, amount: 500, fee: 7},
	{kind: TransferSend, amount: 501, fee: 13},
	{kind: TransferSend, amount: 2500, fee: 33},
	{kind: TransferSend, amount: 2501, fee: 53},
	{kind: TransferSend, amount: 35001, fee: 108},
	{kind: TransferSend, amount: 250000, fee: 108},
	{kind: TransferSend, amount: 250001, code: CodeLimitExceeded},
	// Withdraw: the customer pays, the agent earns.
	{kind: TransferWithdraw, amount: 1, fee: 11, commission: 5},
	{kind: TransferWithdraw, amount: 100, fee: 11, commission: 5},
	{kind: TransferWithdraw, amount: 101, fee: 29, commission: 14},
	{kind: TransferWithdraw, amount: 500, fee: 29, commission: 14},
	{kind: TransferWithdraw, amount: 501, fee: 29, commission: 14},
	{kind: TransferWithdraw, amount: 2500, fee: 29, commission: 14},
	{kind: TransferWithdraw, amount: 2501, fee: 52, commission: 25},
	{kind: TransferWithdraw, amount: 250000, fee: 309, commission: 150},
	{kind: TransferWithdraw, amount: 250001, code: CodeLimitExceeded},
	// Deposit: free for the customer, the agent earns.
	{kind: TransferDeposit, amount: 100, commission: 1},
	{kind: TransferDeposit, amount: 101, commission: 3},
	{kind: TransferDeposit, amount: 500, commission: 3},
	{kind: TransferDeposit, amount: 501, commission: 5},
	{kind: TransferDeposit, amount: 2500, commission: 10},
	{kind: TransferDeposit, amount: 2501, commission: 20},
	{kind: TransferDeposit, amount: 250000, commission: 100},
	{kind: TransferDeposit, amount: 250001, code: CodeLimitExceeded},
	// Airtime: free, up to the transaction limit.
	{kind: TransferAirtime, amount: 1},
	{kind: TransferAirtime, amount: 250000},
	{kind: TransferAirtime, amount: 250001, code: CodeLimitExceeded},
	// Buy goods and pay bill: 0.5%, capped at 200, paid by the merchant.
	{kind: TransferTill, amount: 1000, fee: 5},
	{kind: TransferTill, amount: 40000, fee: 200},
	{kind: TransferTill, amount: 250000, fee: 200},
	{kind: TransferTill, amount: 250001, fee: 200}, // no band: the tier limits bound it
	{kind: TransferPaybill, amount: 20000, fee: 100},
	{kind: TransferPaybill, amount: 250000, fee: 200},
	// Payouts: banded, paid by the merchant, free up to 100.
	{kind: TransferPayout, amount: 1},
	{kind: TransferPayout, amount: 100},
	{kind: TransferPayout, amount: 101, fee: 5},
	{kind: TransferPayout, amount: 1500, fee: 5},
	{kind: TransferPayout, amount: 1501, fee: 9},
	{kind: TransferPayout, amount: 20001, fee: 13},
	{kind: TransferPayout, amount: 250000, fee: 13},
	{kind: TransferPayout, amount: 250001, code: CodeLimitExceeded},
	// Tab settlements are free by default, at any size.
	{kind: TransferSettle, amount: 1},
	{kind: TransferSettle, amount: 10_000_000},
	// Float, reversals, refunds, holds and releases are free.
	{kind: TransferRefund, amount: 250000},
	{kind: TransferHold, amount: 100},
	{kind: TransferRelease, amount: 10_000_000},
	{kind: TransferSettle, amount: 0, code: CodeInvalidAmount},
	{kind: TransferRefund, amount: -1, code: CodeInvalidAmount},
	{kind: TransferFloat, amount: 250000},
	{kind: TransferFloat, amount: 10_000_000},
	{kind: TransferReversal, amount: 100},
	// Bad input.
	{kind: TransferSend, amount: 0, code: CodeInvalidAmount},
	{kind: TransferSend, amount: -100, code: CodeInvalidAmount},
	{kind: TransferFloat, amount: 0, code: CodeInvalidAmount},
	{kind: TransferTill, amount: -1, code: CodeInvalidAmount},
	{kind: "loan", amount: 100, code: CodeInvalid},
	{kind: "", amount: 100, code: CodeInvalid},
	{kind: TransferSend, amount: AmountMax + 1, minor: true, code: CodeInvalidAmount},
	{kind: TransferTill, amount: math.MaxInt64, minor: true, code: CodeInvalidAmount},
	{kind: TransferSend, amount: math.MinInt64, minor: true, code: CodeInvalidAmount},
}

func TestTariffQuote(t *testing.T) {
	for _, c := range []Currency{curKES, curUGX} {
		tariff, u := DefaultTariff(c), c.unit()
		for _, tt := range quoteCases {
			amount, fee, commission := tt.amount, tt.fee, tt.commission
			if !tt.minor {
				amount, fee, commission = amount*u, fee*u, commission*u
			}
			gotFee, gotComm, err := tariff.Quote(tt.kind, amount)
			if tt.code != "" {
				if err == nil {
					t.Errorf("%s Quote(%s, %d) = %d, %d, want a %s error", c.Code, tt.kind, amount, gotFee, gotComm, tt.code)
					continue
				}
				checkCode(t, err, tt.code)
				if tt.code == CodeLimitExceeded {
					var e *Error
					if errors.As(err, &e); e.Limit != LimitPerTransaction {
						t.Errorf("%s Quote(%s, %d): got limit %q, want %q", c.Code, tt.kind, amount, e.Limit, LimitPerTransaction)
					}
				}
				continue
			}
			if err != nil {
				t.Errorf("%s Quote(%s, %d): %v", c.Code, tt.kind, amount, err)
				continue
			}
			if gotFee != fee || gotComm != commission {
				t.Errorf("%s Quote(%s, %d) = %d, %d, want %d, %d", c.Code, tt.kind, amount, gotFee, gotComm, fee, commission)
			}
		}
	}
}

// TestTariffQuoteMinor checks band edges a minor unit apart, where KES has cents.
func TestTariffQuoteMinor(t *testing.T) {
	tariff := DefaultTariff(curKES)
	tests := []struct {
		kind            TransferKind
		amount          int64 // minor units
		fee, commission int64
	}{
		{TransferSend, 10000, 0, 0},      // KES 100.00
		{TransferSend, 10001, 700, 0},    // KES 100.01
		{TransferWithdraw, 1, 1100, 500}, // KES 0.01
		{TransferTill, 1, 0, 0},          // 0.005 rounds to 0
		{TransferTill, 99, 0, 0},         // 0.495 rounds to 0
		{TransferTill, 100, 1, 0},        // 0.5 rounds half up to 1
		{TransferTill, 300, 2, 0},        // 1.5 rounds half up to 2
		{TransferTill, 4_000_000, 20000, 0},
		{TransferTill, 4_000_100, 20000, 0},
		{TransferTill, AmountMax, 20000, 0},
		{TransferPayout, 10000, 0, 0},   // KES 100.00
		{TransferPayout, 10001, 500, 0}, // KES 100.01
		{TransferSettle, 1, 0, 0},
	}
	for _, tt := range tests {
		fee, commission, err := tariff.Quote(tt.kind, tt.amount)
		if err != nil || fee != tt.fee || commission != tt.commission {
			t.Errorf("Quote(%s, %d) = %d, %d, %v, want %d, %d", tt.kind, tt.amount, fee, commission, err, tt.fee, tt.commission)
		}
	}
}

// TestTariffQuoteMonotonic quotes every amount of the UGX defaults (whole units,
// so every band edge) and a stride of the KES ones: fees are never negative,
// never fall as the amount grows, and the merchant's fee never exceeds the
// payment.
func TestTariffQuoteMonotonic(t *testing.T) {
	for _, tc := range []struct {
		c      Currency
		stride int64
	}{{curUGX, 1}, {curKES, 97}} {
		tariff := DefaultTariff(tc.c)
		top := tariff.Send[len(tariff.Send)-1].Max
		for _, kind := range []TransferKind{TransferSend, TransferWithdraw, TransferDeposit, TransferAirtime, TransferTill, TransferPaybill, TransferPayout, TransferSettle} {
			var prevFee, prevComm int64
			for amount := int64(1); amount <= top; amount += tc.stride {
				fee, commission, err := tariff.Quote(kind, amount)
				if err != nil {
					t.Fatalf("%s Quote(%s, %d): %v", tc.c.Code, kind, amount, err)
				}
				if fee < 0 || commission < 0 || fee < prevFee || commission < prevComm {
					t.Fatalf("%s Quote(%s, %d) = %d, %d after %d, %d", tc.c.Code, kind, amount, fee, commission, prevFee, prevComm)
				}
				if (kind == TransferTill || kind == TransferPaybill || kind == TransferSettle) && fee > amount {
					t.Fatalf("%s Quote(%s, %d) = %d, more than the payment", tc.c.Code, kind, amount, fee)
				}
				prevFee, prevComm = fee, commission
			}
		}
	}
}

// percentFee is Percent.Fee computed with big integers, as an oracle.
func percentFee(p Percent, amount int64) int64 {
	n := new(big.Int).Mul(big.NewInt(amount), big.NewInt(p.BasisPoints))
	n.Add(n, big.NewInt(5000))
	n.Quo(n, big.NewInt(10000))
	fee := max(n.Int64(), p.Min)
	if p.Cap > 0 {
		fee = min(fee, p.Cap)
	}
	return min(fee, amount)
}

func TestTariffPercentFee(t *testing.T) {
	tests := []struct {
		p      Percent
		amount int64
		want   int64
	}{
		{Percent{BasisPoints: 50}, 100, 1},             // 0.5 rounds up
		{Percent{BasisPoints: 50}, 99, 0},              // 0.495 rounds down
		{Percent{BasisPoints: 50}, 299, 1},             // 1.495
		{Percent{BasisPoints: 50}, 300, 2},             // 1.5
		{Percent{BasisPoints: 5000}, 1, 1},             // half of 1 rounds up to all of it
		{Percent{BasisPoints: 4999}, 1, 0},             // just under half
		{Percent{BasisPoints: 0}, 1000, 0},             // free
		{Percent{BasisPoints: 0, Min: 5}, 1000, 5},     // but with a minimum
		{Percent{BasisPoints: 50, Min: 10}, 100, 10},   // raised to the minimum
		{Percent{BasisPoints: 50, Min: 10}, 3, 3},      // but never more than the amount
		{Percent{BasisPoints: 50, Cap: 200}, 1e9, 200}, // lowered to the cap
		{Percent{BasisPoints: 50, Cap: 0}, 1e9, 5e6},   // 0 is no cap
		{Percent{BasisPoints: 10000}, 12345, 12345},    // 100%
		{Percent{BasisPoints: 10000}, math.MaxInt64, math.MaxInt64},
		{Percent{BasisPoints: 9999}, math.MaxInt64, 9222449699651090329}, // amount×bp overflows int64
		{Percent{BasisPoints: 50}, AmountMax, 5e12},
		{Percent{BasisPoints: 50, Min: 7, Cap: 7}, 1e6, 7},
	}
	for _, tt := range tests {
		got := tt.p.Fee(tt.amount)
		if got != tt.want {
			t.Errorf("%+v.Fee(%d) = %d, want %d", tt.p, tt.amount, got, tt.want)
		}
		if oracle := percentFee(tt.p, tt.amount); got != oracle {
			t.Errorf("%+v.Fee(%d) = %d, big.Int says %d", tt.p, tt.amount, got, oracle)
		}
	}
}

func TestTariffPercentFeePanicsOnInvalid(t *testing.T) {
	for _, tt := range []struct {
		p      Percent
		amount int64
	}{{Percent{BasisPoints: 10001}, 1}, {Percent{BasisPoints: -1}, 1}, {Percent{BasisPoints: 50}, 0}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%+v.Fee(%d): got no panic", tt.p, tt.amount)
				}
			}()
			tt.p.Fee(tt.amount)
		}()
	}
}

func TestTariffValidateRefuses(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Tariff)
		message string
	}{
		{"no send bands", func(t *Tariff) { t.Send = nil }, "send has no bands"},
		{"no withdraw bands", func(t *Tariff) { t.Withdraw = []Band{} }, "withdraw has no bands"},
		{"no deposit bands", func(t *Tariff) { t.Deposit = nil }, "deposit has no bands"},
		{"no airtime bands", func(t *Tariff) { t.Airtime = nil }, "airtime has no bands"},
		{"no payout bands", func(t *Tariff) { t.Payout = nil }, "payout has no bands"},
		{"payout commission", func(t *Tariff) { t.Payout[1].Commission = 1 }, "payout band 2 (max 150000): commission must be 0"},
		{"negative payout fee", func(t *Tariff) { t.Payout[0].Fee = -1 }, "payout band 1 (max 10000): fee -1"},
		{"settle above 100%", func(t *Tariff) { t.Settle.BasisPoints = 10001 }, "settle: basis points 10001"},
		{"settle min above cap", func(t *Tariff) { t.Settle = Percent{BasisPoints: 100, Min: 10, Cap: 5} }, "settle: min 10 is more than cap 5"},
		{"negative settle min", func(t *Tariff) { t.Settle.Min = -1 }, "settle: min -1"},
		{"zero max", func(t *Tariff) { t.Send[0].Max = 0 }, "send band 1 (max 0): max must be positive"},
		{"negative max", func(t *Tariff) { t.Airtime[0].Max = -1 }, "airtime band 1 (max -1): max must be positive"},
		{"equal max", func(t *Tariff) { t.Send[2].Max = t.Send[1].Max }, "send band 3 (max 50000): max must be more than the previous band's max 50000"},
		{"decreasing max", func(t *Tariff) { t.Withdraw[1].Max = 5000 }, "withdraw band 2 (max 5000): max must be more than the previous band's max 10000"},
		{"max above AmountMax", func(t *Tariff) { t.Send[len(t.Send)-1].Max = AmountMax + 1 }, "max must be at most"},
		{"negative fee", func(t *Tariff) { t.Withdraw[0].Fee = -1 }, "withdraw band 1 (max 10000): fee -1 must be between 0 and"},
		{"huge fee", func(t *Tariff) { t.Send[0].Fee = math.MaxInt64 }, "send band 1 (max 10000): fee"},
		{"negative commission", func(t *Tariff) { t.Deposit[3].Commission = -5 }, "deposit band 4 (max 250000): commission -5 must be between"},
		{"deposit fee", func(t *Tariff) { t.Deposit[0].Fee = 100 }, "deposit band 1 (max 10000): fee must be 0"},
		{"send commission", func(t *Tariff) { t.Send[0].Commission = 100 }, "send band 1 (max 10000): commission must be 0"},
		{"airtime commission", func(t *Tariff) { t.Airtime[0].Commission = 1 }, "airtime band 1 (max 25000000): commission must be 0"},
		{"basis points above 100%", func(t *Tariff) { t.Till.BasisPoints = 10001 }, "till: basis points 10001 must be between 0 and 10000"},
		{"negative basis points", func(t *Tariff) { t.Paybill.BasisPoints = -1 }, "paybill: basis points -1"},
		{"negative min", func(t *Tariff) { t.Till.Min = -1 }, "till: min -1"},
		{"negative cap", func(t *Tariff) { t.Paybill.Cap = -1 }, "paybill: cap -1"},
		{"min above cap", func(t *Tariff) { t.Till.Min = 30000 }, "till: min 30000 is more than cap 20000"},
		{"too many bands", func(t *Tariff) {
			t.Airtime = nil
			for i := range bandsMax + 1 {
				t.Airtime = append(t.Airtime, Band{Max: int64(i + 1)})
			}
		}, "airtime has more than 1000 bands"},
	}
	for _, tt := range tests {
		tariff := DefaultTariff(curKES)
		tt.edit(&tariff)
		err := tariff.Validate()
		if err == nil {
			t.Errorf("%s: Validate() = nil, want an error", tt.name)
			continue
		}
		checkCode(t, err, CodeInvalid)
		if !strings.Contains(err.Error(), tt.message) {
			t.Errorf("%s: got %q, want a message with %q", tt.name, err, tt.message)
		}
	}
}

func TestTariffValidateAccepts(t *testing.T) {
	tariff := Tariff{
		Send:     []Band{{Max: 1}},
		Withdraw: []Band{{Max: 1, Fee: 5, Commission: 10}}, // a fee above the amount is allowed
		Deposit:  []Band{{Max: AmountMax, Commission: AmountMax}},
		Airtime:  []Band{{Max: 100, Fee: 1}},
		Payout:   []Band{{Max: AmountMax, Fee: AmountMax}},
		Till:     Percent{BasisPoints: 10000, Min: 5}, // min with no cap
		Paybill:  Percent{},                           // free
		Settle:   Percent{BasisPoints: 100, Min: 1},   // 1% with a floor of one minor unit
	}
	if err := tariff.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}

func TestParseTariffExampleIsDefault(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "tariff.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Currency{curKES, curUGX, curKWD} {
		got, err := ParseTariff(data, c)
		if err != nil {
			t.Fatalf("%s: %v", c.Code, err)
		}
		if want := DefaultTariff(c); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: ParseTariff(testdata/tariff.toml) =\n%+v\nwant DefaultTariff =\n%+v", c.Code, got, want)
		}
	}
}

func TestLoadTariff(t *testing.T) {
	got, err := LoadTariff(filepath.Join("testdata", "tariff.toml"), curKES)
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultTariff(curKES); !reflect.DeepEqual(got, want) {
		t.Errorf("LoadTariff = %+v, want %+v", got, want)
	}
	if _, err := LoadTariff(filepath.Join(t.TempDir(), "missing.toml"), curKES); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadTariff(missing) = %v, want os.ErrNotExist", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("[[send]]\nmax = \"0\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadTariff(bad, curKES)
	checkCode(t, err, CodeInvalid)
	if !strings.Contains(err.Error(), bad) {
		t.Errorf("LoadTariff(bad) = %v, want the path in the message", err)
	}
	huge := filepath.Join(t.TempDir(), "huge.toml")
	if err := os.WriteFile(huge, bytes.Repeat([]byte("#\n"), tariffBytesMax), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadTariff(huge, curKES)
	checkCode(t, err, CodeInvalid)
}

// minimalTariff is a valid tariff file for the cases below to build on.
const minimalTariff = `
[[send]]
max = 100
[[withdraw]]
max = 100
fee = 11
[[deposit]]
max = 100
commission = 1
[[airtime]]
max = 100
[[payout]]
max = 100
fee = 5
[till]
basis_points = 50
[paybill]
basis_points = 0
`

func TestParseTariff(t *testing.T) {
	tests := []struct {
		name string
		data string
		want Tariff
	}{
		{"integers, fees left out", minimalTariff, Tariff{
			Send:     []Band{{Max: 10000}},
			Withdraw: []Band{{Max: 10000, Fee: 1100}},
			Deposit:  []Band{{Max: 10000, Commission: 100}},
			Airtime:  []Band{{Max: 10000}},
			Payout:   []Band{{Max: 10000, Fee: 500}},
			Till:     Percent{BasisPoints: 50},
		}},
		{"decimals and zeros", strings.Replace(minimalTariff, "[[send]]\nmax = 100", `[[send]]
max = "100.50"
fee = "0.00"
commission = "0"
[[send]]
max = "200"
fee = "1.5"
commission = 0`, 1) + "min = \"0.01\"\ncap = \"200\"\n", Tariff{
			Send:     []Band{{Max: 10050}, {Max: 20000, Fee: 150}},
			Withdraw: []Band{{Max: 10000, Fee: 1100}},
			Deposit:  []Band{{Max: 10000, Commission: 100}},
			Airtime:  []Band{{Max: 10000}},
			Payout:   []Band{{Max: 10000, Fee: 500}},
			Till:     Percent{BasisPoints: 50},
			Paybill:  Percent{Min: 1, Cap: 20000},
		}},
		{"a settlement fee with a floor", minimalTariff + "[settle]\nbasis_points = 100\nmin = \"0.01\"\n", Tariff{
			Send:     []Band{{Max: 10000}},
			Withdraw: []Band{{Max: 10000, Fee: 1100}},
			Deposit:  []Band{{Max: 10000, Commission: 100}},
			Airtime:  []Band{{Max: 10000}},
			Payout:   []Band{{Max: 10000, Fee: 500}},
			Till:     Percent{BasisPoints: 50},
			Settle:   Percent{BasisPoints: 100, Min: 1},
		}},
	}
	for _, tt := range tests {
		got, err := ParseTariff([]byte(tt.data), curKES)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestParseTariffRefuses(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		message string
	}{
		{"not TOML", "[[send]\nmax = ", "tariff:"},
		{"empty", "", "basis_points is missing"},
		{"unknown key", minimalTariff + "colour = \"red\"\n", `unknown key "paybill.colour"`},
		{"misspelt key", strings.Replace(minimalTariff, "fee = 11", "fees = 11", 1), `unknown key "withdraw.fees"`},
		{"decimal number", strings.Replace(minimalTariff, "fee = 11", "fee = 11.5", 1), "quoted decimals"},
		{"boolean", strings.Replace(minimalTariff, "fee = 11", "fee = true", 1), "quoted decimals"},
		{"negative", strings.Replace(minimalTariff, "fee = 11", "fee = -11", 1), `withdraw band 1: fee "-11": write the amount without a + or - sign`},
		{"too many decimals", strings.Replace(minimalTariff, "fee = 11", `fee = "11.001"`, 1), "withdraw band 1: fee \"11.001\": KES amounts have at most 2 decimal places"},
		{"comma", strings.Replace(minimalTariff, "fee = 11", `fee = "1,100"`, 1), "without commas"},
		{"zero max", strings.Replace(minimalTariff, "[[send]]\nmax = 100", "[[send]]\nmax = 0", 1), `send band 1: max "0": must be more than zero`},
		{"missing max", strings.Replace(minimalTariff, "[[airtime]]\nmax = 100", "[[airtime]]\nfee = 0", 1), "airtime band 1: max is missing"},
		{"no airtime", strings.Replace(minimalTariff, "[[airtime]]\nmax = 100", "", 1), "airtime has no bands"},
		{"no payout", strings.Replace(minimalTariff, "[[payout]]\nmax = 100\nfee = 5", "", 1), "payout has no bands"},
		{"payout commission", strings.Replace(minimalTariff, "fee = 5", "fee = 5\ncommission = 1", 1), "payout band 1 (max 10000): commission must be 0"},
		{"settle without basis points", minimalTariff + "[settle]\nmin = 1\n", "settle: basis_points is missing"},
		{"settle min above cap", minimalTariff + "[settle]\nbasis_points = 1\nmin = 5\ncap = 1\n", "settle: min 500 is more than cap 100"},
		{"settle unknown key", minimalTariff + "[settle]\nbasis_points = 1\nfloor = 1\n", `unknown key "settle.floor"`},
		{"missing basis points", strings.Replace(minimalTariff, "basis_points = 50", "", 1), "till: basis_points is missing"},
		{"basis points as text", strings.Replace(minimalTariff, "basis_points = 50", `basis_points = "50"`, 1), "tariff:"},
		{"basis points too high", strings.Replace(minimalTariff, "basis_points = 50", "basis_points = 20000", 1), "till: basis points 20000"},
		{"bad cap", minimalTariff + "cap = \"abc\"\n", `paybill: cap "abc": the amount must contain only`},
		{"max above AmountMax", strings.Replace(minimalTariff, "[[send]]\nmax = 100", "[[send]]\nmax = 99999999999999", 1), "maximum"},
		{"deposit fee", strings.Replace(minimalTariff, "commission = 1", "commission = 1\nfee = 1", 1), "deposit band 1 (max 10000): fee must be 0"},
		{"decreasing", strings.Replace(minimalTariff, "[[send]]\nmax = 100", "[[send]]\nmax = 100\n[[send]]\nmax = 50", 1), "send band 2 (max 5000): max must be more than"},
		{"too large", strings.Repeat("#", tariffBytesMax+1), "larger than"},
	}
	for _, tt := range tests {
		got, err := ParseTariff([]byte(tt.data), curKES)
		if err == nil {
			t.Errorf("%s: ParseTariff = %+v, want an error", tt.name, got)
			continue
		}
		checkCode(t, err, CodeInvalid)
		if !strings.Contains(err.Error(), tt.message) {
			t.Errorf("%s: got %q, want a message with %q", tt.name, err, tt.message)
		}
	}
}

func TestTariffWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := DefaultTariff(curKES).WriteTable(&b, curKES); err != nil {
		t.Fatal(err)
	}
	// Compare with runs of spaces collapsed, so the test does not pin the
	// column widths.
	out := regexp.MustCompile(` +`).ReplaceAllString(b.String(), " ")
	for _, want := range []string{
		"Send money (fee paid by the sender)\n Amount Fee Commission\n KES 0.01 - KES 100.00 KES 0.00 KES 0.00\n",
		" KES 100.01 - KES 500.00 KES 7.00 KES 0.00\n",
		" KES 50,000.01 - KES 250,000.00 KES 108.00 KES 0.00\n",
		"Withdraw at an agent",
		" KES 100.01 - KES 2,500.00 KES 29.00 KES 14.00\n",
		" KES 50,000.01 - KES 250,000.00 KES 309.00 KES 150.00\n",
		"Deposit at an agent",
		" KES 0.01 - KES 100.00 KES 0.00 KES 1.00\n",
		"Airtime",
		"Buy goods (fee paid by the merchant)\n 0.50% (min KES 0.00, cap KES 200.00)\n",
		"Pay bill (fee paid by the business)\n 0.50% (min KES 0.00, cap KES 200.00)\n",
		"Payout to a customer (fee paid by the merchant)\n Amount Fee Commission\n KES 0.01 - KES 100.00 KES 0.00 KES 0.00\n",
		" KES 20,000.01 - KES 250,000.00 KES 13.00 KES 0.00\n",
		"Tab settlement (fee paid by the merchants out of the settlement)\n 0.00% (min KES 0.00, no cap)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table has no %q; got\n%s", want, b.String())
		}
	}

	b.Reset()
	tariff := DefaultTariff(curUGX)
	tariff.Paybill = Percent{BasisPoints: 125, Min: 100}
	tariff.Settle = Percent{BasisPoints: 200, Min: 1, Cap: 50}
	if err := tariff.WriteTable(&b, curUGX); err != nil {
		t.Fatal(err)
	}
	out = regexp.MustCompile(` +`).ReplaceAllString(b.String(), " ")
	for _, want := range []string{
		" UGX 1 - UGX 100 UGX 0 UGX 0\n",
		" UGX 101 - UGX 500 UGX 7 UGX 0\n",
		"1.25% (min UGX 100, no cap)",
		"Tab settlement (fee paid by the merchants out of the settlement)\n 2.00% (min UGX 1, cap UGX 50)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table has no %q; got\n%s", want, b.String())
		}
	}
}

// failingWriter fails every write, as a closed pipe would.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestTariffWriteTableReportsWriteErrors(t *testing.T) {
	if err := DefaultTariff(curKES).WriteTable(failingWriter{}, curKES); err == nil {
		t.Error("WriteTable to a failing writer = nil, want an error")
	}
}

var fuzzKinds = []TransferKind{
	TransferSend, TransferWithdraw, TransferDeposit, TransferTill, TransferPaybill,
	TransferAirtime, TransferFloat, TransferReversal, TransferPayout, TransferRefund,
	TransferSettle, TransferHold, TransferRelease, "loan",
}

func FuzzTariffQuote(f *testing.F) {
	for _, amount := range []int64{1, 100, 10000, 10001, 25000000, 25000001, AmountMax, math.MaxInt64, 0, -1} {
		f.Add(uint8(0), amount, int64(50), int64(0), int64(20000))
	}
	f.Add(uint8(3), int64(math.MaxInt64), int64(10000), int64(5), int64(0))
	f.Fuzz(func(t *testing.T, k uint8, amount, bp, pmin, pcap int64) {
		kind := fuzzKinds[int(k)%len(fuzzKinds)]
		tariff := DefaultTariff(curKES)
		tariff.Till = Percent{BasisPoints: bp, Min: pmin, Cap: pcap}
		tariff.Settle = tariff.Till
		valid := tariff.Validate() == nil
		if !valid {
			tariff.Till, tariff.Settle = DefaultTariff(curKES).Till, DefaultTariff(curKES).Settle
		}
		fee, commission, err := tariff.Quote(kind, amount)
		if err != nil {
			if amount > 0 && amount <= AmountMax && kind != "loan" && ErrorCode(err) != CodeLimitExceeded {
				t.Fatalf("Quote(%s, %d): %v", kind, amount, err)
			}
			return
		}
		if amount <= 0 || amount > AmountMax {
			t.Fatalf("Quote(%s, %d) = %d, %d, want an error", kind, amount, fee, commission)
		}
		if fee < 0 || commission < 0 || fee > AmountMax || commission > AmountMax {
			t.Fatalf("Quote(%s, %d) = %d, %d", kind, amount, fee, commission)
		}
		if kind == TransferTill || kind == TransferSettle {
			if fee > amount {
				t.Fatalf("Quote(%s, %d) = %d, more than the payment", kind, amount, fee)
			}
			p := tariff.Till
			if kind == TransferSettle {
				p = tariff.Settle
			}
			if want := percentFee(p, amount); fee != want {
				t.Fatalf("%+v Quote(%s, %d) = %d, big.Int says %d", p, kind, amount, fee, want)
			}
		}
	})
}

func FuzzParseTariff(f *testing.F) {
	example, err := os.ReadFile(filepath.Join("testdata", "tariff.toml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(minimalTariff))
	f.Add([]byte(strings.Replace(minimalTariff, "fee = 11", `fee = "11.5"`, 1)))
	f.Add([]byte("[[send]]\nmax = \"1e9\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range []Currency{curKES, curUGX} {
			tariff, err := ParseTariff(data, c)
			if err != nil {
				checkCode(t, err, CodeInvalid)
				continue
			}
			if err := tariff.Validate(); err != nil {
				t.Fatalf("ParseTariff accepted a tariff that Validate refuses: %v", err)
			}
			for _, kind := range fuzzKinds[:len(fuzzKinds)-1] {
				if _, _, err := tariff.Quote(kind, 1); err != nil && ErrorCode(err) != CodeLimitExceeded {
					t.Fatalf("Quote(%s, 1): %v", kind, err)
				}
			}
			if err := tariff.WriteTable(&bytes.Buffer{}, c); err != nil {
				t.Fatal(err)
			}
		}
	})
}
