package wallet

import (
	"testing"
	"time"
)

func TestTransferIDs(t *testing.T) {
	tests := []struct {
		name   string
		at     time.Time
		calls  int
		letter byte // the first character of every ref
		wraps  bool // the year letter starts again at A: ids restart low
	}{
		{"one", time.Date(2026, 11, 21, 10, 15, 0, 0, time.UTC), 1, 'A', false},
		{"a burst within one millisecond overflows the counter", time.Date(2026, 11, 21, 10, 15, 1, 0, time.UTC), 1000, 'A', false},
		{"the last millisecond of a leap year", time.Date(2028, 12, 31, 23, 59, 59, 999e6, time.UTC), 300, 'C', false},
		{"twenty-two years on", time.Date(2048, 1, 1, 0, 0, 0, 0, time.UTC), 10, 'A', true},
	}
	var last int64
	for _, tt := range tests {
		if tt.wraps {
			last = 0 // refs are reused after 22 years; the primary key refuses a clash and the batch retries
		}
		seen := map[int64]bool{}
		for range tt.calls {
			id := NewTransferID(tt.at)
			if id <= last || seen[id] {
				t.Fatalf("%s: id %d after %d is not new and increasing", tt.name, id, last)
			}
			seen[id], last = true, id
			ref := Ref(id)
			if len(ref) != refLength || ref[0] != tt.letter {
				t.Fatalf("%s: ref %q is not 10 characters starting with %c", tt.name, ref, tt.letter)
			}
			if back, ok := ParseRef(ref); !ok || back != id {
				t.Fatalf("%s: ParseRef(%q) = %d, %v; want %d", tt.name, ref, back, ok, id)
			}
		}
	}
}

func TestParseRefRefuses(t *testing.T) {
	for _, s := range []string{"", "ABC", "QK7M2X9A1B0", "QK7M2X9A1U", "QK7M2X9A1!", "qk7m2x9a1\u00e9"} {
		if _, ok := ParseRef(s); ok {
			t.Errorf("ParseRef(%q) accepted", s)
		}
	}
	id, ok := ParseRef("qk7m2x9aib")
	if !ok || Ref(id) != "QK7M2X9A1B" {
		t.Errorf("lower case and I for 1: got %s, %v", Ref(id), ok)
	}
}

func FuzzParseRef(f *testing.F) {
	f.Add("QK7M2X9A1B")
	f.Add("oooooooooo")
	f.Fuzz(func(t *testing.T, s string) {
		if id, ok := ParseRef(s); ok && len(Ref(id)) != refLength {
			t.Fatalf("ParseRef(%q) = %d, whose ref %q is not %d characters", s, id, Ref(id), refLength)
		}
	})
}
