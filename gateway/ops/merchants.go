package ops

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// The merchants pages: tills and paybills, one merchant's API keys,
// payment requests and tabs, and a tab's charges. They read through the
// merchant services' operator endpoints (merchantapi's Ops declarations
// and the apikey ones), called through Config.Merchants.

// merchantsRead reads merchants: support answers merchants on the phone,
// finance looks at their balances and payments, the auditor reads
// everything, and the admin, who manages their keys, must see them. Makers
// and checkers have no merchant work (nothing here moves money).
var merchantsRead = []wallet.OperatorRole{wallet.RoleSupport, wallet.RoleFinance, wallet.RoleAuditor, wallet.RoleAdmin}

// merchantKeys manage a merchant's API keys: the admin alone. A key is a
// credential that can take payments and pay out a merchant's money, so
// making and revoking one is a security administrator's job, as the
// operator list is, and not the support desk's.
var merchantKeys = []wallet.OperatorRole{wallet.RoleAdmin}

const (
	// merchantPageRows is how many payment requests, tabs or charges a
	// merchant page shows at a time, newest first.
	merchantPageRows = 50
	// keysShownMax bounds the keys a merchant page lists (the wallet lists
	// at most 1,000 per merchant anyway).
	keysShownMax = 1000
)

// merchants returns what the merchant endpoints are called through.
func (s *Server) merchants() natsrpc.Caller { return s.cfg.Merchants }

// merchantsData is the merchants list's data.
type merchantsData struct {
	Query      string
	Page       int
	Result     *merchant.MerchantsPage
	Prev, Next string
}

func (s *Server) merchantList(w http.ResponseWriter, r *http.Request, v *view) {
	d := &merchantsData{Query: strings.TrimSpace(r.URL.Query().Get("q")), Page: pageNumber(r)}
	v.Data = d
	res, err := merchantapi.OpsMerchants.Call(r.Context(), s.merchants(), merchantapi.OpsMerchantsRequest{Query: d.Query, Page: d.Page})
	if err != nil {
		v.walletError(err)
		s.render(w, "merchants", v)
		return
	}
	d.Result = res
	d.Prev, d.Next = pageLinks("/merchants", d.Query, d.Page, res.More)
	s.render(w, "merchants", v)
}

// pageNumber is a paged search's ?page=, from 0.
func pageNumber(r *http.Request) int {
	n, _ := strconv.Atoi(r.URL.Query().Get("page"))
	return max(n, 0)
}

// pageLinks are the links to the pages before and after page of the
// search for query at path (under Prefix); empty where there is none.
func pageLinks(path, query string, page int, more bool) (prev, next string) {
	link := func(n int) string {
		return Prefix + path + "?" + url.Values{"q": {query}, "page": {strconv.Itoa(n)}}.Encode()
	}
	if page > 0 {
		prev = link(page - 1)
	}
	if more {
		next = link(page + 1)
	}
	return prev, next
}

// merchantData is a merchant page's data.
type merchantData struct {
	Merchant *wallet.Account
	Keys     []merchant.APIKey
	Requests []merchant.PaymentRequest
	Tabs     []merchant.Tab
	// TabsShown is the tabs filter: "", "open" or "closed".
	TabsShown string
	// RequestsMore and TabsMore link the next page of each; First the page
	// without cursors.
	RequestsMore, TabsMore, First string
	// Scopes are the scopes a key may be given; Chosen those ticked.
	Scopes []merchant.Scope
	Chosen []merchant.Scope
	// Created is the key just made, with its secret: shown once.
	Created *merchant.APIKey
	Reason  string // the reason typed, kept when an action is refused
	Expires string
}

// Checked reports whether scope is ticked on the key form.
func (d *merchantData) Checked(s merchant.Scope) bool { return slices.Contains(d.Chosen, s) }

// merchantNotices are the ?done= values a merchant page shows.
var merchantNotices = map[string]string{"revoked": "ops.merchant.key_revoked"}

