package locales

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/kibubu/kibubu/wallet"
)

var (
	ugx = wallet.Currency{Code: "UGX", Exponent: 0}
	xof = wallet.Currency{Code: "XOF", Exponent: 0}
	tzs = wallet.Currency{Code: "TZS", Exponent: 2}
	clf = wallet.Currency{Code: "CLF", Exponent: 4}
)

func TestFormatMoney(t *testing.T) {
	tests := []struct {
		lang  string
		cur   wallet.Currency
		minor int64
		want  string
	}{
		{"en", kes, 1_250_00, "KES 1,250.00"},
		{"sw", kes, 1_250_00, "KES 1,250.00"},
		{"fr", kes, 1_250_00, "1 250,00 KES"},
		{"en", kes, 250_000_00, "KES 250,000.00"},
		{"fr", kes, 250_000_00, "250 000,00 KES"},
		{"en", kes, 0, "KES 0.00"},
		{"en", kes, 1, "KES 0.01"},
		{"en", kes, 10, "KES 0.10"},
		{"en", kes, 100, "KES 1.00"},
		{"en", kes, 99_999, "KES 999.99"},
		{"en", kes, 100_000, "KES 1,000.00"},
		{"en", kes, -500, "KES -5.00"},
		{"fr", kes, -500, "-5,00 KES"},
		{"en", kes, -1_250_00, "KES -1,250.00"},
		{"fr", kes, -1_250_00, "-1 250,00 KES"},
		{"en", ugx, 1_250, "UGX 1,250"},
		{"sw", ugx, 5_000_000, "UGX 5,000,000"},
		{"fr", ugx, 1_250, "1 250 UGX"},
		{"fr", xof, 5_000, "5 000 XOF"},
		{"fr", xof, 999, "999 XOF"},
		{"fr", xof, 1_000_000, "1 000 000 XOF"},
		{"en", xof, 0, "XOF 0"},
		{"en", xof, -1, "XOF -1"},
		{"sw", tzs, 500_000_000, "TZS 5,000,000.00"},
		{"en", clf, 12_345, "CLF 1.2345"},
		{"en", wallet.Currency{Exponent: 2}, 1_250_00, "1,250.00"}, // no code
		{"fr", wallet.Currency{Exponent: 2}, 1_250_00, "1 250,00"},
		{"en", kes, wallet.AmountMax, "KES 10,000,000,000,000.00"},
		{"en", kes, math.MaxInt64, "KES 92,233,720,368,547,758.07"},
		{"en", kes, math.MinInt64, "KES -92,233,720,368,547,758.08"},
		{"fr", ugx, math.MinInt64, "-9 223 372 036 854 775 808 UGX"},
		{"xx", kes, 1_250_00, "KES 1,250.00"},    // unknown language: English
		{"fr-CI", xof, 2_500, "2 500 XOF"},       // a regional tag
		{"rw", kes, 1_250_00, "KES 1,250.00"},    // not French
		{"sw-TZ", tzs, 1_000_00, "TZS 1,000.00"}, // Tanzania writes it as Kenya does
	}
	for _, tt := range tests {
		if got := FormatMoney(tt.lang, tt.cur, tt.minor); got != tt.want {
			t.Errorf("FormatMoney(%s, %s/%d, %d) = %q, want %q", tt.lang, tt.cur.Code, tt.cur.Exponent, tt.minor, got, tt.want)
		}
		if !IsGSM7(FormatMoney(tt.lang, tt.cur, tt.minor)) {
			t.Errorf("FormatMoney(%s, %s, %d) is not GSM-7", tt.lang, tt.cur.Code, tt.minor)
		}
	}
}

func TestFormatAmount(t *testing.T) {
	tests := []struct {
		lang  string
		cur   wallet.Currency
		minor int64
		want  string
	}{
		{"en", kes, -250_000_00, "-250,000.00"},
		{"sw", kes, 1_250_00, "1,250.00"},
		{"fr", kes, -250_000_00, "-250 000,00"},
		{"fr", xof, 1_250, "1 250"},
	}
	for _, tt := range tests {
		if got := FormatAmount(tt.lang, tt.cur, tt.minor); got != tt.want {
			t.Errorf("FormatAmount(%s, %s, %d) = %q, want %q", tt.lang, tt.cur.Code, tt.minor, got, tt.want)
		}
	}
}

// TestFormatMoneyMatchesWallet checks that English agrees with the wallet's
// own Format, which the CLI and logs use.
func TestFormatMoneyMatchesWallet(t *testing.T) {
	for _, cur := range []wallet.Currency{kes, ugx, xof, tzs, clf} {
		for _, minor := range []int64{0, 1, -1, 99, 1_250_00, -1_250_00, wallet.AmountMax, math.MinInt64, math.MaxInt64} {
			if got, want := FormatMoney("en", cur, minor), cur.Format(minor); got != want {
				t.Errorf("FormatMoney(en, %s, %d) = %q, wallet's Format = %q", cur.Code, minor, got, want)
			}
		}
	}
}

func TestFormatMoneyBrokenCurrency(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("FormatMoney with exponent -1 did not panic")
		}
	}()
	FormatMoney("en", wallet.Currency{Code: "KES", Exponent: -1}, 1)
}

// FuzzFormatMoney checks that FormatMoney never panics for a valid currency,
// stays GSM-7, and keeps the digits: removing the separators, the sign and
// the code gives back |minor| with its minor-unit digits.
func FuzzFormatMoney(f *testing.F) {
	f.Add(int64(125000), uint8(2), uint8(0))
	f.Add(int64(-1), uint8(0), uint8(2))
	f.Add(int64(math.MinInt64), uint8(4), uint8(1))
	f.Add(int64(math.MaxInt64), uint8(18), uint8(2))
	f.Fuzz(func(t *testing.T, minor int64, exp, lang uint8) {
		cur := wallet.Currency{Code: "KES", Exponent: int(exp % (exponentDigitsMax + 1))}
		code := codes[int(lang)%len(codes)]
		got := FormatMoney(code, cur, minor)
		if !IsGSM7(got) {
			t.Fatalf("%q is not GSM-7", got)
		}
		neg := strings.Contains(got, "-")
		if neg != (minor < 0) {
			t.Fatalf("FormatMoney(%s, %d) = %q: sign", code, minor, got)
		}
		var digits strings.Builder
		for _, r := range strings.TrimSpace(strings.ReplaceAll(got, "KES", "")) {
			if r >= '0' && r <= '9' {
				digits.WriteRune(r)
			}
		}
		abs := strconv.FormatUint(uint64(minor), 10)
		if minor < 0 {
			abs = strconv.FormatUint(-uint64(minor), 10)
		}
		if want := strings.Repeat("0", max(0, cur.Exponent+1-len(abs))) + abs; digits.String() != want {
			t.Fatalf("FormatMoney(%s, exp %d, %d) = %q: digits %s, want %s", code, cur.Exponent, minor, got, digits.String(), want)
		}
		// The decimal separator sits before exactly Exponent digits.
		amount := FormatAmount(code, cur, minor)
		sep := styles[code].decimal
		i := strings.LastIndexByte(amount, sep)
		if cur.Exponent == 0 && i >= 0 || cur.Exponent > 0 && len(amount)-i-1 != cur.Exponent {
			t.Fatalf("FormatAmount(%s, exp %d, %d) = %q: decimals", code, cur.Exponent, minor, amount)
		}
	})
}
