package wallet_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

// settleFee is the settlement fee the merchant tests configure: 2.5% with a
// floor of 3 minor units, so that small settlements show the floor.
var settleFee = wallet.Percent{BasisPoints: 250, Min: 3}

func withSettleFee(c *wallet.Config) {
	c.Tariff = wallet.DefaultTariff(c.Currency)
	c.Tariff.Settle = settleFee
}

// merchant opens a till (or paybill) and returns its number.
func (f *fixture) merchant(name string, paybill bool) string {
	f.t.Helper()
	a, err := f.w.AddMerchant(f.ctx, f.phone(), name, paybill)
	f.must(err)
	return a.Number
}

// pay has customer pay a till (or paybill) and returns the transfer.
func (f *fixture) pay(customer, merchant string, amount int64, paybill bool) wallet.Transfer {
	f.t.Helper()
	req := wallet.TransferRequest{Key: key(), Kind: wallet.TransferTill, From: customer, To: merchant, Amount: amount, PIN: "2580"}
	if paybill {
		req.Kind, req.Reference = wallet.TransferPaybill, "ACC-1"
	}
	r, err := f.w.Transfer(f.ctx, req)
	f.must(err)
	return r.Transfer
}

func (f *fixture) id(numberOrPhone string) int64 {
	f.t.Helper()
	a, err := f.w.Show(f.ctx, numberOrPhone)
	f.must(err)
	return a.ID
}

// principalTo sums t's principal postings to account id.
func principalTo(t wallet.Transfer, id int64) int64 {
	var sum int64
	for _, q := range t.Postings {
		if q.AccountID == id && q.Leg == wallet.LegPrincipal {
			sum += q.Amount
		}
	}
	return sum
}

// checkPostings fails unless t's postings balance and no account has two
// postings of one leg.
func checkPostings(t testing.TB, tr wallet.Transfer) {
	t.Helper()
	var sum int64
	seen := map[string]bool{}
	for _, q := range tr.Postings {
		sum += q.Amount
		k := fmt.Sprint(q.AccountID, q.Leg)
		if seen[k] {
			t.Errorf("%s %s: account %d has two %s postings: %+v", tr.Kind, tr.Ref, q.AccountID, q.Leg, tr.Postings)
		}
		seen[k] = true
		if q.Amount == 0 {
			t.Errorf("%s %s: a zero posting: %+v", tr.Kind, tr.Ref, tr.Postings)
		}
	}
	if sum != 0 {
		t.Errorf("%s %s: postings sum to %d", tr.Kind, tr.Ref, sum)
	}
}

func TestMerchantTransfers(t *testing.T) {
	f := newFixture(t, withSettleFee)
	alice, bob := f.customer("Alice"), f.customer("Bob")
	f.fund(alice, f.ksh(50_000))
	till, paybill, other := f.merchant("Duka", false), f.merchant("Water Co", true), f.merchant("Ad Network", false)
	paid := f.pay(alice, till, f.ksh(20_000), false)
	f.pay(alice, paybill, f.ksh(5_000), true)
	quote := func(k wallet.TransferKind, amount int64) int64 {
		fee, _, err := f.w.Quote(k, amount)
		f.must(err)
		return fee
	}

	tests := []struct {
		name      string
		req       wallet.TransferRequest
		delta     map[string]int64
		initiator string // whose balance the reply reports
	}{
		{"payout: the merchant pays the fee on top",
			wallet.TransferRequest{Kind: wallet.TransferPayout, From: till, To: "0" + bob[4:], Amount: f.ksh(1_000), Reference: "SALARY"},
			map[string]int64{till: -f.ksh(1_000) - quote(wallet.TransferPayout, f.ksh(1_000)), bob: f.ksh(1_000), wallet.SystemFees: quote(wallet.TransferPayout, f.ksh(1_000))}, till},
		{"a small payout is free",
			wallet.TransferRequest{Kind: wallet.TransferPayout, From: paybill, To: bob, Amount: f.ksh(100)},
			map[string]int64{paybill: -f.ksh(100), bob: f.ksh(100)}, paybill},
		{"partial refund of a till payment",
			wallet.TransferRequest{Kind: wallet.TransferRefund, From: till, Reference: paid.Ref, Amount: f.ksh(500)},
			map[string]int64{till: -f.ksh(500), alice: f.ksh(500)}, till},
		{"hold: a prepaid tab's load, with the PIN",
			wallet.TransferRequest{Kind: wallet.TransferHold, From: alice, Amount: f.ksh(300), Reference: "tab_1", PIN: "2580"},
			map[string]int64{alice: -f.ksh(300), wallet.SystemTabs: f.ksh(300)}, alice},
		{"prepaid settle from the tabs account, fee at its floor",
			wallet.TransferRequest{Kind: wallet.TransferSettle, From: wallet.SystemTabs, To: till, Amount: 100, Reference: "tab_1"},
			map[string]int64{wallet.SystemTabs: -100, till: 97, wallet.SystemFees: 3}, till},
		{"postpaid settle split 70/30 by weight",
			wallet.TransferRequest{Kind: wallet.TransferSettle, From: alice, To: till, Amount: f.ksh(100), Reference: "tab_2",
				Splits: []wallet.Share{{To: till, Weight: 70}, {To: other, Weight: 30}}},
			// fee 2.5% of 10,000 = 250; 9,750 shared: 6,825 and 2,925.
			map[string]int64{alice: -f.ksh(100), till: 6_825, other: 2_925, wallet.SystemFees: 250}, till},
		{"settle split away from the tab's merchant",
			wallet.TransferRequest{Kind: wallet.TransferSettle, From: alice, To: till, Amount: 11,
				Splits: []wallet.Share{{To: other, Weight: 1}, {To: paybill, Weight: 1}}},
			// fee: the floor, 3; 8 shared evenly.
			map[string]int64{alice: -11, till: 0, other: 4, paybill: 4, wallet.SystemFees: 3}, ""},
		{"release: what a closed tab did not spend",
			wallet.TransferRequest{Kind: wallet.TransferRelease, To: alice, Amount: f.ksh(2), Reference: "tab_1"},
			map[string]int64{wallet.SystemTabs: -f.ksh(2), alice: f.ksh(2)}, alice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var numbers []string
			for n := range tt.delta {
				numbers = append(numbers, n)
			}
			before := f.snapshot(append(numbers, wallet.SystemTabs)...)
			tt.req.Key = key()
			res, err := f.w.Transfer(f.ctx, tt.req)
			if err != nil {
				t.Fatalf("transfer: got %v, want success", err)
			}
			after := f.snapshot(append(numbers, wallet.SystemTabs)...)
			for n, want := range tt.delta {
				if got := after[n] - before[n]; got != want {
					t.Errorf("%s changed by %d, want %d", n, got, want)
				}
			}
			for n := range after {
				if _, ok := tt.delta[n]; !ok && after[n] != before[n] {
					t.Errorf("%s changed by %d, want 0", n, after[n]-before[n])
				}
			}
			checkPostings(t, res.Transfer)
			if res.Transfer.Kind != tt.req.Kind || res.Transfer.Amount != tt.req.Amount {
				t.Errorf("transfer %+v, want a %s of %d", res.Transfer, tt.req.Kind, tt.req.Amount)
			}
			want := int64(0)
			if tt.initiator != "" {
				want = after[tt.initiator]
			}
			if res.Balance != want {
				t.Errorf("reply balance %d, want %s's %d", res.Balance, tt.initiator, want)
			}
			f.check()
		})
	}

	r, err := f.w.Check(f.ctx)
	f.must(err)
	if r.Held != f.balance(wallet.SystemTabs) || r.Held != f.ksh(300)-100-f.ksh(2) {
		t.Errorf("check reports %d held, the tabs account has %d", r.Held, f.balance(wallet.SystemTabs))
	}
}

