package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	walletstore "github.com/kibubu/kibubu/wallet/store"
)

// tabModels are the tables of tabs and their charges and settlements: see
// package wallet/merchant.
var tabModels = []any{&tabRow{}, &tabPayeeRow{}, &tabChargeRow{}, &tabSettlementRow{}}

var _ merchant.TabStore = (*Store)(nil)

// tabRow is a tab. idx_tabs_phone serves a customer's pending approvals;
// idx_tabs_done keeps the sweeper's scan to the tabs not yet finished.
type tabRow struct {
	ID           string     `gorm:"primaryKey;size:40"`
	Merchant     string     `gorm:"size:32;not null;uniqueIndex:idx_tabs_idem,priority:1"`
	IdemKey      string     `gorm:"size:128;not null;uniqueIndex:idx_tabs_idem,priority:2"`
	RequestHash  []byte     `gorm:"not null"`
	MerchantName string     `gorm:"size:64;not null;default:''"`
	Phone        string     `gorm:"size:20;not null;index:idx_tabs_phone,priority:1"`
	Language     string     `gorm:"size:8;not null;default:''"`
	Prepaid      bool       `gorm:"not null;default:false"`
	Reference    string     `gorm:"size:32;not null;default:''"`
	Description  string     `gorm:"size:400;not null;default:''"`
	Cap          int64      `gorm:"not null"`
	Charged      int64      `gorm:"not null;default:0"`
	Settled      int64      `gorm:"not null;default:0"`
	Status       string     `gorm:"size:12;not null;index:idx_tabs_phone,priority:2"`
	Reason       string     `gorm:"size:64;not null;default:''"`
	Held         int64      `gorm:"not null;default:0"`
	Released     int64      `gorm:"not null;default:0"`
	HoldAt       *time.Time `gorm:"column:hold_at"`
	Seq          int        `gorm:"not null;default:0"`
	PendingSeq   int        `gorm:"not null;default:0"`
	PendingAt    *time.Time `gorm:"column:pending_at"`
	LastSettled  time.Time  `gorm:"column:last_settled;not null;autoCreateTime:false;autoUpdateTime:false"`
	SuspendedAt  *time.Time `gorm:"column:suspended_at"`
	RetryAt      *time.Time `gorm:"column:retry_at"`
	CloseKey     string     `gorm:"size:128;not null;default:''"`
	ClosingAt    *time.Time `gorm:"column:closing_at"`
	Done         bool       `gorm:"not null;default:false;index:idx_tabs_done"`
	Created      time.Time  `gorm:"column:created_at;not null;autoCreateTime:false"`
	Expires      time.Time  `gorm:"column:expires_at;not null"`
	Updated      time.Time  `gorm:"column:updated_at;not null;autoUpdateTime:false"`
}

func (tabRow) TableName() string { return "tabs" }

// tabPayeeRow is what one merchant earned on a tab (Micro).
type tabPayeeRow struct {
	TabID    string `gorm:"primaryKey;size:40"`
	Merchant string `gorm:"primaryKey;size:32"`
	Pos      int    `gorm:"not null"`
	Accrued  int64  `gorm:"not null"`
	Assigned int64  `gorm:"not null;default:0"`
}

func (tabPayeeRow) TableName() string { return "tab_payees" }

// tabChargeRow is a charge. Its primary key is the idempotency key within
// the tab, the one index the meter needs; the charge's own id is a column.
// idx_tab_charges_charged lists a tab's charges newest first (TabCharges):
// Charged, the tab's total after the charge, grows with every charge of the
// tab (each is more than zero, and the meter applies a tab's charges one at
// a time, the tab locked), so it orders them and is unique within the tab.
// Neither key nor id can serve that: keys are the merchant's, and ids made
// in one group commit share its time. Without the index each page would
// sort all of the tab's charges; with it the meter writes a fifth fewer
// charges/s when a group commit spreads over many tabs (README), still
// twice the target.
type tabChargeRow struct {
	TabID     string    `gorm:"primaryKey;size:40;index:idx_tab_charges_charged,priority:1"`
	IdemKey   string    `gorm:"primaryKey;size:128"`
	ChargeID  string    `gorm:"size:40;not null"`
	Amount    int64     `gorm:"not null"`
	Reference string    `gorm:"size:32;not null;default:''"`
	Splits    string    `gorm:"not null;default:''"`
	Charged   int64     `gorm:"not null;index:idx_tab_charges_charged,priority:2"`
	Created   time.Time `gorm:"column:created_at;not null;autoCreateTime:false"`
}

