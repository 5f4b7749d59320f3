package store

import (
	"context"

	"gorm.io/gorm"
)

// MerchantSearchSQL is the statement SearchMerchants(prefix, by name) runs
// for its first page of limit, with its values in place: for a test to ask
// for its plan.
func (s *Store) MerchantSearchSQL(ctx context.Context, prefix string, limit int) string {
	return s.gdb.ToSQL(func(tx *gorm.DB) *gorm.DB {
		var rows []account
		return s.merchantQuery(ctx, prefix, false).Session(&gorm.Session{DryRun: true}).Limit(limit).Find(&rows)
	})
}
