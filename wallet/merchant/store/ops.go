package store

import (
	"context"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// The back-office's merchant search (merchant.OpsStore) is the ledger's:
// tills and paybills are accounts. (A merchant's tabs are Tabs.)

var _ merchant.OpsStore = (*Store)(nil)

// SearchMerchants is the wallet store's (walletstore.Store.SearchMerchants).
func (s *Store) SearchMerchants(ctx context.Context, prefix string, byNumber bool, offset, limit int) ([]wallet.AccountRecord, error) {
	return s.w.SearchMerchants(ctx, prefix, byNumber, offset, limit)
}
