// Package store keeps the wallet's ledger in SQLite or PostgreSQL with gorm.
// It implements wallet.Store: gorm owns the schema and the simple queries;
// the group-commit path writes with multi-row SQL on the same connection pool,
// because one batch writes thousands of rows and reflection per row would
// cost more than the database.
//
// It keeps only the ledger's tables (accounts, transfers, postings, the
// outbox, the audit log, the back-office's). Another component keeping its
// tables on the same database (the merchant services, wallet/merchant/store)
// uses the connections, transaction retries, outbox rows and named locks
// this package exports for it (shared.go), and migrates its own tables as
// its own component; this package imports none of them.
package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/kibubu/kibubu/wallet"
)

const (
	// writeAttemptsMax bounds the retries of one batch on transient conflicts.
	writeAttemptsMax = 8
	// pgConnsMax and sqliteConnsMax bound each pool: PostgreSQL serves the
	// writer, readers and the relay; SQLite has one writer and WAL readers.
	pgConnsMax     = 16
	sqliteConnsMax = 8
	// connectTimeout bounds the first contact with the database at start.
	connectTimeout = 10 * time.Second
)

// sqliteDriver registers, once, the SQLite driver with the settings every
// connection needs beyond the DSN's: a 64 MiB page cache (the default 2 MiB
// thrashes once the posting index outgrows it) and a checkpoint every 20,000
// pages rather than 1,000, so the writer seldom stops to copy the WAL back.
// Neither weakens durability: synchronous=FULL still syncs every commit.
// Measured with kibubu bench: 38% more transfers per second.
var sqliteDriver = sync.OnceValue(func() string {
	const name = "sqlite3_kibubu"
	sql.Register(name, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec("PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 20000;", nil)
		return err
	}})
	return name
})

// Store is a wallet.Store on gorm.
type Store struct {
	gdb *gorm.DB
	db  *sql.DB
	pg  bool

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt // SQLite's prepared batch statements

	accounts accountCache // the batch writer's accounts, kept between batches (CacheAccounts)
}

var _ wallet.Store = (*Store)(nil)

// Open connects to dsn (see Connect) and applies the wallet's migrations.
func Open(ctx context.Context, dsn string) (*Store, error) {
	return open(ctx, dsn, (*Store).migrate)
}

// OpenMigrated connects to dsn (see Connect) without migrating: it fails
// with an error wrapping ErrNotMigrated unless the wallet's migrations
// for this version were applied (by Open, or Migrate in `kibubu migrate`).
func OpenMigrated(ctx context.Context, dsn string) (*Store, error) {
	return open(ctx, dsn, (*Store).checkMigrated)
}

func open(ctx context.Context, dsn string, prepare func(*Store, context.Context) error) (*Store, error) {
	gdb, err := Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	s := &Store{gdb: gdb, pg: IsPostgres(dsn)}
	s.db, _ = gdb.DB()
	if err := prepare(s, ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// walletModels are every table of the wallet's, the audit log's included;
// the merchant services migrate theirs (package wallet/merchant/store).
func walletModels() []any {
	return slices.Concat(models, pendingPINModels, reviewModels, []any{&auditRow{}}, opsModels, reportModels)
}

// walletComponent names the wallet's tables in schema_migrations.
const walletComponent = "wallet"

// Migrate applies the wallet's migrations to db once, under a lock (see
// MigrateOnce): several wallets or `kibubu migrate` Jobs may run it at once.
func Migrate(ctx context.Context, db *gorm.DB) error {
	digest, err := walletDigest(db)
	if err != nil {
		return err
	}
	return MigrateOnce(ctx, db, walletComponent, digest, migrateWallet)
}

func (s *Store) checkMigrated(ctx context.Context) error {
	digest, err := walletDigest(s.gdb)
	if err != nil {
		return err
	}
	return CheckMigrated(ctx, s.gdb, walletComponent, digest)
}

// IsPostgres reports whether dsn names a PostgreSQL database.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Connect opens the database dsn names with Kibubu's settings and checks that
// it answers, without migrating anything: a dsn starting postgres:// or
// postgresql:// is PostgreSQL; anything else is a SQLite file path, opened in
// WAL mode with synchronous=FULL so an acknowledged commit survives power
// loss. Other packages keeping their own tables (notify) open theirs with it
// when they run without a wallet in the process.
func Connect(ctx context.Context, dsn string) (*gorm.DB, error) {
	pg := IsPostgres(dsn)
	var dialector gorm.Dialector
	if pg {
		dialector = postgres.Open(dsn)
	} else {
		if dir := filepath.Dir(dsn); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("database directory: %w", err)
			}
		}
		// _txlock=immediate takes the write lock at BEGIN, so a transaction
		// never fails half-way upgrading from read to write.
		dialector = sqlite.New(sqlite.Config{DriverName: sqliteDriver(),
			DSN: "file:" + dsn + "?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=10000&_txlock=immediate&_foreign_keys=on"})
	}
	gdb, err := gorm.Open(dialector, &gorm.Config{Logger: logger.Discard, SkipDefaultTransaction: true})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db, err := gdb.DB()
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if pg {
		db.SetMaxOpenConns(pgConnsMax)
	} else {
		db.SetMaxOpenConns(sqliteConnsMax)
	}
	db.SetMaxIdleConns(sqliteConnsMax)
	pctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database does not answer: %w", err)
	}
	return gdb, nil
}

