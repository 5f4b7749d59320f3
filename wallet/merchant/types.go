package merchant

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

// Scope is what an API key may do.
type Scope string

// The scopes. A merchant key holds any of the merchant scopes. An operator
// key holds operator scopes (what it may do with keys) and merchant scopes
// (which it may grant to the merchant keys it creates; it never acts for a
// merchant itself). A key grants only scopes it holds.
const (
	ScopePayments     Scope = "payments"     // payment requests: create and read
	ScopeTransactions Scope = "transactions" // read the merchant's transactions
	ScopeRefunds      Scope = "refunds"      // refund a payment
	ScopePayouts      Scope = "payouts"      // pay customers, alone or in bulk
	ScopeTabs         Scope = "tabs"         // open, charge and close tabs
	ScopeWebhooks     Scope = "webhooks"     // register the webhook URL, read and re-send deliveries
	// ScopeOperator is what operator keys held before they had scopes of
	// their own: such a key, or a request for one, means
	// DefaultOperatorScopes.
	ScopeOperator Scope = "operator"

	ScopeKeysRead           Scope = "keys:read"            // list API keys
	ScopeKeysMerchantCreate Scope = "keys:merchant:create" // create merchant keys, with merchant scopes the key holds
	ScopeKeysRevoke         Scope = "keys:revoke"          // revoke merchant keys (operator keys too, with keys:operator:create)
	ScopeKeysOperatorCreate Scope = "keys:operator:create" // create operator keys, with scopes the key holds
)

// OperatorScopes lists the scopes only an operator key may hold.
var OperatorScopes = []Scope{ScopeKeysRead, ScopeKeysMerchantCreate, ScopeKeysRevoke, ScopeKeysOperatorCreate}

// DefaultOperatorScopes is an operator key's scopes when none are asked
// for: manage merchant keys with every merchant scope, but not create
// operator keys (ask for keys:operator:create by name).
var DefaultOperatorScopes = []Scope{ScopeKeysRead, ScopeKeysMerchantCreate, ScopeKeysRevoke,
	ScopePayments, ScopeTransactions, ScopeRefunds, ScopePayouts, ScopeTabs, ScopeWebhooks}

// MerchantScopes lists every scope a merchant key may hold.
var MerchantScopes = []Scope{ScopePayments, ScopeTransactions, ScopeRefunds, ScopePayouts, ScopeTabs, ScopeWebhooks}

// Principal is who an API key speaks for.
type Principal struct {
	KeyID        string     `json:"key_id"`
	Merchant     string     `json:"merchant,omitempty"`      // till or paybill number; empty for an operator key
	MerchantName string     `json:"merchant_name,omitempty"` // its name
	Operator     bool       `json:"operator,omitempty"`
	Scopes       []Scope    `json:"scopes"`
	Expires      *time.Time `json:"expires,omitempty"` // when the key stops working; nil: never
}

// Can reports whether p holds scope s.
func (p Principal) Can(s Scope) bool { return slices.Contains(p.Scopes, s) }

// APIKey is an API key as listed; Secret is set only in the answer that
// created it (the key is stored hashed and cannot be shown again).
type APIKey struct {
	ID       string     `json:"id"`
	Merchant string     `json:"merchant,omitempty"`
	Operator bool       `json:"operator,omitempty"`
	Scopes   []Scope    `json:"scopes"`
	Created  time.Time  `json:"created"`
	Revoked  *time.Time `json:"revoked,omitempty"`
	Expires  *time.Time `json:"expires,omitempty"` // nil: never
	Secret   string     `json:"secret,omitempty"`  // the whole bearer token, once
}

// RequestStatus is a payment request's state.
type RequestStatus string

const (
	RequestPending  RequestStatus = "pending"  // waiting for the customer
	RequestPaid     RequestStatus = "paid"     // approved with the PIN: Transaction is the payment
	RequestDeclined RequestStatus = "declined" // the customer said no
	RequestExpired  RequestStatus = "expired"  // nobody answered in time
	RequestFailed   RequestStatus = "failed"   // approved, but the payment was refused (Reason)
	// RequestRefunded is a paid request whose payment the merchant refunded
	// in full. It is never stored: a request's view derives it, and
	// Refunded, from the refunds posted against its Transaction.
	RequestRefunded RequestStatus = "refunded"
)

// PaymentRequest is a merchant's request to be paid (STK push): pending
// until the customer approves it with the PIN, declines it, or it expires.
// No money is held while it is pending.
type PaymentRequest struct {
	ID           string        `json:"id"` // pr_…
	Merchant     string        `json:"merchant"`
	MerchantName string        `json:"merchant_name"`
	Phone        string        `json:"phone"` // E.164
	Amount       int64         `json:"amount"`
	Reference    string        `json:"reference"`
	Description  string        `json:"description,omitempty"`
	Status       RequestStatus `json:"status"`
	Reason       string        `json:"reason,omitempty"`      // a failure's wallet.Code
	Transaction  string        `json:"transaction,omitempty"` // the payment's transaction id, once paid
	Refunded     int64         `json:"refunded,omitempty"`    // of the payment: refunded so far (read, not stored)
	Created      time.Time     `json:"created"`
	Expires      time.Time     `json:"expires"`
	Updated      time.Time     `json:"updated"`
}

