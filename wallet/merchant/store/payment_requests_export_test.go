package store

import (
	"context"

	"gorm.io/gorm"
)

// PaymentRequestsSQL is the statement PaymentRequests(owner, before,
// limit) runs, with its values in place: for a test to ask for its plan.
func (s *Store) PaymentRequestsSQL(ctx context.Context, owner, before string, limit int) string {
	return s.gdb.ToSQL(func(tx *gorm.DB) *gorm.DB {
		var rows []paymentRequestRow
		return s.paymentRequestsQuery(ctx, owner, before).Session(&gorm.Session{DryRun: true}).Limit(limit).Find(&rows)
	})
}
