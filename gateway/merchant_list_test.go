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
// newest first (checkList).
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
	checkList(t, s, "/v1/payment-requests", key, otherKey, s.key(till, merchant.ScopeTransactions), want,
		func(p *paymentRequestsPage) (ids []string, next string) {
			for _, pr := range p.Requests {
				ids = append(ids, pr.ID)
				if pr.Merchant != till || pr.Status != "pending" || pr.Currency != "KES" {
					t.Errorf("listed %+v", pr)
				}
			}
			return ids, p.Next
		})
}

// testTabPages pages through a merchant's open tabs, newest first
// (checkList): a closed tab is not among them.
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
	checkList(t, s, "/v1/tabs", key, otherKey, s.key(till, merchant.ScopePayments), want[:len(want)-1],
		func(p *tabsPage) (ids []string, next string) {
			for _, tab := range p.Tabs {
				ids = append(ids, tab.ID)
				if tab.Merchant != till || tab.Status != "pending" || tab.Currency != "KES" {
					t.Errorf("listed %+v", tab)
				}
			}
			return ids, p.Next
		})
}

// checkList checks a merchant's list at path: its pages, walked along the
// Link header from a page of 2 (walkPages), hold want (ids, newest first)
// once each; page returns a page's ids and next cursor (and checks its
// items). otherKey's merchant lists none of them; and path refuses a key
// without its scope (noScope), a cursor it did not give, a page too large,
// an unknown parameter, and no key.
func checkList[P any](t *testing.T, s *stack, path, key, otherKey, noScope string, want []string, page func(*P) (ids []string, next string)) {
	t.Helper()
	var got []string
	for _, p := range walkPages(t, s, path+"?limit=2", key, func(p *P) (int, string) { ids, next := page(p); return len(ids), next }) {
		ids, _ := page(&p)
		got = append(got, ids...)
	}
	if !slices.Equal(got, want) {
		t.Errorf("GET %s: pages hold %v, want each once, newest first: %v", path, got, want)
	}
	var other P
	s.do(apiCall{method: "GET", target: path, key: otherKey}).decode(t, &other)
	if ids, _ := page(&other); len(ids) != 0 {
		t.Errorf("GET %s: another merchant lists %d of them", path, len(ids))
	}
	for _, tc := range []struct {
		name, target, key string
		status            int
	}{
		{"without the scope", path, noScope, 403},
		{"a cursor not given", path + "?cursor=AAAA", key, 400},
		{"a page too large", path + "?limit=101", key, 400},
		{"an unknown parameter", path + "?status=open", key, 400},
		{"no key", path, "", 401},
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
