package store_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/notify/natsapi"
	"github.com/kibubu/kibubu/notify/store"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsapi/natstest"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// keys is an natsapi.Authenticator over fixed API keys, standing for the wallet's
// (whose own tests cover the keys themselves).
type keys map[string]merchant.Principal

func (k keys) Authenticate(ctx context.Context, key string) (*merchant.Principal, error) {
	if key == "wallet-down" {
		return nil, &wallet.Error{Code: wallet.CodeUnavailable, Message: "the wallet did not answer"}
	}
	p, ok := k[key]
	if !ok {
		return nil, wallet.Errorf(wallet.CodeUnauthenticated, "unknown API key")
	}
	return &p, nil
}

// serviceFixture serves the webhook service on a test NATS over a fresh
// store, with a client.
type serviceFixture struct {
	st     *store.Store
	nc     *nats.Conn
	client *natsapi.WebhookClient
	prefix string
	svc    micro.Service
}

func newServiceFixture(t *testing.T, opts ...notify.WebhookOption) *serviceFixture {
	t.Helper()
	ns := natstest.Start(t)
	nc := ns.Connect()
	st := store.SMSStore(t, store.SMSDB(t))
	auth := keys{
		"kbk_shop":     {KeyID: "k1", Merchant: "445566", Scopes: []merchant.Scope{merchant.ScopeWebhooks, merchant.ScopePayments}},
		"kbk_kplc":     {KeyID: "k2", Merchant: "888880", Scopes: []merchant.Scope{merchant.ScopeWebhooks}},
		"kbk_payments": {KeyID: "k3", Merchant: "445566", Scopes: []merchant.Scope{merchant.ScopePayments}},
		"kbk_operator": {KeyID: "k4", Operator: true, Scopes: []merchant.Scope{merchant.ScopeOperator}},
	}
	svc, err := natsapi.ServeWebhooks(nc, st, auth, ns.Prefix, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop() })
	return &serviceFixture{st: st, nc: nc, client: natsapi.NewWebhookClient(ns.Connect(), 5*time.Second, ns.Prefix), prefix: ns.Prefix, svc: svc}
}

// TestWebhookServiceStats: the webhooks service's STATS count its refusals
// and time its answers (natsrpc.AnswerStats, each endpoint's data), though
// its handlers answer from a goroutine of their own.
func TestWebhookServiceStats(t *testing.T) {
	f := newServiceFixture(t)
	ctx := context.Background()
	if _, err := f.client.Webhook(ctx, "kbk_shop"); wallet.ErrorCode(err) != wallet.CodeNotFound {
		t.Fatalf("no URL yet: %v, want not_found", err)
	}
	if _, err := f.client.Webhook(ctx, "kbk_nobody"); wallet.ErrorCode(err) != wallet.CodeUnauthenticated {
		t.Fatalf("an unknown key: %v, want unauthenticated", err)
	}
	for _, e := range f.svc.Stats().Endpoints {
		if e.Subject != natsrpc.Subject(f.prefix, natsapi.SubjectWebhookGet) {
			continue
		}
		var got natsrpc.AnswerStats
		if err := json.Unmarshal(e.Data, &got); err != nil {
			t.Fatal(err)
		}
		if got.NumAnswers != 2 || got.NumErrors != 2 || !strings.HasPrefix(got.LastError, string(wallet.CodeUnauthenticated)+":") || got.ProcessingTime <= 0 {
			t.Errorf("got %+v; want 2 answers, 2 errors, the last unauthenticated, a processing time", got)
		}
		return
	}
	t.Fatalf("no stats for %s", natsapi.SubjectWebhookGet)
}