func (s *Store) migrate(ctx context.Context) error { return Migrate(ctx, s.gdb) }

// migrateWallet creates or alters the wallet's tables; MigrateOnce holds
// the lock.
func migrateWallet(ctx context.Context, gdb *gorm.DB) error {
	backfill := !gdb.WithContext(ctx).Migrator().HasTable(&idemKey{})
	totals := !gdb.WithContext(ctx).Migrator().HasTable(&transferTotal{})
	if err := gdb.WithContext(ctx).AutoMigrate(walletModels()...); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := migrateSearch(ctx, gdb); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if totals {
		// A database from before transfer_totals: sum its transfers once.
		if err := backfillTotals(ctx, gdb); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	// A PIN lockout was once stored as status pin_locked, overwriting the
	// status; it is its own column now. Such a row becomes active and
	// PIN-locked. (Whether it had been frozen before it locked was
	// overwritten then and cannot be recovered: an operator freezes it
	// again if so.)
	if err := gdb.WithContext(ctx).Exec("UPDATE accounts SET status = ?, pin_locked = ? WHERE status = ?",
		string(wallet.StatusActive), true, string(wallet.StatusPINLocked)).Error; err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if backfill {
		// A database from before idem_keys: claim the keys already used,
		// once, in the migration that creates the table.
		if err := gdb.WithContext(ctx).Exec(`INSERT INTO idem_keys (idem_key) SELECT idem_key FROM transfers
			UNION SELECT idem_key FROM rejections`).Error; err != nil {
			return fmt.Errorf("migrate: claim idempotency keys: %w", err)
		}
	}
	// idx_postings_account_transfer replaced it (see posting).
	if err := gdb.WithContext(ctx).Exec("DROP INDEX IF EXISTS idx_postings_account").Error; err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Close closes the connection pool.
func (s *Store) Close() error { return s.db.Close() }

// Gorm returns the gorm handle, for other packages' tables on the same database.
func (s *Store) Gorm() *gorm.DB { return s.gdb }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// CreateAccount inserts a, setting its ID.
func (s *Store) CreateAccount(ctx context.Context, a *wallet.AccountRecord) error {
	row := fromRecord(a)
	if err := s.gdb.WithContext(ctx).Create(row).Error; err != nil {
		if isUnique(err) {
			return wallet.Errorf(wallet.CodeExists, "an account with number %s or phone %s exists", a.Number, a.Phone)
		}
		return fmt.Errorf("create account: %w", err)
	}
	a.ID = row.ID
	return nil
}

// CreateAccounts inserts all of as in one transaction.
func (s *Store) CreateAccounts(ctx context.Context, as []*wallet.AccountRecord) error {
	rows := make([]*account, len(as))
	for i, a := range as {
		rows[i] = fromRecord(a)
	}
	err := s.gdb.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return tx.CreateInBatches(rows, chunkRows).Error
	})
	if err != nil {
		if isUnique(err) {
			return wallet.Errorf(wallet.CodeExists, "a number or phone in the import already has an account")
		}
		return fmt.Errorf("create accounts: %w", err)
	}
	for i, r := range rows {
		as[i].ID = r.ID
	}
	return nil
}

