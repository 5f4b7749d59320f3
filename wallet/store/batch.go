package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/kibubu/kibubu/wallet"
)

// chunkRows bounds the ids of one IN (…) list, and the rows of one gorm
// batch insert, so that parameters stay far below SQLite's 32,766 and
// PostgreSQL's 65,535.
const chunkRows = 500

// batchTx is one group commit's transaction.
type batchTx struct {
	s   *Store
	tx  *sql.Tx
	ctx context.Context

	// For the account cache (cache.go): the epoch the batch began in, the
	// accounts it read from the database as they were, and those it saved.
	epoch uint64
	read  []wallet.AccountRecord
	saved []*wallet.AccountRecord
}

var _ wallet.BatchTx = (*batchTx)(nil)

const accountCols = `id, kind, number, phone, name, tier, status, language, balance, allow_negative,
	pin_hash, pin_salt, pin_failures, day, day_debits, created_at, pin_locked, start_key_hash, start_key_until`

func scanAccount(rows *sql.Rows) (*wallet.AccountRecord, error) {
	var r account
	err := rows.Scan(&r.ID, &r.Kind, &r.Number, &r.Phone, &r.Name, &r.Tier, &r.Status, &r.Language, &r.Balance,
		&r.AllowNegative, &r.PinHash, &r.PinSalt, &r.PinFailures, &r.Day, &r.DayDebits, &r.CreatedAt,
		&r.PinLocked, &r.StartKeyHash, &r.StartKeyUntil)
	return r.record(), err
}

// LockAccounts loads the accounts, locking their rows in id order on
// PostgreSQL (so concurrent batches in several processes never deadlock);
// SQLite's transaction already holds the database's write lock.
//
// With the account cache on (CacheAccounts), it reads only the accounts
// not cached.
func (b *batchTx) LockAccounts(ids []int64) (map[int64]*wallet.AccountRecord, error) {
	out := make(map[int64]*wallet.AccountRecord, len(ids))
	cached := b.s.accounts.enabled()
	if cached {
		missing := ids[:0:0]
		for _, id := range ids {
			if r, ok := b.s.accounts.get(id); ok {
				out[id] = r
			} else {
				missing = append(missing, id)
			}
		}
		ids = missing
	}
	for start := 0; start < len(ids); start += chunkRows {
		part := ids[start:min(start+chunkRows, len(ids))]
		cond, args := inList(b.s.pg, "id", part)
		q := "SELECT " + accountCols + " FROM accounts WHERE " + cond + " ORDER BY id"
		if b.s.pg {
			q += " FOR UPDATE"
		}
		rows, err := b.tx.QueryContext(b.ctx, b.s.rebind(q), args...)
		if err != nil {
			return nil, fmt.Errorf("lock accounts: %w", err)
		}
		for rows.Next() {
			r, err := scanAccount(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("lock accounts: %w", err)
			}
			out[r.ID] = r
			if cached {
				b.read = append(b.read, *r)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("lock accounts: %w", err)
		}
	}
	return out, nil
}

// Outcomes finds the transfers and rejections already stored under keys.
func (b *batchTx) Outcomes(keys []string) (map[string]*wallet.Outcome, error) {
	return b.s.outcomes(b.ctx, b.tx, keys)
}

func (s *Store) outcomes(ctx context.Context, q queryer, keys []string) (map[string]*wallet.Outcome, error) {
	out := map[string]*wallet.Outcome{}
	if len(keys) == 0 {
		return out, nil
	}
	for start := 0; start < len(keys); start += chunkRows {
		cond, args := inList(s.pg, "idem_key", keys[start:min(start+chunkRows, len(keys))])
		ts, err := s.loadTransfers(ctx, q, cond, args)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			tr := t.Transfer
			out[t.Key] = &wallet.Outcome{Hash: t.Hash, Transfer: &tr}
		}
		rows, err := q.QueryContext(ctx, s.rebind("SELECT idem_key, request_hash, error FROM rejections WHERE "+cond), args...)
		if err != nil {
			return nil, fmt.Errorf("outcomes: %w", err)
		}
		for rows.Next() {
			var key, e string
			var hash []byte
			if err := rows.Scan(&key, &hash, &e); err != nil {
				rows.Close()
				return nil, fmt.Errorf("outcomes: %w", err)
			}
			out[key] = &wallet.Outcome{Hash: hash, Err: decodeError(e)}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("outcomes: %w", err)
		}
	}
	return out, nil
}

