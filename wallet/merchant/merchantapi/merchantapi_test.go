package merchantapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsapi/natstest"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/store/storetest"
	"github.com/kibubu/kibubu/wallet/walletd"
)

// merchantEnv runs a wallet with its merchant services, served over NATS
// with the event relay, as kibubu serve runs them.
type merchantEnv struct {
	t   testing.TB
	ctx context.Context
	nc  *nats.Conn
	c   *natsapi.Client
	m   *merchantapi.Client // through c
	w   *wallet.Service
	cs  *merchant.Service
	st  *store.Store
	js  jetstream.JetStream
	ns  *natstest.Server

	agent string // an agent's phone with float, PIN 1357
}

func startMerchants(t testing.TB) *merchantEnv {
	t.Helper()
	ns := natstest.Start(t)
	nc := ns.Connect()
	st, err := store.Open(context.Background(), storetest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	opt := natsapi.WithPrefix(ns.Prefix)
	log := testLogger(t)
	kes, _ := wallet.LookupCurrency("KES")
	wd, err := walletd.Start(context.Background(), walletd.Options{Store: st, Conn: nc, Prefix: ns.Prefix, Log: log,
		Wallet:   wallet.Config{Currency: kes, Region: "KE", Pepper: pepper, Logger: log},
		Merchant: &merchant.Config{Logger: log, Sweep: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		wd.Close()
		js.DeleteStream(context.Background(), natsapi.EventStream(ns.Prefix))
	})
	w, cs := wd.Service, wd.Merchant
	e := &merchantEnv{t: t, ctx: context.Background(), nc: nc, c: natsapi.NewClient(nc, 0, opt, natsapi.AsOperator(natsapi.Operator{Actor: "test"})), w: w, cs: cs, st: st, js: js, ns: ns}
	e.m = merchantapi.NewClient(e.c)
	phone, number := e.newPhone(), ""
	a, err := e.c.AddAgent(e.ctx, phone, "Float Agent")
	e.must(err)
	number = a.Number
	_, err = e.c.SetPINWithStartKey(e.ctx, phone, a.StartKey, "1357")
	e.must(err)
	_, err = e.c.IssueFloat(e.ctx, number, 1e12, "BANK-"+number)
	e.must(err)
	e.agent = phone
	return e
}

func (e *merchantEnv) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *merchantEnv) newPhone() string { return newPhone() }

// customer opens a customer with PIN 2580 holding balance.
func (e *merchantEnv) customer(balance int64) string {
	e.t.Helper()
	p := e.newPhone()
	a, err := e.c.Register(e.ctx, natsapi.RegisterRequest{Phone: p, Name: "Customer " + p[9:], Tier: wallet.TierFull, Language: "sw"})
	e.must(err)
	_, err = e.c.SetPINWithStartKey(e.ctx, p, a.StartKey, "2580")
	e.must(err)
	if balance > 0 {
		_, err = e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "seed:" + p, Kind: wallet.TransferDeposit, From: e.agent, To: p, Amount: balance, PIN: "1357"})
		e.must(err)
	}
	return p
}

// merchant opens a till and returns its number and an API key with scopes.
func (e *merchantEnv) merchant(name string, scopes ...merchant.Scope) (number, key string) {
	e.t.Helper()
	a, err := e.c.AddMerchant(e.ctx, e.newPhone(), name, false)
	e.must(err)
	k, err := e.m.CreateAPIKey(e.ctx, merchantapi.APIKeyRequest{Merchant: a.Number, Scopes: scopes})
	e.must(err)
	return a.Number, k.Secret
}