func TestMerchantRefusals(t *testing.T) {
	f := newFixture(t, withSettleFee)
	alice, bob := f.customer("Alice"), f.customer("Bob")
	f.fund(alice, f.ksh(10_000))
	basic := f.phone()
	_, err := f.w.Register(f.ctx, basic, "Basic", wallet.TierBasic, "en")
	f.must(err)
	_, err = f.w.SetPIN(f.ctx, basic, "2580")
	f.must(err)
	f.fund(basic, f.ksh(49_000))
	f.fund(basic, f.ksh(50_000))
	agentPhone, agentNo := f.agent(f.ksh(100))
	till, poor, other := f.merchant("Duka", false), f.merchant("Poor", false), f.merchant("Other", false)
	frozen := f.merchant("Frozen", false)
	_, err = f.w.SetStatus(f.ctx, frozen, wallet.StatusFrozen)
	f.must(err)
	paid := f.pay(alice, till, f.ksh(5_000), false)
	sent, err := f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferSend, From: alice, To: bob, Amount: f.ksh(10), PIN: "2580"}))
	f.must(err)
	_, err = f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferHold, From: alice, Amount: f.ksh(50), Reference: "tab_p", PIN: "2580"}))
	f.must(err)
	prepaid, err := f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferSettle, From: wallet.SystemTabs, To: till, Amount: f.ksh(10), Reference: "tab_p"}))
	f.must(err)
	many := make([]wallet.Share, 65)
	for i := range many {
		many[i] = wallet.Share{To: other, Weight: 1}
	}

	payout := func(from, to string, amount int64) wallet.TransferRequest {
		return wallet.TransferRequest{Kind: wallet.TransferPayout, From: from, To: to, Amount: amount}
	}
	refund := func(from, ref string, amount int64) wallet.TransferRequest {
		return wallet.TransferRequest{Kind: wallet.TransferRefund, From: from, Reference: ref, Amount: amount}
	}
	settle := func(from, to string, amount int64, splits ...wallet.Share) wallet.TransferRequest {
		return wallet.TransferRequest{Kind: wallet.TransferSettle, From: from, To: to, Amount: amount, Reference: "tab_x", Splits: splits}
	}
	tests := []struct {
		name  string
		req   wallet.TransferRequest
		code  wallet.Code
		limit wallet.Limit
	}{
		{"payout from a customer", payout(alice, bob, 100), wallet.CodeWrongKind, ""},
		{"payout from an agent number", payout(agentNo, bob, 100), wallet.CodeWrongKind, ""},
		{"payout from an unknown number", payout("999999", bob, 100), wallet.CodeNotFound, ""},
		{"payout without a merchant", payout("", bob, 100), wallet.CodeInvalid, ""},
		{"payout to a till number", payout(till, other, 100), wallet.CodeInvalidPhone, ""},
		{"payout to an unknown phone", payout(till, "+254799999999", 100), wallet.CodeNotFound, ""},
		{"payout to an agent", payout(till, agentPhone, 100), wallet.CodeWrongKind, ""},
		{"payout of nothing", payout(till, bob, 0), wallet.CodeInvalidAmount, ""},
		{"payout beyond the merchant's balance", payout(poor, bob, 100), wallet.CodeInsufficientFunds, ""},
		{"payout above the top band", payout(till, bob, f.ksh(250_001)), wallet.CodeLimitExceeded, wallet.LimitPerTransaction},
		{"payout above the recipient tier's per-transaction limit", payout(till, basic, f.ksh(50_001)), wallet.CodeLimitExceeded, wallet.LimitPerTransaction},
		{"payout above the recipient's maximum balance", payout(till, basic, f.ksh(1_001)), wallet.CodeLimitExceeded, wallet.LimitBalance},
		{"payout from a frozen till", payout(frozen, bob, 100), wallet.CodeAccountFrozen, ""},
		{"refund without a transaction id", refund(till, "", 100), wallet.CodeInvalid, ""},
		{"refund of an unknown transaction", refund(till, "QQQQQQQQQQ", 100), wallet.CodeNotFound, ""},
		{"refund of a malformed id", refund(till, "nope", 100), wallet.CodeNotFound, ""},
		{"refund of a send", refund(till, sent.Transfer.Ref, 100), wallet.CodeNotReversible, ""},
		{"refund by another merchant", refund(other, paid.Ref, 100), wallet.CodeNotFound, ""},
		{"refund of more than was paid", refund(till, paid.Ref, f.ksh(5_000)+1), wallet.CodeInvalidAmount, ""},
		{"refund of a prepaid settlement", refund(till, prepaid.Transfer.Ref, 100), wallet.CodeNotReversible, ""},
		{"refund from a customer", refund(alice, paid.Ref, 100), wallet.CodeWrongKind, ""},
		{"settle to a customer", settle(alice, bob, 100), wallet.CodeWrongKind, ""},
		{"settle from an agent", settle(agentPhone, till, 100), wallet.CodeWrongKind, ""},
		{"settle from a till", settle(other, till, 100), wallet.CodeInvalidPhone, ""},
		{"settle split to a customer", settle(alice, till, 100, wallet.Share{To: bob, Weight: 1}), wallet.CodeWrongKind, ""},
		{"settle split to an unknown number", settle(alice, till, 100, wallet.Share{To: "999999", Weight: 1}), wallet.CodeNotFound, ""},
		{"settle split of weight 0", settle(alice, till, 100, wallet.Share{To: till, Weight: 0}), wallet.CodeInvalid, ""},
		{"settle split of negative weight", settle(alice, till, 100, wallet.Share{To: till, Weight: 2}, wallet.Share{To: other, Weight: -1}), wallet.CodeInvalid, ""},
		{"settle split of too great a weight", settle(alice, till, 100, wallet.Share{To: till, Weight: 1e18}), wallet.CodeInvalid, ""},
		{"settle split 65 ways", settle(alice, till, 100, many...), wallet.CodeInvalid, ""},
		{"settle split to a frozen till", settle(alice, till, 100, wallet.Share{To: frozen, Weight: 1}), wallet.CodeAccountFrozen, ""},
		{"postpaid settle beyond the customer's balance", settle(bob, till, f.ksh(1_000)), wallet.CodeInsufficientFunds, ""},
		{"prepaid settle beyond what the tabs hold", settle(wallet.SystemTabs, till, f.ksh(41)), wallet.CodeInsufficientFunds, ""},
		{"splits on a send", wallet.TransferRequest{Kind: wallet.TransferSend, From: alice, To: bob, Amount: 100, PIN: "2580",
			Splits: []wallet.Share{{To: till, Weight: 1}}}, wallet.CodeInvalid, ""},
		{"hold without a PIN", wallet.TransferRequest{Kind: wallet.TransferHold, From: alice, Amount: 100, Reference: "tab_h"}, wallet.CodeInvalid, ""},
		{"hold without a tab", wallet.TransferRequest{Kind: wallet.TransferHold, From: alice, Amount: 100, PIN: "2580"}, wallet.CodeInvalid, ""},
		{"hold beyond the balance", wallet.TransferRequest{Kind: wallet.TransferHold, From: bob, Amount: f.ksh(1_000), Reference: "tab_h", PIN: "2580"}, wallet.CodeInsufficientFunds, ""},
		{"hold above the tier's limit", wallet.TransferRequest{Kind: wallet.TransferHold, From: basic, Amount: f.ksh(50_001), Reference: "tab_h", PIN: "2580"}, wallet.CodeLimitExceeded, wallet.LimitPerTransaction},
		{"hold from a till", wallet.TransferRequest{Kind: wallet.TransferHold, From: till, Amount: 100, Reference: "tab_h", PIN: "2580"}, wallet.CodeInvalidPhone, ""},
		{"release without a tab", wallet.TransferRequest{Kind: wallet.TransferRelease, To: alice, Amount: 100}, wallet.CodeInvalid, ""},
		{"release beyond what the tabs hold", wallet.TransferRequest{Kind: wallet.TransferRelease, To: alice, Amount: f.ksh(41), Reference: "tab_p"}, wallet.CodeInsufficientFunds, ""},
		{"release to an agent", wallet.TransferRequest{Kind: wallet.TransferRelease, To: agentPhone, Amount: 100, Reference: "tab_p"}, wallet.CodeWrongKind, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			numbers := []string{alice, bob, basic, till, poor, other, agentNo, wallet.SystemTabs}
			before := f.snapshot(numbers...)
			tt.req.Key = key()
			_, err := f.w.Transfer(f.ctx, tt.req)
			var we *wallet.Error
			if !errors.As(err, &we) {
				t.Fatalf("got %v, want a *wallet.Error %s", err, tt.code)
			}
			if we.Code != tt.code || we.Limit != tt.limit || we.Message == "" {
				t.Fatalf("got %s %q (limit %q), want %s (limit %q)", we.Code, we.Message, we.Limit, tt.code, tt.limit)
			}
			after := f.snapshot(numbers...)
			for n, b := range before {
				if after[n] != b {
					t.Errorf("%s changed from %d to %d", n, b, after[n])
				}
			}
		})
	}

	t.Run("the merchant is told its balance, a customer's is not revealed", func(t *testing.T) {
		_, err := f.w.Transfer(f.ctx, keyed(payout(till, bob, f.ksh(100_000))))
		var we *wallet.Error
		if !errors.As(err, &we) || we.Code != wallet.CodeInsufficientFunds || we.Balance == nil || *we.Balance != f.balance(till) {
			t.Errorf("payout: got %+v, want insufficient funds with the till's balance %d", err, f.balance(till))
		}
		_, err = f.w.Transfer(f.ctx, keyed(settle(bob, till, f.ksh(1_000))))
		if !errors.As(err, &we) || we.Code != wallet.CodeInsufficientFunds || we.Balance != nil {
			t.Errorf("postpaid settle: got %+v, want insufficient funds without a balance", err)
		}
	})

	t.Run("settle ignores tier limits but counts toward the day's total", func(t *testing.T) {
		// The basic tier may move 50,000 at once and 100,000 a day.
		if _, err := f.w.Transfer(f.ctx, keyed(settle(basic, till, f.ksh(60_000)))); err != nil {
			t.Fatalf("settle above the per-transaction limit: %v", err)
		}
		_, err := f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferSend, From: basic, To: bob, Amount: f.ksh(40_001), PIN: "2580"}))
		var we *wallet.Error
		if !errors.As(err, &we) || we.Code != wallet.CodeLimitExceeded || we.Limit != wallet.LimitDaily {
			t.Fatalf("send after the settle: got %v, want limit_exceeded daily", err)
		}
	})

	t.Run("a hold with a wrong PIN keeps the key free", func(t *testing.T) {
		req := wallet.TransferRequest{Key: key(), Kind: wallet.TransferHold, From: alice, Amount: 100, Reference: "tab_h", PIN: "0000"}
		if _, err := f.w.Transfer(f.ctx, req); wallet.ErrorCode(err) != wallet.CodePINInvalid {
			t.Fatalf("wrong PIN: got %v, want pin_invalid", err)
		}
		if _, _, err := f.w.Outcome(f.ctx, req.Key); wallet.ErrorCode(err) != wallet.CodeNotFound {
			t.Fatalf("outcome after a wrong PIN: got %v, want not_found", err)
		}
		req.PIN = "2580"
		res, err := f.w.Transfer(f.ctx, req)
		if err != nil || res.Replayed {
			t.Fatalf("right PIN: got %+v %v, want a fresh hold", res, err)
		}
	})
	f.check()
}

