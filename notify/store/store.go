package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/notify"
	walletstore "github.com/kibubu/kibubu/wallet/store"
)

// statusRank orders the statuses: a report may only raise a row's rank.
var statusRank = map[string]int{
	notify.StatusPending:     0,
	notify.StatusSending:     1,
	notify.StatusAccepted:    2,
	notify.StatusQueued:      3,
	notify.StatusSent:        4,
	notify.StatusDelivered:   5,
	notify.StatusUndelivered: 5,
	notify.StatusFailed:      5,
}

const (
	// errorBytesMax bounds a kept error so one verbose provider answer
	// cannot bloat the table.
	errorBytesMax = 512
	// recordRowsMax bounds one Record call: a consumer's fetch batch is far
	// smaller, so more is a bug in the caller.
	recordRowsMax = 10_000
	// recordChunkRows bounds the rows of one INSERT statement: SQLite allows
	// 32,766 parameters and a row takes 14.
	recordChunkRows = 500
	// listRowsDefault and listRowsMax bound List when the filter does not.
	listRowsDefault = 50
	listRowsMax     = 1000
)

// smsRow is a row of sms_messages: one SMS to send, keyed for dedup. Status
// and NextAttemptAt together schedule the Sender: a pending row is due at
// NextAttemptAt; a sending row's NextAttemptAt is the end of its lease (or,
// when in doubt, when it is to be reconciled), after which any Sender may
// claim it again.
type smsRow struct {
	ID            int64     `gorm:"primaryKey;autoIncrement"`
	Key           string    `gorm:"size:160;not null;uniqueIndex"`
	Kind          string    `gorm:"size:16;not null"`
	TransferID    int64     `gorm:"not null;default:0"`
	AccountID     int64     `gorm:"not null;default:0"`
	Phone         string    `gorm:"size:20;not null;index"`
	Language      string    `gorm:"size:8;not null;default:''"`
	Text          string    `gorm:"not null"`
	Encoding      string    `gorm:"size:8;not null"`
	Parts         int       `gorm:"not null"`
	Status        string    `gorm:"size:16;not null;index:idx_sms_messages_due,priority:1;index:idx_sms_messages_created,priority:2"`
	NextAttemptAt time.Time `gorm:"not null;index:idx_sms_messages_due,priority:2"`
	Attempts      int       `gorm:"not null;default:0"`
	Provider      string    `gorm:"size:16;not null;default:''"`
	ProviderID    string    `gorm:"size:64;not null;default:'';index"`
	// Claim is the token of the Sender's claim: every claim writes a new
	// one, and a Sender records an outcome only where the row still carries
	// its token (compare and set), so a Sender whose lease expired cannot
	// overwrite the work of the one that took the row over.
	Claim string `gorm:"size:32;not null;default:''"`
	// ClaimedAt is when the attempt now in doubt began: reconciliation looks
	// for the message at the provider from a little before it.
	ClaimedAt *time.Time
	// InDoubt is set when a Sender claims a row that was already sending:
	// the previous holder may have handed it to the provider.
	InDoubt   bool   `gorm:"not null;default:false"`
	LastError string `gorm:"size:512;not null;default:''"`
	ErrorCode string `gorm:"size:16;not null;default:''"`
	// CreatedAt and Status index FailureRates' range by day, covering it.
	CreatedAt   time.Time `gorm:"not null;autoCreateTime:false;index:idx_sms_messages_created,priority:1"`
	UpdatedAt   time.Time `gorm:"not null;autoUpdateTime:false"`
	SentAt      *time.Time
	DeliveredAt *time.Time
}

// TableName is the table's name for gorm.
func (smsRow) TableName() string { return "sms_messages" }

func (r *smsRow) stored() notify.Stored {
	s := notify.Stored{ID: r.ID, Key: r.Key, Kind: r.Kind, Transfer: r.TransferID, Account: r.AccountID, To: r.Phone,
		Language: r.Language, Text: r.Text, Encoding: r.Encoding, Parts: r.Parts, Status: r.Status,
		Provider: r.Provider, ProviderID: r.ProviderID, Attempts: r.Attempts, NextAttempt: r.NextAttemptAt.UTC(),
		InDoubt: r.InDoubt, LastError: r.LastError, ErrorCode: r.ErrorCode, Created: r.CreatedAt.UTC(),
		Updated: r.UpdatedAt.UTC()}
	if r.SentAt != nil {
		s.Sent = r.SentAt.UTC()
	}
	if r.DeliveredAt != nil {
		s.Delivered = r.DeliveredAt.UTC()
	}
	return s
}

