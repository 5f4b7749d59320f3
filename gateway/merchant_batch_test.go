package gateway

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
)

// batchAnswer decodes a batch of charges' answer: each item is a charge
// (with replayed) or a refusal, told apart by its code.
type batchAnswer struct {
	Charges []struct {
		merchant.ChargeView
		Replayed bool         `json:"replayed"`
		Code     wallet.Code  `json:"code"`
		Message  string       `json:"message"`
		Limit    wallet.Limit `json:"limit"`
	} `json:"charges"`
	Charged   string `json:"charged"`
	Remaining string `json:"remaining"`
	Currency  string `json:"currency"`
}

// outcomes says what each charge of a batch's answer is: ok, replayed, or
// its refusal's code.
func (a batchAnswer) outcomes() string {
	var out []string
	for _, c := range a.Charges {
		switch {
		case c.Code != "":
			out = append(out, string(c.Code))
		case c.Replayed:
			out = append(out, "replayed")
		default:
			out = append(out, "ok")
		}
	}
	return strings.Join(out, " ")
}

// testChargeBatches runs POST /v1/tabs/{id}/charges/batch on the full
// stack: partial refusals at the cap, a conflict, replays within a batch,
// across batches and with single charges, the whole batch replayed by its
// Idempotency-Key, and the refusals of the whole batch (nothing charged).
func testChargeBatches(t *testing.T, s *stack, key, otherKey, phone string) {
	ctx := context.Background()
	expires := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	open := func(idem string) string {
		t.Helper()
		r := s.do(apiCall{method: "POST", target: "/v1/tabs", key: key, idem: idem,
			body: `{"phone":"` + phone + `","cap":"1.00","expires_at":"` + expires + `"}`})
		var tab merchant.TabView
		r.decode(t, &tab)
		if r.status != 201 {
			t.Fatalf("open tab = %s", r)
		}
		return tab.ID
	}
	tab, pending := open("batch-tab-1"), open("batch-tab-2")
	if _, err := merchantapi.NewClient(s.client).Approve(ctx, phone, tab, customerPIN); err != nil {
		t.Fatal(err)
	}
	target := "/v1/tabs/" + tab + "/charges/batch"
	till := s.mustTill(key)
	body := `{"charges":[
		{"key":"click-1","amount":"0.25","reference":"ad-1"},
		{"key":"click-2","amount":"0.25","splits":[{"to":"` + till + `","weight":70}]},
		{"key":"click-1","amount":"0.25","reference":"ad-1"},
		{"key":"click-2","amount":"0.30"},
		{"key":"click-3","amount":"0.60"},
		{"key":"click-4","amount":"0.50"},
		{"key":"click-5","amount":"0.000001"}]}`
	batch := apiCall{method: "POST", target: target, key: key, idem: "batch-1", body: body}
	r := s.do(batch)
	var got batchAnswer
	r.decode(t, &got)
	if want := "ok ok replayed conflict limit_exceeded ok limit_exceeded"; r.status != 200 || got.outcomes() != want ||
		got.Charged != "1.00" || got.Remaining != "0.00" || got.Currency != "KES" {
		t.Fatalf("batch = %s\nwant 200 with %s, charged 1.00", r, want)
	}
	first := got.Charges
	if c := first[0]; c.Amount != "0.25" || c.Charged != "0.25" || c.Remaining != "0.75" || c.Reference != "ad-1" || c.Tab != tab {
		t.Errorf("the first charge = %+v", c)
	}
	if c := first[1]; len(c.Splits) != 1 || c.Splits[0].To != till || c.Charged != "0.50" {
		t.Errorf("the split charge = %+v", c)
	}
	if first[2].ID != first[0].ID || first[5].Charged != "1.00" || first[5].Remaining != "0.00" ||
		first[4].Limit != wallet.LimitTabCap || first[3].Message == "" {
		t.Errorf("the replay, the last charge and the refusals = %+v", first)
	}
	// The whole batch, by its Idempotency-Key: the same answer, byte for byte.
	testReplay(t, s, batch, `{"charges":[{"key":"click-9","amount":"0.01"}]}`)
	// The same charges under another Idempotency-Key: the wallet replays
	// what it recorded and judges the refused ones again.
	again := batch
	again.idem = "batch-2"
	r = s.do(again)
	r.decode(t, &got)
	if want := "replayed replayed replayed conflict limit_exceeded replayed limit_exceeded"; r.status != 200 || got.outcomes() != want ||
		got.Charges[0].ID != first[0].ID || got.Charges[5].ID != first[5].ID || got.Charged != "1.00" {
		t.Errorf("the batch again = %s\nwant %s", r, want)
	}
	// A single charge with a batch's key is that charge.
	r = s.do(apiCall{method: "POST", target: "/v1/tabs/" + tab + "/charges", key: key, idem: "click-4", body: `{"amount":"0.50"}`})
	var single merchant.ChargeView
	r.decode(t, &single)
	if r.status != 201 || single.ID != first[5].ID {
		t.Errorf("a single charge with a batch's key = %s, want 201 with %s", r, first[5].ID)
	}

	// A pending tab refuses each charge; another merchant's is not found.
	r = s.do(apiCall{method: "POST", target: "/v1/tabs/" + pending + "/charges/batch", key: key, idem: "batch-pending",
		body: `{"charges":[{"key":"a","amount":"0.01"},{"key":"b","amount":"0.01"}]}`})
	r.decode(t, &got)
	if r.status != 200 || got.outcomes() != "invalid_state invalid_state" || got.Charged != "0.00" || got.Remaining != "1.00" {
		t.Errorf("a batch on a pending tab = %s", r)
	}
	if r := s.do(apiCall{method: "POST", target: target, key: otherKey, idem: "batch-x", body: body}); r.status != 404 || r.code() != wallet.CodeNotFound {
		t.Errorf("a batch on another merchant's tab = %s, want 404", r)
	}
	if r := s.do(apiCall{method: "POST", target: "/v1/tabs/tab_0000000000000000000000000a/charges/batch", key: key, idem: "batch-y",
		body: body}); r.status != 404 {
		t.Errorf("a batch on no tab = %s, want 404", r)
	}

	// Malformed batches are refused whole: nothing is charged.
	if _, err := merchantapi.NewClient(s.client).Approve(ctx, phone, pending, customerPIN); err != nil {
		t.Fatal(err)
	}
	many := `{"charges":[` + strings.Repeat(`{"key":"k","amount":"0.01"},`, merchant.BatchChargesMax) + `{"key":"k","amount":"0.01"}]}`
	tests := []struct {
		name, body string
		code       wallet.Code
		msg        string
	}{
		{"a charge without a key", `{"charges":[{"key":"a","amount":"0.01"},{"amount":"0.01"}]}`, wallet.CodeInvalid, "charges[1].key"},
		{"a key with a space", `{"charges":[{"key":"a b","amount":"0.01"}]}`, wallet.CodeInvalid, "charges[0].key"},
		{"a bad amount", `{"charges":[{"key":"a","amount":"0.01"},{"key":"b","amount":"0.0000001"}]}`, wallet.CodeInvalidAmount, "charges[1]: amount"},
		{"an amount as a number", `{"charges":[{"key":"a","amount":0.01}]}`, wallet.CodeInvalid, "amount"},
		{"a bad split", `{"charges":[{"key":"a","amount":"1","splits":[{"to":"1","weight":0}]}]}`, wallet.CodeInvalid, "charges[0]: splits[0].weight"},
		{"an unknown field", `{"charges":[{"key":"a","amount":"0.01","tip":"1"}]}`, wallet.CodeInvalid, "tip"},
		{"no charges", `{"charges":[]}`, wallet.CodeInvalid, "empty"},
		{"charges left out", `{}`, wallet.CodeInvalid, "empty"},
		{"too many charges", many, wallet.CodeInvalid, "at most 1000"},
		{"trailing data", `{"charges":[{"key":"a","amount":"0.01"}]}{}`, wallet.CodeInvalid, "after"},
		{"not JSON", `charges=1`, wallet.CodeInvalid, "JSON"},
	}
	for i, tc := range tests {
		r := s.do(apiCall{method: "POST", target: "/v1/tabs/" + pending + "/charges/batch", key: key, idem: "batch-bad-" + strconv.Itoa(i), body: tc.body})
		if r.status != 400 || r.code() != tc.code || !strings.Contains(string(r.body), tc.msg) {
			t.Errorf("a batch with %s = %s, want 400 %s naming %s", tc.name, r, tc.code, tc.msg)
		}
	}
	big := `{"pad":"` + strings.Repeat("x", int(chargesLimit(1<<20))) + `"}`
	if r := s.do(apiCall{method: "POST", target: "/v1/tabs/" + pending + "/charges/batch", key: key, idem: "batch-big", body: big}); r.status != 413 || r.code() != codeTooLarge {
		t.Errorf("a batch of %d bytes = %s, want 413", len(big), r)
	}
	var tb merchant.TabView
	s.do(apiCall{method: "GET", target: "/v1/tabs/" + pending, key: key}).decode(t, &tb)
	if tb.Charged != "0.00" {
		t.Errorf("refused batches charged %s", tb.Charged)
	}

	// A batch whose answer is too large to keep (over 64 KB): a retry with
	// its Idempotency-Key is processed again, each charge replayed by the
	// wallet, and the key still refuses another request.
	large := open("batch-tab-3")
	if _, err := merchantapi.NewClient(s.client).Approve(ctx, phone, large, customerPIN); err != nil {
		t.Fatal(err)
	}
	var lb strings.Builder
	lb.WriteString(`{"charges":[`)
	for i := range 400 {
		if i > 0 {
			lb.WriteByte(',')
		}
		fmt.Fprintf(&lb, `{"key":"large-%d","amount":"0.001","reference":"impression-%d"}`, i, i)
	}
	lb.WriteString("]}")
	bigBatch := apiCall{method: "POST", target: "/v1/tabs/" + large + "/charges/batch", key: key, idem: "batch-large", body: lb.String()}
	r = s.do(bigBatch)
	var firstLarge, againLarge batchAnswer
	r.decode(t, &firstLarge)
	if r.status != 200 || len(r.body) <= storedResponseBytesMax || firstLarge.Charged != "0.40" || strings.Contains(firstLarge.outcomes(), "_") {
		t.Fatalf("a batch of 400 = %d, %d bytes, charged %s", r.status, len(r.body), firstLarge.Charged)
	}
	r = s.do(bigBatch)
	r.decode(t, &againLarge)
	if r.status != 200 || r.header.Get(HeaderIdempotentReplayed) != "" || againLarge.outcomes() != strings.TrimSpace(strings.Repeat("replayed ", 400)) ||
		againLarge.Charges[399].ID != firstLarge.Charges[399].ID || againLarge.Charged != "0.40" {
		t.Errorf("the large batch again = %d (replayed %q), %s", r.status, r.header.Get(HeaderIdempotentReplayed), againLarge.outcomes())
	}
	bigBatch.body = `{"charges":[{"key":"other","amount":"0.01"}]}`
	if r := s.do(bigBatch); r.status != 422 || r.code() != wallet.CodeConflict {
		t.Errorf("the large batch's key with another body = %s, want 422 conflict", r)
	}
}