// TestMerchantAPI calls every merchant subject through the client, with the
// refusals each must give.
func TestMerchantAPI(t *testing.T) {
	e := startMerchants(t)
	till, key := e.merchant("Duka", merchant.MerchantScopes...)
	_, otherKey := e.merchant("Soko", merchant.MerchantScopes...)
	_, readOnly := e.merchant("Kibanda", merchant.ScopeTransactions)
	alice, bob := e.customer(100_000), e.customer(0)
	op, err := e.m.CreateAPIKey(e.ctx, merchantapi.APIKeyRequest{Operator: true})
	e.must(err)
	// A first sale, so that the till can afford refunds net of its fees.
	_, err = e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "sale", Kind: wallet.TransferTill, From: alice, To: till, Amount: 5_000, PIN: "2580"})
	e.must(err)

	var pr *merchant.PaymentRequest
	var paid *merchant.ApproveResult
	var payout *merchant.Payout
	calls := []struct {
		name string
		call func() (any, error)
		code wallet.Code
		want func(any) string // "" when the reply is right
	}{
		{"auth", func() (any, error) { return e.m.Authenticate(e.ctx, key) }, "", func(v any) string {
			if p := v.(*merchant.Principal); p.Merchant != till || p.MerchantName != "Duka" || len(p.Scopes) != len(merchant.MerchantScopes) {
				return fmt.Sprintf("principal %+v", p)
			}
			return ""
		}},
		{"auth with a bad key", func() (any, error) { return e.m.Authenticate(e.ctx, "kbk_nope") }, wallet.CodeUnauthenticated, nil},
		{"request", func() (any, error) {
			r, err := e.m.CreatePaymentRequest(e.ctx, merchantapi.PaymentRequestCreate{Auth: key, Idempotency: "o-1", Phone: alice, Amount: 15_000, Reference: "ORDER-1", Description: "Lunch"})
			pr = r
			return r, err
		}, "", func(v any) string {
			if r := v.(*merchant.PaymentRequest); r.Status != merchant.RequestPending || r.Phone != alice || r.Merchant != till {
				return fmt.Sprintf("%+v", r)
			}
			return ""
		}},
		{"request replayed", func() (any, error) {
			return e.m.CreatePaymentRequest(e.ctx, merchantapi.PaymentRequestCreate{Auth: key, Idempotency: "o-1", Phone: alice, Amount: 15_000, Reference: "ORDER-1", Description: "Lunch"})
		}, "", func(v any) string {
			if v.(*merchant.PaymentRequest).ID != pr.ID {
				return "a replay made a new request"
			}
			return ""
		}},
		{"request conflict", func() (any, error) {
			return e.m.CreatePaymentRequest(e.ctx, merchantapi.PaymentRequestCreate{Auth: key, Idempotency: "o-1", Phone: alice, Amount: 15_001, Reference: "ORDER-1"})
		}, wallet.CodeConflict, nil},
		{"request without the scope", func() (any, error) {
			return e.m.CreatePaymentRequest(e.ctx, merchantapi.PaymentRequestCreate{Auth: readOnly, Idempotency: "o-2", Phone: alice, Amount: 100, Reference: "R"})
		}, wallet.CodeForbidden, nil},
		{"request without a key", func() (any, error) {
			return e.m.CreatePaymentRequest(e.ctx, merchantapi.PaymentRequestCreate{Idempotency: "o-2", Phone: alice, Amount: 100, Reference: "R"})
		}, wallet.CodeUnauthenticated, nil},
		{"request get", func() (any, error) { return e.m.PaymentRequest(e.ctx, key, pr.ID) }, "", nil},
		{"request get by another merchant", func() (any, error) { return e.m.PaymentRequest(e.ctx, otherKey, pr.ID) }, wallet.CodeNotFound, nil},
		{"approvals", func() (any, error) { return e.m.Approvals(e.ctx, alice) }, "", func(v any) string {
			if as := v.([]merchant.Approval); len(as) != 1 || as[0].ID != pr.ID || as[0].MerchantName != "Duka" {
				return fmt.Sprintf("%+v", as)
			}
			return ""
		}},
		{"approve with a wrong PIN", func() (any, error) { return e.m.Approve(e.ctx, alice, pr.ID, "1111") }, wallet.CodePINInvalid, nil},
		{"approve", func() (any, error) {
			r, err := e.m.Approve(e.ctx, alice, pr.ID, "2580")
			paid = r
			return r, err
		}, "", func(v any) string {
			if r := v.(*merchant.ApproveResult); r.Transfer == nil || r.Transfer.Transfer.Amount != 15_000 || r.Approval.ID != pr.ID {
				return fmt.Sprintf("%+v", r)
			}
			return ""
		}},
		{"approve again", func() (any, error) { return e.m.Approve(e.ctx, alice, pr.ID, "2580") }, wallet.CodeInvalidState, nil},
		{"decline a paid request", func() (any, error) { return e.m.Decline(e.ctx, alice, pr.ID, "2580") }, wallet.CodeInvalidState, nil},
		{"request shows paid", func() (any, error) { return e.m.PaymentRequest(e.ctx, key, pr.ID) }, "", func(v any) string {
			if r := v.(*merchant.PaymentRequest); r.Status != merchant.RequestPaid || r.Transaction != paid.Transfer.Transfer.Ref {
				return fmt.Sprintf("%+v", r)
			}
			return ""
		}},
		{"transaction", func() (any, error) { return e.m.Transaction(e.ctx, key, paid.Transfer.Transfer.Ref) }, "", func(v any) string {
			tx := v.(*merchant.Transaction)
			if tx.Direction != "in" || tx.Amount != 15_000 || tx.Net != 15_000-tx.Fee || tx.Counterparty != alice || tx.Kind != wallet.TransferTill {
				return fmt.Sprintf("%+v", tx)
			}
			return ""
		}},
		{"transaction of another merchant", func() (any, error) { return e.m.Transaction(e.ctx, otherKey, paid.Transfer.Transfer.Ref) }, wallet.CodeNotFound, nil},
		{"transactions", func() (any, error) { return e.m.Transactions(e.ctx, merchantapi.TransactionsRequest{Auth: key}) }, "", func(v any) string {
			if r := v.(*merchantapi.TransactionsReply); len(r.Transactions) != 2 || r.Next != "" || r.Transactions[0].ID != paid.Transfer.Transfer.Ref {
				return fmt.Sprintf("%+v", r)
			}
			return ""
		}},
		{"transactions with a bad cursor", func() (any, error) {
			return e.m.Transactions(e.ctx, merchantapi.TransactionsRequest{Auth: key, Cursor: "nope"})
		}, wallet.CodeInvalid, nil},
		{"partial refund", func() (any, error) {
			return e.m.Refund(e.ctx, merchantapi.RefundRequest{Auth: key, Idempotency: "rf-1", ID: paid.Transfer.Transfer.Ref, Amount: 5_000})
		}, "", func(v any) string {
			if tx := v.(*merchant.Transaction); tx.Kind != wallet.TransferRefund || tx.Direction != "out" || tx.Amount != 5_000 || tx.Refunds != paid.Transfer.Transfer.Ref {
				return fmt.Sprintf("%+v", tx)
			}
			return ""
		}},
		{"refund more than is left", func() (any, error) {
			return e.m.Refund(e.ctx, merchantapi.RefundRequest{Auth: key, Idempotency: "rf-2", ID: paid.Transfer.Transfer.Ref, Amount: 10_001})
		}, wallet.CodeInvalidAmount, nil},
		{"refund the rest", func() (any, error) {
			return e.m.Refund(e.ctx, merchantapi.RefundRequest{Auth: key, Idempotency: "rf-3", ID: paid.Transfer.Transfer.Ref})
		}, "", func(v any) string {
			if tx := v.(*merchant.Transaction); tx.Amount != 10_000 {
				return fmt.Sprintf("%+v", tx)
			}
			return ""
		}},
		{"payout", func() (any, error) {
			p, err := e.m.Payout(e.ctx, merchantapi.PayoutRequest{Auth: key, Idempotency: "po-1", Phone: bob, Amount: 1_000, Reference: "Prize"})
			payout = p
			return p, err
		}, "", func(v any) string {
			if p := v.(*merchant.Payout); p.Status != merchant.PayoutPaid || p.Transaction == "" || p.Phone != bob {
				return fmt.Sprintf("%+v", p)
			}
			return ""
		}},
		{"payout get", func() (any, error) { return e.m.PayoutStatus(e.ctx, key, payout.ID) }, "", nil},
		{"payout get by another merchant", func() (any, error) { return e.m.PayoutStatus(e.ctx, otherKey, payout.ID) }, wallet.CodeNotFound, nil},
		{"payout without the scope", func() (any, error) {
			return e.m.Payout(e.ctx, merchantapi.PayoutRequest{Auth: readOnly, Idempotency: "po-2", Phone: bob, Amount: 1_000})
		}, wallet.CodeForbidden, nil},
		{"bulk payout with no header", func() (any, error) {
			return e.m.BulkPayout(e.ctx, merchantapi.BulkPayoutRequest{Auth: key, Idempotency: "b-0", CSV: []byte(bob + ",100\n")})
		}, wallet.CodeInvalid, nil},
		{"tab", func() (any, error) {
			return e.m.OpenTab(e.ctx, merchantapi.TabOpenRequest{Auth: key, Idempotency: "tab-1", Phone: alice, Cap: 1_000_000, Expires: time.Now().Add(time.Hour)})
		}, "", func(v any) string {
			if tab := v.(*merchant.Tab); tab.Status != merchant.TabPending || tab.Phone != alice {
				return fmt.Sprintf("%+v", tab)
			}
			return ""
		}},
		{"tab without the scope", func() (any, error) { return e.m.Tab(e.ctx, readOnly, "tab_x") }, wallet.CodeForbidden, nil},
		{"operator key list", func() (any, error) { return e.m.OperatorAPIKeys(e.ctx, op.Secret, till) }, "", func(v any) string {
			if ks := v.([]merchant.APIKey); len(ks) != 1 || ks[0].Secret != "" {
				return fmt.Sprintf("%+v", ks)
			}
			return ""
		}},
		{"operator key create", func() (any, error) {
			return e.m.OperatorCreateAPIKey(e.ctx, op.Secret, merchantapi.APIKeyRequest{Merchant: till, Scopes: []merchant.Scope{merchant.ScopeTabs}})
		}, "", nil},
		{"merchant key on the operator API", func() (any, error) { return e.m.OperatorAPIKeys(e.ctx, key, till) }, wallet.CodeForbidden, nil},
		{"list keys", func() (any, error) { return e.m.APIKeys(e.ctx, "") }, "", func(v any) string {
			if ks := v.([]merchant.APIKey); len(ks) != 5 {
				return fmt.Sprintf("%d keys, want 5", len(ks))
			}
			return ""
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			v, err := c.call()
			checkMerchantError(t, err, c.code)
			if err == nil && c.want != nil {
				if msg := c.want(v); msg != "" {
					t.Fatal(msg)
				}
			}
		})
	}

	// A revoked key stops working at once on this wallet.
	p, err := e.m.Authenticate(e.ctx, otherKey)
	e.must(err)
	_, err = e.m.OperatorRevokeAPIKey(e.ctx, op.Secret, p.KeyID)
	e.must(err)
	_, err = e.m.Authenticate(e.ctx, otherKey)
	checkMerchantError(t, err, wallet.CodeUnauthenticated)
	_, err = e.m.RevokeAPIKey(e.ctx, "kbk_unknown")
	checkMerchantError(t, err, wallet.CodeNotFound)

	r, err := e.w.Check(e.ctx)
	e.must(err)
	if !r.OK() {
		t.Fatalf("ledger: %v", r.Violations)
	}
}

