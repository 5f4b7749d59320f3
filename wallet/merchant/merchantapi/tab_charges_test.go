package merchantapi_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
)

// TestMerchantTabChargesList pages through a tab's charges over NATS:
// newest first, each once, with their splits; and the refusals: the scope,
// no key, another merchant's tab, a bad cursor, too large a page, junk.
func TestMerchantTabChargesList(t *testing.T) {
	e := startMerchants(t)
	till, key := e.merchant("Duka", merchant.ScopeTabs)
	network, otherKey := e.merchant("Soko", merchant.ScopeTabs)
	_, readOnly := e.merchant("Kibanda", merchant.ScopeTransactions)
	alice := e.customer(0)
	tab, err := e.m.OpenTab(e.ctx, merchantapi.TabOpenRequest{Auth: key, Idempotency: "tab-1", Phone: alice, Cap: 1_000_000, Expires: time.Now().Add(time.Hour)})
	e.must(err)
	_, err = e.m.Approve(e.ctx, alice, tab.ID, "2580")
	e.must(err)

	split := []merchant.Split{{To: till, Weight: 70}, {To: network, Weight: 30}}
	var made []string // charge ids, oldest first
	reqs := []merchant.ChargeRequest{{Key: "a", Amount: 100}, {Key: "b", Amount: 200, Splits: split}, {Key: "c", Amount: 300, Reference: "ad-3"}}
	r, err := e.m.ChargeBatch(e.ctx, key, tab.ID, reqs)
	e.must(err)
	for _, res := range r.Results {
		made = append(made, res.Charge.ID)
	}
	for i := range 2 {
		ch, err := e.m.Charge(e.ctx, key, merchant.ChargeRequest{Tab: tab.ID, Key: fmt.Sprint("s", i), Amount: 1})
		e.must(err)
		made = append(made, ch.ID)
	}
	want := slices.Clone(made)
	slices.Reverse(want)

	var got []merchant.Charge
	req := merchantapi.TabChargesListRequest{Auth: key, Tab: tab.ID, Limit: 2}
	for pages := 0; ; pages++ {
		if pages > len(want) {
			t.Fatal("more pages than charges")
		}
		page, err := e.m.TabCharges(e.ctx, req)
		e.must(err)
		if len(page.Charges) > 2 || (page.Next != "" && len(page.Charges) != 2) {
			t.Fatalf("page %d: %d charges, next %q", pages, len(page.Charges), page.Next)
		}
		got = append(got, page.Charges...)
		if page.Next == "" {
			break
		}
		req.Cursor = page.Next
	}
	var ids []string
	for _, c := range got {
		ids = append(ids, c.ID)
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("pages hold %v, want every charge once, newest first: %v", ids, want)
	}
	// Newest first: s1, s0, c, b, a.
	if c := got[2]; c.Amount != 300 || c.Reference != "ad-3" || c.Charged != 600 || c.Remaining != 1_000_000-600 {
		t.Errorf("charge c: %+v", c)
	}
	if b := got[3]; !slices.Equal(b.Splits, split) || b.Charged != 300 {
		t.Errorf("charge b: %+v, want its splits %+v", b, split)
	}

	tests := []struct {
		name string
		req  merchantapi.TabChargesListRequest
		want wallet.Code
	}{
		{"without the scope", merchantapi.TabChargesListRequest{Auth: readOnly, Tab: tab.ID}, wallet.CodeForbidden},
		{"without a key", merchantapi.TabChargesListRequest{Tab: tab.ID}, wallet.CodeUnauthenticated},
		{"another merchant's tab", merchantapi.TabChargesListRequest{Auth: otherKey, Tab: tab.ID}, wallet.CodeNotFound},
		{"an unknown tab", merchantapi.TabChargesListRequest{Auth: key, Tab: "tab_nope"}, wallet.CodeNotFound},
		{"a bad cursor", merchantapi.TabChargesListRequest{Auth: key, Tab: tab.ID, Cursor: "nope"}, wallet.CodeInvalid},
		{"a page of 201", merchantapi.TabChargesListRequest{Auth: key, Tab: tab.ID, Limit: 201}, wallet.CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.m.TabCharges(e.ctx, tt.req)
			checkMerchantError(t, err, tt.want)
		})
	}
	msg, err := e.nc.Request(e.ns.Prefix+"."+merchantapi.SubjectTabChargesList, []byte(`{"tab":[]}`), 5*time.Second)
	e.must(err)
	if code := msg.Header.Get("Nats-Service-Error-Code"); code != string(wallet.CodeInvalid) {
		t.Errorf("malformed JSON: code %q (%s), want invalid_request", code, msg.Data)
	}
}
