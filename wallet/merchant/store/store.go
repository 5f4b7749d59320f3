// Package store keeps the merchant services' state (package wallet/merchant:
// API keys, payment requests, payouts and bulk payouts, tabs with their
// payees, charges and settlements, and the prompts counted against the
// prompt limits) in gorm tables on the wallet's database. It implements
// merchant.Store.
//
// It shares the wallet's connections and its outbox (wallet/store): every
// change writes the events it reports to the outbox in its own transaction,
// and the wallet's event relay publishes them. It migrates its own tables,
// as the "merchant" component in schema_migrations. The ledger's store
// knows nothing of it.
package store

import (
	"context"
	"database/sql"
	"slices"

	"gorm.io/gorm"

	"github.com/kibubu/kibubu/wallet/merchant"
	walletstore "github.com/kibubu/kibubu/wallet/store"
)

// Store is a merchant.Store on the wallet's database.
type Store struct {
	w   *walletstore.Store
	gdb *gorm.DB
	db  *sql.DB
	pg  bool
}

var _ merchant.Store = (*Store)(nil)

// component names the merchant tables in schema_migrations.
const component = "merchant"

// models are every merchant table.
func models() []any { return slices.Concat(requestModels, tabModels, promptModels) }

// Open migrates the merchant tables on w's database (Migrate) and returns
// the Store on it. w stays the caller's: closing it closes this Store.
func Open(ctx context.Context, w *walletstore.Store) (*Store, error) {
	if err := Migrate(ctx, w.Gorm()); err != nil {
		return nil, err
	}
	return New(w), nil
}

// OpenMigrated returns the Store on w's database without migrating: it
// fails with an error wrapping walletstore.ErrNotMigrated unless Migrate
// ran there with this version's tables (`kibubu migrate`).
func OpenMigrated(ctx context.Context, w *walletstore.Store) (*Store, error) {
	if err := CheckMigrated(ctx, w.Gorm()); err != nil {
		return nil, err
	}
	return New(w), nil
}

// New returns the Store on w's database as it is, neither migrating nor
// checking.
func New(w *walletstore.Store) *Store {
	return &Store{w: w, gdb: w.Gorm(), db: w.SQL(), pg: w.Postgres()}
}

// Migrate creates or alters the merchant tables on db, once, under the lock
// every migration holds (walletstore.MigrateOnce). The tables are the ones
// the wallet's migration created before they moved here, unchanged: on a
// database the wallet migrated, it only records the component.
func Migrate(ctx context.Context, db *gorm.DB) error {
	digest, err := walletstore.Digest(db, models()...)
	if err != nil {
		return err
	}
	return walletstore.MigrateOnce(ctx, db, component, digest, func(ctx context.Context, db *gorm.DB) error {
		return db.WithContext(ctx).AutoMigrate(models()...)
	})
}

// CheckMigrated returns an error wrapping walletstore.ErrNotMigrated unless
// Migrate ran on db with this version's tables.
func CheckMigrated(ctx context.Context, db *gorm.DB) error {
	digest, err := walletstore.Digest(db, models()...)
	if err != nil {
		return err
	}
	return walletstore.CheckMigrated(ctx, db, component, digest)
}
