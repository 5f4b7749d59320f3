package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/kibubu/kibubu/wallet/merchant"
)

// TestTabs: a merchant's tabs in the given states, newest (greatest id)
// first, before a cursor id, at most limit; never another merchant's.
func TestTabs(t *testing.T) {
	st := openTabStore(t)
	ctx := context.Background()
	var ids []string // the merchant's, oldest first
	for i, status := range []merchant.TabStatus{merchant.TabPending, merchant.TabActive, merchant.TabClosed, merchant.TabSuspended, merchant.TabDeclined} {
		rec := newTabRecord("223344", "list-"+string(rune('a'+i)))
		rec.Status = status
		if _, err := st.CreateTab(ctx, rec, tabEvent(rec.ID), merchant.PromptGate{}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.ID)
	}
	other := newTabRecord("443322", "list-other")
	if _, err := st.CreateTab(ctx, other, tabEvent(other.ID), merchant.PromptGate{}); err != nil {
		t.Fatal(err)
	}
	open := []merchant.TabStatus{merchant.TabPending, merchant.TabActive, merchant.TabSuspended}
	tests := []struct {
		name     string
		merchant string
		statuses []merchant.TabStatus
		before   string
		limit    int
		want     []string
	}{
		{"open ones, newest first", "223344", open, "", 10, []string{ids[3], ids[1], ids[0]}},
		{"a page of them", "223344", open, "", 2, []string{ids[3], ids[1]}},
		{"the page after", "223344", open, ids[1], 2, []string{ids[0]}},
		{"closed ones", "223344", []merchant.TabStatus{merchant.TabClosed}, "", 10, []string{ids[2]}},
		{"every one", "223344", nil, "", 10, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{"another merchant's", "443322", open, "", 10, []string{other.ID}},
		{"a merchant without tabs", "999999", open, "", 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := st.Tabs(ctx, tt.merchant, tt.statuses, tt.before, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range recs {
				got = append(got, r.ID)
				if r.Merchant != tt.merchant || (tt.statuses != nil && !slices.Contains(tt.statuses, r.Status)) {
					t.Errorf("listed %s of %s, %s", r.ID, r.Merchant, r.Status)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
