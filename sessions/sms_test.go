package sessions_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

// smsWords are the keywords of each language, as the description of
// sms.help lists them (TestSMSAliases checks the parser's copy).
var smsWords = map[string]map[string]string{
	"en": {"bal": "BAL", "send": "SEND", "pay": "PAY", "bill": "BILL", "airtime": "AIRTIME", "mini": "MINI", "lang": "LANG", "help": "HELP", "no": "NO"},
	"sw": {"bal": "SALIO", "send": "TUMA", "pay": "LIPA", "bill": "BILI", "airtime": "MUDA", "mini": "TAARIFA", "lang": "LUGHA", "help": "MSAADA", "no": "HAPANA"},
	"fr": {"bal": "SOLDE", "send": "ENVOYER", "pay": "PAYER", "bill": "FACTURE", "airtime": "CREDIT", "mini": "RELEVE", "lang": "LANGUE", "help": "AIDE", "no": "NON"},
}

// clock is an engine's clock that a test moves.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// outbox records the messages an engine hands it, as the notifier would
// send them: a Reply is checked as the notifier decodes one, must answer an
// Inbound of its phone, and is rendered from the catalogue.
type outbox struct {
	mu       sync.Mutex
	cat      *locales.Catalog
	inbound  map[string]string // id → phone
	sent     []notify.Message
	refused  []string
	consents map[string]bool
	got      chan struct{}
}

func newOutbox() *outbox {
	cat, err := locales.New()
	if err != nil {
		panic(err)
	}
	return &outbox{cat: cat, inbound: map[string]string{}, got: make(chan struct{}, 16)}
}

func (o *outbox) Inbound(_ context.Context, in notify.Inbound) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.inbound[in.ID]; !ok {
		o.inbound[in.ID] = in.Phone
	}
	return nil
}

func (o *outbox) Reply(_ context.Context, r notify.Reply) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	o.mu.Lock()
	r, err = notify.DecodeReply(data, o.cat)
	var text string
	switch {
	case err != nil:
	case o.inbound[r.Inbound] != r.To:
		err = fmt.Errorf("reply to %s: not the phone of inbound %s", r.To, r.Inbound)
	default:
		text, err = o.cat.RenderWords(r.Language, r.Words)
	}
	if err != nil {
		o.refused = append(o.refused, err.Error())
	} else {
		o.sent = append(o.sent, notify.Message{Key: r.Key(), To: r.To, Language: r.Language, Text: text})
	}
	o.mu.Unlock()
	o.got <- struct{}{}
	return nil
}

func (o *outbox) Consent(_ context.Context, phone string, on bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.consents == nil {
		o.consents = map[string]bool{}
	}
	o.consents[phone] = on
	return nil
}

func (o *outbox) consent(phone string) (on, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	on, ok = o.consents[phone]
	return on, ok
}

func (o *outbox) messages() []notify.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.sent)
}

// refusals are why the notifier would have refused the Replies it did.
func (o *outbox) refusals() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.refused)
}

// texter sends SMS to an engine as one provider's adapter does.
type texter struct {
	h        *harness
	e        *sessions.Engine
	clock    *clock
	provider string
}

// smsHarness is the harness with an SMS engine on its wallet and bucket:
// its own clock, and cfg's changes to the configuration.
func smsHarness(t *testing.T, cfg ...func(*sessions.Config)) *texter {
	t.Helper()
	h := start(t)
	return h.texter(sessions.WalletClient(h.w.Client), cfg...)
}

// texter returns an SMS engine on wal and the harness's bucket, as another
// gateway process would run.
func (h *harness) texter(wal sessions.Wallet, cfg ...func(*sessions.Config)) *texter {
	h.t.Helper()
	x := &texter{h: h, clock: newClock(), provider: "twilio"}
	c := sessions.Config{
		Wallet: wal, Bucket: h.kv, Locales: catalog, Currency: kes, Key: sealKey,
		WalletTimeout: 2 * time.Second, Now: x.clock.Now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, f := range cfg {
		f(&c)
	}
	e, err := sessions.New(c)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { e.Close(context.Background()) })
	x.e = e
	return x
}

var smsN atomic.Int64

// newID is a message id no other call returned, shaped as Twilio's.
func newID() string { return fmt.Sprintf("SM%032d", smsN.Add(1)) }

// send sends body from phone as a new message.
func (x *texter) send(from, body string) sessions.SMSReply {
	x.h.t.Helper()
	return x.sendID(newID(), from, body)
}

// sendID sends body from phone under message id id.
func (x *texter) sendID(id, from, body string) sessions.SMSReply {
	x.h.t.Helper()
	r, err := x.e.SMS(context.Background(), sessions.SMS{Provider: x.provider, ID: id, From: from, To: "22334", Body: body})
	if err != nil {
		x.h.t.Fatalf("sms %q: %v", body, err)
	}
	if _, parts := locales.Segments(r.Text); !locales.IsGSM7(r.Text) || parts > 2 {
		x.h.t.Errorf("reply is not GSM-7 within 2 parts: %q", r.Text)
	}
	return r
}

