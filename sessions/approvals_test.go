package sessions_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
)

// laterClock is the real time, moved on by advance: the merchant services
// order what waits for approval by the time of its id.
type laterClock struct {
	mu    sync.Mutex
	ahead time.Duration
}

func (c *laterClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.ahead)
}

func (c *laterClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ahead += d
}

// shop is a till with an API key that may ask its customers to pay and
// open tabs for them.
type shop struct {
	h    *harness
	name string
	till string
	key  string
}

func (h *harness) shop(name string) *shop {
	h.t.Helper()
	till := h.w.Merchant(name, false)
	k, err := merchantapi.NewClient(h.w.Client).CreateAPIKey(context.Background(), merchantapi.APIKeyRequest{Merchant: till,
		Scopes: []merchant.Scope{merchant.ScopePayments, merchant.ScopeTabs}})
	if err != nil {
		h.t.Fatal(err)
	}
	return &shop{h: h, name: name, till: till, key: k.Secret}
}

var idemN atomic.Int64

func idem() string { return "idem-" + strconv.FormatInt(idemN.Add(1), 10) }

// request asks phone to pay amount (minor units) for ref.
func (s *shop) request(phone string, amount int64, ref string) *merchant.PaymentRequest {
	s.h.t.Helper()
	r, err := merchantapi.NewClient(s.h.w.Client).CreatePaymentRequest(context.Background(), merchantapi.PaymentRequestCreate{
		Auth: s.key, Idempotency: idem(), Phone: phone, Amount: amount, Reference: ref})
	if err != nil {
		s.h.t.Fatal(err)
	}
	return r
}

// tab opens a tab for phone of up to limit (minor units) until expires.
func (s *shop) tab(phone string, limit int64, prepaid bool, expires time.Time) *merchant.Tab {
	s.h.t.Helper()
	tb, err := merchantapi.NewClient(s.h.w.Client).OpenTab(context.Background(), merchantapi.TabOpenRequest{Auth: s.key, Idempotency: idem(),
		Phone: phone, Cap: kes.Micro(limit), Prepaid: prepaid, Expires: expires, Reference: "TAB-1"})
	if err != nil {
		s.h.t.Fatal(err)
	}
	return tb
}

func (s *shop) requestStatus(id string) merchant.RequestStatus {
	s.h.t.Helper()
	r, err := merchantapi.NewClient(s.h.w.Client).PaymentRequest(context.Background(), s.key, id)
	if err != nil {
		s.h.t.Fatal(err)
	}
	return r.Status
}

func (s *shop) tabStatus(id string) merchant.TabStatus {
	s.h.t.Helper()
	tb, err := merchantapi.NewClient(s.h.w.Client).Tab(context.Background(), s.key, id)
	if err != nil {
		s.h.t.Fatal(err)
	}
	return tb.Status
}

// when is an expiry as the screens show it (the engines here read time in
// UTC): the time when it is today, else the day.
func when(t time.Time) string {
	t = t.UTC()
	if t.Format("2006-01-02") == time.Now().UTC().Format("2006-01-02") {
		return t.Format("15:04")
	}
	return t.Format("02/01")
}

func listScreen(lang string, items ...string) sessions.Screen {
	return sessions.Screen{Text: render(lang, "ussd.approvals.title", nil) + "\n" + strings.Join(items, "\n") + nav(lang)}
}

func item(lang, id, name string, amount int64) string {
	return render(lang, id, map[string]any{"Name": name, "Amount": money(lang, amount)})
}

