package merchant_test

import (
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// TestSecurityDeclineNeedsPIN (issue 11, finding 5: approvals could be
// declined without a PIN) declines payment requests and tabs as a caller
// without the customer's PIN would. A missing or wrong PIN is refused and
// leaves the approval pending for the merchant; a wrong one counts toward
// the lockout (once per attempt key, as an approval's), which then refuses
// even the right PIN, as a frozen account does. The right PIN declines,
// and the merchant gets its declined event.
func TestSecurityDeclineNeedsPIN(t *testing.T) {
	// No limit on the prompts to one customer: the test makes more than a
	// counter would in ten minutes.
	f := newMerchantFixtureOn(t, storetest.DSN(t), func(c *merchant.Config) {
		c.PromptsPerPhone, c.PromptsPerPair = merchant.PromptLimit{Max: -1}, merchant.PromptLimit{Max: -1}
	})
	cust := f.customer(100_000)
	p := f.merchant("Duka", false)
	var n int
	request := func() string {
		t.Helper()
		n++
		r, err := f.s.RequestPayment(f.ctx, p, "k"+string(rune('a'+n)), cust, 1_000, "R", "")
		f.must(err)
		return r.ID
	}
	tab := func(prepaid bool) func() string {
		return func() string {
			t.Helper()
			n++
			tb, err := f.s.OpenTab(f.ctx, p, "t"+string(rune('a'+n)), cust, wallet.Micro(1_000_000), prepaid,
				f.clock.Now().Add(24*time.Hour), "T", "")
			f.must(err)
			return tb.ID
		}
	}
	pending := func(id string) bool {
		t.Helper()
		as, err := f.s.Approvals(f.ctx, cust)
		f.must(err)
		for _, a := range as {
			if a.ID == id {
				return true
			}
		}
		return false
	}
	attempt := func(key string) wallet.PINAttempt { return wallet.PINAttempt{Source: "ussd:test:1", Key: key} }

	for _, c := range []struct {
		name      string
		make      func() string
		pin       string
		at        wallet.PINAttempt
		want      wallet.Code
		triesLeft int // of a wrong PIN
	}{
		{"request, no PIN", request, "", attempt(""), wallet.CodeInvalid, 0},
		{"request, wrong PIN", request, "9999", attempt("hop-1"), wallet.CodePINInvalid, 2},
		{"request, wrong PIN, the hop retried", request, "9999", attempt("hop-1"), wallet.CodePINInvalid, 2},
		{"postpaid tab, no PIN", tab(false), "", attempt(""), wallet.CodeInvalid, 0},
		{"prepaid tab, wrong PIN", tab(true), "8888", attempt("hop-2"), wallet.CodePINInvalid, 1},
		{"request, the right PIN", request, fixturePIN, attempt("hop-3"), "", 0},
		{"postpaid tab, the right PIN", tab(false), fixturePIN, attempt("hop-4"), "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := c.make()
			_, err := f.s.Decline(wallet.WithPINAttempt(f.ctx, c.at), cust, id, c.pin)
			wantCode(t, err, c.want)
			if c.want == wallet.CodePINInvalid {
				we, _ := err.(*wallet.Error)
				if we == nil || we.TriesLeft == nil || *we.TriesLeft != c.triesLeft {
					t.Errorf("wrong PIN error %#v, want %d tries left", err, c.triesLeft)
				}
			}
			if got, want := pending(id), c.want != ""; got != want {
				t.Errorf("pending after the decline: %t, want %t", got, want)
			}
		})
	}
	if evs := f.events(merchant.EventRequestDeclined); len(evs) != 1 {
		t.Errorf("%d declined events, want 1 (the right PIN's): %+v", len(evs), evs)
	}

	t.Run("locked", func(t *testing.T) {
		id := request()
		for i, want := range []wallet.Code{wallet.CodePINInvalid, wallet.CodePINInvalid, wallet.CodePINLocked, wallet.CodePINLocked} {
			pin := "9999"
			if i == 3 {
				pin = fixturePIN
			}
			_, err := f.s.Decline(f.ctx, cust, id, pin)
			wantCode(t, err, want)
		}
		if !pending(id) {
			t.Error("a locked PIN's decline declined")
		}
	})

	t.Run("frozen", func(t *testing.T) {
		other := f.customer(0)
		r, err := f.s.RequestPayment(f.ctx, p, "frozen", other, 1_000, "F", "")
		f.must(err)
		_, err = f.w.SetStatus(f.ctx, other, wallet.StatusFrozen)
		f.must(err)
		_, err = f.s.Decline(f.ctx, other, r.ID, fixturePIN)
		wantCode(t, err, wallet.CodeAccountFrozen)
		as, err := f.s.Approvals(f.ctx, other)
		f.must(err)
		if len(as) != 1 || as[0].ID != r.ID {
			t.Errorf("a frozen account's decline: approvals %+v, want %s pending", as, r.ID)
		}
	})
}
