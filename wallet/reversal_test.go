package wallet_test

import (
	"errors"
	"strings"
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

func TestTransferInfo(t *testing.T) {
	f := newFixture(t)
	alice, bob, carol := f.customer("Alice Wanjiru"), f.customer("Bob Otieno"), f.customer("Carol Achieng")
	f.fund(alice, f.ksh(10_000))
	agentPhone, agentNo := f.agent(f.ksh(10_000))
	agent, err := f.w.Show(f.ctx, agentNo)
	f.must(err)
	till, err := f.w.AddMerchant(f.ctx, f.phone(), "Duka La Mama", false)
	f.must(err)
	stranger := f.phone() // operates no account
	do := func(req wallet.TransferRequest) wallet.Transfer {
		t.Helper()
		r, err := f.w.Transfer(f.ctx, keyed(req))
		f.must(err)
		return r.Transfer
	}
	send := func(to string, amount int64) wallet.Transfer {
		return do(wallet.TransferRequest{Kind: wallet.TransferSend, From: alice, To: to, Amount: amount, PIN: "2580"})
	}
	fee := func(k wallet.TransferKind, amount int64) int64 {
		fee, _, err := f.w.Quote(k, amount)
		f.must(err)
		return fee
	}

	old := send(bob, f.ksh(300))
	f.clock.Add(f.w.Config().ReversalWindow + time.Second)
	sent := send(bob, f.ksh(500))
	reversed := send(bob, f.ksh(200))
	reversal := do(wallet.TransferRequest{Kind: wallet.TransferReversal, From: alice, Reference: reversed.Ref, PIN: "2580"})
	paid := do(wallet.TransferRequest{Kind: wallet.TransferTill, From: alice, To: till.Number, Amount: f.ksh(1_000), PIN: "2580"})
	withdrawn := do(wallet.TransferRequest{Kind: wallet.TransferWithdraw, From: alice, To: agentNo, Amount: f.ksh(1_000), PIN: "2580"})
	airtime := do(wallet.TransferRequest{Kind: wallet.TransferAirtime, From: alice, Amount: f.ksh(50), PIN: "2580"})
	deposit := do(wallet.TransferRequest{Kind: wallet.TransferDeposit, From: agentPhone, To: carol, Amount: f.ksh(2_000), PIN: "1357"})
	float := do(wallet.TransferRequest{Kind: wallet.TransferFloat, To: agentNo, Amount: f.ksh(1_000), Reference: "BANK-2"})

	info := func(tr wallet.Transfer, fee int64, counterparty, name string, reversible bool) *wallet.TransferInfo {
		return &wallet.TransferInfo{Ref: tr.Ref, Kind: tr.Kind, Amount: tr.Amount, Fee: fee, Counterparty: counterparty,
			Name: name, Reference: tr.Reference, Created: tr.Created, Reversible: reversible}
	}
	sentInfo := info(sent, fee(wallet.TransferSend, f.ksh(500)), bob, "Bob Otieno", true)
	tests := []struct {
		name       string
		phone, ref string
		want       *wallet.TransferInfo // nil: not_found
		msg        string               // the not_found message, where it must not tell existing from unknown
	}{
		{"the sender sees a send", alice, sent.Ref, sentInfo, ""},
		{"from a local number, in lower case", "0" + alice[4:], strings.ToLower(sent.Ref), sentInfo, ""},
		{"the recipient does not", bob, sent.Ref, nil, "no transaction " + sent.Ref},
		{"nor anyone else", carol, sent.Ref, nil, "no transaction " + sent.Ref},
		{"an unknown id reads the same", alice, "QQQQQQQQQQ", nil, "no transaction QQQQQQQQQQ"},
		{"nor a phone with no account", stranger, sent.Ref, nil, ""},
		{"nor a till number", till.Number, paid.Ref, nil, ""},
		{"a malformed id", alice, "nope", nil, ""},
		{"an oversized id", alice, strings.Repeat("Q", 10_000), nil, ""},
		{"already reversed", alice, reversed.Ref, info(reversed, fee(wallet.TransferSend, f.ksh(200)), bob, "Bob Otieno", false), ""},
		{"a reversal, seen by its source", bob, reversal.Ref, info(reversal, 0, alice, "Alice Wanjiru", false), ""},
		{"past the reversal window", alice, old.Ref, info(old, fee(wallet.TransferSend, f.ksh(300)), bob, "Bob Otieno", false), ""},
		{"buy goods: the merchant paid the fee, and refunds it", alice, paid.Ref, info(paid, 0, till.Number, "Duka La Mama", false), ""},
		{"a withdrawal cannot be reversed", alice, withdrawn.Ref, info(withdrawn, fee(wallet.TransferWithdraw, f.ksh(1_000)), agentNo, agent.Name, false), ""},
		{"airtime cannot be reversed", alice, airtime.Ref, info(airtime, 0, wallet.SystemAirtime, "Airtime sales", false), ""},
		{"an agent sees its deposit", agentPhone, deposit.Ref, info(deposit, 0, carol, "Carol Achieng", true), ""},
		{"its customer does not", carol, deposit.Ref, nil, "no transaction " + deposit.Ref},
		{"a float issue has no sender with a phone", agentPhone, float.Ref, nil, "no transaction " + float.Ref},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.w.TransferInfo(f.ctx, tt.phone, tt.ref)
			if tt.want == nil {
				var we *wallet.Error
				if !errors.As(err, &we) || we.Code != wallet.CodeNotFound {
					t.Fatalf("got %+v, %v, want not_found", got, err)
				}
				if tt.msg != "" && we.Message != tt.msg {
					t.Errorf("got message %q, want %q", we.Message, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want %+v", err, tt.want)
			}
			// PostgreSQL keeps microseconds.
			if d := got.Created.Sub(tt.want.Created).Abs(); d > time.Microsecond {
				t.Errorf("got created %v, want %v", got.Created, tt.want.Created)
			}
			g := *got
			g.Created = tt.want.Created
			if g != *tt.want {
				t.Errorf("got %+v, want %+v", g, *tt.want)
			}
		})
	}

	// Reversible says what the reversal will do: each transfer its sender
	// sees is reversed exactly when it said so, after which it says no more.
	t.Run("agrees with the reversal", func(t *testing.T) {
		for _, tt := range []struct{ phone, pin, ref string }{
			{alice, "2580", sent.Ref}, {alice, "2580", old.Ref}, {alice, "2580", reversed.Ref}, {bob, "2580", reversal.Ref},
			{alice, "2580", paid.Ref}, {alice, "2580", withdrawn.Ref}, {alice, "2580", airtime.Ref}, {agentPhone, "1357", deposit.Ref},
		} {
			before, err := f.w.TransferInfo(f.ctx, tt.phone, tt.ref)
			f.must(err)
			_, err = f.w.Transfer(f.ctx, wallet.TransferRequest{Key: key(), Kind: wallet.TransferReversal, From: tt.phone, Reference: tt.ref, PIN: tt.pin})
			if got, want := err == nil, before.Reversible; got != want {
				t.Errorf("%s %s: got reversed %v (%v), want %v", before.Kind, tt.ref, got, err, want)
			}
			after, err := f.w.TransferInfo(f.ctx, tt.phone, tt.ref)
			f.must(err)
			if after.Reversible {
				t.Errorf("%s %s: got reversible after the reversal, want not", after.Kind, tt.ref)
			}
		}
		f.check()
	})
}

// Issue 11, High #1: a customer cannot reverse a payment to a till or a
// paybill (M-Pesa's rule): the merchant refunds it through the API. The
// reversal is refused, TransferInfo says so beforehand, and nothing moves.
func TestSecurityTillPaymentNotReversibleByCustomer(t *testing.T) {
	f := newFixture(t)
	alice := f.customer("Alice Wanjiru")
	f.fund(alice, f.ksh(10_000))
	till, paybill := f.merchant("Duka La Mama", false), f.merchant("Maji Water", true)
	for _, tt := range []struct {
		name     string
		merchant string
		paybill  bool
	}{
		{"till", till, false},
		{"paybill", paybill, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			paid := f.pay(alice, tt.merchant, f.ksh(1_000), tt.paybill)
			info, err := f.w.TransferInfo(f.ctx, alice, paid.Ref)
			f.must(err)
			if info.Reversible {
				t.Errorf("TransferInfo: got reversible, want not: the merchant refunds")
			}
			before := f.snapshot(alice, tt.merchant)
			_, err = f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferReversal, From: alice, Reference: paid.Ref, PIN: "2580"}))
			var we *wallet.Error
			if !errors.As(err, &we) || we.Code != wallet.CodeNotReversible || !strings.Contains(we.Message, "merchant") {
				t.Fatalf("reversal of a %s payment: got %v, want not_reversible naming the merchant", tt.name, err)
			}
			if after := f.snapshot(alice, tt.merchant); !equalMaps(before, after) {
				t.Errorf("balances moved: before %v, after %v", before, after)
			}
		})
	}
	f.check()
}

