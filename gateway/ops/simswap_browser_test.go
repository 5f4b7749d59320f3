package ops

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kibubu/kibubu/gateway/internal/browsertest"
	"github.com/kibubu/kibubu/wallet"
)

// TestBrowserClearSIMSwap: in a real browser support opens an account the
// SIM-swap gate held (the hold and since when are on the page), types how
// the holder was verified and clears it; the page says so and the account
// is active.
func TestBrowserClearSIMSwap(t *testing.T) {
	var sent told
	e, net := newSIMSwapEnv(t, &sent)
	phone, _ := e.swapCustomer(t, net, true)
	s := e.tab(t, nil)
	s.signIn(wallet.RoleSupport)
	s.do(chromedp.Navigate(e.srv.URL+Prefix+"/account/"+phone), chromedp.WaitVisible("#simswap-held"))
	browsertest.Screenshot(t, s.ctx, "account-simswap-held")
	if got := s.text("#account-status"); got == "" || s.text("#simswap-since") == "" {
		t.Fatalf("the held account's status reads %q, without since when", got)
	}
	s.do(chromedp.SendKeys("#simswap-reason", "ID card seen at the shop, recent sends confirmed"),
		chromedp.Click("#simswap-clear"),
		chromedp.WaitVisible("#notice"),
	)
	browsertest.Screenshot(t, s.ctx, "account-simswap-cleared")
	if got := s.text("#notice"); got != text(t, "ops.account.simswap_cleared") {
		t.Errorf("after the clearance the page says %q", got)
	}
	if got := s.text("#account-status"); got != string(wallet.StatusActive) {
		t.Errorf("after the clearance the status reads %q, want active", got)
	}
}
