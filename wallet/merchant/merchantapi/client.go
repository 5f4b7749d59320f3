package merchantapi

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// Client calls the merchant endpoints through a wallet client
// (natsapi.Client). Its methods are shorthands for the endpoints'
// declarations (Endpoint.Call), for callers that hold a Client; the few
// that do more than call (Approve and Decline fill the PIN attempt from
// the context, ChargeBatch checks the batch fits NATS) are the only way
// to call their endpoints. Its errors are *wallet.Error.
type Client struct {
	c Conn
}

// Conn is what the merchant endpoints are called through: a wallet client,
// *natsapi.Client, which adds the prefix and the operator's headers.
// MaxPayload is the most bytes its connection carries in one message (0:
// not yet known).
type Conn interface {
	natsrpc.Caller
	MaxPayload() int64
}

var _ Conn = (*natsapi.Client)(nil)

// NewClient returns a Client calling through c.
func NewClient(c Conn) *Client { return &Client{c: c} }

// Authenticate returns who an API key speaks for.
func (c *Client) Authenticate(ctx context.Context, key string) (*merchant.Principal, error) {
	return Auth.Call(ctx, c.c, AuthRequest{Auth: key})
}

// CreateAPIKey (operator) creates an API key; the reply holds its secret.
func (c *Client) CreateAPIKey(ctx context.Context, req APIKeyRequest) (*merchant.APIKey, error) {
	return APIKeyCreate.Call(ctx, c.c, req)
}

// APIKeys (operator) lists a merchant's API keys, or every key.
func (c *Client) APIKeys(ctx context.Context, owner string) ([]merchant.APIKey, error) {
	r, err := APIKeyList.Call(ctx, c.c, APIKeyRequest{Merchant: owner})
	return r.Keys, err
}

// RevokeAPIKey (operator) revokes an API key.
func (c *Client) RevokeAPIKey(ctx context.Context, id string) (*merchant.APIKey, error) {
	return APIKeyRevoke.Call(ctx, c.c, APIKeyRequest{ID: id})
}

// CreatePaymentRequest asks a customer to pay the key's merchant.
func (c *Client) CreatePaymentRequest(ctx context.Context, req PaymentRequestCreate) (*merchant.PaymentRequest, error) {
	return RequestCreate.Call(ctx, c.c, req)
}

// PaymentRequest returns one of the merchant's payment requests.
func (c *Client) PaymentRequest(ctx context.Context, auth, id string) (*merchant.PaymentRequest, error) {
	return RequestGet.Call(ctx, c.c, ObjectRequest{Auth: auth, ID: id})
}

// Transaction returns one of the merchant's transactions.
func (c *Client) Transaction(ctx context.Context, auth, id string) (*merchant.Transaction, error) {
	return TxGet.Call(ctx, c.c, ObjectRequest{Auth: auth, ID: id})
}

// Transactions lists the merchant's transactions, a page at a time.
func (c *Client) Transactions(ctx context.Context, req TransactionsRequest) (*TransactionsReply, error) {
	return TxList.Call(ctx, c.c, req)
}

// Refund refunds a payment to the merchant, in full or in part.
func (c *Client) Refund(ctx context.Context, req RefundRequest) (*merchant.Transaction, error) {
	return Refund.Call(ctx, c.c, req)
}

// Payout pays a customer from the merchant's balance.
func (c *Client) Payout(ctx context.Context, req PayoutRequest) (*merchant.Payout, error) {
	return PayoutCreate.Call(ctx, c.c, req)
}

// PayoutStatus returns one of the merchant's payouts.
func (c *Client) PayoutStatus(ctx context.Context, auth, id string) (*merchant.Payout, error) {
	return PayoutGet.Call(ctx, c.c, ObjectRequest{Auth: auth, ID: id})
}

// BulkPayout starts paying the rows of a CSV file in the background.
func (c *Client) BulkPayout(ctx context.Context, req BulkPayoutRequest) (*merchant.BulkPayout, error) {
	return BulkCreate.Call(ctx, c.c, req)
}

// Bulk returns a bulk payout's progress and its per-row results.
func (c *Client) Bulk(ctx context.Context, auth, id string) (*merchant.BulkPayout, error) {
	return BulkGet.Call(ctx, c.c, ObjectRequest{Auth: auth, ID: id})
}

