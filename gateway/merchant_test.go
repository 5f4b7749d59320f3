package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// TestMerchantAPIWithoutWallet: what the API refuses before it asks the
// wallet, and its answer when no wallet answers, all in the API's error
// shape; other paths keep echo's.
func TestMerchantAPIWithoutWallet(t *testing.T) {
	s, logged := mountNoWallet(t)
	big := `{"phone":"+254712345678","amount":"1.00","reference":"` + strings.Repeat("x", jsonBodyBytesMax) + `"}`
	tests := []struct {
		name       string
		c          apiCall
		wantStatus int
		wantCode   wallet.Code
		wantHeader [2]string
	}{
		{"no such route", apiCall{method: "GET", target: "/v1/nothing"}, 404, wallet.CodeNotFound, [2]string{}},
		{"the prefix alone", apiCall{method: "GET", target: "/v1"}, 404, wallet.CodeNotFound, [2]string{}},
		{"wrong method", apiCall{method: "DELETE", target: "/v1/tabs", key: "kbk_x"}, 405, codeMethodNotAllowed, [2]string{}},
		{"no key", apiCall{method: "GET", target: "/v1/tabs/tab_1"}, 401, wallet.CodeUnauthenticated,
			[2]string{"WWW-Authenticate", `Bearer realm="kibubu"`}},
		{"not bearer", apiCall{method: "GET", target: "/v1/tabs/tab_1", header: map[string]string{"Authorization": "Basic eDp5"}},
			401, wallet.CodeUnauthenticated, [2]string{"WWW-Authenticate", `Bearer realm="kibubu"`}},
		{"wallet unavailable", apiCall{method: "GET", target: "/v1/tabs/tab_1", key: "kbk_x"}, 503, wallet.CodeUnavailable,
			[2]string{"Retry-After", "1"}},
		{"body too large", apiCall{method: "POST", target: "/v1/payment-requests", key: "kbk_x", idem: "k", body: big},
			413, codeTooLarge, [2]string{}},
		{"file too large", apiCall{method: "POST", target: "/v1/payouts/bulk", key: "kbk_x", idem: "k", contentType: "text/csv",
			body: "phone,amount\n" + strings.Repeat("+254712345678,1\n", csvBytesMax/16+1)}, 413, codeTooLarge, [2]string{}},
		{"the document", apiCall{method: "GET", target: "/v1/openapi.json"}, 200, "", [2]string{"Content-Type", "application/json"}},
		{"a query the route does not take", apiCall{method: "GET", target: "/v1/openapi.json?x=1"}, 400, wallet.CodeInvalid, [2]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(tc.c)
			if r.status != tc.wantStatus || r.code() != tc.wantCode {
				t.Errorf("%s %s = %s, want %d %s", tc.c.method, tc.c.target, r, tc.wantStatus, tc.wantCode)
			}
			if h := tc.wantHeader; h[0] != "" && r.header.Get(h[0]) != h[1] {
				t.Errorf("%s = %q, want %q", h[0], r.header.Get(h[0]), h[1])
			}
			if tc.wantCode != "" {
				var e errorBody
				r.decode(t, &e)
				if e.Error.RequestID == "" || e.Error.Message == "" {
					t.Errorf("error %s lacks a message or request id", r.body)
				}
			}
		})
	}
	// Outside /v1, echo's own shape stays.
	rec := httptest.NewRecorder()
	s.e.ServeHTTP(rec, httptest.NewRequest("GET", "/nothing", nil))
	if got := strings.TrimSpace(rec.Body.String()); rec.Code != 404 || got != `{"message":"Not Found"}` {
		t.Errorf("GET /nothing = %d %s, want echo's 404", rec.Code, got)
	}
	if strings.Contains(logged.String(), "kbk_x") || strings.Contains(logged.String(), "+254712345678") {
		t.Errorf("the log holds a key or a body:\n%s", logged)
	}
}

