package merchant_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

var (
	viewKES = wallet.Currency{Code: "KES", Exponent: 2}
	viewUGX = wallet.Currency{Code: "UGX", Exponent: 0}
	// viewAt is a time off UTC with nanoseconds: views write it in UTC,
	// to the microsecond.
	viewAt = time.Date(2026, 11, 21, 14, 15, 16, 123456789, time.FixedZone("EAT", 3*60*60))
)

// The stored objects of the view tests, amounts in minor units and Micro.
var (
	viewRequest = merchant.PaymentRequest{ID: "pr_1", Merchant: "445566", MerchantName: "Duka la Awa", Phone: "+254722000001",
		Amount: 150_00, Reference: "INV-1", Description: "2 bags of flour", Status: merchant.RequestPaid, Transaction: "QM1A2B3C4D",
		Created: viewAt, Expires: viewAt.Add(2 * time.Minute), Updated: viewAt.Add(time.Minute)}
	viewTransaction = merchant.Transaction{ID: "QM1A2B3C4D", Kind: wallet.TransferTill, Direction: "in", Amount: 150_00, Fee: 75,
		Net: 149_25, Counterparty: "+254722000001", Name: "JOHN KAMAU", Reference: "INV-1", Refunded: 50_00, Created: viewAt}
	viewPayout = merchant.Payout{ID: "po_1", Merchant: "445566", Phone: "+254722000002", Amount: 1000_00, Fee: 15_00,
		Reference: "SALARY-1", Status: merchant.PayoutFailed, Reason: "insufficient_funds", Message: "not enough money",
		Batch: "pb_1", Line: 3, Created: viewAt, Updated: viewAt.Add(time.Second)}
	viewFinished = viewAt.Add(time.Minute)
	viewBulk     = merchant.BulkPayout{ID: "pb_1", Merchant: "445566", Status: merchant.BatchDone, Rows: 2, Done: 2, Paid: 1, Failed: 1,
		Amount: 1250_50, PaidOut: 250_50, Created: viewAt, Finished: &viewFinished}
	viewTab = merchant.Tab{ID: "tab_1", Merchant: "445566", MerchantName: "Habari Daily", Phone: "+254722000001", Prepaid: true,
		Reference: "READER-1", Cap: 1_500_000, Charged: 12_345, Settled: 10_000, Status: merchant.TabActive,
		Created: viewAt, Expires: viewAt.Add(24 * time.Hour), Updated: viewAt.Add(time.Hour)}
	viewSettlement = merchant.Settlement{Tab: "tab_1", Seq: 2, Amount: 9_90, Fee: 10, Source: "+254722000001",
		Shares: []merchant.SettlementShare{{Merchant: "445566", Weight: 69_300, Gross: 6_93}, {Merchant: "888880", Weight: 29_700, Gross: 2_97}},
		Status: merchant.SettlementFailed, Reason: "insufficient_funds", Created: viewAt, Updated: viewAt}
	viewCharge = merchant.Charge{ID: "ch_1", Tab: "tab_1", Amount: 2_500, Reference: "click-1",
		Splits: []merchant.Split{{To: "445566", Weight: 70}, {To: "888880", Weight: 30}}, Charged: 12_345, Remaining: 1_487_655, Created: viewAt}
)