// TestWebhookService drives every subject through natsapi.WebhookClient: setting
// and rotating the URL, reading it, listing deliveries a page at a time
// with a status filter, re-sending; and the refusals: no key, an unknown
// one, one without the webhooks scope, an operator's, another merchant's
// delivery, bad input.
func TestWebhookService(t *testing.T) {
	f := newServiceFixture(t)
	ctx := context.Background()
	c := f.client

	if _, err := c.Webhook(ctx, "kbk_shop"); wallet.ErrorCode(err) != wallet.CodeNotFound {
		t.Errorf("no URL yet: %v, want not_found", err)
	}
	ep, err := c.SetWebhook(ctx, notify.WebhookSetRequest{Auth: "kbk_shop", URL: "https://shop.example/hooks"})
	if err != nil || ep.Merchant != "445566" || ep.URL != "https://shop.example/hooks" || !strings.HasPrefix(ep.Secret, notify.WebhookSecretPrefix) {
		t.Fatalf("first set: %+v, %v", ep, err)
	}
	ep2, err := c.SetWebhook(ctx, notify.WebhookSetRequest{Auth: "kbk_shop", URL: "https://shop.example/v2"})
	if err != nil || ep2.Secret != "" || ep2.URL != "https://shop.example/v2" {
		t.Errorf("a new URL: %+v, %v; want no secret shown", ep2, err)
	}
	ep3, err := c.SetWebhook(ctx, notify.WebhookSetRequest{Auth: "kbk_shop", URL: "https://shop.example/v2", Rotate: true})
	if err != nil || ep3.Secret == "" || ep3.Secret == ep.Secret {
		t.Errorf("a rotation: %+v, %v; want a new secret", ep3, err)
	}
	got, err := c.Webhook(ctx, "kbk_shop")
	if err != nil || got.URL != "https://shop.example/v2" || got.Secret != "" || got.Created.IsZero() {
		t.Errorf("get: %+v, %v", got, err)
	}
	if _, err := c.SetWebhook(ctx, notify.WebhookSetRequest{Auth: "kbk_kplc", URL: "http://kplc.example/hooks"}); err != nil {
		t.Fatal(err)
	}

	// 25 deliveries for the shop, one for KPLC.
	var hooks []notify.OutgoingWebhook
	for i := range 25 {
		hooks = append(hooks, store.HookEvent("445566", i, uint64(i+1)))
	}
	hooks = append(hooks, store.HookEvent("888880", 0, 30))
	if _, n, err := f.st.RecordBatch(ctx, nil, hooks); err != nil || n != 26 {
		t.Fatalf("record: %d, %v", n, err)
	}
	page1, err := c.Deliveries(ctx, notify.DeliveriesRequest{Auth: "kbk_shop", Limit: 10})
	if err != nil || len(page1.Deliveries) != 10 || page1.Next == "" {
		t.Fatalf("page 1: %+v, %v", page1, err)
	}
	page2, err := c.Deliveries(ctx, notify.DeliveriesRequest{Auth: "kbk_shop", Limit: 10, Cursor: page1.Next})
	if err != nil || len(page2.Deliveries) != 10 || page2.Next == "" {
		t.Fatalf("page 2: %+v, %v", page2, err)
	}
	page3, err := c.Deliveries(ctx, notify.DeliveriesRequest{Auth: "kbk_shop", Limit: 10, Cursor: page2.Next})
	if err != nil || len(page3.Deliveries) != 5 || page3.Next != "" {
		t.Fatalf("page 3: %+v, %v", page3, err)
	}
	seen := map[string]bool{}
	var all []notify.Delivery
	for _, p := range []*notify.DeliveriesReply{page1, page2, page3} {
		all = append(all, p.Deliveries...)
	}
	for i, d := range all {
		if want := hooks[24-i].Event; d.Event != want || seen[d.ID] || d.Status != notify.DeliveryPending || d.Attempts == nil {
			t.Errorf("delivery %d: %+v, want %s, once, pending", i, d, want)
		}
		seen[d.ID] = true
	}
	if p, err := c.Deliveries(ctx, notify.DeliveriesRequest{Auth: "kbk_shop", Status: notify.DeliveryFailed}); err != nil || len(p.Deliveries) != 0 {
		t.Errorf("failed ones: %+v, %v", p, err)
	}
	if p, err := c.Deliveries(ctx, notify.DeliveriesRequest{Auth: "kbk_kplc"}); err != nil || len(p.Deliveries) != 1 || p.Deliveries[0].Event != hooks[25].Event {
		t.Errorf("KPLC's: %+v, %v", p, err)
	}

	// Deliver one by hand, as a sender would, to re-send it.
	claimed, err := f.st.ClaimWebhooks(ctx, 10, time.Minute, math.MaxUint64)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claim: %d, %v; want one per merchant", len(claimed), err)
	}
	var shop *store.ClaimedDelivery
	for i := range claimed {
		if claimed[i].Merchant == "445566" {
			shop = &claimed[i]
		}
	}
	if shop == nil || shop.EventID != hooks[0].Event || shopURL(shop) != "https://shop.example/v2" || shopSecret(shop) != ep3.Secret {
		t.Fatalf("the shop's claimed delivery: %+v", shop)
	}
	if err := f.st.DeliverByHand(ctx, shop, 200, 1500*time.Microsecond); err != nil {
		t.Fatal(err)
	}
	re, err := c.Resend(ctx, "kbk_shop", shop.ID)
	if err != nil || re.ID != shop.ID || re.Event != hooks[0].Event || re.Status != notify.DeliveryPending || len(re.Attempts) != 1 ||
		re.Attempts[0].Status != 200 || re.Attempts[0].Duration != 1.5 {
		t.Errorf("resend: %+v, %v", re, err)
	}

	refusals := []struct {
		name string
		call func() error
		want wallet.Code
	}{
		{"no key", func() error { _, err := c.Webhook(ctx, ""); return err }, wallet.CodeUnauthenticated},
		{"unknown key", func() error { _, err := c.Webhook(ctx, "kbk_nobody"); return err }, wallet.CodeUnauthenticated},
		{"wallet down", func() error { _, err := c.Webhook(ctx, "wallet-down"); return err }, wallet.CodeUnavailable},
		{"no webhooks scope", func() error { _, err := c.Webhook(ctx, "kbk_payments"); return err }, wallet.CodeForbidden},
		{"no webhooks scope, set", func() error {
			_, err := c.SetWebhook(ctx, notify.WebhookSetRequest{Auth: "kbk_payments", URL: "https://x.example/"})
			return err
		}, wallet.CodeForbidden},
		{"operator key", func() error {
			_, err := c.Deliveries(ctx, notify.DeliveriesRequest{Auth: "kbk_operator"})
			return err
		}, wallet.CodeForbidden},
		{"another merchant's delivery", func() error { _, err := c.Resend(ctx, "kbk_kplc", shop.ID); return err }, wallet.CodeNotFound},
		{"no such delivery", func() error { _, err := c.Resend(ctx, "kbk_shop", notify.NewDeliveryID(time.Now())); return err }, wallet.CodeNotFound},
		{"not a delivery id", func() error { _, err := c.Resend(ctx, "kbk_shop", "pr_123"); return err }, wallet.CodeNotFound},
		{"still pending", func() error { _, err := c.Resend(ctx, "kbk_shop", all[0].ID); return err }, wallet.CodeInvalidState},
		{"bad URL", func() error {
			_, err := c.SetWebhook(ctx, notify.WebhookSetRequest{Auth: "kbk_shop", URL: "ftp://shop.example/"})
			return err
		}, wallet.CodeInvalid},
		{"bad status", func() error {
			_, err := c.Deliveries(ctx, notify.DeliveriesRequest{Auth: "kbk_shop", Status: "lost"})
			return err
		}, wallet.CodeInvalid},
		{"bad cursor", func() error {
			_, err := c.Deliveries(ctx, notify.DeliveriesRequest{Auth: "kbk_shop", Cursor: "' OR 1=1 --"})
			return err
		}, wallet.CodeInvalid},
		{"bad limit", func() error {
			_, err := c.Deliveries(ctx, notify.DeliveriesRequest{Auth: "kbk_shop", Limit: 1000})
			return err
		}, wallet.CodeInvalid},
	}
	for _, tt := range refusals {
		err := tt.call()
		if got := wallet.ErrorCode(err); got != tt.want {
			t.Errorf("%s: %v (code %q), want %s", tt.name, err, got, tt.want)
		}
	}

	// Malformed and oversized requests get a coded answer too.
	for name, data := range map[string][]byte{
		"not JSON":  []byte("{"),
		"too large": []byte(`{"auth":"` + strings.Repeat("a", 9000) + `"}`),
	} {
		msg, err := f.nc.Request(f.prefix+"."+natsapi.SubjectWebhookGet, data, 5*time.Second)
		if err != nil || msg.Header.Get("Nats-Service-Error-Code") != string(wallet.CodeInvalid) {
			t.Errorf("%s: %v, %v", name, msg, err)
		}
	}
}