// OpenTab opens a tab, pending the customer's approval.
func (c *Client) OpenTab(ctx context.Context, req TabOpenRequest) (*merchant.Tab, error) {
	return TabOpen.Call(ctx, c.c, req)
}

// Tab returns one of the merchant's tabs.
func (c *Client) Tab(ctx context.Context, auth, id string) (*merchant.Tab, error) {
	return TabGet.Call(ctx, c.c, ObjectRequest{Auth: auth, ID: id})
}

// Charge records a charge on a tab.
func (c *Client) Charge(ctx context.Context, auth string, req merchant.ChargeRequest) (*merchant.Charge, error) {
	return TabCharge.Call(ctx, c.c, TabChargeRequest{Auth: auth, Charge: req})
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
	if mp := c.c.MaxPayload(); mp > 0 && int64(len(data)) > mp-TabChargesReplyOverheadBytes {
		return nil, wallet.Errorf(wallet.CodeInvalid, "the batch is %d bytes of JSON, more than NATS carries here (%d); send fewer charges",
			len(data), max(mp-TabChargesReplyOverheadBytes, 0))
	}
	var r TabChargesReply
	return &r, c.c.Call(ctx, SubjectTabCharges, json.RawMessage(data), &r)
}

// TabCharges lists one of the merchant's tabs' charges, a page at a time.
func (c *Client) TabCharges(ctx context.Context, req TabChargesListRequest) (*TabChargesPage, error) {
	return TabChargesList.Call(ctx, c.c, req)
}

// CloseTab settles and closes a tab.
func (c *Client) CloseTab(ctx context.Context, auth, id, idempotency string) (*merchant.Tab, error) {
	return TabClose.Call(ctx, c.c, ObjectRequest{Auth: auth, ID: id, Idempotency: idempotency})
}

// Approvals lists what waits for phone's approval.
func (c *Client) Approvals(ctx context.Context, phone string) ([]merchant.Approval, error) {
	r, err := Approvals.Call(ctx, c.c, ApprovalsRequest{Phone: phone})
	return r.Approvals, err
}

// approveRequest is phone's answer to approval id, with the PIN attempt
// the context carries: a retried approval hop counts a wrong PIN once.
func approveRequest(ctx context.Context, phone, id, pin string) ApproveRequest {
	a := wallet.PINAttemptFrom(ctx)
	return ApproveRequest{Phone: phone, ID: id, PIN: pin, Source: a.Source, Attempt: a.Key}
}

// Approve approves a payment request or a tab with the customer's PIN.
func (c *Client) Approve(ctx context.Context, phone, id, pin string) (*merchant.ApproveResult, error) {
	return Approve.Call(ctx, c.c, approveRequest(ctx, phone, id, pin))
}

// Decline declines a payment request or a tab with the customer's PIN.
func (c *Client) Decline(ctx context.Context, phone, id, pin string) (*merchant.Approval, error) {
	return Decline.Call(ctx, c.c, approveRequest(ctx, phone, id, pin))
}

// OperatorCreateAPIKey creates an API key with an operator key's authority.
func (c *Client) OperatorCreateAPIKey(ctx context.Context, auth string, req APIKeyRequest) (*merchant.APIKey, error) {
	return OpKeyCreate.Call(ctx, c.c, OperatorKeyRequest{Auth: auth, APIKeyRequest: req})
}

// OperatorAPIKeys lists a merchant's API keys (or every key) with an
// operator key's authority.
func (c *Client) OperatorAPIKeys(ctx context.Context, auth, owner string) ([]merchant.APIKey, error) {
	r, err := OpKeyList.Call(ctx, c.c, OperatorKeyRequest{Auth: auth, APIKeyRequest: APIKeyRequest{Merchant: owner}})
	return r.Keys, err
}

// OperatorRevokeAPIKey revokes an API key with an operator key's authority.
func (c *Client) OperatorRevokeAPIKey(ctx context.Context, auth, id string) (*merchant.APIKey, error) {
	return OpKeyRevoke.Call(ctx, c.c, OperatorKeyRequest{Auth: auth, APIKeyRequest: APIKeyRequest{ID: id}})
}
