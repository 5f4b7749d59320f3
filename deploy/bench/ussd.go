package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kibubu/kibubu/gateway/aggregator"
	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

const (
	// ussdBenchFloorTime is how long the HTTP floor (GET /healthz, no
	// session or wallet work) is measured, the baseline of the ratio.
	ussdBenchFloorTime = 2 * time.Second
	// ussdBenchSeedWorkers bounds the concurrent seeding calls.
	ussdBenchSeedWorkers = 64
	// HopTimeout is an aggregator's patience with one hop.
	HopTimeout = 15 * time.Second
	// ussdBenchFundingMajor funds each phone, enough for a run's sends.
	ussdBenchFundingMajor = 100_000
	ussdBenchPIN          = "4826"
)

// USSD (`kibubu bench ussd`) runs complete send-money sessions over HTTP,
// as an aggregator sends them, against the server t, and prints as its
// last line
//
//	hops_per_s=N sessions_per_s=S http_floor_per_s=F ratio=R p50_ms=X p99_ms=Y
func USSD(ctx context.Context, t Target, cfg LoadConfig, stdout, stderr io.Writer) error {
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, "bench ussd: "+format+"\n", args...) }
	client := t.client()
	progress("kibubu serve on %s; registering %d phones", t.Addr, cfg.Phones)
	phones, err := SeedPhones(ctx, client, t.Currency, cfg.Phones)
	if err != nil {
		return fmt.Errorf("bench ussd: seed: %w", err)
	}

	base := "http://" + t.Addr
	hc := &http.Client{Timeout: HopTimeout, Transport: &http.Transport{
		MaxIdleConns: cfg.Clients, MaxIdleConnsPerHost: cfg.Clients, IdleConnTimeout: time.Minute}}
	defer hc.CloseIdleConnections()

	progress("measuring the HTTP floor (GET /healthz) for %s", ussdBenchFloorTime)
	floor, err := ussdBenchFloor(ctx, hc, base, cfg.Clients)
	if err != nil {
		return fmt.Errorf("bench ussd: floor: %w", err)
	}
	progress("%d clients running send-money sessions for %s", cfg.Clients, cfg.Duration)
	res, sessions := ussdLoad(ctx, hc, base, phones, cfg)
	if res.err != nil {
		return fmt.Errorf("bench ussd: %w", res.err)
	}
	progress("%d sessions, %d hops in %s; hop latency p50 %s p90 %s p99 %s max %s", sessions, res.n,
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
	rate := float64(res.n) / res.elapsed.Seconds()
	fmt.Fprintf(stdout, "hops_per_s=%d sessions_per_s=%d http_floor_per_s=%d ratio=%.2f p50_ms=%.2f p99_ms=%.2f\n",
		int64(math.Round(rate)), int64(math.Round(float64(sessions)/res.elapsed.Seconds())), int64(math.Round(floor)),
		rate/floor, milliseconds(res.latency.quantile(0.50)), milliseconds(res.latency.quantile(0.99)))
	if sessions == 0 {
		return errors.New("bench ussd: no session completed")
	}
	return nil
}

// SeedPhones registers n customers with PINs and funds each from one agent.
func SeedPhones(ctx context.Context, c *natsapi.Client, cur wallet.Currency, n int) ([]string, error) {
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

// ussdLoad runs send-money sessions from cfg.Clients goroutines for
// cfg.Duration, counting hops; sessions counts those completed in time.
func ussdLoad(ctx context.Context, hc *http.Client, base string, phones []string, cfg LoadConfig) (res *loadResult, sessions int64) {
	var completed, sessionN atomic.Int64
	rngs := make([]*mrand.Rand, cfg.Clients)
	for w := range rngs {
		rngs[w] = mrand.New(mrand.NewPCG(uint64(w), 0x55d))
	}
	// A session under way when the time is up stops at its next hop.
	dctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	res = load(ctx, cfg.Clients, cfg.Duration, func(_ context.Context, w, _ int, h *latencyHistogram) (int64, error) {
		rng := rngs[w]
		from, to := rng.IntN(len(phones)), rng.IntN(len(phones)-1)
		if to >= from {
			to++
		}
		id := fmt.Sprintf("bench-%d", sessionN.Add(1))
		hops, err := USSDSession(dctx, hc, base, id, phones[from], phones[to], 10+rng.IntN(90), h.record)
		if err == nil && dctx.Err() == nil {
			completed.Add(1)
		}
		return hops, err
	})
	return res, completed.Load()
}

// USSDSession runs one send-money session (six hops) from one phone to
// another, calling record with each hop's latency, and returns the hops
// answered. It stops early, without error, when ctx ends.
func USSDSession(ctx context.Context, hc *http.Client, base, id, from, to string, major int, record func(time.Duration)) (int64, error) {
	inputs := []string{"1", "0" + to[4:], strconv.Itoa(major), "1", ussdBenchPIN}
	client := &aggregator.Client{Base: base, HTTP: hc}
	var hops int64
	var screen sessions.Screen
	for i := 0; i <= len(inputs); i++ {
		if ctx.Err() != nil {
			return hops, nil
		}
		t0 := time.Now()
		var err error
		// Not ctx: a hop under way when the time is up finishes, as the
		// aggregator's would.
		hop := sessions.Hop{Aggregator: "africastalking", SessionID: id, ServiceCode: "*334#", Phone: from, History: strings.Join(inputs[:i], "*")}
		if screen, err = client.Hop(context.Background(), hop); err != nil {
			return hops, fmt.Errorf("hop: %w", err)
		}
		record(time.Since(t0))
		hops++
	}
	if !screen.End || !strings.Contains(screen.Text, "confirmed") {
		return hops, fmt.Errorf("session %s ended on %q (end %v)", id, screen.Text, screen.End)
	}
	return hops, nil
}
