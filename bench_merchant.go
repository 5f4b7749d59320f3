package main

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/kibubu/kibubu/deploy/bench"
)

const (
	merchantBenchPhonesDefault   = 200
	merchantBenchClientsDefault  = 32
	merchantBenchDurationDefault = 10 * time.Second
)

// merchantBenchConfig has the load benches' flags: --phones, --clients, --duration.
type merchantBenchConfig = ussdBenchConfig

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

func runBenchMerchant(ctx context.Context, args []string) error {
	cfg := merchantBenchConfig{Phones: merchantBenchPhonesDefault, Clients: merchantBenchClientsDefault, Duration: merchantBenchDurationDefault}
	if err := parseLoadBench(&cfg, "bench merchant", merchantBenchSynopsis, args, "concurrent HTTP `clients`", "how long each phase runs"); err != nil {
		return err
	}
	return benchMerchant(ctx, cfg, os.Stdout, os.Stderr)
}

func benchMerchant(ctx context.Context, cfg merchantBenchConfig, stdout, stderr io.Writer) (err error) {
	t, stop, err := startLoadBench(ctx, "merchant", stderr)
	if err != nil {
		return err
	}
	defer func() {
		if serr := stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	return bench.Merchant(ctx, t, cfg, stdout, stderr)
}