// 6 Approvals, every path in every language: the exact screens, and what
// moved in the ledger and in the merchant's objects.
func TestApprovalsMenu(t *testing.T) {
	for _, lang := range catalog.Languages() {
		t.Run(lang, func(t *testing.T) {
			h := start(t)
			customer := func(balance int64) string {
				p := h.w.Customer("Alice Wanjiru", pin, balance)
				h.setLang(p, lang)
				return p
			}
			flows := []struct {
				name string
				run  func(t *testing.T)
			}{
				{"nothing waits", func(t *testing.T) {
					alice := customer(0)
					h.check("none", h.dial(alice).say("6"), end(lang, "ussd.approvals.none", nil))
				}},
				{"approve a payment request", func(t *testing.T) {
					alice := customer(100_000)
					duka := h.shop("Duka La Juma")
					r := duka.request(alice, 15_000, "INV-1")
					c := h.dial(alice)
					h.check("list", c.say("6"), listScreen(lang, "1 "+item(lang, "ussd.approvals.item", "Duka La Juma", 15_000)))
					h.check("detail", c.say("1"), con(lang, "ussd.approvals.request", map[string]any{
						"Amount": money(lang, 15_000), "Name": "Duka La Juma", "Account": "INV-1", "Date": when(r.Expires)}))
					h.check("pin", c.say("1"), con(lang, "ussd.pin.enter", nil))
					last := c.next(pin)
					got := c.hop(last)
					h.check("paid", got, end(lang, "ussd.approvals.paid", map[string]any{
						"Amount": money(lang, 15_000), "Name": "Duka La Juma", "Ref": h.lastRef(alice, pin)}))
					h.check("the PIN hop again", c.hop(last), got)
					h.checkBalance("alice", alice, 85_000)
					if b := h.balance(duka.till); b <= 0 || b > 15_000 {
						t.Errorf("the till holds %d, want 15000 less its fee", b)
					}
					if s := duka.requestStatus(r.ID); s != merchant.RequestPaid {
						t.Errorf("request %s, want paid", s)
					}
					h.check("nothing left", h.dial(alice).say("6"), end(lang, "ussd.approvals.none", nil))
				}},
				{"a wrong PIN, then the right one", func(t *testing.T) {
					alice := customer(100_000)
					duka := h.shop("Duka La Juma")
					r := duka.request(alice, 2_500, "INV-2")
					c := h.dial(alice)
					c.say("6", "1", "1")
					h.check("wrong", c.say("9999"), errLine(lang, "error.pin_invalid.tries_left", map[string]any{"Count": 2}, "ussd.pin.enter", nil))
					h.check("bad format", c.say("12"), errLine(lang, "ussd.invalid.pin_format", map[string]any{"Digits": 4}, "ussd.pin.enter", nil))
					got := c.say(pin)
					h.check("paid", got, end(lang, "ussd.approvals.paid", map[string]any{
						"Amount": money(lang, 2_500), "Name": "Duka La Juma", "Ref": h.lastRef(alice, pin)}))
					h.checkBalance("alice", alice, 97_500)
					if s := duka.requestStatus(r.ID); s != merchant.RequestPaid {
						t.Errorf("request %s, want paid", s)
					}
				}},
				{"decline", func(t *testing.T) {
					alice := customer(100_000)
					duka := h.shop("Duka La Juma")
					r := duka.request(alice, 15_000, "INV-3")
					c := h.dial(alice)
					h.check("invalid choice", c.say("6", "1", "3"), errLine(lang, "ussd.invalid.choice", nil, "ussd.approvals.request", map[string]any{
						"Amount": money(lang, 15_000), "Name": "Duka La Juma", "Account": "INV-3", "Date": when(r.Expires)}))
					decline := con(lang, "ussd.approvals.decline_pin", map[string]any{"Amount": money(lang, 15_000), "Name": "Duka La Juma"})
					h.check("decline: the PIN", c.say("2"), decline)
					h.check("wrong", c.say("9999"), errLine(lang, "error.pin_invalid.tries_left", map[string]any{"Count": 2},
						"ussd.approvals.decline_pin", map[string]any{"Amount": money(lang, 15_000), "Name": "Duka La Juma"}))
					if s := duka.requestStatus(r.ID); s != merchant.RequestPending {
						t.Errorf("after a wrong PIN: request %s, want pending", s)
					}
					h.check("bad format", c.say("12"), errLine(lang, "ussd.invalid.pin_format", map[string]any{"Digits": 4},
						"ussd.approvals.decline_pin", map[string]any{"Amount": money(lang, 15_000), "Name": "Duka La Juma"}))
					h.check("declined", c.say(pin), end(lang, "ussd.approvals.declined", map[string]any{"Name": "Duka La Juma"}))
					h.checkBalance("alice", alice, 100_000)
					if s := duka.requestStatus(r.ID); s != merchant.RequestDeclined {
						t.Errorf("request %s, want declined", s)
					}
				}},
				{"expired while the PIN was typed", func(t *testing.T) {
					alice := customer(100_000)
					duka := h.shop("Duka La Juma")
					r := duka.request(alice, 15_000, "INV-4")
					c := h.dial(alice)
					c.say("6", "1", "1")
					h.shopClock.advance(r.Expires.Sub(r.Created) + time.Second)
					h.check("gone", c.say(pin), end(lang, "ussd.approvals.gone", nil))
					h.checkBalance("alice", alice, 100_000)
					if s := duka.requestStatus(r.ID); s != merchant.RequestExpired {
						t.Errorf("request %s, want expired", s)
					}
				}},
				{"not enough money", func(t *testing.T) {
					alice := customer(1_000)
					duka := h.shop("Duka La Juma")
					r := duka.request(alice, 15_000, "INV-5")
					h.check("refused", h.dial(alice).say("6", "1", "1", pin), end(lang, "error.insufficient_funds.balance", map[string]any{
						"Balance": money(lang, 1_000)}))
					if s := duka.requestStatus(r.ID); s != merchant.RequestFailed {
						t.Errorf("request %s, want failed", s)
					}
				}},
				{"a postpaid tab", func(t *testing.T) {
					alice := customer(100_000)
					duka := h.shop("Duka La Juma")
					expires := time.Now().Add(48 * time.Hour)
					tb := duka.tab(alice, 5_000, false, expires)
					c := h.dial(alice)
					h.check("list", c.say("6"), listScreen(lang, "1 "+item(lang, "ussd.approvals.item_tab", "Duka La Juma", 5_000)))
					h.check("detail", c.say("1"), con(lang, "ussd.approvals.tab", map[string]any{
						"Amount": money(lang, 5_000), "Name": "Duka La Juma", "Date": when(expires)}))
					h.check("approved", c.say("1", pin), end(lang, "ussd.approvals.approved_tab", map[string]any{
						"Amount": money(lang, 5_000), "Name": "Duka La Juma"}))
					h.checkBalance("alice", alice, 100_000)
					if s := duka.tabStatus(tb.ID); s != merchant.TabActive {
						t.Errorf("tab %s, want active", s)
					}
				}},
				{"a prepaid tab", func(t *testing.T) {
					alice := customer(100_000)
					duka := h.shop("Duka La Juma")
					expires := time.Now().Add(72 * time.Hour)
					tb := duka.tab(alice, 5_000, true, expires)
					c := h.dial(alice)
					c.say("6")
					h.check("detail", c.say("1"), con(lang, "ussd.approvals.tab_prepaid", map[string]any{
						"Amount": money(lang, 5_000), "Name": "Duka La Juma", "Date": when(expires)}))
					got := c.say("1", pin)
					h.check("approved", got, end(lang, "ussd.approvals.approved_prepaid", map[string]any{
						"Amount": money(lang, 5_000), "Name": "Duka La Juma", "Ref": h.lastRef(alice, pin)}))
					h.checkBalance("alice", alice, 95_000)
					if s := duka.tabStatus(tb.ID); s != merchant.TabActive {
						t.Errorf("tab %s, want active", s)
					}
				}},
				{"a long list, paged", func(t *testing.T) {
					alice := customer(100_000)
					long := h.shop("Wanjiru Nyambura-Odhiambo Kama") // locales.NameCharsMax
					short := h.shop("Duka")
					var want []string
					var reqs []*merchant.PaymentRequest
					for i := range 5 {
						r := long.request(alice, int64(i+1)*100_000/10, fmt.Sprintf("INV-%d", i))
						reqs = append(reqs, r)
						want = append(want, item(lang, "ussd.approvals.item", long.name, r.Amount))
					}
					short.tab(alice, 5_000, false, time.Now().Add(24*time.Hour))
					want = append(want, item(lang, "ussd.approvals.item_tab", "Duka", 5_000))
					c := h.dial(alice)
					pages := []sessions.Screen{c.say("6")}
					for strings.HasSuffix(pages[len(pages)-1].Text, "\n"+render(lang, "ussd.nav.more", nil)) && len(pages) < 10 {
						pages = append(pages, c.say("98"))
					}
					if len(pages) < 2 {
						t.Fatalf("one page for six approvals: %q", pages[0].Text)
					}
					var lines []string
					for i, p := range pages {
						text := p.Text
						if i == 0 && !strings.HasPrefix(text, render(lang, "ussd.approvals.title", nil)+"\n") {
							t.Errorf("page 1 %q does not start with the title", text)
						}
						if i == 0 {
							text = strings.TrimPrefix(text, render(lang, "ussd.approvals.title", nil)+"\n")
						}
						if i < len(pages)-1 {
							text = strings.TrimSuffix(text, "\n"+render(lang, "ussd.nav.more", nil))
						} else if !strings.HasSuffix(text, nav(lang)) {
							t.Errorf("the last page %q does not end with 0 Back and 00 Home", text)
						} else {
							text = strings.TrimSuffix(text, nav(lang))
						}
						lines = append(lines, strings.Split(text, "\n")...)
					}
					for i, l := range lines {
						if i >= len(want) || l != strconv.Itoa(i+1)+" "+want[i] {
							t.Errorf("line %d %q, want %d %q", i+1, l, i+1, want[min(i, len(want)-1)])
						}
					}
					if len(lines) != len(want) {
						t.Errorf("%d lines, want %d", len(lines), len(want))
					}
					detail := con(lang, "ussd.approvals.request", map[string]any{"Amount": money(lang, reqs[4].Amount),
						"Name": long.name, "Account": "INV-4", "Date": when(reqs[4].Expires)})
					h.check("the fifth, from the last page", c.say("5"), detail)
					h.check("back to the list", c.say("0"), pages[0])
					h.check("the fifth again", c.say("5"), detail)
					h.check("declined", c.say("2", pin), end(lang, "ussd.approvals.declined", map[string]any{"Name": long.name}))
					if s := long.requestStatus(reqs[4].ID); s != merchant.RequestDeclined {
						t.Errorf("request %s, want declined", s)
					}
					if s := long.requestStatus(reqs[0].ID); s != merchant.RequestPending {
						t.Errorf("the first request %s, want pending", s)
					}
				}},
			}
			for _, f := range flows {
				t.Run(f.name, f.run)
			}
		})
	}
}

