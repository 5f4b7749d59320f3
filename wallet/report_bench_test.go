package wallet_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/store"
)

// The reports' benchmark database: issue 14's scale, 100,000 accounts
// (99,000 customers, 1,000 agents) and 1,000,000 transfers over the 30 days
// before the seed's "now" (sends between customers, withdrawals at agents),
// with the deposits and float issues that funded them a day before.
const (
	reportBenchCustomers = 99_000
	reportBenchAgents    = 1_000
	reportBenchTransfers = 1_000_000
	reportBenchDays      = 30
	reportBenchBatch     = 1_024 // transfers per BulkInsert
	// reportBenchFundMajor is what each customer is deposited, in KES.
	reportBenchFundMajor = 20_000
)

// reportBenchDB returns the path of the seeded SQLite database and the
// seed's "now", seeding it on first use: it is cached in os.TempDir() under
// a name keyed by the schema (a hash of the migrated tables' SQL) and the
// seed's shape, so a schema change seeds afresh.
func reportBenchDB(b *testing.B) (string, time.Time) {
	b.Helper()
	ctx := context.Background()
	probe, err := store.Open(ctx, filepath.Join(b.TempDir(), "probe.db"))
	if err != nil {
		b.Fatal(err)
	}
	var schema string
	err = probe.Gorm().Raw("SELECT group_concat(sql, ';') FROM (SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name)").Scan(&schema).Error
	probe.Close()
	if err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%d|%d|%d|%d", schema, reportBenchCustomers, reportBenchAgents, reportBenchTransfers, reportBenchDays)))
	path := filepath.Join(os.TempDir(), "kibubu-report-bench-"+hex.EncodeToString(sum[:6])+".db")
	if raw, err := os.ReadFile(path + ".now"); err == nil {
		if now, err := time.Parse(time.RFC3339, string(raw)); err == nil {
			return path, now
		}
	}
	b.Logf("seeding %s: %d accounts, %d transfers (once; cached for later runs)", path, reportBenchCustomers+reportBenchAgents, reportBenchTransfers)
	start := time.Now()
	now := seedReportBench(b, path)
	b.Logf("seeded in %s", time.Since(start).Round(time.Second))
	return path, now
}

// seedReportBench writes the benchmark's database to a temporary file and
// renames it to path once complete, with its "now" beside it.
func seedReportBench(b *testing.B, path string) time.Time {
	b.Helper()
	ctx := context.Background()
	tmp := path + ".seeding"
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(tmp + suffix)
	}
	st, err := store.Open(ctx, tmp)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Minute)
	first := now.AddDate(0, 0, -reportBenchDays)
	clk := &clock{now: first.Add(-24 * time.Hour)} // funding happens the day before the period
	kes := kes(b)
	w, err := wallet.New(ctx, st, wallet.Config{Currency: kes, Region: "KE", Pepper: testPepper, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(wctx); close(done) }()

	// Accounts, straight into the store (opening them one by one through
	// the wallet would take minutes and test nothing here).
	recs := make([]*wallet.AccountRecord, 0, reportBenchCustomers+reportBenchAgents)
	for i := range reportBenchAgents {
		phone := fmt.Sprintf("+2547%08d", 90_000_000+i)
		recs = append(recs, &wallet.AccountRecord{Kind: wallet.KindAgent, Number: fmt.Sprint(100_000 + i), Phone: phone,
			Name: fmt.Sprintf("Agent %d", i), Status: wallet.StatusActive, Created: clk.Now()})
	}
	for i := range reportBenchCustomers {
		phone := fmt.Sprintf("+2547%08d", 10_000_000+i)
		recs = append(recs, &wallet.AccountRecord{Kind: wallet.KindCustomer, Number: phone, Phone: phone, Name: fmt.Sprintf("Customer %d", i),
			Tier: wallet.TierFull, Status: wallet.StatusActive, Language: "en", Created: clk.Now()})
	}
	for lo := 0; lo < len(recs); lo += 10_000 {
		if err := st.CreateAccounts(ctx, recs[lo:min(lo+10_000, len(recs))]); err != nil {
			b.Fatal(err)
		}
	}
	agents, customers := recs[:reportBenchAgents], recs[reportBenchAgents:]

	// Float for every agent, then a deposit to every customer, through the
	// wallet (so their postings, balances and commission are the ledger's
	// own). Many at once, so the writer batches them.
	fund := int64(reportBenchFundMajor) * 100
	perAgent := fund*int64(reportBenchCustomers/reportBenchAgents+1) + fund
	run := func(n int, req func(i int) wallet.TransferRequest) {
		var wg sync.WaitGroup
		errs := make(chan error, 1)
		sem := make(chan struct{}, 256)
		for i := range n {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if _, err := w.Transfer(ctx, req(i)); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}()
		}
		wg.Wait()
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
	}
	run(len(agents), func(i int) wallet.TransferRequest {
		return wallet.TransferRequest{Key: "bench-float-" + agents[i].Number, Kind: wallet.TransferFloat, To: agents[i].Number,
			Amount: perAgent, Reference: "BENCH-" + agents[i].Number}
	})
	// Deposits are posted by the agent's phone and need its PIN: set them.
	pinned := map[string]bool{}
	for _, a := range agents {
		rec, err := st.AccountByNumber(ctx, a.Number)
		if err != nil {
			b.Fatal(err)
		}
		if !pinned[rec.Phone] {
			if _, err := w.SetPIN(ctx, rec.Phone, "1357"); err != nil {
				b.Fatal(err)
			}
			pinned[rec.Phone] = true
		}
	}
	run(len(customers), func(i int) wallet.TransferRequest {
		a := agents[i%len(agents)]
		return wallet.TransferRequest{Key: "bench-deposit-" + customers[i].Number, Kind: wallet.TransferDeposit, From: a.Phone,
			To: customers[i].Phone, Amount: fund, PIN: "1357"}
	})
	stop()
	<-done

	// The period's transfers: built by store.BulkRows from the real
	// balances, re-timed evenly over the period (ids follow their times),
	// written without their outbox events.
	ids := make([]int64, len(customers))
	for i, c := range customers {
		ids[i] = c.ID
	}
	tariff := w.Config().Tariff
	kinds := []struct {
		kind  wallet.TransferKind
		share int // of every ten transfers
	}{{wallet.TransferSend, 9}, {wallet.TransferWithdraw, 1}}
	var builders []*store.BulkRows
	for _, k := range kinds {
		r, err := st.NewBulkRows(ctx, store.BulkRowsConfig{Kind: k.kind, Customers: ids, Agent: agents[0].ID, Tariff: tariff,
			AmountMin: 100 * 100, AmountMax: 2_000 * 100})
		if err != nil {
			b.Fatal(err)
		}
		builders = append(builders, r)
	}
	step := time.Duration(int64(now.Sub(first)) / reportBenchTransfers)
	n := 0
	for n < reportBenchTransfers {
		for i, k := range kinds {
			size := reportBenchBatch * k.share / 10
			wr, err := builders[i].Next(min(size, reportBenchTransfers-n))
			if err != nil {
				b.Fatal(err)
			}
			for _, t := range wr.Transfers {
				t.Created = first.Add(time.Duration(n) * step)
				t.ID = wallet.FirstTransferID(t.Created) | int64(n%128)
				t.Ref = wallet.Ref(t.ID)
				n++
			}
			wr.Events = nil
			if err := st.BulkInsert(ctx, wr); err != nil {
				b.Fatal(err)
			}
			if n >= reportBenchTransfers {
				break
			}
		}
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path+".now", []byte(now.Format(time.RFC3339)), 0o644); err != nil {
		b.Fatal(err)
	}
	return now
}

