package natsapi

import (
	"context"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// The subjects. "v1" versions the payloads: a change that breaks a caller
// gets a new version beside the old one.
const (
	SubjectPrefix       = "wallet.v1"
	SubjectTransfer     = SubjectPrefix + ".transfer"       // TransferRequest → TransferResult
	SubjectTransferShow = SubjectPrefix + ".transfer.show"  // TransferQuery → wallet.TransferInfo
	SubjectFloat        = SubjectPrefix + ".float.issue"    // operator: TransferRequest (kind float) → TransferResult
	SubjectQuote        = SubjectPrefix + ".quote"          // QuoteRequest → QuoteReply
	SubjectLookup       = SubjectPrefix + ".account.lookup" // AccountRequest → Profile
	SubjectShow         = SubjectPrefix + ".account.show"   // operator: AccountRequest → Account
	SubjectStatus       = SubjectPrefix + ".account.status" // operator: StatusRequest → Account
	SubjectRegister     = SubjectPrefix + ".customer.register"
	SubjectAgentAdd     = SubjectPrefix + ".agent.add"    // operator
	SubjectMerchant     = SubjectPrefix + ".merchant.add" // operator
	SubjectPINSet       = SubjectPrefix + ".pin.set"
	SubjectPINChange    = SubjectPrefix + ".pin.change"
	SubjectPINVerify    = SubjectPrefix + ".pin.verify"
	SubjectPINProof     = SubjectPrefix + ".pin.proof"    // PINRequest → PINProofReply
	SubjectStartKey     = SubjectPrefix + ".pin.startkey" // PINRequest (StartKey) → PINProofReply
	SubjectPINReset     = SubjectPrefix + ".pin.reset"    // operator
	SubjectBalance      = SubjectPrefix + ".balance"
	SubjectStatement    = SubjectPrefix + ".statement"
	SubjectEarnings     = SubjectPrefix + ".earnings" // PINRequest → wallet.Earnings
	SubjectLanguage     = SubjectPrefix + ".language.set"
	SubjectTariff       = SubjectPrefix + ".tariff"
	SubjectCheck        = SubjectPrefix + ".ledger.check" // operator
	SubjectEvents       = SubjectPrefix + ".events.list"  // operator: EventsRequest → EventsReply
)

// SubjectCustomerOpen is the operator's customer.register: it opens a
// customer account at any tier (RegisterRequest → Account) whose first PIN
// needs the start key in the reply's start_key (also sent by SMS).
const SubjectCustomerOpen = SubjectPrefix + ".customer.open"

// ExternalKeyPrefix is the namespace the wallet's NATS server puts the
// idempotency key of every transfer on SubjectTransfer in: a caller's key K
// is stored as "ext:K". The merchant services' own keys ("pr:", "po:",
// "tab:", …) and the operator's float keys ("float:") are outside it, so no
// caller of SubjectTransfer can post under one of them, pre-empt it or
// replay what it holds.
const ExternalKeyPrefix = "ext:"

// ExternalKeyBytesMax bounds a caller's key on SubjectTransfer: the
// wallet's bound less the namespace.
const ExternalKeyBytesMax = wallet.KeyBytesMax - len(ExternalKeyPrefix)

// EventsRequest asks for the events of the transfers created since a time,
// re-derived from the database, one page at a time.
type EventsRequest struct {
	Since time.Time `json:"since"`
	After int64     `json:"after,omitempty"` // the previous page's next; 0 for the first
	Limit int       `json:"limit,omitempty"` // at most wallet.EventsPageMax (the default)
}

// EventsReply is one page of events.
type EventsReply struct {
	Events []wallet.Event `json:"events"`
	Next   int64          `json:"next,omitempty"` // 0 on the last page
}

// QuoteRequest asks what a transfer would cost.
type QuoteRequest struct {
	Kind   wallet.TransferKind `json:"kind"`
	Amount int64               `json:"amount"`
}

// QuoteReply is a transfer's fee and commission.
type QuoteReply = wallet.Quote

// AccountRequest names an account by number or phone.
type AccountRequest struct {
	Number string `json:"number"`
}

// StatusRequest freezes or reactivates an account.
type StatusRequest struct {
	Number string        `json:"number"`
	Status wallet.Status `json:"status"`
}

// RegisterRequest opens a customer account. On SubjectRegister (a
// gateway's self-registration) the tier is basic, and another is refused;
// an operator opens a full-tier account on SubjectCustomerOpen.
type RegisterRequest struct {
	Phone    string      `json:"phone"`
	Name     string      `json:"name"`
	Tier     wallet.Tier `json:"tier,omitempty"` // default basic (self-registered)
	Language string      `json:"language,omitempty"`
}

// AgentRequest opens an agent account.
type AgentRequest struct {
	Phone string `json:"phone"`
	Name  string `json:"name"`
}

// MerchantRequest opens a till or paybill account.
type MerchantRequest struct {
	Phone   string `json:"phone"`
	Name    string `json:"name"`
	Paybill bool   `json:"paybill,omitempty"`
}

// PINRequest carries a PIN for a verification, a first set or a change:
// the only payloads that ever carry one.
type PINRequest struct {
	Phone  string `json:"phone"`
	PIN    string `json:"pin,omitempty"`
	NewPIN string `json:"new_pin,omitempty"`
	// Proof, on pin.change, stands in for PIN: a PINProofReply's proof;
	// on pin.set, for StartKey: a pin.startkey reply's proof.
	Proof string `json:"proof,omitempty"`
	// StartKey, on pin.set (with PIN, the new PIN) and pin.startkey, is the
	// one-time start key of an account opened or reset by an operator.
	StartKey string `json:"start_key,omitempty"`
	// Source and Attempt: where the PIN came from and which try it is
	// (wallet.PINAttempt). The client fills them from the context.
	Source  string `json:"source,omitempty"`
	Attempt string `json:"attempt,omitempty"`
}

// attempt returns q's wallet.PINAttempt.
func (q PINRequest) attempt() wallet.PINAttempt {
	return wallet.PINAttempt{Source: q.Source, Key: q.Attempt}
}

// PINProofReply is a short-lived proof that a PIN was verified, which
// pin.change accepts in place of the old PIN (wallet.PINProofTTL).
type PINProofReply struct {
	Proof string `json:"proof"`
}

// TransferQuery asks for a transfer by its human id, as the account phone
// operates sees it (only its sender may).
type TransferQuery struct {
	Phone string `json:"phone"`
	Ref   string `json:"ref"`
}

// LanguageRequest stores an account's language.
type LanguageRequest struct {
	Phone    string `json:"phone"`
	Language string `json:"language"`
}

// StatementReply is an account and its statement lines, newest first.
type StatementReply = wallet.Statement

// TariffReply is the tariff, the tier limits, the currency and the number
// of digits in a PIN (for screens: "Choose a new 4-digit PIN").
type TariffReply struct {
	Currency  wallet.Currency               `json:"currency"`
	Tariff    wallet.Tariff                 `json:"tariff"`
	Limits    map[wallet.Tier]wallet.Limits `json:"limits"`
	PINLength int                           `json:"pin_length"`
}

// Option configures Serve, NewClient, EnsureStream and NewRelay alike.
type Option func(*options)

type options struct {
	prefix    string
	endpoints []func(natsrpc.Mux)
	keyActor  func(ctx context.Context, key string) (string, error)
	operator  *Operator // AsOperator
}

// WithPrefix puts every subject of the API and its events, and the event
// stream's name, under a prefix, so that several deployments (staging and
// production, or parallel test runs) can share one NATS cluster without
// seeing each other's requests. Empty means none. It must be a valid subject
// token: letters, digits, - and _.
func WithPrefix(prefix string) Option { return func(o *options) { o.prefix = prefix } }

// WithEndpoints makes Serve serve, besides the wallet's own endpoints, those
// register adds: they answer under the same micro service, prefix, time
// bound and audit log (the merchant services' merchantapi.Register).
func WithEndpoints(register func(natsrpc.Mux)) Option {
	return func(o *options) { o.endpoints = append(o.endpoints, register) }
}

// WithKeyActor gives Serve the way to tell who an operator API key is, for
// the audit records of the endpoints a gateway calls with one
// (natsrpc.Route.OperatorKey): actor returns the key's id, or refuses a
// key that is not an operator's. Without it those calls are refused.
func WithKeyActor(actor func(ctx context.Context, key string) (string, error)) Option {
	return func(o *options) { o.keyActor = actor }
}

func newOptions(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	return o
}

// subject returns s under the prefix.
func (o options) subject(s string) string { return natsrpc.Subject(o.prefix, s) }

// Default timeouts.
const (
	// DefaultTimeout bounds a client call: a batch commits in milliseconds,
	// so five seconds means the wallet is down or overloaded.
	DefaultTimeout = 5 * time.Second
)