func fromRecord(a *wallet.AccountRecord) *account {
	row := &account{ID: a.ID, Kind: string(a.Kind), Number: a.Number, Phone: a.Phone, Name: a.Name, Tier: int(a.Tier),
		Status: string(a.Status), Language: a.Language, Balance: a.Balance, AllowNegative: a.AllowNegative,
		PinHash: a.PINHash, PinSalt: a.PINSalt, PinFailures: a.PINFailures, Day: a.Day, DayDebits: a.DayDebits,
		CreatedAt: a.Created, PinLocked: a.PINLocked, StartKeyHash: a.StartKeyHash, StartKeyUntil: unixOrZero(a.StartKeyExpires)}
	if a.Kind == wallet.KindCustomer || a.Kind == wallet.KindAgent {
		p := a.Phone
		row.Msisdn = &p
	}
	return row
}

func (r *account) record() *wallet.AccountRecord {
	return &wallet.AccountRecord{ID: r.ID, Kind: wallet.AccountKind(r.Kind), Number: r.Number, Phone: r.Phone,
		Name: r.Name, Tier: wallet.Tier(r.Tier), Status: wallet.Status(r.Status), Language: r.Language,
		Balance: r.Balance, AllowNegative: r.AllowNegative, PINHash: r.PinHash, PINSalt: r.PinSalt,
		PINFailures: r.PinFailures, Day: r.Day, DayDebits: r.DayDebits, Created: r.CreatedAt.UTC(),
		PINLocked: r.PinLocked, StartKeyHash: r.StartKeyHash, StartKeyExpires: timeOrZero(r.StartKeyUntil)}
}

// unixOrZero and timeOrZero convert a start key's expiry for its column:
// Unix seconds, 0 for none.
func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func timeOrZero(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

func (s *Store) accountWhere(ctx context.Context, query string, arg any) (*wallet.AccountRecord, error) {
	var rows []account
	if err := s.gdb.WithContext(ctx).Where(query, arg).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("find account: %w", err)
	}
	if len(rows) == 0 {
		return nil, wallet.Errorf(wallet.CodeNotFound, "no such account")
	}
	return rows[0].record(), nil
}

// AccountByNumber finds an account by its number.
func (s *Store) AccountByNumber(ctx context.Context, number string) (*wallet.AccountRecord, error) {
	return s.accountWhere(ctx, "number = ?", number)
}

// AccountByPhone finds the customer or agent account a phone operates.
func (s *Store) AccountByPhone(ctx context.Context, phone string) (*wallet.AccountRecord, error) {
	return s.accountWhere(ctx, "msisdn = ?", phone)
}

// AccountByID finds an account by id.
func (s *Store) AccountByID(ctx context.Context, id int64) (*wallet.AccountRecord, error) {
	return s.accountWhere(ctx, "id = ?", id)
}

// Write runs fn in a transaction, retrying it on transient conflicts.
func (s *Store) Write(ctx context.Context, fn func(wallet.BatchTx) error) error {
	return retry(ctx, retryable, func() error {
		b := &batchTx{s: s, ctx: ctx, epoch: s.accounts.begin()}
		err := s.inTx(ctx, func(tx *sql.Tx) error { b.tx = tx; return fn(b) })
		s.accounts.end(b, err)
		return err
	})
}

// retry runs fn until it succeeds, fails with an error again does not
// report as transient, or has run writeAttemptsMax times, waiting attempt²
// milliseconds between runs. It returns fn's last error (joined with ctx's
// when ctx ended while it waited).
func retry(ctx context.Context, again func(error) bool, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !again(err) || attempt == writeAttemptsMax {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(time.Duration(attempt*attempt) * time.Millisecond):
		}
	}
}

