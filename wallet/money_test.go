package wallet

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

var (
	curKES = Currency{Code: "KES", Exponent: 2}
	curUGX = Currency{Code: "UGX", Exponent: 0}
	curKWD = Currency{Code: "KWD", Exponent: 3}
)

// checkCode fails t unless err is a *Error with the given code.
func checkCode(t *testing.T, err error, code Code) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want a *wallet.Error with code %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("got code %s (%v), want %s", e.Code, err, code)
	}
}

func TestLookupCurrency(t *testing.T) {
	tests := []struct {
		code string
		want Currency
	}{
		{"KES", Currency{"KES", 2}},
		{"kes", Currency{"KES", 2}},
		{"UGX", Currency{"UGX", 0}},
		{"XOF", Currency{"XOF", 0}},
		{"RWF", Currency{"RWF", 0}},
		{"TZS", Currency{"TZS", 2}}, // CLDR says 0; ISO 4217 says 2 (see minorDigits)
		{"GHS", Currency{"GHS", 2}},
		{"NGN", Currency{"NGN", 2}},
		{"USD", Currency{"USD", 2}},
		{"JPY", Currency{"JPY", 0}},
		{"KWD", Currency{"KWD", 3}},
		{"HUF", Currency{"HUF", 2}}, // Standard (2), not Cash (0)
	}
	for _, tt := range tests {
		got, err := LookupCurrency(tt.code)
		if err != nil {
			t.Errorf("LookupCurrency(%q): %v", tt.code, err)
			continue
		}
		if got != tt.want {
			t.Errorf("LookupCurrency(%q) = %+v, want %+v", tt.code, got, tt.want)
		}
	}
}

func TestLookupCurrencyRefuses(t *testing.T) {
	for _, code := range []string{
		"", "K", "KE", "KESH", " KES", "KES ", "ZZZ", "123", "Kénya",
		"XXX", // "no currency": currency.ParseISO returns it without error
		"XTS", // reserved for testing
		"XAU", // gold
		"DEM", // withdrawn
		strings.Repeat("K", 1000),
		strings.Repeat(`"\\`, 20), // quoting doubles these
	} {
		got, err := LookupCurrency(code)
		if err == nil {
			t.Errorf("LookupCurrency(%q) = %+v, want an error", code, got)
			continue
		}
		checkCode(t, err, CodeInvalid)
		if e := err.(*Error); utf8.RuneCountInString(e.Message) > 110 {
			t.Errorf("LookupCurrency(%q): message too long: %q", code, err)
		}
	}
}