func TestRefunds(t *testing.T) {
	f := newFixture(t, withSettleFee)
	alice, bob := f.customer("Alice"), f.customer("Bob")
	f.fund(alice, f.ksh(50_000))
	f.fund(bob, f.ksh(100))
	till, paybill, other := f.merchant("Duka", false), f.merchant("Water Co", true), f.merchant("Ad Network", false)
	refund := func(from, ref string, amount int64) (*wallet.TransferResult, error) {
		return f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferRefund, From: from, Reference: ref, Amount: amount}))
	}
	mustRefund := func(t *testing.T, from, ref string, amount int64) wallet.Transfer {
		t.Helper()
		r, err := refund(from, ref, amount)
		if err != nil {
			t.Fatalf("refund %d of %s: %v", amount, ref, err)
		}
		return r.Transfer
	}
	refunded := func(id int64) int64 {
		n, err := f.w.Refunded(f.ctx, id)
		f.must(err)
		return n
	}

	t.Run("partial refunds until exhausted", func(t *testing.T) {
		f.pay(bob, paybill, f.ksh(10), true) // covers the fee on the payment, which a refund does not return
		paid := f.pay(alice, paybill, f.ksh(1_000), true)
		before := f.balance(alice)
		r1 := mustRefund(t, paybill, paid.Ref, f.ksh(400))
		if r1.Refunds != paid.ID || r1.Reference != paid.Ref || r1.Source != f.id(paybill) || r1.Target != f.id(alice) || r1.Fee != 0 {
			t.Errorf("refund %+v does not point at %s", r1, paid.Ref)
		}
		if got, err := f.w.TransferByRef(f.ctx, r1.Ref); err != nil || got.Refunds != paid.ID || len(got.Postings) != 2 {
			t.Errorf("stored refund: %+v %v, want refunds %d with 2 postings", got, err, paid.ID)
		}
		if _, err := refund(paybill, paid.Ref, f.ksh(600)+1); wallet.ErrorCode(err) != wallet.CodeInvalidAmount {
			t.Errorf("over the rest: got %v, want invalid_amount", err)
		}
		mustRefund(t, paybill, paid.Ref, f.ksh(600))
		if _, err := refund(paybill, paid.Ref, 1); wallet.ErrorCode(err) != wallet.CodeNotReversible {
			t.Errorf("after a full refund: got %v, want not_reversible", err)
		}
		if got := refunded(paid.ID); got != f.ksh(1_000) {
			t.Errorf("Refunded = %d, want %d", got, f.ksh(1_000))
		}
		if got := f.balance(alice) - before; got != f.ksh(1_000) {
			t.Errorf("alice got %d back, want %d", got, f.ksh(1_000))
		}
	})

	t.Run("refund and reversal exclude each other", func(t *testing.T) {
		refundedFirst := f.pay(alice, till, f.ksh(700), false)
		mustRefund(t, till, refundedFirst.Ref, 1)
		rev := wallet.TransferRequest{Kind: wallet.TransferReversal, From: alice, Reference: refundedFirst.Ref, PIN: "2580"}
		if _, err := f.w.Transfer(f.ctx, keyed(rev)); wallet.ErrorCode(err) != wallet.CodeNotReversible {
			t.Errorf("reversal after a refund: got %v, want not_reversible", err)
		}
		info, err := f.w.TransferInfo(f.ctx, alice, refundedFirst.Ref)
		if err != nil || info.Reversible {
			t.Errorf("TransferInfo after a refund: %+v %v, want not reversible", info, err)
		}
		// A till payment can no longer be reversed (the merchant refunds
		// it: TestSecurityTillPaymentNotReversibleByCustomer), so the
		// other order, a refund after a reversal, cannot arise; the
		// ledger check still reports one in old data.
		paid := f.pay(alice, till, f.ksh(800), false)
		rev.Reference = paid.Ref
		if _, err := f.w.Transfer(f.ctx, keyed(rev)); wallet.ErrorCode(err) != wallet.CodeNotReversible {
			t.Errorf("reversal of a till payment: got %v, want not_reversible", err)
		}
	})

	t.Run("each payee of a split settlement refunds its own share", func(t *testing.T) {
		s, err := f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferSettle, From: alice, To: till, Amount: f.ksh(200),
			Splits: []wallet.Share{{To: till, Weight: 3}, {To: other, Weight: 1}}}))
		f.must(err)
		tillShare, otherShare := principalTo(s.Transfer, f.id(till)), principalTo(s.Transfer, f.id(other))
		if tillShare+otherShare != f.ksh(200)-s.Transfer.Fee || tillShare != 3*otherShare {
			t.Fatalf("shares %d and %d of %d after a fee of %d", tillShare, otherShare, f.ksh(200), s.Transfer.Fee)
		}
		mustRefund(t, other, s.Transfer.Ref, otherShare)
		if _, err := refund(other, s.Transfer.Ref, 1); wallet.ErrorCode(err) != wallet.CodeNotReversible {
			t.Errorf("other's second refund: got %v, want not_reversible", err)
		}
		mustRefund(t, till, s.Transfer.Ref, tillShare)
		if _, err := refund(till, s.Transfer.Ref, 1); wallet.ErrorCode(err) != wallet.CodeNotReversible {
			t.Errorf("till's second refund: got %v, want not_reversible", err)
		}
		if got := refunded(s.Transfer.ID); got != tillShare+otherShare {
			t.Errorf("Refunded = %d, want %d", got, tillShare+otherShare)
		}
		if got, err := f.w.RefundedBy(f.ctx, s.Transfer.ID, f.id(other)); err != nil || got != otherShare {
			t.Errorf("RefundedBy(other) = %d, %v, want %d", got, err, otherShare)
		}
	})

	t.Run("a refund the merchant cannot cover is refused", func(t *testing.T) {
		paid := f.pay(alice, other, f.ksh(100), false)
		_, err := f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferPayout, From: other, To: bob,
			Amount: f.balance(other) - f.ksh(50) - 500, Reference: "drain"}))
		f.must(err)
		_, err = refund(other, paid.Ref, f.ksh(100))
		var we *wallet.Error
		if !errors.As(err, &we) || we.Code != wallet.CodeInsufficientFunds || we.Balance == nil || *we.Balance != f.balance(other) {
			t.Errorf("got %+v, want insufficient funds with the merchant's balance", err)
		}
		mustRefund(t, other, paid.Ref, f.ksh(50))
	})
	f.check()
}

