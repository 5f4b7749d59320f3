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
	rows := &reportRows{t: t, st: st}
	sms, hook := rows.sms, rows.hook
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

// reportRows inserts the rows FailureRates counts, each with a new key.
type reportRows struct {
	t  *testing.T
	st *Store
	n  int
}

func (r *reportRows) sms(at time.Time, status string) {
	r.t.Helper()
	r.n++
	row := smsRow{Key: fmt.Sprint("k", r.n), Kind: notify.KindMessage, Phone: "+254712000001", Text: "hi", Encoding: "gsm7", Parts: 1,
		Status: status, NextAttemptAt: at, CreatedAt: at.UTC(), UpdatedAt: at.UTC()}
	if err := r.st.db.Create(&row).Error; err != nil {
		r.t.Fatal(err)
	}
}

// hook inserts a delivery and its attempts, a minute apart, answered with
// answers; it returns the delivery's id.
func (r *reportRows) hook(at time.Time, status notify.DeliveryStatus, answers ...int) string {
	r.t.Helper()
	r.n++
	d := webhookDelivery{ID: fmt.Sprint("d", r.n), Merchant: "m1", EventID: fmt.Sprint("e", r.n), Type: "payment", Payload: "{}",
		Status: string(status), NextAttemptAt: at, CreatedAt: at.UTC(), UpdatedAt: at.UTC()}
	if err := r.st.db.Create(&d).Error; err != nil {
		r.t.Fatal(err)
	}
	for i, code := range answers {
		a := webhookAttempt{DeliveryID: d.ID, At: at.Add(time.Duration(i) * time.Minute).UTC(), Status: code}
		if err := r.st.db.Create(&a).Error; err != nil {
			r.t.Fatal(err)
		}
	}
	return d.ID
}

// TestReportFailureRatesCache: closed days come from the cache and equal
// what the tables say; a day still live sees a late status change; a
// Resend empties the cache; the cache keeps failureCacheDaysMax days.
func TestReportFailureRatesCache(t *testing.T) {
	ctx := context.Background()
	st := smsStore(t, smsDB(t))
	rows := &reportRows{t: t, st: st}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	day := func(d int) time.Time { return today.AddDate(0, 0, d) }
	daysBounds := func(from, to int) []time.Time {
		var b []time.Time
		for d := from; d <= to; d++ {
			b = append(b, day(d))
		}
		return b
	}
	// Each of the 45 days before today and today: day d has 1 + d%3 SMS
	// delivered, one failed, one pending, and a webhook failed every other
	// day (no answer then a 500).
	var oldFailed, yesterdayPending string
	for d := -45; d <= 0; d++ {
		at := day(d).Add(time.Hour)
		for i := 0; i <= (-d)%3; i++ {
			rows.sms(at.Add(time.Duration(i)*time.Minute), notify.StatusDelivered)
		}
		rows.sms(at, notify.StatusFailed)
		rows.sms(at, notify.StatusPending)
		if d == -1 {
			yesterdayPending = fmt.Sprint("k", rows.n)
		}
		if d%2 == 0 {
			id := rows.hook(at, notify.DeliveryFailed, 0, 500)
			if d == -10 {
				oldFailed = id
			}
		} else {
			rows.hook(at, notify.DeliveryDelivered, 200)
		}
	}
	equal := func(name string, got, want []FailureDay) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: got %d days, want %d", name, len(got), len(want))
		}
		for i := range want {
			if !got[i].Day.Equal(want[i].Day) || got[i].SMS != want[i].SMS || got[i].SMSFailed != want[i].SMSFailed ||
				got[i].Webhooks != want[i].Webhooks || got[i].WebhooksFailed != want[i].WebhooksFailed ||
				got[i].Attempts != want[i].Attempts || got[i].AttemptsFailed != want[i].AttemptsFailed {
				t.Errorf("%s: day %d: got %+v, want %+v", name, i, got[i], want[i])
			}
		}
	}
	kept := func() int {
		st.failures.mu.Lock()
		defer st.failures.mu.Unlock()
		return len(st.failures.days)
	}
	month := daysBounds(-29, 1) // 30 days, the last 2 or 3 live
	closed := 0
	for i := 1; i < len(month); i++ {
		if month[i].Before(time.Now().Add(-failureLiveFor)) {
			closed++
		}
	}
	live, err := st.failureRatesLive(ctx, month)
	if err != nil {
		t.Fatal(err)
	}
	if live[29].SMS != 3 || live[29].SMSFailed != 1 || live[19].WebhooksFailed != 1 || live[19].AttemptsFailed != 2 {
		t.Fatalf("got %+v and %+v, want today's 3 SMS, 1 failed, and a failed webhook 10 days ago", live[29], live[19])
	}
	// twice calls FailureRates twice, the second served by the cache.
	twice := func(name string, bounds []time.Time, want []FailureDay, keptWant int) {
		t.Helper()
		for _, call := range []string{name, name + " again"} {
			got, err := st.FailureRates(ctx, bounds)
			if err != nil {
				t.Fatal(err)
			}
			equal(call, got, want)
			if k := kept(); k != keptWant {
				t.Errorf("%s: got %d days kept, want %d", call, k, keptWant)
			}
		}
	}
	twice("30 days", month, live, closed)

	// Yesterday is live: a late failure shows.
	if err := st.db.Model(&smsRow{}).Where("key = ?", yesterdayPending).Update("status", notify.StatusFailed).Error; err != nil {
		t.Fatal(err)
	}
	got, err := st.FailureRates(ctx, month)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := got[28].SMSFailed, live[28].SMSFailed+1; g != w {
		t.Errorf("yesterday after a late failure: got %d failed, want %d", g, w)
	}

	// A resent delivery 10 days ago is no more failed: the cache is emptied.
	if _, err := st.Resend(ctx, "m1", oldFailed); err != nil {
		t.Fatal(err)
	}
	if k := kept(); k != 0 {
		t.Errorf("after a Resend: got %d days kept, want 0", k)
	}
	got, err = st.FailureRates(ctx, month)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := got[19].WebhooksFailed, live[19].WebhooksFailed-1; g != w {
		t.Errorf("10 days ago after a Resend: got %d failed, want %d", g, w)
	}

	// 42 closed days: the cache keeps the last failureCacheDaysMax, and
	// answers as the tables do.
	old := daysBounds(-45, -3)
	live, err = st.failureRatesLive(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	twice("42 days", old, live, failureCacheDaysMax)
}
