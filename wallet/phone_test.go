package wallet

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		raw, region, want string
	}{
		{"0712345678", "KE", "+254712345678"},
		{"712345678", "KE", "+254712345678"},
		{"254712345678", "KE", "+254712345678"}, // country code without a plus
		{"+254712345678", "KE", "+254712345678"},
		{"+254 712 345 678", "KE", "+254712345678"},
		{"+254-712-345678", "KE", "+254712345678"},
		{"(0712) 345.678", "KE", "+254712345678"},
		{"  0712345678  ", "KE", "+254712345678"},
		{"000254712345678", "KE", "+254712345678"}, // Kenya's international call prefix
		{"0712345678", "ke", "+254712345678"},      // region in any case
		{"0110123456", "KE", "+254110123456"},      // the newer 011 mobile range
		{"0202222222", "KE", "+254202222222"},      // a Nairobi landline is a valid number
		{"+256712345678", "KE", "+256712345678"},   // Uganda, with its country code
		{"0712345678", "UG", "+256712345678"},
		{"+1 650 253 0000", "KE", "+16502530000"},
		{"0244123456", "GH", "+233244123456"},
		{"0803 123 4567", "NG", "+2348031234567"},
	}
	for _, tt := range tests {
		got, err := NormalizePhone(tt.raw, tt.region)
		if err != nil {
			t.Errorf("NormalizePhone(%q, %q): %v", tt.raw, tt.region, err)
			continue
		}
		if got != tt.want {
			t.Errorf("NormalizePhone(%q, %q) = %q, want %q", tt.raw, tt.region, got, tt.want)
		}
	}
}

func TestNormalizePhoneRefuses(t *testing.T) {
	tests := []struct {
		raw     string
		message string // a part of the message
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"+", "no digits"},
		{"--", "no digits"},
		{"071234567", "not a valid"},          // a digit short
		{"07123456789", "not a valid"},        // a digit long
		{"0012345678", "not a valid"},         // not an allocated range
		{"256712345678", "not a valid"},       // Uganda without a plus reads as Kenyan
		{"+254 712 345 678 9", "not a valid"}, // too long for Kenya
		{"0800-FLOWERS", `only digits, spaces, dashes and a leading +, not "F"`}, // the library would accept a vanity number
		{"+254712345678 ext 5", "only digits"},                                   // extensions cannot receive money
		{"+254712345678#5", "only digits"},                                       // nor this
		{"0712345678;ext=5", "only digits"},                                      // nor this
		{"tel:+254712345678", "only digits"},                                     // a URI is not a number
		{"٠٧١٢٣٤٥٦٧٨", "only digits"},                                            // Arabic-Indic digits
		{"０７１２３４５６７８", "only digits"},                                            // full-width digits
		{"0712\x00345678", "not \"\ufffd\""},                                     // NUL
		{"254+712345678", "+ may only start"},                                    // a plus in the middle
		{"++254712345678", "+ may only start"},                                   // two
		{"*144#", "only digits"},                                                 // a USSD code
		{strings.Repeat("7", 33), "too long"},                                    // absurd lengths are refused before parsing
		{strings.Repeat("0", 20), "not a"},                                       // a long run of zeros
		{"+999 712 345 678", "not a"},                                            // no such country code
		{"+254 7" + strings.Repeat(" ", 26), "not"},                              // a prefix and padding
	}
	for _, tt := range tests {
		got, err := NormalizePhone(tt.raw, "KE")
		if err == nil {
			t.Errorf("NormalizePhone(%q) = %q, want an error", tt.raw, got)
			continue
		}
		checkCode(t, err, CodeInvalidPhone)
		if !strings.Contains(err.Error(), tt.message) {
			t.Errorf("NormalizePhone(%q): got %q, want a message with %q", tt.raw, err, tt.message)
		}
	}
}

func TestNormalizePhoneUnknownRegion(t *testing.T) {
	for _, region := range []string{"", "XX", "KEN", "254", "001"} {
		got, err := NormalizePhone("+254712345678", region)
		if err == nil {
			t.Errorf("NormalizePhone(region %q) = %q, want an error", region, got)
			continue
		}
		checkCode(t, err, CodeInvalid)
	}
}

func TestNormalizePhoneMessageIsShort(t *testing.T) {
	raw := "0712345678 0712345678 0799" // fits phoneBytesMax, but is two numbers
	_, err := NormalizePhone(raw, "KE")
	checkCode(t, err, CodeInvalidPhone)
	if strings.Contains(err.Error(), "0799") {
		t.Errorf("got %q, want at most %d characters of the input", err, excerptRunes)
	}
}

func TestPhoneExcerpt(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"short", "short"},
		{strings.Repeat("a", 20), strings.Repeat("a", 20)},
		{strings.Repeat("a", 21), strings.Repeat("a", 20) + "…"},
		{strings.Repeat("é", 25), strings.Repeat("é", 20) + "…"},
		{"a\xffb\x00c\u200bd", "a\ufffdb\ufffdc\ufffdd"}, // invalid UTF-8, NUL, zero-width space
		{strings.Repeat("\xc7", 30), strings.Repeat("\ufffd", 20) + "…"},
	}
	for _, tt := range tests {
		if got := excerpt(tt.in); got != tt.want {
			t.Errorf("excerpt(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{
		"0712345678", "712345678", "254712345678", "+254 712 345 678", "+254-712-345678",
		"000254712345678", "+256712345678", "0800-FLOWERS", "+", "", "071234567", "(0)712 345678",
		"+1 650 253 0000", "+44 20 7946 0000", "00000000000000000000", "+254 (0) 712 345 678",
	} {
		f.Add(s, "KE")
	}
	f.Add(`"\\"\\"\\"\\"\\"\\"\\"\\"\\"\\"x`, "KE") // quoting doubles these
	f.Add("0712345678", "UG")
	f.Add("0244123456", "GH")
	f.Add("020 7946 0000", "GB")
	f.Fuzz(func(t *testing.T, raw, region string) {
		got, err := NormalizePhone(raw, region)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Code != CodeInvalidPhone && e.Code != CodeInvalid) {
				t.Fatalf("NormalizePhone(%q, %q): unexpected error %v", raw, region, err)
			}
			if utf8.RuneCountInString(e.Message) > 110 {
				t.Fatalf("NormalizePhone(%q, %q): message too long: %q", raw, region, e.Message)
			}
			return
		}
		if len(got) < 2 || len(got) > 16 || got[0] != '+' || strings.Trim(got[1:], "0123456789") != "" {
			t.Fatalf("NormalizePhone(%q, %q) = %q, not E.164", raw, region, got)
		}
		again, err := NormalizePhone(got, region)
		if err != nil || again != got {
			t.Fatalf("NormalizePhone(%q, %q) = %q, which normalises to %q, %v", raw, region, got, again, err)
		}
	})
}
