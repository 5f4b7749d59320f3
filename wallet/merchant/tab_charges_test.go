package merchant_test

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// sameCharge reports how got, a listed charge, differs from want, the
// charge as Charge or ChargeBatch answered it; "" when it does not.
func sameCharge(got, want merchant.Charge) string {
	want.Replayed = false
	if !got.Created.Equal(want.Created) {
		return fmt.Sprintf("created %v, want %v", got.Created, want.Created)
	}
	got.Created = want.Created
	if !reflect.DeepEqual(got, want) {
		return fmt.Sprintf("got %+v, want %+v", got, want)
	}
	return ""
}

// listAll pages through a tab's charges limit at a time and returns them,
// checking each page's size; between is called after the first page.
func listAll(t *testing.T, f *tabFixture, tab string, limit int, between func()) []merchant.Charge {
	t.Helper()
	var all []merchant.Charge
	cursor := ""
	for pages := 0; ; pages++ {
		page, next, err := f.s.TabCharges(f.ctx, f.p, tab, cursor, limit)
		f.must(err)
		if len(page) > limit || (next != "" && len(page) != limit) || pages > 1000 {
			t.Fatalf("limit %d: page %d holds %d charges, next %q", limit, pages, len(page), next)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		if pages == 0 && between != nil {
			between()
		}
		cursor = next
	}
}

// TestTabCharges lists a tab's charges, made singly and in batches, some
// split, a page at a time: newest first, each once, as they were answered
// when made, none of another tab's; charges made while a client pages are
// on no later page; a closed tab's charges are still listed.
func TestTabCharges(t *testing.T) {
	f := newTabFixture(t)
	phone := f.customer(1_000_000)
	tab := f.active(phone, "100", false)
	other := f.active(phone, "100", false) // the same merchant's: never listed with tab
	network := f.merchant("Ad Network")

	var made []merchant.Charge // tab's, oldest first
	single := func(key string, amount wallet.Micro, splits ...merchant.Split) {
		t.Helper()
		ch, err := f.s.Charge(f.ctx, f.p, merchant.ChargeRequest{Tab: tab.ID, Key: key, Amount: amount, Reference: "ref-" + key, Splits: splits})
		f.must(err)
		if !ch.Replayed {
			made = append(made, *ch)
		}
	}
	split := []merchant.Split{{To: f.p.Merchant, Weight: 70}, {To: network.Merchant, Weight: 30}}
	single("s1", 2500)
	single("s2", 1, split...)
	var reqs []merchant.ChargeRequest
	for i := range 60 {
		r := merchant.ChargeRequest{Key: fmt.Sprint("b", i), Amount: wallet.Micro(1000 + i)}
		if i%10 == 3 {
			r.Splits = split
		}
		reqs = append(reqs, r)
	}
	results, err := f.s.ChargeBatch(f.ctx, f.p, tab.ID, reqs)
	f.must(err)
	for i, r := range results {
		if r.Err != nil {
			t.Fatalf("batch charge %d: %v", i, r.Err)
		}
		made = append(made, *r.Charge)
	}
	single("s1", 2500) // a replay: no new charge
	single("s3", 7, split...)
	_, err = f.s.Charge(f.ctx, f.p, merchant.ChargeRequest{Tab: other.ID, Key: "s1", Amount: 9})
	f.must(err)

	want := slices.Clone(made)
	slices.Reverse(want)
	check := func(name string, got []merchant.Charge) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d charges, want %d", name, len(got), len(want))
		}
		for i := range got {
			if msg := sameCharge(got[i], want[i]); msg != "" {
				t.Fatalf("%s: charge %d (%s): %s", name, i, want[i].ID, msg)
			}
		}
	}
	for _, limit := range []int{1, 7, 50, 63, 200} {
		check(fmt.Sprint("limit ", limit), listAll(t, f, tab.ID, limit, nil))
	}
	// The default page is 50.
	page, next, err := f.s.TabCharges(f.ctx, f.p, tab.ID, "", 0)
	f.must(err)
	if len(page) != 50 || next == "" {
		t.Fatalf("default page: %d charges, next %q; want 50 and a next", len(page), next)
	}
	withSplits := 0
	for _, c := range page {
		if len(c.Splits) > 0 {
			if !slices.Equal(c.Splits, split) {
				t.Errorf("charge %s shows splits %+v, want %+v", c.ID, c.Splits, split)
			}
			withSplits++
		}
	}
	// Newest first: s3, then b59 … b11, of which b53, b43, b33, b23 and b13
	// are split.
	if page[0].Reference != "ref-s3" || withSplits != 6 {
		t.Errorf("the first page starts with %q and shows %d split charges; want ref-s3 and 6", page[0].Reference, withSplits)
	}

	// Charges made while a client pages: never on a later page.
	var late []merchant.Charge
	got := listAll(t, f, tab.ID, 7, func() {
		for i := range 3 {
			ch, err := f.s.Charge(f.ctx, f.p, merchant.ChargeRequest{Tab: tab.ID, Key: fmt.Sprint("late", i), Amount: 3})
			f.must(err)
			late = append(late, *ch)
		}
	})
	check("paged while charging", got)
	made = append(made, late...)
	want = slices.Clone(made)
	slices.Reverse(want)

	// Closed and settled, the tab still lists every charge.
	_, err = f.s.CloseTab(f.ctx, f.p, tab.ID, "close-1")
	f.must(err)
	if tb := f.tab(tab.ID); tb.Status != merchant.TabClosed {
		t.Fatalf("tab %+v, want closed", tb)
	}
	check("closed", listAll(t, f, tab.ID, 20, nil))
	if got := listAll(t, f, other.ID, 20, nil); len(got) != 1 || got[0].Amount != 9 {
		t.Errorf("the other tab lists %+v, want its one charge", got)
	}
	f.checkLedger()
}

