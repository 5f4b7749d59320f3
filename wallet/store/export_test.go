package store

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// ExplainSearch returns the database's plan for SearchAccounts(name) with
// a first page: EXPLAIN on PostgreSQL, EXPLAIN QUERY PLAN on SQLite.
func (s *Store) ExplainSearch(ctx context.Context, name string, limit int) (string, error) {
	var rows []account
	st := s.searchQuery(ctx, name).Limit(limit).Session(&gorm.Session{DryRun: true}).Find(&rows).Statement
	explain := "EXPLAIN QUERY PLAN "
	if s.pg {
		explain = "EXPLAIN "
	}
	r, err := s.db.QueryContext(ctx, explain+st.SQL.String(), st.Vars...)
	if err != nil {
		return "", fmt.Errorf("explain: %w", err)
	}
	defer r.Close()
	cols, err := r.Columns()
	if err != nil {
		return "", err
	}
	var plan strings.Builder
	for r.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			return "", err
		}
		fmt.Fprintln(&plan, vals...)
	}
	return plan.String(), r.Err()
}
