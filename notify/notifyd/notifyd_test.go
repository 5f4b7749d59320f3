package notifyd_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/kibubu/kibubu/notify"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	"github.com/kibubu/kibubu/notify/notifyd"
	notifystore "github.com/kibubu/kibubu/notify/store"
	"github.com/kibubu/kibubu/notify/webhooktest"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
	walletapi "github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

// TestWebhooksEndToEnd runs the whole path on the real stack: a wallet with
// its merchant services and relay, the notifier's consumer, webhook sender
// and service. A merchant sets its URL with a real API key (the wallet
// checks it), makes a payment request, the customer gets the SMS prompt and
// approves it with the PIN, and the merchant's receiver gets every event,
// signed, in the order recorded; the deliveries are listed with their
// attempts.
func TestWebhooksEndToEnd(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	// The wallet, its merchant services and relay: wallettest's, stopped
	// after the notifier (whose cleanup is registered below).
	w := wallettest.StartMerchants(t, merchant.Config{Logger: log}, func(c *wallet.Config) { c.Location, c.Logger = nairobi, log })
	ns, nc, js, wst, client := w.NATS, w.Conn, w.JS, w.Store, w.Client
	if _, err := notifyapi.EnsureStream(ctx, js, 1, ns.Prefix); err != nil {
		t.Fatal(err)
	}
	n, err := notifyd.Start(ctx, notifyd.Config{Prefix: ns.Prefix, Currency: kes, Location: nairobi, ServiceCode: "*384#", Migrate: true,
		WebhookAllowPrivate: true, // the receiver is on loopback
		WebhookBackoffMin:   5 * time.Millisecond, WebhookBackoffMax: 40 * time.Millisecond, PollInterval: 20 * time.Millisecond,
	}, notifyd.Deps{DB: wst.Gorm(), Conn: nc, Auth: merchantapi.NewClient(client), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Close(context.Background()); err != nil {
			t.Error(err)
		}
		js.DeleteStream(context.Background(), notifyapi.StreamName(ns.Prefix))
	})
	st := n.Store
	// The start counts the failure chart's closed days ahead: the 30 days
	// of the dashboard but the last three, which may still change.
	for deadline := time.Now().Add(10 * time.Second); st.FailureDaysKept() < 26; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the start kept %d closed days of failure counts, want the dashboard's 30 but the last ones", st.FailureDaysKept())
		}
	}

	// A customer with money and a PIN, a till, its keys.
	alice := "+254722000101"
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	a, err := client.Register(ctx, walletapi.RegisterRequest{Phone: alice, Name: "Alice Wanjiru", Tier: wallet.TierFull, Language: "sw"})
	must(a, err)
	must(client.SetPINWithStartKey(ctx, alice, a.StartKey, "2580"))
	agent, err := client.AddAgent(ctx, "+254733000101", "Float Agent")
	must(agent, err)
	must(client.SetPINWithStartKey(ctx, "+254733000101", agent.StartKey, "1357"))
	must(client.IssueFloat(ctx, agent.Number, 10_000_00, "BANK-1"))
	must(client.Transfer(ctx, wallet.TransferRequest{Key: "seed", Kind: wallet.TransferDeposit, From: "+254733000101", To: alice, Amount: 1_000_00, PIN: "1357"}))
	till, err := client.AddMerchant(ctx, "+254733000102", "Duka la Awa", false)
	must(till, err)
	key, err := merchantapi.NewClient(client).CreateAPIKey(ctx, merchantapi.APIKeyRequest{Merchant: till.Number,
		Scopes: []merchant.Scope{merchant.ScopePayments, merchant.ScopeTransactions, merchant.ScopeWebhooks}})
	must(key, err)
	narrow, err := merchantapi.NewClient(client).CreateAPIKey(ctx, merchantapi.APIKeyRequest{Merchant: till.Number, Scopes: []merchant.Scope{merchant.ScopePayments}})
	must(narrow, err)

	hc := notifyapi.NewWebhookClient(nc, 5*time.Second, ns.Prefix)
	rcv := webhooktest.NewReceiver(t, func(n int64) (int, time.Duration) {
		if n == 1 {
			return http.StatusServiceUnavailable, 0 // the first try fails
		}
		return http.StatusOK, 0
	})
	if _, err := hc.SetWebhook(ctx, notify.WebhookSetRequest{Auth: narrow.Secret, URL: rcv.URL(till.Number)}); wallet.ErrorCode(err) != wallet.CodeForbidden {
		t.Errorf("a key without the webhooks scope: %v, want forbidden", err)
	}
	if _, err := hc.SetWebhook(ctx, notify.WebhookSetRequest{Auth: "kbk_nobody_nothing", URL: rcv.URL(till.Number)}); wallet.ErrorCode(err) != wallet.CodeUnauthenticated {
		t.Errorf("an unknown key: %v, want unauthenticated", err)
	}
	ep, err := hc.SetWebhook(ctx, notify.WebhookSetRequest{Auth: key.Secret, URL: rcv.URL(till.Number)})
	if err != nil || ep.Merchant != till.Number || ep.Secret == "" {
		t.Fatalf("set: %+v, %v", ep, err)
	}
	rcv.SetSecret(till.Number, ep.Secret)

	pr, err := merchantapi.NewClient(client).CreatePaymentRequest(ctx, merchantapi.PaymentRequestCreate{Auth: key.Secret, Idempotency: "order-1",
		Phone: alice, Amount: 150_00, Reference: "INV-1"})
	if err != nil {
		t.Fatal(err)
	}
	// The prompt reaches Alice, in Swahili.
	deadline := time.Now().Add(20 * time.Second)
	for {
		rows, err := st.List(ctx, notifystore.Filter{Phone: alice, Kind: notify.KindMessage})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 1 {
			if want := "Duka la Awa anakuomba ulipe KES 150.00 kwa INV-1."; len(rows[0].Text) < len(want) || rows[0].Text[:len(want)] != want || rows[0].Language != "sw" {
				t.Errorf("prompt %+v", rows[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("prompts: %+v", rows)
		}
		time.Sleep(20 * time.Millisecond)
	}
	res, err := merchantapi.NewClient(client).Approve(ctx, alice, pr.ID, "2580")
	if err != nil || res.Transfer == nil {
		t.Fatalf("approve: %+v, %v", res, err)
	}
	ref := res.Transfer.Transfer.Ref

	// The receiver gets the request's events and the payment's.
	want := []string{"payment_request.created", "payment_request.paid", "payment.received"}
	var got []webhooktest.Received
	for {
		got = got[:0]
		for _, r := range rcv.Received() {
			if r.Status == http.StatusOK {
				got = append(got, r)
			}
		}
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var types []string
	for _, r := range got {
		types = append(types, r.Type)
		if !r.Verified {
			t.Errorf("%s: not signed", r.Event)
		}
		var ev merchant.Event
		if err := json.Unmarshal(r.Body, &ev); err != nil {
			t.Fatalf("body %s", r.Body)
		}
		// The data is the object as the REST API shows it: the view of
		// what the wallet answers for it.
		var want any
		switch r.Type {
		case "payment.received":
			var tx merchant.TransactionView
			if err := json.Unmarshal(ev.Data, &tx); err != nil {
				t.Fatalf("body %s", r.Body)
			}
			if ev.ID != "evt_"+ref+"_"+till.Number || tx.ID != ref || tx.Amount != "150.00" || tx.Currency != "KES" ||
				tx.Counterparty != alice || tx.Direction != "in" {
				t.Errorf("payment.received %s: %+v", r.Body, tx)
			}
			got, err := merchantapi.NewClient(client).Transaction(ctx, key.Secret, ref)
			if err != nil {
				t.Fatal(err)
			}
			want = merchant.ViewTransaction(kes, got)
		case "payment_request.paid":
			got, err := merchantapi.NewClient(client).PaymentRequest(ctx, key.Secret, pr.ID)
			if err != nil {
				t.Fatal(err)
			}
			want = merchant.ViewPaymentRequest(kes, got)
		case "payment_request.created":
			want = merchant.ViewPaymentRequest(kes, pr)
		}
		if w, _ := json.Marshal(want); string(ev.Data) != string(w) {
			t.Errorf("%s data\n%s\nwant the API's view\n%s", r.Type, ev.Data, w)
		}
	}
	if slices.Sort(types); !slices.Equal(types, []string{"payment.received", "payment_request.created", "payment_request.paid"}) {
		t.Errorf("the receiver acknowledged %v, want %v", types, want)
	}
	if len(rcv.Overlap()) > 0 {
		t.Errorf("overlapping deliveries: %v", rcv.Overlap())
	}
	// In the order recorded: the listing, oldest first, is the order
	// received. The sender records an outcome after the receiver answered,
	// so the last one may still be on its way into the table.
	var list *notify.DeliveriesReply
	for {
		var err error
		list, err = hc.Deliveries(ctx, notify.DeliveriesRequest{Auth: key.Secret})
		if err != nil || len(list.Deliveries) != 3 {
			t.Fatalf("deliveries: %+v, %v", list, err)
		}
		if list.Deliveries[0].Status == notify.DeliveryDelivered || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	slices.Reverse(list.Deliveries)
	for i, d := range list.Deliveries {
		if d.Status != notify.DeliveryDelivered || len(d.Attempts) == 0 || d.Event != got[i].Event {
			t.Errorf("delivery %d: %+v, received %s", i, d, got[i].Event)
		}
	}
	if n := len(list.Deliveries[0].Attempts); n != 2 || list.Deliveries[0].Attempts[0].Status != http.StatusServiceUnavailable {
		t.Errorf("the first delivery's attempts: %+v, want a 503 then a 200", list.Deliveries[0].Attempts)
	}
}

var (
	kes     = wallet.Currency{Code: "KES", Exponent: 2}
	nairobi = time.FixedZone("EAT", 3*60*60)
)
