package merchant_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// BenchmarkPaymentRequests measures payment requests end to end in the
// wallet process: a merchant's request (validated, stored with its event)
// and the customer's approval with the PIN (a compare-and-set, the payment
// through the wallet's group commit, the final state and its event), from
// many goroutines at once. It reports requests paid per second; compare
// with the wallet's own transfers per second (wallet BenchmarkTransfers).
func BenchmarkPaymentRequests(b *testing.B) {
	f := newMerchantFixture(b)
	merchants := make([]merchant.Principal, 4)
	for i := range merchants {
		merchants[i] = f.merchant(fmt.Sprint("Duka ", i), false)
	}
	customers := make([]string, 64)
	for i := range customers {
		customers[i] = f.customer(10_000_000)
	}
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			p, c := merchants[i%int64(len(merchants))], customers[i%int64(len(customers))]
			r, err := f.s.RequestPayment(f.ctx, p, fmt.Sprint("bench-", i), c, 100, "R", "")
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := f.s.Approve(f.ctx, c, r.ID, fixturePIN); err != nil && wallet.ErrorCode(err) != wallet.CodeInFlight {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "requests/s")
}