// TabStatus is a tab's state.
type TabStatus string

const (
	TabPending   TabStatus = "pending"   // waiting for the customer's approval
	TabActive    TabStatus = "active"    // taking charges
	TabSuspended TabStatus = "suspended" // a postpaid settlement was refused (no funds); no charges until one succeeds
	TabClosed    TabStatus = "closed"    // closed by the merchant, or at expiry; settled
	TabDeclined  TabStatus = "declined"  // the customer said no, or never answered
)

// Tab is a metered account a merchant keeps for a customer: charges of a
// fraction of a cent accrue on it (wallet.Micro) without touching the
// ledger, and settle as one transfer of whole minor units, the remainder
// carried. A postpaid tab settles from the customer's wallet; a prepaid one
// was loaded with Cap at approval and settles from that.
type Tab struct {
	ID           string       `json:"id"` // tab_…
	Merchant     string       `json:"merchant"`
	MerchantName string       `json:"merchant_name"`
	Phone        string       `json:"phone"`
	Prepaid      bool         `json:"prepaid,omitempty"`
	Reference    string       `json:"reference,omitempty"`
	Description  string       `json:"description,omitempty"`
	Cap          wallet.Micro `json:"cap"`
	Charged      wallet.Micro `json:"charged"` // every charge so far
	Settled      wallet.Micro `json:"settled"` // moved to the ledger (whole minor units)
	Status       TabStatus    `json:"status"`
	Reason       string       `json:"reason,omitempty"` // why it is suspended, or declined
	Created      time.Time    `json:"created"`
	Expires      time.Time    `json:"expires"`
	Updated      time.Time    `json:"updated"`
}

// Split is one rule of a charge's revenue split: a merchant (till or
// paybill number) and its weight (a percentage, or any positive integers).
type Split struct {
	To     string `json:"to"`
	Weight int64  `json:"weight"`
}

// ChargeRequest is a charge on a tab.
type ChargeRequest struct {
	Tab       string       `json:"tab"`
	Key       string       `json:"key"` // the idempotency key
	Amount    wallet.Micro `json:"amount"`
	Reference string       `json:"reference,omitempty"`
	Splits    []Split      `json:"splits,omitempty"` // empty: all to the tab's merchant
}

// Charge is a recorded charge.
type Charge struct {
	ID        string       `json:"id"` // ch_…
	Tab       string       `json:"tab"`
	Amount    wallet.Micro `json:"amount"`
	Reference string       `json:"reference,omitempty"`
	Splits    []Split      `json:"splits,omitempty"`
	Charged   wallet.Micro `json:"charged"`   // the tab's total after it
	Remaining wallet.Micro `json:"remaining"` // cap left after it
	Created   time.Time    `json:"created"`
	Replayed  bool         `json:"replayed,omitempty"`
}

// PayoutStatus is a payout's state.
type PayoutStatus string

const (
	PayoutPending PayoutStatus = "pending"
	PayoutPaid    PayoutStatus = "paid"
	PayoutFailed  PayoutStatus = "failed"
)

// Payout is money a merchant sends a customer (B2C).
type Payout struct {
	ID          string       `json:"id"` // po_…
	Merchant    string       `json:"merchant"`
	Phone       string       `json:"phone"`
	Amount      int64        `json:"amount"`
	Fee         int64        `json:"fee"`
	Reference   string       `json:"reference,omitempty"`
	Status      PayoutStatus `json:"status"`
	Reason      string       `json:"reason,omitempty"` // a failure's wallet.Code
	Message     string       `json:"message,omitempty"`
	Transaction string       `json:"transaction,omitempty"`
	Batch       string       `json:"batch,omitempty"`
	Line        int          `json:"line,omitempty"` // its line in the batch's CSV
	Created     time.Time    `json:"created"`
	Updated     time.Time    `json:"updated"`
}

// BatchStatus is a bulk payout's state.
type BatchStatus string

const (
	BatchProcessing BatchStatus = "processing"
	BatchDone       BatchStatus = "done"
)

// BulkPayout is a batch of payouts from one CSV upload, paid in the
// background. A row that fails does not stop the others.
type BulkPayout struct {
	ID       string      `json:"id"` // pb_…
	Merchant string      `json:"merchant"`
	Status   BatchStatus `json:"status"`
	Rows     int         `json:"rows"`
	Done     int         `json:"done"` // rows paid or failed so far
	Paid     int         `json:"paid"`
	Failed   int         `json:"failed"`
	Amount   int64       `json:"amount"`      // the sum of the rows
	PaidOut  int64       `json:"paid_amount"` // the sum of the rows paid
	Created  time.Time   `json:"created"`
	Finished *time.Time  `json:"finished,omitempty"`
	Results  []Payout    `json:"results,omitempty"` // per row, in line order
}