// Store keeps the SMS the notifier is to send, or has sent, in the table
// sms_messages of the wallet's database (SQLite or PostgreSQL). Recording a
// key is the promise: a recorded SMS is sent (or marked failed) exactly
// once, whichever process records it again and however many Senders run.
// It also keeps the merchants' webhook endpoints and deliveries
// (webhook_store.go): a recorded delivery is POSTed at least once, in order
// per merchant, until delivered or out of time.
type Store struct {
	db *gorm.DB
	pg bool

	// writeMu serializes this Store's writes on SQLite, which takes one
	// writer at a time: waiting here is a queue, while waiting in SQLite's
	// busy handler is a sleep of up to 25 ms per try, which bounded the
	// Senders' throughput under their own contention.
	writeMu sync.Mutex

	smsWakers  wakers[*Sender]        // Senders running on this Store, woken by Record
	hookWakers wakers[*WebhookSender] // WebhookSenders running on this Store

	failures failureCache // FailureRates' closed days (report.go)
}

// wakers is a set of senders to wake after a commit.
type wakers[W interface {
	comparable
	Wake()
}] struct {
	mu sync.Mutex
	m  map[W]struct{}
}

func (ws *wakers[W]) add(w W) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.m == nil {
		ws.m = map[W]struct{}{}
	}
	ws.m[w] = struct{}{}
}

func (ws *wakers[W]) remove(w W) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	delete(ws.m, w)
}

func (ws *wakers[W]) wake() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for w := range ws.m {
		w.Wake()
	}
}

// writing takes the write lock on SQLite (nothing on PostgreSQL) and
// returns its release.
func (s *Store) writing() func() {
	if s.pg {
		return func() {}
	}
	s.writeMu.Lock()
	return s.writeMu.Unlock
}

// Open migrates notify's tables on db (from store.Connect of the wallet, or the
// wallet store's DB in the same process; see Migrate) and returns the
// Store on it.
func Open(ctx context.Context, db *gorm.DB) (*Store, error) {
	if err := Migrate(ctx, db); err != nil {
		return nil, err
	}
	return New(db), nil
}

// New returns the Store on db without migrating: Migrate (or
// `kibubu migrate`) must have run; CheckMigrated says whether it has.
func New(db *gorm.DB) *Store {
	return &Store{db: db, pg: db.Dialector.Name() == "postgres"}
}

// schemaComponent names notify's tables in the database's migration record.
const schemaComponent = "notify"

// models are notify's tables: sms_messages, the inbound messages replies
// answer, sms_consents, and the webhook
// tables webhook_endpoints, webhook_deliveries and webhook_attempts.
func models() []any { return append([]any{&smsRow{}, &Inbound{}, &consent{}}, webhookModels...) }

// Migrate creates or alters notify's tables on db, once, under the lock
// every migration holds (walletstore.MigrateOnce): several notifiers, wallets
// and `kibubu migrate` may run at once.
func Migrate(ctx context.Context, db *gorm.DB) error {
	digest, err := walletstore.Digest(db, models()...)
	if err != nil {
		return err
	}
	return walletstore.MigrateOnce(ctx, db, schemaComponent, digest, func(ctx context.Context, db *gorm.DB) error {
		if err := db.WithContext(ctx).AutoMigrate(models()...); err != nil {
			return fmt.Errorf("migrate notify: %w", err)
		}
		return nil
	})
}

// CheckMigrated returns an error wrapping walletstore.ErrNotMigrated unless
// Migrate ran on db with this version's tables.
func CheckMigrated(ctx context.Context, db *gorm.DB) error {
	digest, err := walletstore.Digest(db, models()...)
	if err != nil {
		return err
	}
	return walletstore.CheckMigrated(ctx, db, schemaComponent, digest)
}

// Record inserts the SMS whose keys are new, in one transaction, and
// returns how many it inserted; a key recorded before (by any process) is
// skipped, so a redelivered event or message records nothing twice. It
// fails, inserting nothing, if any SMS fails Validate or there are more
// than 10,000. After a commit it wakes the Senders running on this Store.
func (s *Store) Record(ctx context.Context, out []notify.Outgoing) (inserted int, err error) {
	inserted, _, err = s.RecordBatch(ctx, out, nil)
	return inserted, err
}

