package store

import "time"

// The tables. gorm's AutoMigrate creates them; the hot paths write them with
// multi-row SQL built in sql.go.

type account struct {
	ID            int64   `gorm:"primaryKey;autoIncrement"`
	Kind          string  `gorm:"size:16;not null"`
	Number        string  `gorm:"size:32;not null;uniqueIndex"`
	Msisdn        *string `gorm:"size:20;uniqueIndex"` // the phone that dials: customers and agents only
	Phone         string  `gorm:"size:20;not null;default:''"`
	Name          string  `gorm:"size:64;not null;index:idx_accounts_name_lower,expression:lower(name)"` // the back-office's name search (SearchAccounts)
	Tier          int     `gorm:"not null;default:0"`
	Status        string  `gorm:"size:16;not null"`
	Language      string  `gorm:"size:8;not null;default:''"`
	Balance       int64   `gorm:"not null;default:0"`
	AllowNegative bool    `gorm:"not null;default:false"`
	PinHash       []byte
	PinSalt       []byte
	PinFailures   int       `gorm:"not null;default:0"`
	PinLocked     bool      `gorm:"not null;default:false"` // independent of Status (see migrate)
	StartKeyHash  []byte    // the start key's keyed hash; NULL when none is outstanding
	StartKeyUntil int64     `gorm:"not null;default:0"` // its expiry, Unix seconds; 0 with no key
	Day           int       `gorm:"not null;default:0"`
	DayDebits     int64     `gorm:"not null;default:0"`
	CreatedAt     time.Time `gorm:"not null"`
}

func (account) TableName() string { return "accounts" }

// transfer's id is assigned by the wallet (its Ref is the id in base32).
type transfer struct {
	// idx_transfers_float holds the float issues only (partial): the
	// reconciliation reads a period's (wallet/store/report.go).
	ID          int64  `gorm:"primaryKey;autoIncrement:false;index:idx_transfers_float,where:kind = 'float'"`
	IdemKey     string `gorm:"size:128;not null;uniqueIndex"`
	RequestHash []byte `gorm:"not null"`
	Kind        string `gorm:"size:16;not null"`
	Source      int64  `gorm:"not null"`
	Target      int64  `gorm:"not null"`
	Amount      int64  `gorm:"not null"`
	Fee         int64  `gorm:"not null"`
	Commission  int64  `gorm:"not null"`
	Reference   string `gorm:"size:32;not null;default:''"`
	// Reverses is unique: a transfer is reversed at most once, even with
	// several wallet processes racing.
	// (A partial index: most transfers reverse nothing.)
	Reverses *int64 `gorm:"uniqueIndex:idx_transfers_reverses,where:reverses IS NOT NULL"`
	// Refunds is the transfer a refund refunds (part of): several refunds
	// may share one, so the index is not unique. Partial, like reverses.
	Refunds   *int64    `gorm:"index:idx_transfers_refunds,where:refunds IS NOT NULL"`
	CreatedAt time.Time `gorm:"not null"`
}

func (transfer) TableName() string { return "transfers" }

// posting is one leg of a transfer. idx_postings_commission serves an
// agent's commission totals (SumPostings): a range of one account's
// commission legs by time, with the amounts in the index so that no row is
// read. It is partial, so only the two commission legs of a deposit or
// withdrawal pay for it on the write path; idx_postings_account_transfer
// alone would have the sum read every posting the account ever had.
// idx_postings_account_transfer is the one index by account: it serves a
// statement (Postings, newest first) and an account's transfers with a
// transfer-id cursor (AccountTransfers: a merchant's transaction list).
// Transfer ids are time-ordered, so both read newest first by transfer id.
// (It replaced idx_postings_account, by account and posting id: two indexes
// by account cost the write path about a tenth of its transfers.)
type posting struct {
	ID           int64     `gorm:"primaryKey;autoIncrement;index:idx_postings_account_transfer,priority:3"`
	TransferID   int64     `gorm:"not null;index;index:idx_postings_account_transfer,priority:2"`
	AccountID    int64     `gorm:"not null;index:idx_postings_commission,priority:1,where:leg = 'commission';index:idx_postings_account_transfer,priority:1"`
	Leg          string    `gorm:"size:12;not null"`
	Amount       int64     `gorm:"not null;index:idx_postings_commission,priority:3"`
	BalanceAfter int64     `gorm:"not null"`
	CreatedAt    time.Time `gorm:"not null;index:idx_postings_commission,priority:2"`
}

func (posting) TableName() string { return "postings" }

type rejection struct {
	IdemKey     string    `gorm:"primaryKey;size:128"`
	RequestHash []byte    `gorm:"not null"`
	Error       string    `gorm:"not null"` // the *wallet.Error as JSON
	CreatedAt   time.Time `gorm:"not null"`
}

func (rejection) TableName() string { return "rejections" }

type outboxEvent struct {
	ID         int64     `gorm:"primaryKey;autoIncrement"`
	TransferID int64     `gorm:"not null"`
	Subject    string    `gorm:"size:64;not null"`
	Payload    []byte    `gorm:"not null"`
	MsgID      string    `gorm:"size:64;not null;default:''"` // empty: the transfer's ref
	CreatedAt  time.Time `gorm:"not null"`
}

func (outboxEvent) TableName() string { return "outbox_events" }

// idemKey claims an idempotency key for the one outcome it may hold: every
// transfer and every rejection inserts its key here in the transaction that
// stores it. transfers.idem_key and rejections.idem_key are each unique on
// their own, but only this primary key spans both: two wallet processes
// given one key with different requests lock different accounts and read no
// outcome for it, and without it one could store a transfer and the other a
// refusal. With it the second insert fails on the key, its batch runs again
// from fresh reads, and finds the first outcome (CodeConflict).
type idemKey struct {
	IdemKey string `gorm:"primaryKey;size:128"`
}

func (idemKey) TableName() string { return "idem_keys" }

var models = []any{&account{}, &transfer{}, &posting{}, &rejection{}, &outboxEvent{}, &idemKey{}, &reversalRow{}}
