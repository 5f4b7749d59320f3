// Package merchantapi serves the merchant services (package
// wallet/merchant) over NATS, and is their client.
//
// Its endpoints are answered by the wallet's own micro service ("wallet",
// queue group "wallet"), which the wallet process starts with
// natsapi.WithEndpoints(Register): the subjects stay under
// natsapi.SubjectPrefix, the answers and refusals are the wallet's
// (natsrpc), and an operator's call is audited by the wallet's audit log.
//
// Each endpoint is declared once (endpoints.go): its subject, request,
// reply and who may call it, as a natsrpc.Endpoint, and beside it the
// merchant.Service method that answers it. Its client side is the
// declaration's Call; Client's methods are shorthands for the callers
// that want them. The operator subjects (OperatorSubjects) are derived
// from the declarations.
//
// It must not hold merchant rules (those are package merchant's) or
// storage (wallet/merchant/store's).
package merchantapi

import (
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// The merchant subjects, served by the wallet's micro service when the
// wallet runs its merchant services (package wallet/merchant). Every request
// a merchant makes carries its API key (Auth), which the wallet itself
// authenticates and scopes: a gateway cannot act for a merchant without the
// merchant's key. Money commands carry the client's idempotency key.
const (
	SubjectMerchantAuth  = natsapi.SubjectPrefix + ".merchant.auth"
	SubjectAPIKeyCreate  = natsapi.SubjectPrefix + ".merchant.apikey.create"
	SubjectAPIKeyList    = natsapi.SubjectPrefix + ".merchant.apikey.list"
	SubjectAPIKeyRevoke  = natsapi.SubjectPrefix + ".merchant.apikey.revoke"
	SubjectRequestCreate = natsapi.SubjectPrefix + ".merchant.request.create"
	SubjectRequestGet    = natsapi.SubjectPrefix + ".merchant.request.get"
	SubjectRequestList   = natsapi.SubjectPrefix + ".merchant.request.list"
	SubjectTxGet         = natsapi.SubjectPrefix + ".merchant.tx.get"
	SubjectTxList        = natsapi.SubjectPrefix + ".merchant.tx.list"
	SubjectRefund        = natsapi.SubjectPrefix + ".merchant.tx.refund"
	SubjectPayout        = natsapi.SubjectPrefix + ".merchant.payout.create"
	SubjectPayoutGet     = natsapi.SubjectPrefix + ".merchant.payout.get"
	SubjectBulkCreate    = natsapi.SubjectPrefix + ".merchant.bulk.create"
	SubjectBulkGet       = natsapi.SubjectPrefix + ".merchant.bulk.get"
	SubjectTabOpen       = natsapi.SubjectPrefix + ".merchant.tab.open"
	SubjectTabGet        = natsapi.SubjectPrefix + ".merchant.tab.get"
	SubjectTabCharge     = natsapi.SubjectPrefix + ".merchant.tab.charge"
	SubjectTabCharges    = natsapi.SubjectPrefix + ".merchant.tab.charges"
	SubjectTabClose      = natsapi.SubjectPrefix + ".merchant.tab.close"
	// A tab's charges, newest first, a page at a time.
	SubjectTabChargesList = natsapi.SubjectPrefix + ".merchant.tab.charges.list"
	// The operator REST API's key management: the same as the apikey
	// subjects, but authenticated by an operator API key in Auth (a gateway
	// may call them; the apikey subjects need operator NATS credentials and
	// make the first key).
	SubjectOpKeyCreate = natsapi.SubjectPrefix + ".merchant.opkey.create"
	SubjectOpKeyList   = natsapi.SubjectPrefix + ".merchant.opkey.list"
	SubjectOpKeyRevoke = natsapi.SubjectPrefix + ".merchant.opkey.revoke"
	SubjectApprovals   = natsapi.SubjectPrefix + ".approvals.list"
	SubjectApprove     = natsapi.SubjectPrefix + ".approvals.approve"
	SubjectDecline     = natsapi.SubjectPrefix + ".approvals.decline"
)

// AuthRequest carries a bearer API key.
type AuthRequest struct {
	Auth string `json:"auth"`
}

// APIKeyRequest creates (Merchant or Operator, Scopes), lists (Merchant;
// empty: every key) or revokes (ID) API keys.
type APIKeyRequest struct {
	Merchant string           `json:"merchant,omitempty"`
	Operator bool             `json:"operator,omitempty"`
	Scopes   []merchant.Scope `json:"scopes,omitempty"`
	ID       string           `json:"id,omitempty"`
	Expires  *time.Time       `json:"expires,omitempty"` // create: when the key stops working
}

// OperatorKeyRequest is an APIKeyRequest made with an operator API key.
type OperatorKeyRequest struct {
	Auth string `json:"auth"`
	APIKeyRequest
}

// APIKeysReply lists API keys (never their secrets).
type APIKeysReply struct {
	Keys []merchant.APIKey `json:"keys"`
}

// ObjectRequest names one of the merchant's objects by id. Idempotency is
// set on the commands (tab close).
type ObjectRequest struct {
	Auth        string `json:"auth"`
	ID          string `json:"id"`
	Idempotency string `json:"idempotency,omitempty"`
}

// PaymentRequestCreate asks a customer to pay.
type PaymentRequestCreate struct {
	Auth        string `json:"auth"`
	Idempotency string `json:"idempotency"`
	Phone       string `json:"phone"`
	Amount      int64  `json:"amount"`
	Reference   string `json:"reference"`
	Description string `json:"description,omitempty"`
}

// PaymentRequestsRequest lists the merchant's payment requests, newest
// first, a page at a time (merchant.Service.PaymentRequests).
type PaymentRequestsRequest struct {
	Auth   string `json:"auth"`
	Cursor string `json:"cursor,omitempty"` // the previous page's Next
	Limit  int    `json:"limit,omitempty"`
}

// PaymentRequestsPage is one page of payment requests.
type PaymentRequestsPage struct {
	Requests []merchant.PaymentRequest `json:"requests"`
	Next     string                    `json:"next,omitempty"` // empty on the last page
}

// TransactionsRequest lists the merchant's transactions, newest first,
// created in [From, To) where those are set, a page at a time.
type TransactionsRequest struct {
	Auth   string    `json:"auth"`
	From   time.Time `json:"from,omitzero"`
	To     time.Time `json:"to,omitzero"`
	Cursor string    `json:"cursor,omitempty"` // the previous page's Next
	Limit  int       `json:"limit,omitempty"`
}

// TransactionsReply is one page of transactions.
type TransactionsReply = merchant.TransactionsPage

// RefundRequest refunds a payment, in full (Amount 0) or in part.
type RefundRequest struct {
	Auth        string `json:"auth"`
	Idempotency string `json:"idempotency"`
	ID          string `json:"id"` // the payment's transaction id
	Amount      int64  `json:"amount,omitempty"`
}

// PayoutRequest pays a customer from the merchant's balance.
type PayoutRequest struct {
	Auth        string `json:"auth"`
	Idempotency string `json:"idempotency"`
	Phone       string `json:"phone"`
	Amount      int64  `json:"amount"`
	Reference   string `json:"reference,omitempty"`
}

// BulkPayoutRequest pays every row of a CSV file (columns phone, amount in
// major units, and an optional reference, under a header row).
type BulkPayoutRequest struct {
	Auth        string `json:"auth"`
	Idempotency string `json:"idempotency"`
	CSV         []byte `json:"csv"`
}

// TabOpenRequest opens a tab for a customer, pending the customer's approval.
type TabOpenRequest struct {
	Auth        string       `json:"auth"`
	Idempotency string       `json:"idempotency"`
	Phone       string       `json:"phone"`
	Cap         wallet.Micro `json:"cap"`
	Prepaid     bool         `json:"prepaid,omitempty"`
	Expires     time.Time    `json:"expires"`
	Reference   string       `json:"reference,omitempty"`
	Description string       `json:"description,omitempty"`
}

// TabChargeRequest charges a tab; Charge.Key is the idempotency key.
type TabChargeRequest struct {
	Auth   string                 `json:"auth"`
	Charge merchant.ChargeRequest `json:"charge"`
}

// TabChargesRequest charges a tab with a batch of 1 to
// merchant.BatchChargesMax charges, applied in order in one group commit
// (merchant.Service.ChargeBatch). Each charge's Key is its idempotency key;
// its Tab is Tab, or empty.
type TabChargesRequest struct {
	Auth    string                   `json:"auth"`
	Tab     string                   `json:"tab"`
	Charges []merchant.ChargeRequest `json:"charges"`
}

// TabChargesReply is a batch's outcome: per charge in the request's order,
// the charge or its refusal; and the tab's total charged and the cap left
// after the batch.
type TabChargesReply = merchant.ChargeBatchResult

// TabChargesReplyOverheadBytes is the most a TabChargesReply adds to its
// request: per charge, the charge's id, tab, totals and time (or a
// refusal's code and message) in place of its key. A batch of charges must
// fit NATS's max_payload with this much to spare, or its reply could not be
// sent: the server refuses a larger one (invalid_request), and so does
// Client.ChargeBatch before sending it.
const TabChargesReplyOverheadBytes = merchant.BatchChargesMax*320 + 1<<10

// TabChargesListRequest lists a tab's charges, newest first, a page at a
// time (merchant.Service.TabCharges).
type TabChargesListRequest struct {
	Auth   string `json:"auth"`
	Tab    string `json:"tab"`
	Cursor string `json:"cursor,omitempty"` // the previous page's Next
	Limit  int    `json:"limit,omitempty"`  // default 50, at most 200
}

// TabChargesPage is one page of a tab's charges.
type TabChargesPage = merchant.ChargesPage

// ApprovalsRequest asks what waits for a customer's approval.
type ApprovalsRequest struct {
	Phone string `json:"phone"`
}

// ApprovalsReply lists it, oldest first.
type ApprovalsReply struct {
	Approvals []merchant.Approval `json:"approvals"`
}

// ApproveRequest approves or declines one approval, with the customer's
// PIN either way.
type ApproveRequest struct {
	Phone string `json:"phone"`
	ID    string `json:"id"`
	PIN   string `json:"pin,omitempty"`
	// Source and Attempt: where the PIN came from and which try it is
	// (wallet.PINAttempt), filled by the client from the context: a
	// retried approval hop counts a wrong PIN once.
	Source  string `json:"source,omitempty"`
	Attempt string `json:"attempt,omitempty"`
}
