package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/notify"
	"gorm.io/gorm"
)

const (
	// benchFailureSMS is the SMS of issue 14's load: a million transfers,
	// a receipt to each side.
	benchFailureSMS = 2_000_000
	// benchFailureDays spreads them over the dashboard's month.
	benchFailureDays = 30
	// benchInsertRows bounds one INSERT: 10 parameters a row, under
	// SQLite's 32,766.
	benchInsertRows = 1000
)

// failureIndexes are the indexes FailureRates reads, by table.
var failureIndexes = []struct {
	model any
	name  string
}{
	{&smsRow{}, "idx_sms_messages_created"},
	{&webhookDelivery{}, "idx_webhook_deliveries_created"},
	{&webhookAttempt{}, "idx_webhook_attempts_at"},
}

// BenchmarkFailureRates: the dashboard's 30 days of failure rates over
// 2,000,000 SMS spread evenly over the 30 days up to now. "scan" is the
// statement before the indexes (the same statement, the indexes dropped);
// then, indexes built, "live" reads all 30 days through them, "first" is
// a call with nothing kept (it keeps the closed days) and "warm" a call
// after it, which reads only the live days.
func BenchmarkFailureRates(b *testing.B) {
	ctx := context.Background()
	st := smsStore(b, smsDB(b))
	for _, ix := range failureIndexes {
		if err := st.db.Migrator().DropIndex(ix.model, ix.name); err != nil {
			b.Fatal(err)
		}
	}
	now := time.Now().UTC()
	start := now.Add(-benchFailureDays * 24 * time.Hour)
	step := benchFailureDays * 24 * time.Hour / benchFailureSMS
	began := time.Now()
	err := st.db.Transaction(func(tx *gorm.DB) error {
		var q strings.Builder
		args := make([]any, 0, 10*benchInsertRows)
		for i := 0; i < benchFailureSMS; {
			q.Reset()
			args = args[:0]
			q.WriteString("INSERT INTO sms_messages (key, kind, phone, text, encoding, parts, status, next_attempt_at, created_at, updated_at) VALUES ")
			for n := 0; n < benchInsertRows && i < benchFailureSMS; n, i = n+1, i+1 {
				if n > 0 {
					q.WriteString(",")
				}
				q.WriteString("(?,?,?,?,?,?,?,?,?,?)")
				status := notify.StatusDelivered
				switch {
				case i%20 == 0:
					status = notify.StatusFailed
				case i%50 == 1:
					status = notify.StatusUndelivered
				}
				at := start.Add(time.Duration(i) * step)
				args = append(args, fmt.Sprint("bench-", i), notify.KindMessage, "+254712000001", "receipt", "gsm7", 1, status, at, at, at)
			}
			if err := tx.Exec(q.String(), args...).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("inserted %d SMS in %v", benchFailureSMS, time.Since(began).Round(time.Millisecond))
	today := now.Truncate(24 * time.Hour)
	bounds := make([]time.Time, benchFailureDays+1)
	for i := range bounds {
		bounds[i] = today.AddDate(0, 0, i-benchFailureDays+1)
	}
	run := func(name string, call func() ([]FailureDay, error)) {
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				days, err := call()
				if err != nil {
					b.Fatal(err)
				}
				var sms int64
				for _, d := range days {
					sms += d.SMS
				}
				if sms == 0 {
					b.Fatalf("no SMS counted in %+v", days)
				}
			}
		})
	}
	run("scan", func() ([]FailureDay, error) { return st.failureRatesLive(ctx, bounds) })
	began = time.Now()
	for _, ix := range failureIndexes {
		if err := st.db.Migrator().CreateIndex(ix.model, ix.name); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("indexed in %v", time.Since(began).Round(time.Millisecond))
	run("live", func() ([]FailureDay, error) { return st.failureRatesLive(ctx, bounds) })
	run("first", func() ([]FailureDay, error) { st.failures.reset(); return st.FailureRates(ctx, bounds) })
	run("warm", func() ([]FailureDay, error) { return st.FailureRates(ctx, bounds) })
}
