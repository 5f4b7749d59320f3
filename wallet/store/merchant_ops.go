package store

// The back-office's merchant search: tills and paybills are ledger
// accounts, so the search is the ledger's (its model and the name search's
// helpers, asciiLower and likeEscaper, are this package's);
// wallet/merchant/store serves it to wallet/merchant's OpsStore with the
// merchants' tabs beside it.

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/kibubu/kibubu/wallet"
)

// merchantKinds are the account kinds a merchant search finds.
var merchantKinds = []string{string(wallet.KindTill), string(wallet.KindPaybill)}

// SearchMerchants returns tills and paybills, offset then at most limit: by
// number prefix (in number order, on the accounts' unique index on number)
// when byNumber, else by name prefix, any case (in name order, then id, on
// idx_accounts_name_lower, as SearchAccounts: it walks every account whose
// name starts so, customers too). An empty prefix lists every merchant in
// number order.
func (s *Store) SearchMerchants(ctx context.Context, prefix string, byNumber bool, offset, limit int) ([]wallet.AccountRecord, error) {
	q := s.gdb.WithContext(ctx).Where("kind IN ?", merchantKinds)
	switch {
	case prefix == "" && s.pg:
		// As below, compared bytewise whatever the database's collation (the
		// index serves it under the C collation only, as the name search).
		q = q.Where(`number COLLATE "C" >= ? AND number COLLATE "C" < ?`, "0", ":").Order("number")
	case prefix == "":
		// Every merchant: the numbers made of digits (tills and paybills
		// have 6, wallet.AddMerchant), a range of the number index that
		// holds agents and merchants but no customer (an E.164 "+…") nor a
		// system account: it does not walk the customers.
		q = q.Where("number >= ? AND number < ?", "0", ":").Order("number")
	case byNumber && s.pg:
		q = q.Where(`number LIKE ? ESCAPE '\'`, likeEscaper.Replace(prefix)+"%").Order("number")
	case byNumber:
		q = q.Where("number >= ? AND number < ?", prefix, prefix+string(utf8.MaxRune)).Order("number")
	case s.pg:
		q = q.Where(`LOWER(name) LIKE ? ESCAPE '\'`, likeEscaper.Replace(strings.ToLower(prefix))+"%").Order("LOWER(name), id")
	default:
		p := asciiLower(prefix)
		q = q.Where("LOWER(name) >= ? AND LOWER(name) < ?", p, p+string(utf8.MaxRune)).Order("LOWER(name), id")
	}
	var rows []account
	if err := q.Offset(offset).Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("search merchants: %w", err)
	}
	out := make([]wallet.AccountRecord, len(rows))
	for i := range rows {
		out[i] = *rows[i].record()
	}
	return out, nil
}