// TestMerchantAPI runs every route against the full stack.
func TestMerchantAPI(t *testing.T) {
	s := startStack(t)
	ctx := context.Background()
	tillA, keyA := s.merchant("Duka A")
	tillB, keyB := s.merchant("Duka B")
	op := s.operator()
	customer := s.customer(500_000) // KES 5,000

	// Objects of merchant A for the cross-merchant and auth cases.
	var pr merchant.PaymentRequestView
	r := s.do(apiCall{method: "POST", target: "/v1/payment-requests", key: keyA, idem: "pr-1",
		body: `{"phone":"` + customer + `","amount":"150.00","reference":"ORDER-1","description":"2 bags of flour"}`})
	if r.status != 201 {
		t.Fatalf("create payment request = %s", r)
	}
	r.decode(t, &pr)

	if r := s.do(apiCall{method: "GET", target: "/v1/openapi.json"}); r.status != 200 {
		t.Errorf("GET /v1/openapi.json = %s", r)
	}
	t.Run("auth", func(t *testing.T) { testAuth(t, s, tillA, keyA, op) })

	t.Run("payment requests", func(t *testing.T) {
		if pr.Amount != "150.00" || pr.Currency != "KES" || pr.Status != "pending" || pr.Merchant != tillA || pr.Phone != customer {
			t.Errorf("created %+v", pr)
		}
		testReplay(t, s, apiCall{method: "POST", target: "/v1/payment-requests", key: keyA, idem: "pr-1",
			body: `{"phone":"` + customer + `","amount":"150.00","reference":"ORDER-1","description":"2 bags of flour"}`},
			`{"phone":"`+customer+`","amount":"151.00","reference":"ORDER-1"}`)
		// Another gateway is processing the same key: 409 until it is done.
		inflight := apiCall{method: "POST", target: "/v1/payment-requests", key: keyA, idem: "pr-inflight",
			body: `{"phone":"` + customer + `","amount":"1.00","reference":"ORDER-2"}`}
		kv, err := s.js.KeyValue(ctx, IdempotencyBucket+"_"+s.prefix)
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := json.Marshal(idemRecord{Fingerprint: fingerprint("POST", inflight.target, []byte(inflight.body)), Started: time.Now().UTC()})
		if _, err := kv.Create(ctx, recordKey(tillA, inflight.idem), rec); err != nil {
			t.Fatal(err)
		}
		if r := s.do(inflight); r.status != 409 || r.code() != wallet.CodeInFlight || r.header.Get("Retry-After") != "1" {
			t.Errorf("a request in flight elsewhere = %s, want 409 in_flight", r)
		}
		if err := kv.Delete(ctx, recordKey(tillA, inflight.idem)); err != nil {
			t.Fatal(err)
		}
		if r := s.do(inflight); r.status != 201 {
			t.Errorf("once the other request is gone = %s, want 201", r)
		}
		var got merchant.PaymentRequestView
		s.do(apiCall{method: "GET", target: "/v1/payment-requests/" + pr.ID, key: keyA}).decode(t, &got)
		if got.ID != pr.ID || got.Status != "pending" {
			t.Errorf("GET = %+v, want %s pending", got, pr.ID)
		}
		if r := s.do(apiCall{method: "GET", target: "/v1/payment-requests/" + pr.ID, key: keyB}); r.status != 404 {
			t.Errorf("another merchant's GET = %s, want 404", r)
		}
		if _, err := merchantapi.NewClient(s.client).Approve(ctx, customer, pr.ID, customerPIN); err != nil {
			t.Fatal(err)
		}
		s.do(apiCall{method: "GET", target: "/v1/payment-requests/" + pr.ID, key: keyA}).decode(t, &got)
		if got.Status != "paid" || got.Transaction == "" {
			t.Fatalf("after approval = %+v, want paid with a transaction", got)
		}
		pr = got
		testValidation(t, s, keyA, "/v1/payment-requests", `{"phone":"`+customer+`","amount":"%s","reference":"R"}`,
			`{"phone":"%s","amount":"1.00","reference":"R"}`)
	})

	t.Run("transactions and refunds", func(t *testing.T) {
		var tx merchant.TransactionView
		s.do(apiCall{method: "GET", target: "/v1/transactions/" + pr.Transaction, key: keyA}).decode(t, &tx)
		if tx.ID != pr.Transaction || tx.Direction != "in" || tx.Amount != "150.00" || tx.Currency != "KES" {
			t.Errorf("GET transaction = %+v", tx)
		}
		if r := s.do(apiCall{method: "GET", target: "/v1/transactions/" + pr.Transaction, key: keyB}); r.status != 404 {
			t.Errorf("another merchant's transaction = %s, want 404", r)
		}
		refund := apiCall{method: "POST", target: "/v1/transactions/" + pr.Transaction + "/refund", key: keyA, idem: "rf-1", body: `{"amount":"50.00"}`}
		r := s.do(refund)
		var rf merchant.TransactionView
		r.decode(t, &rf)
		if r.status != 201 || rf.Direction != "out" || rf.Amount != "50.00" || rf.Refunds != pr.Transaction {
			t.Errorf("partial refund = %s", r)
		}
		testReplay(t, s, refund, `{"amount":"40.00"}`)
		if r := s.do(apiCall{method: "POST", target: "/v1/transactions/" + pr.Transaction + "/refund", key: keyB, idem: "rf-x"}); r.status != 404 {
			t.Errorf("another merchant's refund = %s, want 404", r)
		}
		if r := s.do(apiCall{method: "POST", target: "/v1/transactions/" + pr.Transaction + "/refund", key: keyA, idem: "rf-2",
			body: `{"amount":"100.01"}`}); r.status != 400 || r.code() != wallet.CodeInvalidAmount {
			t.Errorf("refunding more than is left = %s, want 400 invalid_amount", r)
		}
		s.pay(customer, tillA, 10_000) // the fees leave the merchant short of the rest
		r = s.do(apiCall{method: "POST", target: "/v1/transactions/" + pr.Transaction + "/refund", key: keyA, idem: "rf-3"})
		r.decode(t, &rf)
		if r.status != 201 || rf.Amount != "100.00" {
			t.Errorf("refunding the rest = %s, want 201 of 100.00", r)
		}
		for i, body := range []string{`{"amount":"1.234"}`, `{"amount":"-1"}`, `{"amount":"abc"}`, `{"amount":1}`, `{"x":1}`, `{}{}`} {
			if r := s.do(apiCall{method: "POST", target: "/v1/transactions/" + pr.Transaction + "/refund", key: keyA,
				idem: "rf-bad-" + strconv.Itoa(i), body: body}); r.status != 400 {
				t.Errorf("refund %s = %s, want 400", body, r)
			}
		}
		testTransactionPages(t, s)
	})

	t.Run("payment request list", func(t *testing.T) { testPaymentRequestPages(t, s) })
	t.Run("tab list", func(t *testing.T) { testTabPages(t, s) }) // merchant_list_test.go

	t.Run("payouts", func(t *testing.T) {
		till, key := s.merchant("Payer")
		s.pay(s.customer(200_000), till, 150_000) // the merchant's balance
		payee := s.customer(0)
		payout := apiCall{method: "POST", target: "/v1/payouts", key: key, idem: "po-1",
			body: `{"phone":"` + payee + `","amount":"100.00","reference":"SALARY-1"}`}
		r := s.do(payout)
		var po merchant.PayoutView
		r.decode(t, &po)
		if r.status != 201 || po.Status != "paid" || po.Amount != "100.00" || po.Phone != payee || po.Transaction == "" {
			t.Errorf("payout = %s", r)
		}
		testReplay(t, s, payout, `{"phone":"`+payee+`","amount":"100.01"}`)
		var got merchant.PayoutView
		s.do(apiCall{method: "GET", target: "/v1/payouts/" + po.ID, key: key}).decode(t, &got)
		if got.ID != po.ID || got.Status != "paid" {
			t.Errorf("GET payout = %+v", got)
		}
		if r := s.do(apiCall{method: "GET", target: "/v1/payouts/" + po.ID, key: keyA}); r.status != 404 {
			t.Errorf("another merchant's payout = %s, want 404", r)
		}
		r = s.do(apiCall{method: "POST", target: "/v1/payouts", key: key, idem: "po-2", body: `{"phone":"` + payee + `","amount":"100000.00"}`})
		r.decode(t, &got)
		if r.status != 201 || got.Status != "failed" || got.Reason != string(wallet.CodeInsufficientFunds) {
			t.Errorf("a payout over the balance = %s, want 201 failed insufficient_funds", r)
		}
		testValidation(t, s, key, "/v1/payouts", `{"phone":"`+payee+`","amount":"%s"}`, `{"phone":"%s","amount":"1.00"}`)
		testBulk(t, s, till, key, keyA, payee)
	})

	t.Run("tabs", func(t *testing.T) { testTabs(t, s, keyA, keyB, tillB, customer) })
	t.Run("tab charge batches", func(t *testing.T) { testChargeBatches(t, s, keyA, keyB, customer) }) // merchant_batch_test.go
	t.Run("tab charges list", func(t *testing.T) { testTabCharges(t, s, keyA, keyB, op, customer) })  // merchant_tab_charges_test.go
	t.Run("webhooks", func(t *testing.T) { testWebhooks(t, s, keyA, keyB, customer) })
	t.Run("operator", func(t *testing.T) { testOperator(t, s, op, tillA) })

	// Every documented success answer was seen and checked.
	for _, rt := range (&merchantServer{}).routes() {
		k := rt.method + " " + openAPIPath(rt.path) + " " + strconv.Itoa(rt.status)
		if !s.doc.checked[k] {
			t.Errorf("no answer %s was checked against the document", k)
		}
	}
	// No key, secret or body reached the log.
	logged := s.logged.String()
	for _, secret := range []string{keyA, keyB, op, customer, "ORDER-1", "flour"} {
		if strings.Contains(logged, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
	if !strings.Contains(logged, `route=/v1/payment-requests`) {
		t.Errorf("the log lacks the request lines:\n%s", logged)
	}
}

// testAuth: every route refuses a request without a key, with an unknown
// or revoked key (401), with a key lacking its scope, or of the wrong
// kind (403), and lets the right key through.
func testAuth(t *testing.T, s *stack, till, key, op string) {
	ctx := context.Background()
	revoked, err := merchantapi.NewClient(s.client).CreateAPIKey(ctx, merchantapi.APIKeyRequest{Merchant: till, Scopes: merchant.MerchantScopes})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := merchantapi.NewClient(s.client).RevokeAPIKey(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	// A key the gateway cached, revoked since: the wallet refuses it.
	cached, err := merchantapi.NewClient(s.client).CreateAPIKey(ctx, merchantapi.APIKeyRequest{Merchant: till, Scopes: merchant.MerchantScopes})
	if err != nil {
		t.Fatal(err)
	}
	if r := s.do(apiCall{method: "GET", target: "/v1/tabs/tab_none", key: cached.Secret}); r.status != 404 {
		t.Fatalf("the key before its revocation = %s, want 404", r)
	}
	if _, err := merchantapi.NewClient(s.client).RevokeAPIKey(ctx, cached.ID); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/v1/tabs/tab_none", "/v1/transactions"} {
		if r := s.do(apiCall{method: "GET", target: target, key: cached.Secret}); r.status != 401 {
			t.Errorf("GET %s with a cached key since revoked = %s, want 401", target, r)
		}
	}
	keys := map[merchant.Scope]string{}
	for _, sc := range merchant.MerchantScopes {
		var others []merchant.Scope
		for _, o := range merchant.MerchantScopes {
			if o != sc {
				others = append(others, o)
			}
		}
		keys[sc] = s.key(till, others...)
	}
	for _, rt := range (&merchantServer{}).routes() {
		if rt.public {
			continue
		}
		target := merchantPrefix + strings.ReplaceAll(rt.path, ":id", "obj_1")
		name := rt.method + " " + rt.path
		cases := []struct {
			name, key  string
			wantStatus int
			wantCode   wallet.Code
		}{
			{"no key", "", 401, wallet.CodeUnauthenticated},
			{"unknown key", "kbk_00000000000000000000000000_" + strings.Repeat("a", 52), 401, wallet.CodeUnauthenticated},
			{"malformed key", "not-a-key", 401, wallet.CodeUnauthenticated},
			{"revoked key", revoked.Secret, 401, wallet.CodeUnauthenticated},
		}
		if rt.operator {
			cases = append(cases, struct {
				name, key  string
				wantStatus int
				wantCode   wallet.Code
			}{"merchant key", key, 403, wallet.CodeForbidden})
		} else {
			cases = append(cases, []struct {
				name, key  string
				wantStatus int
				wantCode   wallet.Code
			}{{"operator key", op, 403, wallet.CodeForbidden}, {"no scope " + string(rt.scope), keys[rt.scope], 403, wallet.CodeForbidden}}...)
		}
		for _, tc := range cases {
			r := s.do(apiCall{method: rt.method, target: target, key: tc.key, idem: "auth-" + strings.ReplaceAll(tc.name, " ", "-")})
			if r.status != tc.wantStatus || r.code() != tc.wantCode {
				t.Errorf("%s with %s = %s, want %d %s", name, tc.name, r, tc.wantStatus, tc.wantCode)
			}
		}
		right := key
		if rt.operator {
			right = op
		}
		if r := s.do(apiCall{method: rt.method, target: target, key: right, idem: "auth-right"}); r.status == 401 || r.status == 403 {
			t.Errorf("%s with the right key = %s", name, r)
		}
	}
}

// testReplay checks a money command's idempotency: c sent again gets the
// first answer byte for byte with Idempotent-Replayed, and the same key
// with other (a different body) is 422.
func testReplay(t *testing.T, s *stack, c apiCall, other string) {
	t.Helper()
	first := s.do(c)
	again := s.do(c)
	if again.status != first.status || string(again.body) != string(first.body) || again.header.Get(HeaderIdempotentReplayed) != "true" {
		t.Errorf("%s %s replayed = %s (replayed %q), want %s", c.method, c.target, again, again.header.Get(HeaderIdempotentReplayed), first)
	}
	c.body = other
	if r := s.do(c); r.status != 422 || r.code() != wallet.CodeConflict {
		t.Errorf("%s %s with the same key and another body = %s, want 422 conflict", c.method, c.target, r)
	}
	c.idem = ""
	if r := s.do(c); r.status != 400 || !strings.Contains(string(r.body), HeaderIdempotencyKey) {
		t.Errorf("%s %s without an Idempotency-Key = %s, want 400 naming it", c.method, c.target, r)
	}
}

// testValidation sends a money command's malformed bodies: amountBody and
// phoneBody are its body with %s for the amount and the phone.
func testValidation(t *testing.T, s *stack, key, target, amountBody, phoneBody string) {
	t.Helper()
	tests := []struct {
		name, body string
		want       wallet.Code
	}{
		{"too many decimals", fmt.Sprintf(amountBody, "1.234"), wallet.CodeInvalidAmount},
		{"letters", fmt.Sprintf(amountBody, "abc"), wallet.CodeInvalidAmount},
		{"negative", fmt.Sprintf(amountBody, "-5"), wallet.CodeInvalidAmount},
		{"zero", fmt.Sprintf(amountBody, "0"), wallet.CodeInvalidAmount},
		{"a number", strings.Replace(fmt.Sprintf(amountBody, "5"), `"5"`, `5`, 1), wallet.CodeInvalid},
		{"letters in the phone", fmt.Sprintf(phoneBody, "abc"), wallet.CodeInvalidPhone},
		{"not a number of the region", fmt.Sprintf(phoneBody, "+2541"), wallet.CodeInvalidPhone},
		{"unknown field", strings.Replace(fmt.Sprintf(amountBody, "5"), "{", `{"tip":"1",`, 1), wallet.CodeInvalid},
		{"trailing data", fmt.Sprintf(amountBody, "5") + `{}`, wallet.CodeInvalid},
		{"not JSON", `phone=1&amount=2`, wallet.CodeInvalid},
		{"empty", ``, wallet.CodeInvalid},
	}
	for _, tc := range tests {
		r := s.do(apiCall{method: "POST", target: target, key: key, idem: "bad-" + strings.ReplaceAll(tc.name, " ", "-"), body: tc.body})
		if r.status != 400 || r.code() != tc.want {
			t.Errorf("POST %s with %s = %s, want 400 %s", target, tc.name, r, tc.want)
		}
	}
	big := fmt.Sprintf(amountBody, "5")
	big = strings.Replace(big, "{", `{"pad":"`+strings.Repeat("x", jsonBodyBytesMax)+`",`, 1)
	if r := s.do(apiCall{method: "POST", target: target, key: key, idem: "bad-big", body: big}); r.status != 413 || r.code() != codeTooLarge {
		t.Errorf("POST %s with %d bytes = %s, want 413", target, len(big), r)
	}
}

// testTransactionPages pages through a merchant's transactions.
func testTransactionPages(t *testing.T, s *stack) {
	till, key := s.merchant("Paged")
	payer := s.customer(100_000)
	var want []string
	for i := range 5 {
		want = append([]string{s.pay(payer, till, int64(100*(i+1)))}, want...) // newest first
	}
	var got []string
	for _, page := range walkPages(t, s, "/v1/transactions?limit=2", key, func(p *transactionsPage) (int, string) { return len(p.Transactions), p.Next }) {
		for _, tx := range page.Transactions {
			got = append(got, tx.ID)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages hold %v, want every transaction once, newest first: %v", got, want)
	}
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	for _, tc := range []struct {
		query string
		n     int
	}{{"from=" + tomorrow, 0}, {"from=" + yesterday + "&to=" + tomorrow, 5}, {"to=" + yesterday, 0}} {
		var page transactionsPage
		s.do(apiCall{method: "GET", target: "/v1/transactions?" + tc.query, key: key}).decode(t, &page)
		if len(page.Transactions) != tc.n {
			t.Errorf("GET ?%s = %d transactions, want %d", tc.query, len(page.Transactions), tc.n)
		}
	}
	for _, q := range []string{"from=yesterday", "limit=0", "limit=101", "page=2", "from=" + tomorrow + "&to=" + yesterday} {
		if r := s.do(apiCall{method: "GET", target: "/v1/transactions?" + q, key: key}); r.status != 400 {
			t.Errorf("GET ?%s = %s, want 400", q, r)
		}
	}
}

// testBulk pays a CSV file in the background.
func testBulk(t *testing.T, s *stack, till, key, otherKey, payee string) {
	payee2 := s.customer(0)
	file := "phone,amount,reference\n" + payee + ",10.00,ROW-1\nnot-a-phone,5.00,ROW-2\n" + payee2 + ",2.50,ROW-3\n"
	upload := apiCall{method: "POST", target: "/v1/payouts/bulk", key: key, idem: "bulk-1", body: file, contentType: "text/csv"}
	r := s.do(upload)
	var b merchant.BulkPayoutView
	r.decode(t, &b)
	if r.status != 202 || b.Rows != 3 || b.Merchant != till {
		t.Fatalf("bulk = %s", r)
	}
	testReplay(t, s, upload, file+payee+",1.00,ROW-4\n")
	// The same file under the same key, uploaded as a form: the same batch.
	form, formType := multipartBody(t, [2]string{"file", file})
	again := s.do(apiCall{method: "POST", target: "/v1/payouts/bulk", key: key, idem: "bulk-1", body: form, contentType: formType})
	if again.status != 202 || string(again.body) != string(r.body) || again.header.Get(HeaderIdempotentReplayed) != "true" {
		t.Errorf("the file re-uploaded as a form = %s, want the first answer replayed", again)
	}
	eventually(t, "the bulk payout done", func() bool {
		s.do(apiCall{method: "GET", target: "/v1/payouts/bulk/" + b.ID, key: key}).decode(t, &b)
		return b.Status == "done"
	})
	if b.Paid != 2 || b.Failed != 1 || b.PaidAmount != "12.50" || len(b.Results) != 3 || b.Results[1].Status != "failed" || b.Results[1].Line != 3 {
		t.Errorf("bulk done = %+v", b)
	}
	if r := s.do(apiCall{method: "GET", target: "/v1/payouts/bulk/" + b.ID, key: otherKey}); r.status != 404 {
		t.Errorf("another merchant's bulk payout = %s, want 404", r)
	}
	for _, tc := range []struct {
		name, body, contentType string
		status                  int
	}{
		{"json", `{"file":"x"}`, "application/json", 415},
		{"no header", payee + ",1.00\n", "text/csv", 400},
		{"header only", "phone,amount\n", "text/csv", 400},
		{"not UTF-8", "phone,amount\n\xff,1\n", "text/csv", 400},
	} {
		if r := s.do(apiCall{method: "POST", target: "/v1/payouts/bulk", key: key, idem: "bulk-" + strings.ReplaceAll(tc.name, " ", "-"), body: tc.body, contentType: tc.contentType}); r.status != tc.status {
			t.Errorf("bulk %s = %s, want %d", tc.name, r, tc.status)
		}
	}
}

// testTabs opens a tab, charges it fractions of a cent, and closes it.
func testTabs(t *testing.T, s *stack, key, otherKey, otherTill, phone string) {
	ctx := context.Background()
	expires := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	open := apiCall{method: "POST", target: "/v1/tabs", key: key, idem: "tab-1",
		body: `{"phone":"` + phone + `","cap":"1.50","expires_at":"` + expires + `","reference":"READER-1"}`}
	r := s.do(open)
	var tab merchant.TabView
	r.decode(t, &tab)
	if r.status != 201 || tab.Status != "pending" || tab.Cap != "1.50" || tab.Charged != "0.00" || tab.Remaining != "1.50" {
		t.Fatalf("open tab = %s", r)
	}
	testReplay(t, s, open, `{"phone":"`+phone+`","cap":"2","expires_at":"`+expires+`"}`)
	charge := func(idem, body string) reply {
		return s.do(apiCall{method: "POST", target: "/v1/tabs/" + tab.ID + "/charges", key: key, idem: idem, body: body})
	}
	if r := charge("ch-pending", `{"amount":"0.0025"}`); r.status != 409 || r.code() != wallet.CodeInvalidState {
		t.Errorf("a charge on a pending tab = %s, want 409 invalid_state", r)
	}
	if _, err := merchantapi.NewClient(s.client).Approve(ctx, phone, tab.ID, customerPIN); err != nil {
		t.Fatal(err)
	}
	first := apiCall{method: "POST", target: "/v1/tabs/" + tab.ID + "/charges", key: key, idem: "ch-1", body: `{"amount":"0.0025","reference":"click-1"}`}
	r = s.do(first)
	var ch merchant.ChargeView
	r.decode(t, &ch)
	if r.status != 201 || ch.Amount != "0.0025" || ch.Charged != "0.0025" || ch.Remaining != "1.4975" || ch.Tab != tab.ID {
		t.Errorf("charge = %s", r)
	}
	testReplay(t, s, first, `{"amount":"0.0026"}`)
	for i := 2; i <= 400; i++ {
		if r := charge("ch-"+strconv.Itoa(i), `{"amount":"0.0025"}`); r.status != 201 {
			t.Fatalf("charge %d = %s", i, r)
		}
	}
	r = charge("ch-split", `{"amount":"0.4999","splits":[{"to":"`+otherTill+`","weight":30},{"to":"`+s.mustTill(key)+`","weight":70}]}`)
	r.decode(t, &ch)
	if r.status != 201 || ch.Charged != "1.4999" || len(ch.Splits) != 2 {
		t.Errorf("a split charge = %s", r)
	}
	r = charge("ch-over", `{"amount":"0.0002"}`)
	var e errorBody
	r.decode(t, &e)
	if r.status != 422 || e.Error.Code != wallet.CodeLimitExceeded || e.Error.Limit != wallet.LimitTabCap {
		t.Errorf("a charge over the cap = %s, want 422 limit_exceeded tab_cap", r)
	}
	for i, body := range []string{`{"amount":"0.0000001"}`, `{"amount":"0"}`, `{"amount":"x"}`, `{"amount":"1","splits":[{"to":"1","weight":0}]}`} {
		if r := charge("ch-bad-"+strconv.Itoa(i), body); r.status != 400 {
			t.Errorf("charge %s = %s, want 400", body, r)
		}
	}
	if r := s.do(apiCall{method: "GET", target: "/v1/tabs/" + tab.ID, key: otherKey}); r.status != 404 {
		t.Errorf("another merchant's tab = %s, want 404", r)
	}
	if r := s.do(apiCall{method: "POST", target: "/v1/tabs/" + tab.ID + "/charges", key: otherKey, idem: "x-charge", body: `{"amount":"1"}`}); r.status != 404 {
		t.Errorf("a charge on another merchant's tab = %s, want 404", r)
	}
	if r := s.do(apiCall{method: "POST", target: "/v1/tabs/" + tab.ID + "/close", key: otherKey, idem: "x-close"}); r.status != 404 {
		t.Errorf("closing another merchant's tab = %s, want 404", r)
	}
	closeTab := apiCall{method: "POST", target: "/v1/tabs/" + tab.ID + "/close", key: key, idem: "close-1"}
	r = s.do(closeTab)
	r.decode(t, &tab)
	if r.status != 200 || tab.Status != "closed" || tab.Charged != "1.4999" || tab.Settled != "1.49" {
		t.Errorf("close = %s, want closed, 1.4999 charged, 1.49 settled", r)
	}
	var got merchant.TabView
	s.do(apiCall{method: "GET", target: "/v1/tabs/" + tab.ID, key: key}).decode(t, &got)
	if got != tab {
		t.Errorf("GET tab = %+v, want %+v", got, tab)
	}
	testReplay(t, s, closeTab, `{}`)
	if r := charge("ch-closed", `{"amount":"0.01"}`); r.status != 409 || r.code() != wallet.CodeInvalidState {
		t.Errorf("a charge on a closed tab = %s, want 409", r)
	}
	for i, body := range []string{
		`{"phone":"` + phone + `","cap":"1","expires_at":"tomorrow"}`,
		`{"phone":"` + phone + `","cap":"0.0000001","expires_at":"` + expires + `"}`,
		`{"phone":"x","cap":"1","expires_at":"` + expires + `"}`,
		`{"phone":"` + phone + `","cap":"1"}`,
	} {
		if r := s.do(apiCall{method: "POST", target: "/v1/tabs", key: key, idem: "tab-bad-" + strconv.Itoa(i), body: body}); r.status != 400 {
			t.Errorf("open %s = %s, want 400", body, r)
		}
	}
}

// mustTill returns the till of an API key.
func (s *stack) mustTill(key string) string {
	s.t.Helper()
	p, err := merchantapi.NewClient(s.client).Authenticate(context.Background(), key)
	s.must(err)
	return p.Merchant
}

// receiver is a merchant's webhook endpoint: it records the events,
// checking their signatures.
type receiver struct {
	mu     sync.Mutex
	secret string
	events []merchant.Event
	bad    int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := notify.VerifyWebhook([]byte(rc.secret), r.Header.Get(notify.HeaderSignature), body, 0, time.Now()); err != nil {
		rc.bad++
		w.WriteHeader(400)
		return
	}
	var ev merchant.Event
	json.Unmarshal(body, &ev)
	rc.events = append(rc.events, ev)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.events)
}

// testWebhooks registers a URL, receives signed events, and pages through
// the deliveries.
func testWebhooks(t *testing.T, s *stack, key, otherKey, phone string) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	if r := s.do(apiCall{method: "GET", target: "/v1/webhooks", key: key}); r.status != 404 {
		t.Errorf("GET /v1/webhooks before any = %s, want 404", r)
	}
	r := s.do(apiCall{method: "PUT", target: "/v1/webhooks", key: key, body: `{"url":"` + srv.URL + `/hook"}`})
	var ep webhookView
	r.decode(t, &ep)
	if r.status != 200 || ep.URL != srv.URL+"/hook" || ep.Secret == "" {
		t.Fatalf("PUT /v1/webhooks = %s", r)
	}
	rc.mu.Lock()
	rc.secret = ep.Secret
	rc.mu.Unlock()
	var got webhookView
	s.do(apiCall{method: "GET", target: "/v1/webhooks", key: key}).decode(t, &got)
	if got.URL != ep.URL || got.Secret != "" {
		t.Errorf("GET /v1/webhooks = %+v, want the URL without the secret", got)
	}
	for _, body := range []string{`{"url":"ftp://x"}`, `{"url":""}`, `{"url":"` + srv.URL + `","x":1}`} {
		if r := s.do(apiCall{method: "PUT", target: "/v1/webhooks", key: key, body: body}); r.status != 400 {
			t.Errorf("PUT %s = %s, want 400", body, r)
		}
	}
	// Events: payment requests created.
	for i := range 5 {
		r := s.do(apiCall{method: "POST", target: "/v1/payment-requests", key: key, idem: "hook-" + strconv.Itoa(i),
			body: `{"phone":"` + phone + `","amount":"1.00","reference":"HOOK-` + strconv.Itoa(i) + `"}`})
		if r.status != 201 {
			t.Fatalf("payment request = %s", r)
		}
	}
	eventually(t, "5 signed events delivered", func() bool { return rc.count() >= 5 })
	if rc.bad != 0 {
		t.Errorf("%d deliveries with a bad signature", rc.bad)
	}
	list := func(query string) (ids []string, page deliveriesPage, link string) {
		r := s.do(apiCall{method: "GET", target: "/v1/webhooks/deliveries?" + query, key: key})
		r.decode(t, &page)
		for _, d := range page.Deliveries {
			ids = append(ids, d.ID)
			if d.Status == "delivered" && (len(d.Attempts) == 0 || d.Attempts[len(d.Attempts)-1].Status != 200) {
				t.Errorf("delivery %+v", d)
			}
		}
		return ids, page, r.header.Get("Link")
	}
	var all []string
	eventually(t, "5 deliveries delivered", func() bool {
		all, _, _ = list("status=delivered&limit=100")
		return len(all) >= 5
	})
	// Pages of 2 hold every delivery once, in order; more may arrive
	// meanwhile (the merchant's earlier events), so until the whole
	// list is the same before and after the paging.
	eventually(t, "pages of 2 equal to the whole list", func() bool {
		before, _, _ := list("status=delivered&limit=100")
		var paged []string
		query := "status=delivered&limit=2"
		for pages := 0; query != ""; pages++ {
			if pages > len(before)+1 {
				t.Fatal("more pages than deliveries")
			}
			ids, page, link := list(query)
			paged = append(paged, ids...)
			query = ""
			if page.Next != "" {
				query = "status=delivered&limit=2&cursor=" + url.QueryEscape(page.Next)
				if link == "" {
					t.Errorf("no Link header with next %q", page.Next)
				}
			}
		}
		after, _, _ := list("status=delivered&limit=100")
		if !slices.Equal(before, after) {
			return false
		}
		if !slices.Equal(paged, after) {
			t.Fatalf("pages of 2 hold %v, want %v", paged, after)
		}
		all = after
		return true
	})
	n := rc.count()
	r = s.do(apiCall{method: "POST", target: "/v1/webhooks/deliveries/" + all[0] + "/resend", key: key})
	if r.status != 202 {
		t.Errorf("resend = %s, want 202", r)
	}
	eventually(t, "the re-sent delivery", func() bool { return rc.count() > n })
	if r := s.do(apiCall{method: "POST", target: "/v1/webhooks/deliveries/" + all[0] + "/resend", key: otherKey}); r.status != 404 {
		t.Errorf("re-sending another merchant's delivery = %s, want 404", r)
	}
	for _, q := range []string{"status=lost", "limit=500", "cursor=a%20b", "x=1"} {
		if r := s.do(apiCall{method: "GET", target: "/v1/webhooks/deliveries?" + q, key: key}); r.status != 400 {
			t.Errorf("GET deliveries?%s = %s, want 400", q, r)
		}
	}
	r = s.do(apiCall{method: "PUT", target: "/v1/webhooks", key: key, body: `{"url":"` + srv.URL + `/hook","rotate":true}`})
	var rotated webhookView
	r.decode(t, &rotated)
	if r.status != 200 || rotated.Secret == "" || rotated.Secret == ep.Secret {
		t.Errorf("rotate = %s, want a new secret", r)
	}
}

// testOperator manages API keys with an operator key.
func testOperator(t *testing.T, s *stack, op, till string) {
	r := s.do(apiCall{method: "POST", target: "/v1/operator/apikeys", key: op, body: `{"merchant":"` + till + `","scopes":["payments","tabs"]}`})
	var k apiKeyView
	r.decode(t, &k)
	if r.status != 201 || k.Secret == "" || k.Merchant != till || !slices.Equal(k.Scopes, []string{"payments", "tabs"}) {
		t.Fatalf("create key = %s", r)
	}
	if r := s.do(apiCall{method: "GET", target: "/v1/tabs/tab_none", key: k.Secret}); r.status != 404 {
		t.Errorf("the new key = %s, want 404 (authenticated)", r)
	}
	if r := s.do(apiCall{method: "GET", target: "/v1/transactions", key: k.Secret}); r.status != 403 {
		t.Errorf("the new key without the transactions scope = %s, want 403", r)
	}
	var list apiKeysView
	s.do(apiCall{method: "GET", target: "/v1/operator/apikeys?merchant=" + till, key: op}).decode(t, &list)
	found := false
	for _, l := range list.Keys {
		found = found || l.ID == k.ID
		if l.Secret != "" || l.Merchant != till {
			t.Errorf("listed %+v", l)
		}
	}
	if !found {
		t.Errorf("the list %+v lacks %s", list, k.ID)
	}
	r = s.do(apiCall{method: "DELETE", target: "/v1/operator/apikeys/" + k.ID, key: op, header: map[string]string{"Kibubu-Reason": "merchant asked, ticket 5"}})
	var revoked apiKeyView
	r.decode(t, &revoked)
	if r.status != 200 || revoked.Revoked == nil {
		t.Errorf("revoke = %s", r)
	}
	if r := s.do(apiCall{method: "GET", target: "/v1/tabs/tab_none", key: k.Secret}); r.status != 401 {
		t.Errorf("the revoked key = %s, want 401", r)
	}
	// TestSecurityEveryOperatorSubjectAudited: the operator key is the
	// actor, the header the reason.
	recs, err := s.client.AuditLog(context.Background(), natsapi.AuditRequest{})
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	if opID := op[:strings.LastIndex(op, "_")]; last.Action != "merchant.opkey.revoke" || last.Actor != "apikey:"+opID ||
		last.Reason != "merchant asked, ticket 5" || last.Target != k.ID || last.Outcome != "ok" {
		t.Errorf("last audit record %+v, want the revocation by %s", last.AuditEntry, opID)
	}
	// TestSecurityOperatorKeyScopes: a key that expires, and one that
	// would have expired already.
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	r = s.do(apiCall{method: "POST", target: "/v1/operator/apikeys", key: op, body: `{"merchant":"` + till + `","scopes":["payments"],"expires":"` + at.Format(time.RFC3339) + `"}`})
	var expiring apiKeyView
	r.decode(t, &expiring)
	if r.status != 201 || expiring.Expires == nil || !expiring.Expires.Equal(at) {
		t.Errorf("create an expiring key = %s, want it expiring at %s", r, at)
	}
	if r := s.do(apiCall{method: "POST", target: "/v1/operator/apikeys", key: op, body: `{"merchant":"` + till + `","scopes":["payments"],"expires":"2020-01-01T00:00:00Z"}`}); r.status != 400 {
		t.Errorf("create a key expired already = %s, want 400", r)
	}
	for _, body := range []string{`{"merchant":"` + till + `","scopes":["operator"]}`, `{"merchant":"` + till + `","scopes":[]}`,
		`{"scopes":["payments"]}`, `{"merchant":"` + till + `","scopes":["payments"],"operator":true}`} {
		if r := s.do(apiCall{method: "POST", target: "/v1/operator/apikeys", key: op, body: body}); r.status != 400 {
			t.Errorf("create %s = %s, want 400", body, r)
		}
	}
}

// TestRecordKeyAlphabet: a record's key is valid in a key-value bucket
// whatever the merchant and the Idempotency-Key.
func TestRecordKeyAlphabet(t *testing.T) {
	for _, k := range []string{recordKey("123456", "k"), recordKey("key:kbk_1", "a/b.c*>"), recordKey("", "")} {
		if len(k) != 16+1+64 {
			t.Errorf("recordKey = %q", k)
		}
		if _, err := hex.DecodeString(strings.Replace(k, ".", "", 1)); err != nil {
			t.Errorf("recordKey = %q: %v", k, err)
		}
	}
	sum := sha256.Sum256([]byte("k"))
	if !strings.HasSuffix(recordKey("1", "k"), hex.EncodeToString(sum[:])) {
		t.Error("recordKey does not end with the key's hash")
	}
}
