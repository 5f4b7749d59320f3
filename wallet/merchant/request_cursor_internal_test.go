package merchant

import (
	"testing"
	"time"
)

// FuzzDecodeRequestCursor: a cursor from outside is either refused or the
// one spelling of a payment request's id, which encodes back to itself.
func FuzzDecodeRequestCursor(f *testing.F) {
	f.Add(encodeRequestCursor(newID("pr", time.Now())))
	f.Add("")
	f.Add("cnByXzBrNmZ6M3hnOGQyYzRtN3E5cjF0M3Y1dzd5")
	f.Add("cnByXzBrNmZ6M3hnOGQyYzRtN3E5cjF0M3Y1dzd5\n")
	f.Add("YwAKWq0mTP5I")
	f.Fuzz(func(t *testing.T, c string) {
		id, err := decodeRequestCursor(c)
		if err != nil || c == "" {
			return
		}
		if !validID("pr", id) || encodeRequestCursor(id) != c {
			t.Fatalf("cursor %q decodes to %q, which encodes to %q", c, id, encodeRequestCursor(id))
		}
	})
}
