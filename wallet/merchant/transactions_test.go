package merchant_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

func TestTransactionsPages(t *testing.T) {
	f := newMerchantFixture(t)
	p, other := f.merchant("Duka", false), f.merchant("Soko", false)
	cust := f.customer(1_000_000)
	var refs []string
	var mid time.Time
	for i := range 7 {
		if i == 4 {
			time.Sleep(5 * time.Millisecond)
			mid = time.Now().UTC()
			time.Sleep(5 * time.Millisecond)
		}
		res, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: fmt.Sprint("buy-", i), Kind: wallet.TransferTill, From: cust, To: p.Merchant, Amount: int64(1_000 * (i + 1)), PIN: fixturePIN})
		f.must(err)
		refs = append(refs, res.Transfer.Ref)
	}
	// The other merchant's sale is not in the list.
	_, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: "elsewhere", Kind: wallet.TransferTill, From: cust, To: other.Merchant, Amount: 500, PIN: fixturePIN})
	f.must(err)
	slices.Reverse(refs) // newest first

	var got []string
	cursor := ""
	for page := 0; ; page++ {
		txs, next, err := f.s.Transactions(f.ctx, p, time.Time{}, time.Time{}, cursor, 3)
		f.must(err)
		if page < 2 && (len(txs) != 3 || next == "") || page == 2 && (len(txs) != 1 || next != "") {
			t.Fatalf("page %d: %d transactions, next %q", page, len(txs), next)
		}
		for _, tx := range txs {
			got = append(got, tx.ID)
			if tx.Direction != "in" || tx.Counterparty != cust || tx.Net != tx.Amount-tx.Fee || tx.Kind != wallet.TransferTill {
				t.Errorf("transaction %+v", tx)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.Equal(got, refs) {
		t.Fatalf("pages hold %v, want %v (newest first, no gap or overlap)", got, refs)
	}

	after, _, err := f.s.Transactions(f.ctx, p, mid, time.Time{}, "", 0)
	f.must(err)
	before, _, err := f.s.Transactions(f.ctx, p, time.Time{}, mid, "", 0)
	f.must(err)
	if len(after) != 3 || len(before) != 4 || after[2].ID != refs[2] || before[0].ID != refs[3] {
		t.Fatalf("split at %v: %d after, %d before", mid, len(after), len(before))
	}

	for _, c := range []struct {
		name     string
		from, to time.Time
		cursor   string
		limit    int
	}{
		{"bad cursor", time.Time{}, time.Time{}, "!!", 0},
		{"forged cursor", time.Time{}, time.Time{}, "AAAAAAAAAAAA", 0},
		{"page too large", time.Time{}, time.Time{}, "", 201},
		{"empty period", mid, mid, "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := f.s.Transactions(f.ctx, p, c.from, c.to, c.cursor, c.limit)
			wantCode(t, err, wallet.CodeInvalid)
		})
	}
}

func TestRefunds(t *testing.T) {
	f := newMerchantFixture(t)
	p, other := f.merchant("Duka", false), f.merchant("Soko", false)
	cust := f.customer(100_000)
	// Two sales: the till can afford refunds of one net of its fees.
	sale, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: "sale-1", Kind: wallet.TransferTill, From: cust, To: p.Merchant, Amount: 10_000, PIN: fixturePIN})
	f.must(err)
	_, err = f.w.Transfer(f.ctx, wallet.TransferRequest{Key: "sale-2", Kind: wallet.TransferTill, From: cust, To: p.Merchant, Amount: 10_000, PIN: fixturePIN})
	f.must(err)
	ref := sale.Transfer.Ref

	tx, err := f.s.Transaction(f.ctx, p, ref)
	f.must(err)
	if tx.Amount != 10_000 || tx.Fee != sale.Transfer.Fee || tx.Refunded != 0 || tx.Name == "" {
		t.Fatalf("sale %+v", tx)
	}
	_, err = f.s.Transaction(f.ctx, other, ref)
	wantCode(t, err, wallet.CodeNotFound)
	_, err = f.s.Transaction(f.ctx, p, "QK7M2X9A1B")
	wantCode(t, err, wallet.CodeNotFound)
	_, err = f.s.Refund(f.ctx, other, "r", ref, 100)
	wantCode(t, err, wallet.CodeNotFound)

	part, err := f.s.Refund(f.ctx, p, "r1", ref, 3_000)
	f.must(err)
	if part.Kind != wallet.TransferRefund || part.Direction != "out" || part.Amount != 3_000 || part.Net != -3_000 || part.Refunds != ref || part.Counterparty != cust {
		t.Fatalf("partial refund %+v", part)
	}
	again, err := f.s.Refund(f.ctx, p, "r1", ref, 3_000)
	f.must(err)
	if again.ID != part.ID {
		t.Errorf("replay made refund %s, want %s", again.ID, part.ID)
	}
	_, err = f.s.Refund(f.ctx, p, "r1", ref, 2_000)
	wantCode(t, err, wallet.CodeConflict)
	_, err = f.s.Refund(f.ctx, p, "r2", ref, 7_001)
	wantCode(t, err, wallet.CodeInvalidAmount)
	_, err = f.s.Refund(f.ctx, p, "r3", ref, -1)
	wantCode(t, err, wallet.CodeInvalidAmount)

	rest, err := f.s.Refund(f.ctx, p, "r4", ref, 0)
	f.must(err)
	if rest.Amount != 7_000 {
		t.Fatalf("refund of the rest: %+v", rest)
	}
	// "All that is left" replays as the first answer, not as nothing.
	replay, err := f.s.Refund(f.ctx, p, "r4", ref, 0)
	f.must(err)
	if replay.ID != rest.ID || replay.Amount != 7_000 {
		t.Fatalf("replay of a full refund: %+v", replay)
	}
	_, err = f.s.Refund(f.ctx, p, "r5", ref, 0)
	wantCode(t, err, wallet.CodeInvalidAmount)
	tx, err = f.s.Transaction(f.ctx, p, ref)
	f.must(err)
	if tx.Refunded != 10_000 {
		t.Errorf("refunded %d, want 10000", tx.Refunded)
	}
	if f.balance(cust) != 100_000-20_000+10_000 {
		t.Errorf("customer balance %d", f.balance(cust))
	}
	f.checkLedger()
}

// TestTransactionKinds: a payout, money out, as the merchant sees it.
func TestTransactionKinds(t *testing.T) {
	f := newMerchantFixture(t)
	p := f.merchant("Duka", false)
	cust := f.customer(100_000)
	_, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: "sale", Kind: wallet.TransferTill, From: cust, To: p.Merchant, Amount: 50_000, PIN: fixturePIN})
	f.must(err)
	po, err := f.s.Payout(f.ctx, p, "po", cust, 1_000, "Prize")
	f.must(err)
	tx, err := f.s.Transaction(f.ctx, p, po.Transaction)
	f.must(err)
	if tx.Kind != wallet.TransferPayout || tx.Direction != "out" || tx.Amount != 1_000 || tx.Fee != po.Fee || tx.Net != -(1_000+po.Fee) || tx.Counterparty != cust {
		t.Fatalf("payout as a transaction: %+v (payout %+v)", tx, po)
	}
}
