package store_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	walletstore "github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// TestTabCharges lists two interleaved tabs' charges a page at a time from
// each charge's total: newest first, every charge of the tab once, none of
// the other tab's, every column as the meter wrote it.
func TestTabCharges(t *testing.T) {
	st := openTabStore(t)
	ctx := context.Background()
	a, b := newTabRecord("123456", "lc1"), newTabRecord("123456", "lc2")
	for _, r := range []*merchant.TabRecord{a, b} {
		if _, err := st.CreateTab(ctx, r, tabEvent(r.ID), merchant.PromptGate{}); err != nil {
			t.Fatal(err)
		}
	}
	// Two group commits, as the meter makes them: the charges of one
	// commit share its time, and their keys sort in no useful order.
	var want []merchant.ChargeRecord // a's, newest first
	totals := map[string]wallet.Micro{}
	for batch := range 2 {
		w := &merchant.MeterWrite{}
		for i := range 7 {
			tab := []string{a.ID, b.ID}[i%2]
			amount := wallet.Micro(1 + 1000*batch + i)
			totals[tab] += amount
			c := merchant.ChargeRecord{ID: fmt.Sprintf("ch_%d_%d", batch, i), Tab: tab, Key: fmt.Sprintf("z%d-%d", 9-i, batch),
				Amount: amount, Reference: fmt.Sprint("ref-", i), Charged: totals[tab], Created: tabT0.Add(time.Duration(batch) * time.Second)}
			if i == 2 {
				c.Splits = "123456:70,654321:30"
			}
			w.Charges = append(w.Charges, c)
			if tab == a.ID {
				want = append([]merchant.ChargeRecord{c}, want...)
			}
		}
		err := st.Meter(ctx, func(tx merchant.MeterTx) error { return tx.Save(w) })
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, limit := range []int{1, 3, 8, 100} {
		var got []merchant.ChargeRecord
		var before wallet.Micro
		for pages := 0; ; pages++ {
			if pages > len(want) {
				t.Fatalf("limit %d: more pages than charges", limit)
			}
			page, err := st.TabCharges(ctx, a.ID, before, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > limit {
				t.Fatalf("limit %d: a page of %d", limit, len(page))
			}
			got = append(got, page...)
			if len(page) < limit {
				break
			}
			before = page[len(page)-1].Charged
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("limit %d: pages hold\n%+v\nwant\n%+v", limit, got, want)
		}
	}
	if got, err := st.TabCharges(ctx, a.ID, want[len(want)-1].Charged, 10); err != nil || len(got) != 0 {
		t.Errorf("before the first charge: %+v, %v; want none", got, err)
	}
	if got, err := st.TabCharges(ctx, "tab_none", 0, 10); err != nil || len(got) != 0 {
		t.Errorf("an unknown tab: %+v, %v; want none", got, err)
	}
}

// TestTabChargesUsesItsIndex asks each database how it would run
// TabCharges' scan (the statements below mirror it), first page and later
// ones: by walking idx_tab_charges_charged, not by sorting the tab's
// charges.
func TestTabChargesUsesItsIndex(t *testing.T) {
	dsn := storetest.DSN(t)
	st := openStore(t, dsn)
	const cols = "tab_id, idem_key, charge_id, amount, reference, splits, charged, created_at"
	for _, scan := range []string{
		"SELECT " + cols + " FROM tab_charges WHERE tab_id = 'tab_x' ORDER BY charged DESC LIMIT 51",
		"SELECT " + cols + " FROM tab_charges WHERE tab_id = 'tab_x' AND charged < 1000 ORDER BY charged DESC LIMIT 51",
	} {
		text := storetest.QueryPlan(t, st.Gorm(), walletstore.IsPostgres(dsn), scan)
		t.Logf("plan of %s:\n%s", scan, text)
		if !strings.Contains(text, "idx_tab_charges_charged") || strings.Contains(text, "TEMP B-TREE") || strings.Contains(text, "Sort") {
			t.Errorf("the scan does not walk idx_tab_charges_charged:\n%s", text)
		}
	}
}

// TestTabChargesIndexMigrates: a database from before the index gets it
// when the merchant store opens it.
func TestTabChargesIndexMigrates(t *testing.T) {
	dsn := storetest.DSN(t)
	st := openStore(t, dsn)
	if err := st.Gorm().Exec("DROP INDEX idx_tab_charges_charged").Error; err != nil {
		t.Fatal(err)
	}
	if st.Gorm().Migrator().HasIndex("tab_charges", "idx_tab_charges_charged") {
		t.Fatal("the index is still there")
	}
	if st = openStore(t, dsn); !st.Gorm().Migrator().HasIndex("tab_charges", "idx_tab_charges_charged") {
		t.Error("opening the database did not create idx_tab_charges_charged")
	}
}
