package merchant_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	merchantstore "github.com/kibubu/kibubu/wallet/merchant/store"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// TestTwoMeters: two wallet processes (two meters) on one database charge
// the same tabs at once, some with the same keys; no cap is exceeded, each
// key is charged once, and every tab's Charged is the sum of its charges.
func TestTwoMeters(t *testing.T) {
	dsn := storetest.DSN(t)
	clock := &tabClock{}
	a := newTabFixtureWith(t, tabOptions{dsn: dsn, clock: clock})
	b := newTabFixtureWith(t, tabOptions{dsn: dsn, clock: clock})
	b.p = a.p // one merchant, served by both processes
	phone := a.customer(0)
	const tabsN, cap = 3, 1_000_000 // KES 1.00 each
	var ids []string
	for range tabsN {
		ids = append(ids, a.active(phone, "1", false).ID)
	}
	var accepted [tabsN]atomic.Int64
	var capped atomic.Int64
	var wg sync.WaitGroup
	for w := range 16 {
		f := a
		if w%2 == 1 {
			f = b
		}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range 60 {
				tab := rng.IntN(tabsN)
				// Keys shared by worker pairs (one on each process), with
				// the same amount: each is charged once.
				key := fmt.Sprintf("w%d-%d", w/2, i)
				amount := wallet.Micro(1000 + (w/2*7919+i*104729)%49000)
				c, err := f.s.Charge(f.ctx, f.p, merchant.ChargeRequest{Tab: ids[tab], Key: key + fmt.Sprint("-", tab), Amount: amount})
				switch {
				case wallet.ErrorCode(err) == wallet.CodeLimitExceeded:
					capped.Add(1)
				case err != nil:
					t.Error(err)
					return
				case !c.Replayed:
					accepted[tab].Add(int64(amount))
				}
			}
		})
	}
	wg.Wait()
	if capped.Load() == 0 {
		t.Fatal("no charge reached a cap: the test proves nothing")
	}
	for i, id := range ids {
		tab := a.tab(id)
		var rows int64
		var sum sql.NullInt64
		a.must(a.st.Gorm().Raw("SELECT COUNT(*), SUM(amount) FROM tab_charges WHERE tab_id = ?", id).Row().Scan(&rows, &sum))
		if tab.Charged > cap || int64(tab.Charged) != accepted[i].Load() || sum.Int64 != int64(tab.Charged) {
			t.Errorf("tab %d: charged %d (cap %d), accepted %d, rows sum to %d", i, tab.Charged, cap, accepted[i].Load(), sum.Int64)
		}
	}
}