// Reversed reports which transfers have a reversal.
func (b *batchTx) Reversed(ids []int64) (map[int64]bool, error) {
	return b.s.reversed(b.ctx, b.tx, ids)
}

// Refunded sums each merchant's refunds against the given transfers.
func (b *batchTx) Refunded(ids []int64) (map[wallet.RefundKey]int64, error) {
	return b.s.refunded(b.ctx, b.tx, ids)
}

func (s *Store) refunded(ctx context.Context, q queryer, ids []int64) (map[wallet.RefundKey]int64, error) {
	out := map[wallet.RefundKey]int64{}
	for start := 0; start < len(ids); start += chunkRows {
		cond, args := inList(s.pg, "refunds", ids[start:min(start+chunkRows, len(ids))])
		rows, err := q.QueryContext(ctx, s.rebind("SELECT refunds, source, SUM(amount) FROM transfers WHERE "+cond+" GROUP BY refunds, source"), args...)
		if err != nil {
			return nil, fmt.Errorf("refunded: %w", err)
		}
		for rows.Next() {
			var k wallet.RefundKey
			var sum int64
			if err := rows.Scan(&k.Transfer, &k.Merchant, &sum); err != nil {
				rows.Close()
				return nil, fmt.Errorf("refunded: %w", err)
			}
			out[k] = sum
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("refunded: %w", err)
		}
	}
	return out, nil
}