// Issue 11, Low: which transfers honour the recipient's maximum balance.
// Money paid to a customer from elsewhere does (send, deposit, payout);
// money returned to the customer it came from does not (a reversal, a
// refund, a tab's release): refusing it would strand the customer's own
// money with the recipient, the merchant or the tabs account, and it can
// lift the balance at most by what the customer held before. A settlement
// credits merchants, which have no maximum. See the package doc.
func TestSecurityMaxBalancePerKind(t *testing.T) {
	const balanceMax = 10_000_00
	f := newFixture(t, func(c *wallet.Config) {
		c.Tiers = wallet.DefaultLimits(c.Currency)
		l := c.Tiers[wallet.TierFull]
		l.BalanceMax = balanceMax
		c.Tiers[wallet.TierFull] = l
	})
	alice, bob := f.customer("Alice"), f.customer("Bob")
	till := f.merchant("Duka", false)
	f.fund(bob, f.ksh(5_000))
	agentPhone, _ := f.agent(f.ksh(50_000))
	// topUp brings alice back to the maximum exactly.
	topUp := func() {
		t.Helper()
		if need := balanceMax - f.balance(alice); need > 0 {
			_, err := f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferDeposit, From: agentPhone, To: alice, Amount: need, PIN: "1357"}))
			f.must(err)
		}
	}
	topUp()
	sent, err := f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferSend, From: alice, To: bob, Amount: f.ksh(500), PIN: "2580"}))
	f.must(err)
	paid := f.pay(alice, till, f.ksh(500), false)
	_, err = f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferHold, From: alice, Amount: f.ksh(500), Reference: "tab-1", PIN: "2580"}))
	f.must(err)
	// Payments into the merchant, so that it covers the refund and a payout.
	f.pay(bob, till, f.ksh(2_000), false)
	topUp()

	tests := []struct {
		name string
		req  wallet.TransferRequest
		code wallet.Code // "" posts, past the maximum
	}{
		{"a send is refused", wallet.TransferRequest{Kind: wallet.TransferSend, From: bob, To: alice, Amount: 100, PIN: "2580"}, wallet.CodeLimitExceeded},
		{"a deposit is refused", wallet.TransferRequest{Kind: wallet.TransferDeposit, From: agentPhone, To: alice, Amount: 100, PIN: "1357"}, wallet.CodeLimitExceeded},
		{"a payout is refused", wallet.TransferRequest{Kind: wallet.TransferPayout, From: till, To: alice, Amount: 100}, wallet.CodeLimitExceeded},
		{"a reversal returns the sender's money", wallet.TransferRequest{Kind: wallet.TransferReversal, From: alice, Reference: sent.Transfer.Ref, PIN: "2580"}, ""},
		{"a refund returns the payer's money", wallet.TransferRequest{Kind: wallet.TransferRefund, From: till, Reference: paid.Ref, Amount: f.ksh(500)}, ""},
		{"a release returns the tab's load", wallet.TransferRequest{Kind: wallet.TransferRelease, To: alice, Amount: f.ksh(500), Reference: "tab-1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.balance(alice)
			_, err := f.w.Transfer(f.ctx, keyed(tt.req))
			if got := wallet.ErrorCode(err); got != tt.code {
				t.Fatalf("got %v, want %q", err, tt.code)
			}
			if after := f.balance(alice); tt.code == "" && after <= balanceMax {
				t.Errorf("balance %d → %d: want it past the maximum %d", before, after, balanceMax)
			}
		})
	}
	f.check()
}
