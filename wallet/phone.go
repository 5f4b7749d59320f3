package wallet

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// phoneBytesMax bounds the text NormalizePhone hands to the phone number
// library. The longest E.164 number has 15 digits; 32 bytes leaves room for
// a plus, an international prefix and separators, and keeps the library's
// regular expressions away from hostile input.
const phoneBytesMax = 32

// excerptRunes bounds how much of a caller's input an error message repeats,
// so a message fits a USSD screen and cannot be used to reflect junk.
const excerptRunes = 20

// NormalizePhone returns raw as an E.164 number ("+254712345678"). raw may be
// written nationally ("0712345678", "712345678"), with the country code but
// no plus ("254712345678"), or internationally ("+254 712 345 678",
// "+254-712-345678"); region (ISO 3166 alpha-2, e.g. KE) says which country a
// number without a country code belongs to. A number from another country is
// accepted if written with its country code.
//
// raw may contain only ASCII digits, a leading +, spaces, dashes, dots and
// parentheses: letters (vanity numbers, extensions) are refused. The number
// must be one the phone number metadata says is valid, not merely possible.
// Bad input returns a CodeInvalidPhone error; an unknown region is a
// configuration mistake and returns CodeInvalid.
func NormalizePhone(raw, region string) (string, error) {
	region = strings.ToUpper(region)
	if !phonenumbers.GetSupportedRegions()[region] {
		return "", Errorf(CodeInvalid, "unknown phone region %q", excerpt(region))
	}
	if strings.TrimSpace(raw) == "" {
		return "", Errorf(CodeInvalidPhone, "the phone number is empty")
	}
	if len(raw) > phoneBytesMax {
		return "", Errorf(CodeInvalidPhone, "the phone number is too long")
	}
	digits := 0
	for i, r := range raw {
		switch {
		case '0' <= r && r <= '9':
			digits++
		case r == '+':
			if strings.TrimLeft(raw[:i], " ") != "" {
				return "", Errorf(CodeInvalidPhone, "%q: a + may only start a phone number", excerpt(raw))
			}
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", Errorf(CodeInvalidPhone, "a phone number may contain only digits, spaces, dashes and a leading +, not %q", excerpt(string(r)))
		}
	}
	if digits == 0 {
		return "", Errorf(CodeInvalidPhone, "%q has no digits", excerpt(raw))
	}
	n, err := phonenumbers.Parse(raw, region)
	if err != nil {
		// The library's errors name its internals ("the string supplied did
		// not seem to be a phone number"); say what the customer can fix.
		return "", Errorf(CodeInvalidPhone, "%q is not a phone number", excerpt(raw))
	}
	if n.GetExtension() != "" || !phonenumbers.IsValidNumber(n) {
		return "", Errorf(CodeInvalidPhone, "%q is not a valid phone number", excerpt(raw))
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// excerpt returns the first excerptRunes characters of s for an error
// message, marking a cut with an ellipsis. Invalid UTF-8 and unprintable
// characters become U+FFFD, so that quoting the excerpt with %q cannot make
// it several times longer.
func excerpt(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s { // invalid UTF-8 arrives as utf8.RuneError, U+FFFD
		if n == excerptRunes {
			b.WriteString("…")
			break
		}
		if !unicode.IsPrint(r) {
			r = utf8.RuneError
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