// TestMeterShutdown: charges queued when the services stop are answered
// (committed or refused with unavailable), and none is answered twice.
func TestMeterShutdown(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ms, err := merchantstore.Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	kes, _ := wallet.LookupCurrency("KES")
	w, err := wallet.New(ctx, st, wallet.Config{Currency: kes, Region: "KE", Pepper: tabPepper})
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go w.Run(wctx)
	f := &tabFixture{t: t, ctx: ctx, st: st, ms: ms, w: w, kes: kes, clock: &tabClock{}}
	s, err := merchant.New(ctx, w, ms, merchant.Config{Sweep: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	m, err := w.AddMerchant(ctx, tabPhone(), "Shop", false)
	f.must(err)
	f.p = merchant.Principal{Merchant: m.Number}
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	done := make(chan struct{})
	go func() { s.Run(cctx); close(done) }()
	phone := tabPhone()
	a, err := w.Register(ctx, phone, "C", wallet.TierFull, "")
	f.must(err)
	_, err = w.SetPINWithStartKey(ctx, phone, a.StartKey, tabPIN)
	f.must(err)
	tab := f.active(phone, "1000", false)
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 2000 {
		wg.Go(func() {
			_, err := s.Charge(ctx, f.p, merchant.ChargeRequest{Tab: tab.ID, Key: fmt.Sprint("s", i), Amount: 1})
			switch wallet.ErrorCode(err) {
			case "":
				ok.Add(1)
			case wallet.CodeUnavailable:
				refused.Add(1)
			default:
				t.Error(err)
			}
		})
		if i == 1000 {
			ccancel()
		}
	}
	wg.Wait()
	<-done
	_, err = s.Charge(ctx, f.p, merchant.ChargeRequest{Tab: tab.ID, Key: "after", Amount: 1})
	wantTabCode(t, err, wallet.CodeUnavailable)
	_, err = s.ChargeBatch(ctx, f.p, tab.ID, []merchant.ChargeRequest{{Key: "after", Amount: 1}})
	wantTabCode(t, err, wallet.CodeUnavailable)
	var n int64
	f.must(st.Gorm().Raw("SELECT COUNT(*) FROM tab_charges WHERE tab_id = ?", tab.ID).Row().Scan(&n))
	t.Logf("%d committed, %d refused at shutdown", ok.Load(), refused.Load())
	if ok.Load()+refused.Load() != 2000 || n != ok.Load() {
		t.Errorf("%d committed, %d refused, %d rows", ok.Load(), refused.Load(), n)
	}
}

// BenchmarkCharges measures charges per second into 100 tabs from many
// concurrent callers (the gateway's many requests), each acknowledged
// after its group commit; and, in the same run, the storage's baseline:
// as many bare single-row INSERTs (of a charge's key and amount) in
// transactions of meterBatchMax rows, one after another.
func BenchmarkCharges(b *testing.B) {
	f := newTabFixture(b)
	const tabsN = 100
	ids := make([]string, tabsN)
	var phone string
	for i := range ids {
		if i%10 == 0 {
			phone = f.customer(0) // ten tabs each
		}
		ids[i] = f.active(phone, "10000", false).ID
	}
	var seq atomic.Int64
	b.SetParallelism(1024)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			_, err := f.s.Charge(f.ctx, f.p, merchant.ChargeRequest{Tab: ids[n%tabsN], Key: fmt.Sprint("b", n), Amount: 2500})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	charges := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(charges, "charges/s")
	if b.N < 1000 {
		return
	}
	inserts := baselineInserts(b, f.st, b.N)
	b.ReportMetric(inserts, "inserts/s")
	b.ReportMetric(charges/inserts, "charges/insert")
}

// BenchmarkChargeBatch measures charges per second into 100 tabs sent in
// batches (ChargeBatch) of 10, 100 and 1,000 charges from concurrent
// callers, about 2,048 charges in flight: what the batch endpoint gives a
// pay-per-click merchant. An op is one charge, as in BenchmarkCharges.
func BenchmarkChargeBatch(b *testing.B) {
	for _, size := range []int{10, 100, merchant.BatchChargesMax} {
		b.Run(fmt.Sprint("size=", size), func(b *testing.B) {
			f := newTabFixture(b)
			const tabsN = 100
			ids := make([]string, tabsN)
			var phone string
			for i := range ids {
				if i%10 == 0 {
					phone = f.customer(0)
				}
				ids[i] = f.active(phone, "10000", false).ID
			}
			var seq, batches atomic.Int64
			b.SetParallelism(max(1, 2048/size/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				reqs := make([]merchant.ChargeRequest, 0, size)
				send := func() bool {
					tab := ids[batches.Add(1)%tabsN]
					got, err := f.s.ChargeBatch(f.ctx, f.p, tab, reqs)
					if err == nil && got[len(got)-1].Err != nil {
						err = got[len(got)-1].Err
					}
					if err != nil {
						b.Error(err)
						return false
					}
					reqs = reqs[:0]
					return true
				}
				for pb.Next() {
					reqs = append(reqs, merchant.ChargeRequest{Key: fmt.Sprint("b", seq.Add(1)), Amount: 2500})
					if len(reqs) == size && !send() {
						return
					}
				}
				if len(reqs) > 0 {
					send()
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "charges/s")
		})
	}
}

// baselineInserts inserts n rows one statement each, in transactions of
// 2048, and returns rows per second.
func baselineInserts(b *testing.B, st *store.Store, n int) float64 {
	b.Helper()
	db, err := st.Gorm().DB()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE bench_inserts (tab_id varchar(40) NOT NULL, idem_key varchar(128) NOT NULL,
		amount bigint NOT NULL, PRIMARY KEY (tab_id, idem_key))`); err != nil {
		b.Fatal(err)
	}
	q := "INSERT INTO bench_inserts (tab_id, idem_key, amount) VALUES (?, ?, ?)"
	if st.Gorm().Dialector.Name() == "postgres" {
		q = "INSERT INTO bench_inserts (tab_id, idem_key, amount) VALUES ($1, $2, $3)"
	}
	start := time.Now()
	for done := 0; done < n; {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		stmt, err := tx.PrepareContext(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		for end := min(done+2048, n); done < end; done++ {
			if _, err := stmt.ExecContext(ctx, fmt.Sprint("tab_", done%100), fmt.Sprint("b", done), 2500); err != nil {
				b.Fatal(err)
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	return float64(n) / time.Since(start).Seconds()
}