// inTx runs fn in a transaction on the database/sql pool (the group-commit
// paths' multi-row SQL): committed when fn returns nil, rolled back when it
// fails.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// gormTx runs fn in a gorm transaction, running it again from the start
// while it fails with an error again reports as transient (see retry).
func (s *Store) gormTx(ctx context.Context, again func(error) bool, fn func(tx *gorm.DB) error) error {
	return retry(ctx, again, func() error { return s.gdb.WithContext(ctx).Transaction(fn) })
}

// first returns the first row of type R that query selects on db, or nil
// when there is none.
func first[R any](db *gorm.DB, query string, args ...any) (*R, error) {
	var rows []R
	if err := db.Where(query, args...).Limit(1).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// byID returns the row of type R with id, or a CodeNotFound *wallet.Error
// naming what when there is none.
func byID[R any](ctx context.Context, db *gorm.DB, what, id string) (*R, error) {
	r, err := first[R](db.WithContext(ctx), "id = ?", id)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", what, err)
	}
	if r == nil {
		return nil, wallet.Errorf(wallet.CodeNotFound, "no %s %s", what, clip(id))
	}
	return r, nil
}

// records is rows as the records record makes of them.
func records[R, T any](rows []R, record func(*R) *T) []T {
	out := make([]T, len(rows))
	for i := range rows {
		out[i] = *record(&rows[i])
	}
	return out
}

// retryable reports a conflict that running the transaction again can
// resolve: a deadlock, a serialization failure, a lock timeout, or a unique
// key that a concurrent writer took first (the retry then sees its row).
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01", "55P03", "23505":
			return true
		}
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	return false
}

func isUnique(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	return errors.Is(err, gorm.ErrDuplicatedKey)
}

// TransferByRef returns the transfer with the given human id.
func (s *Store) TransferByRef(ctx context.Context, ref string) (*wallet.Transfer, error) {
	id, ok := wallet.ParseRef(ref)
	if !ok {
		return nil, wallet.Errorf(wallet.CodeNotFound, "no transaction %q", clip(ref))
	}
	ts, err := s.loadTransfers(ctx, s.db, "id = ?", []any{id})
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, wallet.Errorf(wallet.CodeNotFound, "no transaction %s", wallet.Ref(id))
	}
	return &ts[0].Transfer, nil
}

