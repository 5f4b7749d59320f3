package merchantapi

import (
	"context"
	"encoding/json"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// The endpoints, each declared once: subject, request, reply, who may call
// it. Register binds each to the merchant.Service method that answers it.
var (
	Auth = natsrpc.Endpoint[AuthRequest, merchant.Principal]{Subject: SubjectMerchantAuth}

	// API keys with operator NATS credentials (the first key is made so).
	APIKeyCreate = natsrpc.Endpoint[APIKeyRequest, merchant.APIKey]{Subject: SubjectAPIKeyCreate, Operator: true}
	APIKeyList   = natsrpc.Endpoint[APIKeyRequest, APIKeysReply]{Subject: SubjectAPIKeyList, Operator: true, ReadOnly: true}
	APIKeyRevoke = natsrpc.Endpoint[APIKeyRequest, merchant.APIKey]{Subject: SubjectAPIKeyRevoke, Operator: true}
	// API keys with an operator API key (the operator REST API).
	OpKeyCreate = natsrpc.Endpoint[OperatorKeyRequest, merchant.APIKey]{Subject: SubjectOpKeyCreate, OperatorKey: true}
	OpKeyList   = natsrpc.Endpoint[OperatorKeyRequest, APIKeysReply]{Subject: SubjectOpKeyList}
	OpKeyRevoke = natsrpc.Endpoint[OperatorKeyRequest, merchant.APIKey]{Subject: SubjectOpKeyRevoke, OperatorKey: true}

	RequestCreate = natsrpc.Endpoint[PaymentRequestCreate, merchant.PaymentRequest]{Subject: SubjectRequestCreate}
	RequestGet    = natsrpc.Endpoint[ObjectRequest, merchant.PaymentRequest]{Subject: SubjectRequestGet}
	RequestList   = natsrpc.Endpoint[PaymentRequestsRequest, PaymentRequestsPage]{Subject: SubjectRequestList}

	TxGet  = natsrpc.Endpoint[ObjectRequest, merchant.Transaction]{Subject: SubjectTxGet}
	TxList = natsrpc.Endpoint[TransactionsRequest, TransactionsReply]{Subject: SubjectTxList}
	Refund = natsrpc.Endpoint[RefundRequest, merchant.Transaction]{Subject: SubjectRefund}

	PayoutCreate = natsrpc.Endpoint[PayoutRequest, merchant.Payout]{Subject: SubjectPayout}
	PayoutGet    = natsrpc.Endpoint[ObjectRequest, merchant.Payout]{Subject: SubjectPayoutGet}
	BulkCreate   = natsrpc.Endpoint[BulkPayoutRequest, merchant.BulkPayout]{Subject: SubjectBulkCreate, RequestBytesMax: bulkRequestBytesMax}
	BulkGet      = natsrpc.Endpoint[ObjectRequest, merchant.BulkPayout]{Subject: SubjectBulkGet}

	TabOpen        = natsrpc.Endpoint[TabOpenRequest, merchant.Tab]{Subject: SubjectTabOpen}
	TabGet         = natsrpc.Endpoint[ObjectRequest, merchant.Tab]{Subject: SubjectTabGet}
	TabCharge      = natsrpc.Endpoint[TabChargeRequest, merchant.Charge]{Subject: SubjectTabCharge}
	TabCharges     = natsrpc.Endpoint[TabChargesRequest, TabChargesReply]{Subject: SubjectTabCharges, RequestBytesMax: tabChargesRequestBytesMax}
	TabChargesList = natsrpc.Endpoint[TabChargesListRequest, TabChargesPage]{Subject: SubjectTabChargesList}
	TabClose       = natsrpc.Endpoint[ObjectRequest, merchant.Tab]{Subject: SubjectTabClose}

	// A customer's approvals: they act for a phone, with its PIN where
	// money moves.
	Approvals = natsrpc.Endpoint[ApprovalsRequest, ApprovalsReply]{Subject: SubjectApprovals}
	Approve   = natsrpc.Endpoint[ApproveRequest, merchant.ApproveResult]{Subject: SubjectApprove}
	Decline   = natsrpc.Endpoint[ApproveRequest, merchant.Approval]{Subject: SubjectDecline}
)

// Register serves every endpoint on m, answered by c. maxPayload tells the
// NATS connection's max_payload (0: unknown), which bounds a batch of
// charges so that its reply can be sent. A merchant's request carries its
// API key, which c authenticates and scopes before anything else; the
// apikey endpoints are for operator NATS credentials and take none.
func Register(m natsrpc.Mux, c *merchant.Service, maxPayload func() int64) {
	Auth.Handle(m, func(ctx context.Context, q AuthRequest) (*merchant.Principal, error) {
		p, err := c.Authenticate(ctx, q.Auth)
		return &p, err
	})

	APIKeyCreate.Handle(m, func(ctx context.Context, q APIKeyRequest) (*merchant.APIKey, error) {
		return c.NewAPIKey(ctx, nil, q.keyRequest())
	})
	APIKeyList.Handle(m, func(ctx context.Context, q APIKeyRequest) (*APIKeysReply, error) {
		keys, err := c.APIKeys(ctx, q.Merchant)
		return &APIKeysReply{Keys: keys}, err
	})
	APIKeyRevoke.Handle(m, func(ctx context.Context, q APIKeyRequest) (*merchant.APIKey, error) {
		return c.RevokeAPIKey(ctx, q.ID)
	})
	// The operator key's scopes decide what it may do with keys (see
	// merchant.NewAPIKey, RevokeAPIKeyAs).
	authorized(m, c, OpKeyCreate, merchant.ScopeOperator, func(ctx context.Context, p merchant.Principal, q OperatorKeyRequest) (*merchant.APIKey, error) {
		return c.NewAPIKey(ctx, &p, q.keyRequest())
	})
	authorized(m, c, OpKeyList, merchant.ScopeKeysRead, func(ctx context.Context, _ merchant.Principal, q OperatorKeyRequest) (*APIKeysReply, error) {
		keys, err := c.APIKeys(ctx, q.Merchant)
		return &APIKeysReply{Keys: keys}, err
	})
	authorized(m, c, OpKeyRevoke, merchant.ScopeOperator, func(ctx context.Context, p merchant.Principal, q OperatorKeyRequest) (*merchant.APIKey, error) {
		return c.RevokeAPIKeyAs(ctx, p, q.ID)
	})

	authorized(m, c, RequestCreate, merchant.ScopePayments, func(ctx context.Context, p merchant.Principal, q PaymentRequestCreate) (*merchant.PaymentRequest, error) {
		return c.RequestPayment(ctx, p, q.Idempotency, q.Phone, q.Amount, q.Reference, q.Description)
	})
	authorized(m, c, RequestGet, merchant.ScopePayments, func(ctx context.Context, p merchant.Principal, q ObjectRequest) (*merchant.PaymentRequest, error) {
		return c.PaymentRequest(ctx, p, q.ID)
	})
	authorized(m, c, RequestList, merchant.ScopePayments, func(ctx context.Context, p merchant.Principal, q PaymentRequestsRequest) (*PaymentRequestsPage, error) {
		reqs, next, err := c.PaymentRequests(ctx, p, q.Cursor, q.Limit)
		return &PaymentRequestsPage{Requests: reqs, Next: next}, err
	})

	authorized(m, c, TxGet, merchant.ScopeTransactions, func(ctx context.Context, p merchant.Principal, q ObjectRequest) (*merchant.Transaction, error) {
		return c.Transaction(ctx, p, q.ID)
	})
	authorized(m, c, TxList, merchant.ScopeTransactions, func(ctx context.Context, p merchant.Principal, q TransactionsRequest) (*TransactionsReply, error) {
		txs, next, err := c.Transactions(ctx, p, q.From, q.To, q.Cursor, q.Limit)
		return &TransactionsReply{Transactions: txs, Next: next}, err
	})
	authorized(m, c, Refund, merchant.ScopeRefunds, func(ctx context.Context, p merchant.Principal, q RefundRequest) (*merchant.Transaction, error) {
		return c.Refund(ctx, p, q.Idempotency, q.ID, q.Amount)
	})

	authorized(m, c, PayoutCreate, merchant.ScopePayouts, func(ctx context.Context, p merchant.Principal, q PayoutRequest) (*merchant.Payout, error) {
		return c.Payout(ctx, p, q.Idempotency, q.Phone, q.Amount, q.Reference)
	})
	authorized(m, c, PayoutGet, merchant.ScopePayouts, func(ctx context.Context, p merchant.Principal, q ObjectRequest) (*merchant.Payout, error) {
		return c.PayoutStatus(ctx, p, q.ID)
	})
	// A bulk payout's file is larger than any other request: its own bound,
	// and its own words when it is exceeded.
	m.Add(BulkCreate.Route(), func(ctx context.Context, r micro.Request) (any, error) {
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
	})
	authorized(m, c, BulkGet, merchant.ScopePayouts, func(ctx context.Context, p merchant.Principal, q ObjectRequest) (*merchant.BulkPayout, error) {
		return c.Bulk(ctx, p, q.ID)
	})

	authorized(m, c, TabOpen, merchant.ScopeTabs, func(ctx context.Context, p merchant.Principal, q TabOpenRequest) (*merchant.Tab, error) {
		return c.OpenTab(ctx, p, q.Idempotency, q.Phone, q.Cap, q.Prepaid, q.Expires, q.Reference, q.Description)
	})
	authorized(m, c, TabGet, merchant.ScopeTabs, func(ctx context.Context, p merchant.Principal, q ObjectRequest) (*merchant.Tab, error) {
		return c.Tab(ctx, p, q.ID)
	})
	authorized(m, c, TabCharge, merchant.ScopeTabs, func(ctx context.Context, p merchant.Principal, q TabChargeRequest) (*merchant.Charge, error) {
		return c.Charge(ctx, p, q.Charge)
	})
	// A batch of charges: bounded so that its reply fits the connection.
	m.Add(TabCharges.Route(), func(ctx context.Context, r micro.Request) (any, error) {
		if limit := tabChargesLimit(maxPayload()); len(r.Data()) > limit {
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
	})
	authorized(m, c, TabChargesList, merchant.ScopeTabs, func(ctx context.Context, p merchant.Principal, q TabChargesListRequest) (*TabChargesPage, error) {
		charges, next, err := c.TabCharges(ctx, p, q.Tab, q.Cursor, q.Limit)
		return &TabChargesPage{Charges: charges, Next: next}, err
	})
	authorized(m, c, TabClose, merchant.ScopeTabs, func(ctx context.Context, p merchant.Principal, q ObjectRequest) (*merchant.Tab, error) {
		return c.CloseTab(ctx, p, q.ID, q.Idempotency)
	})

	Approvals.Handle(m, func(ctx context.Context, q ApprovalsRequest) (*ApprovalsReply, error) {
		as, err := c.Approvals(ctx, q.Phone)
		return &ApprovalsReply{Approvals: as}, err
	})
	Approve.Handle(m, func(ctx context.Context, q ApproveRequest) (*merchant.ApproveResult, error) {
		return c.Approve(wallet.WithPINAttempt(ctx, q.attempt()), q.Phone, q.ID, q.PIN)
	})
	Decline.Handle(m, func(ctx context.Context, q ApproveRequest) (*merchant.Approval, error) {
		return c.Decline(wallet.WithPINAttempt(ctx, q.attempt()), q.Phone, q.ID, q.PIN)
	})
	registerOps(m, c)
}

// Routes are every endpoint's route, as Register adds them.
var Routes = natsrpc.Routes(func(m natsrpc.Mux) { Register(m, nil, nil) })

// OperatorSubjects are the merchant subjects only operators may call: a
// deployment gives gateway credentials no permission to publish to them
// (deploy/natsroles, with natsapi.OperatorSubjects).
var OperatorSubjects = natsrpc.OperatorSubjects(Routes)

// authed is a merchant's request: it carries the merchant's API key.
type authed interface{ auth() string }

func (q PaymentRequestCreate) auth() string   { return q.Auth }
func (q ObjectRequest) auth() string          { return q.Auth }
func (q PaymentRequestsRequest) auth() string { return q.Auth }
func (q TransactionsRequest) auth() string    { return q.Auth }
func (q RefundRequest) auth() string          { return q.Auth }
func (q PayoutRequest) auth() string          { return q.Auth }
func (q TabOpenRequest) auth() string         { return q.Auth }
func (q TabChargeRequest) auth() string       { return q.Auth }
func (q TabChargesListRequest) auth() string  { return q.Auth }
func (q OperatorKeyRequest) auth() string     { return q.Auth }

// authorized serves e on m: the request's API key authorized for scope,
// and h run for the key's principal.
func authorized[Req authed, Rep any](m natsrpc.Mux, c *merchant.Service, e natsrpc.Endpoint[Req, Rep], scope merchant.Scope,
	h func(context.Context, merchant.Principal, Req) (*Rep, error)) {
	e.Handle(m, func(ctx context.Context, q Req) (*Rep, error) {
		p, err := c.Authorize(ctx, q.auth(), scope)
		if err != nil {
			return nil, err
		}
		return h(ctx, p, q)
	})
}

func (q APIKeyRequest) keyRequest() merchant.KeyRequest {
	return merchant.KeyRequest{Merchant: q.Merchant, Operator: q.Operator, Scopes: q.Scopes, Expires: q.Expires}
}

func (q ApproveRequest) attempt() wallet.PINAttempt {
	return wallet.PINAttempt{Source: q.Source, Key: q.Attempt}
}

// KeyActor returns, for natsapi.WithKeyActor, who an operator API key is
// in the audit log: its id, authenticated by c; a key that is not an
// operator's is refused.
func KeyActor(c *merchant.Service) func(ctx context.Context, key string) (string, error) {
	return func(ctx context.Context, key string) (string, error) {
		p, err := c.Authenticate(ctx, key)
		if err != nil {
			return "", err
		}
		if !p.Operator {
			return "", wallet.Errorf(wallet.CodeForbidden, "this needs an operator API key")
		}
		return p.KeyID, nil
	}
}

// Options are the natsapi.Serve options that serve c's endpoints beside
// the wallet's, on nc (the connection Serve answers on): Register, and
// KeyActor for the audit records of the operator REST API's key calls.
func Options(c *merchant.Service, nc *nats.Conn) []natsapi.Option {
	return []natsapi.Option{
		natsapi.WithEndpoints(func(m natsrpc.Mux) { Register(m, c, nc.MaxPayload) }),
		natsapi.WithKeyActor(KeyActor(c)),
	}
}