// reply is the reply rendering message id in lang.
func reply(lang, id string, data map[string]any) sessions.SMSReply {
	return sessions.SMSReply{Text: render(lang, id, data), Language: lang}
}

// checkSMS compares a reply's text and language, and checks that its
// words are the text and a Reply the notifier would send (the reply over
// Africa's Talking).
func (h *harness) checkSMS(what string, got, want sessions.SMSReply) {
	h.t.Helper()
	if got.Text != want.Text || got.Language != want.Language {
		h.t.Errorf("%s:\ngot  %+v\nwant %+v", what, got, want)
	}
	if got.Text == "" {
		return
	}
	checkWords(h.t, what, got)
}

// checkWords checks that r's words render its text and make a Reply the
// notifier accepts.
func checkWords(t *testing.T, what string, r sessions.SMSReply) {
	t.Helper()
	if text, err := catalog.RenderWords(r.Language, r.Words); err != nil || text != r.Text {
		t.Errorf("%s: words %+v render %q, %v; want the reply's text %q", what, r.Words, text, err, r.Text)
	}
	data, err := json.Marshal(notify.Reply{Inbound: "test:1", To: "+254711082300", Language: r.Language, Words: r.Words})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := notify.DecodeReply(data, catalog); err != nil {
		t.Errorf("%s: the notifier would refuse the reply: %v", what, err)
	}
}

func (h *harness) checkBalance(who, phone string, want int64) {
	h.t.Helper()
	if got := h.balance(phone); got != want {
		h.t.Errorf("%s has %d, want %d", who, got, want)
	}
}

// statementText is a mini statement as USSD composes it, from the wallet.
func (h *harness) statementText(lang, phone, pin string) string {
	h.t.Helper()
	s, err := h.w.Client.Statement(context.Background(), wallet.StatementQuery{Phone: phone, PIN: pin, Limit: 5})
	if err != nil {
		h.t.Fatal(err)
	}
	if len(s.Lines) == 0 {
		return render(lang, "ussd.statement.empty", nil)
	}
	text := render(lang, "ussd.statement.title", map[string]any{"Currency": "KES"})
	for _, l := range s.Lines {
		text += "\n" + render(lang, "ussd.statement.line", map[string]any{"Date": l.Created.UTC().Format("02/01"),
			"Ref": l.Ref, "Amount": locales.FormatAmount(lang, kes, l.Amount)})
	}
	return text
}

