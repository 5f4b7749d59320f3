package natsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// The merchant subjects, served by the same "wallet" micro service when the
// wallet runs its merchant services (package wallet/commerce). Every request
// a merchant makes carries its API key (Auth), which the wallet itself
// authenticates and scopes: a gateway cannot act for a merchant without the
// merchant's key. Money commands carry the client's idempotency key.
const (
	SubjectMerchantAuth  = SubjectPrefix + ".merchant.auth"           // AuthRequest → merchant.Principal
	SubjectAPIKeyCreate  = SubjectPrefix + ".merchant.apikey.create"  // operator: APIKeyRequest → merchant.APIKey (with its secret)
	SubjectAPIKeyList    = SubjectPrefix + ".merchant.apikey.list"    // operator: APIKeyRequest (merchant) → APIKeysReply
	SubjectAPIKeyRevoke  = SubjectPrefix + ".merchant.apikey.revoke"  // operator: APIKeyRequest (id) → merchant.APIKey
	SubjectRequestCreate = SubjectPrefix + ".merchant.request.create" // PaymentRequestCreate → merchant.PaymentRequest
	SubjectRequestGet    = SubjectPrefix + ".merchant.request.get"    // ObjectRequest → merchant.PaymentRequest
	SubjectTxGet         = SubjectPrefix + ".merchant.tx.get"         // ObjectRequest → merchant.Transaction
	SubjectTxList        = SubjectPrefix + ".merchant.tx.list"        // TransactionsRequest → TransactionsReply
	SubjectRefund        = SubjectPrefix + ".merchant.tx.refund"      // RefundRequest → merchant.Transaction (the refund)
	SubjectPayout        = SubjectPrefix + ".merchant.payout.create"  // PayoutRequest → merchant.Payout
	SubjectPayoutGet     = SubjectPrefix + ".merchant.payout.get"     // ObjectRequest → merchant.Payout
	SubjectBulkCreate    = SubjectPrefix + ".merchant.bulk.create"    // BulkPayoutRequest → merchant.BulkPayout
	SubjectBulkGet       = SubjectPrefix + ".merchant.bulk.get"       // ObjectRequest → merchant.BulkPayout (with Results)
	SubjectTabOpen       = SubjectPrefix + ".merchant.tab.open"       // TabOpenRequest → merchant.Tab
	SubjectTabGet        = SubjectPrefix + ".merchant.tab.get"        // ObjectRequest → merchant.Tab
	SubjectTabCharge     = SubjectPrefix + ".merchant.tab.charge"     // TabChargeRequest → merchant.Charge
	SubjectTabCharges    = SubjectPrefix + ".merchant.tab.charges"    // TabChargesRequest → TabChargesReply
	SubjectTabClose      = SubjectPrefix + ".merchant.tab.close"      // ObjectRequest (with Idempotency) → merchant.Tab
	// A tab's charges, newest first, a page at a time.
	SubjectTabChargesList = SubjectPrefix + ".merchant.tab.charges.list" // TabChargesListRequest → TabChargesPage
	// The operator REST API's key management: the same as the apikey
	// subjects, but authenticated by an operator API key in Auth (a gateway
	// may call them; the apikey subjects need operator NATS credentials and
	// make the first key).
	SubjectOpKeyCreate = SubjectPrefix + ".merchant.opkey.create" // OperatorKeyRequest → merchant.APIKey
	SubjectOpKeyList   = SubjectPrefix + ".merchant.opkey.list"   // OperatorKeyRequest → APIKeysReply
	SubjectOpKeyRevoke = SubjectPrefix + ".merchant.opkey.revoke" // OperatorKeyRequest → merchant.APIKey
	SubjectApprovals   = SubjectPrefix + ".approvals.list"        // ApprovalsRequest → ApprovalsReply
	SubjectApprove     = SubjectPrefix + ".approvals.approve"     // ApproveRequest → merchant.ApproveResult
	SubjectDecline     = SubjectPrefix + ".approvals.decline"     // ApproveRequest → merchant.Approval
)

// MerchantOperatorSubjects are the merchant subjects only operators may call
// (OperatorSubjects includes them).
var MerchantOperatorSubjects = []string{SubjectAPIKeyCreate, SubjectAPIKeyList, SubjectAPIKeyRevoke}

func init() { OperatorSubjects = append(OperatorSubjects, MerchantOperatorSubjects...) }

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

