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

// TestSearchUsesIndex checks that the back-office's name search can read
// an index, not the accounts table (on SQLite, and on PostgreSQL where
// KIBUBU_TEST_POSTGRES is set: there the C-collation index, which a
// left-anchored LIKE and the name order can use under any database
// collation), and that it finds the names with the prefix, in order.
func TestSearchUsesIndex(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.DSN(t)
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = 3000
	recs := make([]*wallet.AccountRecord, n)
	for i := range recs {
		phone := fmt.Sprintf("+2547%08d", 20_000_000+i)
		recs[i] = &wallet.AccountRecord{Kind: wallet.KindCustomer, Number: phone, Phone: phone, Name: fmt.Sprintf("Customer %05d Search", n-1-i),
			Tier: wallet.TierFull, Status: wallet.StatusActive, Created: time.Now().UTC()}
	}
	if err := st.CreateAccounts(ctx, recs); err != nil {
		t.Fatal(err)
	}
	analyze, index := "ANALYZE", "idx_accounts_name_lower"
	if store.IsPostgres(dsn) {
		analyze, index = "ANALYZE accounts", "idx_accounts_name_c"
	}
	if err := st.Gorm().WithContext(ctx).Exec(analyze).Error; err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"customer 0012", "CUSTOMER 0", "Cu"} {
		plan := storetest.QueryPlan(t, st.Gorm(), store.IsPostgres(dsn), st.SearchSQL(ctx, prefix, wallet.SearchPageMax+1))
		if !strings.Contains(plan, index) {
			t.Errorf("search %q: got the plan\n%s\nwant it to read %s", prefix, plan, index)
		}
		t.Logf("search %q:\n%s", prefix, plan)
	}
	got, err := st.SearchAccounts(ctx, "customer 0012", 0, 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 || got[0].Name != "Customer 00120 Search" || got[9].Name != "Customer 00129 Search" {
		names := make([]string, len(got))
		for i := range got {
			names[i] = got[i].Name
		}
		t.Errorf("search \"customer 0012\": got %q, want Customer 00120 to 00129, in order", names)
	}
}
