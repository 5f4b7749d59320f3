package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/kibubu/kibubu/deploy/bench"
	"github.com/kibubu/kibubu/internal/cmdline"
)

// kibubu bench ussd and kibubu bench merchant: package bench's load against
// kibubu serve on a temporary data dir.
const (
	ussdBenchPhonesDefault   = 1_000
	ussdBenchPhonesMax       = 100_000
	ussdBenchClientsDefault  = 64
	ussdBenchClientsMax      = 5_000
	ussdBenchDurationDefault = 10 * time.Second
)

// ussdBenchConfig has the load benches' flags: --phones, --clients, --duration.
type ussdBenchConfig = bench.LoadConfig

const ussdBenchSynopsis = `kibubu bench ussd [flags]

Runs kibubu serve on a temporary data dir (embedded NATS, SQLite), registers
--phones funded customers, and has --clients simulated phones run complete
send-money sessions (dial, 1, recipient, amount, 1, PIN: six hops) over
HTTP in the Africa's Talking protocol for --duration. It first measures the
HTTP floor (GET /healthz from the same clients) as the baseline, and prints
as its last line
  hops_per_s=N sessions_per_s=S http_floor_per_s=F ratio=R p50_ms=X p99_ms=Y
where the latencies are of one hop as the aggregator sees it. It exits
non-zero if a session fails or the ledger check finds a violation.
`

func runBenchUSSD(ctx context.Context, args []string) error {
	cfg := ussdBenchConfig{Phones: ussdBenchPhonesDefault, Clients: ussdBenchClientsDefault, Duration: ussdBenchDurationDefault}
	if err := parseLoadBench(&cfg, "bench ussd", ussdBenchSynopsis, args, "concurrent simulated `phones` dialling", "how long the sessions run"); err != nil {
		return err
	}
	return benchUSSD(ctx, cfg, os.Stdout, os.Stderr)
}

// parse reads the flags of a load bench (bench ussd, bench merchant) into c,
// whose values are the defaults, and checks them.
func parseLoadBench(c *ussdBenchConfig, name, synopsis string, args []string, clientsUsage, durationUsage string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.IntVar(&c.Phones, "phones", c.Phones, "registered, funded `phones`")
	fs.IntVar(&c.Clients, "clients", c.Clients, clientsUsage)
	fs.DurationVar(&c.Duration, "duration", c.Duration, durationUsage)
	if err := cmdline.Parse(fs, args, synopsis, os.Stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cmdline.Usagef(fs, "takes no arguments, got %q", fs.Arg(0))
	}
	switch {
	case c.Phones < 2 || c.Phones > ussdBenchPhonesMax:
		return cmdline.Usagef(fs, "--phones %d: want 2 to %d", c.Phones, ussdBenchPhonesMax)
	case c.Clients < 1 || c.Clients > ussdBenchClientsMax:
		return cmdline.Usagef(fs, "--clients %d: want 1 to %d", c.Clients, ussdBenchClientsMax)
	case c.Duration <= 0 || c.Duration > benchDurationMax:
		return cmdline.Usagef(fs, "--duration %s: want more than 0 and at most %s", c.Duration, benchDurationMax)
	}
	return nil
}

func benchUSSD(ctx context.Context, cfg ussdBenchConfig, stdout, stderr io.Writer) (err error) {
	t, stop, err := startLoadBench(ctx, "ussd", stderr)
	if err != nil {
		return err
	}
	defer func() {
		if serr := stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	return bench.USSD(ctx, t, cfg, stdout, stderr)
}

// startLoadBench runs kibubu serve on a temporary data dir (embedded NATS,
// SQLite, HTTP on a free loopback port) for bench name, logging warnings to
// stderr, and returns it as the bench's target; stop closes it and removes
// the dir.
func startLoadBench(ctx context.Context, name string, stderr io.Writer) (t bench.Target, stop func() error, err error) {
	dir, err := os.MkdirTemp("", "kibubu-bench-"+name+"-")
	if err != nil {
		return t, nil, err
	}
	c := DefaultConfig()
	c.Data, c.HTTP = dir, "127.0.0.1:0"
	// A load bench prompts a few customers as fast as it can: the limits
	// that protect customers from prompt-bombing would only measure
	// themselves.
	c.PromptsPerPhone, c.PromptsPerPair, c.PromptsPerMerchant = -1, -1, -1
	m := &Main{Config: c, Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if err := m.Run(ctx); err != nil {
		os.RemoveAll(dir)
		return t, nil, fmt.Errorf("bench %s: %w", name, err)
	}
	t = bench.Target{Addr: m.HTTPAddr(), Conn: m.Conn(), Currency: m.Config.currency}
	return t, func() error {
		defer os.RemoveAll(dir)
		if err := m.Close(); err != nil {
			return fmt.Errorf("bench %s: %w", name, err)
		}
		return nil
	}, nil
}
