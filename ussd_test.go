package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kibubu/kibubu/deploy/natsserver"
	"github.com/kibubu/kibubu/gateway/aggregator"
	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// The USSD gateway end to end, on the embedded default: a person with a
// feature phone (kibubu dial, or an aggregator's raw requests) against
// kibubu serve.

var testCatalog = func() *locales.Catalog {
	c, err := locales.New()
	if err != nil {
		panic(err)
	}
	return c
}()

// dial runs kibubu dial against the server on cfg's data dir, typing
// inputs, and returns what the phone showed.
func dial(t *testing.T, data, phone, lang string, inputs ...string) string {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{"--data", data, "--phone", phone, "*334#"}
	if lang != "" {
		args = append([]string{"--lang", lang}, args...)
	}
	if err := aggregator.Dial(ctx, args, DefaultConfig().Data, strings.NewReader(strings.Join(inputs, "\n")+"\n"), &out); err != nil {
		t.Fatalf("dial %v: %v\n%s", inputs, err, out.String())
	}
	return out.String()
}

// shows reports whether the dial output shows text, which the simulator
// wraps inside its frame: compare words.
func shows(out, text string) bool {
	frame := strings.NewReplacer("|", " ", "+", " ", "-", " ").Replace(out)
	return strings.Contains(strings.Join(strings.Fields(frame), " "), strings.Join(strings.Fields(strings.NewReplacer("+", " ", "-", " ").Replace(text)), " "))
}

func render(lang, id string, data map[string]any) string { return testCatalog.Render(lang, id, data) }

// The README's quick tour in every language: a new phone registers, an
// agent sets its PIN and deposits cash, the customer sends money and checks
// the balance; every screen in the customer's language.
func TestUSSDTour(t *testing.T) {
	cfg, m, agent, startKey := serveWithAgent(t)
	if _, err := cli(t, "float", "issue", "--data", cfg.Data, "--agent", agent, "--amount", "50000", "--ref", "BANK-1"); err != nil {
		t.Fatal(err)
	}
	c := natsapi.NewClient(m.Conn(), 0, testOperator)
	kes, _ := wallet.LookupCurrency("KES")
	out := dial(t, cfg.Data, "0712000001", "", startKey, "2468", "2468")
	if !shows(out, render("en", "ussd.pin.start_key", map[string]any{"Name": "Duka", "Digits": wallet.StartKeyDigits})) ||
		!shows(out, render("en", "ussd.pin.set", nil)) {
		t.Fatalf("agent's first dial, with the start key agent add printed:\n%s", out)
	}
	for i, lang := range testCatalog.Languages() {
		t.Run(lang, func(t *testing.T) {
			jane, bob := fmt.Sprintf("07220000%02d", i), fmt.Sprintf("07330000%02d", i)
			out := dial(t, cfg.Data, jane, lang, "1", "Jane", "Doe", "3907", "3907")
			if !shows(out, render(lang, "ussd.main.unregistered", nil)) || !shows(out, render(lang, "ussd.register.done", map[string]any{"Name": "Jane Doe"})) {
				t.Fatalf("registration in %s:\n%s", lang, out)
			}
			dial(t, cfg.Data, bob, lang, "1", "Bob", "Otieno", "4826", "4826")

			out = dial(t, cfg.Data, "0712000001", "", "1", jane, "1000", "1", "2468")
			if !shows(out, "deposited to Jane Doe") {
				t.Fatalf("deposit:\n%s", out)
			}
			fee, err := c.Quote(context.Background(), wallet.TransferSend, 25_000)
			if err != nil {
				t.Fatal(err)
			}
			out = dial(t, cfg.Data, jane, "", "1", bob, "250", "1", "3907")
			if !shows(out, render(lang, "ussd.send.confirm", map[string]any{"Amount": locales.FormatMoney(lang, kes, 25_000),
				"Name": "Bob Otieno", "Phone": "+254" + bob[1:], "Fee": locales.FormatMoney(lang, kes, fee.Fee)})) {
				t.Fatalf("send confirmation in %s:\n%s", lang, out)
			}
			balance := 100_000 - 25_000 - fee.Fee
			out = dial(t, cfg.Data, jane, "", "5", "1", "3907")
			if !shows(out, render(lang, "ussd.account.balance", map[string]any{"Balance": locales.FormatMoney(lang, kes, balance)})) {
				t.Fatalf("balance in %s:\n%s", lang, out)
			}
			if a, err := c.Show(context.Background(), bob); err != nil || a.Balance != 25_000 || a.Language != lang {
				t.Fatalf("bob %+v, %v: want KES 250.00 and language %s", a, err, lang)
			}
		})
	}
	report, err := c.Check(context.Background())
	if err != nil || len(report.Violations) > 0 {
		t.Fatalf("ledger check %+v, %v", report, err)
	}
}

var hopN atomic.Int64

// rawPhone speaks one aggregator's raw protocol to a server.
type rawPhone struct {
	t     *testing.T
	name  string
	base  string // the server's URL
	id    string
	phone string
	text  []string
	seq   int
}

func newAggregator(t *testing.T, name, base, phone string) *rawPhone {
	return &rawPhone{t: t, name: name, base: base, phone: phone, id: fmt.Sprintf("%s-%d-%d", name, time.Now().UnixNano(), hopN.Add(1))}
}

