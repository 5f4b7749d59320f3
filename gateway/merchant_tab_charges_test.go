package gateway

import (
	"context"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
)

// testTabCharges runs GET /v1/tabs/{id}/charges on the full stack: two
// tabs charged singly and in a batch, one tab's charges paged through by
// the Link header (newest first, each once, splits shown), the default
// page, and the refusals: no key, no scope, an operator key, another
// merchant's tab, bad cursors and page sizes.
func testTabCharges(t *testing.T, s *stack, key, otherKey, op, phone string) {
	ctx := context.Background()
	expires := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	open := func(idem string) string {
		t.Helper()
		r := s.do(apiCall{method: "POST", target: "/v1/tabs", key: key, idem: idem,
			body: `{"phone":"` + phone + `","cap":"10.00","expires_at":"` + expires + `"}`})
		var tab merchant.TabView
		r.decode(t, &tab)
		if r.status != 201 {
			t.Fatalf("open tab = %s", r)
		}
		if _, err := merchantapi.NewClient(s.client).Approve(ctx, phone, tab.ID, customerPIN); err != nil {
			t.Fatal(err)
		}
		return tab.ID
	}
	tab, other := open("list-tab-1"), open("list-tab-2")
	till := s.mustTill(key)
	otherTill := s.mustTill(otherKey)
	var made []string // tab's charge ids, oldest first
	r := s.do(apiCall{method: "POST", target: "/v1/tabs/" + tab + "/charges/batch", key: key, idem: "list-batch", body: `{"charges":[
		{"key":"c1","amount":"0.0025","reference":"ad-1"},
		{"key":"c2","amount":"0.0025","splits":[{"to":"` + till + `","weight":70},{"to":"` + otherTill + `","weight":30}]},
		{"key":"c3","amount":"0.10"}]}`})
	var batch batchAnswer
	r.decode(t, &batch)
	if r.status != 200 || batch.outcomes() != "ok ok ok" {
		t.Fatalf("batch = %s", r)
	}
	for _, c := range batch.Charges {
		made = append(made, c.ID)
	}
	for _, idem := range []string{"list-1", "list-2", "list-3"} {
		r := s.do(apiCall{method: "POST", target: "/v1/tabs/" + tab + "/charges", key: key, idem: idem, body: `{"amount":"0.000001"}`})
		var ch merchant.ChargeView
		r.decode(t, &ch)
		if r.status != 201 {
			t.Fatalf("charge = %s", r)
		}
		made = append(made, ch.ID)
	}
	for _, idem := range []string{"list-other-1", "list-other-2"} {
		if r := s.do(apiCall{method: "POST", target: "/v1/tabs/" + other + "/charges", key: key, idem: idem, body: `{"amount":"1"}`}); r.status != 201 {
			t.Fatalf("charge the other tab = %s", r)
		}
	}
	want := slices.Clone(made)
	slices.Reverse(want)

	// Two at a time, following the Link header.
	var got []merchant.ChargeView
	for _, page := range walkPages(t, s, "/v1/tabs/"+tab+"/charges?limit=2", key, func(p *tabChargesPage) (int, string) { return len(p.Charges), p.Next }) {
		got = append(got, page.Charges...)
	}
	var ids []string
	for _, c := range got {
		ids = append(ids, c.ID)
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("pages hold %v, want every charge once, newest first: %v", ids, want)
	}
	// Newest first: the three single charges, then c3, c2, c1.
	c2 := got[4]
	if c2.Amount != "0.0025" || c2.Charged != "0.005" || c2.Remaining != "9.995" || c2.Currency != "KES" || c2.Tab != tab ||
		len(c2.Splits) != 2 || c2.Splits[0] != (merchant.SplitView{To: till, Weight: 70}) || c2.Splits[1] != (merchant.SplitView{To: otherTill, Weight: 30}) {
		t.Errorf("the split charge = %+v", c2)
	}
	if c1 := got[5]; c1.Reference != "ad-1" || len(c1.Splits) != 0 || c1.Charged != "0.0025" {
		t.Errorf("the first charge = %+v", c1)
	}
	// The default page holds them all.
	r = s.do(apiCall{method: "GET", target: "/v1/tabs/" + tab + "/charges", key: key})
	var all tabChargesPage
	r.decode(t, &all)
	if r.status != 200 || len(all.Charges) != len(want) || all.Next != "" || r.header.Get("Link") != "" {
		t.Errorf("the default page = %s, want %d charges and no next", r, len(want))
	}

	_, cursor := firstPage(t, s, key, tab)
	_, otherCursor := firstPage(t, s, key, other)
	noScope := s.key(till, merchant.ScopeTransactions, merchant.ScopePayments)
	for _, tc := range []struct {
		name, key, target string
		status            int
		code              wallet.Code
	}{
		{"no key", "", "/v1/tabs/" + tab + "/charges", 401, wallet.CodeUnauthenticated},
		{"a key without the tabs scope", noScope, "/v1/tabs/" + tab + "/charges", 403, wallet.CodeForbidden},
		{"an operator key", op, "/v1/tabs/" + tab + "/charges", 403, wallet.CodeForbidden},
		{"another merchant's tab", otherKey, "/v1/tabs/" + tab + "/charges", 404, wallet.CodeNotFound},
		{"an unknown tab", key, "/v1/tabs/tab_0000000000000000000000000a/charges", 404, wallet.CodeNotFound},
		{"a junk cursor", key, "/v1/tabs/" + tab + "/charges?cursor=nope", 400, wallet.CodeInvalid},
		{"another tab's cursor", key, "/v1/tabs/" + tab + "/charges?cursor=" + otherCursor, 400, wallet.CodeInvalid},
		{"a cursor with a space", key, "/v1/tabs/" + tab + "/charges?cursor=" + url.QueryEscape(cursor[:8]+" "+cursor[8:]), 400, wallet.CodeInvalid},
		{"limit 0", key, "/v1/tabs/" + tab + "/charges?limit=0", 400, wallet.CodeInvalid},
		{"limit 101", key, "/v1/tabs/" + tab + "/charges?limit=101", 400, wallet.CodeInvalid},
		{"limit abc", key, "/v1/tabs/" + tab + "/charges?limit=abc", 400, wallet.CodeInvalid},
		{"two limits", key, "/v1/tabs/" + tab + "/charges?limit=1&limit=2", 400, wallet.CodeInvalid},
		{"an unknown parameter", key, "/v1/tabs/" + tab + "/charges?from=2026-01-01", 400, wallet.CodeInvalid},
	} {
		if r := s.do(apiCall{method: "GET", target: tc.target, key: tc.key}); r.status != tc.status || r.code() != tc.code {
			t.Errorf("%s: GET %s = %s, want %d %s", tc.name, tc.target, r, tc.status, tc.code)
		}
	}
	if r := s.do(apiCall{method: "GET", target: "/v1/tabs/" + tab + "/charges?limit=1&cursor=" + cursor, key: key}); r.status != 200 {
		t.Errorf("the cursor of a first page = %s, want 200", r)
	}
}

// firstPage returns the first charge of tab and the cursor after it.
func firstPage(t *testing.T, s *stack, key, tab string) (merchant.ChargeView, string) {
	t.Helper()
	r := s.do(apiCall{method: "GET", target: "/v1/tabs/" + tab + "/charges?limit=1", key: key})
	var page tabChargesPage
	r.decode(t, &page)
	if r.status != 200 || len(page.Charges) != 1 {
		t.Fatalf("first page of %s = %s", tab, r)
	}
	return page.Charges[0], page.Next
}
