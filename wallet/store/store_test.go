package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

var pepper = []byte("0123456789abcdef0123456789abcdef")

func newWallet(t *testing.T, ctx context.Context, dsn string) (*wallet.Service, *store.Store) {
	t.Helper()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	kes, _ := wallet.LookupCurrency("KES")
	w, err := wallet.New(ctx, st, wallet.Config{Currency: kes, Region: "KE", Pepper: pepper})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	return w, st
}

// seed opens n customers funded with 10,000.00 each from one agent.
func seed(t *testing.T, w *wallet.Service, n int) []string {
	t.Helper()
	ctx := context.Background()
	agent, err := w.AddAgent(ctx, "+254700000001", "Agent")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.SetPINWithStartKey(ctx, agent.Phone, agent.StartKey, "1357"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Transfer(ctx, wallet.TransferRequest{Key: "float", Kind: wallet.TransferFloat, To: agent.Number, Amount: int64(n) * 1_000_000, Reference: "B1"}); err != nil {
		t.Fatal(err)
	}
	var rows []wallet.ImportCustomer
	for i := range n {
		rows = append(rows, wallet.ImportCustomer{Phone: fmt.Sprintf("+2547110%05d", i), Name: fmt.Sprint("C", i), Tier: wallet.TierFull, PIN: "2580"})
	}
	accts, err := w.Import(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	phones := make([]string, n)
	for i, a := range accts {
		phones[i] = a.Phone
		if _, err := w.Transfer(ctx, wallet.TransferRequest{Key: "fund-" + a.Phone, Kind: wallet.TransferDeposit, From: agent.Phone, To: a.Phone, Amount: 1_000_000, PIN: "1357"}); err != nil {
			t.Fatal(err)
		}
	}
	return phones
}

// TestCheckFindsCorruption proves the ledger check is not a rubber stamp:
// each way of corrupting the books is reported.
func TestCheckFindsCorruption(t *testing.T) {
	tests := []struct {
		name    string
		corrupt string
		want    string
	}{
		{"nothing wrong", "", ""},
		{"a balance edited", "UPDATE accounts SET balance = balance + 1 WHERE number = '+254711000000'", "balance is not the sum of postings"},
		{"a posting edited", "UPDATE postings SET amount = amount - 1 WHERE id = (SELECT MAX(id) FROM postings)", "unbalanced transfer"},
		{"a transfer's postings deleted", "DELETE FROM postings WHERE transfer_id = (SELECT MAX(transfer_id) FROM postings)", "transfer without postings"},
		{"a customer overdrawn", "UPDATE accounts SET balance = -5, allow_negative = false WHERE number = '+254711000001'", "account below its floor"},
		{"money created", "UPDATE accounts SET balance = balance + 100 WHERE number = 'fees'", "balances do not sum to zero"},
		{"a transfer total edited", "UPDATE transfer_totals SET volume = volume + 1 WHERE kind = 'deposit'", "transfer totals disagree with the transfers"},
		{"a transfer's totals lost", "DELETE FROM transfer_totals WHERE kind = 'float'", "transfer totals disagree with the transfers"},
		{"a refusal beside a transfer", "INSERT INTO rejections (idem_key, request_hash, error, created_at) SELECT idem_key, request_hash, '{}', created_at FROM transfers WHERE id = (SELECT MAX(id) FROM transfers)", "idempotency key with both a transfer and a rejection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			w, st := newWallet(t, ctx, storetest.DSN(t))
			seed(t, w, 3)
			r := corruptAndCheck(t, w, st, tt.corrupt, tt.want)
			if r.Accounts < 9 || r.Transfers < 4 || r.Issued != 3_000_000 {
				t.Errorf("summary %+v", r)
			}
		})
	}
}

// TestTwoWalletsOneDatabase runs two wallet services (as two processes would)
// on one database, both moving money between the same few accounts: no
// update is lost, no balance goes negative, every acknowledged transfer is
// there once.
func TestTwoWalletsOneDatabase(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.DSN(t)
	w1, st := newWallet(t, ctx, dsn)
	w2, _ := newWallet(t, ctx, dsn)
	phones := seed(t, w1, 4)
	const perWorker = 60
	var mu sync.Mutex
	acked := 0
	var wg sync.WaitGroup
	for i, w := range []*wallet.Service{w1, w2, w1, w2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perWorker {
				from, to := phones[(i+j)%4], phones[(i+j+1)%4]
				_, err := w.Transfer(ctx, wallet.TransferRequest{Key: fmt.Sprintf("two-%d-%d", i, j), Kind: wallet.TransferSend, From: from, To: to, Amount: 50_000, PIN: "2580"})
				switch wallet.ErrorCode(err) {
				case "":
					mu.Lock()
					acked++
					mu.Unlock()
				case wallet.CodeInsufficientFunds:
				default:
					t.Errorf("transfer: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	var n int64
	if err := st.Gorm().Table("transfers").Where("idem_key LIKE ?", "two-%").Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != int64(acked) {
		t.Errorf("%d transfers stored, %d acknowledged", n, acked)
	}
	r, err := w2.Check(ctx)
	if err != nil || !r.OK() {
		t.Fatalf("check: %v %+v", err, r)
	}
	var total int64
	for _, p := range phones {
		a, _ := w1.Show(ctx, p)
		total += a.Balance
	}
	fees, _ := w1.Show(ctx, wallet.SystemFees)
	if total+fees.Balance != 4*1_000_000 {
		t.Errorf("customers hold %d and fees %d: %d, want %d", total, fees.Balance, total+fees.Balance, 4*1_000_000)
	}
}

// TestRefundChecks proves the ledger check reports a refund beyond its
// payment, and a payment both refunded and reversed.
func TestRefundChecks(t *testing.T) {
	tests := []struct {
		name    string
		corrupt string
		want    string
	}{
		{"nothing wrong", "", ""},
		{"a refund enlarged", "UPDATE transfers SET amount = amount + 1 WHERE refunds IS NOT NULL", "refunds exceed what the merchant received"},
		{"a refund that also reverses", "UPDATE transfers SET reverses = refunds WHERE refunds IS NOT NULL", "refund of a reversed transfer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			w, st := newWallet(t, ctx, storetest.DSN(t))
			phones := seed(t, w, 1)
			till, err := w.AddMerchant(ctx, "+254700000002", "Duka", false)
			if err != nil {
				t.Fatal(err)
			}
			paid, err := w.Transfer(ctx, wallet.TransferRequest{Key: "pay", Kind: wallet.TransferTill, From: phones[0], To: till.Number, Amount: 100_000, PIN: "2580"})
			if err != nil {
				t.Fatal(err)
			}
			// The fee left the till short of the whole payment: refund what it holds.
			a, _ := w.Show(ctx, till.Number)
			if _, err := w.Transfer(ctx, wallet.TransferRequest{Key: "refund", Kind: wallet.TransferRefund, From: till.Number, Reference: paid.Transfer.Ref, Amount: a.Balance}); err != nil {
				t.Fatal(err)
			}
			if tt.want != "" {
				// Make the refund the whole payment, so that one more unit passes it.
				if err := st.Gorm().Exec("UPDATE transfers SET amount = ? WHERE refunds IS NOT NULL", 100_000).Error; err != nil {
					t.Fatal(err)
				}
			}
			corruptAndCheck(t, w, st, tt.corrupt, tt.want)
		})
	}
}

// corruptAndCheck runs the SQL corrupt (if any) on the ledger, then the
// ledger check, and fails the test unless the check reports a violation
// containing want ("": none). It returns the check's report.
func corruptAndCheck(t *testing.T, w *wallet.Service, st *store.Store, corrupt, want string) *wallet.CheckReport {
	t.Helper()
	if corrupt != "" {
		if err := st.Gorm().Exec(corrupt).Error; err != nil {
			t.Fatal(err)
		}
	}
	r, err := w.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(r.Violations, "; ")
	if want == "" && !r.OK() || want != "" && !strings.Contains(got, want) {
		t.Fatalf("violations %q, want %q", got, want)
	}
	return r
}

// TestTwoWalletsRefundOnePayment has two wallet services (as two processes
// would) refund one payment at once, in parts: together they never refund
// more than was paid. Each refund locks the merchant and reads what was
// refunded after the lock.
func TestTwoWalletsRefundOnePayment(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.DSN(t)
	w1, _ := newWallet(t, ctx, dsn)
	w2, _ := newWallet(t, ctx, dsn)
	phones := seed(t, w1, 2)
	till, err := w1.AddMerchant(ctx, "+254700000002", "Duka", false)
	if err != nil {
		t.Fatal(err)
	}
	// A second payment keeps the till's balance above what the refunds take.
	for i, p := range phones {
		if _, err := w1.Transfer(ctx, wallet.TransferRequest{Key: fmt.Sprint("pay-", i), Kind: wallet.TransferTill, From: p, To: till.Number, Amount: 100_000, PIN: "2580"}); err != nil {
			t.Fatal(err)
		}
	}
	first, rejected, err := w2.Outcome(ctx, "pay-0")
	if first == nil || rejected != nil || err != nil {
		t.Fatalf("outcome of pay-0: %+v %v %v", first, rejected, err)
	}
	const n, each = 24, 10_000 // ten fit in 100,000
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := []*wallet.Service{w1, w2}[i%2]
			_, err := w.Transfer(ctx, wallet.TransferRequest{Key: fmt.Sprint("refund-", i), Kind: wallet.TransferRefund, From: till.Number,
				Reference: first.Ref, Amount: each})
			switch wallet.ErrorCode(err) {
			case "":
				ok.Add(1)
			case wallet.CodeInvalidAmount, wallet.CodeNotReversible:
				refused.Add(1)
			default:
				t.Errorf("refund: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 10 || refused.Load() != n-10 {
		t.Errorf("%d refunds posted, %d refused; want 10 and %d", ok.Load(), refused.Load(), n-10)
	}
	if got, err := w1.Refunded(ctx, first.ID); err != nil || got != 100_000 {
		t.Errorf("Refunded = %d, %v; want 100000", got, err)
	}
	r, err := w2.Check(ctx)
	if err != nil || !r.OK() {
		t.Fatalf("check: %v %+v", err, r)
	}
}

// TestAccountTransfersUsesItsIndex asks each database how it would run
// AccountTransfers' scan (the statement below mirrors it): by walking
// idx_postings_account_transfer, not by sorting the account's postings.
func TestAccountTransfersUsesItsIndex(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.DSN(t)
	w, st := newWallet(t, ctx, dsn)
	seed(t, w, 3)
	const scan = "SELECT DISTINCT transfer_id FROM postings WHERE account_id = 5 AND transfer_id >= 1 AND created_at >= '2026-01-01' AND transfer_id < 9000000000000000 ORDER BY transfer_id DESC LIMIT 100"
	text := storetest.QueryPlan(t, st.Gorm(), store.IsPostgres(dsn), scan)
	t.Logf("plan:\n%s", text)
	if !strings.Contains(text, "idx_postings_account_transfer") || strings.Contains(text, "TEMP B-TREE") || strings.Contains(text, "Sort") {
		t.Errorf("the scan does not walk idx_postings_account_transfer:\n%s", text)
	}
}

// TestSecurityMigratePINLockedStatus: a lockout stored the old way, as the
// status pin_locked, becomes an active account that is PIN-locked; a frozen
// row stays frozen and unlocked.
func TestSecurityMigratePINLockedStatus(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.DSN(t)
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	old := map[string]wallet.Status{"+254711000001": wallet.StatusPINLocked, "+254711000002": wallet.StatusFrozen, "+254711000003": wallet.StatusActive}
	for phone, status := range old {
		if err := st.CreateAccount(ctx, &wallet.AccountRecord{Kind: wallet.KindCustomer, Number: phone, Phone: phone, Name: "Old",
			Tier: wallet.TierFull, Status: status, PINHash: []byte("h"), PINSalt: []byte("s"), PINFailures: 3}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	st, err = store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	want := map[string][2]any{
		"+254711000001": {wallet.StatusActive, true},
		"+254711000002": {wallet.StatusFrozen, false},
		"+254711000003": {wallet.StatusActive, false},
	}
	for phone, w := range want {
		r, err := st.AccountByPhone(ctx, phone)
		if err != nil {
			t.Fatal(err)
		}
		if got := [2]any{r.Status, r.PINLocked}; got != w {
			t.Errorf("%s (was %s): got %v, want %v", phone, old[phone], got, w)
		}
	}
}

// Issue 11, Low: one idempotency key holds one outcome, a transfer or a
// refusal, never both. Two wallet processes given one key with different
// requests (a conflict) lock different accounts, so neither sees the other's
// uncommitted outcome: the schema, not the batch's read, must refuse the
// second. Here the second is written straight through the store, as the
// losing process would write it.
func TestSecurityIdempotencyKeyHoldsOneOutcome(t *testing.T) {
	ctx := context.Background()
	w, st := newWallet(t, ctx, storetest.DSN(t))
	phones := seed(t, w, 2)
	posted, err := w.Transfer(ctx, wallet.TransferRequest{Key: "k-posted", Kind: wallet.TransferSend, From: phones[0], To: phones[1], Amount: 100, PIN: "2580"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Transfer(ctx, wallet.TransferRequest{Key: "k-refused", Kind: wallet.TransferSend, From: phones[0], To: phones[1], Amount: 2_000_000, PIN: "2580"})
	if wallet.ErrorCode(err) != wallet.CodeInsufficientFunds {
		t.Fatalf("an amount above the balance: got %v, want a remembered refusal", err)
	}
	now := posted.Transfer.Created
	tests := []struct {
		name string
		w    wallet.BatchWrite
	}{
		{"a refusal under a transfer's key", wallet.BatchWrite{Rejections: []wallet.Rejection{{Key: "k-posted", Hash: []byte("other"),
			Err: wallet.Errorf(wallet.CodeInsufficientFunds, "no"), Created: now}}}},
		{"a transfer under a refusal's key", wallet.BatchWrite{Transfers: []*wallet.StoredTransfer{{Key: "k-refused", Hash: []byte("other"),
			Transfer: wallet.Transfer{ID: wallet.NewTransferID(now), Kind: wallet.TransferSend, Source: posted.Transfer.Source,
				Target: posted.Transfer.Target, Amount: 1, Created: now,
				Postings: []wallet.Posting{{AccountID: posted.Transfer.Source, Leg: wallet.LegPrincipal, Amount: -1},
					{AccountID: posted.Transfer.Target, Leg: wallet.LegPrincipal, Amount: 1}}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := st.Write(ctx, func(tx wallet.BatchTx) error { return tx.Save(&tt.w) })
			if err == nil {
				t.Fatal("got the second outcome saved, want it refused")
			}
		})
	}
	for key, transfer := range map[string]bool{"k-posted": true, "k-refused": false} {
		o, err := st.Outcome(ctx, key)
		if err != nil || (o.Transfer != nil) != transfer || (o.Err != nil) == transfer {
			t.Errorf("%s: got %+v, %v, want only the first outcome", key, o, err)
		}
	}
	r, err := st.Check(ctx)
	if err != nil || !r.OK() {
		t.Errorf("ledger check: %+v, %v", r, err)
	}
}
