package sessions_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

func errLine(lang, id string, data map[string]any, screen string, sdata map[string]any) sessions.Screen {
	return sessions.Screen{Text: render(lang, id, data) + "\n" + render(lang, screen, sdata) + nav(lang)}
}

// Refusals and bad input: each a clear screen, and nothing moved.
func TestRefusals(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	type tc struct {
		name   string
		inputs func(alice, bob string) []string
		want   func(alice, bob string) sessions.Screen
	}
	cases := []tc{
		{"insufficient funds", func(_, bob string) []string { return []string{"1", bob, "5000", "1", pin} },
			func(_, _ string) sessions.Screen {
				return end("en", "error.insufficient_funds.balance", map[string]any{"Balance": money("en", 100_000)})
			}},
		{"over the per-transaction limit", func(_, bob string) []string { return []string{"1", bob, "250001"} },
			func(_, _ string) sessions.Screen { return end("en", "error.limit_exceeded.per_transaction", nil) }},
		{"unknown recipient", func(_, _ string) []string { return []string{"1", "0799999999", "10"} },
			func(_, _ string) sessions.Screen {
				return end("en", "error.not_found.recipient", map[string]any{"Phone": "+254799999999"})
			}},
		{"to oneself", func(alice, _ string) []string { return []string{"1", alice, "10", "1", pin} },
			func(_, _ string) sessions.Screen { return end("en", "error.same_account", nil) }},
		{"unknown agent", func(_, _ string) []string { return []string{"2", "999999", "10"} },
			func(_, _ string) sessions.Screen {
				return end("en", "error.not_found.agent", map[string]any{"Agent": "999999"})
			}},
		{"unknown till", func(_, _ string) []string { return []string{"4", "1", "999999", "10"} },
			func(_, _ string) sessions.Screen {
				return end("en", "error.not_found.till", map[string]any{"Till": "999999"})
			}},
		{"unknown business", func(_, _ string) []string { return []string{"4", "2", "999999", "A1", "10"} },
			func(_, _ string) sessions.Screen {
				return end("en", "error.not_found.business", map[string]any{"Business": "999999"})
			}},
		{"unknown transaction", func(_, _ string) []string { return []string{"5", "5", "QK7M2X9A1B"} },
			func(_, _ string) sessions.Screen {
				return end("en", "error.not_found.transaction", map[string]any{"Original": "QK7M2X9A1B"})
			}},
		{"invalid choice", func(_, _ string) []string { return []string{"7"} },
			func(_, _ string) sessions.Screen {
				return sessions.Screen{Text: render("en", "ussd.invalid.choice", nil) + "\n" + render("en", "ussd.main.customer", nil)}
			}},
		{"invalid phone", func(_, _ string) []string { return []string{"1", "12"} },
			func(_, _ string) sessions.Screen {
				return errLine("en", "ussd.invalid.phone", nil, "ussd.send.recipient", nil)
			}},
		{"invalid amount", func(_, bob string) []string { return []string{"1", bob, "5*0"} },
			func(_, _ string) sessions.Screen {
				return errLine("en", "ussd.invalid.amount", nil, "ussd.send.amount", map[string]any{"Currency": "KES"})
			}},
		{"zero amount", func(_, bob string) []string { return []string{"1", bob, "0.00"} },
			func(_, _ string) sessions.Screen {
				return errLine("en", "ussd.invalid.amount", nil, "ussd.send.amount", map[string]any{"Currency": "KES"})
			}},
		{"invalid agent number", func(_, _ string) []string { return []string{"2", "12a"} },
			func(_, _ string) sessions.Screen {
				return errLine("en", "ussd.invalid.number", nil, "ussd.withdraw.agent", nil)
			}},
		{"invalid transaction id", func(_, _ string) []string { return []string{"5", "5", "XYZ"} },
			func(_, _ string) sessions.Screen {
				return errLine("en", "ussd.invalid.ref", nil, "ussd.reverse.ref", nil)
			}},
		{"PIN of the wrong length", func(_, bob string) []string { return []string{"1", bob, "10", "1", "12"} },
			func(_, _ string) sessions.Screen {
				return errLine("en", "ussd.invalid.pin_format", map[string]any{"Digits": 4}, "ussd.pin.enter", nil)
			}},
		{"cancel", func(_, bob string) []string { return []string{"1", bob, "10", "2"} },
			func(_, _ string) sessions.Screen { return end("en", "ussd.cancelled", nil) }},
		{"back", func(_, bob string) []string { return []string{"1", bob, "0"} },
			func(_, _ string) sessions.Screen { return con("en", "ussd.send.recipient", nil) }},
		{"back twice", func(_, bob string) []string { return []string{"1", bob, "0", "0"} },
			func(_, _ string) sessions.Screen {
				return sessions.Screen{Text: render("en", "ussd.main.customer", nil)}
			}},
		{"home", func(_, bob string) []string { return []string{"4", "2", "123456", "00"} },
			func(_, _ string) sessions.Screen {
				return sessions.Screen{Text: render("en", "ussd.main.customer", nil)}
			}},
		{"back then on", func(_, bob string) []string { return []string{"3", "2", "0", "1"} },
			func(_, _ string) sessions.Screen {
				return con("en", "ussd.airtime.amount", map[string]any{"Currency": "KES"})
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)
			got := h.dial(alice).say(c.inputs(alice, bob)...)
			h.check(c.name, got, c.want(alice, bob))
			if a, b := h.balance(alice), h.balance(bob); a != 100_000 || b != 0 {
				t.Errorf("balances alice %d bob %d: want 100000 and 0, nothing moved", a, b)
			}
		})
	}

	t.Run("frozen account", func(t *testing.T) {
		alice := h.w.Customer("Alice", pin, 0)
		if _, err := h.w.Client.SetStatus(ctx, alice, wallet.StatusFrozen); err != nil {
			t.Fatal(err)
		}
		h.check("dial", h.dial(alice).last(), end("en", "error.account_frozen", nil))
	})
}