// Authenticate returns who an API key speaks for.
func (c *Client) Authenticate(ctx context.Context, key string) (*merchant.Principal, error) {
	var r merchant.Principal
	return &r, c.call(ctx, SubjectMerchantAuth, AuthRequest{Auth: key}, &r)
}

// CreateAPIKey (operator) creates an API key; the reply holds its secret.
func (c *Client) CreateAPIKey(ctx context.Context, req APIKeyRequest) (*merchant.APIKey, error) {
	var r merchant.APIKey
	return &r, c.call(ctx, SubjectAPIKeyCreate, req, &r)
}

// APIKeys (operator) lists a merchant's API keys, or every key.
func (c *Client) APIKeys(ctx context.Context, merchant string) ([]merchant.APIKey, error) {
	var r APIKeysReply
	return r.Keys, c.call(ctx, SubjectAPIKeyList, APIKeyRequest{Merchant: merchant}, &r)
}

// RevokeAPIKey (operator) revokes an API key.
func (c *Client) RevokeAPIKey(ctx context.Context, id string) (*merchant.APIKey, error) {
	var r merchant.APIKey
	return &r, c.call(ctx, SubjectAPIKeyRevoke, APIKeyRequest{ID: id}, &r)
}

// CreatePaymentRequest asks a customer to pay the key's merchant.
func (c *Client) CreatePaymentRequest(ctx context.Context, req PaymentRequestCreate) (*merchant.PaymentRequest, error) {
	var r merchant.PaymentRequest
	return &r, c.call(ctx, SubjectRequestCreate, req, &r)
}

// PaymentRequest returns one of the merchant's payment requests.
func (c *Client) PaymentRequest(ctx context.Context, auth, id string) (*merchant.PaymentRequest, error) {
	var r merchant.PaymentRequest
	return &r, c.call(ctx, SubjectRequestGet, ObjectRequest{Auth: auth, ID: id}, &r)
}

// Transaction returns one of the merchant's transactions.
func (c *Client) Transaction(ctx context.Context, auth, id string) (*merchant.Transaction, error) {
	var r merchant.Transaction
	return &r, c.call(ctx, SubjectTxGet, ObjectRequest{Auth: auth, ID: id}, &r)
}

// Transactions lists the merchant's transactions, a page at a time.
func (c *Client) Transactions(ctx context.Context, req TransactionsRequest) (*TransactionsReply, error) {
	var r TransactionsReply
	return &r, c.call(ctx, SubjectTxList, req, &r)
}

// Refund refunds a payment to the merchant, in full or in part.
func (c *Client) Refund(ctx context.Context, req RefundRequest) (*merchant.Transaction, error) {
	var r merchant.Transaction
	return &r, c.call(ctx, SubjectRefund, req, &r)
}

// Payout pays a customer from the merchant's balance.
func (c *Client) Payout(ctx context.Context, req PayoutRequest) (*merchant.Payout, error) {
	var r merchant.Payout
	return &r, c.call(ctx, SubjectPayout, req, &r)
}

// PayoutStatus returns one of the merchant's payouts.
func (c *Client) PayoutStatus(ctx context.Context, auth, id string) (*merchant.Payout, error) {
	var r merchant.Payout
	return &r, c.call(ctx, SubjectPayoutGet, ObjectRequest{Auth: auth, ID: id}, &r)
}

// BulkPayout starts paying the rows of a CSV file in the background.
func (c *Client) BulkPayout(ctx context.Context, req BulkPayoutRequest) (*merchant.BulkPayout, error) {
	var r merchant.BulkPayout
	return &r, c.call(ctx, SubjectBulkCreate, req, &r)
}

// Bulk returns a bulk payout's progress and its per-row results.
func (c *Client) Bulk(ctx context.Context, auth, id string) (*merchant.BulkPayout, error) {
	var r merchant.BulkPayout
	return &r, c.call(ctx, SubjectBulkGet, ObjectRequest{Auth: auth, ID: id}, &r)
}

// OpenTab opens a tab, pending the customer's approval.
func (c *Client) OpenTab(ctx context.Context, req TabOpenRequest) (*merchant.Tab, error) {
	var r merchant.Tab
	return &r, c.call(ctx, SubjectTabOpen, req, &r)
}

// Tab returns one of the merchant's tabs.
func (c *Client) Tab(ctx context.Context, auth, id string) (*merchant.Tab, error) {
	var r merchant.Tab
	return &r, c.call(ctx, SubjectTabGet, ObjectRequest{Auth: auth, ID: id}, &r)
}

