package store_test

import (
	"context"
	"strings"
	"testing"
)

// TestPaymentRequestsUseIndex: a merchant's payment requests, newest first
// and a page after a cursor, are read from idx_payment_requests_merchant in
// its order, without sorting all the merchant's requests (on SQLite, and on
// PostgreSQL where KIBUBU_TEST_POSTGRES is set).
func TestPaymentRequestsUseIndex(t *testing.T) {
	ctx := context.Background()
	st, pg := openPlanned(t)
	for _, before := range []string{"", "pr_01JZZZZZZZZZZZZZZZZZZZZZZZ"} {
		plan := queryPlan(t, st, pg, st.PaymentRequestsSQL(ctx, "700001", before, 51))
		sorts := strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "Sort")
		if !strings.Contains(plan, "idx_payment_requests_merchant") || sorts {
			t.Errorf("before %q: got the plan\n%s\nwant it to read idx_payment_requests_merchant in order, without a sort", before, plan)
		}
		t.Logf("before %q:\n%s", before, plan)
	}
}
