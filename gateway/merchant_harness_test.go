package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go/jetstream"

	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	"github.com/kibubu/kibubu/notify/notifyd"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

// The merchant API's full stack for tests, as kibubu serve runs it: an
// embedded NATS (natstest), the wallet on SQLite (PostgreSQL when
// KIBUBU_TEST_POSTGRES is set) with its event relay, its merchant services
// (commerce) served over NATS, the notifier's consumer, webhook service and
// webhook sender, and the gateway's echo with the API mounted, called
// through the real natsapi and notify clients. Every answer a test gets
// through do is checked against the OpenAPI document's schemas.

// customerPIN is every test customer's PIN.
const customerPIN = "2468"

// stack is a running merchant API.
type stack struct {
	t      testing.TB
	e      *echo.Echo
	client *natsapi.Client
	js     jetstream.JetStream
	prefix string
	cur    wallet.Currency
	logged *syncBuffer // the gateway's log
	doc    *openAPIDoc
	// agent deposits the customers' balances.
	agentPhone string
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startStack runs the stack until the test ends. The tests prompt a few
// customers many times, so the prompt limits are off unless cfg (for the
// tests of the limits) sets them.
func startStack(t testing.TB, cfg ...func(*merchant.Config)) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	quiet := slog.New(slog.DiscardHandler)
	cur, _ := wallet.LookupCurrency("KES")
	cc := merchant.Config{Logger: quiet, Sweep: 50 * time.Millisecond, PromptsPerPhone: merchant.PromptLimit{Max: -1},
		PromptsPerPair: merchant.PromptLimit{Max: -1}, PromptsPerMerchant: merchant.PromptLimit{Max: -1}}
	for _, f := range cfg {
		f(&cc)
	}
	// The wallet, its merchant services and relay: wallettest's, stopped
	// after the notifier (whose cleanup is registered below).
	w := wallettest.StartMerchants(t, cc)
	ns, nc, js, st, client := w.NATS, w.Conn, w.JS, w.Store, w.Client
	if _, err := notifyapi.EnsureStream(ctx, js, 1, ns.Prefix); err != nil {
		t.Fatal(err)
	}
	notifier, err := notifyd.Start(ctx, notifyd.Config{Prefix: ns.Prefix, Currency: cur, Location: time.UTC, Migrate: true,
		WebhookTimeout: 2 * time.Second, WebhookBackoffMin: 50 * time.Millisecond, WebhookBackoffMax: 200 * time.Millisecond,
		PollInterval: 50 * time.Millisecond, WebhookAllowPrivate: true, // the tests' receivers are on loopback
	}, notifyd.Deps{DB: st.Gorm(), Conn: nc, Auth: merchantapi.NewClient(client), Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, client: client, js: js, prefix: ns.Prefix, cur: cur, logged: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(s.logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.e = New(log)
	err = MountMerchantAPI(s.e, client, notifyapi.NewWebhookClient(nc, 0, ns.Prefix),
		MerchantConfig{Currency: cur, JS: js, Prefix: ns.Prefix}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		notifier.Close(context.Background())
		cancel()
		js.DeleteKeyValue(context.Background(), IdempotencyBucket+"_"+ns.Prefix)
	})
	rec := httptest.NewRecorder()
	s.e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil))
	if s.doc, err = parseOpenAPIDoc(rec.Body.Bytes()); err != nil {
		t.Fatal(err)
	}
	s.agentPhone = wallettest.NewPhone()
	a, err := client.AddAgent(ctx, s.agentPhone, "Float Agent")
	s.must(err)
	_, err = client.SetPINWithStartKey(ctx, s.agentPhone, a.StartKey, "1357")
	s.must(err)
	_, err = client.IssueFloat(ctx, a.Number, 100_000_000, "BANK-"+a.Number)
	s.must(err)
	return s
}

func (s *stack) must(err error) {
	s.t.Helper()
	if err != nil {
		s.t.Fatal(err)
	}
}

