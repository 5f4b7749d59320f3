package store_test

import (
	"context"
	"strings"
	"testing"

	walletstore "github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// TestPaymentRequestsUseIndex: a merchant's payment requests, newest first
// and a page after a cursor, are read from idx_payment_requests_merchant in
// its order, without sorting all the merchant's requests (on SQLite, and on
// PostgreSQL where KIBUBU_TEST_POSTGRES is set).
func TestPaymentRequestsUseIndex(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.DSN(t)
	st, pg := openStore(t, dsn), walletstore.IsPostgres(dsn)
	for _, before := range []string{"", "pr_01JZZZZZZZZZZZZZZZZZZZZZZZ"} {
		plan := storetest.QueryPlan(t, st.Gorm(), pg, st.PaymentRequestsSQL(ctx, "700001", before, 51))
		sorts := strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "Sort")
		if !strings.Contains(plan, "idx_payment_requests_merchant") || sorts {
			t.Errorf("before %q: got the plan\n%s\nwant it to read idx_payment_requests_merchant in order, without a sort", before, plan)
		}
		t.Logf("before %q:\n%s", before, plan)
	}
}