// TestConcurrentRefundsInOneBatch holds the writer while refunds of one
// payment queue, so that they are applied in one batch: the batch's memory
// of what it refunded, not only the database's, must stop the refunds that
// would pass the payment.
func TestConcurrentRefundsInOneBatch(t *testing.T) {
	var hold atomic.Bool
	gate, held := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var batches []wallet.BatchStats
	f := newFixture(t, func(c *wallet.Config) {
		c.Observe = func(s wallet.BatchStats) {
			mu.Lock()
			batches = append(batches, s)
			mu.Unlock()
			// Only the PIN check's batch (no transfers) is held: callers are
			// answered before Observe runs, so the batch of the payment
			// below may still be observed after hold is set.
			if s.Transfers == 0 && hold.CompareAndSwap(true, false) {
				close(held)
				<-gate // a test's gate: the writer waits here while commands queue
			}
		}
	})
	alice := f.customer("Alice")
	f.fund(alice, f.ksh(10_000))
	till := f.merchant("Duka", false)
	paid := f.pay(alice, till, f.ksh(1_000), false)

	hold.Store(true)
	go f.w.VerifyPIN(f.ctx, alice, "2580")
	<-held
	const n = 10 // of 150.00 each: six fit in 1,000.00
	type result struct {
		res *wallet.TransferResult
		err error
	}
	results := make(chan result, n)
	for i := range n {
		f.w.TransferAsync(f.ctx, wallet.TransferRequest{Key: fmt.Sprintf("concurrent-%d", i), Kind: wallet.TransferRefund, From: till,
			Reference: paid.Ref, Amount: f.ksh(150)}, func(r *wallet.TransferResult, err error) { results <- result{r, err} })
	}
	mu.Lock()
	before := len(batches)
	mu.Unlock()
	close(gate)
	ok, refused := 0, 0
	for range n {
		r := <-results
		switch wallet.ErrorCode(r.err) {
		case "":
			ok++
		case wallet.CodeInvalidAmount:
			refused++
		default:
			t.Errorf("refund: %v", r.err)
		}
	}
	if ok != 6 || refused != 4 {
		t.Errorf("%d refunds posted and %d refused, want 6 and 4", ok, refused)
	}
	mu.Lock()
	if len(batches) <= before || batches[before].Ops != n || batches[before].Transfers != 6 {
		t.Errorf("batches after the gate: %+v, want one of %d ops posting 6", batches[before:], n)
	}
	mu.Unlock()
	if got, _ := f.w.Refunded(f.ctx, paid.ID); got != f.ksh(900) {
		t.Errorf("Refunded = %d, want %d", got, f.ksh(900))
	}
	f.check()
}