// reportBench opens the seeded database with a wallet whose clock stands
// at the seed's "now".
func reportBench(b *testing.B) (*wallet.Service, func()) {
	b.Helper()
	ctx := context.Background()
	path, now := reportBenchDB(b)
	st, err := store.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	w, err := wallet.New(ctx, st, wallet.Config{Currency: kes(b), Region: "KE", Pepper: testPepper, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	return w, func() { st.Close() }
}

// cpuTime is the process's CPU time so far (user and system).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per op since start (cpu-ms/op) beside the
// wall time: on a shared machine the wall time counts the waits for a core.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime(b)-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// BenchmarkDashboard is the dashboard over the last 30 days of a million
// transfers: warm (the closed days from memory, today's read; what every
// request after a process's first costs) and cold (a new Reports each time:
// every day read from the database).
func BenchmarkDashboard(b *testing.B) {
	w, done := reportBench(b)
	defer done()
	ctx := context.Background()
	b.Run("warm", func(b *testing.B) {
		r, err := wallet.NewReports(w)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Dashboard(ctx, reportBenchDays); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		start := cpuTime(b)
		for b.Loop() {
			d, err := r.Dashboard(ctx, reportBenchDays)
			if err != nil || len(d.Days) != reportBenchDays {
				b.Fatal(err)
			}
		}
		reportCPU(b, start)
	})
	b.Run("cold", func(b *testing.B) {
		start := cpuTime(b)
		defer reportCPU(b, start)
		for b.Loop() {
			r, err := wallet.NewReports(w)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.Dashboard(ctx, reportBenchDays); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAgents is a page of the agents report (1,000 agents among
// 100,000 accounts): the default page, and only the low ones.
func BenchmarkAgents(b *testing.B) {
	w, done := reportBench(b)
	defer done()
	ctx := context.Background()
	r, err := wallet.NewReports(w)
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range []struct {
		name string
		q    wallet.AgentQuery
	}{{"page", wallet.AgentQuery{}}, {"low-only", wallet.AgentQuery{LowOnly: true, FloatLow: 1_000_000_00}}} {
		b.Run(q.name, func(b *testing.B) {
			start := cpuTime(b)
			defer reportCPU(b, start)
			for b.Loop() {
				if _, err := r.Agents(ctx, q.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
