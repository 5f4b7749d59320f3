package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// TestSecurityWebhookOrderTwoRelays (issue 11, finding 11: webhook order
// with several wallets) races the event relays of two wallet processes on
// one database: while the first has taken the oldest events and not yet
// published them (a slow JetStream acknowledgement), the second relays.
// What reaches the stream (each event's first publication: JetStream drops a
// copy by its Nats-Msg-Id) must be in outbox order, so that the notifier
// records, and delivers, a merchant's events in the order they were
// committed.
func TestSecurityWebhookOrderTwoRelays(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.DSN(t)
	w1, st1 := newWallet(t, ctx, dsn)
	_, st2 := newWallet(t, ctx, dsn)
	seed(t, w1, 4) // a float issue and four deposits: five events

	var stream []int64 // event ids in the order they first reach the stream
	seen := map[int64]bool{}
	publish := func(evs []wallet.OutboxEvent) {
		for _, e := range evs {
			if !seen[e.ID] {
				seen[e.ID] = true
				stream = append(stream, e.ID)
			}
		}
	}
	entered, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := st1.Relay(ctx, 2, func(evs []wallet.OutboxEvent) error {
			close(entered)
			<-release // the acknowledgement is slow
			publish(evs)
			return nil
		})
		first <- err
	}()
	<-entered
	// The second relay runs to the end while the first waits. It returns
	// either at once or, if the first has the oldest events locked, when it
	// is released: it must not wait for it here.
	second := make(chan error, 1)
	go func() {
		_, err := st2.Relay(ctx, 100, func(evs []wallet.OutboxEvent) error { publish(evs); return nil })
		second <- err
	}()
	var errs []error
	select {
	case err := <-second:
		errs = append(errs, err)
		close(release)
		errs = append(errs, <-first)
	case err := <-first:
		t.Fatalf("the first relay returned before its publish: %v", err)
	}
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for { // what is left, by either
		n, err := st2.Relay(ctx, 100, func(evs []wallet.OutboxEvent) error { publish(evs); return nil })
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if len(stream) < 5 {
		t.Fatalf("%d events published, want at least 5", len(stream))
	}
	if !slices.IsSorted(stream) {
		t.Errorf("stream order %v, want the outbox order %v", stream, slices.Sorted(slices.Values(stream)))
	}
}