func TestSettleSplits(t *testing.T) {
	f := newFixture(t, withSettleFee)
	alice := f.customer("Alice")
	f.fund(alice, f.ksh(100_000))
	a, b, c := f.merchant("A", false), f.merchant("B", true), f.merchant("C", false)
	ids := map[string]int64{a: f.id(a), b: f.id(b), c: f.id(c)}
	tests := []struct {
		name   string
		amount int64
		splits []wallet.Share
		fee    int64
		want   map[string]int64
	}{
		{"no splits: all to the tab's merchant", 1_000, nil, 25, map[string]int64{a: 975}},
		{"the floor on a tiny settlement", 10, []wallet.Share{{To: a, Weight: 70}, {To: b, Weight: 30}}, 3, map[string]int64{a: 5, b: 2}},
		{"the fee takes a settlement of one unit", 1, []wallet.Share{{To: a, Weight: 1}, {To: b, Weight: 1}}, 1, map[string]int64{}},
		{"largest remainder, ties to the earlier", 100_001, []wallet.Share{{To: a, Weight: 1}, {To: b, Weight: 1}, {To: c, Weight: 1}}, 2_500,
			map[string]int64{a: 32_501, b: 32_500, c: 32_500}},
		{"a payee named twice gets one posting", 1_000, []wallet.Share{{To: b, Weight: 1}, {To: c, Weight: 2}, {To: b, Weight: 1}}, 25,
			map[string]int64{b: 488, c: 487}},
		{"weights as accrued Micro", 12_345, []wallet.Share{{To: a, Weight: 999_999_999}, {To: c, Weight: 1}}, 309,
			map[string]int64{a: 12_036}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferSettle, From: alice, To: a, Amount: tt.amount, Splits: tt.splits}))
			if err != nil {
				t.Fatal(err)
			}
			tr := res.Transfer
			checkPostings(t, tr)
			if tr.Fee != tt.fee {
				t.Errorf("fee %d, want %d", tr.Fee, tt.fee)
			}
			var paid int64
			for n, id := range ids {
				got := principalTo(tr, id)
				paid += got
				if got != tt.want[n] {
					t.Errorf("%s got %d, want %d", n, got, tt.want[n])
				}
			}
			if paid != tt.amount-tr.Fee {
				t.Errorf("payees got %d of %d − %d", paid, tt.amount, tr.Fee)
			}
		})
	}
	f.check()
}

