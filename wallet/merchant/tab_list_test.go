package merchant_test

import (
	"slices"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// TestOpenTabs lists a merchant's open tabs a page at a time: pending,
// active and suspended ones, newest first, each once; not its closed or
// declined ones, nor another merchant's.
func TestOpenTabs(t *testing.T) {
	f := newTabFixture(t)
	// One customer per tab: the prompt limits allow a merchant three tabs
	// to one customer in ten minutes.
	var want []string // newest first
	for _, open := range []func(phone string) *merchant.Tab{
		func(phone string) *merchant.Tab { return f.active(phone, "1", false) },
		func(phone string) *merchant.Tab { return f.open(phone, "1", false) },
		func(phone string) *merchant.Tab { return f.active(phone, "2", false) },
	} {
		want = append([]string{open(f.customer(0)).ID}, want...)
	}
	closed := f.active(f.customer(0), "1", false)
	_, err := f.s.CloseTab(f.ctx, f.p, closed.ID, "close-listed")
	f.must(err)
	phone := f.customer(0)
	declined := f.open(phone, "1", false)
	_, err = f.s.Decline(f.ctx, phone, declined.ID, tabPIN)
	f.must(err)
	stranger := f.merchant("Stranger")
	if _, err := f.s.OpenTab(f.ctx, stranger, "elsewhere", f.customer(0), f.micro("1"), false, f.clock.Now().Add(24*time.Hour), "", ""); err != nil {
		t.Fatal(err)
	}

	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > len(want) {
			t.Fatal("more pages than tabs")
		}
		tabs, next, err := f.s.OpenTabs(f.ctx, f.p, cursor, 2)
		f.must(err)
		if len(tabs) > 2 {
			t.Fatalf("a page of 2 holds %d tabs", len(tabs))
		}
		for _, tab := range tabs {
			got = append(got, tab.ID)
			if tab.Merchant != f.p.Merchant || (tab.Status != merchant.TabPending && tab.Status != merchant.TabActive) {
				t.Errorf("listed %+v", tab)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages hold %v, want the open tabs once each, newest first: %v", got, want)
	}
}

// TestOpenTabsRefusals: the operator key, cursors this API did not give
// for this list, and pages too large are refused.
func TestOpenTabsRefusals(t *testing.T) {
	f := newTabFixture(t)
	for range 3 {
		f.open(f.customer(0), "1", false)
	}
	page, next, err := f.s.OpenTabs(f.ctx, f.p, "", 2)
	f.must(err)
	if len(page) != 2 || next == "" {
		t.Fatalf("first page: %d tabs, next %q", len(page), next)
	}
	tab := f.active(f.customer(0), "1", false)
	for range 3 {
		_, err := f.charge(tab.ID, "0.01")
		f.must(err)
	}
	_, chargesNext, err := f.s.TabCharges(f.ctx, f.p, tab.ID, "", 2)
	f.must(err)
	tests := []struct {
		name   string
		p      merchant.Principal
		cursor string
		limit  int
		want   wallet.Code
	}{
		{"the merchant's", f.p, next, 0, ""},
		{"an operator key", merchant.Principal{KeyID: "op", Operator: true, Scopes: []merchant.Scope{merchant.ScopeOperator}}, "", 0, wallet.CodeForbidden},
		{"a junk cursor", f.p, "!!", 0, wallet.CodeInvalid},
		{"a charges cursor", f.p, chargesNext, 0, wallet.CodeInvalid},
		{"a payment requests cursor", f.p, "cnByXzBrNmZ6M3hnOGQyYzRtN3E5cjF0M3Y1dzd5", 0, wallet.CodeInvalid},
		{"a cursor cut short", f.p, next[:len(next)-1], 0, wallet.CodeInvalid},
		{"a page of 201", f.p, "", 201, wallet.CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := f.s.OpenTabs(f.ctx, tt.p, tt.cursor, tt.limit)
			wantTabCode(t, err, tt.want)
		})
	}
}