// RecordBatch inserts the SMS and the webhook deliveries (of merchants with an
// endpoint) whose keys are new, in one transaction, and returns how many of
// each it inserted. After the commit it wakes the Senders and
// WebhookSenders running on this Store.
func (s *Store) RecordBatch(ctx context.Context, out []notify.Outgoing, hooks []notify.OutgoingWebhook) (sms, webhooks int, err error) {
	if len(out) == 0 && len(hooks) == 0 {
		return 0, 0, nil
	}
	if len(out) > recordRowsMax || len(hooks) > recordRowsMax {
		return 0, 0, fmt.Errorf("notify: record %d sms and %d webhooks, at most %d of each at once", len(out), len(hooks), recordRowsMax)
	}
	now := time.Now().UTC()
	rows := make([]smsRow, len(out))
	for i, o := range out {
		if err := o.Validate(); err != nil {
			return 0, 0, err
		}
		enc, parts := locales.Segments(o.Text)
		rows[i] = smsRow{Key: o.Key, Kind: o.Kind, TransferID: o.Transfer, AccountID: o.Account, Phone: o.To,
			Language: o.Language, Text: o.Text, Encoding: enc, Parts: parts, Status: notify.StatusPending,
			NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
	}
	for _, h := range hooks {
		if err := h.Validate(); err != nil {
			return 0, 0, err
		}
	}
	var n, nh int64
	release := s.writing()
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if n, err = smsInsertion.exec(tx, rows); err != nil {
			return err
		}
		nh, err = recordWebhooks(tx, hooks, now)
		return err
	})
	release()
	if err != nil {
		return 0, 0, fmt.Errorf("record sms: %w", err)
	}
	if n > 0 {
		s.smsWakers.wake()
	}
	if nh > 0 {
		s.hookWakers.wake()
	}
	return int(n), int(nh), nil
}

// insertion writes rows of one table with multi-row INSERTs that skip the
// rows already recorded (ON CONFLICT … DO NOTHING). It is written out
// rather than left to gorm's Create, which would add a RETURNING of the ids
// that ON CONFLICT DO NOTHING leaves short.
type insertion[R any] struct {
	table    string
	cols     string // the columns written, parenthesized
	marks    string // one row's values: a ? per argument, literals for what every new row starts at
	conflict string // the unique columns, parenthesized
	rowsMax  int    // rows per statement (SQLite allows 32,766 parameters)
	values   func(args []any, r *R) []any
}

// exec inserts rows in tx and returns how many were new.
func (in *insertion[R]) exec(tx *gorm.DB, rows []R) (int64, error) {
	perRow := strings.Count(in.marks, "?")
	var n int64
	for len(rows) > 0 {
		chunk := rows[:min(len(rows), in.rowsMax)]
		rows = rows[len(chunk):]
		var b strings.Builder
		b.WriteString("INSERT INTO " + in.table + " " + in.cols + " VALUES ")
		args := make([]any, 0, len(chunk)*perRow)
		for i := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(in.marks)
			args = in.values(args, &chunk[i])
		}
		b.WriteString(" ON CONFLICT " + in.conflict + " DO NOTHING")
		res := tx.Exec(b.String(), args...)
		if res.Error != nil {
			return 0, res.Error
		}
		n += res.RowsAffected
	}
	return n, nil
}

// smsInsertion records SMS, skipping the keys already recorded.
var smsInsertion = &insertion[smsRow]{
	table: "sms_messages",
	cols: `("key", kind, transfer_id, account_id, phone, language, text, encoding, parts, status,
		next_attempt_at, attempts, provider, provider_id, claim, in_doubt, last_error, error_code, created_at, updated_at)`,
	marks:    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '', '', '', ?, '', '', ?, ?)",
	conflict: `("key")`,
	rowsMax:  recordChunkRows,
	values: func(args []any, r *smsRow) []any {
		return append(args, r.Key, r.Kind, r.TransferID, r.AccountID, r.Phone, r.Language, r.Text, r.Encoding,
			r.Parts, r.Status, r.NextAttemptAt, false, r.CreatedAt, r.UpdatedAt)
	},
}