// TestChargesLimit: a batch's body limit leaves its answer room in NATS's
// max_payload, is at most batchBodyBytesMax, and never below a charge's.
func TestChargesLimit(t *testing.T) {
	tests := []struct {
		payloadMax, want int64
	}{
		{1 << 20, 1<<20 - merchantapi.TabChargesReplyOverheadBytes - natsBatchOverheadBytes},
		{8 << 20, batchBodyBytesMax},
		{64 << 10, jsonBodyBytesMax},
	}
	for _, tc := range tests {
		if got := chargesLimit(tc.payloadMax); got != tc.want {
			t.Errorf("chargesLimit(%d) = %d, want %d", tc.payloadMax, got, tc.want)
		}
	}
}

func FuzzChargesBody(f *testing.F) {
	f.Add([]byte(`{"charges":[{"key":"click-1","amount":"0.0025","reference":"ad","splits":[{"to":"111","weight":70},{"to":"222","weight":30}]},{"key":"click-1","amount":"1"}]}`))
	f.Add([]byte(`{"charges":[{"key":"","amount":"0.0025"}]}`))
	f.Add([]byte(`{"charges":[{"amount":"1","key":"a b"}]}`))
	f.Add([]byte(`{"charges":[null,{}]}`))
	f.Add([]byte(`{"charges":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var b chargesBody
		err := decodeJSON(body, &b)
		checkDecoderError(t, err)
		if err != nil {
			return
		}
		reqs, err := b.requests(kes)
		checkDecoderError(t, err)
		if err != nil {
			return
		}
		if len(reqs) == 0 || len(reqs) > merchant.BatchChargesMax {
			t.Fatalf("%d charges accepted", len(reqs))
		}
		for i, r := range reqs {
			if r.Amount <= 0 || r.Amount > wallet.MicroMax || checkIdempotencyKey(r.Key) != nil || r.Tab != "" ||
				len(r.Reference) > wallet.ReferenceBytesMax || len(r.Splits) > merchant.SplitRulesMax {
				t.Fatalf("charge %d accepted: %+v", i, r)
			}
		}
	})
}

// BenchmarkMerchantChargeBatch posts charges to active tabs through the
// whole API in batches of 100 (as BenchmarkMerchantCharge posts them one by
// one): a key, an Idempotency-Key and a NATS request per batch. An op is
// one charge; it reports charges/s.
func BenchmarkMerchantChargeBatch(b *testing.B) {
	const size = 100
	s := startStack(b)
	_, key := s.merchant("Bench")
	phone := s.customer(0)
	expires := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	r := s.do(apiCall{method: "POST", target: "/v1/tabs", key: key, idem: "bench-tab",
		body: `{"phone":"` + phone + `","cap":"200000","expires_at":"` + expires + `"}`})
	var tab merchant.TabView
	r.decode(b, &tab)
	if r.status != 201 {
		b.Fatalf("open tab = %s", r)
	}
	if _, err := merchantapi.NewClient(s.client).Approve(context.Background(), phone, tab.ID, customerPIN); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var body strings.Builder
		sent := 0
		send := func() bool {
			body.WriteString("]}")
			r := s.do(apiCall{method: "POST", target: "/v1/tabs/" + tab.ID + "/charges/batch", key: key,
				idem: "bench-" + strconv.FormatInt(n.Add(1), 10), body: body.String()})
			body.Reset()
			sent = 0
			if r.status != 200 {
				b.Errorf("batch = %s", r)
				return false
			}
			return true
		}
		for pb.Next() {
			if sent == 0 {
				body.WriteString(`{"charges":[`)
			} else {
				body.WriteByte(',')
			}
			fmt.Fprintf(&body, `{"key":"c-%d","amount":"0.0025"}`, n.Add(1))
			if sent++; sent == size && !send() {
				return
			}
		}
		if sent > 0 {
			send()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "charges/s")
}