// TransfersOf returns the reversal of original (at most one: a unique
// index) and up to limit of its refunds, in id order; the partial indexes
// on transfers.reverses and transfers.refunds serve both.
func (s *Store) TransfersOf(ctx context.Context, original int64, limit int) ([]wallet.Transfer, error) {
	rev, err := s.loadTransfers(ctx, s.db, "reverses = ?", []any{original})
	if err != nil {
		return nil, err
	}
	ref, err := s.loadTransfers(ctx, s.db, "refunds = ? ORDER BY id LIMIT ?", []any{original, limit})
	if err != nil {
		return nil, err
	}
	out := make([]wallet.Transfer, 0, len(rev)+len(ref))
	for _, t := range append(rev, ref...) {
		out = append(out, t.Transfer)
	}
	slices.SortFunc(out, func(a, b wallet.Transfer) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// TransfersAfter returns up to limit transfers after afterID, in id order.
func (s *Store) TransfersAfter(ctx context.Context, afterID int64, limit int) ([]wallet.Transfer, error) {
	ts, err := s.loadTransfers(ctx, s.db, "id > ? ORDER BY id LIMIT ?", []any{afterID, limit})
	if err != nil {
		return nil, err
	}
	out := make([]wallet.Transfer, len(ts))
	for i, t := range ts {
		out[i] = t.Transfer
	}
	return out, nil
}

func clip(s string) string {
	if len(s) > 16 {
		return s[:16] + "…"
	}
	return s
}

// Postings returns an account's postings with their transfers, newest first.
func (s *Store) Postings(ctx context.Context, accountID int64, from, to time.Time, limit int) ([]wallet.PostingLine, error) {
	q := `SELECT p.transfer_id, p.account_id, p.leg, p.amount, p.balance_after,
		t.kind, t.source, t.target, t.reference, t.created_at
		FROM postings p JOIN transfers t ON t.id = p.transfer_id WHERE p.account_id = ?`
	args := []any{accountID}
	if !from.IsZero() {
		q += " AND p.created_at >= ?"
		args = append(args, from.UTC())
	}
	if !to.IsZero() {
		q += " AND p.created_at < ?"
		args = append(args, to.UTC())
	}
	q += " ORDER BY p.transfer_id DESC, p.id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("postings: %w", err)
	}
	defer rows.Close()
	var out []wallet.PostingLine
	for rows.Next() {
		var l wallet.PostingLine
		if err := rows.Scan(&l.TransferID, &l.AccountID, &l.Leg, &l.Amount, &l.BalanceAfter,
			&l.Kind, &l.Source, &l.Target, &l.Reference, &l.Created); err != nil {
			return nil, fmt.Errorf("postings: %w", err)
		}
		l.Ref = wallet.Ref(l.TransferID)
		l.Created = l.Created.UTC()
		out = append(out, l)
	}
	return out, rows.Err()
}

// Reversed reports which of the given transfers have a reversal.
func (s *Store) Reversed(ctx context.Context, ids []int64) (map[int64]bool, error) {
	return s.reversed(ctx, s.db, ids)
}

// Refunded sums each merchant's refunds against the given transfers.
func (s *Store) Refunded(ctx context.Context, ids []int64) (map[wallet.RefundKey]int64, error) {
	return s.refunded(ctx, s.db, ids)
}

// Outcome returns the transfer or refusal stored under an idempotency key.
func (s *Store) Outcome(ctx context.Context, key string) (*wallet.Outcome, error) {
	out, err := s.outcomes(ctx, s.db, []string{key})
	if err != nil {
		return nil, err
	}
	o := out[key]
	if o == nil {
		return nil, wallet.Errorf(wallet.CodeNotFound, "nothing was done under this idempotency key")
	}
	return o, nil
}

// AccountTransfers returns the account's transfers, newest first. It walks
// idx_postings_account_transfer backwards from before (or the newest) and
// stops after limit transfers; from also bounds the walk, since a transfer
// created at or after from has an id at or above FirstTransferID(from) (its
// id and its creation time come from the same clock reading). to only
// filters: a process's logical id clock may run ahead of its wall clock.
func (s *Store) AccountTransfers(ctx context.Context, accountID int64, from, to time.Time, before int64, limit int) ([]wallet.Transfer, error) {
	q := "SELECT DISTINCT transfer_id FROM postings WHERE account_id = ?"
	args := []any{accountID}
	if !from.IsZero() {
		q += " AND transfer_id >= ? AND created_at >= ?"
		args = append(args, wallet.FirstTransferID(from), from.UTC())
	}
	if !to.IsZero() {
		q += " AND created_at < ?"
		args = append(args, to.UTC())
	}
	if before > 0 {
		q += " AND transfer_id < ?"
		args = append(args, before)
	}
	q += " ORDER BY transfer_id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("account transfers: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("account transfers: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return nil, err
	}
	cond, cargs := inList(s.pg, "id", ids)
	ts, err := s.loadTransfers(ctx, s.db, cond, cargs)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ts, func(a, b *wallet.StoredTransfer) int { return cmp.Compare(b.ID, a.ID) })
	out := make([]wallet.Transfer, len(ts))
	for i, t := range ts {
		out[i] = t.Transfer
	}
	return out, nil
}

// sumWindowsMax bounds the sums one SumPostings statement computes: a
// screen shows two or three periods.
const sumWindowsMax = 8