// Report applies a provider's delivery report to the SMS it sent with that
// id. Statuses only move forward: a report older than the row's status (a
// late "sent" after "delivered", a second final status) is ignored and
// Report returns nil. It returns ErrUnknownMessage when no recorded SMS has
// the id: the caller logs it at info. Since a report can overtake the
// Sender's record of the id by milliseconds, a consumer may redeliver such a
// report a few times before dropping it. It returns ErrUnknownStatus for a
// status word it does not know.
func (s *Store) Report(ctx context.Context, r notify.Report) error {
	status, ok := notify.ReportStatus(r.Status)
	if !ok {
		return fmt.Errorf("%w %.20q", notify.ErrUnknownStatus, r.Status)
	}
	at := r.At.UTC()
	if r.At.IsZero() {
		at = time.Now().UTC()
	}
	var earlier []string
	for st, rank := range statusRank {
		if rank >= statusRank[notify.StatusAccepted] && rank < statusRank[status] {
			earlier = append(earlier, st)
		}
	}
	set := map[string]any{"status": status, "updated_at": at}
	if r.ErrorCode != "" {
		set["error_code"] = notify.Clip(r.ErrorCode, 16)
	}
	switch status {
	case notify.StatusDelivered, notify.StatusUndelivered, notify.StatusFailed:
		set["delivered_at"] = at
	}
	if status == notify.StatusUndelivered || status == notify.StatusFailed {
		set["last_error"] = notify.Clip(r.Provider+" reported "+strings.ToLower(r.Status), errorBytesMax)
	}
	release := s.writing()
	res := s.db.WithContext(ctx).Model(&smsRow{}).
		Where("provider = ? AND provider_id = ? AND status IN ?", r.Provider, r.ID, earlier).Updates(set)
	release()
	if res.Error != nil {
		return fmt.Errorf("sms report: %w", res.Error)
	}
	if res.RowsAffected > 0 {
		return nil
	}
	var n int64
	if err := s.db.WithContext(ctx).Model(&smsRow{}).Where("provider = ? AND provider_id = ?", r.Provider, r.ID).
		Count(&n).Error; err != nil {
		return fmt.Errorf("sms report: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s %.64s", notify.ErrUnknownMessage, r.Provider, r.ID)
	}
	return nil
}

// Filter selects recorded SMS for List. Empty fields select everything.
type Filter struct {
	Phone    string // E.164
	Status   string // one of the Status constants
	Provider string // ProviderTwilio or ProviderOutbox
	Kind     string // KindReceipt or KindMessage
	Key      string
	Transfer int64 // the receipts of one transfer
	Before   int64 // only rows with a smaller ID: the next page after the last ID seen
	Limit    int   // at most this many (default 50, at most 1000)
}

// List returns the recorded SMS f selects, newest first: for `kibubu sms
// outbox` (Provider: ProviderOutbox) and for operators looking for failed
// ones (Status: StatusFailed).
func (s *Store) List(ctx context.Context, f Filter) ([]notify.Stored, error) {
	q := s.db.WithContext(ctx).Model(&smsRow{})
	if f.Phone != "" {
		q = q.Where("phone = ?", f.Phone)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Provider != "" {
		q = q.Where("provider = ?", f.Provider)
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	if f.Key != "" {
		q = q.Where(`"key" = ?`, f.Key)
	}
	if f.Transfer != 0 {
		q = q.Where("transfer_id = ?", f.Transfer)
	}
	if f.Before > 0 {
		q = q.Where("id < ?", f.Before)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = listRowsDefault
	}
	var rows []smsRow
	if err := q.Order("id DESC").Limit(min(limit, listRowsMax)).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list sms: %w", err)
	}
	out := make([]notify.Stored, len(rows))
	for i := range rows {
		out[i] = rows[i].stored()
	}
	return out, nil
}

// Backlog is the work left to the Senders, for a gauge.
type Backlog struct {
	Pending int // waiting for their first or next attempt
	Sending int // claimed now, or in doubt and waiting to be checked at the provider
	// OldestDue is the earliest NextAttempt of them (zero when there are
	// none): time.Since(OldestDue) > 0 is how far behind the Senders are.
	OldestDue time.Time
}

// Backlog counts the SMS not yet handed to a provider. It reads only the
// (status, next attempt) index's entries for those, not the sent history.
func (s *Store) Backlog(ctx context.Context) (Backlog, error) {
	var counts []struct {
		Status string
		N      int
	}
	db := s.db.WithContext(ctx)
	if err := db.Model(&smsRow{}).Select("status, COUNT(*) AS n").
		Where("status IN ?", []string{notify.StatusPending, notify.StatusSending}).Group("status").Scan(&counts).Error; err != nil {
		return Backlog{}, fmt.Errorf("sms backlog: %w", err)
	}
	var b Backlog
	for _, c := range counts {
		if c.Status == notify.StatusPending {
			b.Pending = c.N
		} else {
			b.Sending = c.N
		}
	}
	if b.Pending+b.Sending == 0 {
		return b, nil
	}
	t, err := s.nextDue(ctx)
	if err != nil {
		return Backlog{}, fmt.Errorf("sms backlog: %w", err)
	}
	b.OldestDue = t
	return b, nil
}

// Requeue makes failed SMS pending again with a fresh count of attempts,
// for an operator who fixed what made them fail (credentials, a provider
// outage longer than the retries). It returns how many it requeued; ids
// that are not failed are left alone, so it never sends anything twice.
func (s *Store) Requeue(ctx context.Context, ids ...int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	if len(ids) > recordRowsMax {
		return 0, fmt.Errorf("notify: requeue %d sms, at most %d at once", len(ids), recordRowsMax)
	}
	now := time.Now().UTC()
	defer s.writing()()
	res := s.db.WithContext(ctx).Model(&smsRow{}).Where("id IN ? AND status = ?", ids, notify.StatusFailed).
		Updates(map[string]any{"status": notify.StatusPending, "attempts": 0, "next_attempt_at": now, "in_doubt": false,
			"updated_at": now})
	if res.Error != nil {
		return 0, fmt.Errorf("requeue sms: %w", res.Error)
	}
	if res.RowsAffected > 0 {
		s.smsWakers.wake()
	}
	return int(res.RowsAffected), nil
}

// nextDue is the earliest NextAttemptAt of the pending and sending rows,
// zero when there are none.
func (s *Store) nextDue(ctx context.Context) (time.Time, error) {
	var rows []smsRow
	err := s.db.WithContext(ctx).Select("next_attempt_at").
		Where("status IN ?", []string{notify.StatusPending, notify.StatusSending}).
		Order("next_attempt_at").Limit(1).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return time.Time{}, err
	}
	return rows[0].NextAttemptAt.UTC(), nil
}

