package ops

import (
	"context"
	"net/http"
	"slices"

	"github.com/kibubu/kibubu/notify"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	notifystore "github.com/kibubu/kibubu/notify/store"
	"github.com/kibubu/kibubu/wallet"
)

// A transfer's page: its postings (the fee and commission legs among
// them), its history (the reversal request about it, the transfers that
// reverse or refund it, the one it reverses or refunds: the wallet's
// TransferView), and what the notifier did about it (the receipts it
// recorded for the parties, the webhook deliveries of its merchant
// events). A notifier that does not answer leaves the rest of the page as
// it is, and the section says so.

// transferData is a transfer's page's data.
type transferData struct {
	*wallet.TransferView
	Notices *transferNotices
}

// transferNotices is the notifier's section of a transfer's page: its
// receipts and webhook deliveries, or why they cannot be shown.
type transferNotices struct {
	SMS        []notify.Stored
	Deliveries []notifystore.MerchantDelivery
	Merchant   bool   // the transfer concerns a merchant: its deliveries are asked for
	Problem    string // the notifier's silence or refusal, in words
}

func (s *Server) transfer(w http.ResponseWriter, r *http.Request, v *view) {
	t, err := s.cfg.Wallet.TransferDetail(r.Context(), r.PathValue("ref"))
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	v.Data = &transferData{TransferView: t, Notices: s.transferNoticesOf(r.Context(), v, t)}
	s.render(w, "transfer", v)
}

// transferNoticesOf asks the notifier for the receipts to the transfer's
// parties (the accounts it posted to, its source and target) and the
// deliveries to the merchants among them.
func (s *Server) transferNoticesOf(ctx context.Context, v *view, t *wallet.TransferView) *transferNotices {
	if s.cfg.Notifier == nil {
		return &transferNotices{Problem: v.T("ops.notify.none")}
	}
	q := notifyapi.OpsTransferRequest{Transfer: t.Transfer.ID, Ref: t.Transfer.Ref}
	parties := []int64{t.Transfer.Source, t.Transfer.Target}
	for _, p := range t.Transfer.Postings {
		parties = append(parties, p.AccountID)
	}
	for _, id := range parties {
		if id == 0 || slices.Contains(q.Accounts, id) || len(q.Accounts) == notifystore.TransferKeysMax {
			continue
		}
		q.Accounts = append(q.Accounts, id)
		if a, ok := t.Accounts[id]; ok && (a.Kind == wallet.KindTill || a.Kind == wallet.KindPaybill) {
			q.Merchants = append(q.Merchants, a.Number)
		}
	}
	rep, err := s.cfg.Notifier.Transfer(ctx, q)
	if err != nil {
		s.log.Warn("ops: transfer notices", "ref", t.Transfer.Ref, "err", err)
		return &transferNotices{Problem: v.T("ops.notify.unavailable")}
	}
	return &transferNotices{SMS: rep.SMS, Deliveries: rep.Deliveries, Merchant: len(q.Merchants) > 0}
}
