package wallet

import (
	"context"
	"time"
)

// AccountRecord is an account's whole stored state, as a Store loads and
// saves it. It carries the PIN hash, so it never leaves the wallet: the API
// shows an Account.
type AccountRecord struct {
	ID            int64
	Kind          AccountKind
	Number        string
	Phone         string // E.164; unique among customers and agents (the phone that dials)
	Name          string
	Tier          Tier
	Status        Status
	Language      string
	Balance       int64
	AllowNegative bool   // system accounts whose balance mirrors money issued or spent
	PINHash       []byte // HMAC-SHA256(pepper, salt || pin); nil until set
	PINSalt       []byte
	PINFailures   int  // wrong PINs (and start keys) since the last right one
	PINLocked     bool // PINFailures reached the limit; independent of Status
	// StartKeyHash is the keyed hash of the one-time start key (startKeyHash,
	// salted with PINSalt), nil when none is outstanding; the first PIN
	// needs it until StartKeyExpires.
	StartKeyHash    []byte
	StartKeyExpires time.Time
	Day             int   // yyyymmdd of DayDebits, in the wallet's time zone
	DayDebits       int64 // principal debited today (customers), for the daily limit
	Created         time.Time
}

// Account returns the public view of r.
func (r *AccountRecord) Account() Account {
	return Account{Balance: r.Balance, Profile: Profile{
		ID: r.ID, Kind: r.Kind, Number: r.Number, Phone: r.Phone, Name: r.Name, Tier: r.Tier,
		Status: r.Status, Language: r.Language, HasPIN: len(r.PINHash) > 0, Created: r.Created,
		PINLocked: r.PINLocked, NeedsStartKey: len(r.PINHash) == 0 && len(r.StartKeyHash) > 0,
	}}
}

// Outcome is what an idempotency key already produced: a transfer or a
// recorded rejection, with the hash of the request that produced it.
type Outcome struct {
	Hash     []byte
	Transfer *Transfer // nil for a rejection
	Err      *Error    // nil for a transfer
}

// StoredTransfer is a transfer with the idempotency data stored beside it.
type StoredTransfer struct {
	Transfer
	Key  string
	Hash []byte
}

// Rejection is a refused money command remembered under its idempotency key,
// so that a retry returns the same refusal instead of moving money later.
type Rejection struct {
	Key     string
	Hash    []byte
	Err     *Error
	Created time.Time
}

// OutboxEvent is an event written in the same transaction as its transfer and
// published by the relay.
type OutboxEvent struct {
	ID         int64
	TransferID int64
	Subject    string
	Payload    []byte
	// MsgID, when set, is the event's Nats-Msg-Id (the stream's dedupe
	// key); a transfer's event leaves it empty and uses the transfer's ref.
	MsgID string
}

// BatchWrite is everything one batch writes, in one transaction.
type BatchWrite struct {
	Transfers  []*StoredTransfer
	Rejections []Rejection
	Accounts   []*AccountRecord // changed accounts: balance, PIN state, status, daily total
	Events     []OutboxEvent
}

// BatchTx is the view of one write transaction the batch writer needs.
type BatchTx interface {
	// LockAccounts loads the accounts with the given ids and, where the
	// database supports it, locks them until the transaction ends, in id order.
	LockAccounts(ids []int64) (map[int64]*AccountRecord, error)
	// Outcomes returns what the given idempotency keys already produced.
	Outcomes(keys []string) (map[string]*Outcome, error)
	// Reversed reports which of the given transfers have been reversed.
	Reversed(transferIDs []int64) (map[int64]bool, error)
	// Refunded returns what each merchant has refunded against the given
	// transfers, read after LockAccounts so that refunds committed by another
	// wallet process that held the merchant's lock are counted. Pairs with
	// no refund are absent.
	Refunded(transferIDs []int64) (map[RefundKey]int64, error)
	// Save writes w.
	Save(w *BatchWrite) error
}

// RefundKey names the refunds one merchant account made against one
// transfer: a split settlement credits several merchants, and each may
// refund at most its own share.
type RefundKey struct {
	Transfer int64 // the refunded transfer
	Merchant int64 // the account that refunded (the refunds' source)
}

// PostingLine is one posting with its transfer, for statements.
type PostingLine struct {
	Posting
	TransferID int64
	Ref        string
	Kind       TransferKind
	Source     int64
	Target     int64
	Reference  string
	Created    time.Time
}