func (tabChargeRow) TableName() string { return "tab_charges" }

// tabSettlementRow is one settlement; Shares is the payees' shares as JSON.
type tabSettlementRow struct {
	TabID    string    `gorm:"primaryKey;size:40"`
	Seq      int       `gorm:"primaryKey;autoIncrement:false"`
	Amount   int64     `gorm:"not null"`
	Fee      int64     `gorm:"not null;default:0"`
	Source   string    `gorm:"size:32;not null"`
	Shares   string    `gorm:"not null"`
	Status   string    `gorm:"size:12;not null"`
	Reason   string    `gorm:"size:64;not null;default:''"`
	Transfer string    `gorm:"size:16;not null;default:''"`
	Created  time.Time `gorm:"column:created_at;not null;autoCreateTime:false"`
	Updated  time.Time `gorm:"column:updated_at;not null;autoUpdateTime:false"`
}

func (tabSettlementRow) TableName() string { return "tab_settlements" }

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func fromTab(t *merchant.TabRecord) *tabRow {
	return &tabRow{ID: t.ID, Merchant: t.Merchant, IdemKey: t.IdemKey, RequestHash: t.Hash, MerchantName: t.MerchantName,
		Phone: t.Phone, Language: t.Language, Prepaid: t.Prepaid, Reference: t.Reference, Description: t.Description,
		Cap: int64(t.Cap), Charged: int64(t.Charged), Settled: int64(t.Settled), Status: string(t.Status), Reason: t.Reason,
		Held: t.Held, Released: t.Released, HoldAt: timePtr(t.HoldAt), Seq: t.Seq, PendingSeq: t.PendingSeq,
		PendingAt: timePtr(t.PendingAt), LastSettled: t.LastSettled.UTC(), SuspendedAt: timePtr(t.SuspendedAt), RetryAt: timePtr(t.RetryAt), CloseKey: t.CloseKey,
		ClosingAt: timePtr(t.ClosingAt), Done: t.Done, Created: t.Created.UTC(), Expires: t.Expires.UTC(), Updated: t.Updated.UTC()}
}

func (r *tabRow) record() *merchant.TabRecord {
	return &merchant.TabRecord{
		Tab: merchant.Tab{ID: r.ID, Merchant: r.Merchant, MerchantName: r.MerchantName, Phone: r.Phone, Prepaid: r.Prepaid,
			Reference: r.Reference, Description: r.Description, Cap: wallet.Micro(r.Cap), Charged: wallet.Micro(r.Charged),
			Settled: wallet.Micro(r.Settled), Status: merchant.TabStatus(r.Status), Reason: r.Reason, Created: r.Created.UTC(),
			Expires: r.Expires.UTC(), Updated: r.Updated.UTC()},
		IdemKey: r.IdemKey, Hash: r.RequestHash, Language: r.Language, Held: r.Held, Released: r.Released,
		HoldAt: timeOf(r.HoldAt), Seq: r.Seq, PendingSeq: r.PendingSeq, PendingAt: timeOf(r.PendingAt),
		LastSettled: r.LastSettled.UTC(), SuspendedAt: timeOf(r.SuspendedAt), RetryAt: timeOf(r.RetryAt), CloseKey: r.CloseKey, ClosingAt: timeOf(r.ClosingAt),
		Done: r.Done,
	}
}

