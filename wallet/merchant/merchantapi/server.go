package natsapi

import (
	"context"
	"encoding/json"

	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// bulkRequestBytesMax bounds a bulk payout request: the CSV file
// (merchant.BulkBytesMax) base64-encoded in JSON, and a little besides.
// (NATS's own max_payload, 1 MB by default, must be raised to carry files
// that large.)
const bulkRequestBytesMax = merchant.BulkBytesMax/3*4 + 4<<10

// tabChargesRequestBytesMax bounds a batch of charges: merchant.BatchChargesMax
// of the largest (a 64-byte key and a 32-byte reference, escaped, and 16
// split rules: under 2 KB of JSON), with the API key. Less where NATS's
// max_payload cannot also carry the reply (tabChargesLimit).
const tabChargesRequestBytesMax = merchant.BatchChargesMax*(2<<10) + 4<<10

// tabChargesLimit is the largest batch of charges this server takes: one
// whose reply fits its connection's max_payload.
func (s *server) tabChargesLimit() int {
	limit := int64(tabChargesRequestBytesMax)
	if mp := s.nc.MaxPayload(); mp > 0 {
		limit = min(limit, mp-TabChargesReplyOverheadBytes)
	}
	return int(max(limit, 0))
}

// merchant adds the merchant endpoints (merchant.go's subjects) served by c.
// A merchant's request carries its API key, which c authenticates and
// scopes before anything else; the apikey subjects are for operator NATS
// credentials and take none; the approvals subjects act for a customer's
// phone, with the PIN where money moves.
func (s *server) merchant(c *merchant.Service, add func(string, micro.HandlerFunc)) {
	add(SubjectMerchantAuth, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q AuthRequest
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		return c.Authenticate(ctx, q.Auth)
	}))

	// API keys: operator NATS credentials, or an operator API key.
	add(SubjectAPIKeyCreate, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q APIKeyRequest
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		return c.NewAPIKey(ctx, nil, merchant.KeyRequest{Merchant: q.Merchant, Operator: q.Operator, Scopes: q.Scopes, Expires: q.Expires})
	}))
	add(SubjectAPIKeyList, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q APIKeyRequest
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		keys, err := c.APIKeys(ctx, q.Merchant)
		return APIKeysReply{Keys: keys}, err
	}))
	add(SubjectAPIKeyRevoke, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q APIKeyRequest
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		return c.RevokeAPIKey(ctx, q.ID)
	}))
	// The operator key's scopes decide what it may do with keys (see
	// merchant.NewAPIKey, RevokeAPIKeyAs).
	operator := func(scope merchant.Scope, h func(context.Context, merchant.Principal, OperatorKeyRequest) (any, error)) micro.HandlerFunc {
		return s.async(func(ctx context.Context, r micro.Request) (any, error) {
			var q OperatorKeyRequest
			if err := decode(r, &q); err != nil {
				return nil, err
			}
			p, err := c.Authorize(ctx, q.Auth, scope)
			if err != nil {
				return nil, err
			}
			return h(ctx, p, q)
		})
	}
	add(SubjectOpKeyCreate, operator(merchant.ScopeOperator, func(ctx context.Context, p merchant.Principal, q OperatorKeyRequest) (any, error) {
		return c.NewAPIKey(ctx, &p, merchant.KeyRequest{Merchant: q.Merchant, Operator: q.Operator, Scopes: q.Scopes, Expires: q.Expires})
	}))
	add(SubjectOpKeyList, operator(merchant.ScopeKeysRead, func(ctx context.Context, _ merchant.Principal, q OperatorKeyRequest) (any, error) {
		keys, err := c.APIKeys(ctx, q.Merchant)
		return APIKeysReply{Keys: keys}, err
	}))
	add(SubjectOpKeyRevoke, operator(merchant.ScopeOperator, func(ctx context.Context, p merchant.Principal, q OperatorKeyRequest) (any, error) {
		return c.RevokeAPIKeyAs(ctx, p, q.ID)
	}))

	// Payment requests.
	add(SubjectRequestCreate, merchantCall(s, c, merchant.ScopePayments, func(ctx context.Context, p merchant.Principal, q *PaymentRequestCreate) (any, error) {
		return c.RequestPayment(ctx, p, q.Idempotency, q.Phone, q.Amount, q.Reference, q.Description)
	}))
	add(SubjectRequestGet, merchantCall(s, c, merchant.ScopePayments, func(ctx context.Context, p merchant.Principal, q *ObjectRequest) (any, error) {
		return c.PaymentRequest(ctx, p, q.ID)
	}))

	// Transactions and refunds.
	add(SubjectTxGet, merchantCall(s, c, merchant.ScopeTransactions, func(ctx context.Context, p merchant.Principal, q *ObjectRequest) (any, error) {
		return c.Transaction(ctx, p, q.ID)
	}))
	add(SubjectTxList, merchantCall(s, c, merchant.ScopeTransactions, func(ctx context.Context, p merchant.Principal, q *TransactionsRequest) (any, error) {
		txs, next, err := c.Transactions(ctx, p, q.From, q.To, q.Cursor, q.Limit)
		return TransactionsReply{Transactions: txs, Next: next}, err
	}))
	add(SubjectRefund, merchantCall(s, c, merchant.ScopeRefunds, func(ctx context.Context, p merchant.Principal, q *RefundRequest) (any, error) {
		return c.Refund(ctx, p, q.Idempotency, q.ID, q.Amount)
	}))

	// Payouts.
	add(SubjectPayout, merchantCall(s, c, merchant.ScopePayouts, func(ctx context.Context, p merchant.Principal, q *PayoutRequest) (any, error) {
		return c.Payout(ctx, p, q.Idempotency, q.Phone, q.Amount, q.Reference)
	}))
	add(SubjectPayoutGet, merchantCall(s, c, merchant.ScopePayouts, func(ctx context.Context, p merchant.Principal, q *ObjectRequest) (any, error) {
		return c.PayoutStatus(ctx, p, q.ID)
	}))
	add(SubjectBulkCreate, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		if len(r.Data()) > bulkRequestBytesMax {
			return nil, wallet.Errorf(wallet.CodeInvalid, "a bulk payout file is at most %d bytes", merchant.BulkBytesMax)
		}
		var q BulkPayoutRequest
		if err := json.Unmarshal(r.Data(), &q); err != nil {
			return nil, wallet.Errorf(wallet.CodeInvalid, "malformed JSON request")
		}
		p, err := c.Authorize(ctx, q.Auth, merchant.ScopePayouts)
		if err != nil {
			return nil, err
		}
		return c.BulkPayout(ctx, p, q.Idempotency, q.CSV)
	}))
	add(SubjectBulkGet, merchantCall(s, c, merchant.ScopePayouts, func(ctx context.Context, p merchant.Principal, q *ObjectRequest) (any, error) {
		return c.Bulk(ctx, p, q.ID)
	}))

	// Tabs.
	add(SubjectTabOpen, merchantCall(s, c, merchant.ScopeTabs, func(ctx context.Context, p merchant.Principal, q *TabOpenRequest) (any, error) {
		return c.OpenTab(ctx, p, q.Idempotency, q.Phone, q.Cap, q.Prepaid, q.Expires, q.Reference, q.Description)
	}))
	add(SubjectTabGet, merchantCall(s, c, merchant.ScopeTabs, func(ctx context.Context, p merchant.Principal, q *ObjectRequest) (any, error) {
		return c.Tab(ctx, p, q.ID)
	}))
	add(SubjectTabCharge, merchantCall(s, c, merchant.ScopeTabs, func(ctx context.Context, p merchant.Principal, q *TabChargeRequest) (any, error) {
		return c.Charge(ctx, p, q.Charge)
	}))
	add(SubjectTabCharges, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		if limit := s.tabChargesLimit(); len(r.Data()) > limit {
			return nil, wallet.Errorf(wallet.CodeInvalid, "a batch of charges is at most %d bytes of JSON here; send fewer", limit)
		}
		var q TabChargesRequest
		if err := json.Unmarshal(r.Data(), &q); err != nil {
			return nil, wallet.Errorf(wallet.CodeInvalid, "malformed JSON request")
		}
		p, err := c.Authorize(ctx, q.Auth, merchant.ScopeTabs)
		if err != nil {
			return nil, err
		}
		results, err := c.ChargeBatch(ctx, p, q.Tab, q.Charges)
		if err != nil {
			return nil, err
		}
		last := results[len(results)-1]
		return TabChargesReply{Results: results, Charged: last.Charged, Remaining: last.Remaining}, nil
	}))
	add(SubjectTabChargesList, merchantCall(s, c, merchant.ScopeTabs, func(ctx context.Context, p merchant.Principal, q *TabChargesListRequest) (any, error) {
		charges, next, err := c.TabCharges(ctx, p, q.Tab, q.Cursor, q.Limit)
		return TabChargesPage{Charges: charges, Next: next}, err
	}))
	add(SubjectTabClose, merchantCall(s, c, merchant.ScopeTabs, func(ctx context.Context, p merchant.Principal, q *ObjectRequest) (any, error) {
		return c.CloseTab(ctx, p, q.ID, q.Idempotency)
	}))

	// A customer's approvals.
	add(SubjectApprovals, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q ApprovalsRequest
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		as, err := c.Approvals(ctx, q.Phone)
		return ApprovalsReply{Approvals: as}, err
	}))
	add(SubjectApprove, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q ApproveRequest
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		return c.Approve(wallet.WithPINAttempt(ctx, wallet.PINAttempt{Source: q.Source, Key: q.Attempt}), q.Phone, q.ID, q.PIN)
	}))
	add(SubjectDecline, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q ApproveRequest
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		return c.Decline(wallet.WithPINAttempt(ctx, wallet.PINAttempt{Source: q.Source, Key: q.Attempt}), q.Phone, q.ID, q.PIN)
	}))
}

// authed is a merchant request: it carries the merchant's API key.
type authed interface{ auth() string }

func (q *PaymentRequestCreate) auth() string { return q.Auth }
func (q *ObjectRequest) auth() string        { return q.Auth }
func (q *TransactionsRequest) auth() string  { return q.Auth }
func (q *RefundRequest) auth() string        { return q.Auth }
func (q *PayoutRequest) auth() string        { return q.Auth }
func (q *TabOpenRequest) auth() string       { return q.Auth }
func (q *TabChargeRequest) auth() string     { return q.Auth }

func (q *TabChargesListRequest) auth() string { return q.Auth }

// merchantCall decodes a merchant request, authorizes its API key for
// scope, and runs h for the key's merchant.
func merchantCall[T any, P interface {
	*T
	authed
}](s *server, c *merchant.Service, scope merchant.Scope, h func(context.Context, merchant.Principal, P) (any, error)) micro.HandlerFunc {
	return s.async(func(ctx context.Context, r micro.Request) (any, error) {
		q := P(new(T))
		if err := decode(r, q); err != nil {
			return nil, err
		}
		p, err := c.Authorize(ctx, q.auth(), scope)
		if err != nil {
			return nil, err
		}
		return h(ctx, p, q)
	})
}
