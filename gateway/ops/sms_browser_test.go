package ops

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kibubu/kibubu/gateway/internal/browsertest"
	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/wallet"
)

// TestBrowserSMS: a support operator opens the SMS outbox in a real
// headless Chromium, sees a delivered SMS and a failed one with its
// reason, and sends the failed one again with a reason; the account page
// shows the account's SMS. It saves a screenshot of each.
func TestBrowserSMS(t *testing.T) {
	e := newEnv(t)
	phone := e.w.Customer("Amani Njoroge", "2580", 2_500)
	e.sms(phone, "b-ok", "You received KES 25.00 from 0712 345 678. New balance KES 25.00.", notify.StatusDelivered)
	failed := e.sms(phone, "b-failed", "Your PIN was changed. If this was not you, call 100.", notify.StatusFailed)
	b := e.tab(t, nil)
	b.signIn(wallet.RoleSupport)
	b.do(chromedp.Navigate(e.srv.URL+Prefix+"/sms"), chromedp.WaitVisible("#sms"))
	browsertest.Screenshot(t, b.ctx, "sms")
	row := "#sms-" + itoa(failed)
	if got := b.text(row); !strings.Contains(got, "failed") || !strings.Contains(got, "carrier rejected the number") || !strings.Contains(got, "Your PIN was changed") {
		t.Fatalf("the failed SMS's row: %q", got)
	}
	if got := b.text("#sms tbody"); !strings.Contains(got, "You received KES 25.00") {
		t.Fatalf("the outbox: %q", got)
	}
	b.do(chromedp.SendKeys(row+" input[name=reason]", "customer asked again, number checked"),
		chromedp.Click(row+" button.retry"),
		chromedp.WaitVisible("#notice"))
	if got := b.text(row + " .state"); got != notify.StatusPending {
		t.Errorf("after the retry the SMS is %q, want pending", got)
	}
	if got := e.smsStatus(failed); got != notify.StatusPending {
		t.Errorf("the notifier has the SMS %s, want pending", got)
	}
	browsertest.Screenshot(t, b.ctx, "sms-retried")
	b.do(chromedp.Navigate(e.srv.URL+Prefix+"/account/"+phone), chromedp.WaitVisible("#account-sms"))
	if got := b.text("#account-sms"); !strings.Contains(got, "delivered") || !strings.Contains(got, "pending") {
		t.Errorf("the account's SMS: %q", got)
	}
	browsertest.Screenshot(t, b.ctx, "account-sms")
	// The dashboard charts the day's SMS failure rate: 1 failed of 2 was
	// retried, so none failed now.
	f := e.tab(t, nil)
	f.signIn(wallet.RoleFinance)
	f.do(chromedp.Navigate(e.srv.URL+Prefix+"/dashboard"), chromedp.WaitVisible("#chart-failures svg"))
	f.do(chromedp.ScrollIntoView("#chart-failures"))
	browsertest.Screenshot(t, f.ctx, "dashboard-failures")
	if got, err := chromedp.Run(f.ctx, chromedp.TextContent("#chart-failures")); err != nil || !strings.Contains(got, text(t, "ops.dashboard.sms_failed")) {
		t.Errorf("the failure chart names %q (%v)", got, err)
	}
}