// hop sends input ("" and first: the session start) and returns the screen
// and whether it ends the session.
func (a *rawPhone) hop(input string) (string, bool) {
	a.t.Helper()
	h := sessions.Hop{Aggregator: a.name, SessionID: a.id, Phone: a.phone, ServiceCode: "*334#", Input: input}
	if len(a.text) == 0 && input == "" && a.seq == 0 {
		h.New = true
	} else {
		a.text = append(a.text, input)
	}
	a.seq++
	h.Seq = a.seq
	h.History = strings.Join(a.text, "*")
	if a.name != "africastalking" {
		h.Phone = strings.TrimPrefix(a.phone, "+") // Hubtel and Nalo send the number without +
	}
	s, err := (&aggregator.Client{Base: a.base}).Hop(context.Background(), h)
	if err != nil {
		a.t.Fatalf("%s hop %q: %v", a.name, input, err)
	}
	return s.Text, s.End
}

func (a *rawPhone) say(inputs ...string) (string, bool) {
	a.t.Helper()
	var s string
	var end bool
	for _, in := range inputs {
		s, end = a.hop(in)
	}
	return s, end
}

// registered opens a customer with PIN 3907 and, if amount > 0, deposits it
// from the agent (phone 0712000001, PIN 2468).
func registered(t *testing.T, c *natsapi.Client, phone string, amount int64) {
	t.Helper()
	ctx := context.Background()
	a, err := c.Register(ctx, natsapi.RegisterRequest{Phone: phone, Name: "Customer " + phone[len(phone)-4:], Tier: wallet.TierFull})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetPINWithStartKey(ctx, phone, a.StartKey, "3907"); err != nil {
		t.Fatal(err)
	}
	if amount > 0 {
		if _, err := c.Transfer(ctx, wallet.TransferRequest{Key: "fund:" + phone, Kind: wallet.TransferDeposit, From: "0712000001", To: phone, Amount: amount, PIN: "2468"}); err != nil {
			t.Fatal(err)
		}
	}
}

// The same send through each aggregator's protocol, a final hop delivered
// twice, and a session that moves to a second gateway process (kibubu
// gateway on the server's NATS) between hops.
func TestUSSDAggregatorsAndGateways(t *testing.T) {
	cfg, m, agent, startKey := serveWithAgent(t)
	if _, err := cli(t, "float", "issue", "--data", cfg.Data, "--agent", agent, "--amount", "50000", "--ref", "BANK-1"); err != nil {
		t.Fatal(err)
	}
	c := natsapi.NewClient(m.Conn(), 0, testOperator)
	if _, err := c.SetPINWithStartKey(context.Background(), "0712000001", startKey, "2468"); err != nil {
		t.Fatal(err)
	}
	base := "http://" + m.HTTPAddr()
	balance := func(phone string) int64 {
		a, err := c.Show(context.Background(), phone)
		if err != nil {
			t.Fatal(err)
		}
		return a.Balance
	}
	for i, name := range []string{"africastalking", "hubtel", "nalo"} {
		t.Run(name, func(t *testing.T) {
			alice, bob := fmt.Sprintf("+25472100%04d", i), fmt.Sprintf("+25473100%04d", i)
			registered(t, c, alice, 100_000)
			registered(t, c, bob, 0)
			a := newAggregator(t, name, base, alice)
			if s, end := a.hop(""); end || s != render("en", "ussd.main.customer", nil) {
				t.Fatalf("first screen %q (end %v)", s, end)
			}
			s, end := a.say("1", "0"+bob[4:], "10", "1", "3907")
			if !end || !strings.Contains(s, "sent to Customer") {
				t.Fatalf("send ended %q (end %v)", s, end)
			}
			if b := balance(bob); b != 1_000 {
				t.Errorf("bob has %d, want 1000", b)
			}
		})
	}

	t.Run("final hop twice", func(t *testing.T) {
		alice, bob := "+254721009001", "+254731009001"
		registered(t, c, alice, 100_000)
		registered(t, c, bob, 0)
		a := newAggregator(t, "africastalking", base, alice)
		a.say("", "1", bob, "10", "1")
		first, _ := a.hop("3907")
		a.text = a.text[:len(a.text)-1] // the aggregator resends the same text
		again, end := a.hop("3907")
		if again != first || !end {
			t.Errorf("repeated final hop: %q, first %q", again, first)
		}
		if b := balance(bob); b != 1_000 {
			t.Errorf("bob has %d after a final hop sent twice, want 1000", b)
		}
	})

	t.Run("second gateway", func(t *testing.T) {
		info, err := natsserver.ReadInfo(cfg.Data)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(info.URL)
		u.User = url.UserPassword(info.User, info.Password)
		gc := testConfig(t, "")
		gc.NATS = u.String()
		gc.SessionKeyFile = cfg.Data + "/session.key" // every gateway shares the key
		g := startMain(t, &Main{Config: gc, Role: RoleGateway})
		if g.store != nil {
			t.Fatal("the gateway opened a database")
		}
		alice, bob := "+254721009002", "+254731009002"
		registered(t, c, alice, 100_000)
		registered(t, c, bob, 0)
		a := newAggregator(t, "africastalking", base, alice)
		a.say("", "1", bob)
		a.base = "http://" + g.HTTPAddr()
		if s, _ := a.hop("10"); !strings.Contains(s, "Send ") {
			t.Fatalf("confirmation on the second gateway: %q", s)
		}
		a.base = base
		if s, end := a.say("1", "3907"); !end || !strings.Contains(s, "confirmed") {
			t.Fatalf("back on the first: %q", s)
		}
		if b := balance(bob); b != 1_000 {
			t.Errorf("bob has %d, want 1000", b)
		}
	})
}