// CreateTab inserts t with its event, or returns the merchant's tab that
// already holds t.IdemKey.
func (s *Store) CreateTab(ctx context.Context, t *merchant.TabRecord, ev merchant.OutboxEvent, gate merchant.PromptGate) (*merchant.TabRecord, error) {
	var existing *merchant.TabRecord
	err := s.w.GormTx(ctx, walletstore.Retryable, func(tx *gorm.DB) error {
		existing = nil
		row, err := walletstore.First[tabRow](tx, "merchant = ? AND idem_key = ?", t.Merchant, t.IdemKey)
		if err != nil {
			return fmt.Errorf("find tab: %w", err)
		}
		if row != nil {
			existing = row.record()
			return nil
		}
		if err := admitPrompt(tx, gate, t.Merchant, t.Phone); err != nil {
			return err
		}
		if err := tx.Create(fromTab(t)).Error; err != nil {
			return fmt.Errorf("create tab: %w", err)
		}
		return insertEvents(tx, []merchant.OutboxEvent{ev})
	})
	return existing, err
}

// TabByID returns a tab.
func (s *Store) TabByID(ctx context.Context, id string) (*merchant.TabRecord, error) {
	row, err := walletstore.ByID[tabRow](ctx, s.gdb, "tab", id)
	if err != nil {
		return nil, err
	}
	return row.record(), nil
}

// PendingTabs returns the tabs waiting for phone's approval, oldest first.
func (s *Store) PendingTabs(ctx context.Context, phone string, limit int) ([]merchant.TabRecord, error) {
	var rows []tabRow
	if err := s.gdb.WithContext(ctx).Where("phone = ? AND status = ?", phone, string(merchant.TabPending)).
		Order("created_at, id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("pending tabs: %w", err)
	}
	return walletstore.Records(rows, (*tabRow).record), nil
}

// Tabs returns merchant's tabs in one of statuses (any when none), newest
// first: ids sort by their time (merchant's newID). It reads idx_tabs_idem
// for the merchant.
func (s *Store) Tabs(ctx context.Context, owner string, statuses []merchant.TabStatus, before string, limit int) ([]merchant.TabRecord, error) {
	in := make([]string, len(statuses))
	for i, st := range statuses {
		in[i] = string(st)
	}
	q := s.gdb.WithContext(ctx).Where("merchant = ?", owner)
	if len(in) > 0 {
		q = q.Where("status IN ?", in)
	}
	if before != "" {
		q = q.Where("id < ?", before)
	}
	var rows []tabRow
	if err := q.Order("id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("tabs: %w", err)
	}
	return walletstore.Records(rows, (*tabRow).record), nil
}

// TabSettlements returns a tab's settlements in sequence order.
func (s *Store) TabSettlements(ctx context.Context, tab string) ([]merchant.Settlement, error) {
	var rows []tabSettlementRow
	if err := s.gdb.WithContext(ctx).Where("tab_id = ?", tab).Order("seq").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("tab settlements: %w", err)
	}
	out := make([]merchant.Settlement, len(rows))
	for i, r := range rows {
		st, err := r.settlement()
		if err != nil {
			return nil, err
		}
		out[i] = *st
	}
	return out, nil
}

func (r *tabSettlementRow) settlement() (*merchant.Settlement, error) {
	st := &merchant.Settlement{Tab: r.TabID, Seq: r.Seq, Amount: r.Amount, Fee: r.Fee, Source: r.Source,
		Status: merchant.SettlementStatus(r.Status), Reason: r.Reason, Transfer: r.Transfer,
		Created: r.Created.UTC(), Updated: r.Updated.UTC()}
	if err := json.Unmarshal([]byte(r.Shares), &st.Shares); err != nil {
		return nil, fmt.Errorf("settlement %s/%d: shares: %w", r.TabID, r.Seq, err)
	}
	return st, nil
}

