package merchant_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// waitBatch polls a batch until it is done.
func (f *merchantFixture) waitBatch(p merchant.Principal, id string) *merchant.BulkPayout {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := f.s.Bulk(f.ctx, p, id)
		f.must(err)
		if b.Status == merchant.BatchDone {
			return b
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("batch not done: %+v", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBulkPayout(t *testing.T) {
	f := newMerchantFixture(t)
	f.run()
	p, other := f.merchant("Duka", false), f.merchant("Soko", false)
	f.fund(p, 1_000_000)
	a, b := f.customer(0), f.customer(0)
	file := "Reference, PHONE ,amount,notes\n" +
		"jan," + a + ",100,first\n" +
		"feb,0" + b[4:] + ",12.5,second\n" +
		"bad amount," + a + ",1.234,\n" +
		"bad phone,12,10,\n" +
		"\n" + // blank lines are skipped
		"unknown," + fixturePhone() + ",1,\n" +
		",,,\n" +
		"too much," + b + ",50000,\n"
	bp, err := f.s.BulkPayout(f.ctx, p, "nov", []byte(file))
	f.must(err)
	if bp.Rows != 6 || bp.Done != 2 || bp.Failed != 2 || bp.Merchant != p.Merchant {
		t.Fatalf("created %+v", bp)
	}
	done := f.waitBatch(p, bp.ID)
	if done.Paid != 2 || done.Failed != 4 || done.PaidOut != 11_250 || done.Done != 6 || done.Finished == nil || len(done.Results) != 6 {
		t.Fatalf("done %+v", done)
	}
	want := []struct {
		line   int
		status merchant.PayoutStatus
		reason wallet.Code
	}{
		{2, merchant.PayoutPaid, ""}, {3, merchant.PayoutPaid, ""}, {4, merchant.PayoutFailed, wallet.CodeInvalidAmount},
		{5, merchant.PayoutFailed, wallet.CodeInvalidPhone}, {7, merchant.PayoutFailed, wallet.CodeNotFound},
		{9, merchant.PayoutFailed, wallet.CodeInsufficientFunds},
	}
	for i, w := range want {
		r := done.Results[i]
		if r.Line != w.line || r.Status != w.status || r.Reason != string(w.reason) || r.Batch != bp.ID {
			t.Errorf("row %d: %+v, want line %d %s %s", i, r, w.line, w.status, w.reason)
		}
	}
	if f.balance(a) != 10_000 || f.balance(b) != 1_250 {
		t.Fatalf("balances %d and %d", f.balance(a), f.balance(b))
	}

	// The same key and file: the same batch, nothing paid twice.
	again, err := f.s.BulkPayout(f.ctx, p, "nov", []byte(file))
	f.must(err)
	if again.ID != bp.ID || again.Status != merchant.BatchDone {
		t.Fatalf("re-upload %+v", again)
	}
	time.Sleep(100 * time.Millisecond)
	if f.balance(a) != 10_000 || f.balance(b) != 1_250 {
		t.Fatalf("re-upload paid again: balances %d and %d", f.balance(a), f.balance(b))
	}
	_, err = f.s.BulkPayout(f.ctx, p, "nov", []byte(file+a+",,1\n"))
	wantCode(t, err, wallet.CodeConflict)
	_, err = f.s.Bulk(f.ctx, other, bp.ID)
	wantCode(t, err, wallet.CodeNotFound)
	_, err = f.s.Bulk(f.ctx, p, "pb_nope")
	wantCode(t, err, wallet.CodeNotFound)

	if evs := f.events(merchant.EventBatchDone); len(evs) != 1 || !strings.Contains(string(evs[0].Data), bp.ID) {
		t.Errorf("done events: %+v", evs)
	}
	if n := len(f.events(merchant.EventPayoutFailed)); n != 2 { // the rows the wallet refused
		t.Errorf("%d payout.failed events, want 2", n)
	}

	// A file of bad rows only is done at once.
	allBad, err := f.s.BulkPayout(f.ctx, p, "bad", []byte("phone,amount\nx,1\n"))
	f.must(err)
	if allBad.Status != merchant.BatchDone || allBad.Failed != 1 {
		t.Fatalf("a file of bad rows: %+v", allBad)
	}
	f.checkLedger()
}

func TestBulkPayoutBadFiles(t *testing.T) {
	f := newMerchantFixture(t)
	p := f.merchant("Duka", false)
	many := "phone,amount\n" + strings.Repeat("0712345678,1\n", merchant.BulkRowsMax+1)
	for _, c := range []struct{ name, file string }{
		{"empty", ""},
		{"no header", "0712345678,100\n"},
		{"no amount column", "phone,reference\n0712345678,x\n"},
		{"a column twice", "phone,amount,Phone\n0712345678,1,0712345678\n"},
		{"header only", "phone,amount\n"},
		{"bad quoting", "phone,amount\n\"0712345678,1\n"},
		{"not UTF-8", "phone,amount\n\xff\xfe,1\n"},
		{"too many rows", many},
		{"too large", "phone,amount\n" + strings.Repeat("x", merchant.BulkBytesMax)},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := f.s.BulkPayout(f.ctx, p, "k", []byte(c.file))
			wantCode(t, err, wallet.CodeInvalid)
		})
	}
	_, err := f.s.BulkPayout(f.ctx, p, "k", []byte("phone,amount\n0712345678,9999999999999\n0712345679,9999999999999\n"))
	wantCode(t, err, wallet.CodeInvalidAmount)
}

// TestBulkPayoutResumes starts a batch on a wallet process that stops
// after leasing some rows without paying them, and has a second process
// (its own wallet and store on the same database) finish the batch once
// the lease ends: every row paid exactly once.
func TestBulkPayoutResumes(t *testing.T) {
	dsn := storetest.DSN(t)
	first := newMerchantFixtureOn(t, dsn, nil)
	p := first.merchant("Duka", false)
	first.fund(p, 1_000_000)
	var lines []string
	var phones []string
	for i := range 20 {
		c := first.customer(0)
		phones = append(phones, c)
		lines = append(lines, fmt.Sprintf("%s,%d", c, i+1))
	}
	bp, err := first.s.BulkPayout(first.ctx, p, "k", []byte("phone,amount\n"+strings.Join(lines, "\n")))
	first.must(err)
	// The first process's worker leases 5 rows and dies.
	now := first.clock.Now()
	claimed, err := first.ms.ClaimRows(first.ctx, now, now.Add(merchant.LeaseDuration), 5)
	first.must(err)
	if len(claimed) != 5 {
		t.Fatalf("claimed %d rows", len(claimed))
	}

	second := newMerchantFixtureOn(t, dsn, nil)
	second.run()
	// The free rows are paid at once; the leased ones wait for their lease.
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := second.s.Bulk(second.ctx, p, bp.ID)
		second.must(err)
		if b.Done == 15 {
			break
		}
		if b.Done > 15 || time.Now().After(deadline) {
			t.Fatalf("progress %+v, want 15 rows done while 5 are leased", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	second.clock.Add(merchant.LeaseDuration + time.Second)
	done := second.waitBatch(p, bp.ID)
	if done.Paid != 20 || done.PaidOut != 210_00 {
		t.Fatalf("done %+v", done)
	}
	for i, c := range phones {
		if got := second.balance(c); got != int64(i+1)*100 {
			t.Errorf("customer %d holds %d, want %d", i, got, (i+1)*100)
		}
	}
	second.checkLedger()
}

// TestBulkPayoutTwoProcesses runs the workers of two wallet processes on
// one database over the same batches: every row is paid once.
func TestBulkPayoutTwoProcesses(t *testing.T) {
	dsn := storetest.DSN(t)
	a := newMerchantFixtureOn(t, dsn, nil)
	b := newMerchantFixtureOn(t, dsn, nil)
	p := a.merchant("Duka", false)
	a.fund(p, 10_000_000)
	var rows []string
	for range 3 {
		c := a.customer(0)
		for j := range 40 {
			rows = append(rows, fmt.Sprintf("%s,1,%d", c, j))
		}
	}
	bp, err := a.s.BulkPayout(a.ctx, p, "k", []byte("phone,amount,reference\n"+strings.Join(rows, "\n")))
	a.must(err)
	a.run()
	b.run()
	done := a.waitBatch(p, bp.ID)
	if done.Paid != 120 || done.PaidOut != 120*100 {
		t.Fatalf("done %+v", done)
	}
	var n int64
	a.must(a.st.Gorm().Table("transfers").Where("idem_key LIKE ?", "pb:"+bp.ID+":%").Count(&n).Error)
	if n != 120 {
		t.Fatalf("%d transfers for 120 rows", n)
	}
	a.checkLedger()
}
