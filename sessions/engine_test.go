package sessions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/gateway"
	"github.com/kibubu/kibubu/gateway/aggregator"
	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

var catalog = func() *locales.Catalog {
	c, err := locales.New()
	if err != nil {
		panic(err)
	}
	return c
}()

var kes, _ = wallet.LookupCurrency("KES")

// harness is a wallet, a session bucket and an engine on them.
type harness struct {
	t    *testing.T
	w    *wallettest.Wallet
	kv   jetstream.KeyValue
	e    *sessions.Engine
	base string // an HTTP server with the aggregator adapters on e
	// shopClock is the clock of the wallet's merchant services (payment
	// requests' and tabs' expiry).
	shopClock *laterClock
}

var sealKey = []byte("0123456789abcdef0123456789abcdef")

func start(t *testing.T) *harness {
	t.Helper()
	shop := &laterClock{}
	// The prompt limits are off: these tests fill one customer's approvals
	// list (wallet/merchant tests the limits).
	off := merchant.PromptLimit{Max: -1}
	w := wallettest.StartMerchants(t, merchant.Config{Now: shop.Now, PromptsPerPhone: off, PromptsPerPair: off, PromptsPerMerchant: off})
	kv, err := sessions.EnsureBucket(context.Background(), w.JS, w.Prefix, time.Minute, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.JS.DeleteKeyValue(context.Background(), kv.Bucket()) })
	h := &harness{t: t, w: w, kv: kv, shopClock: shop}
	h.e = h.engine(sessions.WalletClient(w.Client), nil)
	e := echo.New()
	gateway.MountUSSD(e, h.e, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	h.base = srv.URL
	return h
}

// engine returns another engine on the same wallet and bucket, as a second
// gateway process would run.
func (h *harness) engine(wal sessions.Wallet, resolved func(sessions.Resolution)) *sessions.Engine {
	h.t.Helper()
	e, err := sessions.New(sessions.Config{
		Wallet: wal, Bucket: h.kv, Locales: catalog, Currency: kes, Key: sealKey,
		WalletTimeout: 2 * time.Second, Resolved: resolved,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

var sessionN atomic.Int64

// call is one USSD session, driven as Africa's Talking drives it (the whole
// history each hop) unless proto says otherwise, through that aggregator's
// HTTP adapter.
type call struct {
	h       *harness
	e       *sessions.Engine
	proto   string // africastalking, hubtel or nalo
	id      string
	phone   string
	lang    string
	inputs  []string
	seq     int
	screens []sessions.Screen
}

func (h *harness) dial(phone string) *call { return h.dialWith("africastalking", phone, "") }

func (h *harness) dialWith(proto, phone, lang string) *call {
	c := &call{h: h, e: h.e, proto: proto, phone: phone, lang: lang, id: fmt.Sprintf("s%d", sessionN.Add(1))}
	c.hop(c.next(""))
	return c
}

// next is the hop that sends input ("" for the start).
func (c *call) next(input string) sessions.Hop {
	hop := sessions.Hop{Aggregator: c.proto, SessionID: c.id, Phone: c.phone, ServiceCode: "*334#", Language: c.lang}
	if input == "" && len(c.inputs) == 0 {
		hop.New = true
	} else {
		c.inputs = append(c.inputs, input)
		hop.Input = input
	}
	switch c.proto {
	case "africastalking":
		hop.History = strings.Join(c.inputs, "*")
	case "hubtel":
		c.seq++
		hop.Seq = c.seq
	}
	return hop
}

// hop sends hop to the call's engine: through the aggregator's HTTP
// adapter when it is the harness's own engine, else directly.
func (c *call) hop(hop sessions.Hop) sessions.Screen {
	c.h.t.Helper()
	var s sessions.Screen
	var err error
	if c.e == c.h.e {
		s, err = (&aggregator.Client{Base: c.h.base}).Hop(context.Background(), hop)
	} else {
		s, err = c.e.Hop(context.Background(), hop)
	}
	if err != nil {
		c.h.t.Fatalf("hop %q: %v", hop.Input, err)
	}
	if !locales.FitsScreen(s.Text) {
		c.h.t.Errorf("screen does not fit 160 GSM-7 septets: %q", s.Text)
	}
	c.screens = append(c.screens, s)
	return s
}

// say sends each input in turn and returns the last screen.
func (c *call) say(inputs ...string) sessions.Screen {
	c.h.t.Helper()
	var s sessions.Screen
	for _, in := range inputs {
		s = c.hop(c.next(in))
	}
	return s
}

func (c *call) last() sessions.Screen { return c.screens[len(c.screens)-1] }

func render(lang, id string, data map[string]any) string { return catalog.Render(lang, id, data) }

func money(lang string, minor int64) string { return locales.FormatMoney(lang, kes, minor) }

func nav(lang string) string {
	return "\n" + render(lang, "ussd.nav.back", nil) + "\n" + render(lang, "ussd.nav.home", nil)
}

func con(lang, id string, data map[string]any) sessions.Screen {
	return sessions.Screen{Text: render(lang, id, data) + nav(lang)}
}

func end(lang, id string, data map[string]any) sessions.Screen {
	return sessions.Screen{Text: render(lang, id, data), End: true}
}

func (h *harness) check(what string, got, want sessions.Screen) {
	h.t.Helper()
	if got != want {
		h.t.Errorf("%s:\ngot  %+v\nwant %+v", what, got, want)
	}
}

func (h *harness) balance(numberOrPhone string) int64 {
	h.t.Helper()
	return h.w.Balance(numberOrPhone)
}

// setLang stores a customer's language.
func (h *harness) setLang(phone, lang string) {
	h.t.Helper()
	if _, err := h.w.Client.SetLanguage(context.Background(), phone, lang); err != nil {
		h.t.Fatal(err)
	}
}

// states returns every stored session state, raw.
func (h *harness) states() []string {
	h.t.Helper()
	keys, err := h.kv.ListKeys(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for k := range keys.Keys() {
		e, err := h.kv.Get(context.Background(), k)
		if err != nil {
			continue
		}
		out = append(out, string(e.Value()))
	}
	return out
}

func decode(t *testing.T, raw string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatal(err)
	}
	return m
}