// claim takes up to n due rows for a Sender, in one statement, and returns
// them: pending rows whose next attempt is due, and sending rows whose lease
// ran out (their Sender died or lost them), which come back InDoubt. Each
// gets a new claim token, a lease until now+lease (as its NextAttemptAt) and
// one more attempt. Two Senders never get the same row: on PostgreSQL the
// rows are locked with SKIP LOCKED and the due condition is checked again
// on the locked row; SQLite runs one write statement at a time.
func (s *Store) claim(ctx context.Context, n int, lease time.Duration) ([]smsRow, error) {
	now := time.Now().UTC()
	set := `SET status = ?, claim = ?, attempts = attempts + 1, in_doubt = (status = ?),
		claimed_at = CASE WHEN status = ? THEN COALESCE(claimed_at, ?) ELSE ? END,
		next_attempt_at = ?, updated_at = ?`
	setArgs := []any{notify.StatusSending, newClaimToken(), notify.StatusSending, notify.StatusSending, now, now, now.Add(lease), now}
	due := `SELECT id FROM sms_messages WHERE status IN (?, ?) AND next_attempt_at <= ?
		ORDER BY next_attempt_at LIMIT ?`
	dueArgs := []any{notify.StatusPending, notify.StatusSending, now, n}
	q, args := s.claimStatement("sms_messages", set, due, "FOR UPDATE SKIP LOCKED", setArgs, dueArgs, now)
	var rows []smsRow
	defer s.writing()()
	if err := s.db.WithContext(ctx).Raw(q, args...).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("claim sms: %w", err)
	}
	return rows, nil
}

// claimStatement is the one statement that claims rows of table (its
// statuses pending and sending, its lease end next_attempt_at): due selects
// the ids of the rows to claim, set is the UPDATE's SET clause, and each row
// is checked again as it is updated: still pending or sending, and due at
// now. On PostgreSQL the ids are locked with lock (FOR UPDATE … SKIP
// LOCKED) and materialized once: as an IN (subquery) the planner may run the
// LIMIT … SKIP LOCKED again per row and claim more than asked. SQLite runs
// one write statement at a time.
func (s *Store) claimStatement(table, set, due, lock string, setArgs, dueArgs []any, now time.Time) (string, []any) {
	recheck := []any{notify.StatusPending, notify.StatusSending, now}
	if s.pg {
		q := `WITH due AS MATERIALIZED (` + due + ` ` + lock + `)
			UPDATE ` + table + ` ` + set + ` FROM due WHERE ` + table + `.id = due.id
			AND ` + table + `.status IN (?, ?) AND ` + table + `.next_attempt_at <= ?
			RETURNING ` + table + `.*`
		return q, slices.Concat(dueArgs, setArgs, recheck)
	}
	q := `UPDATE ` + table + ` ` + set + ` WHERE id IN (` + due + `)
		AND status IN (?, ?) AND next_attempt_at <= ? RETURNING *`
	return q, slices.Concat(setArgs, dueArgs, recheck)
}

