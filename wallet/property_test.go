package wallet_test

import (
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/kibubu/kibubu/wallet"
)

// TestLedgerProperties runs random sequences of money commands (sends,
// withdrawals, deposits, payments, reversals, replays, and the merchant
// kinds: payouts, refunds, split settlements, holds and releases) against a
// model of every balance and of what each payment has left to refund. After
// each step: the wallet's answer agrees with the model (it refuses for
// insufficient funds exactly when the model says the money is not there, and
// a refund exactly when it would pass what the merchant received), every
// balance equals the model's, a settlement's payees share exactly its amount
// less its fee, and the whole-ledger check passes (postings balance, no
// floor broken, no refund beyond its payment).
func TestLedgerProperties(t *testing.T) {
	f := newFixture(t, func(c *wallet.Config) {
		c.Tariff = wallet.DefaultTariff(c.Currency)
		c.Tariff.Settle = wallet.Percent{BasisPoints: 150, Min: 2}
	})
	rapid.Check(t, func(rt *rapid.T) {
		const people = 4
		customers := make([]string, people)
		model := map[string]int64{}
		for i := range customers {
			customers[i] = f.customer("Person")
			model[customers[i]] = 0
		}
		agentPhone, agentNo := f.agent(f.ksh(1_000_000))
		model[agentNo] = f.balance(agentNo)
		till, err := f.w.AddMerchant(f.ctx, f.phone(), "Till", false)
		f.must(err)
		model[till.Number] = 0
		till2, err := f.w.AddMerchant(f.ctx, f.phone(), "Paybill", true)
		f.must(err)
		model[till2.Number] = 0
		merchants := []*wallet.Account{till, till2}
		for _, s := range []string{wallet.SystemFees, wallet.SystemCommission, wallet.SystemTrust, wallet.SystemAirtime, wallet.SystemTabs} {
			model[s] = f.balance(s)
		}
		refunded := map[string]int64{} // by payment ref and merchant number
		reversed := map[string]bool{}
		refundedAny := func(ref string) bool {
			for k, v := range refunded {
				if v > 0 && strings.HasPrefix(k, ref+"/") {
					return true
				}
			}
			return false
		}

		type done struct {
			req wallet.TransferRequest
			res *wallet.TransferResult
		}
		var history []done

		// apply sends req and checks the outcome against the model.
		apply := func(rt *rapid.T, req wallet.TransferRequest, delta map[string]int64, payer string) {
			req.Key = key()
			res, err := f.w.Transfer(f.ctx, req)
			need := -delta[payer]
			switch wallet.ErrorCode(err) {
			case "":
				if model[payer] < need {
					rt.Fatalf("%s of %d succeeded with %d of %d needed", req.Kind, req.Amount, model[payer], need)
				}
				for n, d := range delta {
					model[n] += d
				}
				history = append(history, done{req, res})
			case wallet.CodeInsufficientFunds:
				if model[payer] >= need {
					rt.Fatalf("%s of %d refused with %d of %d needed", req.Kind, req.Amount, model[payer], need)
				}
			case wallet.CodeLimitExceeded:
				if req.Kind == wallet.TransferSettle || req.Kind == wallet.TransferRelease {
					rt.Fatalf("%s: tier limits do not apply, got %v", req.Kind, err)
				}
			default:
				rt.Fatalf("%s: unexpected %v", req.Kind, err)
			}
		}
		amount := func(rt *rapid.T) int64 { return rapid.Int64Range(1, f.ksh(30_000)).Draw(rt, "amount") }
		person := func(rt *rapid.T, label string) int { return rapid.IntRange(0, people-1).Draw(rt, label) }

		rt.Repeat(map[string]func(*rapid.T){
			"deposit": func(rt *rapid.T) {
				to, a := customers[person(rt, "to")], amount(rt)
				_, com, _ := f.w.Quote(wallet.TransferDeposit, a)
				apply(rt, wallet.TransferRequest{Kind: wallet.TransferDeposit, From: agentPhone, To: to, Amount: a, PIN: "1357"},
					map[string]int64{agentNo: -a + com, to: a, wallet.SystemCommission: -com}, agentNo)
			},
			"send": func(rt *rapid.T) {
				i, j := person(rt, "from"), person(rt, "to")
				if i == j {
					rt.Skip("self")
				}
				from, to, a := customers[i], customers[j], amount(rt)
				fee, _, _ := f.w.Quote(wallet.TransferSend, a)
				apply(rt, wallet.TransferRequest{Kind: wallet.TransferSend, From: from, To: to, Amount: a, PIN: "2580"},
					map[string]int64{from: -a - fee, to: a, wallet.SystemFees: fee}, from)
			},
			"withdraw": func(rt *rapid.T) {
				from, a := customers[person(rt, "from")], amount(rt)
				fee, com, _ := f.w.Quote(wallet.TransferWithdraw, a)
				apply(rt, wallet.TransferRequest{Kind: wallet.TransferWithdraw, From: from, To: agentNo, Amount: a, PIN: "2580"},
					map[string]int64{from: -a - fee, agentNo: a + com, wallet.SystemFees: fee, wallet.SystemCommission: -com}, from)
			},
			"buy goods": func(rt *rapid.T) {
				from, a := customers[person(rt, "from")], amount(rt)
				fee, _, _ := f.w.Quote(wallet.TransferTill, a)
				apply(rt, wallet.TransferRequest{Kind: wallet.TransferTill, From: from, To: till.Number, Amount: a, PIN: "2580"},
					map[string]int64{from: -a, till.Number: a - fee, wallet.SystemFees: fee}, from)
			},
			"airtime": func(rt *rapid.T) {
				from, a := customers[person(rt, "from")], rapid.Int64Range(1, f.ksh(1_000)).Draw(rt, "amount")
				fee, _, _ := f.w.Quote(wallet.TransferAirtime, a)
				apply(rt, wallet.TransferRequest{Kind: wallet.TransferAirtime, From: from, Amount: a, PIN: "2580"},
					map[string]int64{from: -a - fee, wallet.SystemAirtime: a, wallet.SystemFees: fee}, from)
			},
			"reverse": func(rt *rapid.T) {
				if len(history) == 0 {
					rt.Skip("nothing to reverse")
				}
				h := history[rapid.IntRange(0, len(history)-1).Draw(rt, "which")]
				if h.req.Kind != wallet.TransferSend && h.req.Kind != wallet.TransferTill {
					rt.Skip("not reversible by a customer")
				}
				res, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: key(), Kind: wallet.TransferReversal, From: h.req.From, Reference: h.res.Transfer.Ref, PIN: "2580"})
				if err != nil {
					if wallet.ErrorCode(err) != wallet.CodeNotReversible {
						rt.Fatalf("reversal: %v", err)
					}
					return
				}
				if refundedAny(h.res.Transfer.Ref) {
					rt.Fatalf("reversed %s, which has refunds", h.res.Transfer.Ref)
				}
				reversed[h.res.Transfer.Ref] = true
				for _, p := range res.Transfer.Postings {
					for n := range model {
						if a, _ := f.w.Show(f.ctx, n); a != nil && a.ID == p.AccountID {
							model[n] += p.Amount
						}
					}
				}
			},
			"payout": func(rt *rapid.T) {
				m, to, a := merchants[rapid.IntRange(0, 1).Draw(rt, "merchant")].Number, customers[person(rt, "to")], amount(rt)
				fee, _, _ := f.w.Quote(wallet.TransferPayout, a)
				apply(rt, wallet.TransferRequest{Kind: wallet.TransferPayout, From: m, To: to, Amount: a},
					map[string]int64{m: -a - fee, to: a, wallet.SystemFees: fee}, m)
			},
			"hold": func(rt *rapid.T) {
				from, a := customers[person(rt, "from")], amount(rt)
				apply(rt, wallet.TransferRequest{Kind: wallet.TransferHold, From: from, Amount: a, Reference: "tab_p", PIN: "2580"},
					map[string]int64{from: -a, wallet.SystemTabs: a}, from)
			},
			"release": func(rt *rapid.T) {
				to, a := customers[person(rt, "to")], rapid.Int64Range(1, f.ksh(10_000)).Draw(rt, "amount")
				apply(rt, wallet.TransferRequest{Kind: wallet.TransferRelease, To: to, Amount: a, Reference: "tab_p"},
					map[string]int64{wallet.SystemTabs: -a, to: a}, wallet.SystemTabs)
			},
			"settle": func(rt *rapid.T) {
				from := wallet.SystemTabs
				if rapid.Bool().Draw(rt, "postpaid") {
					from = customers[person(rt, "from")]
				}
				a := rapid.Int64Range(1, f.ksh(5_000)).Draw(rt, "amount")
				fee, _, _ := f.w.Quote(wallet.TransferSettle, a)
				var splits []wallet.Share
				payees, weights := []string{till.Number}, []int64{1}
				if n := rapid.IntRange(0, 4).Draw(rt, "splits"); n > 0 {
					payees, weights = nil, nil
					for range n {
						s := wallet.Share{To: merchants[rapid.IntRange(0, 1).Draw(rt, "payee")].Number, Weight: rapid.Int64Range(1, 1_000_000).Draw(rt, "weight")}
						splits = append(splits, s)
						payees, weights = append(payees, s.To), append(weights, s.Weight)
					}
				}
				delta := map[string]int64{from: -a, wallet.SystemFees: fee}
				for i, share := range wallet.Split(a-fee, weights) {
					delta[payees[i]] += share
				}
				n := len(history)
				apply(rt, wallet.TransferRequest{Kind: wallet.TransferSettle, From: from, To: till.Number, Amount: a, Splits: splits}, delta, from)
				if len(history) > n {
					tr := history[n].res.Transfer
					var paid int64
					for _, q := range tr.Postings {
						if q.Leg == wallet.LegPrincipal && q.Amount > 0 {
							paid += q.Amount
						}
					}
					if paid != a-tr.Fee || tr.Fee != fee {
						rt.Fatalf("settle %s of %d: payees got %d with fee %d, want %d with fee %d", tr.Ref, a, paid, tr.Fee, a-fee, fee)
					}
				}
			},
			"refund": func(rt *rapid.T) {
				var paid []done
				for _, h := range history {
					if h.req.Kind == wallet.TransferTill || h.req.Kind == wallet.TransferSettle {
						paid = append(paid, h)
					}
				}
				if len(paid) == 0 {
					rt.Skip("nothing to refund")
				}
				h := paid[rapid.IntRange(0, len(paid)-1).Draw(rt, "which")]
				// Mostly a merchant the payment credited; sometimes either.
				m := merchants[rapid.IntRange(0, 1).Draw(rt, "merchant")]
				if rapid.IntRange(0, 3).Draw(rt, "anyone") > 0 {
					for _, c := range merchants {
						if principalTo(h.res.Transfer, c.ID) > 0 {
							m = c
						}
					}
				}
				received := principalTo(h.res.Transfer, m.ID)
				ref := h.res.Transfer.Ref
				left := received - refunded[ref+"/"+m.Number]
				a := rapid.Int64Range(1, max(left, 1)).Draw(rt, "amount")
				if rapid.IntRange(0, 4).Draw(rt, "over") == 0 {
					a = rapid.Int64Range(max(left, 0)+1, max(left, 0)+100).Draw(rt, "amount")
				}
				want := wallet.Code("")
				switch {
				case received == 0:
					want = wallet.CodeNotFound
				case h.req.From == wallet.SystemTabs, reversed[ref], left <= 0:
					want = wallet.CodeNotReversible
				case a > left:
					want = wallet.CodeInvalidAmount
				case model[m.Number] < a:
					want = wallet.CodeInsufficientFunds
				}
				res, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: key(), Kind: wallet.TransferRefund, From: m.Number, Reference: ref, Amount: a})
				if got := wallet.ErrorCode(err); got != want {
					rt.Fatalf("refund of %d of %s (received %d, left %d, balance %d): got %v, want %q", a, ref, received, left, model[m.Number], err, want)
				}
				if err != nil {
					return
				}
				if res.Transfer.Refunds != h.res.Transfer.ID {
					rt.Fatalf("refund %+v does not name %s", res.Transfer, ref)
				}
				model[m.Number] -= a
				model[h.req.From] += a
				refunded[ref+"/"+m.Number] += a
			},
			"replay": func(rt *rapid.T) {
				if len(history) == 0 {
					rt.Skip("nothing to replay")
				}
				h := history[rapid.IntRange(0, len(history)-1).Draw(rt, "which")]
				res, err := f.w.Transfer(f.ctx, h.req)
				if err != nil || !res.Replayed || res.Transfer.Ref != h.res.Transfer.Ref {
					rt.Fatalf("replay of %s: got %+v %v", h.res.Transfer.Ref, res, err)
				}
			},
			"": func(rt *rapid.T) {
				for n, want := range model {
					if got := f.balance(n); got != want {
						rt.Fatalf("%s: balance %d, model %d", n, got, want)
					}
				}
			},
		})
		// The whole-ledger check reads every posting: once per run, not
		// per step (the balances above are checked per step).
		r, err := f.w.Check(f.ctx)
		if err != nil || !r.OK() {
			rt.Fatalf("ledger check: %v %v", err, r)
		}
	})
}