func (s *Store) reversed(ctx context.Context, q queryer, ids []int64) (map[int64]bool, error) {
	out := map[int64]bool{}
	for start := 0; start < len(ids); start += chunkRows {
		cond, args := inList(s.pg, "reverses", ids[start:min(start+chunkRows, len(ids))])
		rows, err := q.QueryContext(ctx, s.rebind("SELECT reverses FROM transfers WHERE "+cond), args...)
		if err != nil {
			return nil, fmt.Errorf("reversed: %w", err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("reversed: %w", err)
			}
			out[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("reversed: %w", err)
		}
	}
	return out, nil
}

// Save writes one batch: on PostgreSQL with one array statement per table
// (one round trip each), on SQLite row by row through prepared statements
// (an in-process library has no round trips to save, and nothing is parsed
// per batch).
func (b *batchTx) Save(w *wallet.BatchWrite) error {
	if err := b.s.save(b.ctx, b.tx, w); err != nil {
		return err
	}
	b.saved = w.Accounts
	return nil
}

func (s *Store) save(ctx context.Context, tx *sql.Tx, w *wallet.BatchWrite) error {
	save := s.saveSQLite
	if s.pg {
		save = s.savePostgres
	}
	if err := save(ctx, tx, w); err != nil {
		return err
	}
	// The dashboard's per-quarter-hour totals, in the same transaction (report.go).
	return s.addTotals(ctx, tx, w.Transfers)
}

// savePostgres writes a batch with one statement per table, each passing
// its columns as arrays through unnest: the SQL text never changes, so
// PostgreSQL plans it once per connection, and a batch costs five round
// trips whatever its size.
func (s *Store) savePostgres(ctx context.Context, tx *sql.Tx, w *wallet.BatchWrite) error {
	var t struct {
		id, source, target, amount, fee, commission []int64
		reverses, refunds                           []*int64
		key, kind, reference                        []string
		hash                                        [][]byte
		created                                     []time.Time
	}
	var p struct {
		transfer, account, amount, after []int64
		leg                              []string
		created                          []time.Time
	}
	for _, x := range w.Transfers {
		t.reverses, t.refunds = append(t.reverses, nullID(x.Reverses)), append(t.refunds, nullID(x.Refunds))
		t.id, t.source, t.target = append(t.id, x.ID), append(t.source, x.Source), append(t.target, x.Target)
		t.amount, t.fee, t.commission = append(t.amount, x.Amount), append(t.fee, x.Fee), append(t.commission, x.Commission)
		t.key, t.kind = append(t.key, x.Key), append(t.kind, string(x.Kind))
		t.reference, t.hash, t.created = append(t.reference, x.Reference), append(t.hash, x.Hash), append(t.created, x.Created)
		for _, q := range x.Postings {
			p.transfer, p.account, p.amount = append(p.transfer, x.ID), append(p.account, q.AccountID), append(p.amount, q.Amount)
			p.after, p.leg, p.created = append(p.after, q.BalanceAfter), append(p.leg, string(q.Leg)), append(p.created, x.Created)
		}
	}
	exec := func(what, q string, args ...any) error {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	if len(w.Transfers)+len(w.Rejections) > 0 {
		keys := make([]string, 0, len(w.Transfers)+len(w.Rejections))
		for _, x := range w.Transfers {
			keys = append(keys, x.Key)
		}
		for _, r := range w.Rejections {
			keys = append(keys, r.Key)
		}
		if err := exec("claim keys", `INSERT INTO idem_keys (idem_key) SELECT * FROM unnest($1::text[])`, keys); err != nil {
			return err
		}
	}
	if len(t.id) > 0 {
		if err := exec("insert transfers", `INSERT INTO transfers (id, idem_key, request_hash, kind, source, target, amount, fee,
			commission, reference, reverses, refunds, created_at) SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::text[],
			$5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::text[], $11::bigint[], $12::bigint[], $13::timestamptz[])`,
			t.id, t.key, t.hash, t.kind, t.source, t.target, t.amount, t.fee, t.commission, t.reference, t.reverses, t.refunds, t.created); err != nil {
			return err
		}
		if err := exec("insert postings", `INSERT INTO postings (transfer_id, account_id, leg, amount, balance_after, created_at)
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::timestamptz[])`,
			p.transfer, p.account, p.leg, p.amount, p.after, p.created); err != nil {
			return err
		}
	}
	if len(w.Events) > 0 {
		var tid []int64
		var subject []string
		var payload [][]byte
		for _, e := range w.Events {
			tid, subject, payload = append(tid, e.TransferID), append(subject, e.Subject), append(payload, e.Payload)
		}
		if err := exec("insert events", `INSERT INTO outbox_events (transfer_id, subject, payload, created_at)
			SELECT *, $4::timestamptz FROM unnest($1::bigint[], $2::text[], $3::bytea[])`, tid, subject, payload, w.Transfers[0].Created); err != nil {
			return err
		}
	}
	if len(w.Rejections) > 0 {
		var key, errs []string
		var hash [][]byte
		var created []time.Time
		for _, r := range w.Rejections {
			e, err := json.Marshal(r.Err)
			if err != nil {
				return fmt.Errorf("encode rejection: %w", err)
			}
			key, hash, errs, created = append(key, r.Key), append(hash, r.Hash), append(errs, string(e)), append(created, r.Created)
		}
		if err := exec("insert rejections", `INSERT INTO rejections (idem_key, request_hash, error, created_at)
			SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[], $4::timestamptz[])`, key, hash, errs, created); err != nil {
			return err
		}
	}
	if len(w.Accounts) > 0 {
		var id, balance, day, debits, failures, keyUntil []int64
		var status, language []string
		var pinHash, pinSalt, keyHash [][]byte
		var locked []bool
		for _, a := range w.Accounts {
			id, balance, day, debits = append(id, a.ID), append(balance, a.Balance), append(day, int64(a.Day)), append(debits, a.DayDebits)
			failures, status, language = append(failures, int64(a.PINFailures)), append(status, string(a.Status)), append(language, a.Language)
			pinHash, pinSalt = append(pinHash, a.PINHash), append(pinSalt, a.PINSalt)
			locked, keyHash, keyUntil = append(locked, a.PINLocked), append(keyHash, a.StartKeyHash), append(keyUntil, unixOrZero(a.StartKeyExpires))
		}
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET balance = v.balance, day = v.day, day_debits = v.day_debits,
			status = v.status, pin_hash = v.pin_hash, pin_salt = v.pin_salt, pin_failures = v.pin_failures, language = v.language,
			pin_locked = v.pin_locked, start_key_hash = v.start_key_hash, start_key_until = v.start_key_until
			FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::bytea[], $7::bytea[], $8::bigint[], $9::text[],
				$10::boolean[], $11::bytea[], $12::bigint[])
			AS v(id, balance, day, day_debits, status, pin_hash, pin_salt, pin_failures, language, pin_locked, start_key_hash, start_key_until)
			WHERE accounts.id = v.id`,
			id, balance, day, debits, status, pinHash, pinSalt, failures, language, locked, keyHash, keyUntil)
		if err != nil {
			return fmt.Errorf("update accounts: %w", err)
		}
		if n, err := res.RowsAffected(); err == nil && n != int64(len(id)) {
			return fmt.Errorf("update accounts: %d of %d rows updated", n, len(id))
		}
	}
	return nil
}

// The SQLite statements Save prepares once per connection.
const (
	sqlInsertTransfer = "INSERT INTO transfers (id, idem_key, request_hash, kind, source, target, amount, fee, commission, reference, reverses, refunds, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
	sqlInsertPosting  = "INSERT INTO postings (transfer_id, account_id, leg, amount, balance_after, created_at) VALUES (?,?,?,?,?,?)"
	sqlInsertReject   = "INSERT INTO rejections (idem_key, request_hash, error, created_at) VALUES (?,?,?,?)"
	sqlInsertEvent    = "INSERT INTO outbox_events (transfer_id, subject, payload, created_at) VALUES (?,?,?,?)"
	sqlClaimKey       = "INSERT INTO idem_keys (idem_key) VALUES (?)"
	sqlUpdateAccount  = `UPDATE accounts SET balance = ?, day = ?, day_debits = ?, status = ?, pin_hash = ?, pin_salt = ?,
		pin_failures = ?, language = ?, pin_locked = ?, start_key_hash = ?, start_key_until = ? WHERE id = ?`
)

func (s *Store) saveSQLite(ctx context.Context, tx *sql.Tx, w *wallet.BatchWrite) error {
	stmt := func(q string) (*sql.Stmt, error) {
		p, err := s.prepared(q)
		if err != nil {
			return nil, err
		}
		return tx.StmtContext(ctx, p), nil
	}
	ins, err := stmt(sqlInsertTransfer)
	if err != nil {
		return err
	}
	post, err := stmt(sqlInsertPosting)
	if err != nil {
		return err
	}
	claim, err := stmt(sqlClaimKey)
	if err != nil {
		return err
	}
	// A batch's rows share one creation time: formatted once, as the
	// driver would format each time.Time it binds.
	var stampOf time.Time
	var stampText string
	stamp := func(t time.Time) string {
		if t != stampOf || stampText == "" {
			stampOf, stampText = t, t.Format(sqlite3.SQLiteTimestampFormats[0])
		}
		return stampText
	}
	for _, t := range w.Transfers {
		created := stamp(t.Created)
		if _, err := claim.ExecContext(ctx, t.Key); err != nil {
			return fmt.Errorf("claim key: %w", err)
		}
		if _, err := ins.ExecContext(ctx, t.ID, t.Key, t.Hash, string(t.Kind), t.Source, t.Target, t.Amount, t.Fee, t.Commission, t.Reference,
			nullID(t.Reverses), nullID(t.Refunds), created); err != nil {
			return fmt.Errorf("insert transfer: %w", err)
		}
		for _, p := range t.Postings {
			if _, err := post.ExecContext(ctx, t.ID, p.AccountID, string(p.Leg), p.Amount, p.BalanceAfter, created); err != nil {
				return fmt.Errorf("insert posting: %w", err)
			}
		}
	}
	if len(w.Rejections) > 0 {
		rej, err := stmt(sqlInsertReject)
		if err != nil {
			return err
		}
		for _, r := range w.Rejections {
			e, err := json.Marshal(r.Err)
			if err != nil {
				return fmt.Errorf("encode rejection: %w", err)
			}
			if _, err := claim.ExecContext(ctx, r.Key); err != nil {
				return fmt.Errorf("claim key: %w", err)
			}
			if _, err := rej.ExecContext(ctx, r.Key, r.Hash, string(e), stamp(r.Created)); err != nil {
				return fmt.Errorf("insert rejection: %w", err)
			}
		}
	}
	if len(w.Events) > 0 {
		ev, err := stmt(sqlInsertEvent)
		if err != nil {
			return err
		}
		created := stamp(w.Transfers[0].Created)
		for _, e := range w.Events {
			if _, err := ev.ExecContext(ctx, e.TransferID, e.Subject, e.Payload, created); err != nil {
				return fmt.Errorf("insert event: %w", err)
			}
		}
	}
	if len(w.Accounts) > 0 {
		up, err := stmt(sqlUpdateAccount)
		if err != nil {
			return err
		}
		for _, a := range w.Accounts {
			res, err := up.ExecContext(ctx, a.Balance, a.Day, a.DayDebits, string(a.Status), a.PINHash, a.PINSalt, a.PINFailures, a.Language,
				a.PINLocked, a.StartKeyHash, unixOrZero(a.StartKeyExpires), a.ID)
			if err != nil {
				return fmt.Errorf("update account: %w", err)
			}
			if n, err := res.RowsAffected(); err == nil && n != 1 {
				return fmt.Errorf("update account %d: %d rows updated", a.ID, n)
			}
		}
	}
	return nil
}

// nullID is a transfer id for a nullable column: NULL for 0.
func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// prepared returns q prepared on the pool (database/sql prepares it again
// on each connection the first time a transaction there uses it).
func (s *Store) prepared(q string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if p := s.stmts[q]; p != nil {
		return p, nil
	}
	p, err := s.db.Prepare(q)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[q] = p
	return p, nil
}

// loadTransfers loads the transfers (with postings) matching cond.
func (s *Store) loadTransfers(ctx context.Context, q queryer, cond string, args []any) ([]*wallet.StoredTransfer, error) {
	rows, err := q.QueryContext(ctx, s.rebind(`SELECT id, idem_key, request_hash, kind, source, target, amount, fee,
		commission, reference, reverses, refunds, created_at FROM transfers WHERE `+cond), args...)
	if err != nil {
		return nil, fmt.Errorf("load transfers: %w", err)
	}
	var out []*wallet.StoredTransfer
	byID := map[int64]*wallet.StoredTransfer{}
	for rows.Next() {
		t := &wallet.StoredTransfer{}
		var reverses, refunds sql.NullInt64
		if err := rows.Scan(&t.ID, &t.Key, &t.Hash, &t.Kind, &t.Source, &t.Target, &t.Amount, &t.Fee,
			&t.Commission, &t.Reference, &reverses, &refunds, &t.Created); err != nil {
			rows.Close()
			return nil, fmt.Errorf("load transfers: %w", err)
		}
		t.Ref, t.Reverses, t.Refunds, t.Created = wallet.Ref(t.ID), reverses.Int64, refunds.Int64, t.Created.UTC()
		out = append(out, t)
		byID[t.ID] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, err
	}
	ids := make([]int64, len(out))
	for i, t := range out {
		ids[i] = t.ID
	}
	cond, args = inList(s.pg, "transfer_id", ids)
	prow, err := q.QueryContext(ctx, s.rebind(`SELECT transfer_id, account_id, leg, amount, balance_after FROM postings
		WHERE `+cond+` ORDER BY id`), args...)
	if err != nil {
		return nil, fmt.Errorf("load postings: %w", err)
	}
	defer prow.Close()
	for prow.Next() {
		var tid int64
		var p wallet.Posting
		if err := prow.Scan(&tid, &p.AccountID, &p.Leg, &p.Amount, &p.BalanceAfter); err != nil {
			return nil, fmt.Errorf("load postings: %w", err)
		}
		byID[tid].Postings = append(byID[tid].Postings, p)
	}
	return out, prow.Err()
}

// inList returns the condition "col is one of vals" and its arguments: on
// SQLite col IN (?, …) with one argument per value; on PostgreSQL
// col = ANY(?) with the values as one array, so the SQL text is the same for
// every batch and PostgreSQL plans it once per connection.
func inList[T int64 | string](pg bool, col string, vals []T) (string, []any) {
	if pg {
		return col + " = ANY(?)", []any{vals}
	}
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	return col + " IN (" + marks(len(vals)) + ")", args
}

// marks returns n comma-separated placeholders.
func marks(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// rebind turns ? placeholders into PostgreSQL's $1, $2, … (the SQL written
// here has no ? inside string literals).
func (s *Store) rebind(q string) string {
	if !s.pg {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// BulkInsert writes w's rows in one transaction without the batch writer's
// locks and look-ups: the storage limit the benchmark compares against.
// It drops the account cache: the accounts it writes are not the batch
// writer's.
func (s *Store) BulkInsert(ctx context.Context, w *wallet.BatchWrite) error {
	s.accounts.drop()
	defer s.accounts.drop()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := s.save(ctx, tx, w); err != nil {
		return err
	}
	return tx.Commit()
}