// TestViews pins each view's JSON: the field names, amounts as decimal
// strings in major units with the currency, times in UTC.
func TestViews(t *testing.T) {
	bulk := viewBulk
	bulk.Results = []merchant.Payout{viewPayout}
	event := merchant.TabEvent{Tab: viewTab, Settlement: &viewSettlement}
	tests := []struct {
		name string
		view any
		want string
	}{
		{"payment request", merchant.ViewPaymentRequest(viewKES, &viewRequest),
			`{"id":"pr_1","merchant":"445566","merchant_name":"Duka la Awa","phone":"+254722000001","amount":"150.00","currency":"KES",` +
				`"reference":"INV-1","description":"2 bags of flour","status":"paid","transaction":"QM1A2B3C4D",` +
				`"created":"2026-11-21T11:15:16.123456Z","expires":"2026-11-21T11:17:16.123456Z","updated":"2026-11-21T11:16:16.123456Z"}`},
		{"payment request in UGX", merchant.ViewPaymentRequest(viewUGX, &viewRequest),
			`{"id":"pr_1","merchant":"445566","merchant_name":"Duka la Awa","phone":"+254722000001","amount":"15000","currency":"UGX",` +
				`"reference":"INV-1","description":"2 bags of flour","status":"paid","transaction":"QM1A2B3C4D",` +
				`"created":"2026-11-21T11:15:16.123456Z","expires":"2026-11-21T11:17:16.123456Z","updated":"2026-11-21T11:16:16.123456Z"}`},
		{"transaction", merchant.ViewTransaction(viewKES, &viewTransaction),
			`{"id":"QM1A2B3C4D","kind":"till","direction":"in","amount":"150.00","fee":"0.75","net":"149.25","currency":"KES",` +
				`"counterparty":"+254722000001","name":"JOHN KAMAU","reference":"INV-1","refunded":"50.00","created":"2026-11-21T11:15:16.123456Z"}`},
		{"refund", merchant.ViewTransaction(viewKES, &merchant.Transaction{ID: "QM1A2B3C5E", Kind: wallet.TransferRefund, Direction: "out",
			Amount: 50_00, Net: -50_00, Refunds: "QM1A2B3C4D", Created: viewAt}),
			`{"id":"QM1A2B3C5E","kind":"refund","direction":"out","amount":"50.00","fee":"0.00","net":"-50.00","currency":"KES",` +
				`"refunds":"QM1A2B3C4D","created":"2026-11-21T11:15:16.123456Z"}`},
		{"payout", merchant.ViewPayout(viewKES, &viewPayout),
			`{"id":"po_1","merchant":"445566","phone":"+254722000002","amount":"1000.00","fee":"15.00","currency":"KES","reference":"SALARY-1",` +
				`"status":"failed","reason":"insufficient_funds","message":"not enough money","batch":"pb_1","line":3,` +
				`"created":"2026-11-21T11:15:16.123456Z","updated":"2026-11-21T11:15:17.123456Z"}`},
		{"bulk payout", merchant.ViewBulkPayout(viewKES, &bulk),
			`{"id":"pb_1","merchant":"445566","status":"done","rows":2,"done":2,"paid":1,"failed":1,"amount":"1250.50","paid_amount":"250.50",` +
				`"currency":"KES","created":"2026-11-21T11:15:16.123456Z","finished":"2026-11-21T11:16:16.123456Z","results":[` +
				`{"id":"po_1","merchant":"445566","phone":"+254722000002","amount":"1000.00","fee":"15.00","currency":"KES","reference":"SALARY-1",` +
				`"status":"failed","reason":"insufficient_funds","message":"not enough money","batch":"pb_1","line":3,` +
				`"created":"2026-11-21T11:15:16.123456Z","updated":"2026-11-21T11:15:17.123456Z"}]}`},
		{"tab", merchant.ViewTab(viewKES, &viewTab),
			`{"id":"tab_1","merchant":"445566","merchant_name":"Habari Daily","phone":"+254722000001","prepaid":true,"reference":"READER-1",` +
				`"cap":"1.50","charged":"0.012345","settled":"0.01","remaining":"1.487655","currency":"KES","status":"active",` +
				`"created":"2026-11-21T11:15:16.123456Z","expires":"2026-11-22T11:15:16.123456Z","updated":"2026-11-21T12:15:16.123456Z"}`},
		{"tab event with its settlement", merchant.ViewTabEvent(viewKES, &event),
			`{"id":"tab_1","merchant":"445566","merchant_name":"Habari Daily","phone":"+254722000001","prepaid":true,"reference":"READER-1",` +
				`"cap":"1.50","charged":"0.012345","settled":"0.01","remaining":"1.487655","currency":"KES","status":"active",` +
				`"created":"2026-11-21T11:15:16.123456Z","expires":"2026-11-22T11:15:16.123456Z","updated":"2026-11-21T12:15:16.123456Z",` +
				`"settlement":{"seq":2,"amount":"9.90","fee":"0.10","currency":"KES","source":"+254722000001","shares":[` +
				`{"merchant":"445566","weight":"0.0693","gross":"6.93"},{"merchant":"888880","weight":"0.0297","gross":"2.97"}],` +
				`"status":"failed","reason":"insufficient_funds","created":"2026-11-21T11:15:16.123456Z","updated":"2026-11-21T11:15:16.123456Z"}}`},
		{"charge", merchant.ViewCharge(viewKES, &viewCharge),
			`{"id":"ch_1","tab":"tab_1","amount":"0.0025","currency":"KES","reference":"click-1",` +
				`"splits":[{"to":"445566","weight":70},{"to":"888880","weight":30}],"charged":"0.012345","remaining":"1.487655",` +
				`"created":"2026-11-21T11:15:16.123456Z"}`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.view)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
	// A payment not refunded says nothing of refunds.
	tx := viewTransaction
	tx.Refunded = 0
	if v := merchant.ViewTransaction(viewKES, &tx); v.Refunded != "" {
		t.Errorf("refunded %q of a payment not refunded", v.Refunded)
	}
}

// TestViewEventData turns the stored data of an event of every type into
// its view: the same JSON the view's constructor gives for the object (what
// the REST API answers), and nothing the view type does not have.
func TestViewEventData(t *testing.T) {
	declined := viewTab
	declined.Status, declined.Reason = merchant.TabDeclined, "declined"
	done := viewSettlement
	done.Status, done.Reason, done.Fee, done.Transfer = merchant.SettlementDone, "", 0, "QM1A2B3C9Z"
	refund := merchant.Transaction{ID: "QM1A2B3C5E", Kind: wallet.TransferRefund, Direction: "out", Amount: 50_00, Net: -50_00,
		Refunds: "QM1A2B3C4D", Created: viewAt}
	paid := viewPayout
	paid.Status, paid.Reason, paid.Message, paid.Transaction = merchant.PayoutPaid, "", "", "QM1A2B3C6F"
	payoutTx := merchant.Transaction{ID: "QM1A2B3C6F", Kind: wallet.TransferPayout, Direction: "out", Amount: 1000_00, Fee: 15_00,
		Net: -1015_00, Counterparty: "+254722000002", Created: viewAt}
	request := func(s merchant.RequestStatus, reason string) merchant.PaymentRequest {
		pr := viewRequest
		pr.Status, pr.Reason = s, reason
		if s != merchant.RequestPaid {
			pr.Transaction = ""
		}
		return pr
	}
	type stored struct {
		obj  any // what the wallet writes as the event's data
		view any // the view the REST API answers for it
	}
	tabView := func(tab merchant.Tab, st *merchant.Settlement) any {
		return merchant.ViewTabEvent(viewKES, &merchant.TabEvent{Tab: tab, Settlement: st})
	}
	cases := map[merchant.EventType]stored{
		merchant.EventPaymentReceived: {viewTransaction, merchant.ViewTransaction(viewKES, &viewTransaction)},
		merchant.EventRefund:          {refund, merchant.ViewTransaction(viewKES, &refund)},
		merchant.EventPayoutPaid:      {payoutTx, merchant.ViewTransaction(viewKES, &payoutTx)},
		merchant.EventPayoutFailed:    {viewPayout, merchant.ViewPayout(viewKES, &viewPayout)},
		merchant.EventBatchDone:       {viewBulk, merchant.ViewBulkPayout(viewKES, &viewBulk)},
		merchant.EventRequestCreated: {request(merchant.RequestPending, ""),
			merchant.ViewPaymentRequest(viewKES, new(request(merchant.RequestPending, "")))},
		merchant.EventRequestPaid: {viewRequest, merchant.ViewPaymentRequest(viewKES, &viewRequest)},
		merchant.EventRequestDeclined: {request(merchant.RequestDeclined, ""),
			merchant.ViewPaymentRequest(viewKES, new(request(merchant.RequestDeclined, "")))},
		merchant.EventRequestExpired: {request(merchant.RequestExpired, ""),
			merchant.ViewPaymentRequest(viewKES, new(request(merchant.RequestExpired, "")))},
		merchant.EventRequestFailed: {request(merchant.RequestFailed, "insufficient_funds"),
			merchant.ViewPaymentRequest(viewKES, new(request(merchant.RequestFailed, "insufficient_funds")))},
		merchant.EventTabCreated:   {merchant.TabEvent{Tab: viewTab}, tabView(viewTab, nil)},
		merchant.EventTabApproved:  {merchant.TabEvent{Tab: viewTab}, tabView(viewTab, nil)},
		merchant.EventTabDeclined:  {merchant.TabEvent{Tab: declined}, tabView(declined, nil)},
		merchant.EventTabSettled:   {merchant.TabEvent{Tab: viewTab, Settlement: &done}, tabView(viewTab, &done)},
		merchant.EventTabSuspended: {merchant.TabEvent{Tab: viewTab, Settlement: &viewSettlement}, tabView(viewTab, &viewSettlement)},
		merchant.EventTabClosed:    {merchant.TabEvent{Tab: viewTab}, tabView(viewTab, nil)},
	}
	if len(cases) != len(merchant.EventTypes) {
		t.Errorf("%d cases for %d event types", len(cases), len(merchant.EventTypes))
	}
	for _, typ := range merchant.EventTypes {
		c, ok := cases[typ]
		if !ok {
			t.Errorf("%s: no case", typ)
			continue
		}
		zero, ok := merchant.EventView(typ)
		if !ok {
			t.Errorf("%s: no view", typ)
			continue
		}
		if reflect.TypeOf(zero) != reflect.TypeOf(c.view) {
			t.Errorf("%s: EventView is a %T, the case's view a %T", typ, zero, c.view)
		}
		data, err := json.Marshal(c.obj)
		if err != nil {
			t.Fatal(err)
		}
		got, err := merchant.ViewEventData(viewKES, typ, data)
		if err != nil {
			t.Errorf("%s: %v", typ, err)
			continue
		}
		want, _ := json.Marshal(c.view)
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", typ, got, want)
		}
		// The data decodes into the view type, field for field.
		back := reflect.New(reflect.TypeOf(zero))
		dec := json.NewDecoder(bytes.NewReader(got))
		dec.DisallowUnknownFields()
		if err := dec.Decode(back.Interface()); err != nil {
			t.Errorf("%s: %s does not decode into %T: %v", typ, got, zero, err)
		}
		if !strings.Contains(string(got), `"currency":"KES"`) {
			t.Errorf("%s: %s: want the currency", typ, got)
		}
	}
	// A tab's settlement rides only with the events that have one.
	for _, typ := range []merchant.EventType{merchant.EventTabCreated, merchant.EventTabSettled} {
		data, _ := json.Marshal(cases[typ].obj)
		got, _ := merchant.ViewEventData(viewKES, typ, data)
		if has := strings.Contains(string(got), `"settlement"`); has != (typ == merchant.EventTabSettled) {
			t.Errorf("%s: settlement %v in %s", typ, has, got)
		}
	}
	// Fields a newer wallet adds to the stored object are left out.
	got, err := merchant.ViewEventData(viewKES, merchant.EventRequestPaid, json.RawMessage(`{"id":"pr_9","amount":100,"loyalty":7}`))
	if err != nil || strings.Contains(string(got), "loyalty") || !strings.Contains(string(got), `"amount":"1.00"`) {
		t.Errorf("an unknown stored field: %s, %v", got, err)
	}
}

