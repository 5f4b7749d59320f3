package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/store"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

func openTabStore(t *testing.T) *store.Store {
	t.Helper()
	return openStore(t, storetest.DSN(t))
}

// tabT0 is a time with microseconds only, which both databases keep exactly.
var tabT0 = time.Date(2026, 11, 21, 10, 15, 30, 123456000, time.UTC)

var tabSeq int

func newTabRecord(payee, idem string) *merchant.TabRecord {
	tabSeq++
	return &merchant.TabRecord{
		Tab: merchant.Tab{ID: fmt.Sprintf("tab_%026d", tabSeq), Merchant: payee, MerchantName: "Shop", Phone: "+254711000001",
			Reference: "R", Description: "Wi-Fi, métré", Cap: 5_000_000, Status: merchant.TabPending,
			Created: tabT0, Expires: tabT0.Add(48 * time.Hour), Updated: tabT0},
		IdemKey: idem, Hash: []byte("hash-of-the-request"), Language: "sw", LastSettled: tabT0,
	}
}

func tabEvent(id string) merchant.OutboxEvent {
	return merchant.OutboxEvent{Event: merchant.Event{ID: "evt_" + id, Type: merchant.EventTabCreated, Merchant: "123456",
		Created: tabT0, Data: []byte(`{}`)}, Phone: "+254711000001", Language: "sw"}
}

