package natsroles

import (
	"strings"
	"testing"

	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
)

// TestGatewayCannotReadMerchantsAsOperator checks the merchant services'
// operator subjects, the back-office's merchant reads (merchant.ops.*)
// among them: a gateway may publish to none, an operator to each.
func TestGatewayCannotReadMerchantsAsOperator(t *testing.T) {
	ops := 0
	for _, s := range merchantapi.OperatorSubjects {
		if strings.Contains(s, ".merchant.ops.") {
			ops++
		}
		for _, tc := range []struct {
			role Role
			want bool
		}{{Gateway, false}, {Operator, true}, {Notify, false}} {
			if got := allowed(Permissions(tc.role, "").Publish, s); got != tc.want {
				t.Errorf("%s publish %s: %v, want %v", tc.role, s, got, tc.want)
			}
		}
	}
	if ops < 5 {
		t.Errorf("%d merchant.ops subjects among the operator subjects %v, want the back-office's 5", ops, merchantapi.OperatorSubjects)
	}
}
