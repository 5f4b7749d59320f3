package merchantapi

import (
	"context"
	"time"

	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// A merchant's transactions and refunds.

const (
	SubjectTxGet  = natsapi.SubjectPrefix + ".merchant.tx.get"
	SubjectTxList = natsapi.SubjectPrefix + ".merchant.tx.list"
	SubjectRefund = natsapi.SubjectPrefix + ".merchant.tx.refund"
)

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

// The endpoints, declared once.
var (
	TxGet  = natsrpc.Endpoint[ObjectRequest, merchant.Transaction]{Subject: SubjectTxGet}
	TxList = natsrpc.Endpoint[TransactionsRequest, TransactionsReply]{Subject: SubjectTxList}
	Refund = natsrpc.Endpoint[RefundRequest, merchant.Transaction]{Subject: SubjectRefund}
)

// registerTransactions binds each endpoint above to the merchant.Service method that
// answers it (see Register).
func registerTransactions(m natsrpc.Mux, c *merchant.Service, payloadMax func() int64) {
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
}

func (q TransactionsRequest) auth() string { return q.Auth }
func (q RefundRequest) auth() string       { return q.Auth }