func (s *Server) merchantPage(w http.ResponseWriter, r *http.Request, v *view) {
	if id, ok := merchantNotices[r.URL.Query().Get("done")]; ok {
		v.Notice = v.T(id)
	}
	s.renderMerchant(w, r, v, &merchantData{})
}

// renderMerchant renders the merchant named in the path with d's form
// state: the merchant, its keys, a page of its payment requests and of
// its tabs (the query's cursors and filter). An unknown merchant is the
// error page (404).
func (s *Server) renderMerchant(w http.ResponseWriter, r *http.Request, v *view, d *merchantData) {
	ctx, q := r.Context(), r.URL.Query()
	m, err := merchantapi.OpsMerchant.Call(ctx, s.merchants(), merchantapi.OpsMerchantRequest{Number: r.PathValue("number")})
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	d.Merchant, d.Scopes = m, merchant.MerchantScopes
	if d.Chosen == nil {
		d.Chosen = []merchant.Scope{merchant.ScopePayments}
	}
	base := Prefix + "/merchants/" + url.PathEscape(m.Number)
	d.First = base
	keys, err := merchantapi.APIKeyList.Call(ctx, s.merchants(), merchantapi.APIKeyRequest{Merchant: m.Number})
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	d.Keys = keys.Keys[:min(len(keys.Keys), keysShownMax)]
	// Newest first, as every other list here.
	slices.Reverse(d.Keys)
	reqs, err := merchantapi.OpsPaymentRequests.Call(ctx, s.merchants(), merchantapi.OpsPaymentRequestsRequest{
		Number: m.Number, Cursor: q.Get("requests"), Limit: merchantPageRows})
	if err != nil {
		v.walletError(err)
	} else {
		d.Requests = reqs.Requests
		if reqs.Next != "" {
			d.RequestsMore = base + "?" + url.Values{"requests": {reqs.Next}, "tabs": {q.Get("tabs")}}.Encode()
		}
	}
	tq := merchantapi.OpsTabsRequest{Number: m.Number, Cursor: q.Get("after"), Limit: merchantPageRows}
	switch d.TabsShown = q.Get("tabs"); d.TabsShown {
	case "open", "closed":
		open := d.TabsShown == "open"
		tq.Open = &open
	default:
		d.TabsShown = ""
	}
	tabs, err := merchantapi.OpsTabs.Call(ctx, s.merchants(), tq)
	if err != nil {
		v.walletError(err)
	} else {
		d.Tabs = tabs.Tabs
		if tabs.Next != "" {
			d.TabsMore = base + "?" + url.Values{"tabs": {d.TabsShown}, "after": {tabs.Next}}.Encode()
		}
	}
	v.Data = d
	s.render(w, "merchant", v)
}

// createKey makes a merchant key with the ticked scopes and an optional
// expiry, and shows its secret once. The wallet audits it with the
// operator and the reason (guard puts both in the request's headers).
func (s *Server) createKey(w http.ResponseWriter, r *http.Request, v *view) {
	d := &merchantData{Reason: r.PostFormValue("reason"), Expires: strings.TrimSpace(r.PostFormValue("expires"))}
	for _, sc := range r.PostForm["scope"] {
		d.Chosen = append(d.Chosen, merchant.Scope(sc))
	}
	if d.Chosen == nil {
		d.Chosen = []merchant.Scope{}
	}
	if _, ok := v.reason(r); !ok {
		s.renderMerchant(w, r, v, d)
		return
	}
	if len(d.Chosen) == 0 {
		v.formError("ops.merchant.scope_required")
		s.renderMerchant(w, r, v, d)
		return
	}
	for _, sc := range d.Chosen {
		if !slices.Contains(merchant.MerchantScopes, sc) {
			v.formError("ops.merchant.scope_bad")
			s.renderMerchant(w, r, v, d)
			return
		}
	}
	q := merchantapi.APIKeyRequest{Merchant: r.PathValue("number"), Scopes: d.Chosen}
	if d.Expires != "" {
		t, bad := parseDate(d.Expires)
		if bad || !t.After(time.Now()) {
			v.formError("ops.merchant.expires_bad")
			s.renderMerchant(w, r, v, d)
			return
		}
		q.Expires = &t
	}
	// The merchant must be a till or paybill (the apikey endpoint takes
	// any account number): renderMerchant would say so after the fact.
	if _, err := merchantapi.OpsMerchant.Call(r.Context(), s.merchants(), merchantapi.OpsMerchantRequest{Number: q.Merchant}); err != nil {
		s.fail(w, r, v, err)
		return
	}
	k, err := merchantapi.APIKeyCreate.Call(r.Context(), s.merchants(), q)
	if err != nil {
		v.walletError(err)
		s.renderMerchant(w, r, v, d)
		return
	}
	v.Notice = v.T("ops.merchant.key_created")
	s.renderMerchant(w, r, v, &merchantData{Created: k})
}