func fromSettlement(st *merchant.Settlement) (*tabSettlementRow, error) {
	shares, err := json.Marshal(st.Shares)
	if err != nil {
		return nil, fmt.Errorf("settlement shares: %w", err)
	}
	return &tabSettlementRow{TabID: st.Tab, Seq: st.Seq, Amount: st.Amount, Fee: st.Fee, Source: st.Source,
		Shares: string(shares), Status: string(st.Status), Reason: st.Reason, Transfer: st.Transfer,
		Created: st.Created.UTC(), Updated: st.Updated.UTC()}, nil
}

// The SQL that writes a tab back, and a payee (insert or update).
const (
	sqlUpdateTab = `UPDATE tabs SET charged = ?, settled = ?, status = ?, reason = ?, held = ?, released = ?,
		hold_at = ?, seq = ?, pending_seq = ?, pending_at = ?, last_settled = ?, suspended_at = ?, retry_at = ?, close_key = ?,
		closing_at = ?, done = ?, updated_at = ? WHERE id = ?`
	sqlUpsertPayee = `INSERT INTO tab_payees (tab_id, merchant, pos, accrued, assigned) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (tab_id, merchant) DO UPDATE SET accrued = excluded.accrued, assigned = excluded.assigned`
)

// EditTab loads a tab locked, lets fn change it, and writes it back.
func (s *Store) EditTab(ctx context.Context, id string, fn func(e *merchant.TabEdit) error) error {
	return s.w.GormTx(ctx, walletstore.Retryable, func(tx *gorm.DB) error {
		locked := tx
		if s.pg {
			locked = tx.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		row, err := walletstore.First[tabRow](locked, "id = ?", id)
		if err != nil {
			return fmt.Errorf("lock tab: %w", err)
		}
		if row == nil {
			return wallet.Errorf(wallet.CodeNotFound, "no tab %q", walletstore.Clip(id))
		}
		e := &merchant.TabEdit{Tab: row.record()}
		var payees []tabPayeeRow
		if err := tx.Where("tab_id = ?", id).Order("pos").Find(&payees).Error; err != nil {
			return fmt.Errorf("tab payees: %w", err)
		}
		for _, p := range payees {
			e.Payees = append(e.Payees, merchant.TabPayee{Tab: p.TabID, Merchant: p.Merchant, Pos: p.Pos,
				Accrued: wallet.Micro(p.Accrued), Assigned: wallet.Micro(p.Assigned)})
		}
		if e.Tab.PendingSeq != 0 {
			sr, err := walletstore.First[tabSettlementRow](tx, "tab_id = ? AND seq = ?", id, e.Tab.PendingSeq)
			if err != nil {
				return fmt.Errorf("pending settlement: %w", err)
			}
			if sr == nil {
				return fmt.Errorf("tab %s: pending settlement %d is missing", id, e.Tab.PendingSeq)
			}
			if e.Settlement, err = sr.settlement(); err != nil {
				return err
			}
		}
		if err := fn(e); err != nil {
			return err
		}
		return s.writeEdit(tx, id, e)
	})
}

func (s *Store) writeEdit(tx *gorm.DB, id string, e *merchant.TabEdit) error {
	t := e.Tab
	if t.ID != id {
		panic("store: EditTab's function changed the tab's id")
	}
	res := tx.Exec(sqlUpdateTab, int64(t.Charged), int64(t.Settled), string(t.Status), t.Reason, t.Held, t.Released,
		timePtr(t.HoldAt), t.Seq, t.PendingSeq, timePtr(t.PendingAt), t.LastSettled.UTC(), timePtr(t.SuspendedAt), timePtr(t.RetryAt), t.CloseKey,
		timePtr(t.ClosingAt), t.Done, t.Updated.UTC(), id)
	if res.Error != nil {
		return fmt.Errorf("update tab: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("update tab %s: %d rows updated", id, res.RowsAffected)
	}
	for _, p := range e.Payees {
		if err := tx.Exec(sqlUpsertPayee, id, p.Merchant, p.Pos, int64(p.Accrued), int64(p.Assigned)).Error; err != nil {
			return fmt.Errorf("tab payee: %w", err)
		}
	}
	if st := e.Settlement; st != nil {
		res := tx.Exec("UPDATE tab_settlements SET fee = ?, status = ?, reason = ?, transfer = ?, updated_at = ? WHERE tab_id = ? AND seq = ?",
			st.Fee, string(st.Status), st.Reason, st.Transfer, st.Updated.UTC(), id, st.Seq)
		if res.Error != nil {
			return fmt.Errorf("update settlement: %w", res.Error)
		}
	}
	if st := e.NewSettlement; st != nil {
		row, err := fromSettlement(st)
		if err != nil {
			return err
		}
		if err := tx.Create(row).Error; err != nil {
			return fmt.Errorf("insert settlement: %w", err)
		}
	}
	return insertEvents(tx, e.Events)
}

// TabsToSweep returns the ids of the tabs the sweeper may have work on.
func (s *Store) TabsToSweep(ctx context.Context, q merchant.SweepQuery) ([]string, error) {
	const sweep = `SELECT id FROM tabs WHERE done = ? AND (
		(expires_at <= ? AND status IN ('pending', 'active'))
		OR (hold_at IS NOT NULL AND hold_at <= ?)
		OR (pending_seq <> 0 AND pending_at <= ?)
		OR (close_key <> '' AND closing_at <= ? AND status <> 'suspended')
		OR status IN ('closed', 'declined')
		OR (status = 'active' AND (charged - settled >= ? OR (last_settled <= ? AND charged - settled >= ?)))
		OR (status = 'suspended' AND retry_at <= ?)
	) ORDER BY id LIMIT ?`
	rows, err := s.db.QueryContext(ctx, s.w.Rebind(sweep), false, q.Now.UTC(), q.Lease.UTC(), q.Lease.UTC(), q.Lease.UTC(),
		int64(q.Threshold), q.Daily.UTC(), int64(q.Unit), q.Now.UTC(), q.Limit)
	if err != nil {
		return nil, fmt.Errorf("tabs to sweep: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("tabs to sweep: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Meter runs one group commit of charges in a transaction, retrying it on
// transient conflicts.
func (s *Store) Meter(ctx context.Context, fn func(merchant.MeterTx) error) error {
	return s.w.WriteSQL(ctx, func(tx *sql.Tx) error { return fn(&meterTx{s: s, tx: tx, ctx: ctx}) })
}

// meterTx is one meter batch's transaction.
type meterTx struct {
	s   *Store
	tx  *sql.Tx
	ctx context.Context
}

const tabCols = `id, merchant, idem_key, request_hash, merchant_name, phone, language, prepaid, reference, description,
	cap, charged, settled, status, reason, held, released, hold_at, seq, pending_seq, pending_at, last_settled, suspended_at, retry_at,
	close_key, closing_at, done, created_at, expires_at, updated_at`

func scanTab(rows *sql.Rows) (*merchant.TabRecord, error) {
	var r tabRow
	err := rows.Scan(&r.ID, &r.Merchant, &r.IdemKey, &r.RequestHash, &r.MerchantName, &r.Phone, &r.Language, &r.Prepaid,
		&r.Reference, &r.Description, &r.Cap, &r.Charged, &r.Settled, &r.Status, &r.Reason, &r.Held, &r.Released, &r.HoldAt,
		&r.Seq, &r.PendingSeq, &r.PendingAt, &r.LastSettled, &r.SuspendedAt, &r.RetryAt, &r.CloseKey, &r.ClosingAt, &r.Done, &r.Created,
		&r.Expires, &r.Updated)
	return r.record(), err
}

// meterChunk bounds the rows of one multi-row statement of the meter:
// 256 charges × 8 columns stays far below SQLite's parameter limit.
const meterChunk = 256

// Load reads the batch's tabs (locked, on PostgreSQL, in id order), their
// payees and the charges already stored under keys.
func (m *meterTx) Load(tabIDs []string, keys []merchant.ChargeKey) (*merchant.MeterState, error) {
	s := m.s
	st := &merchant.MeterState{Tabs: make(map[string]*merchant.TabRecord, len(tabIDs)),
		Payees: make(map[string][]merchant.TabPayee, len(tabIDs)), Charges: map[merchant.ChargeKey]*merchant.ChargeRecord{}}
	for start := 0; start < len(tabIDs); start += walletstore.ChunkRows {
		cond, args := walletstore.InList(s.pg, "id", tabIDs[start:min(start+walletstore.ChunkRows, len(tabIDs))])
		q := "SELECT " + tabCols + " FROM tabs WHERE " + cond + " ORDER BY id"
		if s.pg {
			q += " FOR UPDATE"
		}
		rows, err := m.tx.QueryContext(m.ctx, s.w.Rebind(q), args...)
		if err != nil {
			return nil, fmt.Errorf("lock tabs: %w", err)
		}
		for rows.Next() {
			t, err := scanTab(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("lock tabs: %w", err)
			}
			st.Tabs[t.ID] = t
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("lock tabs: %w", err)
		}
		rows, err = m.tx.QueryContext(m.ctx, s.w.Rebind("SELECT tab_id, merchant, pos, accrued, assigned FROM tab_payees WHERE "+
			strings.Replace(cond, "id", "tab_id", 1)+" ORDER BY tab_id, pos"), args...)
		if err != nil {
			return nil, fmt.Errorf("tab payees: %w", err)
		}
		for rows.Next() {
			var p merchant.TabPayee
			if err := rows.Scan(&p.Tab, &p.Merchant, &p.Pos, &p.Accrued, &p.Assigned); err != nil {
				rows.Close()
				return nil, fmt.Errorf("tab payees: %w", err)
			}
			st.Payees[p.Tab] = append(st.Payees[p.Tab], p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("tab payees: %w", err)
		}
	}
	if s.pg {
		for start := 0; start < len(keys); start += walletstore.ChunkRows * 4 {
			if err := m.loadChargesPostgres(st, keys[start:min(start+walletstore.ChunkRows*4, len(keys))]); err != nil {
				return nil, err
			}
		}
		return st, nil
	}
	rest := keys
	for _, size := range chargeChunks {
		for len(rest) >= size {
			if err := m.loadChargesSQLite(st, rest[:size]); err != nil {
				return nil, err
			}
			rest = rest[size:]
		}
	}
	return st, nil
}

const chargeCols = "tab_id, idem_key, charge_id, amount, reference, splits, charged, created_at"

// loadChargesPostgres finds the charges stored under keys, passed as two
// arrays (one plan per connection, whatever the batch's size).
func (m *meterTx) loadChargesPostgres(st *merchant.MeterState, keys []merchant.ChargeKey) error {
	tabs, ks := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		tabs[i], ks[i] = k.Tab, k.Key
	}
	rows, err := m.tx.QueryContext(m.ctx, `SELECT c.tab_id, c.idem_key, c.charge_id, c.amount, c.reference, c.splits, c.charged,
		c.created_at FROM tab_charges c JOIN unnest($1::text[], $2::text[]) AS k(tab_id, idem_key)
		ON c.tab_id = k.tab_id AND c.idem_key = k.idem_key`, tabs, ks)
	if err != nil {
		return fmt.Errorf("find charges: %w", err)
	}
	return scanCharges(st, rows)
}

// loadChargesSQLite finds the charges stored under keys (one of
// chargeChunks long) with a prepared row-value list, which the primary key
// serves.
func (m *meterTx) loadChargesSQLite(st *merchant.MeterState, keys []merchant.ChargeKey) error {
	p, err := m.s.w.Prepared(multiRow("SELECT "+chargeCols+" FROM tab_charges WHERE (tab_id, idem_key) IN (VALUES ", "(?,?)", len(keys), ")"))
	if err != nil {
		return err
	}
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, k.Tab, k.Key)
	}
	rows, err := m.tx.StmtContext(m.ctx, p).QueryContext(m.ctx, args...)
	if err != nil {
		return fmt.Errorf("find charges: %w", err)
	}
	return scanCharges(st, rows)
}

func scanCharges(st *merchant.MeterState, rows *sql.Rows) error {
	defer rows.Close()
	for rows.Next() {
		c, err := scanCharge(rows)
		if err != nil {
			return fmt.Errorf("find charges: %w", err)
		}
		st.Charges[merchant.ChargeKey{Tab: c.Tab, Key: c.Key}] = c
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find charges: %w", err)
	}
	return nil
}

// scanCharge reads a row of chargeCols.
func scanCharge(rows *sql.Rows) (*merchant.ChargeRecord, error) {
	c := &merchant.ChargeRecord{}
	if err := rows.Scan(&c.Tab, &c.Key, &c.ID, &c.Amount, &c.Reference, &c.Splits, &c.Charged, &c.Created); err != nil {
		return nil, err
	}
	c.Created = c.Created.UTC()
	return c, nil
}

// TabCharges returns up to limit of a tab's charges, newest first: those
// after which the tab's total was below before, or all of them when before
// is 0. It walks idx_tab_charges_charged backwards from before and stops
// after limit rows, whatever the tab's size.
func (s *Store) TabCharges(ctx context.Context, tab string, before wallet.Micro, limit int) ([]merchant.ChargeRecord, error) {
	q := "SELECT " + chargeCols + " FROM tab_charges WHERE tab_id = ?"
	args := []any{tab}
	if before > 0 {
		q += " AND charged < ?"
		args = append(args, int64(before))
	}
	q += " ORDER BY charged DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.w.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("tab charges: %w", err)
	}
	defer rows.Close()
	var out []merchant.ChargeRecord
	for rows.Next() {
		c, err := scanCharge(rows)
		if err != nil {
			return nil, fmt.Errorf("tab charges: %w", err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tab charges: %w", err)
	}
	return out, nil
}

// multiRow returns head, then n copies of row joined by commas, then tail:
// a multi-row statement's text.
func multiRow(head, row string, n int, tail string) string {
	var b strings.Builder
	b.Grow(len(head) + n*(len(row)+1) + len(tail))
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	b.WriteString(tail)
	return b.String()
}

// Save writes the batch: on PostgreSQL one array statement per table, on
// SQLite multi-row statements of meterChunk rows (and smaller ones for the
// rest), each prepared once.
func (m *meterTx) Save(w *merchant.MeterWrite) error {
	if m.s.pg {
		return m.savePostgres(w)
	}
	return m.saveSQLite(w)
}

func (m *meterTx) savePostgres(w *merchant.MeterWrite) error {
	if n := len(w.Charges); n > 0 {
		tab, key, id, ref, splits := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		amount, charged := make([]int64, n), make([]int64, n)
		created := make([]time.Time, n)
		for i, c := range w.Charges {
			tab[i], key[i], id[i], ref[i], splits[i] = c.Tab, c.Key, c.ID, c.Reference, c.Splits
			amount[i], charged[i], created[i] = int64(c.Amount), int64(c.Charged), c.Created.UTC()
		}
		if _, err := m.tx.ExecContext(m.ctx, `INSERT INTO tab_charges (tab_id, idem_key, charge_id, amount, reference, splits, charged, created_at)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[], $8::timestamptz[])`,
			tab, key, id, amount, ref, splits, charged, created); err != nil {
			return fmt.Errorf("insert charges: %w", err)
		}
	}
	if n := len(w.Tabs); n > 0 {
		id, charged, updated := make([]string, n), make([]int64, n), make([]time.Time, n)
		for i, t := range w.Tabs {
			id[i], charged[i], updated[i] = t.ID, int64(t.Charged), t.Updated.UTC()
		}
		res, err := m.tx.ExecContext(m.ctx, `UPDATE tabs SET charged = v.charged, updated_at = v.updated
			FROM unnest($1::text[], $2::bigint[], $3::timestamptz[]) AS v(id, charged, updated) WHERE tabs.id = v.id`,
			id, charged, updated)
		if err != nil {
			return fmt.Errorf("update tabs: %w", err)
		}
		if got, err := res.RowsAffected(); err == nil && got != int64(n) {
			return fmt.Errorf("update tabs: %d of %d rows updated", got, n)
		}
	}
	if n := len(w.Payees); n > 0 {
		tab, merchant := make([]string, n), make([]string, n)
		pos, accrued, assigned := make([]int64, n), make([]int64, n), make([]int64, n)
		for i, p := range w.Payees {
			tab[i], merchant[i], pos[i], accrued[i], assigned[i] = p.Tab, p.Merchant, int64(p.Pos), int64(p.Accrued), int64(p.Assigned)
		}
		if _, err := m.tx.ExecContext(m.ctx, `INSERT INTO tab_payees (tab_id, merchant, pos, accrued, assigned)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[])
			ON CONFLICT (tab_id, merchant) DO UPDATE SET accrued = excluded.accrued`,
			tab, merchant, pos, accrued, assigned); err != nil {
			return fmt.Errorf("tab payees: %w", err)
		}
	}
	return nil
}

// The sizes of the SQLite meter's multi-row charge inserts: a batch's
// charges go in statements of these sizes, largest first.
var chargeChunks = []int{meterChunk, 64, 16, 4, 1}

func (m *meterTx) saveSQLite(w *merchant.MeterWrite) error {
	s := m.s
	rest := w.Charges
	args := make([]any, 0, 8*meterChunk)
	for _, size := range chargeChunks {
		if len(rest) < size {
			continue
		}
		p, err := s.w.Prepared(multiRow("INSERT INTO tab_charges ("+chargeCols+") VALUES ", "(?,?,?,?,?,?,?,?)", size, ""))
		if err != nil {
			return err
		}
		stmt := m.tx.StmtContext(m.ctx, p)
		for len(rest) >= size {
			args = args[:0]
			for _, c := range rest[:size] {
				args = append(args, c.Tab, c.Key, c.ID, int64(c.Amount), c.Reference, c.Splits, int64(c.Charged), c.Created)
			}
			if _, err := stmt.ExecContext(m.ctx, args...); err != nil {
				return fmt.Errorf("insert charges: %w", err)
			}
			rest = rest[size:]
		}
	}
	if len(w.Tabs) > 0 {
		p, err := s.w.Prepared("UPDATE tabs SET charged = ?, updated_at = ? WHERE id = ?")
		if err != nil {
			return err
		}
		stmt := m.tx.StmtContext(m.ctx, p)
		for _, t := range w.Tabs {
			res, err := stmt.ExecContext(m.ctx, int64(t.Charged), t.Updated.UTC(), t.ID)
			if err != nil {
				return fmt.Errorf("update tab: %w", err)
			}
			if n, err := res.RowsAffected(); err == nil && n != 1 {
				return fmt.Errorf("update tab %s: %d rows updated", t.ID, n)
			}
		}
	}
	if len(w.Payees) > 0 {
		p, err := s.w.Prepared(`INSERT INTO tab_payees (tab_id, merchant, pos, accrued, assigned) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (tab_id, merchant) DO UPDATE SET accrued = excluded.accrued`)
		if err != nil {
			return err
		}
		stmt := m.tx.StmtContext(m.ctx, p)
		for _, py := range w.Payees {
			if _, err := stmt.ExecContext(m.ctx, py.Tab, py.Merchant, py.Pos, int64(py.Accrued), int64(py.Assigned)); err != nil {
				return fmt.Errorf("tab payee: %w", err)
			}
		}
	}
	return nil
}