// Every keyword in every language, with the account in that language: the
// exact replies, and what moved in the ledger.
func TestSMSCommands(t *testing.T) {
	for _, lang := range catalog.Languages() {
		t.Run(lang, func(t *testing.T) {
			x := smsHarness(t, func(c *sessions.Config) { c.SMSRateMessages = 100 })
			h := x.h
			kw := func(verb string) string { return smsWords[lang][verb] }
			customer := func(name string, balance int64) string {
				p := h.w.Customer(name, pin, balance)
				h.setLang(p, lang)
				return p
			}
			flows := []struct {
				name string
				run  func(t *testing.T)
			}{
				{"help", func(t *testing.T) {
					alice := customer("Alice Wanjiru", 0)
					h.checkSMS("help", x.send(alice, kw("help")), reply(lang, "sms.help", nil))
					h.checkSMS("help, lower case", x.send(alice, "  "+strings.ToLower(kw("help"))+"  "), reply(lang, "sms.help", nil))
				}},
				{"balance", func(t *testing.T) {
					alice := customer("Alice Wanjiru", 123_450)
					h.checkSMS("confirm", x.send(alice, kw("bal")), reply(lang, "sms.confirm.balance", map[string]any{"Minutes": 5}))
					h.checkSMS("pin", x.send(alice, pin), reply(lang, "sms.balance", map[string]any{"Balance": money(lang, 123_450)}))
					h.checkSMS("pin again", x.send(alice, pin), reply(lang, "sms.pin.expired", nil))
				}},
				{"mini statement", func(t *testing.T) {
					alice, bob := customer("Alice Wanjiru", 100_000), customer("Bob Otieno", 0)
					h.dial(alice).say("1", bob, "10", "1", pin)
					h.checkSMS("confirm", x.send(alice, strings.ToLower(kw("mini"))), reply(lang, "sms.confirm.mini", map[string]any{"Minutes": 5}))
					fee := h.fee(wallet.TransferSend, 1_000)
					h.checkSMS("pin", x.send(alice, pin), reply(lang, "sms.mini", map[string]any{
						"Statement": h.statementText(lang, alice, pin), "Balance": money(lang, 100_000-1_000-fee)}))
					carol := customer("Carol", 0)
					x.send(carol, kw("mini"))
					h.checkSMS("empty", x.send(carol, pin), reply(lang, "sms.mini", map[string]any{
						"Statement": render(lang, "ussd.statement.empty", nil), "Balance": money(lang, 0)}))
				}},
				{"send money", func(t *testing.T) {
					alice, bob := customer("Alice Wanjiru", 1_000_000), customer("Bob Otieno", 0)
					fee := h.fee(wallet.TransferSend, 50_000)
					h.checkSMS("confirm", x.send(alice, kw("send")+" "+national(bob)+" 500"), reply(lang, "sms.confirm.send", map[string]any{
						"Amount": money(lang, 50_000), "Fee": money(lang, fee), "Minutes": 5, "Name": "Bob Otieno", "Phone": bob}))
					h.checkSMS("pin", x.send(alice, pin), sessions.SMSReply{})
					h.checkBalance("alice", alice, 1_000_000-50_000-fee)
					h.checkBalance("bob", bob, 50_000)
				}},
				{"send money, a phone with spaces and decimals", func(t *testing.T) {
					alice, bob := customer("Alice Wanjiru", 100_000), customer("Bob Otieno", 0)
					spaced := national(bob)[:4] + " " + national(bob)[4:7] + " " + national(bob)[7:]
					got := x.send(alice, strings.ToLower(kw("send"))+" "+spaced+" 10.50")
					h.checkSMS("confirm", got, reply(lang, "sms.confirm.send", map[string]any{
						"Amount": money(lang, 1_050), "Fee": money(lang, h.fee(wallet.TransferSend, 1_050)), "Minutes": 5,
						"Name": "Bob Otieno", "Phone": bob}))
					x.send(alice, pin)
					h.checkBalance("bob", bob, 1_050)
				}},
				{"buy goods", func(t *testing.T) {
					alice := customer("Alice Wanjiru", 100_000)
					till := h.w.Merchant("Duka La Juma", false)
					h.checkSMS("confirm", x.send(alice, kw("pay")+" "+till+" 250"), reply(lang, "sms.confirm.pay", map[string]any{
						"Amount": money(lang, 25_000), "Minutes": 5, "Name": "Duka La Juma", "Number": till}))
					h.checkSMS("pin", x.send(alice, pin), sessions.SMSReply{})
					h.checkBalance("alice", alice, 75_000)
					if b := h.balance(till); b <= 0 || b > 25_000 {
						t.Errorf("till holds %d, want 25000 less its fee", b)
					}
				}},
				{"pay bill", func(t *testing.T) {
					alice := customer("Alice Wanjiru", 100_000)
					biz := h.w.Merchant("Kenya Power", true)
					h.checkSMS("confirm", x.send(alice, kw("bill")+" "+biz+" ACC 778 300"), reply(lang, "sms.confirm.bill", map[string]any{
						"Amount": money(lang, 30_000), "Minutes": 5, "Name": "Kenya Power", "Number": biz, "Account": "ACC 778"}))
					h.checkSMS("pin", x.send(alice, pin), sessions.SMSReply{})
					h.checkBalance("alice", alice, 70_000)
					s, err := h.w.Client.Statement(context.Background(), wallet.StatementQuery{Phone: alice, PIN: pin, Limit: 1})
					if err != nil || len(s.Lines) != 1 || s.Lines[0].Kind != wallet.TransferPaybill {
						t.Errorf("statement %+v, %v: want the bill payment", s, err)
					}
				}},
				{"airtime for my phone", func(t *testing.T) {
					alice := customer("Alice Wanjiru", 100_000)
					fee := h.fee(wallet.TransferAirtime, 5_000)
					h.checkSMS("confirm", x.send(alice, kw("airtime")+" 50"), reply(lang, "sms.confirm.airtime", map[string]any{
						"Amount": money(lang, 5_000), "Fee": money(lang, fee), "Minutes": 5, "Phone": alice}))
					h.checkSMS("pin", x.send(alice, pin), sessions.SMSReply{})
					h.checkBalance("alice", alice, 95_000-fee)
				}},
				{"airtime for another phone", func(t *testing.T) {
					alice := customer("Alice Wanjiru", 100_000)
					fee := h.fee(wallet.TransferAirtime, 2_000)
					h.checkSMS("confirm", x.send(alice, kw("airtime")+" 0722000111 20"), reply(lang, "sms.confirm.airtime", map[string]any{
						"Amount": money(lang, 2_000), "Fee": money(lang, fee), "Minutes": 5, "Phone": "+254722000111"}))
					h.checkSMS("pin", x.send(alice, pin), sessions.SMSReply{})
					h.checkBalance("alice", alice, 98_000-fee)
				}},
				{"cancel", func(t *testing.T) {
					alice, bob := customer("Alice Wanjiru", 100_000), customer("Bob Otieno", 0)
					x.send(alice, kw("send")+" "+bob+" 10")
					h.checkSMS("no", x.send(alice, strings.ToLower(kw("no"))), reply(lang, "sms.cancelled", nil))
					h.checkSMS("pin after", x.send(alice, pin), reply(lang, "sms.pin.expired", nil))
					h.checkSMS("no again", x.send(alice, kw("no")), reply(lang, "sms.pin.expired", nil))
					h.checkBalance("bob", bob, 0)
				}},
				{"language", func(t *testing.T) {
					alice := customer("Alice Wanjiru", 0)
					for _, to := range catalog.Languages() {
						h.checkSMS("lang "+to, x.send(alice, kw("lang")+" "+strings.ToUpper(to)), reply(to, "sms.lang.done", nil))
						h.checkSMS("help after", x.send(alice, smsWords[to]["help"]), reply(to, "sms.help", nil))
						h.setLang(alice, lang)
					}
					h.checkSMS("unknown language", x.send(alice, kw("lang")+" de"), reply(lang, "sms.malformed", map[string]any{
						"Usage": render(lang, "sms.usage.lang", nil)}))
				}},
				{"unknown keyword", func(t *testing.T) {
					alice := customer("Alice Wanjiru", 0)
					h.checkSMS("unknown", x.send(alice, "HELLO there"), reply(lang, "sms.unknown", nil))
					h.checkSMS("empty", x.send(alice, " \n"), reply(lang, "sms.unknown", nil))
				}},
				{"malformed", func(t *testing.T) {
					alice := customer("Alice Wanjiru", 100_000)
					till := h.w.Merchant("Duka La Juma", false)
					for _, c := range []struct{ verb, args string }{
						{"send", ""}, {"send", "0722000111"}, {"send", "0722000111 1,000"}, {"send", "12 500"},
						{"send", "0722000111 500 " + pin}, {"send", "0722000111 0"},
						{"pay", till}, {"pay", "12a 50"}, {"pay", till + " 50 " + pin},
						{"bill", "888880 500"}, {"bill", "88888x ACC 500"},
						{"airtime", ""}, {"airtime", "-5"}, {"airtime", "12 50"},
						{"lang", ""}, {"lang", "en sw"},
					} {
						want := reply(lang, "sms.malformed", map[string]any{"Usage": render(lang, "sms.usage."+c.verb, nil)})
						h.checkSMS(c.verb+" "+c.args, x.send(alice, kw(c.verb)+" "+c.args), want)
					}
					h.checkSMS("no command awaits", x.send(alice, pin), reply(lang, "sms.pin.expired", nil))
					h.checkBalance("alice", alice, 100_000)
				}},
			}
			for _, f := range flows {
				t.Run(f.name, f.run)
			}
		})
	}
}