func TestViewEventDataRefuses(t *testing.T) {
	tests := []struct {
		name string
		typ  merchant.EventType
		data string
	}{
		{"unknown type", "loyalty.points", `{"id":"x"}`},
		{"no type", "", `{"id":"x"}`},
		{"not JSON", merchant.EventRequestPaid, `{"id":`},
		{"empty", merchant.EventRequestPaid, ``},
		{"an array", merchant.EventTabClosed, `[]`},
		{"a string", merchant.EventPayoutFailed, `"po_1"`},
		{"null", merchant.EventBatchDone, `null`},
		{"no id", merchant.EventPaymentReceived, `{"amount":100}`},
		{"an amount already formatted", merchant.EventRequestPaid, `{"id":"pr_1","amount":"150.00"}`},
		{"a fractional amount", merchant.EventRefund, `{"id":"QM1","amount":1.5}`},
		{"a bad time", merchant.EventTabApproved, `{"id":"tab_1","created":"yesterday"}`},
		{"a bad settlement", merchant.EventTabSettled, `{"id":"tab_1","settlement":{"amount":"x"}}`},
	}
	for _, tt := range tests {
		got, err := merchant.ViewEventData(viewKES, tt.typ, json.RawMessage(tt.data))
		var we *wallet.Error
		if !errors.As(err, &we) || we.Code != wallet.CodeInvalid || we.Message == "" {
			t.Errorf("%s: %s, %v; want a wallet.Error invalid_request", tt.name, got, err)
		}
	}
}

