package main

// `kibubu bench` measures the real wallet end to end on this machine: an
// embedded NATS, the wallet's NATS service, its group-commit writer on
// SQLite (or a fresh PostgreSQL schema) and the event relay publishing to
// JetStream. It seeds funded customers, drives send-money transfers from
// concurrent clients through NATS, then measures the database's own limit
// (the same rows bulk-inserted without the service), checks the ledger, and
// prints as its last line:
//
//	transfers_per_s=N storage_limit_per_s=M ratio=R p50_ms=X p99_ms=Y

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/kibubu/kibubu/deploy/bench"
	"github.com/kibubu/kibubu/internal/cmdline"
	"github.com/kibubu/kibubu/wallet/store"
)

const (
	benchAccountsDefault = 10_000
	// benchAccountsMax bounds --accounts: customers are numbered in the
	// +25471xxxxxxx block, and funding a million takes minutes.
	benchAccountsMax    = 1_000_000
	benchClientsDefault = 256
	// benchClientsMax bounds --clients: each client is a goroutine with its
	// own latency histogram (about 8 KB).
	benchClientsMax      = 10_000
	benchDurationDefault = 10 * time.Second
	// benchDurationMax bounds --duration: a longer run measures the disk,
	// not the wallet, and customers would reach their daily limits.
	benchDurationMax = time.Hour
	// benchConnsDefault is how many NATS connections the clients share,
	// round robin. Measured with the hidden --conns flag on 2 cores, 256
	// clients: 1 and 4 connections tie, 16 is within noise, and one per
	// client is about 10% slower (a reader and a flusher goroutine each).
	// Four keeps one connection's single reader from becoming the limit
	// as the wallet gets faster.
	benchConnsDefault = 4
)

// benchConfig is the bench's command line.
type benchConfig struct {
	DB         string
	Accounts   int
	Clients    int
	Duration   time.Duration
	Hot        bool
	Conns      int    // hidden: NATS connections the clients share
	CPUProfile string // hidden: write a CPU profile of the load phase here

	storageSweep time.Duration // per batch size; tests shorten it
}

func defaultBenchConfig() benchConfig {
	return benchConfig{Accounts: benchAccountsDefault, Clients: benchClientsDefault, Duration: benchDurationDefault,
		Conns: benchConnsDefault}
}

// flags registers the bench's flags; hidden adds the ones for profiling and
// tuning the bench itself, which -h does not list.
func (c *benchConfig) flags(hidden bool) *flag.FlagSet {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&c.DB, "db", c.DB, "a postgres:// `url`: bench PostgreSQL in a new schema, dropped at the end (default SQLite in a temporary directory)")
	fs.IntVar(&c.Accounts, "accounts", c.Accounts, "funded customer `accounts`")
	fs.IntVar(&c.Clients, "clients", c.Clients, "concurrent `clients` sending transfers through NATS")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "how long the clients send")
	fs.BoolVar(&c.Hot, "hot", c.Hot, "every transfer credits one account: withdrawals to a single agent")
	if hidden {
		fs.IntVar(&c.Conns, "conns", c.Conns, "NATS `connections` the clients share")
		fs.StringVar(&c.CPUProfile, "cpuprofile", c.CPUProfile, "write a CPU profile of the load to `file`")
	}
	return fs
}

func (c *benchConfig) validate() error {
	switch {
	case c.DB != "" && !store.IsPostgres(c.DB):
		return errors.New("--db takes a postgres:// URL; without it the bench uses SQLite in a temporary directory")
	case c.Accounts < 2 || c.Accounts > benchAccountsMax:
		return fmt.Errorf("--accounts %d: want 2 to %d", c.Accounts, benchAccountsMax)
	case c.Clients < 1 || c.Clients > benchClientsMax:
		return fmt.Errorf("--clients %d: want 1 to %d", c.Clients, benchClientsMax)
	case c.Duration <= 0 || c.Duration > benchDurationMax:
		return fmt.Errorf("--duration %s: want more than 0 and at most %s", c.Duration, benchDurationMax)
	case c.Conns < 1:
		return fmt.Errorf("--conns %d: want at least 1", c.Conns)
	}
	c.Conns = min(c.Conns, c.Clients)
	return nil
}

const benchSynopsis = `kibubu bench [flags]

Runs a wallet on a temporary data dir (embedded NATS; SQLite, or PostgreSQL
with --db), seeds --accounts funded customers, sends transfers from --clients
concurrent clients through NATS for --duration, measures the database's raw
insert limit for the same rows, checks the ledger, and prints as its last line
  transfers_per_s=N storage_limit_per_s=M ratio=R p50_ms=X p99_ms=Y
It exits non-zero if a ledger invariant is broken or a transfer failed
unexpectedly.
`

// runBench runs `kibubu bench`.
func runBench(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "ussd" {
		return runBenchUSSD(ctx, args[1:])
	}
	if len(args) > 0 && args[0] == "merchant" {
		return runBenchMerchant(ctx, args[1:])
	}
	cfg := defaultBenchConfig()
	fs := cfg.flags(true)
	if err := cmdline.Parse(fs, args, benchSynopsis, io.Discard); err != nil {
		if errors.Is(err, flag.ErrHelp) { // list only the public flags
			shown := defaultBenchConfig()
			return cmdline.Parse(shown.flags(false), []string{"-h"}, benchSynopsis, os.Stdout)
		}
		return err
	}
	if fs.NArg() > 0 {
		return cmdline.Usagef(fs, "takes no arguments, got %q", fs.Arg(0))
	}
	if err := cmdline.ApplyEnv(fs, os.LookupEnv); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return &cmdline.UsageError{Msg: "bench: " + err.Error() + " (see kibubu bench -h)"}
	}
	return benchRun(ctx, cfg, os.Stdout, os.Stderr)
}

// benchRun runs the bench and prints the result line on stdout, progress on stderr.
func benchRun(ctx context.Context, cfg benchConfig, stdout, stderr io.Writer) error {
	return bench.Transfers(ctx, bench.TransfersConfig{DB: cfg.DB, Accounts: cfg.Accounts, Clients: cfg.Clients, Duration: cfg.Duration,
		Hot: cfg.Hot, Conns: cfg.Conns, CPUProfile: cfg.CPUProfile, StorageSweep: cfg.storageSweep}, stdout, stderr)
}
