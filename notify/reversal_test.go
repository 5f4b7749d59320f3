package notify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

// Issue 11, High #1: a reversal request's hold tells the recipient that the
// amount is held and how to object (the menu entry and the SMS keyword of
// its language), and tells the sender it was asked; a rejection's release
// tells both. Events from a real wallet, as the relay and a replay carry them.
func TestSecurityReversalRequestSMS(t *testing.T) {
	cat := catalog(t)
	keyword := map[string]string{"en": "OBJECT", "sw": "PINGA", "fr": "CONTESTER"}
	for _, lang := range []string{"en", "sw", "fr"} {
		t.Run(lang, func(t *testing.T) {
			w := wallettest.Start(t)
			ctx := context.Background()
			since := time.Now().Add(-time.Minute)
			alice, bob := w.Customer("Alice Wanjiru", "2580", 100_000), w.Customer("Bob Otieno", "2580", 0)
			for _, p := range []string{alice, bob} {
				_, err := w.Client.SetLanguage(ctx, p, lang)
				if err != nil {
					t.Fatal(err)
				}
			}
			sent, err := w.Client.Transfer(ctx, wallet.TransferRequest{Key: "s", Kind: wallet.TransferSend, From: alice, To: bob, Amount: 50_000, PIN: "2580"})
			if err != nil {
				t.Fatal(err)
			}
			ref := sent.Transfer.Ref
			r, err := w.Client.RequestReversal(ctx, alice, ref, "2580")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Service.DecideReversal(ctx, r.ID, false, "ops", "goods delivered"); err != nil {
				t.Fatal(err)
			}
			evs, _, err := w.Service.Events(ctx, since, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[wallet.TransferKind]bool{}
			for _, ev := range evs {
				k := ev.Transfer.Kind
				if k != wallet.TransferReversalHold && k != wallet.TransferReversalRelease {
					continue
				}
				seen[k] = true
				rs := Receipts(cat, w.Service.Config().Currency, nil, ev)
				if len(rs) != 2 || rs[0].To != bob || rs[1].To != alice {
					t.Fatalf("%s: got receipts %+v, want bob's then alice's", k, rs)
				}
				for i, rc := range rs {
					checkSMS(t, string(k), rc)
					if !strings.Contains(rc.Text, ref) {
						t.Errorf("%s receipt %d: %q does not name %s", k, i, rc.Text, ref)
					}
				}
				if !strings.Contains(rs[0].Text, "Alice Wanjiru") || !strings.Contains(rs[1].Text, "Bob Otieno") {
					t.Errorf("%s: receipts %q / %q do not name the other party", k, rs[0].Text, rs[1].Text)
				}
				if k == wallet.TransferReversalHold && !strings.Contains(rs[0].Text, keyword[lang]+" "+ref) {
					t.Errorf("hold: the recipient's %q does not say how to object (%s %s)", rs[0].Text, keyword[lang], ref)
				}
			}
			if !seen[wallet.TransferReversalHold] || !seen[wallet.TransferReversalRelease] {
				t.Errorf("events: saw %v, want a hold and a release", seen)
			}
		})
	}
}