// FuzzViewEventData feeds ViewEventData any type and data: it never panics,
// refuses with invalid_request, and what it makes is JSON of the type's
// view, with the currency.
func FuzzViewEventData(f *testing.F) {
	for _, typ := range merchant.EventTypes {
		f.Add(string(typ), []byte(`{"id":"x_1","amount":150,"cap":1500000,"created":"2026-11-21T11:15:16Z"}`))
	}
	tab, _ := json.Marshal(merchant.TabEvent{Tab: viewTab, Settlement: &viewSettlement})
	f.Add(string(merchant.EventTabSuspended), tab)
	bulk, _ := json.Marshal(viewBulk)
	f.Add(string(merchant.EventBatchDone), bulk)
	f.Add("payment.received", []byte(`{"id":"Q","amount":-9223372036854775808,"fee":9223372036854775807,"net":-1}`))
	f.Add("tab.settled", []byte(`{"id":"t","cap":-1,"charged":9223372036854775807,"settlement":{"shares":[{"weight":-5}]}}`))
	f.Add("x", []byte(`{}`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		for _, cur := range []wallet.Currency{viewKES, viewUGX} {
			got, err := merchant.ViewEventData(cur, merchant.EventType(typ), data)
			if err != nil {
				var we *wallet.Error
				if !errors.As(err, &we) || we.Code != wallet.CodeInvalid {
					t.Fatalf("%q %q: %v, want a wallet.Error invalid_request", typ, data, err)
				}
				continue
			}
			zero, ok := merchant.EventView(merchant.EventType(typ))
			if !ok {
				t.Fatalf("%q: a view of a type without one", typ)
			}
			back := reflect.New(reflect.TypeOf(zero))
			dec := json.NewDecoder(bytes.NewReader(got))
			dec.DisallowUnknownFields()
			if err := dec.Decode(back.Interface()); err != nil {
				t.Fatalf("%q %q: %s is not a %T: %v", typ, data, got, zero, err)
			}
			if !bytes.Contains(got, []byte(`"currency":"`+cur.Code+`"`)) {
				t.Fatalf("%q %q: %s has no currency", typ, data, got)
			}
		}
	})
}

