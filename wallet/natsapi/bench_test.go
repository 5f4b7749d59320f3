package natsapi_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

const (
	// benchCustomers are funded for the benchmark: enough that random pairs
	// rarely collide, few enough to seed in a fraction of a second.
	benchCustomers = 1_000
	// benchFundsMinor is each customer's balance (250,000.00): hundreds of
	// thousands of transfers stay within it and the daily limit.
	benchFundsMinor = 250_000_00
	// benchAmountMinorMin..benchAmountMinorMax (101.00 to 500.00) is the
	// first send band with a fee, so each transfer posts 4 legs.
	benchAmountMinorMin = 101_00
	benchAmountMinorMax = 500_00
	// benchParallelism × GOMAXPROCS clients send at once: as many as the
	// CLI bench's default on 2 cores, so group commit fills batches.
	benchParallelism = 128
	// benchConns NATS connections carry the clients, round robin, as the
	// CLI bench does.
	benchConns = 4
	benchPIN   = "4826"
)

// BenchmarkTransferNATS sends money between random customers through the
// NATS API on an embedded NATS (or KIBUBU_TEST_NATS), with the event relay
// publishing, as `kibubu serve` runs.
func BenchmarkTransferNATS(b *testing.B) {
	e := start(b)
	opt := natsapi.WithPrefix(e.prefix)
	ns := e.ns
	phones := benchSeedNATS(b, e.w)
	clients := make([]*natsapi.Client, benchConns)
	for i := range clients {
		clients[i] = natsapi.NewClient(ns.Connect(), 0, opt, natsapi.AsOperator(natsapi.Operator{Actor: "bench"}))
	}
	var seq atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		n := seq.Add(1)
		c := clients[n%benchConns]
		rng := rand.New(rand.NewPCG(uint64(n), 11))
		for pb.Next() {
			src, dst := rng.IntN(len(phones)), rng.IntN(len(phones)-1)
			if dst >= src {
				dst++
			}
			_, err := c.Transfer(context.Background(), wallet.TransferRequest{Key: "b" + strconv.FormatInt(seq.Add(1), 10),
				Kind: wallet.TransferSend, From: phones[src], To: phones[dst],
				Amount: benchAmountMinorMin + rng.Int64N(benchAmountMinorMax-benchAmountMinorMin+1), PIN: benchPIN})
			if err != nil {
				b.Errorf("transfer: %v", err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
}

// benchSeedNATS imports funded customers straight through the wallet (the
// API is what is measured, not the seeding) and returns their phones.
func benchSeedNATS(b *testing.B, w *wallet.Service) []string {
	b.Helper()
	ctx := context.Background()
	rows := make([]wallet.ImportCustomer, benchCustomers)
	for i := range rows {
		rows[i] = wallet.ImportCustomer{Phone: "+25471" + strconv.Itoa(1_000_000+i), Name: "Customer " + strconv.Itoa(i), Tier: wallet.TierFull, PIN: benchPIN}
	}
	accounts, err := w.Import(ctx, rows)
	if err != nil {
		b.Fatal(err)
	}
	const agentPhone = "+254720000001"
	agent, err := w.AddAgent(ctx, agentPhone, "Bench Agent")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.SetPINWithStartKey(ctx, agentPhone, agent.StartKey, "1357"); err != nil {
		b.Fatal(err)
	}
	if _, err := w.Transfer(ctx, wallet.TransferRequest{Key: "float", Kind: wallet.TransferFloat, To: agent.Number,
		Amount: benchFundsMinor * benchCustomers, Reference: "BENCH"}); err != nil {
		b.Fatal(err)
	}
	phones := make([]string, len(accounts))
	var wg sync.WaitGroup
	for i, a := range accounts {
		phones[i] = a.Phone
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.Transfer(ctx, wallet.TransferRequest{Key: "fund-" + a.Phone, Kind: wallet.TransferDeposit,
				From: agentPhone, To: a.Phone, Amount: benchFundsMinor, PIN: "1357"}); err != nil {
				b.Errorf("fund %s: %v", a.Phone, err)
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return phones
}