// A keyword of another language than the account's is understood, and
// answered in the account's language; a phone without an account is
// answered in English.
func TestSMSLanguages(t *testing.T) {
	x := smsHarness(t, func(c *sessions.Config) { c.Outbox = newOutbox() })
	h := x.h
	alice := h.w.Customer("Alice Wanjiru", pin, 0)
	h.setLang(alice, "fr")
	h.checkSMS("sw keyword, fr account", x.send(alice, "Msaada"), reply("fr", "sms.help", nil))
	h.checkSMS("relevé", x.send(alice, "Relevé"), reply("fr", "sms.confirm.mini", map[string]any{"Minutes": 5}))
	stranger := wallettest.NewPhone()
	h.checkSMS("help", x.send(stranger, "MSAADA"), reply("en", "sms.help", nil))
	h.checkSMS("unknown", x.send(stranger, "hello"), reply("en", "sms.unknown", nil))
	for _, body := range []string{"BAL", "TUMA 0722000111 50", pin, "NO", "LANG sw"} {
		h.checkSMS(body, x.send(stranger, body), reply("en", "sms.not_registered", map[string]any{"Code": "*334#"}))
	}
	h.checkSMS("stop", x.send(stranger, "STOP"), reply("en", "sms.stop", nil))
	h.checkSMS("start", x.send(stranger, "START"), reply("en", "sms.start", nil))

	y := h.texter(sessions.WalletClient(h.w.Client), func(c *sessions.Config) { c.ServiceCode = "*384*123#" })
	h.checkSMS("service code", y.send(wallettest.NewPhone(), "BAL"), reply("en", "sms.not_registered", map[string]any{"Code": "*384*123#"}))
}

