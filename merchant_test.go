package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kibubu/kibubu/gateway/aggregator"
	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// merchantAPI calls the merchant REST API of a running kibubu serve.
type merchantAPI struct {
	t    *testing.T
	base string
	key  string
}

// call makes one request; idem, if not empty, is its Idempotency-Key. It
// returns the status, the body decoded as an object, and the response.
func (a *merchantAPI) call(method, path, body, idem string) (int, map[string]any, *http.Response, []byte) {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
		if strings.HasPrefix(path, "/v1/payouts/bulk") {
			req.Header.Set("Content-Type", "text/csv")
		}
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out, resp, raw
}

// must calls and fails the test unless the answer has status want.
func (a *merchantAPI) must(want int, method, path, body, idem string) map[string]any {
	a.t.Helper()
	code, out, _, raw := a.call(method, path, body, idem)
	if code != want {
		a.t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, code, want, raw)
	}
	return out
}

// hookReceiver is a merchant's webhook endpoint: it verifies each delivery
// and keeps the events, deduplicated by id as the README advises.
type hookReceiver struct {
	t      *testing.T
	mu     sync.Mutex
	secret []byte
	seen   map[string]bool
	types  []string
	bad    []string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := notify.VerifyWebhook(h.secret, r.Header.Get(notify.HeaderSignature), body, 0, time.Now()); err != nil {
		h.bad = append(h.bad, err.Error())
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	if json.Unmarshal(body, &ev) != nil || ev.ID != r.Header.Get(notify.HeaderEventID) {
		h.bad = append(h.bad, "unreadable event "+string(body))
	} else if !h.seen[ev.ID] {
		h.seen[ev.ID] = true
		h.types = append(h.types, ev.Type)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *hookReceiver) received() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.types)
}