// By SMS, in every language: a PIN, or NO and the PIN, with no command
// awaiting one answers the newest approval, once per message; NO without
// the PIN declines nothing; the keyword lists them.
func TestApprovalsBySMS(t *testing.T) {
	for _, lang := range catalog.Languages() {
		t.Run(lang, func(t *testing.T) {
			x := smsHarness(t, func(c *sessions.Config) { c.SMSRateMessages = 100 })
			h := x.h
			customer := func(balance int64) string {
				p := h.w.Customer("Alice Wanjiru", pin, balance)
				h.setLang(p, lang)
				return p
			}
			no := smsWords[lang]["no"]
			flows := []struct {
				name string
				run  func(t *testing.T)
			}{
				{"nothing waits", func(t *testing.T) {
					alice := customer(100_000)
					h.checkSMS("pin", x.send(alice, pin), reply(lang, "sms.pin.expired", nil))
					h.checkSMS("no", x.send(alice, no), reply(lang, "sms.pin.expired", nil))
					h.checkSMS("list", x.send(alice, approvalWords[lang]), reply(lang, "ussd.approvals.none", nil))
				}},
				{"the list", func(t *testing.T) {
					alice := customer(100_000)
					duka := h.shop("Duka La Juma")
					duka.request(alice, 10_000, "INV-1")
					duka.tab(alice, 5_000, false, time.Now().Add(24*time.Hour))
					want := render(lang, "ussd.approvals.title", nil) + "\n" +
						item(lang, "ussd.approvals.item", "Duka La Juma", 10_000) + "\n" +
						item(lang, "ussd.approvals.item_tab", "Duka La Juma", 5_000) + "\n" +
						render(lang, "sms.approvals.hint", nil)
					for _, word := range approvalWords {
						h.checkSMS(word, x.send(alice, strings.ToLower(word)), sessions.SMSReply{Text: want, Language: lang})
					}
				}},
				{"a PIN pays the newest, once", func(t *testing.T) {
					alice := customer(100_000)
					duka := h.shop("Duka La Juma")
					older := duka.request(alice, 10_000, "INV-1")
					newer := duka.request(alice, 15_000, "INV-2")
					id := newID()
					h.checkSMS("pin", x.sendID(id, alice, pin), sessions.SMSReply{}) // the receipt is the answer
					h.checkSMS("the same message again", x.sendID(id, alice, pin), sessions.SMSReply{})
					h.checkBalance("alice", alice, 85_000)
					if s := duka.requestStatus(newer.ID); s != merchant.RequestPaid {
						t.Errorf("the newer request %s, want paid", s)
					}
					if s := duka.requestStatus(older.ID); s != merchant.RequestPending {
						t.Errorf("the older request %s, want pending", s)
					}
				}},
				{"NO and the PIN decline the newest", func(t *testing.T) {
					alice := customer(100_000)
					duka, other := h.shop("Duka La Juma"), h.shop("Mama Mboga")
					older := duka.request(alice, 10_000, "INV-1")
					newer := other.request(alice, 15_000, "INV-2")
					h.checkSMS("no without the PIN", x.send(alice, no), reply(lang, "sms.decline.pin", map[string]any{
						"Name": "Mama Mboga", "Amount": money(lang, 15_000)}))
					h.checkSMS("no and a wrong PIN", x.send(alice, no+" 9999"), reply(lang, "error.pin_invalid.tries_left", map[string]any{"Count": 2}))
					h.checkSMS("no and a short PIN", x.send(alice, no+" 12"), reply(lang, "ussd.invalid.pin_format", map[string]any{"Digits": 4}))
					if s := other.requestStatus(newer.ID); s != merchant.RequestPending {
						t.Errorf("the newer request %s, want pending", s)
					}
					no := no + " " + pin
					id := newID()
					want := reply(lang, "ussd.approvals.declined", map[string]any{"Name": "Mama Mboga"})
					h.checkSMS("no", x.sendID(id, alice, no), want)
					h.checkSMS("the same message again", x.sendID(id, alice, no), want)
					if s := other.requestStatus(newer.ID); s != merchant.RequestDeclined {
						t.Errorf("the newer request %s, want declined", s)
					}
					if s := duka.requestStatus(older.ID); s != merchant.RequestPending {
						t.Errorf("the older request %s, want pending", s)
					}
					h.checkSMS("no again, at once", x.send(alice, no), reply(lang, "sms.approvals.answered", map[string]any{"Code": sessions.DefaultServiceCode}))
					if s := duka.requestStatus(older.ID); s != merchant.RequestPending {
						t.Errorf("the older request %s, want pending", s)
					}
					x.clock.advance(5 * time.Minute)
					h.checkSMS("no again, later: the older one", x.send(alice, no), reply(lang, "ussd.approvals.declined", map[string]any{"Name": "Duka La Juma"}))
					h.checkSMS("nothing left", x.send(alice, no), reply(lang, "sms.pin.expired", nil))
					h.checkSMS("nothing left, no PIN", x.send(alice, smsWords[lang]["no"]), reply(lang, "sms.pin.expired", nil))
					h.checkBalance("alice", alice, 100_000)
				}},
				{"a PIN sent twice pays once", func(t *testing.T) {
					alice := customer(100_000)
					duka := h.shop("Duka La Juma")
					older := duka.request(alice, 10_000, "INV-1")
					newer := duka.request(alice, 15_000, "INV-2")
					h.checkSMS("pin", x.send(alice, pin), sessions.SMSReply{})
					h.checkSMS("pin again", x.send(alice, pin), reply(lang, "sms.approvals.answered", map[string]any{"Code": sessions.DefaultServiceCode}))
					h.checkBalance("alice", alice, 85_000)
					if s := duka.requestStatus(older.ID); s != merchant.RequestPending {
						t.Errorf("the older request %s, want pending", s)
					}
					newest := duka.request(alice, 1_000, "INV-3")
					h.checkSMS("pin for a request made since", x.send(alice, pin), sessions.SMSReply{})
					h.checkBalance("alice", alice, 84_000)
					for id, want := range map[string]merchant.RequestStatus{older.ID: merchant.RequestPending,
						newer.ID: merchant.RequestPaid, newest.ID: merchant.RequestPaid} {
						if s := duka.requestStatus(id); s != want {
							t.Errorf("request %s %s, want %s", id, s, want)
						}
					}
					h.check("the older one on USSD", h.dial(alice).say("6", "1", "1", pin), end(lang, "ussd.approvals.paid", map[string]any{
						"Amount": money(lang, 10_000), "Name": "Duka La Juma", "Ref": h.lastRef(alice, pin)}))
					h.checkBalance("alice", alice, 74_000)
				}},
				{"a wrong PIN, then the right one", func(t *testing.T) {
					alice := customer(100_000)
					duka := h.shop("Duka La Juma")
					r := duka.request(alice, 15_000, "INV-1")
					h.checkSMS("wrong", x.send(alice, "9999"), reply(lang, "error.pin_invalid.tries_left", map[string]any{"Count": 2}))
					h.checkSMS("too short", x.send(alice, "12"), reply(lang, "ussd.invalid.pin_format", map[string]any{"Digits": 4}))
					h.checkSMS("right", x.send(alice, pin), sessions.SMSReply{})
					h.checkSMS("again: nothing waits", x.send(alice, pin), reply(lang, "sms.pin.expired", nil))
					h.checkBalance("alice", alice, 85_000)
					if s := duka.requestStatus(r.ID); s != merchant.RequestPaid {
						t.Errorf("request %s, want paid", s)
					}
				}},
				{"a postpaid tab", func(t *testing.T) {
					alice := customer(100_000)
					duka := h.shop("Duka La Juma")
					tb := duka.tab(alice, 5_000, false, time.Now().Add(24*time.Hour))
					h.checkSMS("pin", x.send(alice, pin), reply(lang, "ussd.approvals.approved_tab", map[string]any{
						"Name": "Duka La Juma", "Amount": money(lang, 5_000)}))
					if s := duka.tabStatus(tb.ID); s != merchant.TabActive {
						t.Errorf("tab %s, want active", s)
					}
				}},
				{"a prepaid tab", func(t *testing.T) {
					alice := customer(100_000)
					duka := h.shop("Duka La Juma")
					tb := duka.tab(alice, 5_000, true, time.Now().Add(24*time.Hour))
					h.checkSMS("pin", x.send(alice, pin), sessions.SMSReply{}) // the load's receipt is the answer
					h.checkBalance("alice", alice, 95_000)
					if s := duka.tabStatus(tb.ID); s != merchant.TabActive {
						t.Errorf("tab %s, want active", s)
					}
				}},
				{"a command awaiting its PIN comes first", func(t *testing.T) {
					alice := customer(100_000)
					duka := h.shop("Duka La Juma")
					r := duka.request(alice, 15_000, "INV-1")
					x.send(alice, smsWords[lang]["pay"]+" "+duka.till+" 20")
					h.checkSMS("pin", x.send(alice, pin), sessions.SMSReply{})
					h.checkBalance("alice", alice, 98_000)
					if s := duka.requestStatus(r.ID); s != merchant.RequestPending {
						t.Errorf("request %s, want pending", s)
					}
					h.checkSMS("no and the PIN: the request now", x.send(alice, no+" "+pin), reply(lang, "ussd.approvals.declined", map[string]any{"Name": "Duka La Juma"}))
				}},
			}
			for _, f := range flows {
				t.Run(f.name, f.run)
			}
		})
	}
}