// PayoutRow is one line of a bulk payout file.
type PayoutRow struct {
	Line      int    `json:"line"`
	Phone     string `json:"phone"`
	Amount    int64  `json:"amount"`
	Reference string `json:"reference,omitempty"`
}

// Transaction is a transfer as the merchant it concerns sees it.
type Transaction struct {
	ID           string              `json:"id"` // the transfer's ref
	Kind         wallet.TransferKind `json:"kind"`
	Direction    string              `json:"direction"`              // "in" (paid to the merchant) or "out"
	Amount       int64               `json:"amount"`                 // the principal
	Fee          int64               `json:"fee"`                    // what the merchant paid in fees
	Net          int64               `json:"net"`                    // the change to the merchant's balance
	Counterparty string              `json:"counterparty,omitempty"` // the customer's phone, or the other account's number
	Name         string              `json:"name,omitempty"`
	Reference    string              `json:"reference,omitempty"`
	Refunded     int64               `json:"refunded,omitempty"` // of a payment in: refunded so far
	Refunds      string              `json:"refunds,omitempty"`  // of a refund: the payment it refunds
	Created      time.Time           `json:"created"`
}

// Approval is something waiting for a customer's PIN: a payment request or
// a tab, as USSD "6 Approvals" and the SMS prompt show it.
type Approval struct {
	ID           string    `json:"id"`
	Kind         string    `json:"kind"` // "payment_request" or "tab"
	Merchant     string    `json:"merchant"`
	MerchantName string    `json:"merchant_name"`
	Amount       int64     `json:"amount"` // the request's amount, or the tab's cap rounded up to whole minor units
	Prepaid      bool      `json:"prepaid,omitempty"`
	Reference    string    `json:"reference,omitempty"`
	Description  string    `json:"description,omitempty"`
	Expires      time.Time `json:"expires"` // when the request or the tab expires
	// Created is when the merchant made it (and its SMS prompt was sent):
	// an SMS PIN reply answers it only when nothing else of the customer's
	// awaited a PIN since (sessions).
	Created time.Time `json:"created,omitzero"`
}

// The approval kinds.
const (
	ApprovalRequest = "payment_request"
	ApprovalTab     = "tab"
)

// ApproveResult is what approving did: a payment request's payment, or an
// approved tab.
type ApproveResult struct {
	Approval Approval               `json:"approval"`
	Transfer *wallet.TransferResult `json:"transfer,omitempty"` // a request's payment, a prepaid tab's load
	Tab      *Tab                   `json:"tab,omitempty"`
}

// EventType names a merchant event.
type EventType string

// The merchant events. Those marked (transfer) are derived by the notifier
// from the wallet's transfer events; the others are written by this package
// to the outbox, under wallet.MerchantEventSubjectPrefix + type.
const (
	EventPaymentReceived EventType = "payment.received"  // (transfer) a till, paybill or tab settlement credited the merchant
	EventRefund          EventType = "refund.completed"  // (transfer) a refund left the merchant
	EventPayoutPaid      EventType = "payout.paid"       // (transfer) a payout reached the customer
	EventPayoutFailed    EventType = "payout.failed"     // a payout was refused
	EventBatchDone       EventType = "payout_batch.done" // every row of a bulk payout is paid or failed
	EventRequestCreated  EventType = "payment_request.created"
	EventRequestPaid     EventType = "payment_request.paid" // approved and paid
	EventRequestDeclined EventType = "payment_request.declined"
	EventRequestExpired  EventType = "payment_request.expired"
	EventRequestFailed   EventType = "payment_request.failed" // approved, but the payment was refused
	EventTabCreated      EventType = "tab.created"
	EventTabApproved     EventType = "tab.approved"
	EventTabDeclined     EventType = "tab.declined"
	EventTabSettled      EventType = "tab.settled"
	EventTabSuspended    EventType = "tab.suspended"
	EventTabClosed       EventType = "tab.closed"
)

// Event is a merchant event: the payload of a webhook delivery. ID is
// unique per event and merchant, the receiver's dedupe key.
type Event struct {
	ID       string          `json:"id"` // evt_…
	Type     EventType       `json:"type"`
	Merchant string          `json:"merchant"`
	Created  time.Time       `json:"created"`
	Data     json.RawMessage `json:"data"` // the object: a PaymentRequest, Tab, Payout, BulkPayout or Transaction
}

// OutboxEvent is an Event as this package writes it to the outbox (the
// payload on the stream): the customer's phone and language ride along for
// the notifier's SMS prompt (payment_request.created, tab.created) and are
// not sent to the merchant.
type OutboxEvent struct {
	Event
	Phone    string `json:"phone,omitempty"`
	Language string `json:"language,omitempty"`
}
