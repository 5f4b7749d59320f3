package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
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
	if _, err := w.SetPIN(ctx, agent.Phone, "1357"); err != nil {
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			w, st := newWallet(t, ctx, storetest.DSN(t))
			seed(t, w, 3)
			if tt.corrupt != "" {
				if err := st.Gorm().Exec(tt.corrupt).Error; err != nil {
					t.Fatal(err)
				}
			}
			r, err := w.Check(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(r.Violations, "; ")
			if tt.want == "" && !r.OK() || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Fatalf("violations %q, want %q", got, tt.want)
			}
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
