package sessions_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet"
)

// Issue 11, High #1: 5 My account → 5 Reverse refuses a payment to a till or
// a business number with a screen that sends the customer to the merchant,
// who refunds; it asks for no PIN and nothing moves.
func TestSecurityTillPaymentNotReversibleByCustomer(t *testing.T) {
	for _, lang := range catalog.Languages() {
		t.Run(lang, func(t *testing.T) {
			h := start(t)
			alice := h.w.Customer("Alice Wanjiru", pin, 100_000)
			h.setLang(alice, lang)
			for _, tt := range []struct {
				name    string
				paybill bool
				pay     []string
			}{
				{"till", false, []string{"4", "1"}},
				{"paybill", true, []string{"4", "2"}},
			} {
				t.Run(tt.name, func(t *testing.T) {
					merchant := h.w.Merchant("Duka La Mama", tt.paybill)
					steps := append(append([]string{}, tt.pay...), merchant)
					if tt.paybill {
						steps = append(steps, "ACC1")
					}
					h.dial(alice).say(append(steps, "50", "1", pin)...)
					ref := h.lastRef(alice, pin)
					before := h.balance(merchant)
					got := h.dial(alice).say("5", "5", strings.ToLower(ref))
					h.check("refused", got, end(lang, "ussd.reverse.merchant", map[string]any{"Name": "Duka La Mama"}))
					if after := h.balance(merchant); after != before || before == 0 {
						t.Errorf("merchant balance %d → %d: want the payment kept", before, after)
					}
				})
			}
		})
	}
}

// Issue 11, High #1: the recipient of a transfer its sender asked to
// reverse objects on 5 My account → 6 Object; the amount stays held. A
// transaction with no request waiting says so.
func TestSecurityReversalObjectionByUSSD(t *testing.T) {
	for _, lang := range catalog.Languages() {
		t.Run(lang, func(t *testing.T) {
			h := start(t)
			alice, bob := h.w.Customer("Alice Wanjiru", pin, 100_000), h.w.Customer("Bob Otieno", pin, 0)
			h.setLang(alice, lang)
			h.setLang(bob, lang)
			h.dial(alice).say("1", bob, "100", "1", pin)
			ref := h.lastRef(alice, pin)
			h.check("none yet", h.dial(bob).say("5", "6", ref), end(lang, "ussd.reverse.object.none", map[string]any{"Original": ref}))
			h.dial(alice).say("5", "5", ref, "1", pin)
			c := h.dial(bob)
			h.check("ref", c.say("5", "6"), con(lang, "ussd.reverse.object.ref", nil))
			h.check("objected", c.say(strings.ToLower(ref)), end(lang, "ussd.reverse.objected", map[string]any{"Original": ref}))
			rs, err := h.w.Client.Reversals(context.Background(), []wallet.ReversalState{wallet.ReversalObjected}, 0)
			if err != nil || len(rs) != 1 || rs[0].OriginalRef != ref || rs[0].Held != 10_000 {
				t.Errorf("operator queue %+v, %v: want %s objected with 10000 held", rs, err, ref)
			}
			if b := h.balance(bob); b != 0 {
				t.Errorf("bob has %d: want the amount still held", b)
			}
		})
	}
}

// Issue 11, High #1: the recipient objects by SMS with the keyword of its
// language and the transaction id its hold SMS named.
func TestSecurityReversalObjectionBySMS(t *testing.T) {
	keyword := map[string]string{"en": "OBJECT", "sw": "PINGA", "fr": "CONTESTER"}
	for _, lang := range catalog.Languages() {
		t.Run(lang, func(t *testing.T) {
			h := start(t)
			x := h.texter(sessions.WalletClient(h.w.Client))
			alice, bob := h.w.Customer("Alice Wanjiru", pin, 100_000), h.w.Customer("Bob Otieno", pin, 0)
			h.setLang(alice, lang)
			h.setLang(bob, lang)
			h.dial(alice).say("1", bob, "100", "1", pin)
			ref := h.lastRef(alice, pin)
			h.checkSMS("none yet", x.send(bob, keyword[lang]+" "+ref), reply(lang, "ussd.reverse.object.none", map[string]any{"Original": ref}))
			h.dial(alice).say("5", "5", ref, "1", pin)
			h.checkSMS("malformed", x.send(bob, keyword[lang]), reply(lang, "sms.malformed", map[string]any{"Usage": render(lang, "sms.usage.object", nil)}))
			h.checkSMS("objected", x.send(bob, strings.ToLower(keyword[lang])+" "+strings.ToLower(ref)), reply(lang, "ussd.reverse.objected", map[string]any{"Original": ref}))
			rs, err := h.w.Client.Reversals(context.Background(), []wallet.ReversalState{wallet.ReversalObjected}, 0)
			if err != nil || len(rs) != 1 || rs[0].OriginalRef != ref {
				t.Errorf("operator queue %+v, %v: want %s objected", rs, err, ref)
			}
			h.checkSMS("by the sender", x.send(alice, keyword[lang]+" "+ref), reply(lang, "ussd.reverse.object.none", map[string]any{"Original": ref}))
		})
	}
}
