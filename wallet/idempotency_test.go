package wallet_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/kibubu/kibubu/wallet"
)

func TestIdempotency(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.customer("Alice"), f.customer("Bob")
	f.fund(alice, f.ksh(10_000))

	req := wallet.TransferRequest{Key: key(), Kind: wallet.TransferSend, From: alice, To: bob, Amount: f.ksh(700), PIN: "2580"}
	first, err := f.w.Transfer(f.ctx, req)
	f.must(err)
	balance := f.balance(alice)

	t.Run("replay returns the first result", func(t *testing.T) {
		again := req
		again.From = "0" + alice[4:] // the same phone, written locally
		r, err := f.w.Transfer(f.ctx, again)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Replayed || r.Transfer.Ref != first.Transfer.Ref || r.Balance != first.Balance {
			t.Fatalf("got %+v, want a replay of %s with balance %d", r, first.Transfer.Ref, first.Balance)
		}
		if got := f.balance(alice); got != balance {
			t.Fatalf("balance %d after a replay, want %d", got, balance)
		}
	})
	t.Run("a replay must know the PIN, and a wrong one counts", func(t *testing.T) {
		wrong := req
		wrong.PIN = "0000"
		_, err := f.w.Transfer(f.ctx, wrong)
		var we *wallet.Error
		if !errors.As(err, &we) || we.Code != wallet.CodePINInvalid || we.TriesLeft == nil || *we.TriesLeft != 2 {
			t.Fatalf("got %v, want pin_invalid with 2 tries left", err)
		}
		if _, err := f.w.VerifyPIN(f.ctx, alice, "2580"); err != nil { // resets the count
			t.Fatal(err)
		}
	})
	t.Run("same key, different payload is a conflict", func(t *testing.T) {
		other := req
		other.Amount++
		if _, err := f.w.Transfer(f.ctx, other); wallet.ErrorCode(err) != wallet.CodeConflict {
			t.Fatalf("got %v, want conflict", err)
		}
	})
	t.Run("a refusal is replayed, not retried", func(t *testing.T) {
		big := wallet.TransferRequest{Key: key(), Kind: wallet.TransferSend, From: alice, To: bob, Amount: f.ksh(20_000), PIN: "2580"}
		if _, err := f.w.Transfer(f.ctx, big); wallet.ErrorCode(err) != wallet.CodeInsufficientFunds {
			t.Fatalf("got %v, want insufficient funds", err)
		}
		f.fund(alice, f.ksh(20_000))
		if _, err := f.w.Transfer(f.ctx, big); wallet.ErrorCode(err) != wallet.CodeInsufficientFunds {
			t.Fatalf("retry after funding: got %v, want the first refusal again", err)
		}
	})
	t.Run("a wrong PIN leaves the key free", func(t *testing.T) {
		r := wallet.TransferRequest{Key: key(), Kind: wallet.TransferSend, From: alice, To: bob, Amount: f.ksh(1), PIN: "0000"}
		if _, err := f.w.Transfer(f.ctx, r); wallet.ErrorCode(err) != wallet.CodePINInvalid {
			t.Fatalf("got %v, want pin_invalid", err)
		}
		r.PIN = "2580"
		if res, err := f.w.Transfer(f.ctx, r); err != nil || res.Replayed {
			t.Fatalf("got %+v %v, want a fresh transfer", res, err)
		}
	})
	t.Run("concurrent duplicates apply once", func(t *testing.T) {
		before := f.balance(alice)
		dup := wallet.TransferRequest{Key: key(), Kind: wallet.TransferSend, From: alice, To: bob, Amount: f.ksh(10), PIN: "2580"}
		const n = 50
		refs := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := f.w.Transfer(f.ctx, dup)
				errs[i] = err
				if err == nil {
					refs[i] = r.Transfer.Ref
				}
			}()
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || refs[i] != refs[0] {
				t.Fatalf("call %d: ref %q err %v, want %q", i, refs[i], errs[i], refs[0])
			}
		}
		fee, _, _ := f.w.Quote(wallet.TransferSend, f.ksh(10))
		if got := before - f.balance(alice); got != f.ksh(10)+fee {
			t.Fatalf("alice paid %d, want %d once", got, f.ksh(10)+fee)
		}
	})
	f.check()
}