func TestMerchantIdempotency(t *testing.T) {
	f := newFixture(t, withSettleFee)
	alice, bob := f.customer("Alice"), f.customer("Bob")
	f.fund(alice, f.ksh(10_000))
	till, other := f.merchant("Duka", false), f.merchant("Other", false)
	paid := f.pay(alice, till, f.ksh(5_000), false)
	_, err := f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferHold, From: alice, Amount: f.ksh(100), Reference: "tab_0", PIN: "2580"}))
	f.must(err)
	tests := []struct {
		name  string
		req   wallet.TransferRequest
		edits []func(*wallet.TransferRequest) // each a conflicting change
	}{
		{"payout", wallet.TransferRequest{Kind: wallet.TransferPayout, From: till, To: bob, Amount: f.ksh(10), Reference: "P1"},
			[]func(*wallet.TransferRequest){func(r *wallet.TransferRequest) { r.Amount++ }, func(r *wallet.TransferRequest) { r.To = alice },
				func(r *wallet.TransferRequest) { r.Reference = "P2" }}},
		{"refund", wallet.TransferRequest{Kind: wallet.TransferRefund, From: till, Amount: f.ksh(10), Reference: paid.Ref},
			[]func(*wallet.TransferRequest){func(r *wallet.TransferRequest) { r.Amount++ }, func(r *wallet.TransferRequest) { r.From = other }}},
		{"settle", wallet.TransferRequest{Kind: wallet.TransferSettle, From: alice, To: till, Amount: f.ksh(10), Reference: "tab_1",
			Splits: []wallet.Share{{To: till, Weight: 2}, {To: other, Weight: 1}}},
			[]func(*wallet.TransferRequest){
				func(r *wallet.TransferRequest) {
					r.Splits = []wallet.Share{{To: till, Weight: 1}, {To: other, Weight: 1}}
				},
				func(r *wallet.TransferRequest) {
					r.Splits = []wallet.Share{{To: other, Weight: 1}, {To: till, Weight: 2}}
				},
				func(r *wallet.TransferRequest) { r.Splits = nil },
				func(r *wallet.TransferRequest) { r.From = wallet.SystemTabs },
			}},
		{"hold", wallet.TransferRequest{Kind: wallet.TransferHold, From: alice, Amount: f.ksh(10), Reference: "tab_2", PIN: "2580"},
			[]func(*wallet.TransferRequest){func(r *wallet.TransferRequest) { r.Reference = "tab_3" }}},
		{"release", wallet.TransferRequest{Kind: wallet.TransferRelease, To: alice, Amount: f.ksh(10), Reference: "tab_0"},
			[]func(*wallet.TransferRequest){func(r *wallet.TransferRequest) { r.To = bob }}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Key = key()
			first, err := f.w.Transfer(f.ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			before := f.snapshot(alice, bob, till, other, wallet.SystemTabs)
			again, err := f.w.Transfer(f.ctx, tt.req)
			if err != nil || !again.Replayed || again.Transfer.Ref != first.Transfer.Ref || again.Balance != first.Balance {
				t.Fatalf("replay: got %+v %v, want %s replayed", again, err, first.Transfer.Ref)
			}
			for i, edit := range tt.edits {
				req := tt.req
				req.Splits = slices.Clone(req.Splits)
				edit(&req)
				if _, err := f.w.Transfer(f.ctx, req); wallet.ErrorCode(err) != wallet.CodeConflict {
					t.Errorf("change %d: got %v, want conflict", i+1, err)
				}
			}
			if after := f.snapshot(alice, bob, till, other, wallet.SystemTabs); !equalMaps(before, after) {
				t.Errorf("balances changed by replays: %v → %v", before, after)
			}
			tr, rejected, err := f.w.Outcome(f.ctx, tt.req.Key)
			if err != nil || rejected != nil || tr == nil || tr.Ref != first.Transfer.Ref || len(tr.Postings) != len(first.Transfer.Postings) {
				t.Errorf("Outcome: %+v %v %v, want %s", tr, rejected, err, first.Transfer.Ref)
			}
		})
	}

	t.Run("a refused refund is remembered", func(t *testing.T) {
		req := wallet.TransferRequest{Key: key(), Kind: wallet.TransferRefund, From: till, Amount: f.ksh(10_000), Reference: paid.Ref}
		_, err := f.w.Transfer(f.ctx, req)
		if wallet.ErrorCode(err) != wallet.CodeInvalidAmount {
			t.Fatalf("got %v, want invalid_amount", err)
		}
		tr, rejected, err := f.w.Outcome(f.ctx, req.Key)
		if err != nil || tr != nil || rejected == nil || rejected.Code != wallet.CodeInvalidAmount {
			t.Errorf("Outcome: %+v %+v %v, want the invalid_amount refusal", tr, rejected, err)
		}
		if _, err := f.w.Transfer(f.ctx, req); wallet.ErrorCode(err) != wallet.CodeInvalidAmount {
			t.Errorf("replay: got %v, want the refusal again", err)
		}
	})
	t.Run("Outcome of unknown and malformed keys", func(t *testing.T) {
		if _, _, err := f.w.Outcome(f.ctx, "never-used"); wallet.ErrorCode(err) != wallet.CodeNotFound {
			t.Errorf("unknown key: got %v, want not_found", err)
		}
		for _, k := range []string{"", string(make([]byte, 129))} {
			if _, _, err := f.w.Outcome(f.ctx, k); wallet.ErrorCode(err) != wallet.CodeInvalid {
				t.Errorf("key of %d bytes: got %v, want invalid_request", len(k), err)
			}
		}
	})
	f.check()
}

