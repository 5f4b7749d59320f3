package wallet_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/kibubu/kibubu/wallet"
)

// FuzzCheckName: whatever CheckName accepts is valid UTF-8 without a
// control, separator, bidi-control or zero-width character; what it refuses
// is a CodeInvalid error.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"Jane Doe", "Till \u202eKCAB", "a\x00b", "Café", "محمد", "\ufeffX", "a\u2028b", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := wallet.CheckName("a name", s)
		if err != nil {
			if wallet.ErrorCode(err) != wallet.CodeInvalid {
				t.Fatalf("CheckName(%q) = %v, want %s", s, err, wallet.CodeInvalid)
			}
			return
		}
		if !utf8.ValidString(s) {
			t.Fatalf("CheckName accepted invalid UTF-8 %q", s)
		}
		for _, r := range s {
			if unicode.IsControl(r) || unicode.In(r, unicode.Bidi_Control, unicode.Zl, unicode.Zp) || strings.ContainsRune("\u200b\u200c\u200d\u2060\ufeff", r) {
				t.Fatalf("CheckName accepted %q with U+%04X", s, r)
			}
		}
	})
}