// Charge records a charge on a tab.
func (c *Client) Charge(ctx context.Context, auth string, req merchant.ChargeRequest) (*merchant.Charge, error) {
	var r merchant.Charge
	return &r, c.call(ctx, SubjectTabCharge, TabChargeRequest{Auth: auth, Charge: req}, &r)
}

// ChargeBatch records a batch of charges on a tab, in order; the reply
// holds each charge's result. A batch too large for the connection's
// max_payload (with TabChargesReplyOverheadBytes to spare) is refused
// before it is sent: invalid_request.
func (c *Client) ChargeBatch(ctx context.Context, auth, tab string, charges []merchant.ChargeRequest) (*TabChargesReply, error) {
	data, err := json.Marshal(TabChargesRequest{Auth: auth, Tab: tab, Charges: charges})
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", SubjectTabCharges, err)
	}
	if limit := c.nc.MaxPayload() - TabChargesReplyOverheadBytes; c.nc.MaxPayload() > 0 && int64(len(data)) > limit {
		return nil, wallet.Errorf(wallet.CodeInvalid, "the batch is %d bytes of JSON, more than NATS carries here (%d); send fewer charges",
			len(data), max(limit, 0))
	}
	var r TabChargesReply
	return &r, c.call(ctx, SubjectTabCharges, json.RawMessage(data), &r)
}

// TabCharges lists one of the merchant's tabs' charges, a page at a time.
func (c *Client) TabCharges(ctx context.Context, req TabChargesListRequest) (*TabChargesPage, error) {
	var r TabChargesPage
	return &r, c.call(ctx, SubjectTabChargesList, req, &r)
}

// CloseTab settles and closes a tab.
func (c *Client) CloseTab(ctx context.Context, auth, id, idempotency string) (*merchant.Tab, error) {
	var r merchant.Tab
	return &r, c.call(ctx, SubjectTabClose, ObjectRequest{Auth: auth, ID: id, Idempotency: idempotency}, &r)
}

// Approvals lists what waits for phone's approval.
func (c *Client) Approvals(ctx context.Context, phone string) ([]merchant.Approval, error) {
	var r ApprovalsReply
	return r.Approvals, c.call(ctx, SubjectApprovals, ApprovalsRequest{Phone: phone}, &r)
}

// Approve approves a payment request or a tab with the customer's PIN.
func (c *Client) Approve(ctx context.Context, phone, id, pin string) (*merchant.ApproveResult, error) {
	var r merchant.ApproveResult
	a := wallet.PINAttemptFrom(ctx)
	return &r, c.call(ctx, SubjectApprove, ApproveRequest{Phone: phone, ID: id, PIN: pin, Source: a.Source, Attempt: a.Key}, &r)
}

// Decline declines a payment request or a tab with the customer's PIN.
func (c *Client) Decline(ctx context.Context, phone, id, pin string) (*merchant.Approval, error) {
	var r merchant.Approval
	a := wallet.PINAttemptFrom(ctx)
	return &r, c.call(ctx, SubjectDecline, ApproveRequest{Phone: phone, ID: id, PIN: pin, Source: a.Source, Attempt: a.Key}, &r)
}

// OperatorCreateAPIKey creates an API key with an operator key's authority.
func (c *Client) OperatorCreateAPIKey(ctx context.Context, auth string, req APIKeyRequest) (*merchant.APIKey, error) {
	var r merchant.APIKey
	return &r, c.call(ctx, SubjectOpKeyCreate, OperatorKeyRequest{Auth: auth, APIKeyRequest: req}, &r)
}

// OperatorAPIKeys lists a merchant's API keys (or every key) with an
// operator key's authority.
func (c *Client) OperatorAPIKeys(ctx context.Context, auth, merchant string) ([]merchant.APIKey, error) {
	var r APIKeysReply
	return r.Keys, c.call(ctx, SubjectOpKeyList, OperatorKeyRequest{Auth: auth, APIKeyRequest: APIKeyRequest{Merchant: merchant}}, &r)
}

// OperatorRevokeAPIKey revokes an API key with an operator key's authority.
func (c *Client) OperatorRevokeAPIKey(ctx context.Context, auth, id string) (*merchant.APIKey, error) {
	var r merchant.APIKey
	return &r, c.call(ctx, SubjectOpKeyRevoke, OperatorKeyRequest{Auth: auth, APIKeyRequest: APIKeyRequest{ID: id}}, &r)
}
