package merchant

import (
	"testing"

	"github.com/kibubu/kibubu/wallet"
)

// FuzzDecodeCursor: a cursor from a client never panics the decoder, is
// refused as CodeInvalid unless it is one encodeCursor makes, and reads
// back the id it was made of.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(692326079858758))
	f.Add("")
	f.Add("YwAKWq0mTP5I")
	f.Add("!!")
	f.Add("YwAKWq0mTP5I\n") // the decoder skips newlines
	f.Fuzz(func(t *testing.T, c string) {
		id, err := decodeCursor(c)
		if err != nil {
			if wallet.ErrorCode(err) != wallet.CodeInvalid {
				t.Fatalf("decodeCursor(%q): %v", c, err)
			}
			return
		}
		if c == "" {
			if id != 0 {
				t.Fatalf("empty cursor gave %d", id)
			}
			return
		}
		if id <= 0 || encodeCursor(id) != c {
			t.Fatalf("decodeCursor(%q) = %d, which encodes as %q", c, id, encodeCursor(id))
		}
	})
}
