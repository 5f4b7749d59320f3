package gateway

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
)

// benchClients is how many clients per CPU the benchmarks run at once: a
// request waits on NATS most of its time.
const benchClients = 16

// BenchmarkMerchantCharge posts charges to an active tab through the whole
// API: the key from the gateway's cache, an Idempotency-Key created and
// answered in the bucket, the wallet's charge over NATS. It reports
// charges/s; the wallet's own rate without HTTP is commerce's benchmark.
func BenchmarkMerchantCharge(b *testing.B) {
	s := startStack(b)
	_, key := s.merchant("Bench")
	phone := s.customer(0)
	expires := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	r := s.do(apiCall{method: "POST", target: "/v1/tabs", key: key, idem: "bench-tab",
		body: `{"phone":"` + phone + `","cap":"200000","expires_at":"` + expires + `"}`})
	var tab merchant.TabView
	r.decode(b, &tab)
	if r.status != 201 {
		b.Fatalf("open tab = %s", r)
	}
	if _, err := merchantapi.NewClient(s.client).Approve(context.Background(), phone, tab.ID, customerPIN); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(benchClients)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := s.do(apiCall{method: "POST", target: "/v1/tabs/" + tab.ID + "/charges", key: key,
				idem: "bench-" + strconv.FormatInt(n.Add(1), 10), body: `{"amount":"0.0025"}`})
			if r.status != 201 {
				b.Errorf("charge = %s", r)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "charges/s")
}

// BenchmarkMerchantPaymentRequest creates payment requests through the
// whole API.
func BenchmarkMerchantPaymentRequest(b *testing.B) {
	s := startStack(b)
	_, key := s.merchant("Bench")
	phone := s.customer(0)
	var n atomic.Int64
	b.SetParallelism(benchClients)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := strconv.FormatInt(n.Add(1), 10)
			r := s.do(apiCall{method: "POST", target: "/v1/payment-requests", key: key, idem: "bench-" + i,
				body: `{"phone":"` + phone + `","amount":"1.00","reference":"B-` + i + `"}`})
			if r.status != 201 {
				b.Errorf("payment request = %s", r)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}
