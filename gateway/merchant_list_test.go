package gateway

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet/merchant"
)

// testPaymentRequestPages pages through a merchant's payment requests,
// newest first, following the Link header; another merchant's are not in
// them, and a key without the payments scope lists nothing.
func testPaymentRequestPages(t *testing.T, s *stack) {
	till, key := s.merchant("Requests")
	_, otherKey := s.merchant("Elsewhere")
	var want []string
	for i, amount := range []string{"1.00", "2.00", "3.00"} {
		var pr merchant.PaymentRequestView
		r := s.do(apiCall{method: "POST", target: "/v1/payment-requests", key: key, idem: "list-" + amount,
			body: `{"phone":"` + s.customer(0) + `","amount":"` + amount + `","reference":"LIST-` + string(rune('A'+i)) + `"}`})
		if r.status != 201 {
			t.Fatalf("create payment request = %s", r)
		}
		r.decode(t, &pr)
		want = append([]string{pr.ID}, want...) // newest first
	}
	var got []string
	for _, page := range walkPages(t, s, "/v1/payment-requests?limit=2", key, func(p *paymentRequestsPage) (int, string) { return len(p.Requests), p.Next }) {
		for _, pr := range page.Requests {
			got = append(got, pr.ID)
			if pr.Merchant != till || pr.Status != "pending" || pr.Currency != "KES" {
				t.Errorf("listed %+v", pr)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages hold %v, want every payment request once, newest first: %v", got, want)
	}

	var other paymentRequestsPage
	s.do(apiCall{method: "GET", target: "/v1/payment-requests", key: otherKey}).decode(t, &other)
	if len(other.Requests) != 0 {
		t.Errorf("another merchant lists %d of these payment requests", len(other.Requests))
	}
	noScope := s.key(till, merchant.ScopeTransactions)
	for _, tc := range []struct {
		name, target, key string
		status            int
	}{
		{"without the payments scope", "/v1/payment-requests", noScope, 403},
		{"a cursor not given", "/v1/payment-requests?cursor=AAAA", key, 400},
		{"a page too large", "/v1/payment-requests?limit=101", key, 400},
		{"no key", "/v1/payment-requests", "", 401},
	} {
		if r := s.do(apiCall{method: "GET", target: tc.target, key: tc.key}); r.status != tc.status {
			t.Errorf("%s: GET %s = %s, want %d", tc.name, tc.target, r, tc.status)
		}
	}
}

// testTabPages pages through a merchant's open tabs, newest first,
// following the Link header: a closed tab is not among them, another
// merchant lists none of them, and a key without the tabs scope lists
// nothing.
func testTabPages(t *testing.T, s *stack) {
	till, key := s.merchant("Tabs")
	_, otherKey := s.merchant("Elsewhere")
	expires := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	var want []string
	for i := range 4 {
		var tab merchant.TabView
		r := s.do(apiCall{method: "POST", target: "/v1/tabs", key: key, idem: "tab-list-" + strconv.Itoa(i),
			body: `{"phone":"` + s.customer(0) + `","cap":"10.00","expires_at":"` + expires + `"}`})
		if r.status != 201 {
			t.Fatalf("open tab = %s", r)
		}
		r.decode(t, &tab)
		want = append([]string{tab.ID}, want...) // newest first
	}
	closed := want[len(want)-1] // the oldest
	if r := s.do(apiCall{method: "POST", target: "/v1/tabs/" + closed + "/close", key: key, idem: "tab-list-close"}); r.status != 200 {
		t.Fatalf("close tab = %s", r)
	}
	want = want[:len(want)-1]
	var got []string
	for _, page := range walkPages(t, s, "/v1/tabs?limit=2", key, func(p *tabsPage) (int, string) { return len(p.Tabs), p.Next }) {
		for _, tab := range page.Tabs {
			got = append(got, tab.ID)
			if tab.Merchant != till || tab.Status != "pending" || tab.Currency != "KES" {
				t.Errorf("listed %+v", tab)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages hold %v, want every open tab once, newest first: %v", got, want)
	}

	var other tabsPage
	s.do(apiCall{method: "GET", target: "/v1/tabs", key: otherKey}).decode(t, &other)
	if len(other.Tabs) != 0 {
		t.Errorf("another merchant lists %d of these tabs", len(other.Tabs))
	}
	noScope := s.key(till, merchant.ScopePayments)
	for _, tc := range []struct {
		name, target, key string
		status            int
	}{
		{"without the tabs scope", "/v1/tabs", noScope, 403},
		{"a cursor not given", "/v1/tabs?cursor=AAAA", key, 400},
		{"a page too large", "/v1/tabs?limit=101", key, 400},
		{"an unknown parameter", "/v1/tabs?status=open", key, 400},
		{"no key", "/v1/tabs", "", 401},
	} {
		if r := s.do(apiCall{method: "GET", target: tc.target, key: tc.key}); r.status != tc.status {
			t.Errorf("%s: GET %s = %s, want %d", tc.name, tc.target, r, tc.status)
		}
	}
}

// walkPages follows a list's pages from first (whose query asks for limit
// 2) along their Link headers, and returns them in order. size tells a
// page's number of items and next cursor; every page holds at most two,
// and its Link names the same path with its cursor and the limit.
func walkPages[P any](t *testing.T, s *stack, first, key string, size func(*P) (int, string)) []P {
	t.Helper()
	start, err := url.Parse(first)
	if err != nil {
		t.Fatal(err)
	}
	var pages []P
	for next := first; next != ""; {
		if len(pages) > 10 {
			t.Fatalf("GET %s: more than 10 pages", first)
		}
		r := s.do(apiCall{method: "GET", target: next, key: key})
		var page P
		r.decode(t, &page)
		n, cursor := size(&page)
		if r.status != 200 || n > 2 {
			t.Fatalf("GET %s = %s", next, r)
		}
		pages = append(pages, page)
		link := r.header.Get("Link")
		if (cursor == "") != (link == "") {
			t.Errorf("next %q but Link %q", cursor, link)
		}
		next = ""
		if cursor != "" {
			u, err := url.Parse(strings.TrimSuffix(strings.TrimPrefix(strings.Split(link, ";")[0], "<"), ">"))
			if err != nil || u.Path != start.Path || u.Query().Get("cursor") != cursor || u.Query().Get("limit") != "2" {
				t.Fatalf("Link %q does not carry the path, cursor %q and limit 2", link, cursor)
			}
			next = u.String()
		}
	}
	return pages
}