// SumPostings sums an account's postings of one leg since each of the given
// times, in one statement. The leg is written into the SQL as a literal, not
// a parameter, so that both databases can prove the commission leg's partial
// index (idx_postings_commission) applies; the other legs are not indexed
// and scan the account's postings.
func (s *Store) SumPostings(ctx context.Context, accountID int64, leg wallet.LegKind, since []time.Time) ([]int64, error) {
	switch leg {
	case wallet.LegPrincipal, wallet.LegFee, wallet.LegCommission:
	default:
		return nil, fmt.Errorf("sum postings: unknown leg %q", clip(string(leg)))
	}
	if len(since) == 0 || len(since) > sumWindowsMax {
		return nil, fmt.Errorf("sum postings: %d periods, want 1 to %d", len(since), sumWindowsMax)
	}
	cols, args, from := sinceSums(since) // report.go
	args = append(args, accountID, from.UTC())
	q := "SELECT " + strings.Join(cols, ", ") + " FROM postings WHERE account_id = ? AND leg = '" + string(leg) +
		"' AND created_at >= ?"
	dst := make([]any, len(since))
	out := make([]int64, len(since))
	for i := range out {
		dst[i] = &out[i]
	}
	if err := s.db.QueryRowContext(ctx, s.rebind(q), args...).Scan(dst...); err != nil {
		return nil, fmt.Errorf("sum postings: %w", err)
	}
	return out, nil
}

// relayLockClass is the first key of the PostgreSQL advisory lock a relay
// holds while it publishes (the second is the outbox table's oid); 4211 is
// the migration lock's.
const relayLockClass = 4212

// Relay publishes the oldest unpublished events and deletes them once
// publish succeeds. On PostgreSQL one relay at a time does (the others find
// the lock taken and return 0), so that events reach the stream in outbox
// order; on SQLite they are read outside the write lock so the batch writer
// is never kept waiting.
func (s *Store) Relay(ctx context.Context, limit int, publish func([]wallet.OutboxEvent) error) (int, error) {
	var q queryer = s.db
	var tx *sql.Tx
	if s.pg {
		var err error
		if tx, err = s.db.BeginTx(ctx, nil); err != nil {
			return 0, fmt.Errorf("relay: %w", err)
		}
		defer tx.Rollback()
		q = tx
		// One relay at a time per outbox: a second one skipping the rows
		// the first has locked would publish later events (a merchant's
		// refund) before earlier ones (its payment) still waiting for their
		// acknowledgement, and the notifier delivers webhooks in the order
		// events reach the stream. The lock is on this schema's table, so
		// deployments (and tests) in other schemas do not wait for it; a
		// relay that does not get it has nothing to do this round.
		var mine bool
		if err := tx.QueryRowContext(ctx, "SELECT pg_try_advisory_xact_lock($1, 'outbox_events'::regclass::oid::int)", relayLockClass).Scan(&mine); err != nil {
			return 0, fmt.Errorf("relay: %w", err)
		}
		if !mine {
			return 0, nil
		}
	}
	// SQLite has no row locks: two relays may read the same events and
	// both publish them, each in id order; JetStream keeps the first copy
	// of each (by its Nats-Msg-Id), so the stream still has them in order.
	sel := "SELECT id, transfer_id, subject, payload, msg_id FROM outbox_events ORDER BY id LIMIT ?"
	rows, err := q.QueryContext(ctx, s.rebind(sel), limit)
	if err != nil {
		return 0, fmt.Errorf("relay: %w", err)
	}
	var evs []wallet.OutboxEvent
	for rows.Next() {
		var e wallet.OutboxEvent
		if err := rows.Scan(&e.ID, &e.TransferID, &e.Subject, &e.Payload, &e.MsgID); err != nil {
			rows.Close()
			return 0, fmt.Errorf("relay: %w", err)
		}
		evs = append(evs, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(evs) == 0 {
		return 0, err
	}
	if err := publish(evs); err != nil {
		return 0, err
	}
	ids := make([]any, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	del := s.rebind("DELETE FROM outbox_events WHERE id IN (" + marks(len(ids)) + ")")
	if s.pg {
		if _, err := tx.ExecContext(ctx, del, ids...); err != nil {
			return 0, fmt.Errorf("relay: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return 0, fmt.Errorf("relay: %w", err)
		}
	} else if _, err := s.db.ExecContext(ctx, del, ids...); err != nil {
		return 0, fmt.Errorf("relay: %w", err)
	}
	return len(evs), nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func decodeError(s string) *wallet.Error {
	var e wallet.Error
	if err := json.Unmarshal([]byte(s), &e); err != nil || e.Code == "" {
		return &wallet.Error{Code: wallet.CodeInternal, Message: "unreadable stored rejection"}
	}
	return &e
}
