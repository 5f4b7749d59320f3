package wallet_test

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/kibubu/kibubu/wallet"
)

// TestLedgerProperties runs random sequences of money commands (sends,
// withdrawals, deposits, payments, reversals, replays) against a model of
// every balance. After each step: the wallet's answer agrees with the model
// (it refuses for insufficient funds exactly when the model says the money
// is not there), every balance equals the model's, and the whole-ledger
// check passes.
func TestLedgerProperties(t *testing.T) {
	f := newFixture(t)
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
		for _, s := range []string{wallet.SystemFees, wallet.SystemCommission, wallet.SystemTrust, wallet.SystemAirtime} {
			model[s] = f.balance(s)
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
				for _, p := range res.Transfer.Postings {
					for n := range model {
						if a, _ := f.w.Show(f.ctx, n); a != nil && a.ID == p.AccountID {
							model[n] += p.Amount
						}
					}
				}
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
				r, err := f.w.Check(f.ctx)
				if err != nil || !r.OK() {
					rt.Fatalf("ledger check: %v %v", err, r)
				}
			},
		})
	})
}
