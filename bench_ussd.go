package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// kibubu bench ussd: complete send-money sessions over HTTP, as an
// aggregator sends them, against kibubu serve on a temporary data dir.
const (
	ussdBenchPhonesDefault   = 1_000
	ussdBenchPhonesMax       = 100_000
	ussdBenchClientsDefault  = 64
	ussdBenchClientsMax      = 5_000
	ussdBenchDurationDefault = 10 * time.Second
	// ussdBenchFloorTime is how long the HTTP floor (GET /healthz, no
	// session or wallet work) is measured, the baseline of the ratio.
	ussdBenchFloorTime = 2 * time.Second
	// ussdBenchSeedWorkers bounds the concurrent seeding calls.
	ussdBenchSeedWorkers = 64
	// ussdBenchHopTimeout is an aggregator's patience with one hop.
	ussdBenchHopTimeout = 15 * time.Second
	// ussdBenchFundingMajor funds each phone, enough for a run's sends.
	ussdBenchFundingMajor = 100_000
	ussdBenchPIN          = "4826"
)

type ussdBenchConfig struct {
	Phones   int
	Clients  int
	Duration time.Duration
}

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
	if err := cfg.parse("bench ussd", ussdBenchSynopsis, args, "concurrent simulated `phones` dialling", "how long the sessions run"); err != nil {
		return err
	}
	return benchUSSD(ctx, cfg, os.Stdout, os.Stderr)
}

// parse reads the flags of a load bench (bench ussd, bench merchant) into c,
// whose values are the defaults, and checks them.
func (c *ussdBenchConfig) parse(name, synopsis string, args []string, clientsUsage, durationUsage string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.IntVar(&c.Phones, "phones", c.Phones, "registered, funded `phones`")
	fs.IntVar(&c.Clients, "clients", c.Clients, clientsUsage)
	fs.DurationVar(&c.Duration, "duration", c.Duration, durationUsage)
	if err := parseFlags(fs, args, synopsis, os.Stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef(fs, "takes no arguments, got %q", fs.Arg(0))
	}
	switch {
	case c.Phones < 2 || c.Phones > ussdBenchPhonesMax:
		return usagef(fs, "--phones %d: want 2 to %d", c.Phones, ussdBenchPhonesMax)
	case c.Clients < 1 || c.Clients > ussdBenchClientsMax:
		return usagef(fs, "--clients %d: want 1 to %d", c.Clients, ussdBenchClientsMax)
	case c.Duration <= 0 || c.Duration > benchDurationMax:
		return usagef(fs, "--duration %s: want more than 0 and at most %s", c.Duration, benchDurationMax)
	}
	return nil
}

func benchUSSD(ctx context.Context, cfg ussdBenchConfig, stdout, stderr io.Writer) (err error) {
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, "bench ussd: "+format+"\n", args...) }
	m, stop, err := startLoadBench(ctx, "ussd", stderr)
	if err != nil {
		return err
	}
	defer func() {
		if serr := stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	client := natsapi.NewClient(m.Conn(), benchAdminTimeout, benchOperator)
	progress("kibubu serve on %s; registering %d phones", m.HTTPAddr(), cfg.Phones)
	phones, err := seedUSSDPhones(ctx, client, m.Config.currency, cfg.Phones)
	if err != nil {
		return fmt.Errorf("bench ussd: seed: %w", err)
	}

	base := "http://" + m.HTTPAddr()
	hc := &http.Client{Timeout: ussdBenchHopTimeout, Transport: &http.Transport{
		MaxIdleConns: cfg.Clients, MaxIdleConnsPerHost: cfg.Clients, IdleConnTimeout: time.Minute}}
	defer hc.CloseIdleConnections()

	progress("measuring the HTTP floor (GET /healthz) for %s", ussdBenchFloorTime)
	floor, err := ussdBenchFloor(ctx, hc, base, cfg.Clients)
	if err != nil {
		return fmt.Errorf("bench ussd: floor: %w", err)
	}
	progress("%d clients running send-money sessions for %s", cfg.Clients, cfg.Duration)
	res := ussdBenchLoad(ctx, hc, base, phones, cfg)
	if res.err != nil {
		return fmt.Errorf("bench ussd: %w", res.err)
	}
	progress("%d sessions, %d hops in %s; hop latency p50 %s p90 %s p99 %s max %s", res.sessions, res.hops,
		res.elapsed.Round(time.Millisecond), res.latency.quantile(0.5), res.latency.quantile(0.9),
		res.latency.quantile(0.99), res.latency.max)

	cctx, cancel := context.WithTimeout(ctx, benchCheckTimeout)
	report, err := client.Check(cctx)
	cancel()
	if err != nil {
		return fmt.Errorf("bench ussd: ledger check: %w", err)
	}
	if len(report.Violations) > 0 {
		return fmt.Errorf("bench ussd: ledger check: %s", strings.Join(report.Violations, "; "))
	}
	rate := float64(res.hops) / res.elapsed.Seconds()
	fmt.Fprintf(stdout, "hops_per_s=%d sessions_per_s=%d http_floor_per_s=%d ratio=%.2f p50_ms=%.2f p99_ms=%.2f\n",
		int64(math.Round(rate)), int64(math.Round(float64(res.sessions)/res.elapsed.Seconds())), int64(math.Round(floor)),
		rate/floor, milliseconds(res.latency.quantile(0.50)), milliseconds(res.latency.quantile(0.99)))
	if res.sessions == 0 {
		return errors.New("bench ussd: no session completed")
	}
	return nil
}

