package rules

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

// BenchmarkEngine is one transfer's cost to the default rules: a check and
// the committed transfer fed back, over 1,000 accounts with 50 transfers
// each in their windows (none fires: the windows are what costs).
func BenchmarkEngine(b *testing.B) {
	cfg, err := Open(DefaultName)
	if err != nil {
		b.Fatal(err)
	}
	for i := range cfg.Rules {
		if r := &cfg.Rules[i]; r.Kind == KindVelocity {
			r.CountMax, r.AmountMax = 1<<30, wallet.AmountMax
		}
	}
	e := New(cfg, NewMetrics())
	const accounts = 1000
	rng := rand.New(rand.NewPCG(1, 2))
	now := t0
	for i := range accounts * 50 {
		now = now.Add(time.Second)
		e.Committed(wallet.RuleFacts{Kind: wallet.TransferSend, Source: int64(i % accounts), Target: rng.Int64N(accounts), Amount: 100_00, Time: now})
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		f := wallet.RuleFacts{Kind: wallet.TransferSend, Source: rng.Int64N(accounts), Target: rng.Int64N(accounts), Amount: 100_00, Time: now}
		if d := e.Check(f); d.Outcome != wallet.RuleAllow {
			b.Fatalf("a rule fired: %+v", d)
		}
		e.Committed(f)
	}
	// The machine is shared: the process's CPU time per transfer says
	// more than the wall clock's.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
