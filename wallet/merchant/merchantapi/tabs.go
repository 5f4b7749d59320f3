package merchantapi

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// Tabs: metered micropayments, charged one at a time or in batches.

const (
	SubjectTabOpen    = natsapi.SubjectPrefix + ".merchant.tab.open"
	SubjectTabGet     = natsapi.SubjectPrefix + ".merchant.tab.get"
	SubjectTabCharge  = natsapi.SubjectPrefix + ".merchant.tab.charge"
	SubjectTabCharges = natsapi.SubjectPrefix + ".merchant.tab.charges"
	// A tab's charges, newest first, a page at a time.
	SubjectTabChargesList = natsapi.SubjectPrefix + ".merchant.tab.charges.list"
	SubjectTabClose       = natsapi.SubjectPrefix + ".merchant.tab.close"
	// The merchant's open tabs, newest first, a page at a time.
	SubjectTabList = natsapi.SubjectPrefix + ".merchant.tab.list"
)

// TabsRequest lists the merchant's open tabs, newest first, a page at a
// time (merchant.Service.OpenTabs).
type TabsRequest struct {
	Auth   string `json:"auth"`
	Cursor string `json:"cursor,omitempty"` // the previous page's Next
	Limit  int    `json:"limit,omitempty"`  // default 50, at most 200
}

// TabsPage is one page of tabs.
type TabsPage struct {
	Tabs []merchant.Tab `json:"tabs"`
	Next string         `json:"next,omitempty"` // empty on the last page
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

// The endpoints, declared once.
var (
	TabOpen        = natsrpc.Endpoint[TabOpenRequest, merchant.Tab]{Subject: SubjectTabOpen}
	TabGet         = natsrpc.Endpoint[ObjectRequest, merchant.Tab]{Subject: SubjectTabGet}
	TabCharge      = natsrpc.Endpoint[TabChargeRequest, merchant.Charge]{Subject: SubjectTabCharge}
	TabCharges     = natsrpc.Endpoint[TabChargesRequest, TabChargesReply]{Subject: SubjectTabCharges, RequestBytesMax: tabChargesRequestBytesMax}
	TabChargesList = natsrpc.Endpoint[TabChargesListRequest, TabChargesPage]{Subject: SubjectTabChargesList}
	TabClose       = natsrpc.Endpoint[ObjectRequest, merchant.Tab]{Subject: SubjectTabClose}
	TabList        = natsrpc.Endpoint[TabsRequest, TabsPage]{Subject: SubjectTabList}
)

// registerTabs binds each endpoint above to the merchant.Service method that
// answers it (see Register).
func registerTabs(m natsrpc.Mux, c *merchant.Service, payloadMax func() int64) {
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
		if limit := tabChargesLimit(payloadMax()); len(r.Data()) > limit {
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
	authorized(m, c, TabList, merchant.ScopeTabs, func(ctx context.Context, p merchant.Principal, q TabsRequest) (*TabsPage, error) {
		tabs, next, err := c.OpenTabs(ctx, p, q.Cursor, q.Limit)
		return &TabsPage{Tabs: tabs, Next: next}, err
	})
	authorized(m, c, TabClose, merchant.ScopeTabs, func(ctx context.Context, p merchant.Principal, q ObjectRequest) (*merchant.Tab, error) {
		return c.CloseTab(ctx, p, q.ID, q.Idempotency)
	})
}

func (q TabOpenRequest) auth() string        { return q.Auth }
func (q TabChargeRequest) auth() string      { return q.Auth }
func (q TabChargesListRequest) auth() string { return q.Auth }
func (q TabsRequest) auth() string           { return q.Auth }

// TabChargesReplyOverheadBytes is the most a TabChargesReply adds to its
// request: per charge, the charge's id, tab, totals and time (or a
// refusal's code and message) in place of its key. A batch of charges must
// fit NATS's max_payload with this much to spare, or its reply could not be
// sent: the server refuses a larger one (invalid_request), and so does
// Client.ChargeBatch before sending it.
const TabChargesReplyOverheadBytes = merchant.BatchChargesMax*320 + 1<<10

// tabChargesRequestBytesMax bounds a batch of charges: merchant.BatchChargesMax
// of the largest (a 64-byte key and a 32-byte reference, escaped, and 16
// split rules: under 2 KB of JSON), with the API key. Less where NATS's
// max_payload cannot also carry the reply (tabChargesLimit).
const tabChargesRequestBytesMax = merchant.BatchChargesMax*(2<<10) + 4<<10

// tabChargesLimit is the largest batch of charges a server on a connection
// with payloadMax (0: unknown) takes: one whose reply fits.
func tabChargesLimit(payloadMax int64) int {
	limit := int64(tabChargesRequestBytesMax)
	if payloadMax > 0 {
		limit = min(limit, payloadMax-TabChargesReplyOverheadBytes)
	}
	return int(max(limit, 0))
}