// Three wrong PINs lock the account: each wrong one says how many tries are
// left, the third ends the session with how to unlock, and the next dial
// says the PIN is locked.
func TestWrongPINThriceLocks(t *testing.T) {
	h := start(t)
	alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)
	c := h.dial(alice)
	c.say("1", bob, "10", "1")
	for left := 2; left >= 1; left-- {
		h.check("wrong", c.say("9999"), errLine("en", "error.pin_invalid.tries_left", map[string]any{"Count": left}, "ussd.pin.enter", nil))
	}
	h.check("third", c.say("9999"), end("en", "error.pin_locked", nil))
	h.check("next dial", h.dial(alice).last(), end("en", "error.pin_locked", nil))
	if b := h.balance(bob); b != 0 {
		t.Errorf("bob has %d", b)
	}
}

// Duplicate and late hops: answered as before, and money moves once.
func TestRepeatedHops(t *testing.T) {
	h := start(t)
	alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)

	c := h.dial(alice)
	first := c.last()
	h.check("start again", c.hop(sessions.Hop{Aggregator: "africastalking", SessionID: c.id, Phone: alice, New: true}), first)
	c.say("1", bob, "10", "1")
	final := c.next(pin)
	done := c.hop(final)
	for i := 0; i < 3; i++ {
		h.check("final hop again", c.hop(final), done)
	}
	h.check("late hop", c.say("1"), end("en", "ussd.session.ended", nil))
	if b := h.balance(bob); b != 1_000 {
		t.Errorf("bob has %d after a final hop sent 4 times, want 1000", b)
	}
	h.check("unknown session", c.hop(sessions.Hop{Aggregator: "africastalking", SessionID: "never-seen", Phone: alice, Input: "1", History: "1"}),
		end("en", "ussd.session.ended", nil))

	// The final hop sent by two gateways at once.
	c = h.dial(alice)
	c.say("1", bob, "10", "1")
	final = c.next(pin)
	other := h.engine(sessions.WalletClient(h.w.Client), nil)
	var wg sync.WaitGroup
	screens := make([]sessions.Screen, 2)
	for i, e := range []*sessions.Engine{h.e, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := e.Hop(context.Background(), final)
			if err != nil {
				t.Error(err)
			}
			screens[i] = s
		}()
	}
	wg.Wait()
	if screens[0] != screens[1] || !screens[0].End {
		t.Errorf("two gateways answered one hop differently:\n%+v\n%+v", screens[0], screens[1])
	}
	if b := h.balance(bob); b != 2_000 {
		t.Errorf("bob has %d, want 2000", b)
	}
}

// The same send through each aggregator's hop semantics, and a session
// moving between two gateway processes mid-flow.
func TestAggregatorsAndGateways(t *testing.T) {
	h := start(t)
	for _, proto := range []string{"africastalking", "hubtel", "nalo"} {
		t.Run(proto, func(t *testing.T) {
			alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)
			c := h.dialWith(proto, alice, "")
			got := c.say("1", national(bob), "10", "1", pin)
			if !got.End || !strings.HasPrefix(got.Text, h.lastRef(alice, pin)+" ") {
				t.Errorf("%s send ended %+v", proto, got)
			}
			if b := h.balance(bob); b != 1_000 {
				t.Errorf("bob has %d, want 1000", b)
			}
		})
	}
	t.Run("resumed on a second gateway", func(t *testing.T) {
		alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)
		c := h.dial(alice)
		c.say("1", bob)
		c.e = h.engine(sessions.WalletClient(h.w.Client), nil)
		h.check("amount on the second", c.say("10"), con("en", "ussd.send.confirm", map[string]any{
			"Amount": money("en", 1_000), "Name": "Bob", "Phone": bob, "Fee": money("en", h.fee(wallet.TransferSend, 1_000))}))
		c.e = h.e
		if got := c.say("1", pin); !got.End {
			t.Errorf("back on the first: %+v", got)
		}
		if b := h.balance(bob); b != 1_000 {
			t.Errorf("bob has %d, want 1000", b)
		}
	})
}