// revokeKey revokes one of the merchant's keys, with a reason; another
// merchant's key is not found here.
func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, v *view) {
	d := &merchantData{Reason: r.PostFormValue("reason")}
	if _, ok := v.reason(r); !ok {
		s.renderMerchant(w, r, v, d)
		return
	}
	number, id := r.PathValue("number"), r.PathValue("id")
	keys, err := merchantapi.APIKeyList.Call(r.Context(), s.merchants(), merchantapi.APIKeyRequest{Merchant: number})
	if err == nil && !slices.ContainsFunc(keys.Keys, func(k merchant.APIKey) bool { return k.ID == id }) {
		err = wallet.Errorf(wallet.CodeNotFound, "no API key %q of merchant %q", clipText(id), clipText(number))
	}
	if err == nil {
		_, err = merchantapi.APIKeyRevoke.Call(r.Context(), s.merchants(), merchantapi.APIKeyRequest{ID: id})
	}
	if err != nil {
		v.walletError(err)
		s.renderMerchant(w, r, v, d)
		return
	}
	http.Redirect(w, r, Prefix+"/merchants/"+url.PathEscape(number)+"?done=revoked", http.StatusSeeOther)
}

// clipText bounds what a refusal repeats of the request.
func clipText(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// tabData is a tab page's data.
type tabData struct {
	Merchant *wallet.Account
	Tab      *merchantapi.OpsTabReply
	More     string
}

// tabPage shows one of a merchant's tabs and a page of its charges.
func (s *Server) tabPage(w http.ResponseWriter, r *http.Request, v *view) {
	ctx, id := r.Context(), r.PathValue("id")
	m, err := merchantapi.OpsMerchant.Call(ctx, s.merchants(), merchantapi.OpsMerchantRequest{Number: r.PathValue("number")})
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	tab, err := merchantapi.OpsTab.Call(ctx, s.merchants(), merchantapi.OpsTabRequest{
		Number: m.Number, Tab: id, Cursor: r.URL.Query().Get("after"), Limit: merchantPageRows})
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	d := &tabData{Merchant: m, Tab: tab}
	if tab.Next != "" {
		d.More = Prefix + "/merchants/" + url.PathEscape(m.Number) + "/tabs/" + url.PathEscape(id) + "?" + url.Values{"after": {tab.Next}}.Encode()
	}
	v.Data = d
	s.render(w, "merchant_tab", v)
}

// Micro formats a tab's amount (millionths of a major unit) in the
// wallet's currency, with as many decimals as it has.
func (v *view) Micro(m wallet.Micro) string {
	return v.s.cfg.Currency.Code + " " + v.s.cfg.Currency.FormatMicro(m)
}

// tabFilter is one of the tabs list's filters: its query value, its
// words and its link.
type tabFilter struct{ Value, Label, URL string }

// TabFilters are the tabs list's filters: all, open, closed.
func (d *merchantData) TabFilters() []tabFilter {
	out := []tabFilter{{"", "ops.merchant.tabs_all", d.First}}
	for _, f := range []string{"open", "closed"} {
		out = append(out, tabFilter{f, "ops.merchant.tabs_" + f, d.First + "?tabs=" + f})
	}
	return out
}
