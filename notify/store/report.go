package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
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

const (
	// failureLiveFor is how long after its end a day is still read live:
	// delivery reports and the last retries change yesterday's counts.
	// Older days are counted once and kept (failureCache).
	failureLiveFor = 48 * time.Hour
	// failureCacheDaysMax bounds the closed days a Store keeps: the
	// dashboard's month. The oldest is dropped first.
	failureCacheDaysMax = 31
)

// failureCache keeps the counts of closed days, by the day's start and end
// (Unix nanoseconds, so days of any time zone are kept apart). A Resend,
// which can turn an old failed delivery into a delivered one, empties it.
type failureCache struct {
	mu   sync.Mutex
	gen  uint64 // counts the resets: a count read before one is not kept
	days map[[2]int64]FailureDay
}

func failureKey(from, to time.Time) [2]int64 { return [2]int64{from.UnixNano(), to.UnixNano()} }

// reset forgets every day kept.
func (c *failureCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.days = nil
}

// FailureRates counts, for each day between consecutive bounds (the days'
// starts, then the last day's end: len(bounds)-1 days, at most
// FailureDaysMax), the SMS, webhook deliveries and webhook attempts of
// that day and how many failed. Days that ended failureLiveFor ago are
// counted once and kept (up to failureCacheDaysMax of them); the leading
// days found kept are not read again, the rest are read by one statement
// a table over their period, on the tables' indexes by time.
func (s *Store) FailureRates(ctx context.Context, bounds []time.Time) ([]FailureDay, error) {
	if err := checkFailureBounds(bounds); err != nil {
		return nil, err
	}
	closedBefore := time.Now().Add(-failureLiveFor)
	out := make([]FailureDay, len(bounds)-1)
	c := &s.failures
	c.mu.Lock()
	gen, kept := c.gen, 0
	for ; kept < len(out); kept++ {
		d, ok := c.days[failureKey(bounds[kept], bounds[kept+1])]
		if !ok {
			break
		}
		out[kept] = d
		out[kept].Day = bounds[kept]
	}
	c.mu.Unlock()
	if kept == len(out) {
		return out, nil
	}
	live, err := s.failureRatesLive(ctx, bounds[kept:])
	if err != nil {
		return nil, err
	}
	copy(out[kept:], live)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return out, nil // a Resend may have changed what was read
	}
	for i := kept; i < len(out) && bounds[i+1].Before(closedBefore); i++ {
		if c.days == nil {
			c.days = make(map[[2]int64]FailureDay, failureCacheDaysMax+1)
		}
		c.days[failureKey(bounds[i], bounds[i+1])] = out[i]
		if len(c.days) > failureCacheDaysMax {
			oldest := [2]int64{}
			first := true
			for k := range c.days {
				if first || k[0] < oldest[0] || (k[0] == oldest[0] && k[1] < oldest[1]) {
					oldest, first = k, false
				}
			}
			delete(c.days, oldest)
		}
	}
	return out, nil
}

// FailureDaysKept is how many closed days' counts the Store keeps (for
// tests and the start's count ahead).
func (s *Store) FailureDaysKept() int {
	s.failures.mu.Lock()
	defer s.failures.mu.Unlock()
	return len(s.failures.days)
}

func checkFailureBounds(bounds []time.Time) error {
	if len(bounds) < 2 || len(bounds) > FailureDaysMax+1 {
		return fmt.Errorf("failure rates: %d bounds, want 2 to %d", len(bounds), FailureDaysMax+1)
	}
	for i := 1; i < len(bounds); i++ {
		if !bounds[i-1].Before(bounds[i]) {
			return fmt.Errorf("failure rates: the days' bounds must increase")
		}
	}
	return nil
}

// failureRatesLive is FailureRates read from the tables, each by one
// statement over the period: a range of its index by time, which has the
// status too, so the rows themselves are not read.
func (s *Store) failureRatesLive(ctx context.Context, bounds []time.Time) ([]FailureDay, error) {
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
