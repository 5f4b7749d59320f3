package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/kibubu/kibubu/wallet"
)

// The reports' queries (wallet.ReportStore). Each reads through an index
// or a primary-key range, never a whole big table, except the agent totals,
// which read the accounts table once:
//
//   - TransferTotals: a range of transfer_totals' primary key, the
//     transfers summed by quarter hour and kind as the batch writes them
//     (addTotals, in the batch's transaction): a day is at most 96 rows a
//     kind, however many transfers it had. The wallet keeps closed days in
//     memory too.
//   - BalancesBefore: idx_postings_account_transfer, one account's postings
//     from a transfer id on (the trust account's: float issues only).
//   - CommissionSums: idx_postings_commission, as SumPostings.
//   - FloatIssues: idx_transfers_float, a partial index of the float issues.

var _ wallet.ReportStore = (*Store)(nil)

// reportModels are the reports' own tables.
var reportModels = []any{&transferTotal{}}

// totalSlot is the span transfer_totals sums over: a quarter hour, so
// that every day of every time zone (UTC offsets are whole quarter hours)
// is a whole number of slots, whatever Config.Location the wallet has.
const totalSlot = 15 * time.Minute

// transferTotal is the transfers of one kind created in one slot (a
// quarter hour, UTC): what transfer_totals keeps so that a dashboard sums
// a few rows a day, not every transfer. The batch writer adds to it in the
// transaction that writes the transfers (addTotals), so it always agrees
// with them; `kibubu migrate` fills it from the transfers when it creates it.
type transferTotal struct {
	Slot       int64  `gorm:"primaryKey;autoIncrement:false"` // Unix time / totalSlot
	Kind       string `gorm:"primaryKey;size:16"`
	Count      int64  `gorm:"not null"`
	Volume     int64  `gorm:"not null"`
	Fee        int64  `gorm:"not null"`
	Commission int64  `gorm:"not null"`
}

func (transferTotal) TableName() string { return "transfer_totals" }

// slotOf is the slot of time t.
func slotOf(t time.Time) int64 { return t.Unix() / int64(totalSlot/time.Second) }

// execer is a transaction or a database.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

type totalKey struct {
	slot int64
	kind string
}

// sumTotals adds ts's figures by slot and kind to sums.
func sumTotals(sums map[totalKey]*transferTotal, ts []*wallet.StoredTransfer) {
	for _, t := range ts {
		k := totalKey{slotOf(t.Created), string(t.Kind)}
		r := sums[k]
		if r == nil {
			r = &transferTotal{Slot: k.slot, Kind: k.kind}
			sums[k] = r
		}
		r.Count++
		r.Volume += t.Amount
		r.Fee += t.Fee
		r.Commission += t.Commission
	}
}

// upsertTotals adds sums to transfer_totals in tx, in (slot, kind) order so
// that two wallets' batches take the rows' locks in the same order.
func (s *Store) upsertTotals(ctx context.Context, tx execer, sums map[totalKey]*transferTotal) error {
	if len(sums) == 0 {
		return nil
	}
	keys := slices.SortedFunc(maps.Keys(sums), func(a, b totalKey) int {
		if c := cmp.Compare(a.slot, b.slot); c != 0 {
			return c
		}
		return strings.Compare(a.kind, b.kind)
	})
	values := make([]string, len(keys))
	args := make([]any, 0, 6*len(keys))
	for i, k := range keys {
		r := sums[k]
		values[i] = "(?, ?, ?, ?, ?, ?)"
		args = append(args, r.Slot, r.Kind, r.Count, r.Volume, r.Fee, r.Commission)
	}
	q := `INSERT INTO transfer_totals (slot, kind, count, volume, fee, commission) VALUES ` + strings.Join(values, ", ") + `
		ON CONFLICT (slot, kind) DO UPDATE SET count = transfer_totals.count + excluded.count,
		volume = transfer_totals.volume + excluded.volume, fee = transfer_totals.fee + excluded.fee,
		commission = transfer_totals.commission + excluded.commission`
	if _, err := tx.ExecContext(ctx, s.rebind(q), args...); err != nil {
		return fmt.Errorf("add transfer totals: %w", err)
	}
	return nil
}

