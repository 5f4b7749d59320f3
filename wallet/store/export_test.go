package store

import (
	"context"

	"gorm.io/gorm"
)

// SearchSQL is the statement SearchAccounts(name) runs for its first page
// of limit, with its values in place: for a test to ask for its plan.
func (s *Store) SearchSQL(ctx context.Context, name string, limit int) string {
	return s.gdb.ToSQL(func(tx *gorm.DB) *gorm.DB {
		var rows []account
		return s.searchQuery(ctx, name).Session(&gorm.Session{DryRun: true}).Limit(limit).Find(&rows)
	})
}