func TestParseAmount(t *testing.T) {
	tests := []struct {
		c    Currency
		in   string
		want int64
	}{
		{curKES, "100000", 10000000},
		{curKES, "12.50", 1250},
		{curKES, "12.5", 1250},
		{curKES, "0.01", 1},
		{curKES, ".5", 50}, // a leading dot is accepted
		{curKES, ".05", 5},
		{curKES, "1", 100},
		{curKES, "007", 700}, // leading zeros are harmless
		{curKES, "0000000000000000000000000001.00", 100},
		{curKES, "250000", 25000000},
		{curKES, "10000000000000", AmountMax},
		{curKES, "9999999999999.99", AmountMax - 1},
		{curUGX, "1250", 1250},
		{curUGX, "1", 1},
		{curUGX, "1000000000000000", AmountMax},
		{curKWD, "1.005", 1005},
		{curKWD, "1.5", 1500},
		{Currency{"CLF", 4}, "0.0001", 1},
	}
	for _, tt := range tests {
		got, err := tt.c.ParseAmount(tt.in)
		if err != nil {
			t.Errorf("%s ParseAmount(%q): %v", tt.c.Code, tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s ParseAmount(%q) = %d, want %d", tt.c.Code, tt.in, got, tt.want)
		}
	}
}

func TestParseAmountRefuses(t *testing.T) {
	tests := []struct {
		c       Currency
		in      string
		message string // a part of the message
	}{
		{curKES, "", "empty"},
		{curKES, " ", "separators"},
		{curKES, " 12", "separators"},
		{curKES, "12 ", "separators"},
		{curKES, "1 000", "separators"},
		{curKES, "1,000", "separators"},
		{curKES, "1_000", "separators"},
		{curKES, "+12", "sign"},
		{curKES, "-12", "sign"},
		{curKES, "12-", "sign"},
		{curKES, "0", "more than zero"},
		{curKES, "0.00", "more than zero"},
		{curKES, ".0", "more than zero"},
		{curKES, "000", "more than zero"},
		{curKES, "1.005", "at most 2 decimal places"},
		{curKES, "1.000", "at most 2 decimal places"},
		{curKES, "5.", "digits after the decimal point"},
		{curKES, ".", "no digits"},
		{curKES, "1..5", "more than one decimal point"},
		{curKES, "1.2.3", "more than one decimal point"},
		{curKES, "1e5", "only the digits"},
		{curKES, "1E5", "only the digits"},
		{curKES, "0x10", "only the digits"},
		{curKES, "NaN", "only the digits"},
		{curKES, "Inf", "only the digits"},
		{curKES, "١٢", "only the digits"},     // Arabic-Indic digits
		{curKES, "１２", "only the digits"},     // full-width digits
		{curKES, "12\x00", "only the digits"}, // NUL
		{curKES, "KES 12", "only the digits"},
		{curKES, "KES12", "only the digits"},     // a code is not part of an amount
		{curKES, "10000000000000.01", "maximum"}, // AmountMax + 1
		{curKES, "99999999999999", "maximum"},
		{curKES, "9223372036854775807", "maximum"}, // int64 max
		{curKES, "92233720368547758070", "maximum"},
		{curKES, strings.Repeat("9", 33), "too long"},
		{curKES, strings.Repeat("0", 32) + "1", "too long"},
		{curUGX, "5.", "whole numbers"},
		{curUGX, "5.0", "whole numbers"},
		{curUGX, ".5", "whole numbers"},
		{curUGX, "1000000000000001", "maximum"},
		{curUGX, "0", "more than zero"},
	}
	for _, tt := range tests {
		got, err := tt.c.ParseAmount(tt.in)
		if err == nil {
			t.Errorf("%s ParseAmount(%q) = %d, want an error", tt.c.Code, tt.in, got)
			continue
		}
		checkCode(t, err, CodeInvalidAmount)
		if !strings.Contains(err.Error(), tt.message) {
			t.Errorf("%s ParseAmount(%q): got %q, want a message with %q", tt.c.Code, tt.in, err, tt.message)
		}
	}
}

func TestParseAmountBrokenCurrencyPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("got no panic for an exponent of 19")
		}
	}()
	Currency{"XYZ", 19}.ParseAmount("1")
}

func TestFormatAmount(t *testing.T) {
	tests := []struct {
		c    Currency
		in   int64
		want string
	}{
		{curKES, 125000, "1250.00"},
		{curKES, 1, "0.01"},
		{curKES, 10, "0.10"},
		{curKES, 0, "0.00"},
		{curKES, -500, "-5.00"},
		{curKES, -1, "-0.01"},
		{curKES, AmountMax, "10000000000000.00"},
		{curKES, math.MaxInt64, "92233720368547758.07"},
		{curKES, math.MinInt64, "-92233720368547758.08"},
		{curUGX, 1250, "1250"},
		{curUGX, 0, "0"},
		{curUGX, -7, "-7"},
		{curKWD, 1005, "1.005"},
		{curKWD, 5, "0.005"},
	}
	for _, tt := range tests {
		if got := tt.c.FormatAmount(tt.in); got != tt.want {
			t.Errorf("%s FormatAmount(%d) = %q, want %q", tt.c.Code, tt.in, got, tt.want)
		}
	}
}

func TestCurrencyFormat(t *testing.T) {
	tests := []struct {
		c    Currency
		in   int64
		want string
	}{
		{curKES, 125000, "KES 1,250.00"},
		{curKES, -500, "KES -5.00"},
		{curKES, 0, "KES 0.00"},
		{curKES, 1, "KES 0.01"},
		{curKES, 99999, "KES 999.99"},
		{curKES, 100000, "KES 1,000.00"},
		{curKES, 25000000, "KES 250,000.00"},
		{curKES, 100000000, "KES 1,000,000.00"},
		{curKES, -123456789, "KES -1,234,567.89"},
		{curKES, AmountMax, "KES 10,000,000,000,000.00"},
		{curKES, math.MinInt64, "KES -92,233,720,368,547,758.08"},
		{curUGX, 1250, "UGX 1,250"},
		{curUGX, 999, "UGX 999"},
		{curUGX, 1000, "UGX 1,000"},
		{curUGX, 100000, "UGX 100,000"},
		{curUGX, -1000000, "UGX -1,000,000"},
		{Currency{}, 1234, "1,234"},
	}
	for _, tt := range tests {
		if got := tt.c.Format(tt.in); got != tt.want {
			t.Errorf("%s Format(%d) = %q, want %q", tt.c.Code, tt.in, got, tt.want)
		}
	}
}

