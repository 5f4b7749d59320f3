package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
)

// TestWebhookDataIsTheAPIView runs the merchant's objects through their
// lives on the full stack and checks that the data of every webhook event
// is, byte for byte, what the REST API answered for the same object in the
// same state: a payment request's payment_request.paid data is GET
// /v1/payment-requests/{id}, a payment.received GET /v1/transactions/{ref},
// and so on for every type the stack can make (the others, expiry and a
// tab's suspension, are ViewEventData's unit tests in wallet/merchant).
// Every event also fits the OpenAPI document's Event schema.
func TestWebhookDataIsTheAPIView(t *testing.T) {
	s := startStack(t)
	ctx := context.Background()
	till, key := s.merchant("Duka la Data")
	other, _ := s.merchant("Ads Network")
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var ep webhookView
	s.do(apiCall{method: "PUT", target: "/v1/webhooks", key: key, body: `{"url":"` + srv.URL + `/hook"}`}).decode(t, &ep)
	rc.mu.Lock()
	rc.secret = ep.Secret
	rc.mu.Unlock()

	// want maps an event (type and object id) to the API's answer for the
	// object at the time of the event.
	want := map[string][]byte{}
	answer := func(typ merchant.EventType, id string, r reply) {
		t.Helper()
		if r.status >= 300 {
			t.Fatalf("%s %s: the API answered %s", typ, id, r)
		}
		want[string(typ)+" "+id] = bytes.TrimSpace(r.body)
	}
	get := func(target string) reply { return s.do(apiCall{method: "GET", target: target, key: key}) }
	post := func(target, idem, body string) reply {
		return s.do(apiCall{method: "POST", target: target, key: key, idem: idem, body: body})
	}
	customer := s.customer(500_000)

	// A payment request paid, its payment, then part of it refunded.
	r := post("/v1/payment-requests", "data-pr-paid", `{"phone":"`+customer+`","amount":"150.00","reference":"DATA-1"}`)
	var pr merchant.PaymentRequestView
	r.decode(t, &pr)
	answer(merchant.EventRequestCreated, pr.ID, r)
	if _, err := merchantapi.NewClient(s.client).Approve(ctx, customer, pr.ID, customerPIN); err != nil {
		t.Fatal(err)
	}
	r = get("/v1/payment-requests/" + pr.ID)
	r.decode(t, &pr)
	answer(merchant.EventRequestPaid, pr.ID, r)
	answer(merchant.EventPaymentReceived, pr.Transaction, get("/v1/transactions/"+pr.Transaction))
	r = post("/v1/transactions/"+pr.Transaction+"/refund", "data-refund", `{"amount":"40.00"}`)
	var rf merchant.TransactionView
	r.decode(t, &rf)
	answer(merchant.EventRefund, rf.ID, r)
	if g := get("/v1/transactions/" + rf.ID); !bytes.Equal(bytes.TrimSpace(g.body), want[string(merchant.EventRefund)+" "+rf.ID]) {
		t.Errorf("GET the refund = %s, the refund's answer %s", g.body, r.body)
	}

	// A payment request declined, and one whose payment fails.
	r = post("/v1/payment-requests", "data-pr-declined", `{"phone":"`+customer+`","amount":"5.00","reference":"DATA-2"}`)
	r.decode(t, &pr)
	answer(merchant.EventRequestCreated, pr.ID, r)
	if _, err := merchantapi.NewClient(s.client).Decline(ctx, customer, pr.ID, customerPIN); err != nil {
		t.Fatal(err)
	}
	answer(merchant.EventRequestDeclined, pr.ID, get("/v1/payment-requests/"+pr.ID))
	broke := s.customer(0)
	r = post("/v1/payment-requests", "data-pr-failed", `{"phone":"`+broke+`","amount":"5.00","reference":"DATA-3"}`)
	r.decode(t, &pr)
	answer(merchant.EventRequestCreated, pr.ID, r)
	if _, err := merchantapi.NewClient(s.client).Approve(ctx, broke, pr.ID, customerPIN); wallet.ErrorCode(err) != wallet.CodeInsufficientFunds {
		t.Fatalf("approving without the money: %v, want insufficient_funds", err)
	}
	answer(merchant.EventRequestFailed, pr.ID, get("/v1/payment-requests/"+pr.ID))

	// A payout paid (its transfer), one failed, and a bulk payout done.
	payee := s.customer(0)
	r = post("/v1/payouts", "data-po-paid", `{"phone":"`+payee+`","amount":"10.00","reference":"SALARY-1"}`)
	var po merchant.PayoutView
	r.decode(t, &po)
	if po.Status != "paid" {
		t.Fatalf("payout %s", r)
	}
	answer(merchant.EventPayoutPaid, po.Transaction, get("/v1/transactions/"+po.Transaction))
	r = post("/v1/payouts", "data-po-failed", `{"phone":"`+payee+`","amount":"100000.00"}`)
	r.decode(t, &po)
	answer(merchant.EventPayoutFailed, po.ID, get("/v1/payouts/"+po.ID))
	r = s.do(apiCall{method: "POST", target: "/v1/payouts/bulk", key: key, idem: "data-bulk", contentType: "text/csv",
		body: "phone,amount\n" + payee + ",1.00\nnot-a-phone,2.00\n"})
	var bulk merchant.BulkPayoutView
	r.decode(t, &bulk)
	eventually(t, "the bulk payout done", func() bool {
		r = get("/v1/payouts/bulk/" + bulk.ID)
		r.decode(t, &bulk)
		return bulk.Status == "done"
	})
	for _, row := range bulk.Results {
		if row.Status == "paid" {
			answer(merchant.EventPayoutPaid, row.Transaction, get("/v1/transactions/"+row.Transaction))
		}
	}
	// The event leaves out the rows' results, which GET adds.
	results := bulk.Results
	bulk.Results = nil
	body, _ := json.Marshal(bulk)
	want[string(merchant.EventBatchDone)+" "+bulk.ID] = body
	if len(results) != 2 {
		t.Fatalf("bulk results %+v", results)
	}

	// A tab: opened, approved, charged with a split, closed (settled, the
	// settlement paid to both payees); another declined.
	expires := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	r = post("/v1/tabs", "data-tab", `{"phone":"`+customer+`","cap":"2.00","expires_at":"`+expires+`"}`)
	var tab merchant.TabView
	r.decode(t, &tab)
	answer(merchant.EventTabCreated, tab.ID, r)
	if _, err := merchantapi.NewClient(s.client).Approve(ctx, customer, tab.ID, customerPIN); err != nil {
		t.Fatal(err)
	}
	answer(merchant.EventTabApproved, tab.ID, get("/v1/tabs/"+tab.ID))
	if r := post("/v1/tabs/"+tab.ID+"/charges", "data-charge", `{"amount":"1.2345","splits":[{"to":"`+till+`","weight":70},{"to":"`+other+`","weight":30}]}`); r.status != 201 {
		t.Fatalf("charge %s", r)
	}
	r = post("/v1/tabs/"+tab.ID+"/close", "data-close", "")
	r.decode(t, &tab)
	answer(merchant.EventTabClosed, tab.ID, r)
	r = post("/v1/tabs", "data-tab-declined", `{"phone":"`+customer+`","cap":"1.00","expires_at":"`+expires+`"}`)
	var declined merchant.TabView
	r.decode(t, &declined)
	answer(merchant.EventTabCreated, declined.ID, r)
	if _, err := merchantapi.NewClient(s.client).Decline(ctx, customer, declined.ID, customerPIN); err != nil {
		t.Fatal(err)
	}
	answer(merchant.EventTabDeclined, declined.ID, get("/v1/tabs/"+declined.ID))

	// Every event arrives (the settlement's payment to this till as well:
	// GET /v1/transactions/{the settlement's transaction}); its data is
	// the answer recorded for it.
	settled := string(merchant.EventTabSettled) + " " + tab.ID
	var events []merchant.Event
	got := map[string]json.RawMessage{}
	var settlement *merchant.SettlementView
	eventually(t, "every event delivered", func() bool {
		rc.mu.Lock()
		events = slices.Clone(rc.events)
		rc.mu.Unlock()
		for _, ev := range events {
			var obj struct {
				ID         string                   `json:"id"`
				Settlement *merchant.SettlementView `json:"settlement"`
			}
			if err := json.Unmarshal(ev.Data, &obj); err != nil {
				t.Fatalf("%s data %s: %v", ev.Type, ev.Data, err)
			}
			k := string(ev.Type) + " " + obj.ID
			if prev, ok := got[k]; ok && !bytes.Equal(prev, ev.Data) {
				t.Fatalf("%s twice, with data %s and %s", k, prev, ev.Data)
			}
			got[k] = ev.Data
			if k == settled {
				settlement = obj.Settlement
			}
		}
		if settlement == nil {
			return false
		}
		if _, ok := got[string(merchant.EventPaymentReceived)+" "+settlement.Transaction]; !ok {
			return false
		}
		for k := range want {
			if _, ok := got[k]; !ok {
				return false
			}
		}
		return true
	})
	if rc.bad != 0 {
		t.Errorf("%d events with a bad signature", rc.bad)
	}
	t.Logf("%d events, %d distinct, %d answers to compare", len(events), len(got), len(want)+1)
	for _, ev := range events {
		body, _ := json.Marshal(ev)
		if err := s.doc.checkEvent(body); err != nil {
			t.Errorf("%s does not fit the Event schema: %v", body, err)
		}
	}
	if settlement.Status != "done" || settlement.Transaction == "" || settlement.Amount != tab.Settled ||
		len(settlement.Shares) != 2 || settlement.Currency != "KES" {
		t.Errorf("the settlement %+v of tab %+v", settlement, tab)
	}
	want[string(merchant.EventPaymentReceived)+" "+settlement.Transaction] = bytes.TrimSpace(get("/v1/transactions/" + settlement.Transaction).body)
	for k, data := range got {
		if k == settled {
			continue // the tab as it settled, before it closed
		}
		w, ok := want[k]
		if !ok {
			t.Errorf("an unexpected event %s: %s", k, data)
			continue
		}
		if !bytes.Equal(data, w) {
			t.Errorf("%s data\n%s\nwant the API's answer\n%s", k, data, w)
		}
	}
	// The tab.settled data is the tab as the settlement left it: the
	// close's answer but for its status and time.
	var atSettle merchant.TabView
	json.Unmarshal(got[settled], &atSettle)
	if atSettle.ID != tab.ID || atSettle.Settled != tab.Settled || atSettle.Charged != tab.Charged || atSettle.Cap != tab.Cap {
		t.Errorf("tab.settled %s, the close answered %+v", got[settled], tab)
	}
}
