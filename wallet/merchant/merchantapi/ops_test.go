package merchantapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
)

// TestOpsMerchantReads calls the back-office's merchant reads over NATS:
// the search by number and name prefix, one merchant, its payment requests
// and tabs a page at a time, a tab's charges, and their refusals.
func TestOpsMerchantReads(t *testing.T) {
	e := startMerchants(t)
	duka, key := e.merchant("Duka La Mama", merchant.ScopePayments, merchant.ScopeTabs)
	kubwa, otherKey := e.merchant("DUKA Kubwa", merchant.ScopeTabs)
	e.merchant("Soko Kuu", merchant.ScopePayments)
	alice, bob := e.customer(0), e.customer(0)
	for i := range 3 {
		_, err := e.m.CreatePaymentRequest(e.ctx, merchantapi.PaymentRequestCreate{Auth: key, Idempotency: fmt.Sprint("pr-", i),
			Phone: alice, Amount: int64(100 + i), Reference: fmt.Sprint("ORDER-", i)})
		e.must(err)
	}
	open, err := e.m.OpenTab(e.ctx, merchantapi.TabOpenRequest{Auth: key, Idempotency: "tab-1", Phone: bob, Cap: 10_000, Expires: time.Now().Add(time.Hour)})
	e.must(err)
	_, err = e.m.Approve(e.ctx, bob, open.ID, "2580")
	e.must(err)
	_, err = e.m.Charge(e.ctx, key, merchant.ChargeRequest{Tab: open.ID, Key: "c1", Amount: 2_500})
	e.must(err)
	declined, err := e.m.OpenTab(e.ctx, merchantapi.TabOpenRequest{Auth: key, Idempotency: "tab-2", Phone: bob, Cap: 5_000, Expires: time.Now().Add(time.Hour)})
	e.must(err)
	_, err = e.m.Decline(e.ctx, bob, declined.ID, "2580")
	e.must(err)
	other, err := e.m.OpenTab(e.ctx, merchantapi.TabOpenRequest{Auth: otherKey, Idempotency: "tab-3", Phone: bob, Cap: 5_000, Expires: time.Now().Add(time.Hour)})
	e.must(err)

	numbers := func(p *merchant.MerchantsPage) string {
		var out []string
		for _, m := range p.Merchants {
			out = append(out, m.Number)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		name  string
		q     merchantapi.OpsMerchantsRequest
		want  string // the numbers found, in order
		err   wallet.Code
		check func(*merchant.MerchantsPage) bool
	}{
		{"name prefix, any case", merchantapi.OpsMerchantsRequest{Query: "duka"}, kubwa + " " + duka, "", nil},
		{"number", merchantapi.OpsMerchantsRequest{Query: kubwa}, kubwa, "", nil},
		{"nothing", merchantapi.OpsMerchantsRequest{Query: "Zzz"}, "", "", nil},
		{"a customer's name is not a merchant", merchantapi.OpsMerchantsRequest{Query: "Customer"}, "", "", nil},
		{"over-long", merchantapi.OpsMerchantsRequest{Query: strings.Repeat("a", merchant.OpsQueryBytesMax+1)}, "", wallet.CodeInvalid, nil},
		{"negative page", merchantapi.OpsMerchantsRequest{Page: -1}, "", wallet.CodeInvalid, nil},
	} {
		p, err := merchantapi.OpsMerchants.Call(e.ctx, e.c, tc.q)
		if wallet.ErrorCode(err) != tc.err {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
			continue
		}
		if err == nil && numbers(p) != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, numbers(p), tc.want)
		}
	}
	if p, err := merchantapi.OpsMerchants.Call(e.ctx, e.c, merchantapi.OpsMerchantsRequest{}); err != nil || len(p.Merchants) != 3 || p.More {
		t.Errorf("every merchant: %+v %v, want 3", p, err)
	}

	m, err := merchantapi.OpsMerchant.Call(e.ctx, e.c, merchantapi.OpsMerchantRequest{Number: duka})
	if err != nil || m.Name != "Duka La Mama" || m.Kind != wallet.KindTill {
		t.Errorf("merchant: %+v %v", m, err)
	}
	for _, n := range []string{"999999", e.agent, ""} {
		if _, err := merchantapi.OpsMerchant.Call(e.ctx, e.c, merchantapi.OpsMerchantRequest{Number: n}); wallet.ErrorCode(err) != wallet.CodeNotFound {
			t.Errorf("merchant %q: %v, want not_found", n, err)
		}
	}

	page, err := merchantapi.OpsPaymentRequests.Call(e.ctx, e.c, merchantapi.OpsPaymentRequestsRequest{Number: duka, Limit: 2})
	e.must(err)
	if len(page.Requests) != 2 || page.Requests[0].Reference != "ORDER-2" || page.Next == "" {
		t.Fatalf("first page: %+v", page)
	}
	page, err = merchantapi.OpsPaymentRequests.Call(e.ctx, e.c, merchantapi.OpsPaymentRequestsRequest{Number: duka, Limit: 2, Cursor: page.Next})
	e.must(err)
	if len(page.Requests) != 1 || page.Requests[0].Reference != "ORDER-0" || page.Next != "" {
		t.Fatalf("last page: %+v", page)
	}
	if _, err := merchantapi.OpsPaymentRequests.Call(e.ctx, e.c, merchantapi.OpsPaymentRequestsRequest{Number: "999999"}); wallet.ErrorCode(err) != wallet.CodeNotFound {
		t.Errorf("requests of no merchant: %v", err)
	}

	yes, no := true, false
	ids := func(p *merchant.TabsPage) string {
		var out []string
		for _, t := range p.Tabs {
			out = append(out, t.ID)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		name string
		q    merchantapi.OpsTabsRequest
		want string
		err  wallet.Code
	}{
		{"all", merchantapi.OpsTabsRequest{Number: duka}, declined.ID + " " + open.ID, ""},
		{"open", merchantapi.OpsTabsRequest{Number: duka, Open: &yes}, open.ID, ""},
		{"finished", merchantapi.OpsTabsRequest{Number: duka, Open: &no}, declined.ID, ""},
		{"a page of one", merchantapi.OpsTabsRequest{Number: duka, Limit: 1}, declined.ID, ""},
		{"after the cursor", merchantapi.OpsTabsRequest{Number: duka, Cursor: declined.ID}, open.ID, ""},
		{"a bad cursor", merchantapi.OpsTabsRequest{Number: duka, Cursor: "x"}, "", wallet.CodeInvalid},
		{"too large a page", merchantapi.OpsTabsRequest{Number: duka, Limit: 201}, "", wallet.CodeInvalid},
		{"no merchant", merchantapi.OpsTabsRequest{Number: "999999"}, "", wallet.CodeNotFound},
	} {
		p, err := merchantapi.OpsTabs.Call(e.ctx, e.c, tc.q)
		if wallet.ErrorCode(err) != tc.err {
			t.Errorf("tabs %s: %v, want %q", tc.name, err, tc.err)
			continue
		}
		if err == nil && ids(p) != tc.want {
			t.Errorf("tabs %s: %q, want %q", tc.name, ids(p), tc.want)
		}
	}
	if open, _ := merchantapi.OpsTabs.Call(e.ctx, e.c, merchantapi.OpsTabsRequest{Number: duka, Open: &yes}); len(open.Tabs) != 1 || open.Tabs[0].Charged != 2_500 {
		t.Errorf("the open tab's metered amount: %+v", open.Tabs)
	}

	tab, err := merchantapi.OpsTab.Call(e.ctx, e.c, merchantapi.OpsTabRequest{Number: duka, Tab: open.ID})
	e.must(err)
	if tab.Tab.ID != open.ID || tab.Tab.Status != merchant.TabActive || len(tab.Charges) != 1 || tab.Charges[0].Amount != 2_500 {
		t.Errorf("tab: %+v", tab)
	}
	if _, err := merchantapi.OpsTab.Call(e.ctx, e.c, merchantapi.OpsTabRequest{Number: duka, Tab: other.ID}); wallet.ErrorCode(err) != wallet.CodeNotFound {
		t.Errorf("another merchant's tab: %v, want not_found", err)
	}
}
