package merchant

import (
	"testing"

	"github.com/kibubu/kibubu/wallet"
)

// FuzzDecodeChargeCursor: a cursor from a client never panics the
// decoder, is refused as CodeInvalid unless it is one encodeChargeCursor
// makes for the same tab, and reads back the total it was made of.
func FuzzDecodeChargeCursor(f *testing.F) {
	const tab = "tab_0k6fz3xg8d2c4m7q9r1t3v5w7y"
	f.Add(tab, encodeChargeCursor(tab, 7500))
	f.Add("tab_0k6fz3xg8d2c4m7q9r1t3v5w80", encodeChargeCursor(tab, 7500))
	f.Add(tab, encodeChargeCursor(tab, wallet.MicroMax))
	f.Add(tab, "")
	f.Add(tab, encodeCursor(692326079858758))
	f.Add(tab, "aAAAAAAAAAAAAAAA")
	f.Add(tab, "!!")
	f.Fuzz(func(t *testing.T, tab, c string) {
		charged, err := decodeChargeCursor(tab, c)
		if err != nil {
			if wallet.ErrorCode(err) != wallet.CodeInvalid {
				t.Fatalf("decodeChargeCursor(%q, %q): %v", tab, c, err)
			}
			return
		}
		if c == "" {
			if charged != 0 {
				t.Fatalf("empty cursor gave %d", charged)
			}
			return
		}
		if charged <= 0 || charged > wallet.MicroMax || encodeChargeCursor(tab, charged) != c {
			t.Fatalf("decodeChargeCursor(%q, %q) = %d, which encodes as %q", tab, c, charged, encodeChargeCursor(tab, charged))
		}
	})
}