// fuzzCurrencies are the exponents the fuzz targets try every input with.
var fuzzCurrencies = []Currency{curKES, curUGX, curKWD, {"CLF", 4}}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{
		"100000", "12.50", "12.5", "0.01", ".5", "5.", "0", "1.005", "1e5", "-1", "+1",
		"1,000", " 1", "0x1F", "١", "10000000000000", "10000000000000.01", "9223372036854775808",
		"000000000000000000000000000000001", ".", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range fuzzCurrencies {
			v, err := c.ParseAmount(s)
			if err != nil {
				checkCode(t, err, CodeInvalidAmount)
				if e := err.(*Error); utf8.RuneCountInString(e.Message) > 110 {
					t.Fatalf("%s ParseAmount(%q): message too long: %q", c.Code, s, err)
				}
				continue
			}
			if v <= 0 || v > AmountMax {
				t.Fatalf("%s ParseAmount(%q) = %d, outside (0, AmountMax]", c.Code, s, v)
			}
			// An independent reading: the digits without the dot, padded to
			// the exponent, are the minor units.
			whole, frac, _ := strings.Cut(s, ".")
			digits := strings.TrimLeft(whole+frac+strings.Repeat("0", c.Exponent-len(frac)), "0")
			if want, err := strconv.ParseInt(digits, 10, 64); err != nil || want != v {
				t.Fatalf("%s ParseAmount(%q) = %d, want %s", c.Code, s, v, digits)
			}
			canon := c.FormatAmount(v)
			back, err := c.ParseAmount(canon)
			if err != nil || back != v {
				t.Fatalf("%s ParseAmount(%q) = %d; FormatAmount = %q; re-parsed as %d, %v", c.Code, s, v, canon, back, err)
			}
		}
	})
}

func FuzzFormatAmount(f *testing.F) {
	for _, v := range []int64{1, 9, 10, 99, 100, 101, 999, 1000, 125000, AmountMax, AmountMax + 1, 0, -1, math.MinInt64, math.MaxInt64} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v int64) {
		for _, c := range fuzzCurrencies {
			s := c.FormatAmount(v)
			human := c.Format(v)
			// Removing the code and the grouping from Format gives FormatAmount.
			plain := strings.ReplaceAll(strings.TrimPrefix(human, c.Code+" "), ",", "")
			if plain != s {
				t.Fatalf("%s: Format(%d) = %q but FormatAmount = %q", c.Code, v, human, s)
			}
			if v <= 0 || v > AmountMax {
				continue
			}
			back, err := c.ParseAmount(s)
			if err != nil || back != v {
				t.Fatalf("%s: FormatAmount(%d) = %q, re-parsed as %d, %v", c.Code, v, s, back, err)
			}
		}
	})
}

func FuzzLookupCurrency(f *testing.F) {
	for _, s := range []string{"KES", "curKES", "XXX", "XTS", "ZZZ", "", "K€S"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		c, err := LookupCurrency(code)
		if err != nil {
			checkCode(t, err, CodeInvalid)
			if e := err.(*Error); utf8.RuneCountInString(e.Message) > 110 {
				t.Fatalf("LookupCurrency(%q): message too long: %q", code, err)
			}
			return
		}
		if len(c.Code) != 3 || strings.ToUpper(c.Code) != c.Code || !strings.EqualFold(c.Code, code) {
			t.Fatalf("LookupCurrency(%q) = %+v", code, c)
		}
		if c.Exponent < 0 || c.Exponent > exponentMax {
			t.Fatalf("LookupCurrency(%q) = %+v: exponent out of range", code, c)
		}
	})
}
