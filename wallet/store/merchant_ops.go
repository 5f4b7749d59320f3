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

	"gorm.io/gorm"

	"github.com/kibubu/kibubu/wallet"
)

// merchantKinds are the account kinds a merchant search finds.
var merchantKinds = []string{string(wallet.KindTill), string(wallet.KindPaybill)}

// SearchMerchants returns tills and paybills, offset then at most limit: by
// number prefix (in number order, on the accounts' unique index on number)
// when byNumber, else by name prefix, any case (in name order, then id, on
// the merchant kinds' part of idx_accounts_kind_name, or on PostgreSQL
// idx_accounts_kind_name_c, comparing bytewise: migrateSearch; it does not
// walk the customers whose names start so). An empty prefix lists every
// merchant in number order.
func (s *Store) SearchMerchants(ctx context.Context, prefix string, byNumber bool, offset, limit int) ([]wallet.AccountRecord, error) {
	var rows []account
	if err := s.merchantQuery(ctx, prefix, byNumber).Offset(offset).Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("search merchants: %w", err)
	}
	out := make([]wallet.AccountRecord, len(rows))
	for i := range rows {
		out[i] = *rows[i].record()
	}
	return out, nil
}

// merchantQuery is SearchMerchants' query, before its page.
func (s *Store) merchantQuery(ctx context.Context, prefix string, byNumber bool) *gorm.DB {
	q := s.gdb.WithContext(ctx).Model(&account{}).Where("kind IN ?", merchantKinds)
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
		q = q.Where(`LOWER(name) COLLATE "C" LIKE ? ESCAPE '\'`, likeEscaper.Replace(strings.ToLower(prefix))+"%").Order(`LOWER(name) COLLATE "C", id`)
	default:
		// SQLite would rather read idx_accounts_name_lower, which gives the
		// order without a sort, and so walk every customer with the prefix;
		// the merchants with it are few: sorting them is cheap.
		p := asciiLower(prefix)
		q = q.Table("accounts INDEXED BY idx_accounts_kind_name").
			Where("LOWER(name) >= ? AND LOWER(name) < ?", p, p+string(utf8.MaxRune)).Order("LOWER(name), id")
	}
	return q
}
