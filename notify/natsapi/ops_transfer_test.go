package natsapi

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/notify/store"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

// TestOpsTransfer records a till payment's receipts and webhook as the
// notifier's consumer does (notify.Receipts, notify.TransferWebhooks) and
// asks for them by the transfer: both receipts and the delivery, not
// another transfer's; bad requests are refused.
func TestOpsTransfer(t *testing.T) {
	ctx := context.Background()
	_, st, c := startOps(t)
	kes, _ := wallet.LookupCurrency("KES")
	const till = "555001"
	payment := func(id int64) wallet.Event {
		return wallet.Event{
			Transfer: wallet.Transfer{ID: id, Ref: wallet.Ref(id), Kind: wallet.TransferTill, Source: 1, Target: 2, Amount: 200_00,
				Postings: []wallet.Posting{{AccountID: 1, Leg: wallet.LegPrincipal, Amount: -200_00, BalanceAfter: 800_00},
					{AccountID: 2, Leg: wallet.LegPrincipal, Amount: 200_00, BalanceAfter: 200_00}},
				Created: time.Now().UTC()},
			Parties: []wallet.Party{{ID: 1, Kind: wallet.KindCustomer, Number: "+254712000201", Phone: "+254712000201", Name: "Amina", Language: "sw"},
				{ID: 2, Kind: wallet.KindTill, Number: till, Phone: "+254712000202", Name: "Duka"}},
		}
	}
	if _, err := st.SetWebhook(ctx, till, "https://duka.example/hooks", false); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{7, 8} {
		ev := payment(id)
		rs := notify.Receipts(catalog(t), kes, time.UTC, ev)
		if len(rs) != 2 {
			t.Fatalf("transfer %d: %d receipts, want 2", id, len(rs))
		}
		if _, _, err := st.RecordBatch(ctx, notify.OutgoingReceipts(rs), notify.TransferWebhooks(kes, ev, uint64(id))); err != nil {
			t.Fatal(err)
		}
	}
	ref := wallet.Ref(7)
	for _, tc := range []struct {
		name       string
		q          OpsTransferRequest
		to         []string // the receipts' phones
		deliveries int
		code       wallet.Code
	}{
		{"its receipts and delivery", OpsTransferRequest{Transfer: 7, Ref: ref, Accounts: []int64{1, 2, 3}, Merchants: []string{till}},
			[]string{"+254712000201", "+254712000202"}, 1, ""},
		{"one party, no merchant", OpsTransferRequest{Transfer: 7, Ref: ref, Accounts: []int64{1}}, []string{"+254712000201"}, 0, ""},
		{"a transfer with none", OpsTransferRequest{Transfer: 9, Ref: wallet.Ref(9), Accounts: []int64{1, 2}, Merchants: []string{till}}, []string{}, 0, ""},
		{"a ref not the id's", OpsTransferRequest{Transfer: 7, Ref: wallet.Ref(8)}, nil, 0, wallet.CodeInvalid},
		{"no id", OpsTransferRequest{Ref: ref}, nil, 0, wallet.CodeInvalid},
		{"too many accounts", OpsTransferRequest{Transfer: 7, Ref: ref, Accounts: make([]int64, store.TransferKeysMax+1)}, nil, 0, wallet.CodeInvalid},
		{"an empty merchant", OpsTransferRequest{Transfer: 7, Ref: ref, Merchants: []string{" "}}, nil, 0, wallet.CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := c.Transfer(ctx, tc.q)
			if code := wallet.ErrorCode(err); code != tc.code {
				t.Fatalf("got %+v %v, want code %q", rep, err, tc.code)
			}
			if err != nil {
				return
			}
			var to []string
			for _, m := range rep.SMS {
				if m.Transfer != tc.q.Transfer {
					t.Errorf("SMS %d is transfer %d's", m.ID, m.Transfer)
				}
				to = append(to, m.To)
			}
			if !slices.Equal(to, tc.to) && len(to)+len(tc.to) > 0 {
				t.Errorf("got receipts to %v, want %v", to, tc.to)
			}
			if rep.SMS == nil || rep.Deliveries == nil || len(rep.Deliveries) != tc.deliveries {
				t.Errorf("got %d deliveries (nil lists: %v), want %d", len(rep.Deliveries), rep.SMS == nil || rep.Deliveries == nil, tc.deliveries)
			}
			for _, d := range rep.Deliveries {
				if d.Merchant != till || d.Delivery.Event != notify.TransferEventID(ref, till) {
					t.Errorf("got delivery %s of %s, want %s's", d.Delivery.Event, d.Merchant, notify.TransferEventID(ref, till))
				}
			}
		})
	}
	if !slices.Contains(OpsOperatorSubjects, OpsTransfer.Subject) {
		t.Errorf("%s is not among the operator subjects %v", OpsTransfer.Subject, OpsOperatorSubjects)
	}
}

// startOps starts a wallet (its database and NATS) and the notifier's
// operator service on them, with a client of it.
func startOps(t *testing.T) (*wallettest.Wallet, *store.Store, *OpsClient) {
	t.Helper()
	w := wallettest.Start(t)
	st, err := store.Open(context.Background(), w.Store.Gorm())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := ServeOps(w.Conn, st, w.Prefix, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop() })
	return w, st, NewOpsClient(w.Conn, 0, w.Prefix)
}