// Refusals: each a reply in words, as the USSD screen says it, and nothing
// moved.
func TestSMSRefusals(t *testing.T) {
	x := smsHarness(t)
	h := x.h
	ctx := context.Background()
	cases := []struct {
		name string
		run  func(alice, bob string) (got, want sessions.SMSReply)
	}{
		{"insufficient funds", func(alice, bob string) (got, want sessions.SMSReply) {
			return x.sendAll(alice, "SEND "+bob+" 5000", pin),
				reply("en", "error.insufficient_funds.balance", map[string]any{"Balance": money("en", 100_000)})
		}},
		{"over the per-transaction limit", func(alice, bob string) (got, want sessions.SMSReply) {
			return x.send(alice, "SEND "+bob+" 250001"), reply("en", "error.limit_exceeded.per_transaction", nil)
		}},
		{"unknown recipient", func(alice, _ string) (got, want sessions.SMSReply) {
			return x.send(alice, "SEND 0799999999 10"), reply("en", "error.not_found.recipient", map[string]any{"Phone": "+254799999999"})
		}},
		{"an agent's phone as recipient", func(alice, _ string) (got, want sessions.SMSReply) {
			agent, _ := h.w.Agent("Duka Moja", "1357", 0)
			return x.send(alice, "SEND "+agent+" 10"), reply("en", "error.not_found.recipient", map[string]any{"Phone": agent})
		}},
		{"to oneself", func(alice, _ string) (got, want sessions.SMSReply) {
			return x.send(alice, "SEND "+national(alice)+" 10"), reply("en", "error.same_account", nil)
		}},
		{"unknown till", func(alice, _ string) (got, want sessions.SMSReply) {
			return x.send(alice, "PAY 999999 10"), reply("en", "error.not_found.till", map[string]any{"Till": "999999"})
		}},
		{"a business number as till", func(alice, _ string) (got, want sessions.SMSReply) {
			biz := h.w.Merchant("Kenya Power", true)
			return x.send(alice, "PAY "+biz+" 10"), reply("en", "error.not_found.till", map[string]any{"Till": biz})
		}},
		{"unknown business", func(alice, _ string) (got, want sessions.SMSReply) {
			return x.send(alice, "BILL 999999 A1 10"), reply("en", "error.not_found.business", map[string]any{"Business": "999999"})
		}},
		{"PIN of the wrong length", func(alice, bob string) (got, want sessions.SMSReply) {
			return x.sendAll(alice, "SEND "+bob+" 10", "12"), reply("en", "ussd.invalid.pin_format", map[string]any{"Digits": 4})
		}},
		{"expired confirmation", func(alice, bob string) (got, want sessions.SMSReply) {
			x.send(alice, "SEND "+bob+" 10")
			x.clock.advance(5*time.Minute + time.Second)
			return x.send(alice, pin), reply("en", "sms.pin.expired", nil)
		}},
		{"a later command replaces the first", func(alice, bob string) (got, want sessions.SMSReply) {
			x.send(alice, "SEND "+bob+" 10")
			x.send(alice, "BAL")
			return x.send(alice, pin), reply("en", "sms.balance", map[string]any{"Balance": money("en", 100_000)})
		}},
		{"an agent sends money", func(_, bob string) (got, want sessions.SMSReply) {
			agent, _ := h.w.Agent("Duka Moja", "1357", 0)
			return x.send(agent, "SEND "+bob+" 10"), reply("en", "error.wrong_kind", nil)
		}},
		{"an agent's float", func(_, _ string) (got, want sessions.SMSReply) {
			agent, _ := h.w.Agent("Duka Moja", "1357", 5_000)
			return x.sendAll(agent, "BAL", "1357"), reply("en", "sms.balance", map[string]any{"Balance": money("en", 5_000)})
		}},
		{"an agent without a PIN", func(_, _ string) (got, want sessions.SMSReply) {
			agent, _ := h.w.Agent("Duka Moja", "", 0)
			return x.send(agent, "BAL"), reply("en", "error.pin_not_set", nil)
		}},
		{"frozen account", func(alice, bob string) (got, want sessions.SMSReply) {
			if _, err := h.w.Client.SetStatus(ctx, alice, wallet.StatusFrozen); err != nil {
				t.Fatal(err)
			}
			return x.send(alice, "SEND "+bob+" 10"), reply("en", "error.account_frozen", nil)
		}},
		{"frozen after the confirmation", func(alice, bob string) (got, want sessions.SMSReply) {
			x.send(alice, "SEND "+bob+" 10")
			if _, err := h.w.Client.SetStatus(ctx, alice, wallet.StatusFrozen); err != nil {
				t.Fatal(err)
			}
			return x.send(alice, pin), reply("en", "error.account_frozen", nil)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)
			got, want := c.run(alice, bob)
			h.checkSMS(c.name, got, want)
			h.checkBalance("alice", alice, 100_000)
			h.checkBalance("bob", bob, 0)
		})
	}
}

