package sessions_test

import (
	"strings"
	"testing"
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
