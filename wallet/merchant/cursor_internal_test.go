package merchant

import (
	"testing"
	"time"
)

// idCursors are every list's id cursor, for FuzzDecodeIDCursor.
var idCursors = []idCursor{requestCursor, tabCursor}

// FuzzDecodeIDCursor: a cursor from outside is, for each list, either
// refused or the one spelling of an id of that list's kind, which encodes
// back to itself; no list takes another's cursor.
func FuzzDecodeIDCursor(f *testing.F) {
	for _, c := range idCursors {
		f.Add(c.encode(newID(c.kind, time.Now())))
	}
	f.Add("")
	f.Add("cnByXzBrNmZ6M3hnOGQyYzRtN3E5cjF0M3Y1dzd5")
	f.Add("cnByXzBrNmZ6M3hnOGQyYzRtN3E5cjF0M3Y1dzd5\n")
	f.Add("YwAKWq0mTP5I")
	f.Fuzz(func(t *testing.T, s string) {
		taken := 0
		for _, c := range idCursors {
			id, err := c.decode(s)
			if err != nil || s == "" {
				continue
			}
			taken++
			if !validID(c.kind, id) || c.encode(id) != s {
				t.Fatalf("cursor %q decodes to %q, which encodes to %q", s, id, c.encode(id))
			}
		}
		if taken > 1 {
			t.Fatalf("cursor %q is taken by %d lists", s, taken)
		}
	})
}
