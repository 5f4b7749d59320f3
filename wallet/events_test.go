package wallet_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

// TestEventsReplayTheOutbox proves Events re-derives, from the database, the
// very events the relay published, in order, paged, from the given time on.
func TestEventsReplayTheOutbox(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.customer("Alice"), f.customer("Bob")
	f.fund(alice, f.ksh(10_000))
	f.clock.Add(24 * time.Hour)
	since := f.clock.Now()
	var sent []int64
	for i := range 5 {
		f.clock.Add(time.Minute)
		r, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: key(), Kind: wallet.TransferSend, From: alice, To: bob, Amount: f.ksh(int64(100 + i)), PIN: "2580"})
		f.must(err)
		sent = append(sent, r.Transfer.ID)
	}
	published := map[int64]wallet.Event{}
	if _, err := f.st.Relay(f.ctx, 100, func(evs []wallet.OutboxEvent) error {
		for _, o := range evs {
			var ev wallet.Event
			f.must(json.Unmarshal(o.Payload, &ev))
			published[o.TransferID] = ev
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	var got []wallet.Event
	after, pages := int64(0), 0
	for {
		evs, next, err := f.w.Events(f.ctx, since, after, 2)
		f.must(err)
		got, pages = append(got, evs...), pages+1
		if next == 0 {
			break
		}
		if pages > 10 {
			t.Fatal("Events does not stop paging")
		}
		after = next
	}
	if len(got) != len(sent) || pages != 3 {
		t.Fatalf("got %d events in %d pages, want %d in 3 (the funding before since left out)", len(got), pages, len(sent))
	}
	for i, ev := range got {
		want := published[sent[i]]
		// The outbox's JSON drops the monotonic clock reading; compare as JSON.
		g, _ := json.Marshal(ev)
		w, _ := json.Marshal(want)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("event %d:\ngot  %s\nwant %s", i, g, w)
		}
	}
	none, next, err := f.w.Events(f.ctx, f.clock.Now().Add(time.Hour), 0, 0)
	f.must(err)
	if len(none) != 0 || next != 0 {
		t.Errorf("events after the last transfer: got %d, next %d; want none", len(none), next)
	}
}
