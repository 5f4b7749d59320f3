package ops

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kibubu/kibubu/gateway/internal/browsertest"
	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

// TestBrowserTierChange: in a real browser a maker proposes moving a basic
// customer to the full tier from the account page; a checker approves it on
// the proposals page; the account page then shows tier 2 and its limits.
func TestBrowserTierChange(t *testing.T) {
	e := newEnv(t)
	phone := wallettest.NewPhone()
	if _, err := e.w.Client.Register(context.Background(), natsapi.RegisterRequest{Phone: phone, Name: "Tier Browser", Tier: wallet.TierBasic}); err != nil {
		t.Fatal(err)
	}
	account := e.srv.URL + Prefix + "/account/" + phone
	m := e.tab(t, nil)
	m.signIn(wallet.RoleMaker)
	m.do(chromedp.Navigate(account),
		chromedp.SendKeys("#tier-reason", "national ID seen at the shop"),
		chromedp.Click("#tier-propose"),
		chromedp.WaitVisible("#notice"),
	)
	browsertest.Screenshot(t, m.ctx, "tier-proposed")
	if got := m.text("#notice"); got != text(t, "ops.account.tier_proposed") {
		t.Fatalf("after proposing, the page says %q", got)
	}
	c := e.tab(t, nil)
	c.signIn(wallet.RoleChecker)
	c.do(chromedp.Navigate(e.srv.URL+Prefix+"/proposals"),
		chromedp.SendKeys("#proposals tbody input[name=reason]", "ID scan matches"),
		chromedp.Click("#proposals tbody button.approve"),
		chromedp.WaitVisible("#notice"),
	)
	if got := c.text("#proposals tbody tr .state"); got != "approved" {
		t.Fatalf("after approval the state is %q", got)
	}
	c.do(chromedp.Navigate(account), chromedp.WaitVisible("#limits"))
	browsertest.Screenshot(t, c.ctx, "account-limits")
	full := wallet.DefaultLimits(e.w.Service.Config().Currency)[wallet.TierFull]
	if got, want := c.text("#limit-daily"), locales.FormatMoney("en", e.w.Service.Config().Currency, full.Daily); !strings.Contains(got, want) {
		t.Errorf("the daily limit row reads %q, want tier 2's %s", got, want)
	}
}