// sendAll sends each body in turn from phone and returns the last reply.
func (x *texter) sendAll(from string, bodies ...string) sessions.SMSReply {
	x.h.t.Helper()
	var r sessions.SMSReply
	for _, b := range bodies {
		r = x.send(from, b)
	}
	return r
}

// A wrong PIN says how many tries are left and the confirmation still
// stands; the right one then pays once. Three wrong ones lock the PIN, as
// on USSD, and end the confirmation.
func TestSMSWrongPIN(t *testing.T) {
	x := smsHarness(t)
	h := x.h
	t.Run("then the right one", func(t *testing.T) {
		alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)
		x.send(alice, "SEND "+bob+" 10")
		h.checkSMS("wrong", x.send(alice, "9999"), reply("en", "error.pin_invalid.tries_left", map[string]any{"Count": 2}))
		h.checkSMS("right", x.send(alice, pin), sessions.SMSReply{})
		h.checkSMS("right again", x.send(alice, pin), reply("en", "sms.pin.expired", nil))
		h.checkBalance("bob", bob, 1_000)
	})
	t.Run("thrice", func(t *testing.T) {
		alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)
		x.send(alice, "PAY "+h.w.Merchant("Duka", false)+" 10")
		for left := 2; left >= 1; left-- {
			h.checkSMS("wrong", x.send(alice, "9999"), reply("en", "error.pin_invalid.tries_left", map[string]any{"Count": left}))
		}
		h.checkSMS("third", x.send(alice, "9999"), reply("en", "error.pin_locked", nil))
		h.checkSMS("right after", x.send(alice, pin), reply("en", "sms.pin.expired", nil))
		h.checkSMS("next command", x.send(alice, "SEND "+bob+" 10"), reply("en", "error.pin_locked", nil))
		h.checkBalance("alice", alice, 100_000)
	})
}

// A provider's repeat of a message (the same id) gets the first reply and
// does nothing again; two PIN replies, in turn or at once, and through two
// gateways, pay once.
func TestSMSRepeats(t *testing.T) {
	x := smsHarness(t, func(c *sessions.Config) { c.SMSRateMessages = 100 })
	h := x.h
	t.Run("same id", func(t *testing.T) {
		alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)
		id := newID()
		first := x.sendID(id, alice, "SEND "+bob+" 10")
		h.checkSMS("command again", x.sendID(id, alice, "SEND "+bob+" 10"), first)
		pinID := newID()
		h.checkSMS("pin", x.sendID(pinID, alice, pin), sessions.SMSReply{})
		for range 3 {
			h.checkSMS("pin again", x.sendID(pinID, alice, pin), sessions.SMSReply{})
		}
		h.checkBalance("bob", bob, 1_000)
		balID := newID()
		x.send(alice, "BAL")
		bal := x.sendID(balID, alice, pin)
		h.checkSMS("balance again", x.sendID(balID, alice, pin), bal)
		// A retried id whose first reply was a wrong PIN counts no new try.
		x.send(alice, "BAL")
		wrongID := newID()
		wrong := x.sendID(wrongID, alice, "9999")
		h.checkSMS("wrong again", x.sendID(wrongID, alice, "9999"), wrong)
		h.checkSMS("wrong, second", x.send(alice, "9999"), reply("en", "error.pin_invalid.tries_left", map[string]any{"Count": 1}))
	})
	t.Run("same id, another sender", func(t *testing.T) {
		alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)
		id := newID()
		x.sendID(id, alice, "HELP")
		_, err := x.e.SMS(context.Background(), sessions.SMS{Provider: "twilio", ID: id, From: bob, Body: "HELP"})
		if !errors.Is(err, sessions.ErrBadSMS) {
			t.Errorf("got %v, want ErrBadSMS", err)
		}
		other := *x
		other.provider = "africastalking"
		h.checkSMS("the same id from another provider", other.sendID(id, bob, "HELP"), reply("en", "sms.help", nil))
	})
	t.Run("two PIN replies", func(t *testing.T) {
		alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)
		x.send(alice, "SEND "+bob+" 10")
		x.send(alice, pin)
		h.checkSMS("second", x.send(alice, pin), reply("en", "sms.pin.expired", nil))
		h.checkBalance("bob", bob, 1_000)
	})
	t.Run("at once, two gateways", func(t *testing.T) {
		y := h.texter(sessions.WalletClient(h.w.Client))
		for round := range 4 {
			alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)
			x.send(alice, "SEND "+bob+" 10")
			ids := []string{newID(), newID()}
			if round%2 == 1 {
				ids[1] = ids[0] // the same message delivered to both
			}
			replies := make([]sessions.SMSReply, 2)
			var wg sync.WaitGroup
			for i, e := range []*sessions.Engine{x.e, y.e} {
				wg.Go(func() {
					r, err := e.SMS(context.Background(), sessions.SMS{Provider: "twilio", ID: ids[i], From: alice, Body: pin})
					if err != nil {
						t.Error(err)
					}
					replies[i] = r
				})
			}
			wg.Wait()
			for _, r := range replies {
				if r.Text != "" && (r.Language != "en" || r.Text != render("en", "sms.pin.expired", nil)) {
					t.Errorf("round %d: reply %+v, want none (the receipt) or pin.expired", round, r)
				}
			}
			h.checkBalance("bob", bob, 1_000)
		}
	})
}