func equalMaps(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestAccountTransfers(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.customer("Alice"), f.customer("Bob")
	f.fund(alice, f.ksh(10_000))
	till := f.merchant("Duka", false)
	tillID := f.id(till)
	start := f.clock.Now()
	var refs []string // the till's transfers, oldest first, an hour apart
	for i := range 5 {
		f.clock.Add(time.Hour)
		refs = append(refs, f.pay(alice, till, f.ksh(int64(100*(i+1))), false).Ref)
	}
	f.clock.Add(time.Hour)
	r, err := f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferPayout, From: till, To: bob, Amount: f.ksh(50)}))
	f.must(err)
	refs = append(refs, r.Transfer.Ref)
	f.clock.Add(time.Hour)
	r, err = f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferRefund, From: till, Amount: f.ksh(10), Reference: refs[0]}))
	f.must(err)
	refs = append(refs, r.Transfer.Ref)
	// Not the till's: must not be listed.
	_, err = f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferSend, From: alice, To: bob, Amount: f.ksh(5), PIN: "2580"}))
	f.must(err)

	newest := slices.Clone(refs)
	slices.Reverse(newest)
	list := func(from, to time.Time, before int64, limit int) []string {
		t.Helper()
		ts, err := f.w.AccountTransfers(f.ctx, tillID, from, to, before, limit)
		f.must(err)
		var out []string
		for _, tr := range ts {
			if principalTo(tr, tillID) == 0 || len(tr.Postings) < 2 {
				t.Errorf("%s: no principal posting on the till, or postings missing: %+v", tr.Ref, tr.Postings)
			}
			out = append(out, tr.Ref)
		}
		return out
	}
	idOf := func(ref string) int64 { id, _ := wallet.ParseRef(ref); return id }

	if got := list(time.Time{}, time.Time{}, 0, 0); !slices.Equal(got, newest) {
		t.Errorf("all: got %v, want %v", got, newest)
	}
	var paged []string
	before := int64(0)
	for {
		page := list(time.Time{}, time.Time{}, before, 3)
		if len(page) == 0 {
			break
		}
		if len(page) > 3 {
			t.Fatalf("page of %d, limit 3", len(page))
		}
		paged = append(paged, page...)
		before = idOf(page[len(page)-1])
	}
	if !slices.Equal(paged, newest) {
		t.Errorf("paged: got %v, want %v", paged, newest)
	}
	// Payments 2 to 4 were made at start+2h, +3h, +4h.
	if got := list(start.Add(2*time.Hour), start.Add(4*time.Hour+time.Minute), 0, 0); !slices.Equal(got, []string{refs[3], refs[2], refs[1]}) {
		t.Errorf("period: got %v, want %v", got, []string{refs[3], refs[2], refs[1]})
	}
	if got := list(start.Add(2*time.Hour), time.Time{}, idOf(refs[3]), 1); !slices.Equal(got, []string{refs[2]}) {
		t.Errorf("period and cursor: got %v, want %v", got, refs[2:3])
	}
	if got := list(time.Time{}, time.Time{}, idOf(refs[0]), 10); len(got) != 0 {
		t.Errorf("before the first: got %v, want none", got)
	}
	if _, err := f.w.AccountTransfers(f.ctx, tillID, start, start, 0, 10); wallet.ErrorCode(err) != wallet.CodeInvalid {
		t.Errorf("empty period: got %v, want invalid_request", err)
	}
	if _, err := f.w.AccountTransfers(f.ctx, tillID, time.Time{}, time.Time{}, -1, 10); wallet.ErrorCode(err) != wallet.CodeInvalid {
		t.Errorf("negative cursor: got %v, want invalid_request", err)
	}

	if _, err := f.w.TransferByRef(f.ctx, "QQQQQQQQQQ"); wallet.ErrorCode(err) != wallet.CodeNotFound {
		t.Errorf("TransferByRef(unknown): got %v, want not_found", err)
	}
	a, err := f.w.AccountByID(f.ctx, tillID)
	if err != nil || a.Number != till || a.Balance != f.balance(till) {
		t.Errorf("AccountByID: %+v %v, want till %s", a, err, till)
	}
	if _, err := f.w.AccountByID(f.ctx, 1<<40); wallet.ErrorCode(err) != wallet.CodeNotFound {
		t.Errorf("AccountByID(unknown): got %v, want not_found", err)
	}
	if f.w.SystemAccountID(wallet.SystemTabs) == 0 || f.w.SystemAccountID("nope") != 0 {
		t.Errorf("SystemAccountID: tabs %d, nope %d", f.w.SystemAccountID(wallet.SystemTabs), f.w.SystemAccountID("nope"))
	}
}

