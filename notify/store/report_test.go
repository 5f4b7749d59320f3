package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kibubu/kibubu/notify"
)

func TestReportFailureRates(t *testing.T) {
	ctx := context.Background()
	st := smsStore(t, smsDB(t))
	eat := time.FixedZone("EAT", 3*60*60)
	day := func(d int) time.Time { return time.Date(2026, 12, d, 0, 0, 0, 0, eat) }
	bounds := []time.Time{day(5), day(6), day(7), day(8)}
	n := 0
	sms := func(at time.Time, status string) {
		t.Helper()
		n++
		r := smsRow{Key: fmt.Sprint("k", n), Kind: notify.KindMessage, Phone: "+254712000001", Text: "hi", Encoding: "gsm7", Parts: 1,
			Status: status, NextAttemptAt: at, CreatedAt: at.UTC(), UpdatedAt: at.UTC()}
		if err := st.db.WithContext(ctx).Create(&r).Error; err != nil {
			t.Fatal(err)
		}
	}
	hook := func(at time.Time, status notify.DeliveryStatus, answers ...int) {
		t.Helper()
		n++
		d := webhookDelivery{ID: fmt.Sprint("d", n), Merchant: "m1", EventID: fmt.Sprint("e", n), Type: "payment", Payload: "{}",
			Status: string(status), NextAttemptAt: at, CreatedAt: at.UTC(), UpdatedAt: at.UTC()}
		if err := st.db.WithContext(ctx).Create(&d).Error; err != nil {
			t.Fatal(err)
		}
		for i, code := range answers {
			a := webhookAttempt{DeliveryID: d.ID, At: at.Add(time.Duration(i) * time.Minute).UTC(), Status: code}
			if err := st.db.WithContext(ctx).Create(&a).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
	// Before the period and after it: not counted.
	sms(day(4).Add(23*time.Hour), notify.StatusFailed)
	sms(day(8), notify.StatusFailed)
	// The 5th: 3 SMS, 1 failed, 1 undelivered; one webhook delivered at
	// the second try (a 500 then a 200).
	sms(day(5), notify.StatusDelivered)
	sms(day(5).Add(12*time.Hour), notify.StatusFailed)
	sms(day(5).Add(23*time.Hour+59*time.Minute), notify.StatusUndelivered)
	hook(day(5).Add(time.Hour), notify.DeliveryDelivered, 500, 200)
	// The 6th: nothing. The 7th: 1 SMS pending, a webhook out of retries
	// (no answer, then a 404), and one delivered at once.
	sms(day(7).Add(time.Hour), notify.StatusPending)
	hook(day(7).Add(2*time.Hour), notify.DeliveryFailed, 0, 404)
	hook(day(7).Add(3*time.Hour), notify.DeliveryDelivered, 204)

	got, err := st.FailureRates(ctx, bounds)
	if err != nil {
		t.Fatal(err)
	}
	want := []FailureDay{
		{Day: day(5), SMS: 3, SMSFailed: 2, Webhooks: 1, WebhooksFailed: 0, Attempts: 2, AttemptsFailed: 1},
		{Day: day(6)},
		{Day: day(7), SMS: 1, SMSFailed: 0, Webhooks: 2, WebhooksFailed: 1, Attempts: 3, AttemptsFailed: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if g, w := got[i], want[i]; !g.Day.Equal(w.Day) || g.SMS != w.SMS || g.SMSFailed != w.SMSFailed || g.Webhooks != w.Webhooks ||
			g.WebhooksFailed != w.WebhooksFailed || g.Attempts != w.Attempts || g.AttemptsFailed != w.AttemptsFailed {
			t.Errorf("day %d: got %+v, want %+v", i, g, w)
		}
	}
	if r := Rate(got[0].SMSFailed, got[0].SMS); r != 2*10_000/3 {
		t.Errorf("the 5th's SMS failure rate: got %d basis points, want %d", r, 2*10_000/3)
	}

	for _, bad := range [][]time.Time{nil, {day(5)}, {day(6), day(5)}, {day(5), day(5)}, make([]time.Time, FailureDaysMax+2)} {
		if _, err := st.FailureRates(ctx, bad); err == nil {
			t.Errorf("bounds %v: no error", bad)
		}
	}
}

func TestReportRate(t *testing.T) {
	tests := []struct{ failed, total, want int64 }{
		{0, 0, 0}, {1, 0, 0}, {0, 10, 0}, {1, 3, 3333}, {5, 5, 10_000}, {1, 10_000, 1},
	}
	for _, tt := range tests {
		if got := Rate(tt.failed, tt.total); got != tt.want {
			t.Errorf("Rate(%d, %d) = %d, want %d", tt.failed, tt.total, got, tt.want)
		}
	}
}
