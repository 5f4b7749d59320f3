package store

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kibubu/kibubu/notify/webhooktest"

	"github.com/kibubu/kibubu/notify"
)

// hookRows counts the deliveries and the attempts in the tables.
func hookRows(t *testing.T, st *Store) (deliveries, attempts int64) {
	t.Helper()
	if err := st.db.Model(&webhookDelivery{}).Count(&deliveries).Error; err != nil {
		t.Fatal(err)
	}
	if err := st.db.Model(&webhookAttempt{}).Count(&attempts).Error; err != nil {
		t.Fatal(err)
	}
	return deliveries, attempts
}

// runSender runs a WebhookSender on cfg until stop is called.
func runSender(t *testing.T, cfg WebhookSenderConfig) (s *WebhookSender, stop func()) {
	t.Helper()
	s, err := NewWebhookSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var stopped atomic.Bool
	stop = func() {
		if stopped.Swap(true) {
			return
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
	t.Cleanup(stop)
	return s, stop
}

// TestWebhookPurge checks the retention of deliveries: the delivered and
// failed ones are purged, with their attempts, once they finished longer
// than Retention ago by the sender's clock, in batches; a pending one
// (never attempted, or retrying, or re-sent) is kept, however old.
func TestWebhookPurge(t *testing.T) {
	ctx := context.Background()
	st := smsStore(t, smsDB(t))
	up := webhooktest.NewReceiver(t, func(int64) (int, time.Duration) { return http.StatusOK, 0 })
	down := webhooktest.NewReceiver(t, func(int64) (int, time.Duration) { return http.StatusServiceUnavailable, 0 })
	for m, u := range map[string]string{"445566": up.URL("445566"), "888880": down.URL("888880")} {
		if _, err := st.SetWebhook(ctx, m, u, false); err != nil {
			t.Fatal(err)
		}
	}
	var hooks []notify.OutgoingWebhook
	for i := range 5 {
		hooks = append(hooks, hookEvent("445566", i, uint64(i+1)))
	}
	for i := range 3 {
		hooks = append(hooks, hookEvent("888880", i, uint64(i+1)))
	}
	if _, _, err := st.RecordBatch(ctx, nil, hooks); err != nil {
		t.Fatal(err)
	}
	// Five delivered, three failed after a few attempts each.
	cfg := hookConfig(st)
	cfg.RetryFor = 60 * time.Millisecond
	_, stop := runSender(t, cfg)
	got := hooksSettled(t, st, "445566", "888880")
	stop()
	if len(got["445566"]) != 5 || len(got["888880"]) != 3 || got["888880"][2].Status != notify.DeliveryFailed {
		t.Fatalf("before the purge: %+v", got)
	}
	// One pending after a failed attempt, its next an hour away.
	if _, err := st.SetWebhook(ctx, "600100", down.URL("600100"), false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.RecordBatch(ctx, nil, []notify.OutgoingWebhook{hookEvent("600100", 0, 1)}); err != nil {
		t.Fatal(err)
	}
	cfg = hookConfig(st)
	cfg.BackoffMin, cfg.BackoffMax = time.Hour, time.Hour
	_, stop = runSender(t, cfg)
	for deadline := time.Now().Add(smsWait); ; time.Sleep(10 * time.Millisecond) {
		ds, _, err := st.Deliveries(ctx, DeliveryFilter{Merchant: "600100"})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 1 && len(ds[0].Attempts) == 1 && ds[0].Status == notify.DeliveryPending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the retrying delivery: %+v", ds)
		}
	}
	stop()
	// One never attempted, and one delivered, re-sent: both pending.
	if _, err := st.SetWebhook(ctx, "700700", down.URL("700700"), false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.RecordBatch(ctx, nil, []notify.OutgoingWebhook{hookEvent("700700", 0, 1)}); err != nil {
		t.Fatal(err)
	}
	resent := got["445566"][4]
	if _, err := st.Resend(ctx, "445566", resent.ID); err != nil {
		t.Fatal(err)
	}
	deliveries, attempts := hookRows(t, st)
	var keptAttempts int64 = 1 + int64(len(resent.Attempts)) // the retrying one's, the re-sent one's
	if deliveries != 10 || attempts < 8+keptAttempts {
		t.Fatalf("%d deliveries, %d attempts before the purge", deliveries, attempts)
	}

	// The sender's clock moves; 2 rows a batch, so the 7 take 4.
	cfg = hookConfig(st)
	cfg.Retention = time.Hour
	s, err := NewWebhookSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.purgeRows = 2
	start := time.Now()
	for _, tt := range []struct {
		after                time.Duration
		deliveries, attempts int64
	}{
		{0, deliveries, attempts},
		{59 * time.Minute, deliveries, attempts},      // not yet an hour since any finished
		{61 * time.Minute, 3, keptAttempts},           // the pending three are left
		{100 * 365 * 24 * time.Hour, 3, keptAttempts}, // and are, however old
	} {
		s.now = func() time.Time { return start.Add(tt.after) }
		s.purge(ctx)
		if d, a := hookRows(t, st); d != tt.deliveries || a != tt.attempts {
			t.Errorf("%v later: %d deliveries and %d attempts, want %d and %d", tt.after, d, a, tt.deliveries, tt.attempts)
		}
	}
	for m, want := range map[string]int{"445566": 1, "888880": 0, "600100": 1, "700700": 1} {
		ds, _, err := st.Deliveries(ctx, DeliveryFilter{Merchant: m})
		if err != nil || len(ds) != want {
			t.Errorf("%s after the purge: %+v, %v; want %d", m, ds, err, want)
		}
		for _, d := range ds {
			if d.Status != notify.DeliveryPending {
				t.Errorf("%s: %+v kept, want only pending ones", m, d)
			}
		}
	}
}

// TestWebhookPurgeRun checks the purge Run makes: at start and then every
// purgeEvery, by the sender's clock; and none with a negative Retention.
func TestWebhookPurgeRun(t *testing.T) {
	ctx := context.Background()
	st := smsStore(t, smsDB(t))
	rcv := webhooktest.NewReceiver(t, func(int64) (int, time.Duration) { return http.StatusOK, 0 })
	if _, err := st.SetWebhook(ctx, "445566", rcv.URL("445566"), false); err != nil {
		t.Fatal(err)
	}
	var later atomic.Int64 // how far ahead the senders' clocks are
	clock := func() time.Time { return time.Now().Add(time.Duration(later.Load())) }

	forever := hookConfig(st)
	forever.Retention = -1
	keeper, err := NewWebhookSender(forever)
	if err != nil {
		t.Fatal(err)
	}
	keeper.purgeEvery, keeper.now = 5*time.Millisecond, clock
	runUntilEnd(t, keeper.Run)
	if _, _, err := st.RecordBatch(ctx, nil, []notify.OutgoingWebhook{hookEvent("445566", 1, 1), hookEvent("445566", 2, 2)}); err != nil {
		t.Fatal(err)
	}
	hooksSettled(t, st, "445566")
	later.Store(int64(100 * 365 * 24 * time.Hour))
	time.Sleep(50 * time.Millisecond) // ten of the purges a negative Retention does not make
	if d, _ := hookRows(t, st); d != 2 {
		t.Fatalf("kept forever: %d deliveries, want 2", d)
	}

	// A sender with a day's retention purges them at start.
	cfg := hookConfig(st)
	cfg.Retention = 24 * time.Hour
	s, err := NewWebhookSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.purgeEvery, s.now = 10*time.Millisecond, clock
	runUntilEnd(t, s.Run)
	waitRows := func(want int64) {
		t.Helper()
		for deadline := time.Now().Add(smsWait); ; time.Sleep(5 * time.Millisecond) {
			d, a := hookRows(t, st)
			if d == want && a == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d deliveries, %d attempts; want %d of each", d, a, want)
			}
		}
	}
	waitRows(0)
	// Then every purgeEvery: new deliveries stay until the clock passes
	// their retention.
	later.Store(0)
	if _, _, err := st.RecordBatch(ctx, nil, []notify.OutgoingWebhook{hookEvent("445566", 3, 3)}); err != nil {
		t.Fatal(err)
	}
	hooksSettled(t, st, "445566")
	time.Sleep(50 * time.Millisecond)
	if d, _ := hookRows(t, st); d != 1 {
		t.Fatalf("within the retention: %d deliveries, want 1", d)
	}
	later.Store(int64(25 * time.Hour))
	waitRows(0)
}
