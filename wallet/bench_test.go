package wallet_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kibubu/kibubu/wallet"
)

const (
	// benchCustomers are funded for each benchmark: enough that random
	// pairs rarely collide, few enough to seed in a fraction of a second.
	benchCustomers = 1_000
	// benchFundsMajor is each customer's balance: hundreds of thousands of
	// transfers of at most benchAmountMajorMax (plus fee) stay within it, the
	// daily limit (the fixture's clock never moves) and the maximum balance.
	benchFundsMajor = 250_000
	// benchAmountMajorMin..benchAmountMajorMax is the first send and
	// withdraw band with a fee: 4 postings a send, 6 a withdrawal.
	benchAmountMajorMin = 101
	benchAmountMajorMax = 500
	// benchParallelism × GOMAXPROCS goroutines send at once: as many as the
	// CLI bench's default clients on 2 cores, so group commit fills batches.
	benchParallelism = 128
	benchPIN         = "4826"
)

// benchSeed imports benchCustomers full-tier customers with benchPIN and
// funds each with a deposit from one agent, returning their phones and the
// agent's number.
func benchSeed(b *testing.B, f *fixture) (phones []string, agentNumber string) {
	b.Helper()
	rows := make([]wallet.ImportCustomer, benchCustomers)
	for i := range rows {
		rows[i] = wallet.ImportCustomer{Phone: f.phone(), Name: "Customer " + strconv.Itoa(i), Tier: wallet.TierFull, PIN: benchPIN}
	}
	accounts, err := f.w.Import(f.ctx, rows)
	f.must(err)
	funds := f.ksh(benchFundsMajor)
	agentPhone, agentNumber := f.agent(funds * benchCustomers)
	phones = make([]string, len(accounts))
	var wg sync.WaitGroup
	errs := make(chan error, len(accounts))
	for i, a := range accounts {
		phones[i] = a.Phone
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: fmt.Sprintf("fund-%s", a.Phone), Kind: wallet.TransferDeposit,
				From: agentPhone, To: a.Phone, Amount: funds, PIN: "1357"})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		f.must(err)
	}
	return phones, agentNumber
}

// benchTransfers sends b.N transfers from benchParallelism×GOMAXPROCS
// goroutines: send money between random customers, or with hot every one a
// withdrawal to the same agent.
func benchTransfers(b *testing.B, hot bool, opts ...func(*wallet.Config)) {
	f := newFixture(b, opts...)
	phones, agent := benchSeed(b, f)
	var seq atomic.Int64
	var failed atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(uint64(seq.Add(1)), 7))
		for pb.Next() {
			src := rng.IntN(len(phones))
			req := wallet.TransferRequest{Key: "b" + strconv.FormatInt(seq.Add(1), 10), Kind: wallet.TransferSend, From: phones[src],
				Amount: f.ksh(benchAmountMajorMin) + rng.Int64N(f.ksh(benchAmountMajorMax-benchAmountMajorMin)), PIN: benchPIN}
			if hot {
				req.Kind, req.To = wallet.TransferWithdraw, agent
			} else {
				dst := rng.IntN(len(phones) - 1)
				if dst >= src {
					dst++
				}
				req.To = phones[dst]
			}
			if _, err := f.w.Transfer(f.ctx, req); err != nil {
				failed.Add(1)
				b.Errorf("transfer: %v", err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
	if failed.Load() == 0 {
		f.check()
	}
}

// BenchmarkTransfer is the writer's throughput without NATS: send money
// between random customers, on SQLite (or KIBUBU_TEST_POSTGRES).
func BenchmarkTransfer(b *testing.B) { benchTransfers(b, false) }

// BenchmarkTransferHot credits one agent's float with every transfer.
func BenchmarkTransferHot(b *testing.B) { benchTransfers(b, true) }

// BenchmarkVerifyPIN checks PINs through the writer, as every balance
// request does (the PIN hash itself is unexported).
func BenchmarkVerifyPIN(b *testing.B) {
	f := newFixture(b)
	rows := make([]wallet.ImportCustomer, benchCustomers)
	for i := range rows {
		rows[i] = wallet.ImportCustomer{Phone: f.phone(), Name: "Customer " + strconv.Itoa(i), Tier: wallet.TierFull, PIN: benchPIN}
	}
	accounts, err := f.w.Import(f.ctx, rows)
	f.must(err)
	var seq atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1))
		for pb.Next() {
			i++
			if _, err := f.w.VerifyPIN(f.ctx, accounts[i%len(accounts)].Phone, benchPIN); err != nil {
				b.Errorf("verify PIN: %v", err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
}

func BenchmarkParseAmount(b *testing.B) {
	kes, err := wallet.LookupCurrency("KES")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := kes.ParseAmount("12345.67"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNormalizePhone is the phone parsing every transfer request pays
// twice (sender and recipient) before it reaches the writer.
func BenchmarkNormalizePhone(b *testing.B) {
	for b.Loop() {
		if _, err := wallet.NormalizePhone("0712345678", "KE"); err != nil {
			b.Fatal(err)
		}
	}
}
