package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// openPlanned opens a migrated store on SQLite, or on PostgreSQL where
// KIBUBU_TEST_POSTGRES is set (pg), for a test of a query's plan.
func openPlanned(t *testing.T) (st *store.Store, pg bool) {
	t.Helper()
	dsn := storetest.DSN(t)
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, store.IsPostgres(dsn)
}

// TestMerchantSearchUsesIndex: the merchant name search reads the merchant
// kinds' part of an index (idx_accounts_kind_name; on PostgreSQL, where
// KIBUBU_TEST_POSTGRES is set, idx_accounts_kind_name_c), not the
// customers whose names share the prefix, and finds the tills and paybills
// with the prefix, any case, in name order.
func TestMerchantSearchUsesIndex(t *testing.T) {
	ctx := context.Background()
	st, pg := openPlanned(t)
	const customers, tills, paybills = 3000, 30, 5
	var recs []*wallet.AccountRecord
	add := func(kind wallet.AccountKind, number, name string) {
		recs = append(recs, &wallet.AccountRecord{Kind: kind, Number: number, Name: name, Status: wallet.StatusActive, Created: time.Now().UTC()})
	}
	for i := range customers {
		phone := fmt.Sprintf("+2547%08d", 21_000_000+i)
		add(wallet.KindCustomer, phone, fmt.Sprintf("Duka Customer %05d", i))
		recs[len(recs)-1].Phone, recs[len(recs)-1].Tier = phone, wallet.TierFull
	}
	for i := range tills {
		add(wallet.KindTill, fmt.Sprintf("%06d", 700_000+i), fmt.Sprintf("DUKA Till %02d", tills-1-i))
	}
	for i := range paybills {
		add(wallet.KindPaybill, fmt.Sprintf("%06d", 800_000+i), fmt.Sprintf("duka Bill %d", i))
	}
	if err := st.CreateAccounts(ctx, recs); err != nil {
		t.Fatal(err)
	}
	analyze, index := "ANALYZE", "idx_accounts_kind_name"
	if pg {
		analyze, index = "ANALYZE accounts", "idx_accounts_kind_name_c"
	}
	if err := st.Gorm().WithContext(ctx).Exec(analyze).Error; err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"duka", "Duka ", "d"} { // prefixes the customers share
		plan := storetest.QueryPlan(t, st.Gorm(), pg, st.MerchantSearchSQL(ctx, prefix, 51))
		if !strings.Contains(plan, index) {
			t.Errorf("merchant search %q: got the plan\n%s\nwant it to read %s", prefix, plan, index)
		}
		t.Logf("merchant search %q:\n%s", prefix, plan)
	}
	for _, tc := range []struct {
		prefix      string
		n           int
		first, last string
	}{
		{"DUKA", tills + paybills, "duka Bill 0", "DUKA Till 29"},
		{"duka t", tills, "DUKA Till 00", "DUKA Till 29"},
		{"duka c", 0, "", ""},
	} {
		got, err := st.SearchMerchants(ctx, tc.prefix, false, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tc.n || tc.n > 0 && (got[0].Name != tc.first || got[len(got)-1].Name != tc.last) {
			names := make([]string, len(got))
			for i := range got {
				names[i] = got[i].Name
			}
			t.Errorf("merchant search %q: got %q; want %d from %q to %q", tc.prefix, names, tc.n, tc.first, tc.last)
		}
	}
}
