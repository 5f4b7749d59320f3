package sessions_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

const pin = "2580"

// national writes an E.164 Kenyan number as people type it: 0712345678.
func national(e164 string) string { return "0" + e164[4:] }

// lastRef returns the newest transaction id on phone's statement.
func (h *harness) lastRef(phone, pin string) string {
	h.t.Helper()
	s, err := h.w.Client.Statement(context.Background(), wallet.StatementQuery{Phone: phone, PIN: pin, Limit: 1})
	if err != nil || len(s.Lines) == 0 {
		h.t.Fatalf("statement of %s: %v", phone, err)
	}
	return s.Lines[0].Ref
}

func (h *harness) fee(kind wallet.TransferKind, amount int64) int64 {
	h.t.Helper()
	q, err := h.w.Client.Quote(context.Background(), kind, amount)
	if err != nil {
		h.t.Fatal(err)
	}
	return q.Fee
}

// Every menu path of the customer and agent menus, in every language: the
// screens each step shows, the END screen, and what moved in the ledger.
func TestMenus(t *testing.T) {
	for _, lang := range catalog.Languages() {
		t.Run(lang, func(t *testing.T) {
			h := start(t)
			customer := func(name string, balance int64) string {
				p := h.w.Customer(name, pin, balance)
				h.setLang(p, lang)
				return p
			}
			flows := []struct {
				name string
				run  func(t *testing.T)
			}{
				{"send money", func(t *testing.T) {
					alice, bob := customer("Alice Wanjiru", 1_000_000), customer("Bob Otieno", 0)
					c := h.dial(alice)
					h.check("main", c.last(), sessions.Screen{Text: render(lang, "ussd.main.customer", nil)})
					h.check("recipient", c.say("1"), con(lang, "ussd.send.recipient", nil))
					h.check("amount", c.say(national(bob)), con(lang, "ussd.send.amount", map[string]any{"Currency": "KES"}))
					fee := h.fee(wallet.TransferSend, 50_000)
					h.check("confirm", c.say("500"), con(lang, "ussd.send.confirm", map[string]any{
						"Amount": money(lang, 50_000), "Name": "Bob Otieno", "Phone": bob, "Fee": money(lang, fee)}))
					h.check("pin", c.say("1"), con(lang, "ussd.pin.enter", nil))
					got := c.say(pin)
					h.check("done", got, end(lang, "ussd.send.done", map[string]any{"Ref": h.lastRef(alice, pin),
						"Amount": money(lang, 50_000), "Name": "Bob Otieno", "Phone": bob, "Fee": money(lang, fee),
						"Balance": money(lang, 1_000_000-50_000-fee)}))
					if b := h.balance(bob); b != 50_000 {
						t.Errorf("bob has %d, want 50000", b)
					}
				}},
				{"withdraw cash", func(t *testing.T) {
					alice := customer("Alice Wanjiru", 1_000_000)
					_, agent := h.w.Agent("Mama Mboga Shop", "1357", 0)
					c := h.dial(alice)
					c.say("2")
					h.check("amount", c.say(agent), con(lang, "ussd.withdraw.amount", map[string]any{"Currency": "KES"}))
					fee := h.fee(wallet.TransferWithdraw, 100_000)
					h.check("confirm", c.say("1000"), con(lang, "ussd.withdraw.confirm", map[string]any{
						"Amount": money(lang, 100_000), "Name": "Mama Mboga Shop", "Agent": agent, "Fee": money(lang, fee)}))
					got := c.say("1", pin)
					h.check("done", got, end(lang, "ussd.withdraw.done", map[string]any{"Ref": h.lastRef(alice, pin),
						"Amount": money(lang, 100_000), "Name": "Mama Mboga Shop", "Fee": money(lang, fee),
						"Balance": money(lang, 1_000_000-100_000-fee)}))
					q, _ := h.w.Client.Quote(context.Background(), wallet.TransferWithdraw, 100_000)
					if b := h.balance(agent); b != 100_000+q.Commission {
						t.Errorf("agent float %d, want 100000 and its commission %d", b, q.Commission)
					}
				}},
				{"airtime for my phone", func(t *testing.T) {
					alice := customer("Alice Wanjiru", 100_000)
					c := h.dial(alice)
					h.check("menu", c.say("3"), con(lang, "ussd.airtime.menu", nil))
					h.check("amount", c.say("1"), con(lang, "ussd.airtime.amount", map[string]any{"Currency": "KES"}))
					h.check("pin", c.say("50"), con(lang, "ussd.airtime.pin", map[string]any{"Amount": money(lang, 5_000), "Phone": alice}))
					h.check("done", c.say(pin), end(lang, "ussd.airtime.done", map[string]any{"Ref": h.lastRef(alice, pin),
						"Amount": money(lang, 5_000), "Phone": alice, "Balance": money(lang, 95_000)}))
				}},
				{"airtime for another phone", func(t *testing.T) {
					alice := customer("Alice Wanjiru", 100_000)
					c := h.dial(alice)
					c.say("3", "2")
					h.check("pin", c.say("0722000111", "20"), con(lang, "ussd.airtime.pin", map[string]any{"Amount": money(lang, 2_000), "Phone": "+254722000111"}))
					h.check("done", c.say(pin), end(lang, "ussd.airtime.done", map[string]any{"Ref": h.lastRef(alice, pin),
						"Amount": money(lang, 2_000), "Phone": "+254722000111", "Balance": money(lang, 98_000)}))
				}},
				{"buy goods", func(t *testing.T) {
					alice := customer("Alice Wanjiru", 100_000)
					till := h.w.Merchant("Duka La Juma", false)
					c := h.dial(alice)
					h.check("pay", c.say("4"), con(lang, "ussd.pay.menu", nil))
					h.check("till", c.say("1"), con(lang, "ussd.pay.goods.till", nil))
					h.check("confirm", c.say(till, "250"), con(lang, "ussd.pay.goods.confirm", map[string]any{
						"Amount": money(lang, 25_000), "Name": "Duka La Juma", "Till": till}))
					h.check("done", c.say("1", pin), end(lang, "ussd.pay.goods.done", map[string]any{"Ref": h.lastRef(alice, pin),
						"Amount": money(lang, 25_000), "Name": "Duka La Juma", "Balance": money(lang, 75_000)}))
					if b := h.balance(till); b <= 0 || b > 25_000 {
						t.Errorf("till holds %d, want 25000 less its fee", b)
					}
				}},
				{"pay bill", func(t *testing.T) {
					alice := customer("Alice Wanjiru", 100_000)
					biz := h.w.Merchant("Kenya Power", true)
					c := h.dial(alice)
					c.say("4", "2")
					h.check("account", c.say(biz), con(lang, "ussd.pay.bill.account", nil))
					h.check("amount", c.say("ACC*778"), con(lang, "ussd.pay.bill.amount", map[string]any{"Currency": "KES"}))
					h.check("confirm", c.say("300"), con(lang, "ussd.pay.bill.confirm", map[string]any{
						"Amount": money(lang, 30_000), "Name": "Kenya Power", "Account": "ACC*778"}))
					h.check("done", c.say("1", pin), end(lang, "ussd.pay.bill.done", map[string]any{"Ref": h.lastRef(alice, pin),
						"Amount": money(lang, 30_000), "Name": "Kenya Power", "Account": "ACC*778", "Balance": money(lang, 70_000)}))
				}},
				{"balance", func(t *testing.T) {
					alice := customer("Alice Wanjiru", 123_450)
					c := h.dial(alice)
					h.check("menu", c.say("5"), con(lang, "ussd.account.menu", nil))
					h.check("pin", c.say("1"), con(lang, "ussd.pin.enter", nil))
					h.check("done", c.say(pin), end(lang, "ussd.account.balance", map[string]any{"Balance": money(lang, 123_450)}))
				}},
				{"mini statement", func(t *testing.T) {
					alice, bob := customer("Alice Wanjiru", 100_000), customer("Bob Otieno", 0)
					h.dial(alice).say("1", bob, "10", "1", pin)
					got := h.dial(alice).say("5", "2", pin)
					if !got.End || !strings.HasPrefix(got.Text, render(lang, "ussd.statement.title", map[string]any{"Currency": "KES"})) ||
						!strings.Contains(got.Text, h.lastRef(alice, pin)) || strings.Count(got.Text, "\n") != 2 {
						t.Errorf("statement %+v: want a title and two lines, the newest first", got)
					}
					h.check("empty", h.dial(customer("Carol", 0)).say("5", "2", pin), end(lang, "ussd.statement.empty", nil))
				}},
				{"change PIN", func(t *testing.T) {
					alice := customer("Alice Wanjiru", 0)
					c := h.dial(alice)
					h.check("old", c.say("5", "3"), con(lang, "ussd.pin.old", nil))
					h.check("new", c.say(pin), con(lang, "ussd.pin.new", map[string]any{"Digits": 4}))
					h.check("weak", c.say("1111"), sessions.Screen{Text: render(lang, "ussd.invalid.pin_weak", nil) + "\n" +
						render(lang, "ussd.pin.new", map[string]any{"Digits": 4}) + nav(lang)})
					h.check("confirm", c.say("4826"), con(lang, "ussd.pin.confirm", nil))
					h.check("mismatch", c.say("4827"), sessions.Screen{Text: render(lang, "ussd.invalid.pin_mismatch", nil) + "\n" +
						render(lang, "ussd.pin.new", map[string]any{"Digits": 4}) + nav(lang)})
					h.check("done", c.say("4826", "4826"), end(lang, "ussd.pin.changed", nil))
					if _, err := h.w.Client.VerifyPIN(context.Background(), alice, "4826"); err != nil {
						t.Errorf("the new PIN does not verify: %v", err)
					}
				}},
				{"language", func(t *testing.T) {
					alice := customer("Alice Wanjiru", 0)
					for i, to := range catalog.Languages() {
						h.check("done", h.dial(alice).say("5", "4", string(rune('1'+i))), end(to, "ussd.language.done", nil))
						h.check("next dial", h.dial(alice).last(), sessions.Screen{Text: render(to, "ussd.main.customer", nil)})
					}
				}},
				{"reverse a transaction", func(t *testing.T) {
					alice, bob := customer("Alice Wanjiru", 100_000), customer("Bob Otieno", 0)
					h.dial(alice).say("1", bob, "100", "1", pin)
					ref := h.lastRef(alice, pin)
					c := h.dial(alice)
					h.check("ref", c.say("5", "5"), con(lang, "ussd.reverse.ref", nil))
					h.check("confirm", c.say(strings.ToLower(ref)), con(lang, "ussd.reverse.confirm", map[string]any{
						"Original": ref, "Amount": money(lang, 10_000), "Name": "Bob Otieno", "Date": time.Now().UTC().Format("02/01")}))
					got := c.say("1", pin)
					// A request: the amount is held on bob's account, and he may object.
					h.check("done", got, end(lang, "ussd.reverse.requested", map[string]any{
						"Original": ref, "Amount": money(lang, 10_000), "Name": "Bob Otieno"}))
					if b := h.balance(bob); b != 0 {
						t.Errorf("bob still has %d with the amount held", b)
					}
					h.check("twice", h.dial(alice).say("5", "5", ref), end(lang, "error.not_reversible", nil))
					h.check("unknown", h.dial(bob).say("5", "5", ref), end(lang, "error.not_found.transaction", map[string]any{"Original": ref}))
				}},
				{"agent deposit", func(t *testing.T) {
					agentPhone, agent := h.w.Agent("Mama Mboga Shop", "1357", 500_000)
					h.setLang(agentPhone, lang)
					alice := customer("Alice Wanjiru", 0)
					c := h.dial(agentPhone)
					h.check("main", c.last(), sessions.Screen{Text: render(lang, "ussd.main.agent", nil)})
					h.check("customer", c.say("1"), con(lang, "ussd.agent.deposit.customer", nil))
					h.check("confirm", c.say(national(alice), "2000"), con(lang, "ussd.agent.deposit.confirm", map[string]any{
						"Amount": money(lang, 200_000), "Name": "Alice Wanjiru", "Phone": alice}))
					got := c.say("1", "1357")
					tr := h.lastRef(alice, pin)
					if !got.End || !strings.HasPrefix(got.Text, tr) {
						t.Errorf("deposit done %+v: want END starting with %s", got, tr)
					}
					float := h.balance(agent)
					h.check("float", h.dial(agentPhone).say("2", "1357"), end(lang, "ussd.agent.float", map[string]any{"Balance": money(lang, float)}))
					a, err := h.w.Client.Earnings(context.Background(), agentPhone, "1357")
					if err != nil || a.Today <= 0 {
						t.Fatalf("earnings %+v, %v: want commission today", a, err)
					}
					h.check("commission", h.dial(agentPhone).say("4", "1357"), end(lang, "ussd.agent.commission", map[string]any{
						"Today": money(lang, a.Today), "Month": money(lang, a.Month)}))
					if got := h.dial(agentPhone).say("3", "1357"); !got.End || !strings.Contains(got.Text, tr) {
						t.Errorf("agent statement %+v lacks %s", got, tr)
					}
				}},
				{"agent sets its PIN on first dial with its start key", func(t *testing.T) {
					// TestSecurityFirstPINNeedsStartKey, on USSD.
					agentPhone := wallettest.NewPhone()
					a, err := h.w.Client.AddAgent(context.Background(), agentPhone, "Duka Moja")
					if err != nil {
						t.Fatal(err)
					}
					h.setLang(agentPhone, lang)
					c := h.dial(agentPhone)
					keyScreen := render(lang, "ussd.pin.start_key", map[string]any{"Name": "Duka Moja", "Digits": wallet.StartKeyDigits})
					h.check("start key", c.last(), sessions.Screen{Text: keyScreen})
					h.check("short key", c.say("123"), sessions.Screen{Text: render(lang, "ussd.invalid.start_key_format", map[string]any{"Digits": wallet.StartKeyDigits}) + "\n" + keyScreen})
					wrong := []byte(a.StartKey)
					wrong[0] = '0' + (wrong[0]-'0'+1)%10
					h.check("wrong key", c.say(string(wrong)), sessions.Screen{Text: render(lang, "error.start_key_invalid.tries_left", map[string]any{"Count": 2}) + "\n" + keyScreen})
					h.check("setup", c.say(a.StartKey), sessions.Screen{Text: render(lang, "ussd.pin.setup", map[string]any{"Name": "Duka Moja", "Digits": 4})})
					h.check("confirm", c.say("2468"), con(lang, "ussd.pin.confirm", nil))
					h.check("set", c.say("2468"), end(lang, "ussd.pin.set", nil))
					h.check("menu", h.dial(agentPhone).last(), sessions.Screen{Text: render(lang, "ussd.main.agent", nil)})
					if _, err := h.w.Client.VerifyPIN(context.Background(), agentPhone, "2468"); err != nil {
						t.Fatalf("the PIN set on USSD: %v", err)
					}
				}},
				{"a stranger without the start key sets no PIN", func(t *testing.T) {
					agentPhone := wallettest.NewPhone()
					a, err := h.w.Client.AddAgent(context.Background(), agentPhone, "Duka Mbili")
					if err != nil {
						t.Fatal(err)
					}
					h.setLang(agentPhone, lang)
					c := h.dial(agentPhone)
					wrong := []byte(a.StartKey)
					for i := range 3 {
						wrong[0] = '0' + (byte(a.StartKey[0])-'0'+byte(i)+1)%10
						c.say(string(wrong))
					}
					h.check("locked", c.last(), end(lang, "error.pin_locked", nil))
					if p, err := h.w.Client.Lookup(context.Background(), agentPhone); err != nil || p.HasPIN || !p.PINLocked {
						t.Fatalf("after three wrong keys got %+v, %v: want no PIN, locked", p, err)
					}
				}},
				{"a self-registered customer without a PIN sets it directly", func(t *testing.T) {
					phone := wallettest.NewPhone()
					if _, err := h.w.Client.Register(context.Background(), natsapi.RegisterRequest{Phone: phone, Name: "Duka Tatu", Language: lang}); err != nil {
						t.Fatal(err)
					}
					c := h.dial(phone)
					h.check("setup", c.last(), sessions.Screen{Text: render(lang, "ussd.pin.setup", map[string]any{"Name": "Duka Tatu", "Digits": 4})})
					h.check("confirm", c.say("2468"), con(lang, "ussd.pin.confirm", nil))
					h.check("set", c.say("2468"), end(lang, "ussd.pin.set", nil))
				}},
				{"register", func(t *testing.T) {
					phone := wallettest.NewPhone()
					c := h.dialWith("africastalking", phone, lang)
					h.check("menu", c.last(), sessions.Screen{Text: render(lang, "ussd.main.unregistered", nil)})
					h.check("first", c.say("1"), con(lang, "ussd.register.first_name", nil))
					h.check("bad name", c.say("12"), sessions.Screen{Text: render(lang, "ussd.invalid.name", nil) + "\n" + render(lang, "ussd.register.first_name", nil) + nav(lang)})
					c.say("Wanjiku", "Kamau")
					h.check("pin", c.last(), con(lang, "ussd.pin.new", map[string]any{"Digits": 4}))
					h.check("done", c.say("3907", "3907"), end(lang, "ussd.register.done", map[string]any{"Name": "Wanjiku Kamau"}))
					p, err := h.w.Client.Lookup(context.Background(), phone)
					if err != nil || p.Name != "Wanjiku Kamau" || p.Tier != wallet.TierBasic || p.Language != lang || !p.HasPIN {
						t.Errorf("registered %+v, %v: want Wanjiku Kamau, basic tier, %s, with a PIN", p, err, lang)
					}
				}},
			}
			for _, f := range flows {
				t.Run(f.name, f.run)
			}
		})
	}
}
