package merchantapi

import (
	"context"

	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// Payment requests: a merchant asks a customer to pay.

const (
	SubjectRequestCreate = natsapi.SubjectPrefix + ".merchant.request.create"
	SubjectRequestGet    = natsapi.SubjectPrefix + ".merchant.request.get"
	SubjectRequestList   = natsapi.SubjectPrefix + ".merchant.request.list"
)

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

// The endpoints, declared once.
var (
	RequestCreate = natsrpc.Endpoint[PaymentRequestCreate, merchant.PaymentRequest]{Subject: SubjectRequestCreate}
	RequestGet    = natsrpc.Endpoint[ObjectRequest, merchant.PaymentRequest]{Subject: SubjectRequestGet}
	RequestList   = natsrpc.Endpoint[PaymentRequestsRequest, PaymentRequestsPage]{Subject: SubjectRequestList}
)

// registerRequests binds each endpoint above to the merchant.Service method that
// answers it (see Register).
func registerRequests(m natsrpc.Mux, c *merchant.Service, payloadMax func() int64) {
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
}

func (q PaymentRequestCreate) auth() string   { return q.Auth }
func (q PaymentRequestsRequest) auth() string { return q.Auth }
