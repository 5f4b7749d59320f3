package store

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/wallet"
)

// TestRetry: only a failed SMS is made pending again, once; a sent, a
// pending (already retried), a start-key and an unknown SMS are refused
// with their reason and left as they were.
func TestRetry(t *testing.T) {
	ctx := context.Background()
	st := smsStore(t, smsDB(t))
	now := time.Now().UTC()
	add := func(key, status string) int64 {
		t.Helper()
		r := smsRow{Key: key, Kind: notify.KindMessage, Phone: "+254712000001", Text: "hi", Encoding: "gsm7", Parts: 1,
			Status: status, Attempts: 5, LastError: "provider down", NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
		if err := st.db.WithContext(ctx).Create(&r).Error; err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	failed := add("k-failed", notify.StatusFailed)
	sent := add("k-sent", notify.StatusSent)
	secret := add("secret:pin:reset:1:1", notify.StatusFailed)
	for _, tc := range []struct {
		name   string
		id     int64
		code   wallet.Code
		status string // the SMS's status afterwards
	}{
		{"failed", failed, "", notify.StatusPending},
		{"the same again: already pending", failed, wallet.CodeInvalidState, notify.StatusPending},
		{"sent", sent, wallet.CodeInvalidState, notify.StatusSent},
		{"a start key", secret, wallet.CodeInvalidState, notify.StatusFailed},
		{"unknown", 999_999, wallet.CodeNotFound, ""},
	} {
		m, err := st.Retry(ctx, tc.id)
		if got := wallet.ErrorCode(err); got != tc.code {
			t.Errorf("%s: code %q (%v), want %q", tc.name, got, err, tc.code)
		}
		if err == nil && (m.Status != notify.StatusPending || m.Attempts != 0) {
			t.Errorf("%s: got %s after %d attempts, want pending after 0", tc.name, m.Status, m.Attempts)
		}
		if tc.status == "" {
			continue
		}
		if m, err := st.SMS(ctx, tc.id); err != nil || m.Status != tc.status {
			t.Errorf("%s: afterwards %v %v, want %s", tc.name, m, err, tc.status)
		}
	}
	if _, err := st.SMS(ctx, 0); wallet.ErrorCode(err) != wallet.CodeNotFound {
		t.Errorf("sms 0: %v", err)
	}
}

// TestFailureRatesDays: each of 30 days (the dashboard's period) gets
// its own SMS, with the days' bounds in a nested CASE.
func TestFailureRatesDays(t *testing.T) {
	ctx := context.Background()
	st := smsStore(t, smsDB(t))
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	bounds := make([]time.Time, 31)
	for i := range bounds {
		bounds[i] = start.AddDate(0, 0, i)
	}
	for d := range 30 {
		for n := range d % 3 { // 0, 1 or 2 SMS a day, the last minute of the day
			at := bounds[d+1].Add(-time.Minute)
			r := smsRow{Key: fmt.Sprint("d", d, ":", n), Kind: notify.KindMessage, Phone: "+254712000001", Text: "hi", Encoding: "gsm7",
				Parts: 1, Status: notify.StatusFailed, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at}
			if err := st.db.WithContext(ctx).Create(&r).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, days := range []int{1, 2, 7, 30} {
		got, err := st.FailureRates(ctx, bounds[:days+1])
		if err != nil {
			t.Fatalf("%d days: %v", days, err)
		}
		for d, day := range got {
			if want := int64(d % 3); day.SMS != want || day.SMSFailed != want || !day.Day.Equal(bounds[d]) {
				t.Errorf("%d days: day %d: %+v, want %d SMS, all failed", days, d, day, want)
			}
		}
	}
}

// BenchmarkOpsQueries times what the back-office asks of a notifier that
// has recorded 100,000 SMS (one in a hundred failed, a thousand phones):
// the outbox's first page, its failed ones, one phone's latest (the
// account page) and 30 days of failure rates (the dashboard; and the same
// period as one bucket, which is the cost of the scan alone). Rows are
// made with one INSERT … SELECT, not through Record: this measures the
// reads.
func BenchmarkOpsQueries(b *testing.B) {
	const rows = 100_000
	ctx := context.Background()
	st := smsStore(b, smsDB(b))
	now := time.Now().UTC().Truncate(time.Second)
	start := now.AddDate(0, 0, -29).Truncate(24 * time.Hour)
	batch := make([]smsRow, 0, 1000)
	for i := range rows {
		status := notify.StatusDelivered
		if i%100 == 0 {
			status = notify.StatusFailed
		}
		at := start.Add(time.Duration(i) * (29 * 24 * time.Hour / rows))
		batch = append(batch, smsRow{Key: "bench:" + strconv.Itoa(i), Kind: notify.KindReceipt, Phone: "+2547" + fmt.Sprintf("%08d", i%1000),
			Text: "QF Confirmed. KES 1,250.00 sent.", Encoding: "gsm7", Parts: 1, Status: status, NextAttemptAt: at, CreatedAt: at, UpdatedAt: at})
		if len(batch) == cap(batch) {
			if err := st.db.WithContext(ctx).CreateInBatches(batch, 100).Error; err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	bounds := make([]time.Time, 31)
	for i := range bounds {
		bounds[i] = start.AddDate(0, 0, i)
	}
	for _, bc := range []struct {
		name string
		run  func() error
	}{
		{"outbox", func() error { _, err := st.List(ctx, Filter{Limit: 50}); return err }},
		{"failed", func() error { _, err := st.List(ctx, Filter{Status: notify.StatusFailed, Limit: 50}); return err }},
		{"phone", func() error { _, err := st.List(ctx, Filter{Phone: "+254700000007", Limit: 10}); return err }},
		{"failure-rates-30d", func() error { _, err := st.FailureRates(ctx, bounds); return err }},
		{"failure-rates-1bucket", func() error { _, err := st.FailureRates(ctx, []time.Time{bounds[0], bounds[30]}); return err }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if err := bc.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