// The rate limit: SMSRateMessages answered in a window, then one
// sms.rate_limited, then silence, and nothing done, until the window moves.
func TestSMSRateLimit(t *testing.T) {
	x := smsHarness(t, func(c *sessions.Config) { c.SMSRateMessages = 3 })
	h := x.h
	alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)
	h.setLang(alice, "sw")
	for i := range 3 {
		h.checkSMS(fmt.Sprint("help ", i), x.send(alice, "HELP"), reply("sw", "sms.help", nil))
		x.clock.advance(time.Minute)
	}
	h.checkSMS("over", x.send(alice, "HELP"), reply("sw", "sms.rate_limited", nil))
	h.checkSMS("silent", x.send(alice, "SEND "+bob+" 10"), sessions.SMSReply{})
	h.checkSMS("silent pin", x.send(alice, pin), sessions.SMSReply{})
	h.checkSMS("other phones", x.send(bob, "HELP"), reply("en", "sms.help", nil))
	x.clock.advance(7*time.Minute + time.Second) // the first message leaves the window
	h.checkSMS("pin, the command was never taken", x.send(alice, pin), reply("sw", "sms.pin.expired", nil))
	h.checkSMS("over again", x.send(alice, "HELP"), reply("sw", "sms.rate_limited", nil))
	h.checkBalance("bob", bob, 0)
	stranger := wallettest.NewPhone()
	for range 3 {
		x.send(stranger, "HELLO")
	}
	h.checkSMS("stranger over", x.send(stranger, "HELLO"), reply("en", "sms.rate_limited", nil))
	h.checkSMS("stranger silent", x.send(stranger, "HELLO"), sessions.SMSReply{})
}

// Messages an engine refuses with ErrBadSMS, before recording anything.
func TestBadSMS(t *testing.T) {
	x := smsHarness(t)
	alice := x.h.w.Customer("Alice", pin, 0)
	for _, m := range []sessions.SMS{
		{Provider: "twilio", ID: "", From: alice, Body: "HELP"},
		{Provider: "", ID: "SM1", From: alice, Body: "HELP"},
		{Provider: "Twilio Inc", ID: "SM1", From: alice, Body: "HELP"},
		{Provider: "twilio", ID: strings.Repeat("x", 65), From: alice, Body: "HELP"},
		{Provider: "twilio", ID: "SM1", From: "KIBUBU", Body: "HELP"},
		{Provider: "twilio", ID: "SM1", From: "", Body: "HELP"},
		{Provider: "twilio", ID: "SM1", From: alice, Body: strings.Repeat("a", 1601)},
		{Provider: "twilio", ID: "SM1", From: alice, Body: strings.Repeat("é", 1601)},
	} {
		if _, err := x.e.SMS(context.Background(), m); !errors.Is(err, sessions.ErrBadSMS) {
			t.Errorf("%.80v: got %v, want ErrBadSMS", m, err)
		}
	}
	if keys := x.h.states(); len(keys) != 0 {
		t.Errorf("refused messages left %d records", len(keys))
	}
	x.h.checkSMS("1600 characters", x.send(alice, "HELP "+strings.Repeat("é", 1595)), reply("en", "sms.help", nil))
}

// No PIN in the bucket after every kind of flow: not a PIN reply's, right
// or wrong, nor a PIN typed into a command.
func TestSMSNoPINInBucket(t *testing.T) {
	x := smsHarness(t, func(c *sessions.Config) { c.SMSRateMessages = 100 })
	h := x.h
	const wrong = "6161"
	alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)
	till, biz := h.w.Merchant("Duka", false), h.w.Merchant("Kenya Power", true)
	for _, bodies := range [][]string{
		{"SEND " + bob + " 10", wrong, pin},
		{"PAY " + till + " 10", pin},
		{"BILL " + biz + " A1 10", pin},
		{"AIRTIME 10", pin},
		{"BAL", pin},
		{"MINI", pin},
		{"SEND " + bob + " 10 " + pin},
		{"my pin is " + pin},
		{"BAL", "NO", pin},
	} {
		x.sendAll(alice, bodies...)
	}
	values := h.states()
	if len(values) < 10 {
		t.Fatalf("%d records: the scan sees too little", len(values))
	}
	for _, v := range values {
		for _, p := range []string{pin, wrong} {
			if strings.Contains(v, p) {
				t.Errorf("a record holds PIN %s: %s", p, v)
			}
		}
	}
}