// approvalWords are the keywords that list approvals, as the description of
// sms.approvals.hint lists them (TestSMSApprovalWords checks the parser's).
var approvalWords = map[string]string{"en": "APPROVALS", "sw": "IDHINI", "fr": "APPROBATIONS"}

// slowApprover answers approvals late, as an overloaded wallet does: the
// first Approve times out before reaching the wallet.
type slowApprover struct {
	sessions.Wallet
	delay chan struct{} // closed to let approvals through
}

func (s slowApprover) Approve(ctx context.Context, phone, id, pin string) (*merchant.ApproveResult, error) {
	select {
	case <-s.delay:
	case <-ctx.Done():
		return nil, &wallet.Error{Code: wallet.CodeUnavailable, Message: "timeout"}
	}
	return s.Wallet.Approve(ctx, phone, id, pin)
}

// An approval whose call the wallet answers too late ends with "we will
// send you an SMS" and is resolved in the background, once: a payment's
// receipt tells it, a postpaid tab's approval is told by the Outbox.
func TestApprovalPending(t *testing.T) {
	h := start(t)
	ob := newOutbox()
	slow := slowApprover{Wallet: sessions.WalletClient(h.w.Client), delay: make(chan struct{})}
	resolved := make(chan sessions.Resolution, 2)
	x := h.texter(slow, func(c *sessions.Config) {
		c.Outbox, c.Resolved, c.WalletTimeout = ob, func(r sessions.Resolution) { resolved <- r }, 300*time.Millisecond
	})
	alice := h.w.Customer("Alice", pin, 100_000)
	duka := h.shop("Duka La Juma")
	r := duka.request(alice, 15_000, "INV-1")
	c := h.dial(alice)
	c.e = x.e
	c.say("6", "1", "1")
	h.check("pending", c.say(pin), end("en", "ussd.pending", nil))

	bob := h.w.Customer("Bob", pin, 0)
	h.setLang(bob, "sw")
	tb := duka.tab(bob, 5_000, false, time.Now().Add(24*time.Hour))
	h.checkSMS("sms pending", x.send(bob, pin), reply("sw", "ussd.pending", nil))

	close(slow.delay)
	for range 2 {
		select {
		case res := <-resolved:
			if res.Err != nil || res.Approved == nil || res.Approval == "" || res.Key == "" {
				t.Errorf("resolution %+v: want the approval done", res)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the pending approvals were never resolved")
		}
	}
	h.checkBalance("alice", alice, 85_000)
	if s := duka.requestStatus(r.ID); s != merchant.RequestPaid {
		t.Errorf("request %s, want paid", s)
	}
	if s := duka.tabStatus(tb.ID); s != merchant.TabActive {
		t.Errorf("tab %s, want active", s)
	}
	got := ob.messages()
	want := notify.Message{To: bob, Language: "sw", Text: render("sw", "ussd.approvals.approved_tab", map[string]any{
		"Name": "Duka La Juma", "Amount": money("sw", 5_000)})}
	if r := ob.refusals(); len(r) > 0 {
		t.Errorf("the notifier would refuse: %v", r)
	}
	if len(got) != 1 || !strings.HasPrefix(got[0].Key, "reply:sms:") {
		t.Fatalf("outbox %+v: want one message keyed reply:<key>", got)
	}
	got[0].Key = ""
	if got[0] != want {
		t.Errorf("outbox:\ngot  %+v\nwant %+v", got[0], want)
	}
}

// Two PIN replies at once, as an impatient person sends them: one reaches
// the wallet and pays the newest request; the older one is not paid.
func TestApprovalsPINsAtOnce(t *testing.T) {
	x := smsHarness(t, func(c *sessions.Config) { c.SMSRateMessages = 100 })
	h := x.h
	second := h.texter(sessions.WalletClient(h.w.Client), func(c *sessions.Config) { c.SMSRateMessages = 100 })
	for round := range 5 {
		alice := h.w.Customer("Alice", pin, 100_000)
		duka := h.shop("Duka La Juma")
		older := duka.request(alice, 10_000, "INV-1")
		newer := duka.request(alice, 15_000, "INV-2")
		replies := make(chan sessions.SMSReply, 2)
		for _, e := range []*texter{x, second} {
			go func() {
				r, err := e.e.SMS(context.Background(), sessions.SMS{Provider: "twilio", ID: newID(), From: alice, Body: pin})
				if err != nil {
					t.Error(err)
				}
				replies <- r
			}()
		}
		for range 2 {
			r := <-replies
			if r.Text != "" && r.Text != render("en", "sms.approvals.answered", map[string]any{"Code": sessions.DefaultServiceCode}) {
				t.Errorf("round %d: reply %+v, want none (the receipt) or sms.approvals.answered", round, r)
			}
		}
		h.checkBalance("alice", alice, 85_000)
		if s := duka.requestStatus(newer.ID); s != merchant.RequestPaid {
			t.Errorf("round %d: the newer request %s, want paid", round, s)
		}
		if s := duka.requestStatus(older.ID); s != merchant.RequestPending {
			t.Errorf("round %d: the older request %s, want pending", round, s)
		}
	}
}

// No PIN in the bucket after approvals on USSD and by SMS, right or wrong.
func TestApprovalsNoPINInState(t *testing.T) {
	x := smsHarness(t, func(c *sessions.Config) { c.SMSRateMessages = 100 })
	h := x.h
	const wrong = "6161"
	alice := h.w.Customer("Alice", pin, 100_000)
	duka := h.shop("Duka La Juma")
	duka.request(alice, 1_000, "INV-1")
	duka.request(alice, 1_000, "INV-2")
	h.dial(alice).say("6", "1", "1", wrong, pin)
	x.send(alice, wrong)
	x.send(alice, pin)
	values := h.states()
	for _, v := range values {
		for _, p := range []string{pin, wrong} {
			if strings.Contains(v, p) {
				t.Errorf("a record holds PIN %s: %s", p, v)
			}
		}
	}
	h.checkBalance("alice", alice, 98_000)
}

// The replies to the approvals keyword fit two SMS parts however many
// approvals wait: the oldest are left out, the newest kept last.
func TestApprovalsListFits(t *testing.T) {
	x := smsHarness(t, func(c *sessions.Config) { c.SMSRateMessages = 100 })
	h := x.h
	alice := h.w.Customer("Alice", pin, 100_000)
	h.setLang(alice, "fr")
	long := h.shop("Wanjiru Nyambura-Odhiambo Kama")
	var last *merchant.PaymentRequest
	for i := range 12 {
		last = long.request(alice, 100_000+int64(i), fmt.Sprintf("INV-%d", i))
	}
	r := x.send(alice, "APPROBATIONS")
	if _, parts := locales.Segments(r.Text); parts > 2 || !locales.IsGSM7(r.Text) {
		t.Errorf("reply of %d parts: %q", parts, r.Text)
	}
	newest := item("fr", "ussd.approvals.item", long.name, last.Amount) + "\n" + render("fr", "sms.approvals.hint", nil)
	if !strings.HasSuffix(r.Text, newest) {
		t.Errorf("reply %q does not end with the newest and the hint", r.Text)
	}
}
