package store

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kibubu/kibubu/notify/twilio"

	"github.com/kibubu/kibubu/notify"

	"github.com/kibubu/kibubu/notify/twiliotest"
)

// benchBatch is how many receipts one Record call takes, as a consumer
// recording a fetch of wallet events would.
const benchBatch = 100

// BenchmarkReceipts measures receipts a second from Record to handed over
// (sent to the outbox, or queued at a fake Twilio over loopback HTTP), on
// the test database (SQLite; PostgreSQL with KIBUBU_TEST_POSTGRES), with
// the default concurrency and no rate limits. Each run also measures, in
// the same process and moment, the same number of bare Twilio API calls
// with the same concurrency and no database, and reports the ratio
// (x_raw_http): the cost of recording, claiming and recording the outcome
// of each. b.N is the number of receipts; use -benchtime 5000x.
func BenchmarkReceipts(b *testing.B) {
	for _, name := range []string{notify.ProviderOutbox, notify.ProviderTwilio} {
		b.Run(name, func(b *testing.B) {
			fake := twiliotest.New(twiliotest.Config{})
			defer fake.Close()
			tw := smsTwilio(b, fake)
			var p notify.Provider = notify.Outbox{}
			if name == notify.ProviderTwilio {
				p = tw
			}
			st := smsStore(b, smsDB(b))
			var done atomic.Int64
			all := make(chan struct{})
			cfg := smsConfig(st, p, nil)
			cfg.Lease, cfg.PollInterval = time.Minute, time.Second
			cfg.Observe = func(_, result string, _ time.Duration) {
				if result == ResultSent && done.Add(1) == int64(b.N) {
					close(all)
				}
			}
			smsRun(b, cfg)
			ctx := context.Background()
			out := make([]notify.Outgoing, b.N)
			for i := range out {
				out[i] = notify.Outgoing{Key: fmt.Sprintf("%d:%d", i/2, i), Kind: notify.KindReceipt, Transfer: int64(i / 2),
					Account: int64(i), To: fmt.Sprintf("+2547%08d", i), Language: "en",
					Text: fmt.Sprintf("QF%06d Confirmed. KES 1,250.00 sent to JANE WANJIKU +254711000111 on 1/6/25 at 10:42 AM. New M-PESA balance is KES 3,410.00. Fee KES 0.00.", i)}
			}
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < len(out); i += benchBatch {
				if _, err := st.Record(ctx, out[i:min(i+benchBatch, len(out))]); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-all:
			case <-time.After(10 * time.Minute):
				b.Fatalf("%d of %d sent", done.Load(), b.N)
			}
			took := time.Since(start)
			b.StopTimer()
			perSecond := float64(b.N) / took.Seconds()
			raw := benchRawHTTP(b, tw, b.N, concurrencyDefault)
			b.ReportMetric(perSecond, "receipts/s")
			b.ReportMetric(raw, "raw_http/s")
			b.ReportMetric(perSecond/raw, "x_raw_http")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// benchRawHTTP sends n messages straight through tw with the given
// concurrency, no database, and returns messages a second.
func benchRawHTTP(b *testing.B, tw *twilio.Provider, n, concurrency int) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if _, err := tw.Send(context.Background(), notify.Stored{To: "+254700000900",
					Text: fmt.Sprint("raw ", i)}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / math.Max(time.Since(start).Seconds(), 1e-9)
}
