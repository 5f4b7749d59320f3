package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

const (
	merchantBenchTabs        = 100
	merchantBenchBatch       = 100 // charges per batch
	merchantBenchHTTPTimeout = 15 * time.Second
)

// merchantBench is a running bench: the server, its API key and the clients.
type merchantBench struct {
	base   string
	key    string
	hc     *http.Client
	client *natsapi.Client
	seq    atomic.Int64
}

// Merchant (`kibubu bench merchant`) calls the merchant API of the server t
// over HTTP: tab charges, batched charges and payment requests end to end,
// each phase for cfg.Duration, against the HTTP floor measured in the same
// run, and prints as its last line
//
//	charges_per_s=N charges_ratio=R batched_charges_per_s=B batched_ratio=T requests_per_s=Q requests_ratio=S http_floor_per_s=F charge_p99_ms=X request_p99_ms=Y
func Merchant(ctx context.Context, t Target, cfg LoadConfig, stdout, stderr io.Writer) error {
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, "bench merchant: "+format+"\n", args...) }
	b := &merchantBench{base: "http://" + t.Addr, client: t.client(),
		hc: &http.Client{Timeout: merchantBenchHTTPTimeout, Transport: &http.Transport{
			MaxIdleConns: cfg.Clients, MaxIdleConnsPerHost: cfg.Clients, IdleConnTimeout: time.Minute}}}
	defer b.hc.CloseIdleConnections()
	progress("kibubu serve on %s; registering %d phones and a till", t.Addr, cfg.Phones)
	phones, err := SeedPhones(ctx, b.client, t.Currency, cfg.Phones)
	if err != nil {
		return fmt.Errorf("bench merchant: seed: %w", err)
	}
	till, err := b.client.AddMerchant(ctx, "+254799000002", "Bench Shop", false)
	if err != nil {
		return fmt.Errorf("bench merchant: till: %w", err)
	}
	k, err := merchantapi.NewClient(b.client).CreateAPIKey(ctx, merchantapi.APIKeyRequest{Merchant: till.Number, Scopes: merchant.MerchantScopes})
	if err != nil {
		return fmt.Errorf("bench merchant: api key: %w", err)
	}
	b.key = k.Secret

	progress("measuring the HTTP floor (GET /healthz) for %s", ussdBenchFloorTime)
	floor, err := ussdBenchFloor(ctx, b.hc, b.base, cfg.Clients)
	if err != nil {
		return fmt.Errorf("bench merchant: floor: %w", err)
	}

	tabs := make([]string, min(merchantBenchTabs, len(phones)))
	for i := range tabs {
		if tabs[i], err = b.openTab(ctx, phones[i]); err != nil {
			return fmt.Errorf("bench merchant: open tab: %w", err)
		}
	}
	progress("%d clients charging %d tabs for %s", cfg.Clients, len(tabs), cfg.Duration)
	charges := b.run(ctx, cfg, func(ctx context.Context, w, i int) error {
		tab := tabs[(w*7919+i)%len(tabs)]
		var ch struct {
			ID string `json:"id"`
		}
		return b.call(ctx, http.MethodPost, "/v1/tabs/"+tab+"/charges", map[string]any{"amount": "0.0025", "reference": "click"}, true, http.StatusCreated, &ch)
	})
	if charges.err != nil {
		return fmt.Errorf("bench merchant: charges: %w", charges.err)
	}
	progress("%d charges in %s; latency p50 %s p99 %s max %s", charges.n, charges.elapsed.Round(time.Millisecond),
		charges.latency.quantile(0.5), charges.latency.quantile(0.99), charges.latency.max)

	progress("%d clients charging %d tabs in batches of %d for %s", cfg.Clients, len(tabs), merchantBenchBatch, cfg.Duration)
	batches := b.run(ctx, cfg, func(ctx context.Context, w, i int) error {
		tab := tabs[(w*7919+i)%len(tabs)]
		items := make([]map[string]any, merchantBenchBatch)
		for j := range items {
			items[j] = map[string]any{"key": "b" + strconv.FormatInt(b.seq.Add(1), 10), "amount": "0.0025", "reference": "click"}
		}
		var out struct {
			Charges []struct {
				ID string `json:"id"`
			} `json:"charges"`
		}
		if err := b.call(ctx, http.MethodPost, "/v1/tabs/"+tab+"/charges/batch", map[string]any{"charges": items}, true, http.StatusOK, &out); err != nil {
			return err
		}
		for _, ch := range out.Charges {
			if ch.ID == "" {
				return fmt.Errorf("a charge of a batch on %s was refused", tab)
			}
		}
		return nil
	})
	if batches.err != nil {
		return fmt.Errorf("bench merchant: batched charges: %w", batches.err)
	}
	batchRate := float64(batches.n*merchantBenchBatch) / batches.elapsed.Seconds()
	progress("%d charges in %d batches in %s; batch latency p50 %s p99 %s max %s", batches.n*merchantBenchBatch, batches.n,
		batches.elapsed.Round(time.Millisecond), batches.latency.quantile(0.5), batches.latency.quantile(0.99), batches.latency.max)

	progress("%d clients running payment requests end to end for %s", cfg.Clients, cfg.Duration)
	requests := b.run(ctx, cfg, func(ctx context.Context, w, i int) error {
		return b.paymentRequest(ctx, phones[(w*104729+i)%len(phones)])
	})
	if requests.err != nil {
		return fmt.Errorf("bench merchant: payment requests: %w", requests.err)
	}
	progress("%d payment requests paid in %s; latency p50 %s p99 %s max %s", requests.n, requests.elapsed.Round(time.Millisecond),
		requests.latency.quantile(0.5), requests.latency.quantile(0.99), requests.latency.max)

	for _, tab := range tabs {
		if err := b.call(ctx, http.MethodPost, "/v1/tabs/"+tab+"/close", nil, true, http.StatusOK, nil); err != nil {
			return fmt.Errorf("bench merchant: close tab: %w", err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, benchCheckTimeout)
	report, err := b.client.Check(cctx)
	cancel()
	if err != nil {
		return fmt.Errorf("bench merchant: ledger check: %w", err)
	}
	if len(report.Violations) > 0 {
		return fmt.Errorf("bench merchant: ledger check: %s", strings.Join(report.Violations, "; "))
	}
	cr, rr := float64(charges.n)/charges.elapsed.Seconds(), float64(requests.n)/requests.elapsed.Seconds()
	fmt.Fprintf(stdout, "charges_per_s=%d charges_ratio=%.2f batched_charges_per_s=%d batched_ratio=%.2f requests_per_s=%d requests_ratio=%.3f http_floor_per_s=%d charge_p99_ms=%.2f request_p99_ms=%.2f\n",
		int64(math.Round(cr)), cr/floor, int64(math.Round(batchRate)), batchRate/floor, int64(math.Round(rr)), rr/floor, int64(math.Round(floor)),
		milliseconds(charges.latency.quantile(0.99)), milliseconds(requests.latency.quantile(0.99)))
	if charges.n == 0 || batches.n == 0 || requests.n == 0 {
		return errors.New("bench merchant: a phase completed nothing")
	}
	return nil
}

// openTab opens a postpaid tab for phone and approves it with the PIN.
func (b *merchantBench) openTab(ctx context.Context, phone string) (string, error) {
	var tab struct {
		ID string `json:"id"`
	}
	body := map[string]any{"phone": phone, "cap": "1000", "expires_at": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)}
	if err := b.call(ctx, http.MethodPost, "/v1/tabs", body, true, http.StatusCreated, &tab); err != nil {
		return "", err
	}
	if _, err := merchantapi.NewClient(b.client).Approve(ctx, phone, tab.ID, ussdBenchPIN); err != nil {
		return "", fmt.Errorf("approve %s: %w", tab.ID, err)
	}
	return tab.ID, nil
}