// FuzzMerchantTransfer sends the merchant kinds with arbitrary amounts,
// splits and references: each is posted balanced, its payees sharing exactly
// the amount less the fee, or refused with a *wallet.Error that is not
// internal. Nothing panics.
func FuzzMerchantTransfer(f *testing.F) {
	fx := newFixture(f, withSettleFee)
	alice := fx.customer("Alice")
	fx.fund(alice, fx.ksh(100_000))
	till, other := fx.merchant("Duka", false), fx.merchant("Other", true)
	paid := fx.pay(alice, till, fx.ksh(50_000), false)
	_, err := fx.w.Transfer(fx.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferHold, From: alice, Amount: fx.ksh(1_000), Reference: "tab_f", PIN: "2580"}))
	fx.must(err)
	kinds := []wallet.TransferKind{wallet.TransferPayout, wallet.TransferRefund, wallet.TransferSettle, wallet.TransferHold, wallet.TransferRelease}
	parties := []string{alice, till, other, wallet.SystemTabs, "", "0712", "+254799999999", "tabs\x00", paid.Ref}
	f.Add(uint8(2), uint8(0), uint8(1), int64(1001), int64(70), int64(30), int64(0), "tab_f")
	f.Add(uint8(2), uint8(3), uint8(1), int64(1), int64(1), int64(0), int64(-1), "")
	f.Add(uint8(1), uint8(1), uint8(8), int64(500), int64(0), int64(0), int64(0), paid.Ref)
	f.Add(uint8(0), uint8(1), uint8(0), int64(1<<62), int64(1e15), int64(1e15), int64(1e15), "x")
	f.Fuzz(func(t *testing.T, k, from, to uint8, amount, w1, w2, w3 int64, ref string) {
		req := wallet.TransferRequest{Key: key(), Kind: kinds[int(k)%len(kinds)], From: parties[int(from)%len(parties)],
			To: parties[int(to)%len(parties)], Amount: amount, Reference: ref, PIN: "2580"}
		if req.Kind == wallet.TransferRefund && ref == "" {
			req.Reference = paid.Ref
		}
		payees := []string{till, other, till}
		for i, w := range []int64{w1, w2, w3} {
			if w != 0 {
				req.Splits = append(req.Splits, wallet.Share{To: payees[i], Weight: w})
			}
		}
		res, err := fx.w.Transfer(fx.ctx, req)
		if err != nil {
			var we *wallet.Error
			if !errors.As(err, &we) || we.Code == wallet.CodeInternal || we.Message == "" {
				t.Fatalf("%+v: got %v, want a coded refusal", req, err)
			}
			return
		}
		tr := res.Transfer
		checkPostings(t, tr)
		if tr.Kind == wallet.TransferSettle {
			var shared int64
			for _, q := range tr.Postings {
				if q.Leg == wallet.LegPrincipal && q.Amount > 0 {
					shared += q.Amount
				}
			}
			if shared != tr.Amount-tr.Fee {
				t.Fatalf("settle of %d: payees got %d, want %d", tr.Amount, shared, tr.Amount-tr.Fee)
			}
		}
	})
}

// TestSecurityOutcomeChecksTheCommand (issue 11, finding 5: recovering a
// lost answer by key): OutcomeOf gives what a key produced only if the
// same command produced it; a transfer of another kind, other parties,
// another amount or reference under the key is a conflict, never taken for
// the command's outcome. A refusal under the key is checked alike.
func TestSecurityOutcomeChecksTheCommand(t *testing.T) {
	f := newFixture(t)
	alice, bob, carol := f.customer("Alice"), f.customer("Bob"), f.customer("Carol")
	f.fund(alice, f.ksh(1_000))
	till := f.merchant("Duka", false)
	payment := wallet.TransferRequest{Key: key(), Kind: wallet.TransferTill, From: alice, To: till, Amount: f.ksh(100), Reference: "pr_x", PIN: "2580"}
	res, err := f.w.Transfer(f.ctx, payment)
	f.must(err)
	refused := wallet.TransferRequest{Key: key(), Kind: wallet.TransferSend, From: alice, To: bob, Amount: f.ksh(5_000), PIN: "2580"}
	if _, err := f.w.Transfer(f.ctx, refused); wallet.ErrorCode(err) == "" {
		t.Fatal("a send beyond the balance went through")
	}
	other := func(change func(*wallet.TransferRequest)) wallet.TransferRequest {
		r := payment
		r.PIN = ""
		change(&r)
		return r
	}
	tests := []struct {
		name string
		req  wallet.TransferRequest
		code wallet.Code
	}{
		{"the same payment", other(func(*wallet.TransferRequest) {}), ""},
		{"another kind", other(func(r *wallet.TransferRequest) { r.Kind, r.To = wallet.TransferSend, bob }), wallet.CodeConflict},
		{"another payer", other(func(r *wallet.TransferRequest) { r.From = carol }), wallet.CodeConflict},
		{"another amount", other(func(r *wallet.TransferRequest) { r.Amount++ }), wallet.CodeConflict},
		{"another reference", other(func(r *wallet.TransferRequest) { r.Reference = "pr_y" }), wallet.CodeConflict},
		{"the refused send", wallet.TransferRequest{Key: refused.Key, Kind: refused.Kind, From: alice, To: bob, Amount: refused.Amount}, ""},
		{"another send under the refusal's key", wallet.TransferRequest{Key: refused.Key, Kind: refused.Kind, From: alice, To: carol, Amount: refused.Amount}, wallet.CodeConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, rejected, err := f.w.OutcomeOf(f.ctx, tt.req)
			if wallet.ErrorCode(err) != tt.code {
				t.Fatalf("outcome: %v, %v, %v; want code %q", tr, rejected, err, tt.code)
			}
			if tt.code == "" && tt.req.Key == payment.Key && (tr == nil || tr.ID != res.Transfer.ID) {
				t.Errorf("outcome of the payment = %v, want transfer %s", tr, res.Transfer.Ref)
			}
			if tt.code == "" && tt.req.Key == refused.Key && rejected == nil {
				t.Errorf("outcome of the refused send = %v, %v; want its refusal", tr, rejected)
			}
		})
	}
}