// slowWallet delays transfers, as an overloaded wallet does.
type slowWallet struct {
	sessions.Wallet
	delay chan struct{} // closed to let transfers through
}

func (s slowWallet) Transfer(ctx context.Context, req wallet.TransferRequest) (*wallet.TransferResult, error) {
	select {
	case <-s.delay:
	case <-ctx.Done():
		return nil, &wallet.Error{Code: wallet.CodeUnavailable, Message: "timeout"}
	}
	return s.Wallet.Transfer(ctx, req)
}

// A wallet slower than the hop's bound: the session ends with "we will send
// you an SMS", and the transfer is resolved once in the background.
func TestSlowWalletPending(t *testing.T) {
	h := start(t)
	alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)
	slow := slowWallet{Wallet: sessions.WalletClient(h.w.Client), delay: make(chan struct{})}
	resolved := make(chan sessions.Resolution, 1)
	c := h.dial(alice)
	c.e = h.engine(slow, func(r sessions.Resolution) { resolved <- r })
	c.say("1", bob, "10", "1")
	h.check("pending", c.say(pin), end("en", "ussd.pending", nil))
	close(slow.delay)
	select {
	case r := <-resolved:
		if r.Err != nil || r.Result == nil || r.Request.PIN != "" || r.Phone != alice {
			t.Errorf("resolution %+v: want the transfer, no PIN", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the pending transfer was never resolved")
	}
	if b := h.balance(bob); b != 1_000 {
		t.Errorf("bob has %d, want 1000", b)
	}
}

// No PIN in session state: not the PIN entered, not the new one chosen.
func TestNoPINInState(t *testing.T) {
	h := start(t)
	alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)
	c := h.dial(alice)
	c.say("5", "3", pin, "7391")                   // change PIN, left at the confirmation
	h.dial(alice).say("1", bob, "10", "1", "6666") // a wrong PIN, re-asked
	reg := h.dialWith("hubtel", wallettest.NewPhone(), "")
	reg.say("1", "Jane", "Doe", "8264")
	for _, s := range h.states() {
		for _, p := range []string{pin, "7391", "6666", "8264"} {
			if strings.Contains(s, p) {
				t.Errorf("state holds PIN %s: %s", p, s)
			}
		}
	}
}

// Hops an engine must refuse, with ErrBadHop, before touching anything.
func TestBadHops(t *testing.T) {
	h := start(t)
	alice := h.w.Customer("Alice", pin, 0)
	c := h.dial(alice)
	for _, hop := range []sessions.Hop{
		{Aggregator: "africastalking", SessionID: "", Phone: alice, New: true},
		{Aggregator: "africastalking", SessionID: strings.Repeat("x", 65), Phone: alice, New: true},
		{Aggregator: "", SessionID: "a", Phone: alice, New: true},
		{Aggregator: "Bad Name", SessionID: "a", Phone: alice, New: true},
		{Aggregator: "africastalking", SessionID: "a", Phone: "not a phone", New: true},
		{Aggregator: "africastalking", SessionID: c.id, Phone: wallettest.NewPhone(), Input: "1", History: "1"},
	} {
		if _, err := h.e.Hop(context.Background(), hop); !errors.Is(err, sessions.ErrBadHop) {
			t.Errorf("%+v: got %v, want ErrBadHop", hop, err)
		}
	}
}

// The aggregator's end-of-session notice closes the session.
func TestEnd(t *testing.T) {
	h := start(t)
	alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)
	c := h.dial(alice)
	c.say("1", bob, "10", "1")
	h.e.End(context.Background(), sessions.End{Aggregator: "africastalking", SessionID: c.id, Status: "Incomplete"})
	h.check("late PIN", c.say(pin), end("en", "ussd.session.ended", nil))
	if b := h.balance(bob); b != 0 {
		t.Errorf("bob has %d", b)
	}
	h.e.End(context.Background(), sessions.End{Aggregator: "africastalking", SessionID: "unknown"}) // logged, no panic
}

// A session saved by a version with a menu node this one lacks (a rolling
// upgrade) ends cleanly instead of failing every hop until it expires.
func TestUnknownNode(t *testing.T) {
	h := start(t)
	alice := h.w.Customer("Alice", pin, 0)
	c := h.dial(alice)
	k := "africastalking." + base64.RawURLEncoding.EncodeToString([]byte(c.id))
	e, err := h.kv.Get(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	raw := strings.Replace(string(e.Value()), `"path":["main"]`, `"path":["main","renamed.node"]`, 1)
	if raw == string(e.Value()) {
		t.Fatalf("state %s has no path to rewrite", e.Value())
	}
	if _, err := h.kv.Put(context.Background(), k, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	h.check("hop", c.say("1"), end("en", "ussd.session.ended", nil))
}
