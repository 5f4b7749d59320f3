package store

import (
	"context"
	"database/sql"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// What another component's store needs to keep its tables on the wallet's
// database (the merchant services': package wallet/merchant/store): the
// connections, the rules for retrying a transaction, and the outbox, whose
// rows the event relay publishes. Each is written once, here; this package
// knows nothing of the tables that use them.

// SQL returns the database/sql pool under Gorm, for multi-row SQL.
func (s *Store) SQL() *sql.DB { return s.db }

// Postgres reports whether the database is PostgreSQL (else SQLite).
func (s *Store) Postgres() bool { return s.pg }

// Rebind turns q's ? placeholders into the database's ($1, $2, … on
// PostgreSQL); q must have no ? inside a string literal.
func (s *Store) Rebind(q string) string { return s.rebind(q) }

// WriteSQL runs fn in a database/sql transaction, committed when fn returns
// nil, and runs it again from the start while it fails with a transient
// conflict (see Retryable), as the ledger's batches do.
func (s *Store) WriteSQL(ctx context.Context, fn func(*sql.Tx) error) error {
	return retry(ctx, retryable, func() error { return s.inTx(ctx, fn) })
}

// GormTx runs fn in a gorm transaction, running it again from the start
// while it fails with an error again reports as transient.
func (s *Store) GormTx(ctx context.Context, again func(error) bool, fn func(tx *gorm.DB) error) error {
	return s.gormTx(ctx, again, fn)
}

// Retry runs fn until it succeeds, fails with an error again does not
// report as transient, or has run the wallet's number of write attempts.
func Retry(ctx context.Context, again func(error) bool, fn func() error) error {
	return retry(ctx, again, fn)
}

// Retryable reports a conflict that running the transaction again can
// resolve: a deadlock, a serialization failure, a lock timeout, or a
// primary key a concurrent writer took first.
func Retryable(err error) bool { return retryable(err) }

// IsUnique reports a unique or primary key violation.
func IsUnique(err error) bool { return isUnique(err) }

// ChunkRows bounds the values of one IN (…) list and the rows of one
// multi-row insert (see chunkRows).
const ChunkRows = chunkRows

// InList returns the condition "col is one of vals" and its arguments, for
// PostgreSQL when pg (one array argument) or SQLite (one per value).
func InList[T int64 | string](pg bool, col string, vals []T) (string, []any) {
	return inList(pg, col, vals)
}

// Marks returns n comma-separated ? placeholders.
func Marks(n int) string { return marks(n) }

// Clip shortens an identifier from outside for an error message.
func Clip(s string) string { return clip(s) }

// First returns the first row of type R that query selects on db, or nil
// when there is none.
func First[R any](db *gorm.DB, query string, args ...any) (*R, error) {
	return first[R](db, query, args...)
}

// ByID returns the row of type R with id, or a CodeNotFound *wallet.Error
// naming what when there is none.
func ByID[R any](ctx context.Context, db *gorm.DB, what, id string) (*R, error) {
	return byID[R](ctx, db, what, id)
}

// Records is rows as the records record makes of them.
func Records[R, T any](rows []R, record func(*R) *T) []T { return records(rows, record) }

// Event is one row for the outbox: the relay publishes Payload on Subject
// (under the deployment's prefix) with Nats-Msg-Id MsgID, once, in the
// order the rows were written.
type Event struct {
	Subject string
	Payload []byte
	MsgID   string
}

// AddEvents writes evs to the outbox in tx, the transaction that makes the
// change they report, so that the relay publishes each once if and only if
// the change committed.
func AddEvents(tx *gorm.DB, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	rows := make([]outboxEvent, len(evs))
	now := time.Now().UTC()
	for i, e := range evs {
		rows[i] = outboxEvent{Subject: e.Subject, Payload: e.Payload, MsgID: e.MsgID, CreatedAt: now}
	}
	return tx.Create(&rows).Error
}

// lockRow is a row a transaction locks by name, so that transactions about
// one thing (a phone's pending PINs, "pin:<phone>"; a merchant's or a
// phone's prompts, "merchant:<number>", "phone:<phone>") run one after
// another on PostgreSQL. Seq only changes so that the upsert takes the lock.
type lockRow struct {
	Name string `gorm:"primaryKey;size:48"`
	Seq  int64  `gorm:"not null;default:0"`
}

func (lockRow) TableName() string { return "prompt_locks" }

// Lock takes the lock named name in tx (an upsert of its row, which holds
// the row lock on PostgreSQL until tx ends; SQLite has one writer at a time
// anyway). Names are at most 48 bytes.
func Lock(tx *gorm.DB, name string) error {
	return tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "name"}},
		DoUpdates: clause.Assignments(map[string]any{"seq": gorm.Expr("prompt_locks.seq + 1")})}).
		Create(&lockRow{Name: name, Seq: 1}).Error
}

// Prepared returns q prepared on the pool, once per Store (SQLite's
// multi-row statements: nothing is parsed per batch).
func (s *Store) Prepared(q string) (*sql.Stmt, error) { return s.prepared(q) }
