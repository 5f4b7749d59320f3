package merchantapi

import (
	"context"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// The back-office's merchant reads (gateway/ops): any merchant's, with
// operator NATS credentials and no API key. Operator subjects, so a gateway
// cannot call them (OperatorSubjects); read-only, so not audited.
const (
	SubjectOpsMerchants       = natsapi.SubjectPrefix + ".merchant.ops.search"
	SubjectOpsMerchant        = natsapi.SubjectPrefix + ".merchant.ops.get"
	SubjectOpsPaymentRequests = natsapi.SubjectPrefix + ".merchant.ops.requests"
	SubjectOpsTabs            = natsapi.SubjectPrefix + ".merchant.ops.tabs"
	SubjectOpsTab             = natsapi.SubjectPrefix + ".merchant.ops.tab"
)

// OpsMerchantsRequest searches tills and paybills: by number prefix when
// Query is digits, else by name prefix; every merchant when empty. Page
// counts from 0.
type OpsMerchantsRequest struct {
	Query string `json:"query,omitempty"`
	Page  int    `json:"page,omitempty"`
}

// OpsMerchantRequest names a till or paybill.
type OpsMerchantRequest struct {
	Number string `json:"number"`
}

// OpsPaymentRequestsRequest lists a merchant's payment requests, newest
// first, a page at a time.
type OpsPaymentRequestsRequest struct {
	Number string `json:"number"`
	Cursor string `json:"cursor,omitempty"` // the previous page's Next
	Limit  int    `json:"limit,omitempty"`
}

// OpsTabsRequest lists a merchant's tabs, newest first, a page at a time:
// only the open ones (pending, active, suspended) or only the finished
// ones (closed, declined) when Open is set.
type OpsTabsRequest struct {
	Number string `json:"number"`
	Open   *bool  `json:"open,omitempty"`
	Cursor string `json:"cursor,omitempty"` // the previous page's Next
	Limit  int    `json:"limit,omitempty"`
}

// OpsTabRequest asks for one of a merchant's tabs and a page of its
// charges, newest first.
type OpsTabRequest struct {
	Number string `json:"number"`
	Tab    string `json:"tab"`
	Cursor string `json:"cursor,omitempty"` // the previous page's Next
	Limit  int    `json:"limit,omitempty"`
}

// OpsTabReply is a tab and a page of its charges.
type OpsTabReply struct {
	Tab merchant.Tab `json:"tab"`
	merchant.ChargesPage
}

var (
	OpsMerchants       = natsrpc.Endpoint[OpsMerchantsRequest, merchant.MerchantsPage]{Subject: SubjectOpsMerchants, Operator: true, ReadOnly: true}
	OpsMerchant        = natsrpc.Endpoint[OpsMerchantRequest, wallet.Account]{Subject: SubjectOpsMerchant, Operator: true, ReadOnly: true}
	OpsPaymentRequests = natsrpc.Endpoint[OpsPaymentRequestsRequest, PaymentRequestsPage]{Subject: SubjectOpsPaymentRequests, Operator: true, ReadOnly: true}
	OpsTabs            = natsrpc.Endpoint[OpsTabsRequest, merchant.TabsPage]{Subject: SubjectOpsTabs, Operator: true, ReadOnly: true}
	OpsTab             = natsrpc.Endpoint[OpsTabRequest, OpsTabReply]{Subject: SubjectOpsTab, Operator: true, ReadOnly: true}
)

// registerOps serves the back-office's merchant reads on m (Register).
func registerOps(m natsrpc.Mux, c *merchant.Service, _ func() int64) {
	OpsMerchants.Handle(m, func(ctx context.Context, q OpsMerchantsRequest) (*merchant.MerchantsPage, error) {
		return c.OpsMerchants(ctx, q.Query, q.Page)
	})
	OpsMerchant.Handle(m, func(ctx context.Context, q OpsMerchantRequest) (*wallet.Account, error) {
		return c.OpsMerchant(ctx, q.Number)
	})
	OpsPaymentRequests.Handle(m, func(ctx context.Context, q OpsPaymentRequestsRequest) (*PaymentRequestsPage, error) {
		reqs, next, err := c.OpsPaymentRequests(ctx, q.Number, q.Cursor, q.Limit)
		return &PaymentRequestsPage{Requests: reqs, Next: next}, err
	})
	OpsTabs.Handle(m, func(ctx context.Context, q OpsTabsRequest) (*merchant.TabsPage, error) {
		return c.OpsTabs(ctx, q.Number, q.Open, q.Cursor, q.Limit)
	})
	OpsTab.Handle(m, func(ctx context.Context, q OpsTabRequest) (*OpsTabReply, error) {
		t, charges, err := c.OpsTab(ctx, q.Number, q.Tab, q.Cursor, q.Limit)
		if err != nil {
			return nil, err
		}
		return &OpsTabReply{Tab: *t, ChargesPage: *charges}, nil
	})
}
