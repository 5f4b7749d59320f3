package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kibubu/kibubu/notify"
)

// FailureDaysMax bounds the days of one FailureRates: as many as the
// wallet's dashboard shows (wallet.DashboardDaysMax), with room.
const FailureDaysMax = 100

// FailureDay is how one day's SMS and webhooks fared, for the back-office
// dashboard's failure rates. Each pair counts what was created (or
// attempted) that day and how much of it failed so far: a day's SMS still
// being retried count as not failed until they run out of attempts.
type FailureDay struct {
	Day time.Time `json:"day"` // the day's start, as the caller gave it
	// SMS recorded that day, and those failed (refused, out of attempts)
	// or undelivered (the carrier gave up).
	SMS       int64 `json:"sms"`
	SMSFailed int64 `json:"sms_failed"`
	// Webhook deliveries created that day, and those out of retries.
	Webhooks       int64 `json:"webhooks"`
	WebhooksFailed int64 `json:"webhooks_failed"`
	// Webhook POSTs made that day, and those not answered with a 2xx
	// (including no answer at all).
	Attempts       int64 `json:"attempts"`
	AttemptsFailed int64 `json:"attempts_failed"`
}

// Rate returns failed/total in basis points (1/100 of a percent), 0 when
// total is 0: what a chart of rates plots.
func Rate(failed, total int64) int64 {
	if total <= 0 {
		return 0
	}
	return failed * 10_000 / total
}

// FailureRates counts, for each day between consecutive bounds (the days'
// starts, then the last day's end: len(bounds)-1 days, at most
// FailureDaysMax), the SMS, webhook deliveries and webhook attempts of
// that day and how many failed. Each table is read by one statement over
// the period; sms_messages and webhook_deliveries have no index by time,
// so that is a scan of each (see the notes on its cost).
func (s *Store) FailureRates(ctx context.Context, bounds []time.Time) ([]FailureDay, error) {
	if len(bounds) < 2 || len(bounds) > FailureDaysMax+1 {
		return nil, fmt.Errorf("failure rates: %d bounds, want 2 to %d", len(bounds), FailureDaysMax+1)
	}
	for i := 1; i < len(bounds); i++ {
		if !bounds[i-1].Before(bounds[i]) {
			return nil, fmt.Errorf("failure rates: the days' bounds must increase")
		}
	}
	out := make([]FailureDay, len(bounds)-1)
	for i := range out {
		out[i].Day = bounds[i]
	}
	tables := []struct {
		table, at, failed string
		failedArgs        []any
		total, fail       func(d *FailureDay) *int64
	}{
		{"sms_messages", "created_at", "status IN (?, ?)", []any{notify.StatusFailed, notify.StatusUndelivered},
			func(d *FailureDay) *int64 { return &d.SMS }, func(d *FailureDay) *int64 { return &d.SMSFailed }},
		{"webhook_deliveries", "created_at", "status = ?", []any{string(notify.DeliveryFailed)},
			func(d *FailureDay) *int64 { return &d.Webhooks }, func(d *FailureDay) *int64 { return &d.WebhooksFailed }},
		{"webhook_attempts", "at", "(status < 200 OR status > 299)", nil,
			func(d *FailureDay) *int64 { return &d.Attempts }, func(d *FailureDay) *int64 { return &d.AttemptsFailed }},
	}
	for _, tb := range tables {
		// One scan: the day is a CASE over the bounds, nested as a binary
		// search (5 comparisons a row for 30 days, not 15 on average).
		var day strings.Builder
		var args []any
		dayCase(&day, &args, tb.at, bounds, 0, len(bounds)-1)
		args = append(args, tb.failedArgs...)
		args = append(args, bounds[0].UTC(), bounds[len(bounds)-1].UTC())
		q := "SELECT d, COUNT(*), COALESCE(SUM(f), 0) FROM (SELECT " + day.String() + " AS d, CASE WHEN " + tb.failed +
			" THEN 1 ELSE 0 END AS f FROM " + tb.table + " WHERE " + tb.at + " >= ? AND " + tb.at + " < ?) AS days GROUP BY d"
		rows, err := s.db.WithContext(ctx).Raw(q, args...).Rows()
		if err != nil {
			return nil, fmt.Errorf("failure rates of %s: %w", tb.table, err)
		}
		for rows.Next() {
			var d int
			var total, failed int64
			if err := rows.Scan(&d, &total, &failed); err != nil {
				rows.Close()
				return nil, fmt.Errorf("failure rates of %s: %w", tb.table, err)
			}
			if d < 0 || d >= len(out) {
				rows.Close()
				panic(fmt.Sprintf("notify/store: failure rates: day %d of %d", d, len(out)))
			}
			*tb.total(&out[d]), *tb.fail(&out[d]) = total, failed
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("failure rates of %s: %w", tb.table, err)
		}
	}
	return out, nil
}

// dayCase writes the SQL expression that numbers the day, lo to hi-1, an
// at in [bounds[lo], bounds[hi]) falls in: nested CASEs halving the days,
// with their bounds appended to args in the order the ? appear.
func dayCase(b *strings.Builder, args *[]any, at string, bounds []time.Time, lo, hi int) {
	if hi-lo == 1 {
		fmt.Fprintf(b, "%d", lo)
		return
	}
	mid := (lo + hi) / 2
	fmt.Fprintf(b, "CASE WHEN %s < ? THEN ", at)
	*args = append(*args, bounds[mid].UTC())
	dayCase(b, args, at, bounds, lo, mid)
	b.WriteString(" ELSE ")
	dayCase(b, args, at, bounds, mid, hi)
	b.WriteString(" END")
}
