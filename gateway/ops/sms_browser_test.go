package ops

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kibubu/kibubu/gateway/internal/browsertest"
	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
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
	// A till payment's page, opened from the statement: its receipts, one
	// delivered, the merchant's failed with its reason (transfer.go).
	till := e.w.Merchant("Duka la Mama", false)
	pay, err := e.w.Service.Transfer(context.Background(), wallet.TransferRequest{Key: "b-pay", Kind: wallet.TransferTill, From: phone, To: till, Amount: 10_00, PIN: "2580"})
	if err != nil {
		t.Fatal(err)
	}
	e.receipt(pay.Transfer, pay.Transfer.Source, phone, "en", "You paid KES 10.00 to Duka la Mama. New balance KES 15.00.", notify.StatusDelivered)
	e.receipt(pay.Transfer, pay.Transfer.Target, "+254700000999", "sw", "Umepokea KES 10.00 kutoka kwa Amani Njoroge.", notify.StatusFailed)
	if _, err := e.notify.SetWebhook(context.Background(), till, "https://duka.example/hooks", false); err != nil {
		t.Fatal(err)
	}
	event := notify.TransferEventID(pay.Transfer.Ref, till)
	if _, _, err := e.notify.RecordBatch(context.Background(), nil, []notify.OutgoingWebhook{{Merchant: till, Event: event,
		Type: merchant.EventPaymentReceived, Payload: []byte(`{"id":"` + event + `"}`), Seq: 1}}); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Navigate(e.srv.URL+Prefix+"/account/"+phone), chromedp.Click("#statement a[href$='/transfer/"+pay.Transfer.Ref+"']"),
		chromedp.WaitVisible("#receipts"))
	browsertest.Screenshot(t, b.ctx, "transfer-receipts")
	if got := b.text("#receipts"); !strings.Contains(got, "You paid KES 10.00") || !strings.Contains(got, "delivered") ||
		!strings.Contains(got, "carrier rejected the number") || !strings.Contains(got, "sw") {
		t.Errorf("the transfer's receipts: %q", got)
	}
	if got := b.text("#transfer-deliveries"); !strings.Contains(got, event) || !strings.Contains(got, "pending") {
		t.Errorf("the transfer's webhook deliveries: %q", got)
	}
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
