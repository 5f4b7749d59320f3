package ops

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kibubu/kibubu/gateway/internal/browsertest"
	"github.com/kibubu/kibubu/wallet"
)

// TestBrowserMerchant: the admin finds a till, opens it, creates an API key
// with two scopes (its secret shown once), sees it listed, and revokes it
// with a reason, in a real headless Chromium; screenshots of the page with
// the new key and after the revocation (docs/ops-merchant.png).
func TestBrowserMerchant(t *testing.T) {
	e := newEnv(t)
	s := e.newShop("Duka La Mama", 4)
	b := e.tab(t, nil)
	b.signIn(wallet.RoleAdmin)
	b.do(chromedp.Navigate(e.srv.URL+Prefix+"/merchants"),
		// The list before the search shows every merchant: wait for the
		// answer's page, whose box has the query as its value attribute
		// (typing sets only the property), before clicking a result.
		chromedp.SendKeys("#merchant-q", "duka"), chromedp.Click("#merchant-search"), chromedp.WaitVisible(`#merchant-q[value="duka"]`),
		chromedp.Click("#merchants tbody a"), chromedp.WaitVisible("#merchant-number"))
	if got := b.text("#merchant-number"); got != s.number {
		t.Fatalf("opened merchant %q, want %s", got, s.number)
	}
	if got := b.text("#requests tbody"); !strings.Contains(got, s.requests[3]) || !strings.Contains(got, "pending") {
		t.Errorf("payment requests: %q", got)
	}
	b.do(chromedp.Click("#key-form input[value=tabs]"),
		chromedp.SendKeys("#key-reason", "onboarding ticket 88"),
		chromedp.Click("#create-key"), chromedp.WaitVisible("#new-key-secret"))
	browsertest.Screenshot(t, b.ctx, "merchant-key-created")
	secret := b.text("#new-key-secret")
	keys := e.keys(s.number)
	if len(keys) != 1 || !strings.HasPrefix(secret, keys[0].ID) || len(keys[0].Scopes) != 2 {
		t.Fatalf("created %+v, page shows %q", keys, secret)
	}
	if got := b.text("#keys tbody tr"); !strings.Contains(got, keys[0].ID) || !strings.Contains(got, "payments, tabs") {
		t.Fatalf("keys listed: %q", got)
	}
	b.do(chromedp.SendKeys("#keys tbody input[name=reason]", "key leaked in a screenshot"),
		// The page after the revocation: the new key's secret is gone.
		chromedp.Click("#keys tbody button.revoke"), chromedp.WaitNotPresent("#new-key-secret"), chromedp.WaitVisible("#notice"))
	if got := b.text("#notice"); got != text(t, "ops.merchant.key_revoked") {
		t.Errorf("notice after the revocation: %q", got)
	}
	browsertest.Screenshot(t, b.ctx, "merchant")
	if got := b.text("#keys tbody tr .revoked"); got == "" {
		t.Errorf("the key shows no revocation time")
	}
	if k := e.keys(s.number); k[0].Revoked == nil {
		t.Errorf("the wallet has the key unrevoked")
	}
	if strings.Contains(b.text("main"), secret) {
		t.Errorf("the secret is shown again after the revocation")
	}
}
