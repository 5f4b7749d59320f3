package bench

// The commands kibubu bench, bench ussd and bench merchant: their flags,
// defaults and bounds. The root command gives Command a way to start
// kibubu serve (Serve) for the HTTP loads.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

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

// DefaultTransfersConfig is kibubu bench's defaults.
func DefaultTransfersConfig() TransfersConfig {
	return TransfersConfig{Accounts: benchAccountsDefault, Clients: benchClientsDefault, Duration: benchDurationDefault,
		Conns: benchConnsDefault}
}

// flags registers the bench's flags; hidden adds the ones for profiling and
// tuning the bench itself, which -h does not list.
func (c *TransfersConfig) flags(hidden bool) *flag.FlagSet {
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

// Validate checks the flags, naming each, and caps Conns at Clients.
func (c *TransfersConfig) Validate() error {
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

// Serve starts kibubu serve on a temporary data dir (embedded NATS,
// SQLite, HTTP on a free loopback port) for the HTTP load name, logging
// its warnings to stderr; stop closes it and removes the dir.
type Serve func(ctx context.Context, name string, stderr io.Writer) (t Target, stop func() error, err error)

// Command runs `kibubu bench [ussd|merchant] [flags]`: the result line on
// stdout, progress on stderr; serve starts the server of the HTTP loads.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer, serve Serve) error {
	if len(args) > 0 && args[0] == "ussd" {
		cfg := LoadConfig{Phones: ussdBenchPhonesDefault, Clients: ussdBenchClientsDefault, Duration: ussdBenchDurationDefault}
		if err := parseLoad(&cfg, "bench ussd", ussdBenchSynopsis, args[1:], stdout, "concurrent simulated `phones` dialling", "how long the sessions run"); err != nil {
			return err
		}
		return Served(ctx, "ussd", USSD, cfg, serve, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "merchant" {
		cfg := LoadConfig{Phones: merchantBenchPhonesDefault, Clients: merchantBenchClientsDefault, Duration: merchantBenchDurationDefault}
		if err := parseLoad(&cfg, "bench merchant", merchantBenchSynopsis, args[1:], stdout, "concurrent HTTP `clients`", "how long each phase runs"); err != nil {
			return err
		}
		return Served(ctx, "merchant", Merchant, cfg, serve, stdout, stderr)
	}
	cfg := DefaultTransfersConfig()
	fs := cfg.flags(true)
	if err := cmdline.Parse(fs, args, benchSynopsis, io.Discard); err != nil {
		if errors.Is(err, flag.ErrHelp) { // list only the public flags
			shown := DefaultTransfersConfig()
			return cmdline.Parse(shown.flags(false), []string{"-h"}, benchSynopsis, stdout)
		}
		return err
	}
	if fs.NArg() > 0 {
		return cmdline.Usagef(fs, "takes no arguments, got %q", fs.Arg(0))
	}
	if err := cmdline.ApplyEnv(fs, os.LookupEnv); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return &cmdline.UsageError{Msg: "bench: " + err.Error() + " (see kibubu bench -h)"}
	}
	return Transfers(ctx, cfg, stdout, stderr)
}

const (
	ussdBenchPhonesDefault   = 1_000
	ussdBenchPhonesMax       = 100_000
	ussdBenchClientsDefault  = 64
	ussdBenchClientsMax      = 5_000
	ussdBenchDurationDefault = 10 * time.Second
)

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

const (
	merchantBenchPhonesDefault   = 200
	merchantBenchClientsDefault  = 32
	merchantBenchDurationDefault = 10 * time.Second
)

const merchantBenchSynopsis = `kibubu bench merchant [flags]

Runs kibubu serve on a temporary data dir (embedded NATS, SQLite), opens a
till with an API key and registers --phones funded customers. Then, with
--clients concurrent HTTP clients, each phase for --duration:
  floor     GET /healthz, the HTTP round trip with nothing behind it (the baseline);
  charges   POST /v1/tabs/{id}/charges of 0.0025 each, with an Idempotency-Key,
            into 100 tabs the customers approved with their PINs;
  batched   the same charges, 100 to a POST /v1/tabs/{id}/charges/batch;
  requests  payment requests end to end: POST /v1/payment-requests, the
            customer's approval with the PIN (the wallet call USSD "6 Approvals"
            makes), then GET /v1/payment-requests/{id} until it is paid.
It closes the tabs, checks the ledger, and prints as its last line
  charges_per_s=N charges_ratio=R batched_charges_per_s=B batched_ratio=T requests_per_s=Q requests_ratio=S http_floor_per_s=F charge_p99_ms=X request_p99_ms=Y
where the ratios are against the floor measured in the same run.
`

// parseLoad reads the flags of a load bench (bench ussd, bench merchant)
// into c, whose values are the defaults, and checks them.
func parseLoad(c *LoadConfig, name, synopsis string, args []string, stdout io.Writer, clientsUsage, durationUsage string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.IntVar(&c.Phones, "phones", c.Phones, "registered, funded `phones`")
	fs.IntVar(&c.Clients, "clients", c.Clients, clientsUsage)
	fs.DurationVar(&c.Duration, "duration", c.Duration, durationUsage)
	if err := cmdline.Parse(fs, args, synopsis, stdout); err != nil {
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

// Served starts the server with serve, runs the HTTP load (USSD or
// Merchant) against it and stops it.
func Served(ctx context.Context, name string, load func(context.Context, Target, LoadConfig, io.Writer, io.Writer) error, cfg LoadConfig, serve Serve, stdout, stderr io.Writer) (err error) {
	t, stop, err := serve(ctx, name, stderr)
	if err != nil {
		return err
	}
	defer func() {
		if serr := stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	return load(ctx, t, cfg, stdout, stderr)
}
