package wallet

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// eventOf is an event of a send between two named parties.
func eventOf(name, reference, lang string, commission, reverses int64, created time.Time) *Event {
	return &Event{
		Transfer: Transfer{ID: 7_123_456_789, Ref: Ref(7_123_456_789), Kind: TransferSend, Source: 11, Target: 12, Amount: 150_00,
			Fee: 7_00, Commission: commission, Reference: reference, Reverses: reverses, Refunds: reverses / 2,
			Postings: []Posting{{AccountID: 11, Leg: LegPrincipal, Amount: -150_00, BalanceAfter: 1}, {AccountID: 12, Leg: LegPrincipal, Amount: 150_00, BalanceAfter: -2}},
			Created:  created},
		Parties: []Party{{ID: 11, Kind: KindCustomer, Number: "0711000001", Phone: "+254711000001", Name: name, Language: lang},
			{ID: 12, Kind: KindSystem, Number: "FEES", Name: "Fees"}},
	}
}

// TestEventJSON checks that the writer's event encoder writes what
// json.Marshal writes, and that Event and what it holds have the fields
// the encoder knows (a new field must be added to appendEvent).
func TestEventJSON(t *testing.T) {
	at := time.Date(2026, 12, 8, 3, 14, 15, 926_535_000, time.UTC)
	cases := []struct {
		name string
		ev   *Event
	}{
		{"plain", eventOf("Amina Otieno", "", "", 0, 0, at)},
		{"every optional field", eventOf("Amina", "ACC-42", "sw", 3_00, 99, at.In(time.FixedZone("EAT", 3*3600)))},
		{"escaped name", eventOf(`Jo "<b>" & \ Sons`+"\n\t\x00", "a<b>&c", "en", 0, 0, at)},
		{"not ASCII", eventOf("Wanjirũ Njoroge ☕ \u2028 \xff\xfe", "Ünï", "", 0, 0, at)},
		{"whole second", eventOf("A", "", "", 0, 0, at.Truncate(time.Second))},
		{"no postings or parties", &Event{Transfer: Transfer{ID: 1, Kind: TransferFloat, Created: at}}},
		{"empty postings and parties", &Event{Transfer: Transfer{ID: 1, Postings: []Posting{}, Created: at}, Parties: []Party{}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want, err := json.Marshal(c.ev)
			if err != nil {
				t.Fatal(err)
			}
			if got := appendEvent(nil, c.ev); !bytes.Equal(got, want) {
				t.Fatalf("appendEvent:\n got %s\nwant %s", got, want)
			}
		})
	}
	for typ, fields := range map[reflect.Type]int{
		reflect.TypeFor[Event](): 2, reflect.TypeFor[Transfer](): 13, reflect.TypeFor[Posting](): 4, reflect.TypeFor[Party](): 6,
	} {
		if n := typ.NumField(); n != fields {
			t.Errorf("%s has %d fields, appendEvent encodes %d: update it", typ, n, fields)
		}
	}
}

// FuzzEventJSON compares the encoder with json.Marshal on names and
// references as customers and merchants may type them.
func FuzzEventJSON(f *testing.F) {
	f.Add("Amina Otieno", "ACC-1", "sw", int64(0), int64(1))
	f.Add(`"<&>"\`, "\u2028\xff", "", int64(-5), int64(1<<62))
	f.Fuzz(func(t *testing.T, name, reference, lang string, commission, nanos int64) {
		ev := eventOf(name, reference, lang, commission, commission, time.Unix(0, nanos%(1<<60)).UTC())
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err) // times within ±2^60 ns of 1970 always encode
		}
		if got := appendEvent(nil, ev); !bytes.Equal(got, want) {
			t.Fatalf("appendEvent:\n got %s\nwant %s", got, want)
		}
	})
}

// BenchmarkEventJSON compares the writer's event encoder with json.Marshal
// on the event of a send.
func BenchmarkEventJSON(b *testing.B) {
	ev := eventOf("Amina Otieno", "", "sw", 0, 0, time.Now().UTC())
	b.Run("appendEvent", func(b *testing.B) {
		for b.Loop() {
			appendEvent(make([]byte, 0, 1024), ev)
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(ev)
		}
	})
}