// addTotals adds a batch's transfers to transfer_totals, in the batch's
// transaction: the batch writer's one hook (Store.save).
func (s *Store) addTotals(ctx context.Context, tx execer, ts []*wallet.StoredTransfer) error {
	sums := map[totalKey]*transferTotal{}
	sumTotals(sums, ts)
	return s.upsertTotals(ctx, tx, sums)
}

// totalsBackfillRows is how many transfers the migration reads at a time
// when it fills a new transfer_totals.
const totalsBackfillRows = 10_000

// backfillTotals fills a transfer_totals just created from the transfers
// already written, in id order, a page at a time: run by the migration
// that creates the table, under its lock, before any wallet writes.
func backfillTotals(ctx context.Context, gdb *gorm.DB) error {
	db, err := gdb.DB()
	if err != nil {
		return err
	}
	s := &Store{gdb: gdb, db: db, pg: gdb.Dialector.Name() == "postgres"}
	sums := map[totalKey]*transferTotal{}
	for after := int64(-1 << 62); ; {
		rows, err := db.QueryContext(ctx, s.rebind(`SELECT id, kind, amount, fee, commission, created_at FROM transfers
			WHERE id > ? ORDER BY id LIMIT ?`), after, totalsBackfillRows)
		if err != nil {
			return fmt.Errorf("backfill transfer totals: %w", err)
		}
		var page []*wallet.StoredTransfer
		for rows.Next() {
			t := &wallet.StoredTransfer{}
			if err := rows.Scan(&t.ID, &t.Kind, &t.Amount, &t.Fee, &t.Commission, &t.Created); err != nil {
				rows.Close()
				return fmt.Errorf("backfill transfer totals: %w", err)
			}
			page = append(page, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("backfill transfer totals: %w", err)
		}
		sumTotals(sums, page)
		if len(page) < totalsBackfillRows {
			break
		}
		after = page[len(page)-1].ID
	}
	// In pages of rows too: one statement's parameters are bounded.
	for len(sums) > 0 {
		part := map[totalKey]*transferTotal{}
		for k, r := range sums {
			part[k] = r
			delete(sums, k)
			if len(part) == totalsBackfillRows/10 {
				break
			}
		}
		if err := s.upsertTotals(ctx, db, part); err != nil {
			return err
		}
	}
	return nil
}

// transferTotalsCheck finds, for Check, the kinds whose transfer_totals
// do not sum to their transfers (a wallet binary from before the table
// writing transfers after the migration made it, or an edit): the kind
// and the difference in count.
const transferTotalsCheck = `SELECT k.kind, COALESCE(t.c, 0) - COALESCE(x.c, 0)
	FROM (SELECT kind FROM transfers UNION SELECT kind FROM transfer_totals) k
	LEFT JOIN (SELECT kind, COUNT(*) AS c, SUM(amount) AS v, SUM(fee) AS f, SUM(commission) AS m FROM transfers GROUP BY kind) t ON t.kind = k.kind
	LEFT JOIN (SELECT kind, SUM(count) AS c, SUM(volume) AS v, SUM(fee) AS f, SUM(commission) AS m FROM transfer_totals GROUP BY kind) x ON x.kind = k.kind
	WHERE COALESCE(t.c, 0) <> COALESCE(x.c, 0) OR COALESCE(t.v, 0) <> COALESCE(x.v, 0) OR COALESCE(t.f, 0) <> COALESCE(x.f, 0)
		OR COALESCE(t.m, 0) <> COALESCE(x.m, 0)`

// TransferTotals sums the transfers created in [from, to) by kind, from
// transfer_totals: from and to are whole quarter hours (a day's bounds in
// any time zone).
func (s *Store) TransferTotals(ctx context.Context, from, to time.Time) ([]wallet.KindFigures, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind(`SELECT kind, COALESCE(SUM(count), 0), COALESCE(SUM(volume), 0), COALESCE(SUM(fee), 0),
		COALESCE(SUM(commission), 0) FROM transfer_totals WHERE slot >= ? AND slot < ? GROUP BY kind`), slotOf(from), slotOf(to))
	if err != nil {
		return nil, fmt.Errorf("transfer totals: %w", err)
	}
	defer rows.Close()
	out := []wallet.KindFigures{}
	for rows.Next() {
		var k wallet.KindFigures
		if err := rows.Scan(&k.Kind, &k.Count, &k.Volume, &k.FeeRevenue, &k.Commission); err != nil {
			return nil, fmt.Errorf("transfer totals: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// balancesBeforeMax bounds the ids BalancesBefore takes: one subquery each.
const balancesBeforeMax = wallet.DashboardDaysMax

// BalancesBefore returns account's balance now and without the postings of
// the transfers at or above each id in before, in one statement.
func (s *Store) BalancesBefore(ctx context.Context, account int64, before []int64) (int64, []int64, error) {
	if len(before) > balancesBeforeMax {
		return 0, nil, fmt.Errorf("balances before: %d ids, want at most %d", len(before), balancesBeforeMax)
	}
	cols := []string{"balance"}
	args := make([]any, 0, 2*len(before)+1)
	for _, id := range before {
		cols = append(cols, "(SELECT COALESCE(SUM(amount), 0) FROM postings WHERE account_id = ? AND transfer_id >= ?)")
		args = append(args, account, id)
	}
	args = append(args, account)
	sums := make([]int64, len(before))
	var now int64
	dst := []any{&now}
	for i := range sums {
		dst = append(dst, &sums[i])
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM accounts WHERE id = ?"
	if err := s.db.QueryRowContext(ctx, s.rebind(q), args...).Scan(dst...); err != nil {
		return 0, nil, fmt.Errorf("balances before: %w", err)
	}
	for i := range sums {
		sums[i] = now - sums[i]
	}
	return now, sums, nil
}

// SystemBalances returns every system account's balance by number.
func (s *Store) SystemBalances(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, s.rebind("SELECT number, balance FROM accounts WHERE kind = ? AND "+
		s.systemNumbers()), string(wallet.KindSystem))
	if err != nil {
		return nil, fmt.Errorf("system balances: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var n string
		var b int64
		if err := rows.Scan(&n, &b); err != nil {
			return nil, fmt.Errorf("system balances: %w", err)
		}
		out[n] = b
	}
	return out, rows.Err()
}

// systemNumbers is a condition on accounts.number naming every system
// account as a literal, so the number's unique index serves it.
func (s *Store) systemNumbers() string {
	quoted := make([]string, len(wallet.SystemAccounts))
	for i, sa := range wallet.SystemAccounts {
		quoted[i] = "'" + sa.Number + "'"
	}
	return "number IN (" + strings.Join(quoted, ", ") + ")"
}

// Agents returns agent accounts after an id, in id order.
func (s *Store) Agents(ctx context.Context, after int64, limit int, below int64, onlyBelow bool) ([]wallet.AccountRecord, error) {
	q := "kind = ? AND id > ?"
	args := []any{string(wallet.KindAgent), after}
	if onlyBelow {
		q += " AND balance < ?"
		args = append(args, below)
	}
	var rows []account
	if err := s.gdb.WithContext(ctx).Where(q, args...).Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("agents: %w", err)
	}
	out := make([]wallet.AccountRecord, len(rows))
	for i := range rows {
		out[i] = *rows[i].record()
	}
	return out, nil
}

// AgentTotals counts and sums the agents' floats.
func (s *Store) AgentTotals(ctx context.Context, below int64) (wallet.AgentTotals, error) {
	var t wallet.AgentTotals
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT COUNT(*), COALESCE(SUM(CASE WHEN balance < ? THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(balance), 0) FROM accounts WHERE kind = ?`), below, string(wallet.KindAgent)).Scan(&t.Agents, &t.Low, &t.Float)
	if err != nil {
		return t, fmt.Errorf("agent totals: %w", err)
	}
	return t, nil
}

// commissionAccountsMax bounds the accounts of one CommissionSums: a page
// of the agents report.
const commissionAccountsMax = wallet.AgentsPageMax + 1

// CommissionSums sums each account's commission postings since each time,
// in one statement over idx_postings_commission (the leg is a literal so
// the partial index applies, as in SumPostings).
func (s *Store) CommissionSums(ctx context.Context, accounts []int64, since []time.Time) (map[int64][]int64, error) {
	if len(accounts) == 0 || len(accounts) > commissionAccountsMax || len(since) == 0 || len(since) > sumWindowsMax {
		return nil, fmt.Errorf("commission sums: %d accounts and %d periods, want 1 to %d and 1 to %d",
			len(accounts), len(since), commissionAccountsMax, sumWindowsMax)
	}
	cols, args, from := sinceSums(since)
	in, inArgs := inList(s.pg, "account_id", accounts)
	args = append(append(args, inArgs...), from.UTC())
	q := "SELECT account_id, " + strings.Join(cols, ", ") + " FROM postings WHERE " + in + " AND leg = '" +
		string(wallet.LegCommission) + "' AND created_at >= ? GROUP BY account_id"
	rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("commission sums: %w", err)
	}
	defer rows.Close()
	out := map[int64][]int64{}
	for rows.Next() {
		var id int64
		sums := make([]int64, len(since))
		dst := []any{&id}
		for i := range sums {
			dst = append(dst, &sums[i])
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, fmt.Errorf("commission sums: %w", err)
		}
		out[id] = sums
	}
	return out, rows.Err()
}

// floatReferencesMax bounds the references of one FloatIssues: a bank
// statement's lines.
const floatReferencesMax = wallet.BankLinesMax

// FloatIssues returns the float issues in an id range or with one of the
// given (upper-case) references. The kind is a literal so that the partial
// index of float issues applies; a reference compares upper-cased, which
// that index cannot serve, but it holds only float issues.
func (s *Store) FloatIssues(ctx context.Context, from, to int64, references []string, limit int) ([]wallet.FloatIssue, error) {
	if len(references) > floatReferencesMax {
		return nil, fmt.Errorf("float issues: %d references, want at most %d", len(references), floatReferencesMax)
	}
	cond := "(t.id >= ? AND t.id < ?)"
	args := []any{from, to}
	if len(references) > 0 {
		in, inArgs := inList(s.pg, "UPPER(TRIM(t.reference))", references)
		cond = "(" + cond + " OR " + in + ")"
		args = append(args, inArgs...)
	}
	args = append(args, limit)
	q := `SELECT t.id, t.amount, t.reference, t.created_at, a.number, a.name FROM transfers t
		JOIN accounts a ON a.id = t.target WHERE t.kind = '` + string(wallet.TransferFloat) + `' AND ` + cond + ` ORDER BY t.id LIMIT ?`
	rows, err := s.db.QueryContext(ctx, s.rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("float issues: %w", err)
	}
	defer rows.Close()
	out := []wallet.FloatIssue{}
	for rows.Next() {
		var f wallet.FloatIssue
		if err := rows.Scan(&f.ID, &f.Amount, &f.Reference, &f.Created, &f.Agent, &f.AgentName); err != nil {
			return nil, fmt.Errorf("float issues: %w", err)
		}
		f.Ref, f.Created = wallet.Ref(f.ID), f.Created.UTC()
		out = append(out, f)
	}
	return out, rows.Err()
}

// sinceSums returns a column summing amount since each time of since, their
// arguments, and the earliest time (the range every column lies in).
func sinceSums(since []time.Time) (cols []string, args []any, from time.Time) {
	cols = make([]string, len(since))
	args = make([]any, 0, len(since)+2)
	from = since[0]
	for i, t := range since {
		cols[i] = "COALESCE(SUM(CASE WHEN created_at >= ? THEN amount ELSE 0 END), 0)"
		args = append(args, t.UTC())
		if t.Before(from) {
			from = t
		}
	}
	return cols, args, from
}
