package merchant_test

import (
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// fund pays the merchant amount from a fresh customer.
func (f *merchantFixture) fund(p merchant.Principal, amount int64) {
	f.t.Helper()
	payer := f.customer(amount)
	_, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: "fund:" + payer, Kind: wallet.TransferTill, From: payer, To: p.Merchant, Amount: amount, PIN: fixturePIN})
	f.must(err)
}

func TestPayout(t *testing.T) {
	f := newMerchantFixture(t)
	p, other := f.merchant("Duka", false), f.merchant("Soko", false)
	f.fund(p, 100_000)
	start := f.balance(p.Merchant)
	cust := f.customer(0)

	po, err := f.s.Payout(f.ctx, p, "prize-1", cust, 10_000, "Prize")
	f.must(err)
	if po.Status != merchant.PayoutPaid || po.Transaction == "" || po.Phone != cust {
		t.Fatalf("payout %+v", po)
	}
	if f.balance(cust) != 10_000 || f.balance(p.Merchant) != start-10_000-po.Fee {
		t.Fatalf("balances: customer %d, merchant %d (from %d, fee %d)", f.balance(cust), f.balance(p.Merchant), start, po.Fee)
	}
	again, err := f.s.Payout(f.ctx, p, "prize-1", "0"+cust[4:], 10_000, "Prize")
	f.must(err)
	if again.ID != po.ID || again.Transaction != po.Transaction || f.balance(cust) != 10_000 {
		t.Fatalf("replay %+v paid again", again)
	}
	_, err = f.s.Payout(f.ctx, p, "prize-1", cust, 10_001, "Prize")
	wantCode(t, err, wallet.CodeConflict)

	got, err := f.s.PayoutStatus(f.ctx, p, po.ID)
	f.must(err)
	if got.Status != merchant.PayoutPaid {
		t.Errorf("status %+v", got)
	}
	_, err = f.s.PayoutStatus(f.ctx, other, po.ID)
	wantCode(t, err, wallet.CodeNotFound)
	_, err = f.s.PayoutStatus(f.ctx, p, "po_nope")
	wantCode(t, err, wallet.CodeNotFound)

	// Refused: failed, final, with its event; a replay says the same.
	big, err := f.s.Payout(f.ctx, p, "prize-2", cust, 1_000_000, "")
	f.must(err)
	if big.Status != merchant.PayoutFailed || big.Reason != string(wallet.CodeInsufficientFunds) || big.Message == "" {
		t.Fatalf("payout beyond the balance: %+v", big)
	}
	again, err = f.s.Payout(f.ctx, p, "prize-2", cust, 1_000_000, "")
	f.must(err)
	if again.Status != merchant.PayoutFailed || again.ID != big.ID {
		t.Fatalf("replay of a failed payout: %+v", again)
	}
	if evs := f.events(merchant.EventPayoutFailed); len(evs) != 1 || evs[0].Merchant != p.Merchant {
		t.Errorf("failed events: %+v", evs)
	}

	for _, c := range []struct {
		name, phone string
		amount      int64
		ref         string
		code        wallet.Code
	}{
		{"unknown customer", fixturePhone(), 100, "", wallet.CodeNotFound},
		{"bad phone", "0", 100, "", wallet.CodeInvalidPhone},
		{"a till is not a customer", other.Merchant, 100, "", wallet.CodeInvalidPhone},
		{"zero", cust, 0, "", wallet.CodeInvalidAmount},
		{"long reference", cust, 100, "0123456789012345678901234567890123", wallet.CodeInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.s.Payout(f.ctx, p, "k-"+strings.ReplaceAll(c.name, " ", "-"), c.phone, c.amount, c.ref)
			wantCode(t, err, c.code)
		})
	}
	f.checkLedger()
}

// TestPayoutRecovery leaves payouts pending as a crash between their row
// and their transfer would, before and after the transfer, and has the
// sweeper finish them: each is paid exactly once.
func TestPayoutRecovery(t *testing.T) {
	f := newMerchantFixture(t)
	p := f.merchant("Duka", false)
	f.fund(p, 100_000)
	cust := f.customer(0)
	now := f.clock.Now().UTC()
	row := func(idem string) *merchant.PayoutRecord {
		r := &merchant.PayoutRecord{
			Payout: merchant.Payout{ID: merchant.NewObjectID("po", now), Merchant: p.Merchant, Phone: cust, Amount: 1_000,
				Status: merchant.PayoutPending, Created: now, Updated: now},
			Key: "po:" + p.Merchant + ":" + idem, Hash: []byte("h"),
		}
		_, err := f.ms.CreatePayout(f.ctx, r)
		f.must(err)
		return r
	}
	unposted := row("a")
	posted := row("b")
	res, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: posted.Key, Kind: wallet.TransferPayout, From: p.Merchant, To: cust, Amount: 1_000})
	f.must(err)

	merchant.SweepMerchant(f.s, f.ctx)
	if got, _ := f.ms.Payout(f.ctx, unposted.ID); got.Status != merchant.PayoutPending {
		t.Fatalf("swept within the lease: %+v", got)
	}
	f.clock.Add(merchant.LeaseDuration + time.Second)
	merchant.SweepMerchant(f.s, f.ctx)
	a, err := f.ms.Payout(f.ctx, unposted.ID)
	f.must(err)
	b, err := f.ms.Payout(f.ctx, posted.ID)
	f.must(err)
	if a.Status != merchant.PayoutPaid || b.Status != merchant.PayoutPaid || b.Transaction != res.Transfer.Ref {
		t.Fatalf("after the sweep: %+v and %+v", a, b)
	}
	if f.balance(cust) != 2_000 {
		t.Fatalf("customer balance %d, want 2000: each payout once", f.balance(cust))
	}
	f.checkLedger()
}
