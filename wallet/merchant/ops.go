package merchant

import (
	"context"
	"strings"

	"github.com/kibubu/kibubu/wallet"
)

// The back-office's merchant reads (merchantapi's Ops endpoints): operator
// reads of any merchant, with no API key. They change nothing.

// OpsStore is what the back-office's reads need of a Store besides Store
// itself: wallet/merchant/store implements it (ops.go).
type OpsStore interface {
	// SearchMerchants returns tills and paybills, offset then at most
	// limit: by number prefix in number order when byNumber, else by name
	// prefix (any case) in name order; an empty prefix lists them all in
	// number order.
	SearchMerchants(ctx context.Context, prefix string, byNumber bool, offset, limit int) ([]wallet.AccountRecord, error)
}

const (
	// OpsMerchantsPage is how many merchants a search page holds.
	OpsMerchantsPage = 50
	// OpsQueryBytesMax bounds a merchant search's text.
	OpsQueryBytesMax = 64
	// opsPagesMax bounds a search's page number: past it, narrow the search.
	opsPagesMax = 1000
	// opsTabsDefault and opsTabsMax are a page of tabs.
	opsTabsDefault = 50
	opsTabsMax     = 200
)

// MerchantsPage is a page of a merchant search.
type MerchantsPage struct {
	Merchants []wallet.Account `json:"merchants"`
	More      bool             `json:"more,omitempty"` // another page follows
}

// TabsPage is a page of a merchant's tabs.
type TabsPage struct {
	Tabs []Tab  `json:"tabs"`
	Next string `json:"next,omitempty"` // the next page's cursor; empty on the last
}

func (s *Service) opsStore() (OpsStore, error) {
	st, ok := s.st.(OpsStore)
	if !ok {
		return nil, wallet.Errorf(wallet.CodeUnavailable, "this store cannot search merchants")
	}
	return st, nil
}

// OpsMerchants finds tills and paybills: by number prefix when query is
// digits, else by name prefix (any case); page counts from 0. An empty
// query lists every merchant.
func (s *Service) OpsMerchants(ctx context.Context, query string, page int) (*MerchantsPage, error) {
	query = strings.TrimSpace(query)
	switch {
	case len(query) > OpsQueryBytesMax:
		return nil, wallet.Errorf(wallet.CodeInvalid, "a search is at most %d bytes", OpsQueryBytesMax)
	case page < 0 || page > opsPagesMax:
		return nil, wallet.Errorf(wallet.CodeInvalid, "the page is not between 0 and %d; narrow the search", opsPagesMax)
	}
	st, err := s.opsStore()
	if err != nil {
		return nil, err
	}
	byNumber := query != "" && strings.Trim(query, "0123456789") == ""
	recs, err := st.SearchMerchants(ctx, query, byNumber, page*OpsMerchantsPage, OpsMerchantsPage+1)
	if err != nil {
		return nil, err
	}
	out := &MerchantsPage{Merchants: make([]wallet.Account, 0, len(recs))}
	if len(recs) > OpsMerchantsPage {
		recs, out.More = recs[:OpsMerchantsPage], true
	}
	for i := range recs {
		out.Merchants = append(out.Merchants, recs[i].Account())
	}
	return out, nil
}

// OpsMerchant returns the till or paybill number, with its balance;
// CodeNotFound for any other account, or none.
func (s *Service) OpsMerchant(ctx context.Context, number string) (*wallet.Account, error) {
	number = strings.TrimSpace(number)
	if number == "" || len(number) > 32 {
		return nil, notFound("merchant", number)
	}
	a, err := s.w.Show(ctx, number)
	if wallet.ErrorCode(err) == wallet.CodeNotFound || (err == nil && a.Kind != wallet.KindTill && a.Kind != wallet.KindPaybill) {
		return nil, notFound("merchant", number)
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// OpsPaymentRequests lists a merchant's payment requests, newest first, a
// page at a time, as the merchant itself would (PaymentRequests); an
// unknown merchant is CodeNotFound.
func (s *Service) OpsPaymentRequests(ctx context.Context, number, cursor string, limit int) ([]PaymentRequest, string, error) {
	m, err := s.OpsMerchant(ctx, number)
	if err != nil {
		return nil, "", err
	}
	return s.PaymentRequests(ctx, Principal{Merchant: m.Number}, cursor, limit)
}

// OpsTabs lists a merchant's tabs, newest first, a page at a time (limit 0:
// 50; at most 200), only the open or the finished ones when open is set.
// cursor is the previous page's next (a tab id); an unknown merchant is
// CodeNotFound.
func (s *Service) OpsTabs(ctx context.Context, number string, open *bool, cursor string, limit int) (*TabsPage, error) {
	if limit <= 0 {
		limit = opsTabsDefault
	}
	if limit > opsTabsMax {
		return nil, wallet.Errorf(wallet.CodeInvalid, "a page holds at most %d tabs", opsTabsMax)
	}
	if cursor != "" && !validID("tab", cursor) {
		return nil, wallet.Errorf(wallet.CodeInvalid, "the cursor is not one this API gave")
	}
	m, err := s.OpsMerchant(ctx, number)
	if err != nil {
		return nil, err
	}
	var statuses []TabStatus // every one
	if open != nil && *open {
		statuses = openTabStatuses
	} else if open != nil {
		statuses = []TabStatus{TabClosed, TabDeclined}
	}
	recs, err := s.st.Tabs(ctx, m.Number, statuses, cursor, limit+1)
	if err != nil {
		return nil, err
	}
	tabs := make([]Tab, len(recs))
	for i := range recs {
		tabs[i] = *tabView(&recs[i])
	}
	out := &TabsPage{Tabs: tabs}
	if len(tabs) > limit {
		out.Tabs, out.Next = tabs[:limit], tabs[limit-1].ID
	}
	if out.Tabs == nil {
		out.Tabs = []Tab{}
	}
	return out, nil
}

// OpsTab returns one of a merchant's tabs and a page of its charges,
// newest first, as the merchant would see them (Tab, TabCharges); another
// merchant's tab is CodeNotFound.
func (s *Service) OpsTab(ctx context.Context, number, tab, cursor string, limit int) (*Tab, *ChargesPage, error) {
	m, err := s.OpsMerchant(ctx, number)
	if err != nil {
		return nil, nil, err
	}
	p := Principal{Merchant: m.Number}
	charges, next, err := s.TabCharges(ctx, p, tab, cursor, limit)
	if err != nil {
		return nil, nil, err
	}
	t, err := s.Tab(ctx, p, tab)
	if err != nil {
		return nil, nil, err
	}
	return t, &ChargesPage{Charges: charges, Next: next}, nil
}