// paymentRequest runs one payment request end to end.
func (b *merchantBench) paymentRequest(ctx context.Context, phone string) error {
	var pr struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	n := b.seq.Add(1)
	body := map[string]any{"phone": phone, "amount": "10", "reference": "INV-" + strconv.FormatInt(n, 10)}
	if err := b.call(ctx, http.MethodPost, "/v1/payment-requests", body, true, http.StatusCreated, &pr); err != nil {
		return err
	}
	if _, err := merchantapi.NewClient(b.client).Approve(ctx, phone, pr.ID, ussdBenchPIN); err != nil {
		return fmt.Errorf("approve %s: %w", pr.ID, err)
	}
	for pr.Status != string(merchant.RequestPaid) {
		if pr.Status != string(merchant.RequestPending) && pr.Status != "" {
			return fmt.Errorf("payment request %s is %s", pr.ID, pr.Status)
		}
		if err := b.call(ctx, http.MethodGet, "/v1/payment-requests/"+pr.ID, nil, false, http.StatusOK, &pr); err != nil {
			return err
		}
	}
	return nil
}

// call makes one API call and decodes the answer into out (if not nil).
func (b *merchantBench) call(ctx context.Context, method, path string, body any, idempotent bool, want int, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idempotent {
		req.Header.Set("Idempotency-Key", "bench-"+strconv.FormatInt(b.seq.Add(1), 10))
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// run calls op from cfg.Clients goroutines for cfg.Duration, timing each.
func (b *merchantBench) run(ctx context.Context, cfg LoadConfig, op func(ctx context.Context, w, i int) error) *loadResult {
	return load(ctx, cfg.Clients, cfg.Duration, func(ctx context.Context, w, i int, h *latencyHistogram) (int64, error) {
		t0 := time.Now()
		if err := op(ctx, w, i); err != nil {
			return 0, err
		}
		h.record(time.Since(t0))
		return 1, nil
	})
}
