package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kibubu/kibubu/deploy/bench"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// TestBenchUSSD runs a tiny kibubu bench ussd end to end.
func TestBenchUSSD(t *testing.T) {
	embeddedOnly(t)
	if testing.Short() {
		t.Skip("runs the USSD bench for a few seconds")
	}
	var stdout, stderr bytes.Buffer
	cfg := bench.LoadConfig{Phones: 20, Clients: 4, Duration: 2 * time.Second} // long enough for a session under -race on a loaded machine
	if err := bench.Served(context.Background(), "ussd", bench.USSD, cfg, startLoadBench, &stdout, &stderr); err != nil {
		t.Fatalf("bench ussd: %v\n%s", err, stderr.String())
	}
	last := regexp.MustCompile(`^hops_per_s=[1-9][0-9]* sessions_per_s=[0-9]+ http_floor_per_s=[1-9][0-9]* ratio=[0-9]+\.[0-9]{2} p50_ms=[0-9]+\.[0-9]{2} p99_ms=[0-9]+\.[0-9]{2}$`)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if got := lines[len(lines)-1]; !last.MatchString(got) {
		t.Errorf("last line %q, want the result line\nstderr:\n%s", got, stderr.String())
	}
}

// BenchmarkUSSDSendSession measures complete send-money sessions (six hops
// each) over HTTP against kibubu serve on the embedded default, with
// GOMAXPROCS×4 phones dialling at once; it reports hops/s.
func BenchmarkUSSDSendSession(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Data, cfg.HTTP = b.TempDir(), "127.0.0.1:0"
	m := &Main{Config: cfg, Log: discardLog()}
	if err := m.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	phones, err := bench.SeedPhones(context.Background(), natsapi.NewClient(m.Conn(), 0, natsapi.AsOperator(natsapi.Operator{Actor: "kibubu bench"})), m.Config.currency, 200)
	if err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Timeout: bench.HopTimeout}
	base := "http://" + m.HTTPAddr()
	var n, hops atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			from, to := phones[i%len(phones)], phones[(i+1)%len(phones)]
			h, err := bench.USSDSession(context.Background(), hc, base, fmt.Sprintf("b-%d", i), from, to, 10, func(time.Duration) {})
			if err != nil {
				b.Error(err)
				return
			}
			hops.Add(h)
		}
	})
	b.ReportMetric(float64(hops.Load())/time.Since(start).Seconds(), "hops/s")
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestBenchMerchant runs a tiny kibubu bench merchant end to end.
func TestBenchMerchant(t *testing.T) {
	embeddedOnly(t)
	if testing.Short() {
		t.Skip("runs the merchant bench for a few seconds")
	}
	var stdout, stderr bytes.Buffer
	cfg := bench.LoadConfig{Phones: 20, Clients: 4, Duration: time.Second}
	if err := bench.Served(context.Background(), "merchant", bench.Merchant, cfg, startLoadBench, &stdout, &stderr); err != nil {
		t.Fatalf("bench merchant: %v\n%s", err, stderr.String())
	}
	last := regexp.MustCompile(`^charges_per_s=[1-9][0-9]* charges_ratio=[0-9.]+ batched_charges_per_s=[1-9][0-9]* batched_ratio=[0-9.]+ requests_per_s=[1-9][0-9]* requests_ratio=[0-9.]+ http_floor_per_s=[1-9][0-9]* charge_p99_ms=[0-9.]+ request_p99_ms=[0-9.]+$`)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if got := lines[len(lines)-1]; !last.MatchString(got) {
		t.Errorf("last line %q, want the result line\nstderr:\n%s", got, stderr.String())
	}
}