// A money step that answered "pending" and then failed reaches the person
// by SMS, worded as the USSD screen would, in the account's language; one
// that went through sends nothing (its receipt comes from the wallet's
// event). An SMS PIN reply to a slow wallet is pending in the same way.
func TestPendingOutcomeBySMS(t *testing.T) {
	h := start(t)
	ob := newOutbox()
	slow := slowWallet{Wallet: sessions.WalletClient(h.w.Client), delay: make(chan struct{})}
	resolved := make(chan sessions.Resolution, 2)
	x := h.texter(slow, func(c *sessions.Config) {
		c.Outbox, c.Resolved, c.WalletTimeout = ob, func(r sessions.Resolution) { resolved <- r }, 500*time.Millisecond
	})

	alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)
	h.setLang(alice, "sw")
	c := h.dial(alice)
	c.e = x.e
	c.say("1", bob, "5000", "1")
	h.check("pending", c.say(pin), end("sw", "ussd.pending", nil))

	carol := h.w.Customer("Carol", pin, 100_000)
	x.send(carol, "SEND "+bob+" 10")
	h.checkSMS("sms pending", x.send(carol, pin), reply("en", "ussd.pending", nil))
	h.checkSMS("pin again", x.send(carol, pin), reply("en", "sms.pin.expired", nil))

	close(slow.delay)
	for range 2 {
		select {
		case r := <-resolved:
			if r.Request.PIN != "" {
				t.Errorf("resolution %+v has the PIN", r)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the pending transfers were never resolved")
		}
	}
	got := ob.messages()
	want := notify.Message{To: alice, Language: "sw", Text: render("sw", "error.insufficient_funds.balance",
		map[string]any{"Balance": money("sw", 100_000)})}
	if r := ob.refusals(); len(r) > 0 {
		t.Errorf("the notifier would refuse: %v", r)
	}
	if len(got) != 1 || !strings.HasPrefix(got[0].Key, "reply:ussd:") {
		t.Fatalf("outbox %+v: want one message keyed reply:<key>", got)
	}
	got[0].Key = ""
	if got[0] != want {
		t.Errorf("outbox:\ngot  %+v\nwant %+v", got[0], want)
	}
	h.checkBalance("alice", alice, 100_000)
	h.checkBalance("bob", bob, 1_000)
}

// The SMS settings New refuses.
func TestSMSConfig(t *testing.T) {
	h := start(t)
	for name, f := range map[string]func(*sessions.Config){
		"long service code":      func(c *sessions.Config) { c.ServiceCode = "*384*1234567#" },
		"service code not GSM-7": func(c *sessions.Config) { c.ServiceCode = "*334#ï" },
		"rate limit over 100":    func(c *sessions.Config) { c.SMSRateMessages = 101 },
		"negative rate limit":    func(c *sessions.Config) { c.SMSRateMessages = -1 },
		"rate window over a day": func(c *sessions.Config) { c.SMSRateWindow = 25 * time.Hour },
	} {
		c := sessions.Config{Wallet: sessions.WalletClient(h.w.Client), Bucket: h.kv, Locales: catalog, Currency: kes, Key: sealKey}
		f(&c)
		if _, err := sessions.New(c); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// STOP and START record the phone's promotional consent with the
// notifier, in any language of the account, and from a phone without one.
func TestSMSStopStart(t *testing.T) {
	h := start(t)
	ob := newOutbox()
	x := h.texter(sessions.WalletClient(h.w.Client), func(c *sessions.Config) { c.Outbox = ob })
	for _, lang := range catalog.Languages() {
		alice := h.w.Customer("Alice", pin, 0)
		h.setLang(alice, lang)
		h.checkSMS(lang+" stop", x.send(alice, "stop"), reply(lang, "sms.stop", nil))
		if on, ok := ob.consent(alice); !ok || on {
			t.Errorf("%s: after STOP promotions %v (set %v), want off", lang, on, ok)
		}
		h.checkSMS(lang+" start", x.send(alice, "START"), reply(lang, "sms.start", nil))
		if on, _ := ob.consent(alice); !on {
			t.Errorf("%s: after START promotions off, want on", lang)
		}
	}
	stranger := wallettest.NewPhone()
	h.checkSMS("stranger", x.send(stranger, "STOP"), reply("en", "sms.stop", nil))
	if on, ok := ob.consent(stranger); !ok || on {
		t.Errorf("a phone without an account: STOP recorded %v (%v), want off", on, ok)
	}
	none := h.texter(sessions.WalletClient(h.w.Client))
	h.checkSMS("no notifier", none.send(stranger, "START"), reply("en", "error.unavailable", nil))
}
