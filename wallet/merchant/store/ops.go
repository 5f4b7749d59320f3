package store

import (
	"context"
	"fmt"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// The back-office's merchant reads (merchant.OpsStore): the merchant
// search is the ledger's (tills and paybills are accounts), a merchant's
// tabs are this package's.

var _ merchant.OpsStore = (*Store)(nil)

// SearchMerchants is the wallet store's (walletstore.Store.SearchMerchants).
func (s *Store) SearchMerchants(ctx context.Context, prefix string, byNumber bool, offset, limit int) ([]wallet.AccountRecord, error) {
	return s.w.SearchMerchants(ctx, prefix, byNumber, offset, limit)
}

// MerchantTabs returns merchant's tabs with ids before before (every one
// when empty), newest first, at most limit; open (pending, active,
// suspended) or finished (closed, declined) ones only when open is set.
// It reads idx_tabs_idem for the merchant.
func (s *Store) MerchantTabs(ctx context.Context, owner string, open *bool, before string, limit int) ([]merchant.Tab, error) {
	q := s.gdb.WithContext(ctx).Where("merchant = ?", owner)
	if before != "" {
		q = q.Where("id < ?", before)
	}
	if open != nil {
		finished := []string{string(merchant.TabClosed), string(merchant.TabDeclined)}
		if *open {
			q = q.Where("status NOT IN ?", finished)
		} else {
			q = q.Where("status IN ?", finished)
		}
	}
	var rows []tabRow
	if err := q.Order("id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("merchant tabs: %w", err)
	}
	out := make([]merchant.Tab, len(rows))
	for i := range rows {
		out[i] = rows[i].record().Tab
	}
	return out, nil
}