// TestMerchantTour runs the README's merchant tour through the real
// command: a till with an API key, a payment request approved on USSD
// "6 Approvals", a tab of sub-cent charges settled at close, transactions,
// a refund, a payout, a bulk payout, and signed webhooks for all of it.
func TestMerchantTour(t *testing.T) {
	embeddedOnly(t)
	cfg := testConfig(t, "")
	cfg.WebhookAllowPrivate = true // the tour's receiver is on loopback
	m := startMain(t, &Main{Config: cfg})
	ctx := context.Background()
	c := natsapi.NewClient(m.Conn(), 0, testOperator)
	jane := "+254722000001"
	a, err := c.Register(ctx, natsapi.RegisterRequest{Phone: jane, Name: "Jane Wanjiru", Tier: wallet.TierFull})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetPINWithStartKey(ctx, jane, a.StartKey, "3907"); err != nil {
		t.Fatal(err)
	}
	agent, err := c.AddAgent(ctx, "+254712000001", "Agent A")
	if err != nil {
		t.Fatal(err)
	}
	c.SetPINWithStartKey(ctx, agent.Phone, agent.StartKey, "2468")
	if _, err := c.IssueFloat(ctx, agent.Number, 100_000_00, "BANK-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Transfer(ctx, wallet.TransferRequest{Key: "tour-deposit", Kind: wallet.TransferDeposit, From: agent.Phone, To: jane, Amount: 1_000_00, PIN: "2468"}); err != nil {
		t.Fatal(err)
	}
	op := func(args ...string) string {
		t.Helper()
		out, err := cli(t, append(args, "--data", cfg.Data)...)
		if err != nil {
			t.Fatalf("kibubu %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	dial := func(input string) string {
		t.Helper()
		var out bytes.Buffer
		if err := aggregator.Dial(ctx, []string{"--data", cfg.Data, "--phone", "0722000001", "*334#"}, DefaultConfig().Data, strings.NewReader(input), &out); err != nil {
			t.Fatalf("dial: %v\n%s", err, out.String())
		}
		// The screen is framed: join its lines to match the text.
		return strings.Join(strings.Fields(strings.NewReplacer("|", " ", "+", " ", "-", " ").Replace(out.String())), " ")
	}

	till := regexp.MustCompile(`^till (\d+) opened`).FindStringSubmatch(op("merchant", "add", "--phone", "0700000009", "--name", "Mama Mboga Shop"))
	if till == nil {
		t.Fatal("merchant add printed no till number")
	}
	keyOut := strings.Split(op("apikey", "create", "--merchant", till[1], "--scopes", "all"), "\n")
	if len(keyOut) < 2 || !strings.HasPrefix(keyOut[1], "kbk_") {
		t.Fatalf("apikey create printed %q", keyOut)
	}
	api := &merchantAPI{t: t, base: "http://" + m.HTTPAddr(), key: keyOut[1]}

	// Webhooks first, so every event below is delivered.
	hooks := &hookReceiver{t: t, seen: map[string]bool{}}
	srv := httptest.NewServer(hooks)
	defer srv.Close()
	ep := api.must(http.StatusOK, http.MethodPut, "/v1/webhooks", `{"url":"`+srv.URL+`/kibubu"}`, "")
	secret, _ := ep["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("PUT /v1/webhooks answered %v, want a secret", ep)
	}
	hooks.mu.Lock()
	hooks.secret = []byte(secret)
	hooks.mu.Unlock()

	// A payment request, replayed and conflicting, then approved on USSD.
	body := `{"phone":"0722000001","amount":"150.00","reference":"ORDER-1042","description":"2 bags of maize flour"}`
	_, pr, _, first := api.call(http.MethodPost, "/v1/payment-requests", body, "order-1042")
	if pr["status"] != "pending" || pr["amount"] != "150.00" || pr["currency"] != "KES" {
		t.Fatalf("payment request: %s", first)
	}
	code, _, resp, again := api.call(http.MethodPost, "/v1/payment-requests", body, "order-1042")
	if code != http.StatusCreated || !bytes.Equal(again, first) || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: HTTP %d %s (replayed %q), want the first answer", code, again, resp.Header.Get("Idempotent-Replayed"))
	}
	if code, out, _, _ := api.call(http.MethodPost, "/v1/payment-requests", strings.Replace(body, "150.00", "151.00", 1), "order-1042"); code != http.StatusUnprocessableEntity {
		t.Errorf("another body under the key: HTTP %d %v, want 422", code, out)
	}
	if code, out, _, _ := api.call(http.MethodPost, "/v1/payment-requests", `{"phone":"0722000001","amount":"1.234","reference":"X"}`, "bad-amount"); code != http.StatusBadRequest {
		t.Errorf("amount 1.234: HTTP %d %v, want 400", code, out)
	}
	waitOutbox(t, cfg.Data, jane, "Mama Mboga Shop asks you to pay KES 150.00 for ORDER-1042")
	if got := dial("6\n1\n1\n3907\n"); !strings.Contains(got, "Paid KES 150.00 to Mama Mboga Shop. Ref") {
		t.Fatalf("dial 6 Approvals: %s", got)
	}
	paid := api.must(http.StatusOK, http.MethodGet, "/v1/payment-requests/"+pr["id"].(string), "", "")
	payment, _ := paid["transaction"].(string)
	if paid["status"] != "paid" || payment == "" {
		t.Fatalf("after approval: %v", paid)
	}

	// A tab: sub-cent charges, settled whole at close, the rest written off.
	tab := api.must(http.StatusCreated, http.MethodPost, "/v1/tabs",
		`{"phone":"0722000001","cap":"50.00","expires_at":"`+time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339)+`","description":"news articles"}`, "tab-jane")
	if got := dial("6\n1\n1\n3907\n"); !strings.Contains(got, "Tab with Mama Mboga Shop approved up to KES 50.00") {
		t.Fatalf("dial 6 Approvals for the tab: %s", got)
	}
	tabPath := "/v1/tabs/" + tab["id"].(string)
	for i, amount := range []string{"0.0025", "0.0025", "0.0025", "1.2345"} {
		ch := api.must(http.StatusCreated, http.MethodPost, tabPath+"/charges", `{"amount":"`+amount+`","reference":"click"}`, "click-"+string(rune('a'+i)))
		if ch["amount"] != amount {
			t.Errorf("charge %s: %v", amount, ch)
		}
	}
	batch := api.must(http.StatusOK, http.MethodPost, tabPath+"/charges/batch",
		`{"charges":[{"key":"click-5","amount":"0.001","reference":"ad-17"},{"key":"click-6","amount":"0.001","reference":"ad-17"}]}`, "clicks-0001")
	if batch["charged"] != "1.244" {
		t.Errorf("batch: %v, want charged 1.244", batch)
	}
	closed := api.must(http.StatusOK, http.MethodPost, tabPath+"/close", "", "close-1")
	if closed["status"] != "closed" || closed["charged"] != "1.244" || closed["settled"] != "1.24" {
		t.Errorf("closed tab: %v, want charged 1.244 settled 1.24", closed)
	}
	if page := api.must(http.StatusOK, http.MethodGet, tabPath+"/charges?limit=10", "", ""); len(page["charges"].([]any)) != 6 {
		t.Errorf("the tab's charges: %v, want 6", page)
	}

	// Transactions, a partial refund (never more than paid), a payout.
	page := api.must(http.StatusOK, http.MethodGet, "/v1/transactions?limit=2", "", "")
	txs, _ := page["transactions"].([]any)
	if len(txs) != 2 || txs[0].(map[string]any)["kind"] != "settle" || txs[1].(map[string]any)["id"] != payment {
		t.Errorf("transactions: %v", page)
	}
	api.must(http.StatusCreated, http.MethodPost, "/v1/transactions/"+payment+"/refund", `{"amount":"50.00"}`, "refund-1")
	if code, out, _, _ := api.call(http.MethodPost, "/v1/transactions/"+payment+"/refund", `{"amount":"100.01"}`, "refund-2"); code != http.StatusUnprocessableEntity && code != http.StatusBadRequest {
		t.Errorf("refund past what was paid: HTTP %d %v", code, out)
	}
	po := api.must(http.StatusCreated, http.MethodPost, "/v1/payouts", `{"phone":"0722000001","amount":"20.00","reference":"CASHBACK"}`, "payout-1")
	if po["status"] != "paid" {
		t.Errorf("payout: %v", po)
	}
	csv := "phone,amount,reference\n0722000001,1.00,ROW-1\nnot-a-phone,1.00,ROW-2\n0722000001,2.50,ROW-3\n"
	bulk := api.must(http.StatusAccepted, http.MethodPost, "/v1/payouts/bulk", csv, "payroll-1")
	for deadline := time.Now().Add(smsWait); bulk["status"] != "done"; {
		if time.Now().After(deadline) {
			t.Fatalf("bulk payout not done: %v", bulk)
		}
		time.Sleep(50 * time.Millisecond)
		bulk = api.must(http.StatusOK, http.MethodGet, "/v1/payouts/bulk/"+bulk["id"].(string), "", "")
	}
	if bulk["paid"] != float64(2) || bulk["failed"] != float64(1) {
		t.Errorf("bulk payout: %v, want 2 paid and 1 failed", bulk)
	}
	if again := api.must(http.StatusAccepted, http.MethodPost, "/v1/payouts/bulk", csv, "payroll-1"); again["id"] != bulk["id"] {
		t.Errorf("the same file under the same key: %v, want batch %v again", again, bulk["id"])
	}

	// Every event reached the endpoint, signed.
	want := []string{"payment_request.created", "payment.received", "payment_request.paid", "tab.created", "tab.approved",
		"tab.settled", "tab.closed", "refund.completed", "payout.paid", "payout_batch.done"}
	for deadline := time.Now().Add(smsWait); ; time.Sleep(50 * time.Millisecond) {
		got := hooks.received()
		missing := slices.DeleteFunc(slices.Clone(want), func(w string) bool { return slices.Contains(got, w) })
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhooks: got %v, missing %v", got, missing)
		}
	}
	if hooks.bad != nil {
		t.Errorf("deliveries that did not verify: %v", hooks.bad)
	}
	deliveries := api.must(http.StatusOK, http.MethodGet, "/v1/webhooks/deliveries?limit=100", "", "")
	if ds, _ := deliveries["deliveries"].([]any); len(ds) < len(want) {
		t.Errorf("deliveries listed: %d, want at least %d", len(ds), len(want))
	}
	if out := op("ledger", "check"); !strings.Contains(out, "ledger ok") {
		t.Errorf("ledger check: %s", out)
	}

	// The key is listed (never its secret), revoked, and refused at once.
	keyID := strings.Fields(keyOut[0])[2]
	if out := op("apikey", "list", "--merchant", till[1]); !strings.Contains(out, keyID) || strings.Contains(out, api.key) {
		t.Errorf("apikey list: %s", out)
	}
	if out := op("apikey", "revoke", keyID, "--reason", "key rotated"); !strings.Contains(out, "revoked") {
		t.Errorf("apikey revoke: %s", out)
	}
	if code, out, _, _ := api.call(http.MethodGet, "/v1/payment-requests/"+pr["id"].(string), "", ""); code != http.StatusUnauthorized {
		t.Errorf("a revoked key: HTTP %d %v, want 401", code, out)
	}
}

// waitOutbox waits until phone's outbox holds an SMS containing text.
func waitOutbox(t *testing.T, data, phone, text string) {
	t.Helper()
	deadline := time.Now().Add(smsWait)
	for {
		out, err := cli(t, "sms", "outbox", "--data", data, "--phone", phone)
		if err == nil && strings.Contains(out, text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SMS %q for %s: %s %v", text, phone, out, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLoopbackURL decides whether merchants' webhooks may be plain http and
// reach this machine's network: only without a public URL, or one on
// loopback (a developer's server).
func TestLoopbackURL(t *testing.T) {
	for _, c := range []struct {
		url  string
		want bool
	}{
		{"", true},
		{"http://127.0.0.1:8080", true},
		{"http://localhost:8080", true},
		{"http://[::1]:8080", true},
		{"https://pay.example.com", false},
		{"https://10.0.0.5", false},
		{"http://127.0.0.1.example.com", false},
		{"::not a url", false},
	} {
		if got := loopbackURL(c.url); got != c.want {
			t.Errorf("loopbackURL(%q) = %v, want %v", c.url, got, c.want)
		}
	}
}