func checkMerchantError(t *testing.T, err error, want wallet.Code) {
	t.Helper()
	if got := wallet.ErrorCode(err); got != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	if err != nil && !strings.Contains(err.Error(), ": ") {
		t.Fatalf("error %v has no message", err)
	}
}

// TestMerchantBulkOverNATS uploads a file through the API, follows its
// progress to done, and finds the batch's event on the stream.
func TestMerchantBulkOverNATS(t *testing.T) {
	e := startMerchants(t)
	till, key := e.merchant("Duka", merchant.ScopePayouts, merchant.ScopePayments)
	alice, bob := e.customer(500_000), e.customer(0)
	// Fund the till: alice buys goods.
	pr, err := e.m.CreatePaymentRequest(e.ctx, merchantapi.PaymentRequestCreate{Auth: key, Idempotency: "fund", Phone: alice, Amount: 400_000, Reference: "F"})
	e.must(err)
	_, err = e.m.Approve(e.ctx, alice, pr.ID, "2580")
	e.must(err)

	file := "Amount,Phone,Reference\n100.00," + bob + ",r1\n12.50," + alice + ",r2\nabc," + bob + ",bad amount\n1," + "12345" + ",bad phone\n"
	b, err := e.m.BulkPayout(e.ctx, merchantapi.BulkPayoutRequest{Auth: key, Idempotency: "bulk-1", CSV: []byte(file)})
	e.must(err)
	if b.Rows != 4 || b.Merchant != till {
		t.Fatalf("batch %+v", b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.Status != merchant.BatchDone && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		b, err = e.m.Bulk(e.ctx, key, b.ID)
		e.must(err)
	}
	if b.Status != merchant.BatchDone || b.Paid != 2 || b.Failed != 2 || b.PaidOut != 11_250 || len(b.Results) != 4 {
		t.Fatalf("batch %+v", b)
	}
	for i, want := range []merchant.PayoutStatus{merchant.PayoutPaid, merchant.PayoutPaid, merchant.PayoutFailed, merchant.PayoutFailed} {
		if r := b.Results[i]; r.Status != want || r.Line != i+2 {
			t.Errorf("row %d: %+v, want %s on line %d", i, r, want, i+2)
		}
	}
	if b.Results[2].Reason != string(wallet.CodeInvalidAmount) || b.Results[3].Reason != string(wallet.CodeInvalidPhone) {
		t.Errorf("reasons %q %q", b.Results[2].Reason, b.Results[3].Reason)
	}

	// The done event reaches the stream, with the event id as its message id.
	cons, err := e.js.OrderedConsumer(e.ctx, natsapi.EventStream(e.ns.Prefix), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{e.ns.Prefix + "." + merchant.Subject(merchant.EventBatchDone)}})
	e.must(err)
	msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	e.must(err)
	var ev merchant.OutboxEvent
	e.must(json.Unmarshal(msg.Data(), &ev))
	if ev.Type != merchant.EventBatchDone || ev.Merchant != till || msg.Headers().Get(jetstream.MsgIDHeader) != ev.ID {
		t.Fatalf("event %+v, id header %q", ev, msg.Headers().Get(jetstream.MsgIDHeader))
	}
	var done merchant.BulkPayout
	e.must(json.Unmarshal(ev.Data, &done))
	if done.ID != b.ID || done.Paid != 2 {
		t.Errorf("event data %+v", done)
	}
}