// merchant opens a till and returns its number and an API key with scopes
// (every merchant scope when none is given).
func (s *stack) merchant(name string, scopes ...merchant.Scope) (till, key string) {
	s.t.Helper()
	a, err := s.client.AddMerchant(context.Background(), wallettest.NewPhone(), name, false)
	s.must(err)
	return a.Number, s.key(a.Number, scopes...)
}

// key makes another API key for till.
func (s *stack) key(till string, scopes ...merchant.Scope) string {
	s.t.Helper()
	if len(scopes) == 0 {
		scopes = merchant.MerchantScopes
	}
	k, err := merchantapi.NewClient(s.client).CreateAPIKey(context.Background(), merchantapi.APIKeyRequest{Merchant: till, Scopes: scopes})
	s.must(err)
	return k.Secret
}

// operator makes an operator API key.
func (s *stack) operator() string {
	s.t.Helper()
	k, err := merchantapi.NewClient(s.client).CreateAPIKey(context.Background(), merchantapi.APIKeyRequest{Operator: true, Scopes: []merchant.Scope{merchant.ScopeOperator}})
	s.must(err)
	return k.Secret
}

// customer registers a customer with customerPIN and balance (minor
// units), and returns the phone.
func (s *stack) customer(balance int64) string {
	s.t.Helper()
	ctx := context.Background()
	p := wallettest.NewPhone()
	a, err := s.client.Register(ctx, natsapi.RegisterRequest{Phone: p, Name: "Customer " + p[len(p)-4:], Tier: wallet.TierFull})
	s.must(err)
	_, err = s.client.SetPINWithStartKey(ctx, p, a.StartKey, customerPIN)
	s.must(err)
	if balance > 0 {
		_, err = s.client.Transfer(ctx, wallet.TransferRequest{Key: "seed:" + p, Kind: wallet.TransferDeposit,
			From: s.agentPhone, To: p, Amount: balance, PIN: "1357"})
		s.must(err)
	}
	return p
}

// pay makes phone pay till amount, and returns the transaction's id.
func (s *stack) pay(phone, till string, amount int64) string {
	s.t.Helper()
	r, err := s.client.Transfer(context.Background(), wallet.TransferRequest{Key: "pay:" + phone + ":" + s.cur.FormatAmount(amount) + ":" + till,
		Kind: wallet.TransferTill, From: phone, To: till, Amount: amount, PIN: customerPIN})
	s.must(err)
	return r.Transfer.Ref
}

// apiCall is one request to the API.
type apiCall struct {
	method, target string
	key            string            // the API key; none when empty
	idem           string            // the Idempotency-Key; none when empty
	body           string            // JSON unless contentType says otherwise
	contentType    string            // application/json when empty and there is a body
	header         map[string]string // more headers
}

// reply is an answer.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// errorCode returns the code of an error answer.
func (r reply) code() wallet.Code { return errorCode(r.body) }

// decode decodes the body into v.
func (r reply) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer %d %s: %v", r.status, r.body, err)
	}
}

func (r reply) String() string {
	return http.StatusText(r.status) + " " + strings.TrimSpace(string(r.body))
}

// do sends c and checks the answer against the OpenAPI document.
func (s *stack) do(c apiCall) reply {
	s.t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req := httptest.NewRequest(c.method, c.target, body)
	if c.body != "" {
		ct := c.contentType
		if ct == "" {
			ct = echo.MIMEApplicationJSON
		}
		req.Header.Set(echo.HeaderContentType, ct)
	}
	if c.key != "" {
		req.Header.Set(echo.HeaderAuthorization, "Bearer "+c.key)
	}
	if c.idem != "" {
		req.Header.Set(HeaderIdempotencyKey, c.idem)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.e.ServeHTTP(rec, req)
	r := reply{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	if err := s.doc.check(c.method, req.URL.Path, r.status, r.header.Get(echo.HeaderContentType), r.body); err != nil {
		s.t.Errorf("%s %s = %d %s: not as documented: %v", c.method, c.target, r.status, r.body, err)
	}
	return r
}

// eventually retries f until it returns true, for at most 10 s.
func eventually(t testing.TB, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
