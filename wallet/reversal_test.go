package wallet_test

import (
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

func TestReversal(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.customer("Alice"), f.customer("Bob")
	f.fund(alice, f.ksh(10_000))
	sendTo := func(to string, amount int64) *wallet.TransferResult {
		r, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: key(), Kind: wallet.TransferSend, From: alice, To: to, Amount: amount, PIN: "2580"})
		f.must(err)
		return r
	}
	reverse := func(who, pin, ref string) (*wallet.TransferResult, error) {
		return f.w.Transfer(f.ctx, wallet.TransferRequest{Key: key(), Kind: wallet.TransferReversal, From: who, Reference: ref, PIN: pin})
	}

	before := f.snapshot(alice, bob)
	sent := sendTo(bob, f.ksh(1_000))
	r, err := reverse(alice, "2580", sent.Transfer.Ref)
	if err != nil {
		t.Fatalf("reversal: %v", err)
	}
	if r.Transfer.Reverses != sent.Transfer.ID || r.Transfer.Kind != wallet.TransferReversal {
		t.Fatalf("reversal %+v does not point at %d", r.Transfer, sent.Transfer.ID)
	}
	for i, p := range r.Transfer.Postings {
		if p.Amount != -sent.Transfer.Postings[i].Amount || p.AccountID != sent.Transfer.Postings[i].AccountID {
			t.Fatalf("posting %d: %+v does not negate %+v", i, p, sent.Transfer.Postings[i])
		}
	}
	spent := sendTo(bob, f.ksh(2_000))
	old := sendTo(bob, f.ksh(300))
	// Bob spends most of what he got: the 2,000 can no longer be reversed.
	_, err = f.w.Transfer(f.ctx, wallet.TransferRequest{Key: key(), Kind: wallet.TransferSend, From: bob, To: f.customer("Carol"), Amount: f.ksh(1_900), PIN: "2580"})
	f.must(err)

	refusals := []struct {
		name string
		who  string
		pin  string
		ref  string
		code wallet.Code
	}{
		{"twice", alice, "2580", sent.Transfer.Ref, wallet.CodeNotReversible},
		{"by the recipient", bob, "2580", spent.Transfer.Ref, wallet.CodeNotReversible},
		{"the recipient spent it", alice, "2580", spent.Transfer.Ref, wallet.CodeNotReversible},
		{"a reversal", alice, "2580", r.Transfer.Ref, wallet.CodeNotReversible},
		{"unknown id", alice, "2580", "QQQQQQQQQQ", wallet.CodeNotFound},
		{"malformed id", alice, "2580", "nope", wallet.CodeNotFound},
		{"wrong PIN", alice, "0000", old.Transfer.Ref, wallet.CodePINInvalid},
	}
	for _, tt := range refusals {
		if _, err := reverse(tt.who, tt.pin, tt.ref); wallet.ErrorCode(err) != tt.code {
			t.Errorf("%s: got %v, want %s", tt.name, err, tt.code)
		}
	}
	f.clock.Add(25 * time.Hour)
	if _, err := reverse(alice, "2580", old.Transfer.Ref); wallet.ErrorCode(err) != wallet.CodeNotReversible {
		t.Errorf("after the window: got %v, want not_reversible", err)
	}
	after := f.snapshot(alice, bob)
	fee1, _, _ := f.w.Quote(wallet.TransferSend, f.ksh(2_000))
	fee2, _, _ := f.w.Quote(wallet.TransferSend, f.ksh(300))
	if got, want := before[alice]-after[alice], f.ksh(2_300)+fee1+fee2; got != want {
		t.Errorf("alice paid %d net, want %d (the reversed send refunded with its fee)", got, want)
	}
	f.check()
}

func TestStatements(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.customer("Alice Wanjiru"), f.customer("Bob Otieno")
	f.fund(alice, f.ksh(10_000))
	var refs []string
	for i := 1; i <= 7; i++ {
		r, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: key(), Kind: wallet.TransferSend, From: alice, To: bob, Amount: f.ksh(int64(100 * i)), PIN: "2580"})
		f.must(err)
		refs = append(refs, r.Transfer.Ref)
		f.clock.Add(time.Hour)
	}
	acct, lines, err := f.w.Statement(f.ctx, wallet.StatementQuery{Phone: alice, PIN: "2580", Limit: 5})
	f.must(err)
	if len(lines) != 5 {
		t.Fatalf("got %d lines, want 5", len(lines))
	}
	for i, l := range lines {
		want := refs[len(refs)-1-i]
		fee, _, _ := f.w.Quote(wallet.TransferSend, f.ksh(int64(100*(7-i))))
		if l.Ref != want || l.Amount != -f.ksh(int64(100*(7-i))) || l.Fee != fee || l.Counterparty != bob || l.Name != "Bob Otieno" {
			t.Errorf("line %d: got %+v, want %s of %d fee %d to Bob", i, l, want, -f.ksh(int64(100*(7-i))), fee)
		}
	}
	if lines[0].BalanceAfter != acct.Balance {
		t.Errorf("newest line's balance %d, account balance %d", lines[0].BalanceAfter, acct.Balance)
	}
	start := time.Date(2026, 11, 21, 11, 0, 0, 0, time.UTC)
	_, period, err := f.w.Statement(f.ctx, wallet.StatementQuery{Phone: alice, PIN: "2580", From: start, To: start.Add(3 * time.Hour)})
	f.must(err)
	if len(period) != 3 || period[0].Ref != refs[3] || period[2].Ref != refs[1] {
		t.Errorf("period statement: got %d lines %+v, want refs %v", len(period), period, refs[1:4])
	}
	_, bobLines, err := f.w.Statement(f.ctx, wallet.StatementQuery{Phone: bob, PIN: "2580", Limit: 1})
	f.must(err)
	if len(bobLines) != 1 || bobLines[0].Amount != f.ksh(700) || bobLines[0].Fee != 0 || bobLines[0].Name != "Alice Wanjiru" {
		t.Errorf("bob's statement: %+v", bobLines)
	}
	if _, _, err := f.w.Statement(f.ctx, wallet.StatementQuery{Phone: alice, PIN: "9999"}); wallet.ErrorCode(err) != wallet.CodePINInvalid {
		t.Errorf("wrong PIN: got %v", err)
	}
	if _, _, err := f.w.Statement(f.ctx, wallet.StatementQuery{Phone: alice, PIN: "2580", From: start, To: start}); wallet.ErrorCode(err) != wallet.CodeInvalid {
		t.Errorf("empty period: got %v", err)
	}
}