// TestWebhookServiceHTTPS checks RequireHTTPS, for production.
func TestWebhookServiceHTTPS(t *testing.T) {
	f := newServiceFixture(t, notify.RequireHTTPS())
	ctx := context.Background()
	if _, err := f.client.SetWebhook(ctx, notify.WebhookSetRequest{Auth: "kbk_shop", URL: "http://shop.example/"}); wallet.ErrorCode(err) != wallet.CodeInvalid {
		t.Errorf("http with RequireHTTPS: %v, want invalid_request", err)
	}
	if _, err := f.client.SetWebhook(ctx, notify.WebhookSetRequest{Auth: "kbk_shop", URL: "https://shop.example/"}); err != nil {
		t.Errorf("https: %v", err)
	}
	if _, err := natsapi.ServeWebhooks(f.nc, f.st, keys{}, "bad prefix!", nil); err == nil {
		t.Error("a bad prefix was accepted")
	}
}

// TestWebhookServicePrivate checks the address guard where URLs are set: a
// service refuses a URL at a loopback, private or link-local literal
// address, or a localhost name, unless AllowPrivate (a developer's).
func TestWebhookServicePrivate(t *testing.T) {
	ctx := context.Background()
	urls := []string{"http://127.0.0.1:8080/hooks", "https://10.0.0.5/hooks", "https://169.254.169.254/latest/meta-data/",
		"https://[::1]/", "http://localhost:3000/"}
	guarded := newServiceFixture(t) // no options: http allowed, still guarded
	open := newServiceFixture(t, notify.AllowPrivate())
	for _, u := range urls {
		_, err := guarded.client.SetWebhook(ctx, notify.WebhookSetRequest{Auth: "kbk_shop", URL: u})
		if wallet.ErrorCode(err) != wallet.CodeInvalid || !strings.Contains(err.Error(), "must reach a public address") {
			t.Errorf("guarded, %s: %v; want invalid_request", u, err)
		}
		if ep, err := open.client.SetWebhook(ctx, notify.WebhookSetRequest{Auth: "kbk_shop", URL: u}); err != nil || ep.URL != u {
			t.Errorf("AllowPrivate, %s: %+v, %v", u, ep, err)
		}
	}
	if _, err := guarded.client.Webhook(ctx, "kbk_shop"); wallet.ErrorCode(err) != wallet.CodeNotFound {
		t.Errorf("a refused URL was stored: %v", err)
	}
	// Production's: https, and public.
	prod := newServiceFixture(t, notify.RequireHTTPS())
	if _, err := prod.client.SetWebhook(ctx, notify.WebhookSetRequest{Auth: "kbk_shop", URL: "https://192.168.1.10/"}); wallet.ErrorCode(err) != wallet.CodeInvalid {
		t.Errorf("RequireHTTPS, a private address: %v; want invalid_request", err)
	}
}

func shopURL(d *store.ClaimedDelivery) string    { u, _ := d.Endpoint(); return u }
func shopSecret(d *store.ClaimedDelivery) string { _, k := d.Endpoint(); return k }