// startLoadBench runs kibubu serve on a temporary data dir (embedded NATS,
// SQLite, HTTP on a free loopback port) for bench name, logging warnings to
// stderr; stop closes it and removes the dir.
func startLoadBench(ctx context.Context, name string, stderr io.Writer) (m *Main, stop func() error, err error) {
	dir, err := os.MkdirTemp("", "kibubu-bench-"+name+"-")
	if err != nil {
		return nil, nil, err
	}
	c := DefaultConfig()
	c.Data, c.HTTP = dir, "127.0.0.1:0"
	// A load bench prompts a few customers as fast as it can: the limits
	// that protect customers from prompt-bombing would only measure
	// themselves.
	c.PromptsPerPhone, c.PromptsPerPair, c.PromptsPerMerchant = -1, -1, -1
	m = &Main{Config: c, Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if err := m.Run(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("bench %s: %w", name, err)
	}
	return m, func() error {
		defer os.RemoveAll(dir)
		if err := m.Close(); err != nil {
			return fmt.Errorf("bench %s: %w", name, err)
		}
		return nil
	}, nil
}

// seedUSSDPhones registers n customers with PINs and funds each from one agent.
func seedUSSDPhones(ctx context.Context, c *natsapi.Client, cur wallet.Currency, n int) ([]string, error) {
	agent, err := c.AddAgent(ctx, "+254799000001", "Bench Agent")
	if err != nil {
		return nil, err
	}
	if _, err := c.SetPINWithStartKey(ctx, agent.Phone, agent.StartKey, benchAgentPIN); err != nil {
		return nil, err
	}
	fund := benchMinor(cur, ussdBenchFundingMajor)
	if _, err := c.IssueFloat(ctx, agent.Number, fund*int64(n), "BENCH-USSD"); err != nil {
		return nil, err
	}
	phones := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, ussdBenchSeedWorkers)
	for range ussdBenchSeedWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				p := benchCustomerPhone(i)
				phones[i] = p
				a, err := c.Register(ctx, natsapi.RegisterRequest{Phone: p, Name: "Bench Customer " + strconv.Itoa(i), Tier: wallet.TierFull})
				if err == nil {
					_, err = c.SetPINWithStartKey(ctx, p, a.StartKey, ussdBenchPIN)
				}
				if err == nil {
					_, err = c.Transfer(ctx, wallet.TransferRequest{Key: "bench-ussd-fund:" + p, Kind: wallet.TransferDeposit,
						From: agent.Phone, To: p, Amount: fund, PIN: benchAgentPIN})
				}
				if err != nil {
					errs <- fmt.Errorf("%s: %w", p, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return phones, <-errs
}

// ussdBenchFloor is the requests per second the clients get from GET
// /healthz: the HTTP round trip with no session or wallet behind it.
func ussdBenchFloor(ctx context.Context, hc *http.Client, base string, clients int) (float64, error) {
	var n atomic.Int64
	var firstErr atomic.Value
	ctx, cancel := context.WithTimeout(ctx, ussdBenchFloorTime)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
				resp, err := hc.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						firstErr.CompareAndSwap(nil, err)
					}
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}

type ussdBenchResult struct {
	sessions, hops int64
	elapsed        time.Duration
	latency        latencyHistogram
	err            error
}

// ussdBenchLoad runs send-money sessions from cfg.Clients goroutines.
func ussdBenchLoad(ctx context.Context, hc *http.Client, base string, phones []string, cfg ussdBenchConfig) *ussdBenchResult {
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	res := &ussdBenchResult{}
	var mu sync.Mutex
	var sessionN atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h latencyHistogram
			var sessions, hops int64
			var err error
			rng := mrand.New(mrand.NewPCG(uint64(w), 0x55d))
			for ctx.Err() == nil && err == nil {
				from, to := rng.IntN(len(phones)), rng.IntN(len(phones)-1)
				if to >= from {
					to++
				}
				id := fmt.Sprintf("bench-%d", sessionN.Add(1))
				var n int64
				n, err = ussdSendSession(ctx, hc, base, id, phones[from], phones[to], 10+rng.IntN(90), h.record)
				hops += n
				if err == nil && ctx.Err() == nil {
					sessions++
				}
			}
			if ctx.Err() != nil && err != nil && errors.Is(err, context.DeadlineExceeded) {
				err = nil
			}
			mu.Lock()
			res.latency.merge(&h)
			res.sessions += sessions
			res.hops += hops
			if res.err == nil {
				res.err = err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// ussdSendSession runs one send-money session (six hops) from one phone to
// another, calling record with each hop's latency, and returns the hops
// answered. It stops early, without error, when ctx ends.
func ussdSendSession(ctx context.Context, hc *http.Client, base, id, from, to string, major int, record func(time.Duration)) (int64, error) {
	inputs := []string{"1", "0" + to[4:], strconv.Itoa(major), "1", ussdBenchPIN}
	var hops int64
	var screen string
	for i := 0; i <= len(inputs); i++ {
		if ctx.Err() != nil {
			return hops, nil
		}
		form := url.Values{"sessionId": {id}, "serviceCode": {"*334#"}, "phoneNumber": {from},
			"networkCode": {"63902"}, "text": {strings.Join(inputs[:i], "*")}}
		t0 := time.Now()
		var err error
		if screen, err = ussdBenchHop(hc, base, form); err != nil {
			return hops, err
		}
		record(time.Since(t0))
		hops++
	}
	if !strings.HasPrefix(screen, "END ") || !strings.Contains(screen, "confirmed") {
		return hops, fmt.Errorf("session %s ended %q", id, screen)
	}
	return hops, nil
}

func ussdBenchHop(hc *http.Client, base string, form url.Values) (string, error) {
	resp, err := hc.PostForm(base+"/ussd/africastalking", form)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("hop: HTTP %d: %s", resp.StatusCode, body)
	}
	return string(body), nil
}
