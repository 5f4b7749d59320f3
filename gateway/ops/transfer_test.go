package ops

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// receipt records the receipt of transfer t to account as the notifier
// does (its key, notify.ReceiptKey), with status and, failed, a reason.
func (e *env) receipt(t wallet.Transfer, account int64, phone, lang, text, status string) {
	e.t.Helper()
	ctx := context.Background()
	key := notify.ReceiptKey(t.ID, account)
	if _, err := e.notify.Record(ctx, []notify.Outgoing{{Key: key, Kind: notify.KindReceipt, Transfer: t.ID, Account: account,
		To: phone, Language: lang, Text: text}}); err != nil {
		e.t.Fatal(err)
	}
	reason := ""
	if status == notify.StatusFailed {
		reason = "carrier rejected the number"
	}
	if err := e.w.Store.Gorm().WithContext(ctx).Exec(`UPDATE sms_messages SET status = ?, last_error = ? WHERE "key" = ?`,
		status, reason, key).Error; err != nil {
		e.t.Fatal(err)
	}
}

// TestTransferPage: a till payment's page shows its postings, its receipts
// (each party's, with language, status and failure reason; not another
// transfer's), its webhook delivery linking to the merchant's webhooks, and
// its refund; the refund's page names the payment it refunds and says it
// has no receipt; a send's page shows the reversal request about it. Every
// read role sees it, the others are refused; with the notifier stopped the
// page is up and says so.
func TestTransferPage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	svc := e.w.Service
	phone := e.w.Customer("Amina Otieno", "2580", 1_000_00)
	other := e.w.Customer("Baraka Njoroge", "1470", 0)
	till := e.w.Merchant("Duka la Mama", false)
	pay, err := svc.Transfer(ctx, wallet.TransferRequest{Key: "tx-pay", Kind: wallet.TransferTill, From: phone, To: till, Amount: 200_00, PIN: "2580"})
	if err != nil {
		t.Fatal(err)
	}
	refund, err := svc.Transfer(ctx, wallet.TransferRequest{Key: "tx-refund", Kind: wallet.TransferRefund, From: till, Reference: pay.Transfer.Ref, Amount: 50_00})
	if err != nil {
		t.Fatal(err)
	}
	send, err := svc.Transfer(ctx, wallet.TransferRequest{Key: "tx-send", Kind: wallet.TransferSend, From: phone, To: other, Amount: 100_00, PIN: "2580"})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := svc.RequestReversal(ctx, phone, send.Transfer.Ref, "2580")
	if err != nil {
		t.Fatal(err)
	}
	e.receipt(pay.Transfer, pay.Transfer.Source, phone, "sw", "Umelipa KES 200.00 kwa Duka la Mama", notify.StatusFailed)
	e.receipt(pay.Transfer, pay.Transfer.Target, "+254700000999", "en", "You received KES 200.00 from Amina", notify.StatusDelivered)
	e.receipt(send.Transfer, send.Transfer.Source, phone, "en", "You sent KES 100.00 to Baraka", notify.StatusSent)
	if _, err := e.notify.SetWebhook(ctx, till, "https://duka.example/hooks", false); err != nil {
		t.Fatal(err)
	}
	event := notify.TransferEventID(pay.Transfer.Ref, till)
	body, _ := json.Marshal(merchant.Event{ID: event, Type: merchant.EventPaymentReceived, Merchant: till, Created: time.Now().UTC()})
	if _, _, err := e.notify.RecordBatch(ctx, nil, []notify.OutgoingWebhook{{Merchant: till, Event: event, Type: merchant.EventPaymentReceived, Payload: body, Seq: 1}}); err != nil {
		t.Fatal(err)
	}
	payPage, refundPage, sendPage := Prefix+"/transfer/"+pay.Transfer.Ref, Prefix+"/transfer/"+refund.Transfer.Ref, Prefix+"/transfer/"+send.Transfer.Ref

	for _, role := range wallet.OperatorRoles {
		t.Run(string(role), func(t *testing.T) {
			p := e.as(role).get(payPage)
			if !allowed(role, "GET", "/transfer/"+pay.Transfer.Ref) {
				if p.status != http.StatusForbidden || strings.Contains(p.body, "Umelipa") {
					t.Errorf("got %d, want %d and no receipt", p.status, http.StatusForbidden)
				}
				return
			}
			for _, want := range []string{
				`id="receipts"`, "Umelipa KES 200.00 kwa Duka la Mama", "carrier rejected the number", ">sw<", "You received KES 200.00",
				`id="transfer-deliveries"`, event, `id="later"`, refund.Transfer.Ref, text(t, "ops.transfer.history"),
			} {
				if p.status != http.StatusOK || !strings.Contains(p.body, want) {
					t.Errorf("got %d, want %q on the page", p.status, want)
				}
			}
			if strings.Contains(p.body, "You sent KES 100.00") {
				t.Error("another transfer's receipt is on the page")
			}
			// The merchant's webhooks page is linked for the roles it allows.
			link := `href="` + Prefix + "/merchants/" + till + `/webhooks"`
			if got, want := strings.Contains(p.body, link), allowed(role, "GET", "/merchants/"+till+"/webhooks"); got != want {
				t.Errorf("link to the merchant's webhooks: got %v, want %v", got, want)
			}
		})
	}
	b := e.as(wallet.RoleSupport)
	for _, tc := range []struct {
		name, path string
		want, not  []string
	}{
		{"a refund: its payment, no receipt, no delivery", refundPage,
			[]string{text(t, "ops.transfer.refunds"), `href="` + Prefix + "/transfer/" + pay.Transfer.Ref + `"`, `id="receipts-none"`, `id="deliveries-none"`},
			[]string{`id="receipts"`, `id="later"`}},
		{"a send: its reversal request, no merchant", sendPage,
			[]string{`id="reversal"`, string(rev.State), "You sent KES 100.00"},
			[]string{`id="history-none"`, text(t, "ops.transfer.webhooks")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.get(tc.path)
			if p.status != http.StatusOK {
				t.Fatalf("got %d, want 200\n%s", p.status, p.body)
			}
			for _, w := range tc.want {
				if !strings.Contains(p.body, w) {
					t.Errorf("want %q on the page", w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(p.body, n) {
					t.Errorf("do not want %q on the page", n)
				}
			}
		})
	}

	e.opsSvc.Stop()
	p := b.get(payPage)
	if p.status != http.StatusOK || !strings.Contains(p.body, `id="postings"`) || !strings.Contains(p.body, refund.Transfer.Ref) ||
		!strings.Contains(p.body, text(t, "ops.notify.unavailable")) || strings.Contains(p.body, "Umelipa") {
		t.Errorf("the notifier down: got %d, want the page with its postings and history, saying the notifier does not answer\n%s", p.status, p.body)
	}
}
