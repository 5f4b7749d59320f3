package merchantapi

import (
	"context"
	"encoding/json"

	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// Payouts from a merchant's balance, alone and in bulk.

const (
	SubjectPayout     = natsapi.SubjectPrefix + ".merchant.payout.create"
	SubjectPayoutGet  = natsapi.SubjectPrefix + ".merchant.payout.get"
	SubjectBulkCreate = natsapi.SubjectPrefix + ".merchant.bulk.create"
	SubjectBulkGet    = natsapi.SubjectPrefix + ".merchant.bulk.get"
)

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

// The endpoints, declared once.
var (
	PayoutCreate = natsrpc.Endpoint[PayoutRequest, merchant.Payout]{Subject: SubjectPayout}
	PayoutGet    = natsrpc.Endpoint[ObjectRequest, merchant.Payout]{Subject: SubjectPayoutGet}
	BulkCreate   = natsrpc.Endpoint[BulkPayoutRequest, merchant.BulkPayout]{Subject: SubjectBulkCreate, RequestBytesMax: bulkRequestBytesMax}
	BulkGet      = natsrpc.Endpoint[ObjectRequest, merchant.BulkPayout]{Subject: SubjectBulkGet}
)

// registerPayouts binds each endpoint above to the merchant.Service method that
// answers it (see Register).
func registerPayouts(m natsrpc.Mux, c *merchant.Service, payloadMax func() int64) {
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
}

func (q PayoutRequest) auth() string { return q.Auth }

// bulkRequestBytesMax bounds a bulk payout request: the CSV file
// (merchant.BulkBytesMax) base64-encoded in JSON, and a little besides.
// (NATS's own max_payload, 1 MB by default, must be raised to carry files
// that large.)
const bulkRequestBytesMax = merchant.BulkBytesMax/3*4 + 4<<10