// Store is the system of record the wallet runs on. wallet/store implements
// it with gorm on SQLite and PostgreSQL.
type Store interface {
	ReversalStore
	PendingPINStore
	// CreateAccount inserts a, setting its ID; CodeExists if its number or phone is taken.
	CreateAccount(ctx context.Context, a *AccountRecord) error
	// CreateAccounts inserts all of as in one transaction, setting their IDs;
	// CodeExists (and nothing inserted) if any number or phone is taken.
	CreateAccounts(ctx context.Context, as []*AccountRecord) error
	// AccountByNumber and AccountByPhone return CodeNotFound when there is none.
	AccountByNumber(ctx context.Context, number string) (*AccountRecord, error)
	AccountByPhone(ctx context.Context, phone string) (*AccountRecord, error)
	AccountByID(ctx context.Context, id int64) (*AccountRecord, error)
	// Write runs fn in one write transaction and commits it. On a transient
	// conflict (deadlock, serialization failure, a unique key taken by a
	// concurrent writer) it rolls back and runs fn again, so fn must derive
	// everything it writes from what it reads through tx.
	Write(ctx context.Context, fn func(tx BatchTx) error) error
	// TransferByRef returns a transfer with its postings; CodeNotFound when there is none.
	TransferByRef(ctx context.Context, ref string) (*Transfer, error)
	// TransfersOf returns the transfers that reverse or refund the transfer
	// original (an index each), in id order, at most limit refunds.
	TransfersOf(ctx context.Context, original int64, limit int) ([]Transfer, error)
	// TransfersAfter returns up to limit transfers with ids above afterID,
	// in id order, with their postings.
	TransfersAfter(ctx context.Context, afterID int64, limit int) ([]Transfer, error)
	// Reversed reports which of the given transfers have been reversed, read
	// outside any batch (a batch reads it through BatchTx).
	Reversed(ctx context.Context, transferIDs []int64) (map[int64]bool, error)
	// Refunded is BatchTx.Refunded read outside any batch.
	Refunded(ctx context.Context, transferIDs []int64) (map[RefundKey]int64, error)
	// Outcome returns what an idempotency key produced: a transfer (with its
	// postings) or a remembered refusal; CodeNotFound if the key is unused.
	Outcome(ctx context.Context, key string) (*Outcome, error)
	// AccountTransfers returns up to limit transfers with a posting on the
	// account, with all their postings, newest (highest id) first: created
	// in [from, to) where those are non-zero, with ids below before where
	// before is positive. It reads an index on (account, transfer).
	AccountTransfers(ctx context.Context, accountID int64, from, to time.Time, before int64, limit int) ([]Transfer, error)
	// Postings returns an account's postings, newest first: at most limit,
	// created in [from, to) where those are non-zero.
	Postings(ctx context.Context, accountID int64, from, to time.Time, limit int) ([]PostingLine, error)
	// SumPostings returns, for each time in since, the sum of the account's
	// postings of the given leg created at or after it, all read by one
	// statement so that they agree with each other. since holds 1 to 8
	// times. Only the commission leg need be served by an index.
	SumPostings(ctx context.Context, accountID int64, leg LegKind, since []time.Time) ([]int64, error)
	// Relay calls publish with up to limit unpublished events, oldest first,
	// and deletes them if publish returns nil. It returns how many it published.
	Relay(ctx context.Context, limit int, publish func([]OutboxEvent) error) (int, error)
	// Check verifies the ledger's invariants over the whole database, the
	// audit chain included.
	Check(ctx context.Context) (*CheckReport, error)
	// AppendAudit appends e to the audit log at time at, chained to the
	// last record, and returns the record. Appends from several processes
	// on one database chain one after another.
	AppendAudit(ctx context.Context, e AuditEntry, at time.Time) (*AuditRecord, error)
	// AuditRecords returns the audit records q selects, in Seq order, at
	// most q.Limit.
	AuditRecords(ctx context.Context, q AuditQuery) ([]AuditRecord, error)
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
}

// CheckReport is the result of a whole-ledger invariant check.
type CheckReport struct {
	Accounts   int64    `json:"accounts"`
	Transfers  int64    `json:"transfers"`
	Postings   int64    `json:"postings"`
	Issued     int64    `json:"issued"`     // e-money in circulation: minus the trust account's balance
	Held       int64    `json:"held"`       // of which held for prepaid tabs: the tabs account's balance
	Pending    int64    `json:"pending"`    // events not yet published
	Audit      int64    `json:"audit"`      // audit records verified
	AuditHead  string   `json:"audit_head"` // the last audit record's hash: keep it elsewhere to detect a truncated log
	Violations []string `json:"violations"` // empty when every invariant holds
}

// OK reports whether every invariant held.
func (r *CheckReport) OK() bool { return len(r.Violations) == 0 }
