package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/store"
	walletstore "github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// openStore opens the wallet's database at dsn, migrated, and the merchant
// store on it, until the test ends.
func openStore(t *testing.T, dsn string) *store.Store {
	t.Helper()
	ctx := context.Background()
	w, err := walletstore.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	st, err := store.Open(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func outboxCount(t *testing.T, st *store.Store, typ merchant.EventType) int64 {
	t.Helper()
	var n int64
	if err := st.Gorm().Table("outbox_events").Where("subject = ?", merchant.Subject(typ)).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPaymentRequestCompareAndSet: of two changes from the same state only
// one applies, and only the one that applies writes its events.
func TestPaymentRequestCompareAndSet(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, storetest.DSN(t))
	now := time.Now().UTC().Truncate(time.Microsecond)
	r := &merchant.RequestRecord{
		PaymentRequest: merchant.PaymentRequest{ID: "pr_a", Merchant: "123456", MerchantName: "Duka", Phone: "+254712345678",
			Amount: 100, Reference: "R", Status: merchant.RequestPending, Created: now, Expires: now.Add(time.Minute), Updated: now},
		Idem: "k", Hash: []byte("h1"),
	}
	ev := merchant.OutboxEvent{Event: merchant.Event{ID: "evt_1", Type: merchant.EventRequestCreated, Merchant: "123456", Created: now, Data: []byte("{}")}}
	got, err := st.CreatePaymentRequest(ctx, r, ev, merchant.PromptGate{})
	if err != nil || got.ID != "pr_a" {
		t.Fatalf("create: %+v %v", got, err)
	}
	// The same merchant and key: the first request, nothing written.
	dup := *r
	dup.ID, dup.Hash = "pr_b", []byte("h2")
	got, err = st.CreatePaymentRequest(ctx, &dup, ev, merchant.PromptGate{})
	if err != nil || got.ID != "pr_a" || string(got.Hash) != "h1" || !got.Expires.Equal(r.Expires) {
		t.Fatalf("create again: %+v %v", got, err)
	}
	if n := outboxCount(t, st, merchant.EventRequestCreated); n != 1 {
		t.Fatalf("%d created events, want 1", n)
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := *r
			next.Status, next.Attempt = merchant.RequestDeclined, 0
			ev := merchant.OutboxEvent{Event: merchant.Event{ID: fmt.Sprint("evt_d", i), Type: merchant.EventRequestDeclined, Data: []byte("{}")}}
			ok, err := st.UpdatePaymentRequest(ctx, &next, merchant.RequestPending, 0, []merchant.OutboxEvent{ev})
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if won != 1 || outboxCount(t, st, merchant.EventRequestDeclined) != 1 {
		t.Fatalf("%d changes applied, %d events, want 1 and 1", won, outboxCount(t, st, merchant.EventRequestDeclined))
	}
	stored, err := st.PaymentRequest(ctx, "pr_a")
	if err != nil || stored.Status != merchant.RequestDeclined {
		t.Fatalf("stored %+v %v", stored, err)
	}
	if _, err := st.PaymentRequest(ctx, "pr_none"); wallet.ErrorCode(err) != wallet.CodeNotFound {
		t.Fatalf("unknown request: %v", err)
	}
}

// TestClaimRows: workers in two processes (two stores on one database)
// claiming at once never get the same row, and a row comes back only when
// its lease ends; finishing a row counts it once in its batch.
func TestClaimRows(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.DSN(t)
	a, b := openStore(t, dsn), openStore(t, dsn)
	now := time.Now().UTC()
	batch := &merchant.BatchRecord{BulkPayout: merchant.BulkPayout{ID: "pb_1", Merchant: "123456", Status: merchant.BatchProcessing, Rows: 100, Created: now}, Idem: "k", Hash: []byte("h")}
	rows := make([]merchant.PayoutRecord, 100)
	for i := range rows {
		rows[i] = merchant.PayoutRecord{Payout: merchant.Payout{ID: fmt.Sprint("po_", i), Merchant: "123456", Phone: "+254712345678",
			Amount: 100, Status: merchant.PayoutPending, Batch: "pb_1", Line: i + 2, Created: now, Updated: now}, Key: fmt.Sprint("pb:pb_1:", i+2)}
	}
	if _, err := a.CreateBatch(ctx, batch, rows, nil); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, st := range []*store.Store{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := st.ClaimRows(ctx, now, now.Add(time.Minute), 7)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, r := range got {
					seen[r.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 100 {
		t.Fatalf("%d rows claimed, want 100", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("row %s claimed %d times", id, n)
		}
	}
	if more, _ := a.ClaimRows(ctx, now.Add(30*time.Second), now.Add(time.Hour), 10); len(more) != 0 {
		t.Fatalf("%d leased rows claimed again within the lease", len(more))
	}
	if more, _ := a.ClaimRows(ctx, now.Add(2*time.Minute), now.Add(time.Hour), 10); len(more) != 10 {
		t.Fatalf("%d rows claimed after the lease, want 10", len(more))
	}

	// Finish every row twice: each counts once, and the last writes the
	// batch's done event once.
	done := func(bp merchant.BulkPayout) merchant.OutboxEvent {
		return merchant.OutboxEvent{Event: merchant.Event{ID: "evt_done_" + bp.ID, Type: merchant.EventBatchDone, Data: []byte("{}")}}
	}
	for range 2 {
		for i := range rows {
			r := rows[i]
			r.Status, r.Transaction, r.Updated = merchant.PayoutPaid, "REF", now
			if i%10 == 0 {
				r.Status, r.Reason = merchant.PayoutFailed, "insufficient_funds"
			}
			if _, err := b.FinishPayout(ctx, &r, nil, done); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := a.Batch(ctx, "pb_1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != merchant.BatchDone || got.Done != 100 || got.Paid != 90 || got.Failed != 10 || got.PaidOut != 9_000 || got.Finished == nil {
		t.Fatalf("batch %+v", got)
	}
	if n := outboxCount(t, a, merchant.EventBatchDone); n != 1 {
		t.Fatalf("%d done events, want 1", n)
	}
	results, err := a.BatchRows(ctx, "pb_1")
	if err != nil || len(results) != 100 || results[0].Line != 2 || results[99].Line != 101 {
		t.Fatalf("rows: %d %v", len(results), err)
	}
}

func TestAPIKeyStore(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, storetest.DSN(t))
	now := time.Now().UTC()
	k := &merchant.KeyRecord{APIKey: merchant.APIKey{ID: "kbk_1", Merchant: "123456", Scopes: []merchant.Scope{merchant.ScopePayments, merchant.ScopeTabs}, Created: now}, Hash: []byte("hash")}
	if err := st.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	got, err := st.APIKey(ctx, "kbk_1")
	if err != nil || string(got.Hash) != "hash" || len(got.Scopes) != 2 || got.Scopes[1] != merchant.ScopeTabs || got.Revoked != nil {
		t.Fatalf("got %+v %v", got, err)
	}
	r1, err := st.RevokeAPIKey(ctx, "kbk_1", now.Add(time.Minute))
	if err != nil || r1.Revoked == nil {
		t.Fatalf("revoke: %+v %v", r1, err)
	}
	r2, err := st.RevokeAPIKey(ctx, "kbk_1", now.Add(time.Hour))
	if err != nil || !r2.Revoked.Equal(*r1.Revoked) {
		t.Fatalf("revoke again moved the time: %+v %v", r2, err)
	}
	if _, err := st.RevokeAPIKey(ctx, "kbk_2", now); wallet.ErrorCode(err) != wallet.CodeNotFound {
		t.Fatalf("revoke unknown: %v", err)
	}
	if _, err := st.APIKey(ctx, "kbk_2"); wallet.ErrorCode(err) != wallet.CodeNotFound {
		t.Fatalf("unknown key: %v", err)
	}
}
