package ops

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// shop is a till with payment requests and a tab, for the merchants pages.
type shop struct {
	number, name string
	requests     []string // their references, oldest first
	tab          string
}

// newShop opens a till named name with n payment requests to one customer
// and one tab, made by the merchant services themselves (as the merchant
// API would).
func (e *env) newShop(name string, n int) shop {
	e.t.Helper()
	ctx := context.Background()
	s := shop{number: e.w.Merchant(name, false), name: name}
	phone := e.w.Customer("Wanjiru Kamau", "2580", 0)
	p := merchant.Principal{Merchant: s.number, Scopes: merchant.MerchantScopes}
	for i := range n {
		ref := fmt.Sprintf("ORDER-%04d", i)
		if _, err := e.w.Merchants.RequestPayment(ctx, p, "idem-"+ref, phone, int64(100_00+i), ref, ""); err != nil {
			e.t.Fatal(err)
		}
		s.requests = append(s.requests, ref)
	}
	tab, err := e.w.Merchants.OpenTab(ctx, p, "tab-1", phone, 50_000_000, false, e.clk.Now().Add(24*time.Hour), "READER-9", "")
	if err != nil {
		e.t.Fatal(err)
	}
	s.tab = tab.ID
	return s
}

// keys returns the merchant's API keys as the wallet has them.
func (e *env) keys(number string) []merchant.APIKey {
	e.t.Helper()
	keys, err := e.w.Merchants.APIKeys(context.Background(), number)
	if err != nil {
		e.t.Fatal(err)
	}
	return keys
}

// auditOf returns "actor action reason" of the completed audit records
// whose action is under merchant.apikey, in order.
func (e *env) auditOf() []string {
	e.t.Helper()
	recs, err := e.client.AuditLog(context.Background(), natsapi.AuditRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		if strings.HasPrefix(r.Action, "merchant.apikey.") && r.Outcome == wallet.AuditOK && r.Actor != "test" {
			out = append(out, r.Actor+" "+r.Action+" "+r.Reason)
		}
	}
	return out
}

var secretOnPage = regexp.MustCompile(`id="new-key-secret">([^<]+)<`)

// TestMerchantPages walks the merchants pages as the admin: the search,
// a merchant with its payment requests and tab, a key created (its
// secret shown once, listed after without it) and revoked, each audited
// with the signed-in operator and the reason; then a tab's page.
func TestMerchantPages(t *testing.T) {
	e := newEnv(t)
	s := e.newShop("Duka La Mama", 3)
	other := e.newShop("Soko Kuu", 0)
	b := e.as(wallet.RoleAdmin)
	admin := e.ops[wallet.RoleAdmin]

	for _, tc := range []struct{ q, has, hasNot string }{
		{"duka", s.number, other.number},
		{s.number[:3], s.number, ""},
		{"", other.number, ""},
	} {
		p := b.get(Prefix + "/merchants?q=" + url.QueryEscape(tc.q))
		if p.status != http.StatusOK || !strings.Contains(p.body, s.name) && tc.has == s.number || !strings.Contains(p.body, tc.has) ||
			(tc.hasNot != "" && strings.Contains(p.body, tc.hasNot)) {
			t.Errorf("search %q: %d, want %s and not %q:\n%s", tc.q, p.status, tc.has, tc.hasNot, p.body)
		}
	}

	mpage := Prefix + "/merchants/" + s.number
	p := b.get(mpage)
	if p.status != http.StatusOK {
		t.Fatalf("merchant page: %d\n%s", p.status, p.body)
	}
	for _, want := range []string{s.name, s.requests[2], s.requests[0], s.tab, "pending", mpage + "/webhooks", text(t, "ops.merchant.no_keys")} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the merchant page does not show %q", want)
		}
	}
	if strings.Index(p.body, s.requests[2]) > strings.Index(p.body, s.requests[0]) {
		t.Errorf("payment requests not newest first")
	}
	token := p.csrf(t)

	p = b.post(mpage+"/keys", url.Values{"csrf": {token}, "scope": {"payments", "tabs"}, "reason": {"onboarding ticket 88"}})
	m := secretOnPage.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil || !strings.Contains(p.body, text(t, "ops.merchant.key_created")) {
		t.Fatalf("create a key: %d\n%s", p.status, p.body)
	}
	keys := e.keys(s.number)
	if len(keys) != 1 || !slices.Equal(keys[0].Scopes, []merchant.Scope{merchant.ScopePayments, merchant.ScopeTabs}) {
		t.Fatalf("keys after create: %+v", keys)
	}
	if principal, err := e.w.Merchants.Authenticate(context.Background(), m[1]); err != nil || principal.Merchant != s.number {
		t.Fatalf("the secret shown does not authenticate: %v %v", principal, err)
	}
	// Listed, never with its secret again.
	p = b.get(mpage)
	if !strings.Contains(p.body, keys[0].ID) || strings.Contains(p.body, m[1]) {
		t.Errorf("the key listed: has id %v, shows the secret again %v", strings.Contains(p.body, keys[0].ID), strings.Contains(p.body, m[1]))
	}

	p = b.post(mpage+"/keys/"+keys[0].ID+"/revoke", url.Values{"csrf": {token}, "reason": {"key leaked in a screenshot"}})
	if p.status != http.StatusSeeOther || p.location != mpage+"?done=revoked" {
		t.Fatalf("revoke: %d %s\n%s", p.status, p.location, p.body)
	}
	if k := e.keys(s.number); k[0].Revoked == nil {
		t.Fatalf("the key is not revoked: %+v", k)
	}
	if _, err := e.w.Merchants.Authenticate(context.Background(), m[1]); wallet.ErrorCode(err) != wallet.CodeUnauthenticated {
		t.Errorf("a revoked key authenticates: %v", err)
	}
	if p := b.get(p.location); !strings.Contains(p.body, text(t, "ops.merchant.key_revoked")) {
		t.Errorf("the page after revoking does not say so")
	}
	want := []string{admin + " merchant.apikey.create onboarding ticket 88", admin + " merchant.apikey.revoke key leaked in a screenshot"}
	if got := e.auditOf(); !slices.Equal(got, want) {
		t.Errorf("audit log:\n got %q\nwant %q", got, want)
	}

	p = b.get(mpage + "/tabs/" + s.tab)
	if p.status != http.StatusOK || !strings.Contains(p.body, s.tab) || !strings.Contains(p.body, text(t, "ops.merchant.no_charges")) {
		t.Errorf("tab page: %d\n%s", p.status, p.body)
	}
	for _, filter := range []struct{ q, has string }{{"open", s.tab}, {"closed", text(t, "ops.merchant.no_tabs")}} {
		if p := b.get(mpage + "?tabs=" + filter.q); !strings.Contains(p.body, filter.has) {
			t.Errorf("tabs %s: want %q on the page", filter.q, filter.has)
		}
	}
	// In French and Swahili.
	for _, lang := range []struct{ code, title string }{{"fr", "Marchand"}, {"sw", "Mfanyabiashara"}} {
		b.get(Prefix + "/lang/" + lang.code)
		if p := b.get(mpage); p.status != http.StatusOK || !strings.Contains(p.body, "<h1>"+lang.title+" ") {
			t.Errorf("the merchant page in %s: %d, want the title %q", lang.code, p.status, lang.title)
		}
	}
	// Another merchant's tab is not this one's.
	if p := b.get(Prefix + "/merchants/" + other.number + "/tabs/" + s.tab); p.status != http.StatusNotFound {
		t.Errorf("another merchant's tab: %d, want 404", p.status)
	}
}