// TestMerchantRequestBounds sends what no client should: oversized and
// malformed payloads are refused as invalid, never an internal error.
func TestMerchantRequestBounds(t *testing.T) {
	e := startMerchants(t)
	_, key := e.merchant("Duka", merchant.ScopePayouts)
	big, _ := json.Marshal(merchantapi.BulkPayoutRequest{Auth: key, Idempotency: "b", CSV: make([]byte, 600_000)})
	tests := []struct {
		name, subject string
		data          []byte
	}{
		{"malformed JSON", merchantapi.SubjectRequestCreate, []byte("{")},
		{"oversized request", merchantapi.SubjectPayout, []byte(`{"auth":"` + strings.Repeat("a", 9000) + `"}`)},
		{"bulk malformed JSON", merchantapi.SubjectBulkCreate, []byte("[")},
		{"bulk file of zeros", merchantapi.SubjectBulkCreate, big},
		{"approve without a PIN", merchantapi.SubjectApprove, []byte(`{"phone":"0712345678","id":"pr_x"}`)},
		{"approvals of junk", merchantapi.SubjectApprovals, []byte(`{"phone":"call me"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := e.nc.Request(e.ns.Prefix+"."+tt.subject, tt.data, 5*time.Second)
			e.must(err)
			code := msg.Header.Get("Nats-Service-Error-Code")
			if code == "" || code == string(wallet.CodeInternal) {
				t.Fatalf("code %q (%s), want a refusal of the input", code, msg.Data)
			}
		})
	}
}

// TestMerchantTabCharges charges a tab in batches over NATS: the scope,
// another merchant's tab, partial refusals at the cap, replays, a
// malformed charge, and batches too large for NATS's max_payload.
func TestMerchantTabCharges(t *testing.T) {
	e := startMerchants(t)
	_, key := e.merchant("Duka", merchant.ScopeTabs)
	_, otherKey := e.merchant("Soko", merchant.ScopeTabs)
	_, readOnly := e.merchant("Kibanda", merchant.ScopeTransactions)
	alice := e.customer(0)
	tab, err := e.m.OpenTab(e.ctx, merchantapi.TabOpenRequest{Auth: key, Idempotency: "tab-1", Phone: alice, Cap: 10_000, Expires: time.Now().Add(time.Hour)})
	e.must(err)
	_, err = e.m.Approve(e.ctx, alice, tab.ID, "2580")
	e.must(err)
	single, err := e.m.Charge(e.ctx, key, merchant.ChargeRequest{Tab: tab.ID, Key: "one", Amount: 1_000})
	e.must(err)

	charges := []merchant.ChargeRequest{
		{Key: "a", Amount: 4_000, Reference: "ad-1"},
		{Key: "one", Amount: 1_000},            // the single charge: replayed
		{Key: "b", Amount: 6_000},              // over the cap
		{Key: "a", Amount: 4_001},              // a conflict
		{Tab: tab.ID, Key: "c", Amount: 5_000}, // the cap exactly
	}
	r, err := e.m.ChargeBatch(e.ctx, key, tab.ID, charges)
	e.must(err)
	codes := func(r *merchantapi.TabChargesReply) string {
		var out []string
		for _, res := range r.Results {
			switch {
			case res.Err != nil:
				out = append(out, string(res.Err.Code))
			case res.Charge.Replayed:
				out = append(out, "replayed")
			default:
				out = append(out, "ok")
			}
		}
		return strings.Join(out, " ")
	}
	if got, want := codes(r), "ok replayed limit_exceeded conflict ok"; got != want || r.Charged != 10_000 || r.Remaining != 0 {
		t.Fatalf("results %s, charged %d, remaining %d; want %s, 10000, 0", got, r.Charged, r.Remaining, want)
	}
	if r.Results[1].Charge.ID != single.ID || r.Results[2].Remaining != 5_000 || r.Results[0].Charge.Reference != "ad-1" {
		t.Errorf("results %+v", r.Results)
	}
	r, err = e.m.ChargeBatch(e.ctx, key, tab.ID, charges)
	e.must(err)
	if got, want := codes(r), "replayed replayed limit_exceeded conflict replayed"; got != want {
		t.Errorf("sent again: %s, want %s", got, want)
	}

	// Refusals of the whole batch.
	many := make([]merchant.ChargeRequest, merchant.BatchChargesMax)
	for i := range many {
		many[i] = merchant.ChargeRequest{Key: fmt.Sprint("m", i), Amount: 1, Reference: strings.Repeat("r", 32)}
		for j := range 16 {
			many[i].Splits = append(many[i].Splits, merchant.Split{To: strings.Repeat("9", 30) + fmt.Sprintf("%02d", j), Weight: 1_000_000})
		}
	}
	refusals := []struct {
		name    string
		key     string
		tab     string
		charges []merchant.ChargeRequest
		code    wallet.Code
	}{
		{"without the scope", readOnly, tab.ID, charges, wallet.CodeForbidden},
		{"without a key", "", tab.ID, charges, wallet.CodeUnauthenticated},
		{"another merchant's tab", otherKey, tab.ID, charges, wallet.CodeNotFound},
		{"no charges", key, tab.ID, nil, wallet.CodeInvalid},
		{"a charge without a key", key, tab.ID, []merchant.ChargeRequest{{Key: "x", Amount: 1}, {Amount: 1}}, wallet.CodeInvalid},
		{"too large for max_payload", key, tab.ID, many, wallet.CodeInvalid},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.m.ChargeBatch(e.ctx, tt.key, tt.tab, tt.charges)
			checkMerchantError(t, err, tt.code)
		})
	}
	// The server refuses a batch whose reply could not be sent, and
	// malformed JSON, as invalid.
	big, err := json.Marshal(merchantapi.TabChargesRequest{Auth: key, Tab: tab.ID, Charges: many})
	e.must(err)
	if len(big) >= 1<<20 {
		t.Fatalf("the large batch is %d bytes: NATS would not carry it to the server", len(big))
	}
	for data, want := range map[string]string{string(big): "bytes of JSON here", `{"charges":{}}`: "malformed JSON"} {
		msg, err := e.nc.Request(e.ns.Prefix+"."+merchantapi.SubjectTabCharges, []byte(data), 5*time.Second)
		e.must(err)
		if code := msg.Header.Get("Nats-Service-Error-Code"); code != string(wallet.CodeInvalid) || !strings.Contains(string(msg.Data), want) {
			t.Errorf("%d bytes: code %q (%s), want invalid_request: %s", len(data), code, msg.Data, want)
		}
	}
	got, err := e.m.Tab(e.ctx, key, tab.ID)
	e.must(err)
	if got.Charged != 10_000 {
		t.Errorf("tab charged %d after refused batches, want 10000", got.Charged)
	}
}