func countRows(t *testing.T, st *store.Store, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := st.Gorm().Raw(q, args...).Row().Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTabCreateAndEdit(t *testing.T) {
	st := openTabStore(t)
	ctx := context.Background()
	rec := newTabRecord("123456", "idem-1")
	got, err := st.CreateTab(ctx, rec, tabEvent(rec.ID), merchant.PromptGate{})
	if err != nil || got != nil {
		t.Fatalf("CreateTab = %v, %v; want nil, nil", got, err)
	}
	// The same merchant and key: nothing inserted, the first returned.
	dup := newTabRecord("123456", "idem-1")
	got, err = st.CreateTab(ctx, dup, tabEvent(dup.ID), merchant.PromptGate{})
	if err != nil || got == nil || got.ID != rec.ID {
		t.Fatalf("CreateTab(same key) = %+v, %v; want tab %s", got, err, rec.ID)
	}
	// Another merchant, same key: a new tab.
	other := newTabRecord("654321", "idem-1")
	if got, err := st.CreateTab(ctx, other, tabEvent(other.ID), merchant.PromptGate{}); err != nil || got != nil {
		t.Fatalf("CreateTab(other merchant) = %v, %v", got, err)
	}
	if n := countRows(t, st, "SELECT COUNT(*) FROM outbox_events WHERE msg_id LIKE 'evt_tab_%'"); n != 2 {
		t.Errorf("%d events, want 2", n)
	}
	back, err := st.TabByID(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, rec) {
		t.Errorf("TabByID:\n got %+v\nwant %+v", back, rec)
	}
	if _, err := st.TabByID(ctx, "tab_nope"); wallet.ErrorCode(err) != wallet.CodeNotFound {
		t.Errorf("TabByID(unknown): %v", err)
	}
	pending, err := st.PendingTabs(ctx, rec.Phone, 10)
	if err != nil || len(pending) != 2 {
		t.Fatalf("PendingTabs = %d tabs, %v", len(pending), err)
	}

	// EditTab writes every field it may change, the payees, a new
	// settlement and events; then changes the pending settlement.
	want := *back
	err = st.EditTab(ctx, rec.ID, func(e *merchant.TabEdit) error {
		if e.Settlement != nil || len(e.Payees) != 0 {
			t.Errorf("fresh tab: settlement %+v, payees %+v", e.Settlement, e.Payees)
		}
		tab := e.Tab
		tab.Status, tab.Reason, tab.Charged, tab.Settled = merchant.TabSuspended, "insufficient_funds", 123_456, 120_000
		tab.Held, tab.Released, tab.HoldAt, tab.Seq, tab.PendingSeq = 501, 7, tabT0.Add(time.Second), 3, 3
		tab.PendingAt, tab.LastSettled, tab.RetryAt = tabT0.Add(2*time.Second), tabT0.Add(3*time.Second), tabT0.Add(4*time.Second)
		tab.SuspendedAt = tabT0.Add(7 * time.Second)
		tab.CloseKey, tab.ClosingAt, tab.Done, tab.Updated = "close-1", tabT0.Add(5*time.Second), true, tabT0.Add(6*time.Second)
		e.Payees = []merchant.TabPayee{{Tab: tab.ID, Merchant: "123456", Pos: 0, Accrued: 100_000, Assigned: 80_000},
			{Tab: tab.ID, Merchant: "654321", Pos: 1, Accrued: 23_456, Assigned: 40_000}}
		e.NewSettlement = &merchant.Settlement{Tab: tab.ID, Seq: 3, Amount: 12, Source: tab.Phone, Status: merchant.SettlementPending,
			Shares:  []merchant.SettlementShare{{Merchant: "123456", Weight: 100_000, Gross: 8}, {Merchant: "654321", Weight: 23_456, Gross: 4}},
			Created: tabT0, Updated: tabT0}
		e.Events = []merchant.OutboxEvent{tabEvent("x1")}
		want = *tab
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	back, err = st.TabByID(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*back, want) {
		t.Errorf("after EditTab:\n got %+v\nwant %+v", back, want)
	}
	err = st.EditTab(ctx, rec.ID, func(e *merchant.TabEdit) error {
		if len(e.Payees) != 2 || e.Payees[1].Assigned != 40_000 || e.Settlement == nil || e.Settlement.Shares[1].Gross != 4 {
			t.Errorf("loaded payees %+v, settlement %+v", e.Payees, e.Settlement)
		}
		e.Settlement.Status, e.Settlement.Transfer, e.Settlement.Fee, e.Settlement.Updated = merchant.SettlementDone, "QK7M2X9A1B", 1, tabT0.Add(time.Minute)
		e.Tab.PendingSeq = 0
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sts, err := st.TabSettlements(ctx, rec.ID)
	if err != nil || len(sts) != 1 || sts[0].Status != merchant.SettlementDone || sts[0].Transfer != "QK7M2X9A1B" || sts[0].Fee != 1 ||
		!sts[0].Updated.Equal(tabT0.Add(time.Minute)) || len(sts[0].Shares) != 2 {
		t.Errorf("TabSettlements = %+v, %v", sts, err)
	}
	// An error from fn writes nothing.
	boom := errors.New("boom")
	err = st.EditTab(ctx, rec.ID, func(e *merchant.TabEdit) error {
		e.Tab.Charged = 1
		e.Events = []merchant.OutboxEvent{tabEvent("x2")}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("EditTab returned %v, want fn's error", err)
	}
	if back, _ := st.TabByID(ctx, rec.ID); back.Charged != 123_456 {
		t.Errorf("a failed edit wrote charged %d", back.Charged)
	}
	if n := countRows(t, st, "SELECT COUNT(*) FROM outbox_events WHERE msg_id = 'evt_x2'"); n != 0 {
		t.Error("a failed edit wrote its event")
	}
	if err := st.EditTab(ctx, "tab_nope", func(*merchant.TabEdit) error { return nil }); wallet.ErrorCode(err) != wallet.CodeNotFound {
		t.Errorf("EditTab(unknown): %v", err)
	}
}

// TestMeterLoadSave writes charges in every statement size (on SQLite)
// and finds each by its key, with payees inserted then updated.
func TestMeterLoadSave(t *testing.T) {
	st := openTabStore(t)
	ctx := context.Background()
	a, b := newTabRecord("123456", "m1"), newTabRecord("123456", "m2")
	for _, r := range []*merchant.TabRecord{a, b} {
		if _, err := st.CreateTab(ctx, r, tabEvent(r.ID), merchant.PromptGate{}); err != nil {
			t.Fatal(err)
		}
	}
	ids := []string{a.ID, b.ID}
	slices.Sort(ids)
	const n = 341 // 256 + 64 + 16 + 4 + 1
	var keys []merchant.ChargeKey
	write := &merchant.MeterWrite{}
	for i := range n {
		tab := ids[i%2]
		c := merchant.ChargeRecord{ID: fmt.Sprintf("ch_%d", i), Tab: tab, Key: fmt.Sprint("k", i), Amount: wallet.Micro(i + 1),
			Reference: "r", Splits: "123456:7", Charged: wallet.Micro(i + 1), Created: tabT0}
		write.Charges = append(write.Charges, c)
		keys = append(keys, merchant.ChargeKey{Tab: tab, Key: c.Key})
	}
	a.Charged, b.Charged = 1000, 2000
	write.Tabs = []*merchant.TabRecord{a, b}
	write.Payees = []merchant.TabPayee{{Tab: a.ID, Merchant: "123456", Accrued: 1000}, {Tab: b.ID, Merchant: "123456", Accrued: 2000}}
	err := st.Meter(ctx, func(tx merchant.MeterTx) error {
		s, err := tx.Load(ids, keys)
		if err != nil {
			return err
		}
		if len(s.Tabs) != 2 || len(s.Charges) != 0 || len(s.Payees) != 0 {
			t.Errorf("empty load: %d tabs, %d charges, %d payees", len(s.Tabs), len(s.Charges), len(s.Payees))
		}
		return tx.Save(write)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Second batch: look the keys up (and one unknown), update a payee.
	keys = append(keys, merchant.ChargeKey{Tab: a.ID, Key: "unknown"}, merchant.ChargeKey{Tab: b.ID, Key: "k0"})
	err = st.Meter(ctx, func(tx merchant.MeterTx) error {
		s, err := tx.Load(ids, keys)
		if err != nil {
			return err
		}
		if len(s.Charges) != n {
			t.Errorf("found %d of %d charges", len(s.Charges), n)
		}
		for i, c := range write.Charges {
			got := s.Charges[merchant.ChargeKey{Tab: c.Tab, Key: c.Key}]
			if got == nil || !reflect.DeepEqual(*got, c) {
				t.Fatalf("charge %d: got %+v, want %+v", i, got, c)
			}
		}
		if got := s.Tabs[a.ID]; got == nil || got.Charged != 1000 {
			t.Errorf("tab a: %+v", got)
		}
		if p := s.Payees[b.ID]; len(p) != 1 || p[0].Accrued != 2000 {
			t.Errorf("payees of b: %+v", p)
		}
		s.Tabs[b.ID].Charged = 2500
		return tx.Save(&merchant.MeterWrite{Tabs: []*merchant.TabRecord{s.Tabs[b.ID]},
			Payees: []merchant.TabPayee{{Tab: b.ID, Merchant: "123456", Accrued: 2500}}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, st, "SELECT accrued FROM tab_payees WHERE tab_id = ?", b.ID); got != 2500 {
		t.Errorf("payee accrued %d, want 2500", got)
	}
	if got := countRows(t, st, "SELECT charged FROM tabs WHERE id = ?", b.ID); got != 2500 {
		t.Errorf("tab charged %d, want 2500", got)
	}
	// A duplicate key in one tab is refused by the primary key.
	err = st.Meter(ctx, func(tx merchant.MeterTx) error {
		return tx.Save(&merchant.MeterWrite{Charges: write.Charges[:1]})
	})
	if err == nil {
		t.Error("a charge key was stored twice")
	}
}

func TestTabsToSweep(t *testing.T) {
	st := openTabStore(t)
	ctx := context.Background()
	now := tabT0.Add(time.Hour)
	q := merchant.SweepQuery{Now: now, Lease: now.Add(-time.Minute), Daily: now.Add(-24 * time.Hour),
		Threshold: 1_000_000, Unit: 10_000, Limit: 100}
	tests := []struct {
		name string
		edit func(*merchant.TabRecord)
		want bool
	}{
		{"pending", func(r *merchant.TabRecord) {}, false},
		{"pending, expired", func(r *merchant.TabRecord) { r.Expires = now }, true},
		{"hold in flight", func(r *merchant.TabRecord) { r.HoldAt = now.Add(-30 * time.Second) }, false},
		{"hold past the lease", func(r *merchant.TabRecord) { r.HoldAt = now.Add(-time.Minute) }, true},
		{"active", func(r *merchant.TabRecord) { r.Status, r.Charged = merchant.TabActive, 999_999 }, false},
		{"active, threshold", func(r *merchant.TabRecord) { r.Status, r.Charged = merchant.TabActive, 1_000_000 }, true},
		{"active, expired", func(r *merchant.TabRecord) { r.Status, r.Expires = merchant.TabActive, now.Add(-time.Second) }, true},
		{"active, a day, a minor unit", func(r *merchant.TabRecord) {
			r.Status, r.Charged, r.LastSettled = merchant.TabActive, 10_000, now.Add(-24*time.Hour)
		}, true},
		{"active, a day, less", func(r *merchant.TabRecord) {
			r.Status, r.Charged, r.LastSettled = merchant.TabActive, 9_999, now.Add(-24*time.Hour)
		}, false},
		{"settlement pending", func(r *merchant.TabRecord) {
			r.Status, r.PendingSeq, r.PendingAt = merchant.TabActive, 1, now.Add(-30*time.Second)
		}, false},
		{"settlement past the lease", func(r *merchant.TabRecord) {
			r.Status, r.PendingSeq, r.PendingAt = merchant.TabActive, 1, now.Add(-time.Minute)
		}, true},
		{"closing", func(r *merchant.TabRecord) {
			r.Status, r.CloseKey, r.ClosingAt = merchant.TabActive, "c", now.Add(-30*time.Second)
		}, false},
		{"closing past the lease", func(r *merchant.TabRecord) {
			r.Status, r.CloseKey, r.ClosingAt = merchant.TabActive, "c", now.Add(-time.Minute)
		}, true},
		{"suspended", func(r *merchant.TabRecord) { r.Status, r.RetryAt = merchant.TabSuspended, now.Add(time.Minute) }, false},
		{"suspended, retry due", func(r *merchant.TabRecord) { r.Status, r.RetryAt = merchant.TabSuspended, now }, true},
		{"suspended, closing", func(r *merchant.TabRecord) {
			r.Status, r.RetryAt, r.CloseKey, r.ClosingAt = merchant.TabSuspended, now.Add(time.Second), "c", now.Add(-time.Hour)
		}, false},
		{"closed, release left", func(r *merchant.TabRecord) { r.Status = merchant.TabClosed }, true},
		{"closed, done", func(r *merchant.TabRecord) { r.Status, r.Done = merchant.TabClosed, true }, false},
		{"declined, done", func(r *merchant.TabRecord) { r.Status, r.Done, r.Expires = merchant.TabDeclined, true, now }, false},
	}
	var want []string
	for i, tt := range tests {
		rec := newTabRecord("123456", fmt.Sprint("s", i))
		tt.edit(rec)
		if _, err := st.CreateTab(ctx, rec, tabEvent(rec.ID), merchant.PromptGate{}); err != nil {
			t.Fatal(err)
		}
		if tt.want {
			want = append(want, rec.ID)
		}
	}
	got, err := st.TabsToSweep(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Logf("got %v\nwant %v", got, want)
		for i, tt := range tests {
			id := fmt.Sprintf("tab_%026d", tabSeq-len(tests)+i+1)
			if slices.Contains(got, id) != tt.want {
				t.Errorf("%s: swept %v, want %v", tt.name, !tt.want, tt.want)
			}
		}
	}
	q.Limit = 2
	if got, _ := st.TabsToSweep(ctx, q); !slices.Equal(got, want[:2]) {
		t.Errorf("limit 2: %v, want %v", got, want[:2])
	}
}