// TestMerchantKeyRefusals refuses, with a clear message on the page and no
// key made or revoked: roles other than the admin, a missing CSRF token,
// a missing or over-long reason, a bad or missing scope, a past expiry,
// an unknown merchant, an unknown key and another merchant's key.
func TestMerchantKeyRefusals(t *testing.T) {
	e := newEnv(t)
	s := e.newShop("Duka La Mama", 0)
	other := e.newShop("Soko Kuu", 0)
	_, agent := e.w.Agent("Wakala", "1357", 0)
	ctx := natsapi.WithOperator(context.Background(), natsapi.Operator{Actor: "setup"})
	k, err := e.w.Merchants.NewAPIKey(ctx, nil, merchant.KeyRequest{Merchant: s.number, Scopes: []merchant.Scope{merchant.ScopePayments}})
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := e.w.Merchants.NewAPIKey(ctx, nil, merchant.KeyRequest{Merchant: other.number, Scopes: []merchant.Scope{merchant.ScopePayments}})
	if err != nil {
		t.Fatal(err)
	}
	mpage := Prefix + "/merchants/" + s.number
	admin := e.as(wallet.RoleAdmin)
	token := admin.get(mpage).csrf(t)
	support := e.as(wallet.RoleSupport)
	supportToken := support.get(mpage).csrf(t)
	if p := support.get(mpage); strings.Contains(p.body, `id="key-form"`) || strings.Contains(p.body, "/revoke") {
		t.Errorf("support sees the key forms")
	}
	good := func(extra ...string) url.Values {
		v := url.Values{"csrf": {token}, "scope": {"payments"}, "reason": {"onboarding"}}
		for i := 0; i < len(extra); i += 2 {
			v[extra[i]] = []string{extra[i+1]}
		}
		return v
	}
	for _, tc := range []struct {
		name   string
		do     func() page
		status int
		says   string
	}{
		{"support creates", func() page {
			return support.post(mpage+"/keys", url.Values{"csrf": {supportToken}, "scope": {"payments"}, "reason": {"x"}})
		}, http.StatusForbidden, text(t, "ops.forbidden.role")},
		{"support revokes", func() page {
			return support.post(mpage+"/keys/"+k.ID+"/revoke", url.Values{"csrf": {supportToken}, "reason": {"x"}})
		}, http.StatusForbidden, text(t, "ops.forbidden.role")},
		{"no CSRF token", func() page { return admin.post(mpage+"/keys", good("csrf", "")) }, http.StatusForbidden, text(t, "ops.forbidden.csrf")},
		{"revoke without CSRF", func() page {
			return admin.post(mpage+"/keys/"+k.ID+"/revoke", url.Values{"reason": {"leak"}})
		}, http.StatusForbidden, text(t, "ops.forbidden.csrf")},
		{"no reason", func() page { return admin.post(mpage+"/keys", good("reason", " ")) }, http.StatusBadRequest, text(t, "ops.error.reason_required")},
		{"over-long reason", func() page {
			return admin.post(mpage+"/keys", good("reason", strings.Repeat("x", ReasonBytesMax+1)))
		}, http.StatusBadRequest, text(t, "ops.error.reason_long")},
		{"revoke with no reason", func() page {
			return admin.post(mpage+"/keys/"+k.ID+"/revoke", url.Values{"csrf": {token}})
		}, http.StatusBadRequest, text(t, "ops.error.reason_required")},
		{"revoke with an over-long reason", func() page {
			return admin.post(mpage+"/keys/"+k.ID+"/revoke", url.Values{"csrf": {token}, "reason": {strings.Repeat("x", ReasonBytesMax+1)}})
		}, http.StatusBadRequest, text(t, "ops.error.reason_long")},
		{"bad scope", func() page { return admin.post(mpage+"/keys", good("scope", "keys:operator:create")) }, http.StatusBadRequest, text(t, "ops.merchant.scope_bad")},
		{"made-up scope", func() page { return admin.post(mpage+"/keys", good("scope", "<script>")) }, http.StatusBadRequest, text(t, "ops.merchant.scope_bad")},
		{"no scope", func() page {
			return admin.post(mpage+"/keys", url.Values{"csrf": {token}, "reason": {"onboarding"}})
		}, http.StatusBadRequest, text(t, "ops.merchant.scope_required")},
		{"past expiry", func() page { return admin.post(mpage+"/keys", good("expires", "2020-01-01")) }, http.StatusBadRequest, text(t, "ops.merchant.expires_bad")},
		{"malformed expiry", func() page { return admin.post(mpage+"/keys", good("expires", "01/02/2030")) }, http.StatusBadRequest, text(t, "ops.merchant.expires_bad")},
		{"unknown merchant", func() page { return admin.get(Prefix + "/merchants/999999") }, http.StatusNotFound, text(t, "ops.notfound")},
		{"an agent is not a merchant", func() page { return admin.get(Prefix + "/merchants/" + agent) }, http.StatusNotFound, text(t, "ops.notfound")},
		{"key for an unknown merchant", func() page { return admin.post(Prefix+"/merchants/999999/keys", good()) }, http.StatusNotFound, text(t, "ops.notfound")},
		{"key for an agent", func() page { return admin.post(Prefix+"/merchants/"+agent+"/keys", good()) }, http.StatusNotFound, text(t, "ops.notfound")},
		{"unknown key", func() page {
			return admin.post(mpage+"/keys/key_nope/revoke", url.Values{"csrf": {token}, "reason": {"leak"}})
		}, http.StatusNotFound, text(t, "ops.notfound")},
		{"another merchant's key", func() page {
			return admin.post(mpage+"/keys/"+otherKey.ID+"/revoke", url.Values{"csrf": {token}, "reason": {"leak"}})
		}, http.StatusNotFound, text(t, "ops.notfound")},
		{"unknown tab", func() page { return admin.get(mpage + "/tabs/tab_nope") }, http.StatusNotFound, text(t, "ops.notfound")},
		{"forged requests cursor", func() page { return admin.get(mpage + "?requests=zz") }, http.StatusBadRequest, "the cursor is not one this API gave"},
		{"forged tabs cursor", func() page { return admin.get(mpage + "?after=zz") }, http.StatusBadRequest, "the cursor is not one this API gave"},
	} {
		p := tc.do()
		if p.status != tc.status || !strings.Contains(p.body, tc.says) {
			t.Errorf("%s: %d, want %d saying %q:\n%s", tc.name, p.status, tc.status, tc.says, p.body)
		}
		for _, m := range []string{s.number, other.number} {
			if keys := e.keys(m); len(keys) != 1 || keys[0].Revoked != nil {
				t.Fatalf("%s: %s's keys are %+v, want one, unrevoked", tc.name, m, keys)
			}
		}
		if keys := e.keys(agent); len(keys) != 0 {
			t.Fatalf("%s: the agent has keys %+v", tc.name, keys)
		}
	}
	if got := e.auditOf(); len(got) != 0 {
		t.Errorf("refused actions in the audit log: %q", got)
	}
}
