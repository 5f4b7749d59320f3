package wallet_test

import (
	"errors"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

func TestEarnings(t *testing.T) {
	// Nairobi is UTC+3: the periods start at midnight there, not in UTC.
	eat := time.FixedZone("EAT", 3*60*60)
	f := newFixture(t, func(c *wallet.Config) { c.Location = eat })
	at := func(day, hour, minute int) { f.clock.Set(time.Date(2026, 11, day, hour, minute, 0, 0, eat)) }
	commission := func(k wallet.TransferKind, amount int64) int64 {
		_, c, err := f.w.Quote(k, amount)
		f.must(err)
		return c
	}

	at(1, 0, 0) // the agents open on the 1st (their float earns nothing)
	agentPhone, agentNo := f.agent(f.ksh(100_000))
	otherPhone, _ := f.agent(f.ksh(100_000))
	alice, bob := f.customer("Alice"), f.customer("Bob")
	f.fund(alice, f.ksh(50_000)) // through a third agent
	deposit := func(agent, to string, amount int64) wallet.Transfer {
		t.Helper()
		r, err := f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferDeposit, From: agent, To: to, Amount: amount, PIN: "1357"}))
		f.must(err)
		return r.Transfer
	}
	withdraw := func(from, agentNumber string, amount int64) {
		t.Helper()
		_, err := f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferWithdraw, From: from, To: agentNumber, Amount: amount, PIN: "2580"}))
		f.must(err)
	}

	f.clock.Set(time.Date(2026, 10, 31, 20, 59, 0, 0, time.UTC)) // 23:59 on 31 October in Nairobi: last month
	deposit(agentPhone, bob, f.ksh(700))
	at(1, 0, 30) // 21:30 UTC on the 31st: this month in Nairobi
	withdraw(alice, agentNo, f.ksh(3_000))
	at(20, 23, 59) // yesterday
	deposit(agentPhone, bob, f.ksh(4_000))
	at(21, 0, 1) // today, though 20 November in UTC
	deposit(agentPhone, bob, f.ksh(9_000))
	at(21, 13, 0)
	withdraw(alice, agentNo, f.ksh(6_000))
	deposit(otherPhone, bob, f.ksh(20_000)) // another agent's
	undone := deposit(agentPhone, bob, f.ksh(1_500))
	_, err := f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferReversal, From: agentPhone, Reference: undone.Ref, PIN: "1357"}))
	f.must(err) // a reversal takes the commission back
	at(21, 13, 15)

	today := commission(wallet.TransferDeposit, f.ksh(9_000)) + commission(wallet.TransferWithdraw, f.ksh(6_000))
	month := today + commission(wallet.TransferWithdraw, f.ksh(3_000)) + commission(wallet.TransferDeposit, f.ksh(4_000))
	tests := []struct {
		name         string
		phone, pin   string
		today, month int64
		code         wallet.Code
	}{
		{"an agent", agentPhone, "1357", today, month, ""},
		{"from a local number", "0" + agentPhone[4:], "1357", today, month, ""},
		{"another agent earns its own", otherPhone, "1357", commission(wallet.TransferDeposit, f.ksh(20_000)), commission(wallet.TransferDeposit, f.ksh(20_000)), ""},
		{"a customer earns none", alice, "2580", 0, 0, ""},
		{"no PIN", agentPhone, "", 0, 0, wallet.CodeInvalid},
		{"a phone with no account", f.phone(), "1357", 0, 0, wallet.CodeNotFound},
		{"an agent number is not a phone", agentNo, "1357", 0, 0, wallet.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.w.Earnings(f.ctx, tt.phone, tt.pin)
			if code := wallet.ErrorCode(err); code != tt.code {
				t.Fatalf("got %v, want %q", err, tt.code)
			}
			if err != nil {
				return
			}
			if got.Today != tt.today || got.Month != tt.month {
				t.Errorf("got today %d, month %d, want %d, %d", got.Today, got.Month, tt.today, tt.month)
			}
			if b := f.balance(tt.phone); got.Account.Balance != b || !got.Account.HasPIN {
				t.Errorf("got account %+v, want the balance %d", got.Account, b)
			}
		})
	}

	// A wrong PIN counts toward the one lockout Balance and every other PIN
	// check share.
	t.Run("a wrong PIN counts toward the lockout", func(t *testing.T) {
		locked := f.customer("Locked")
		two, one := 2, 1
		steps := []struct {
			call      func() error
			code      wallet.Code
			triesLeft *int
		}{
			{func() error { _, err := f.w.Earnings(f.ctx, locked, "0000"); return err }, wallet.CodePINInvalid, &two},
			{func() error { _, err := f.w.Earnings(f.ctx, locked, "2580"); return err }, "", nil}, // resets the count
			{func() error { _, err := f.w.Earnings(f.ctx, locked, "0000"); return err }, wallet.CodePINInvalid, &two},
			{func() error { _, err := f.w.Balance(f.ctx, locked, "0000"); return err }, wallet.CodePINInvalid, &one},
			{func() error { _, err := f.w.Earnings(f.ctx, locked, "0000"); return err }, wallet.CodePINLocked, nil},
			{func() error { _, err := f.w.Earnings(f.ctx, locked, "2580"); return err }, wallet.CodePINLocked, nil},
			{func() error { _, err := f.w.Balance(f.ctx, locked, "2580"); return err }, wallet.CodePINLocked, nil},
		}
		for i, s := range steps {
			err := s.call()
			var we *wallet.Error
			errors.As(err, &we)
			if code := wallet.ErrorCode(err); code != s.code {
				t.Fatalf("step %d: got %v, want %q", i, err, s.code)
			}
			if s.triesLeft != nil && (we.TriesLeft == nil || *we.TriesLeft != *s.triesLeft) {
				t.Fatalf("step %d: got tries left %v, want %d", i, we.TriesLeft, *s.triesLeft)
			}
		}
		if a, err := f.w.Show(f.ctx, locked); err != nil || !a.PINLocked || a.Status != wallet.StatusActive {
			t.Errorf("got %+v, %v, want the account locked", a, err)
		}
	})
	f.check()
}
