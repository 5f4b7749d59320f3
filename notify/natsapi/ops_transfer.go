package natsapi

import (
	"context"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/notify/store"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// OpsTransfer answers what the notifier did about one transfer, for its
// page in the back-office: the receipts recorded for its parties and the
// webhook deliveries of its merchant events.
var OpsTransfer = natsrpc.Endpoint[OpsTransferRequest, OpsTransferReply]{Subject: OpsSubjectPrefix + ".transfer", Operator: true, ReadOnly: true}

// OpsTransferRequest names a transfer (its id and Ref) and its parties:
// the receipts asked for are those to Accounts, the deliveries those to
// the merchants whose account numbers are Merchants (a number that is no
// merchant's finds none). At most store.TransferKeysMax of each.
type OpsTransferRequest struct {
	Transfer  int64    `json:"transfer"`
	Ref       string   `json:"ref"`
	Accounts  []int64  `json:"accounts,omitempty"`
	Merchants []string `json:"merchants,omitempty"`
}

// OpsTransferReply is the transfer's receipts (oldest first) and its
// merchant events' deliveries, each with its attempts.
type OpsTransferReply struct {
	SMS        []notify.Stored          `json:"sms"`
	Deliveries []store.MerchantDelivery `json:"deliveries"`
}

func registerOpsTransfer(m natsrpc.Mux, st *store.Store) {
	OpsTransfer.Handle(m, func(ctx context.Context, q OpsTransferRequest) (*OpsTransferReply, error) {
		if q.Transfer <= 0 || wallet.Ref(q.Transfer) != q.Ref {
			return nil, wallet.Errorf(wallet.CodeInvalid, "a transfer's id and its ref are required")
		}
		if len(q.Accounts) > store.TransferKeysMax || len(q.Merchants) > store.TransferKeysMax {
			return nil, wallet.Errorf(wallet.CodeInvalid, "at most %d accounts and %d merchants", store.TransferKeysMax, store.TransferKeysMax)
		}
		keys := make([]string, len(q.Accounts))
		for i, a := range q.Accounts {
			keys[i] = notify.ReceiptKey(q.Transfer, a)
		}
		events := make([]store.EventDelivery, 0, len(q.Merchants))
		for _, mch := range q.Merchants {
			if err := validMerchant(mch); err != nil {
				return nil, err
			}
			events = append(events, store.EventDelivery{Merchant: mch, Event: notify.TransferEventID(q.Ref, mch)})
		}
		sms, err := st.Receipts(ctx, keys)
		if err != nil {
			return nil, err
		}
		for i := range sms {
			redact(&sms[i])
		}
		ds, err := st.EventDeliveries(ctx, events)
		if err != nil {
			return nil, err
		}
		return &OpsTransferReply{SMS: sms, Deliveries: ds}, nil
	})
}

// Transfer returns the receipts and webhook deliveries of a transfer
// (OpsTransfer).
func (c *OpsClient) Transfer(ctx context.Context, q OpsTransferRequest) (*OpsTransferReply, error) {
	return OpsTransfer.Call(ctx, c, q)
}