// TestTransactionOf: a transfer's event, as each merchant in it sees it
// (what the notifier sends as payment.received, refund.completed and
// payout.paid), is what Service.Transaction answers that merchant, on a
// real wallet: till and paybill payments, a refund, a payout, a split
// settlement and a prepaid one.
func TestTransactionOf(t *testing.T) {
	f := newMerchantFixture(t)
	till, bill := f.merchant("Duka la Awa", false), f.merchant("Habari Daily", true)
	principals := map[string]merchant.Principal{till.Merchant: till, bill.Merchant: bill}
	john := f.customer(1_000_00)
	transfer := func(req wallet.TransferRequest) *wallet.TransferResult {
		t.Helper()
		req.Key = "view:" + string(req.Kind) + ":" + req.Reference + ":" + req.To
		res, err := f.w.Transfer(f.ctx, req)
		f.must(err)
		return res
	}
	paid := transfer(wallet.TransferRequest{Kind: wallet.TransferTill, From: john, To: till.Merchant, Amount: 300_00, PIN: fixturePIN})
	transfer(wallet.TransferRequest{Kind: wallet.TransferPaybill, From: john, To: bill.Merchant, Reference: "ACC-1", Amount: 250_00, PIN: fixturePIN})
	_, err := f.s.Refund(f.ctx, till, "refund-1", paid.Transfer.Ref, 50_00)
	f.must(err)
	po, err := f.s.Payout(f.ctx, till, "payout-1", f.customer(0), 20_00, "SALARY-1")
	f.must(err)
	if po.Status != merchant.PayoutPaid {
		t.Fatalf("payout %+v", po)
	}
	transfer(wallet.TransferRequest{Kind: wallet.TransferSettle, From: john, To: till.Merchant, Reference: "tab_postpaid", Amount: 10_00,
		Splits: []wallet.Share{{To: till.Merchant, Weight: 70}, {To: bill.Merchant, Weight: 30}}})
	transfer(wallet.TransferRequest{Kind: wallet.TransferHold, From: john, Reference: "tab_prepaid", Amount: 40_00, PIN: fixturePIN})
	transfer(wallet.TransferRequest{Kind: wallet.TransferSettle, From: wallet.SystemTabs, To: bill.Merchant, Reference: "tab_prepaid", Amount: 25_00})

	var payloads [][]byte
	f.must(f.st.Gorm().Table("outbox_events").Where("subject LIKE ?", wallet.EventSubjectPrefix+"%").Order("id").Pluck("payload", &payloads).Error)
	seen := map[wallet.TransferKind]int{}
	for _, p := range payloads {
		var ev wallet.Event
		f.must(json.Unmarshal(p, &ev))
		for _, party := range ev.Parties {
			pr, ok := principals[party.Number]
			if !ok {
				continue
			}
			want, err := f.s.Transaction(f.ctx, pr, ev.Transfer.Ref)
			f.must(err)
			want.Refunded = 0 // what refunds did since
			got := merchant.TransactionOf(ev, party)
			g, _ := json.Marshal(merchant.ViewTransaction(viewKES, &got))
			w, _ := json.Marshal(merchant.ViewTransaction(viewKES, want))
			if !bytes.Equal(g, w) {
				t.Errorf("%s %s as %s sees it:\n got %s\nwant %s", ev.Transfer.Kind, ev.Transfer.Ref, party.Number, g, w)
			}
			seen[ev.Transfer.Kind]++
		}
	}
	for kind, n := range map[wallet.TransferKind]int{wallet.TransferTill: 1, wallet.TransferPaybill: 1, wallet.TransferRefund: 1,
		wallet.TransferPayout: 1, wallet.TransferSettle: 3} {
		if seen[kind] != n {
			t.Errorf("%d %s transactions compared, want %d", seen[kind], kind, n)
		}
	}
}
