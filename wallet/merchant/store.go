package merchant

import (
	"context"
	"time"
)

// KeyRecord is an API key as the store keeps it: the listing and the
// SHA-256 of its secret, never the secret.
type KeyRecord struct {
	APIKey
	Hash []byte
}

// RequestRecord is a payment request as the store keeps it: what the
// merchant sees and what the service needs besides.
type RequestRecord struct {
	PaymentRequest
	Idem    string // the merchant's idempotency key
	Hash    []byte // of the request's payload, to tell a replay from a conflict
	Paybill bool   // the merchant is a paybill: the payment carries the reference
	// Attempt counts approvals tried: the payment's wallet key is
	// pr:<id>:<attempt>, so that a retry after a wrong PIN is a new key.
	Attempt int
}

// PayoutRecord is a payout as the store keeps it: a single payout or one
// row of a bulk payout.
type PayoutRecord struct {
	Payout
	Key  string // the wallet's idempotency key: po:<merchant>:<idem> or pb:<batch>:<line>
	Hash []byte // of the payout's payload (single payouts)
}

// BatchRecord is a bulk payout as the store keeps it.
type BatchRecord struct {
	BulkPayout
	Idem string
	Hash []byte // of the uploaded file
}

// PromptLimit is at most Max prompts in any Window (a sliding window: a
// prompt counts while it is younger than Window). Max 0 is no limit.
type PromptLimit struct {
	Max    int
	Window time.Duration
}

// PromptGate is what a new payment request or tab, each of which prompts
// the customer, must fit in at Now: the prompts to one phone from every
// merchant, those to one phone from one merchant, and one merchant's
// prompts to everyone. Requests and tabs count together. The store counts
// them in the database inside the creating transaction, so that the limits
// hold across wallet processes on one database.
type PromptGate struct {
	Now                   time.Time
	Phone, Pair, Merchant PromptLimit
}

// Store keeps the merchant services' state: API keys, payment requests,
// payouts and bulk payouts (and, through TabStore, tabs). Package
// wallet/merchant/store implements it on the wallet's database. Every
// method that changes a state writes the events it is given in the same
// transaction, and every state change is a compare-and-set on the current
// state, so that several wallet processes on one database never both
// make the same change.
type Store interface {
	TabStore
	RequestQueries // request.go

	// CreateAPIKey inserts k.
	CreateAPIKey(ctx context.Context, k *KeyRecord) error
	// APIKey returns a key by id; CodeNotFound if there is none.
	APIKey(ctx context.Context, id string) (*KeyRecord, error)
	// APIKeys lists the keys of merchant (every key when empty), oldest
	// first, at most limit.
	APIKeys(ctx context.Context, merchant string, limit int) ([]APIKey, error)
	// RevokeAPIKey marks a key revoked at at, unless it already is, and
	// returns it; CodeNotFound if there is none.
	RevokeAPIKey(ctx context.Context, id string, at time.Time) (*APIKey, error)

	// CreatePaymentRequest inserts r with its created event, unless the
	// merchant already made a request under r.Idem: it returns the stored
	// request, r or the earlier one. A new request must pass gate (a replay
	// is not counted again); if it does not, nothing is written and the
	// error is CodeRateLimited.
	CreatePaymentRequest(ctx context.Context, r *RequestRecord, ev OutboxEvent, gate PromptGate) (*RequestRecord, error)
	// PaymentRequest returns a request by id; CodeNotFound if there is none.
	PaymentRequest(ctx context.Context, id string) (*RequestRecord, error)
	// UpdatePaymentRequest stores r's status, reason, transaction, attempt
	// and update time, and writes evs, if the stored request still has
	// status from and attempt attempt; it reports whether it did.
	UpdatePaymentRequest(ctx context.Context, r *RequestRecord, from RequestStatus, attempt int, evs []OutboxEvent) (bool, error)
	// PendingPaymentRequests lists the pending requests to phone that
	// expire after now, oldest first, at most limit.
	PendingPaymentRequests(ctx context.Context, phone string, now time.Time, limit int) ([]RequestRecord, error)
	// DuePaymentRequests lists, at most limit, the requests the sweeper must
	// look at: pending ones that expired by now, and approving ones last
	// updated before leased.
	DuePaymentRequests(ctx context.Context, now, leased time.Time, limit int) ([]RequestRecord, error)

	// CreatePayout inserts p unless a payout with its Key exists, and
	// returns the stored one.
	CreatePayout(ctx context.Context, p *PayoutRecord) (*PayoutRecord, error)
	// Payout returns a payout by id; CodeNotFound if there is none.
	Payout(ctx context.Context, id string) (*PayoutRecord, error)
	// FinishPayout stores p's final status (paid or failed) and its
	// transaction, fee, reason and message, with evs, if it is still
	// pending; it reports whether it was. For a row of a batch it also
	// counts the row in the batch's progress and, when that was the last
	// row, marks the batch done and writes done(batch) with it.
	FinishPayout(ctx context.Context, p *PayoutRecord, evs []OutboxEvent, done func(BulkPayout) OutboxEvent) (bool, error)
	// StalePayouts lists single payouts (not rows of a batch) still pending
	// and last updated before before, at most limit.
	StalePayouts(ctx context.Context, before time.Time, limit int) ([]PayoutRecord, error)

	// CreateBatch inserts b, its rows and evs in one transaction, unless the
	// merchant already made a batch under b.Idem: it returns the stored
	// batch, b or the earlier one (without rows).
	CreateBatch(ctx context.Context, b *BatchRecord, rows []PayoutRecord, evs []OutboxEvent) (*BatchRecord, error)
	// Batch returns a batch by id, without its rows; CodeNotFound if there
	// is none.
	Batch(ctx context.Context, id string) (*BatchRecord, error)
	// BatchRows returns a batch's rows in line order.
	BatchRows(ctx context.Context, id string) ([]Payout, error)
	// ClaimRows leases, until until, at most limit pending rows of batches
	// whose lease ended by now, in batch and line order, and returns them.
	// A row leased by one wallet process is not returned to another until
	// its lease ends.
	ClaimRows(ctx context.Context, now, until time.Time, limit int) ([]PayoutRecord, error)
}