// TestTabChargesRefusals: who may list a tab's charges, and the cursors
// and page sizes refused.
func TestTabChargesRefusals(t *testing.T) {
	f := newTabFixture(t)
	phone := f.customer(0)
	tab := f.active(phone, "1", false)
	other := f.active(phone, "1", false)
	for range 3 {
		_, err := f.charge(tab.ID, "0.01")
		f.must(err)
		_, err = f.charge(other.ID, "0.01")
		f.must(err)
	}
	_, next, err := f.s.TabCharges(f.ctx, f.p, tab.ID, "", 2)
	f.must(err)
	_, otherNext, err := f.s.TabCharges(f.ctx, f.p, other.ID, "", 2)
	f.must(err)
	if next == "" || otherNext == "" {
		t.Fatalf("no next pages: %q %q", next, otherNext)
	}
	stranger := f.merchant("Stranger")
	tests := []struct {
		name   string
		p      merchant.Principal
		tab    string
		cursor string
		limit  int
		want   wallet.Code
	}{
		{"the merchant's", f.p, tab.ID, next, 2, ""},
		{"another merchant's tab", stranger, tab.ID, "", 0, wallet.CodeNotFound},
		{"an operator key", merchant.Principal{KeyID: "op", Operator: true, Scopes: []merchant.Scope{merchant.ScopeOperator}}, tab.ID, "", 0, wallet.CodeForbidden},
		{"an unknown tab", f.p, "tab_0000000000000000000000000a", "", 0, wallet.CodeNotFound},
		{"a malformed tab", f.p, "x", "", 0, wallet.CodeNotFound},
		{"a payment request's id", f.p, "pr_0000000000000000000000000a", "", 0, wallet.CodeNotFound},
		{"a junk cursor", f.p, tab.ID, "!!", 0, wallet.CodeInvalid},
		{"another tab's cursor", f.p, tab.ID, otherNext, 0, wallet.CodeInvalid},
		{"a transactions cursor", f.p, tab.ID, "YwAKWq0mTP5I", 0, wallet.CodeInvalid},
		{"a cursor cut short", f.p, tab.ID, next[:len(next)-1], 0, wallet.CodeInvalid},
		{"a page of 201", f.p, tab.ID, "", 201, wallet.CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, _, err := f.s.TabCharges(f.ctx, tt.p, tt.tab, tt.cursor, tt.limit)
			wantTabCode(t, err, tt.want)
			if err == nil && len(page) != 1 {
				t.Errorf("second page of 2: %d charges, want 1", len(page))
			}
		})
	}
}
