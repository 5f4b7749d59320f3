package wallet

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// CheckName returns a CodeInvalid error if s holds a character that would
// let the text shown to others lie about itself: a control character
// (C0, C1, DEL, tab and line breaks included), a line or paragraph
// separator, a bidirectional control (LRE, RLO, RLI, PDI, the marks…) that
// turns "Till 500" into what reads as another name, or an invisible
// zero-width character. Names are shown on other people's screens and
// receipts (a recipient's name before the PIN), so they are refused rather
// than cleaned: the person who typed it is told. what names the field in
// the message ("a name", "a description").
func CheckName(what, s string) error {
	if err := checkName(what, s); err != nil {
		return err
	}
	return nil
}

func checkName(what, s string) *Error {
	if !utf8.ValidString(s) {
		return Errorf(CodeInvalid, "%s must be valid text", what)
	}
	for _, r := range s {
		if r != ' ' && (unicode.IsControl(r) || unicode.In(r, unicode.Bidi_Control, unicode.Zl, unicode.Zp) || invisible(r)) {
			return Errorf(CodeInvalid, "%s may not contain control, invisible or text-direction characters (U+%04X)", what, r)
		}
	}
	return nil
}

// invisible reports the zero-width characters that are not bidi controls:
// zero-width space, non-joiner, joiner, word joiner, and the byte-order mark.
func invisible(r rune) bool {
	return strings.ContainsRune("\u200b\u200c\u200d\u2060\ufeff", r)
}

// normalName checks a name and collapses its spaces; "" if it is empty or
// too long.
func normalName(raw string) (string, *Error) {
	if err := checkName("a name", raw); err != nil {
		return "", err
	}
	name := strings.Join(strings.Fields(raw), " ")
	if name == "" || len(name) > nameBytesMax {
		return "", Errorf(CodeInvalid, "a name of 1 to %d characters is required", nameBytesMax)
	}
	return name, nil
}