// renew extends the lease of a row this claim holds to now+lease, setting
// r.NextAttemptAt, and reports whether it still held it.
func (s *Store) renew(ctx context.Context, r *smsRow, lease time.Duration) (bool, error) {
	now := time.Now().UTC()
	defer s.writing()()
	res := s.db.WithContext(ctx).Exec(`UPDATE sms_messages SET next_attempt_at = ?, updated_at = ?
		WHERE id = ? AND claim = ? AND status = ?`, now.Add(lease), now, r.ID, r.Claim, notify.StatusSending)
	if res.Error != nil {
		return false, fmt.Errorf("renew sms lease: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return false, nil
	}
	r.NextAttemptAt = now.Add(lease)
	return true, nil
}

// knownIDs returns which of ids some row already has as its provider id:
// reconciliation must not take another row's message for this one's.
func (s *Store) knownIDs(ctx context.Context, provider string, ids []string) (map[string]bool, error) {
	known := map[string]bool{}
	if len(ids) == 0 {
		return known, nil
	}
	var found []string
	if err := s.db.WithContext(ctx).Model(&smsRow{}).Where("provider = ? AND provider_id IN ?", provider, ids).
		Pluck("provider_id", &found).Error; err != nil {
		return nil, fmt.Errorf("known sms ids: %w", err)
	}
	for _, id := range found {
		known[id] = true
	}
	return known, nil
}

// outcome is what a Sender learned of a claimed row, to write back.
type outcome struct {
	row    *smsRow
	status string // the row's new status
	// doubt keeps the row sending, to be reconciled at next: the provider
	// may have it.
	doubt      bool
	provider   string
	providerID string    // set when the provider took it
	next       time.Time // when it is due again (pending, or sending in doubt)
	err        string    // why the attempt failed
	code       string    // the provider's error code
	uncount    bool      // the attempt did not happen (throttled): give it back
	result     string    // what to tell Observe
	took       time.Duration
}

// applyStatement writes one outcome where the row still carries its claim
// token: one text for every kind of outcome, so that a batch prepares it
// once (preparing a statement per row was most of a batch's cost). The
// optional columns are each set under a flag.
const applyStatement = `UPDATE sms_messages SET status = ?, in_doubt = ?, updated_at = ?,
	last_error = ?, error_code = ?,
	provider = CASE WHEN ? THEN ? ELSE provider END,
	provider_id = CASE WHEN ? THEN ? ELSE provider_id END,
	sent_at = CASE WHEN ? THEN ? ELSE sent_at END,
	next_attempt_at = CASE WHEN ? THEN ? ELSE next_attempt_at END,
	attempts = attempts - ?,
	text = CASE WHEN ? THEN ? ELSE text END
	WHERE id = ? AND claim = ? AND status = ?`

// apply writes outcomes in one transaction, each only where the row still
// carries the claim token it was claimed with, with one prepared statement.
// It returns the outcomes whose rows another Sender had taken over (their
// lease ran out).
func (s *Store) apply(ctx context.Context, outs []outcome) (lost []outcome, err error) {
	now := time.Now().UTC()
	q := applyStatement
	if s.pg {
		q = numberedPlaceholders(q)
	}
	defer s.writing()()
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		lost = lost[:0]
		stmt, err := tx.Statement.ConnPool.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, o := range outs {
			uncount := 0
			if o.uncount {
				uncount = 1
			}
			redact := notify.IsSecret(o.row.Key) && o.status != notify.StatusPending && o.status != notify.StatusSending
			res, err := stmt.ExecContext(ctx, o.status, o.doubt, now,
				notify.Clip(o.err, errorBytesMax), notify.Clip(o.code, 16),
				o.provider != "", o.provider,
				o.providerID != "", o.providerID,
				o.providerID != "", now,
				!o.next.IsZero(), o.next.UTC(),
				uncount,
				redact, notify.RedactedText, // the provider has it, or never will
				o.row.ID, o.row.Claim, notify.StatusSending)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if n == 0 {
				lost = append(lost, o)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record sms outcome: %w", err)
	}
	return lost, nil
}

// numberedPlaceholders turns the ? of q into PostgreSQL's $1, $2, …; q has
// no ? inside a literal.
func numberedPlaceholders(q string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func newClaimToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
