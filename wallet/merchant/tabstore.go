package merchant

import (
	"context"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

// TabStore keeps tabs, their payees, charges and settlements.
// wallet/merchant/store implements it on SQLite and PostgreSQL; Store
// embeds it.
//
// Every method that changes a tab does it in one transaction with the tab's
// row locked (SELECT … FOR UPDATE on PostgreSQL; SQLite's write lock), so
// several wallet processes on one database see each tab change one at a
// time, and each retries on a deadlock or serialization failure, so fn must
// derive everything it changes from what it was given.
type TabStore interface {
	TabQueries // tab_lists.go

	// CreateTab inserts t and its tab.created event in one transaction.
	// If the merchant already has a tab under t.IdemKey it inserts nothing
	// and returns that tab (the caller compares the request hashes);
	// otherwise it returns nil.
	// A new tab must pass gate, as a payment request (see
	// Store.CreatePaymentRequest).
	CreateTab(ctx context.Context, t *TabRecord, ev OutboxEvent, gate PromptGate) (existing *TabRecord, err error)
	// TabByID returns a tab; CodeNotFound if there is none.
	TabByID(ctx context.Context, id string) (*TabRecord, error)
	// PendingTabs returns up to limit tabs waiting for the approval of the
	// customer with phone (E.164), oldest first.
	PendingTabs(ctx context.Context, phone string, limit int) ([]TabRecord, error)
	// EditTab loads tab id locked, with its payees and its pending
	// settlement, calls fn, and unless fn returns an error writes back the
	// tab, its payees, the changed pending settlement, e.NewSettlement and
	// e.Events, all in one transaction. CodeNotFound if there is no tab id;
	// fn's error is returned as it is, and nothing is written.
	EditTab(ctx context.Context, id string, fn func(e *TabEdit) error) error
	// Meter runs fn, one group commit of charges, in one write transaction,
	// retried on transient conflicts.
	Meter(ctx context.Context, fn func(tx MeterTx) error) error
	// TabsToSweep returns the ids of up to q.Limit tabs that may need the
	// sweeper (see SweepQuery), in id order.
	TabsToSweep(ctx context.Context, q SweepQuery) ([]string, error)
	// TabSettlements returns a tab's settlements in sequence order.
	TabSettlements(ctx context.Context, tab string) ([]Settlement, error)
}

// TabRecord is a tab's whole stored state: the public view and what the
// services keep beside it.
type TabRecord struct {
	Tab
	IdemKey  string // the merchant's idempotency key for opening it
	Hash     []byte // the open request's hash
	Language string // the customer's, for the prompt
	// Held is what a prepaid tab's approval moved from the customer to the
	// tabs account (the cap rounded up to minor units); 0 until then.
	Held int64
	// Released is what was released back to the customer at the end.
	Released int64
	// HoldAt is when a prepaid approval started posting the hold; zero once
	// the hold's outcome is recorded (or known never to have happened).
	HoldAt time.Time
	// Seq is the sequence number of the tab's last settlement (0: none yet).
	Seq int
	// PendingSeq is a settlement recorded and not yet confirmed by the
	// ledger (0: none); PendingAt is when it was recorded.
	PendingSeq int
	PendingAt  time.Time
	// LastSettled is when the tab last settled (or was approved): the daily
	// settlement counts from it.
	LastSettled time.Time
	// SuspendedAt is when the tab was suspended; RetryAt when its
	// settlement is tried next.
	SuspendedAt time.Time
	RetryAt     time.Time
	// CloseKey is the idempotency key of the close (closeExpiry when the
	// sweeper closed it at expiry); set, the tab takes no charges.
	CloseKey  string
	ClosingAt time.Time
	// Done says nothing is left to do: the tab is closed or declined and a
	// prepaid one's hold is released.
	Done bool
}

// TabPayee is one merchant paid from a tab, and what it earned: Accrued is
// its share of every charge so far, Assigned what the settlements gave it
// (in Micro, whole minor units each time). Accrued − Assigned is what it
// has unsettled.
type TabPayee struct {
	Tab      string
	Merchant string
	Pos      int // order of first appearance; the tab's merchant is usually 0
	Accrued  wallet.Micro
	Assigned wallet.Micro
}

// Unsettled is what the payee earned and was not yet assigned; it may be
// slightly negative (less than a minor unit) after a settlement rounded its
// share up.
func (p TabPayee) Unsettled() wallet.Micro { return p.Accrued - p.Assigned }

// ChargeKey names a charge: its tab and the merchant's idempotency key.
type ChargeKey struct{ Tab, Key string }

// ChargeRecord is a stored charge.
type ChargeRecord struct {
	ID        string
	Tab       string
	Key       string
	Amount    wallet.Micro
	Reference string
	Splits    string       // the split rules, encoded by encodeSplits ("" for none)
	Charged   wallet.Micro // the tab's total after it
	Created   time.Time
}

// SettlementStatus is a settlement's state.
type SettlementStatus string

// The settlement states.
const (
	SettlementPending SettlementStatus = "pending" // recorded; the transfer may or may not be posted yet
	SettlementDone    SettlementStatus = "done"    // the transfer is posted
	SettlementFailed  SettlementStatus = "failed"  // the ledger refused it; its amount went back to unsettled
)

// Settlement is one settlement of a tab: Amount whole minor units moved as
// one settle transfer, keyed "tab:<tab>:settle:<seq>".
type Settlement struct {
	Tab      string            `json:"tab"`
	Seq      int               `json:"seq"`
	Amount   int64             `json:"amount"` // minor units, from the customer (or the tabs account)
	Fee      int64             `json:"fee"`    // the ledger's settlement fee, paid by the payees
	Source   string            `json:"source"` // the customer's phone, or wallet.SystemTabs
	Shares   []SettlementShare `json:"shares"` // per payee, in payee order
	Status   SettlementStatus  `json:"status"`
	Reason   string            `json:"reason,omitempty"` // a failure's wallet.Code
	Transfer string            `json:"transaction,omitempty"`
	Created  time.Time         `json:"created"`
	Updated  time.Time         `json:"updated"`
}

// SettlementShare is one payee's part of a settlement. Weight is what the
// payee had unsettled (Micro), the weight the ledger splits the amount
// after its fee by; Gross is the payee's largest-remainder share of the
// whole amount, what its unsettled Micro went down by.
type SettlementShare struct {
	Merchant string       `json:"merchant"`
	Weight   wallet.Micro `json:"weight"`
	Gross    int64        `json:"gross"`
}

// TabEdit is a locked tab handed to an EditTab function: it changes Tab,
// Payees and Settlement in place and sets NewSettlement and Events.
type TabEdit struct {
	Tab        *TabRecord
	Payees     []TabPayee  // in Pos order
	Settlement *Settlement // the pending settlement (Tab.PendingSeq), if any
	// NewSettlement, if set, is inserted.
	NewSettlement *Settlement
	// Events are written to the outbox.
	Events []OutboxEvent
}

// MeterTx is one meter group commit's transaction.
type MeterTx interface {
	// Load loads the tabs with the given ids (sorted), locking them on
	// PostgreSQL, their payees, and the charges stored under keys.
	Load(tabIDs []string, keys []ChargeKey) (*MeterState, error)
	// Save writes the batch's new charges and changed tabs and payees.
	Save(w *MeterWrite) error
}

// MeterState is what a meter batch reads.
type MeterState struct {
	Tabs    map[string]*TabRecord
	Payees  map[string][]TabPayee // by tab, in Pos order
	Charges map[ChargeKey]*ChargeRecord
}

// MeterWrite is what a meter batch writes.
type MeterWrite struct {
	Charges []ChargeRecord
	Tabs    []*TabRecord // only Charged and Updated are written
	Payees  []TabPayee   // inserted, or their Accrued updated
}

// SweepQuery asks for the tabs the sweeper may have work on: not Done,
// and one of: past expiry while pending or active; a hold in flight since
// before Lease; a settlement pending since before Lease; a close started
// before Lease (and not suspended); closed or declined (the release is
// left); active with at least Threshold unsettled, or with at least Unit
// unsettled and last settled before Daily; suspended and last tried
// before Retry.
type SweepQuery struct {
	Now       time.Time
	Lease     time.Time
	Daily     time.Time
	Retry     time.Time
	Threshold wallet.Micro
	Unit      wallet.Micro
	Limit     int
}
