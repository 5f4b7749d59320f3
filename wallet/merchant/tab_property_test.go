package merchant_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// tabStep is one step of a tab's life in the property test: a charge
// (split among some of the run's three payees, or all to the tab's
// merchant), or a settlement now.
type tabStep struct {
	Settle bool
	Amount wallet.Micro
	Splits []stepSplit
	Replay int // > 0: repeat the key and payload of that earlier step (1-based)
}

// stepSplit is a split rule to payee Payee (0: the tab's merchant) of a run.
type stepSplit struct {
	Payee  int
	Weight int64
}

// tabLife is what one run of a sequence of steps did.
type tabLife struct {
	payees      []string // the run's merchants; the first owns the tab
	tab         *merchant.Tab
	accepted    wallet.Micro // the sum of the charges accepted (replays not counted)
	settlements []merchant.Settlement
	paid        int64          // what the customer's balance went down by
	credited    []int64        // what each payee's balance went up by
	accrued     []wallet.Micro // what each payee earned from the charges accepted
	errs        []string
}

// TestTabProperties: random sequences of charges (with random splits),
// settlements and a close, on postpaid and prepaid tabs, never create or
// destroy a Micro: the charges sum to what was settled into the ledger
// plus the remainder, exactly, and the remainder is below a minor unit;
// nothing passes the cap; each settlement's payees get its amount less the
// fee (with no fee, exactly the shares it assigned them); a prepaid tab's
// settlements plus its release are its hold (the customer pays what was
// settled); and the same sequence on another tab settles the same way.
func TestTabProperties(t *testing.T) {
	for _, fee := range []wallet.Percent{{}, {BasisPoints: 150, Min: 1}} {
		t.Run(fmt.Sprintf("fee=%dbp", fee.BasisPoints), func(t *testing.T) {
			f := newTabFixtureWith(t, tabOptions{wallet: func(c *wallet.Config) {
				c.Tariff = wallet.DefaultTariff(c.Currency)
				c.Tariff.Settle = fee
			}})
			rapid.Check(t, func(rt *rapid.T) { checkTabLife(rt, f) })
			if b := f.balance(wallet.SystemTabs); b != 0 {
				t.Errorf("the tabs account holds %d after every prepaid tab closed", b)
			}
			f.checkLedger()
		})
	}
}

func checkTabLife(rt *rapid.T, f *tabFixture) {
	per := f.kes.MicroPerMinor()
	prepaid := rapid.Bool().Draw(rt, "prepaid")
	capMicro := wallet.Micro(rapid.Int64Range(1, 20*100*per).Draw(rt, "cap")) // up to KES 20
	steps := rapid.SliceOfN(rapid.Custom(func(rt *rapid.T) tabStep {
		if rapid.IntRange(0, 5).Draw(rt, "settle?") == 0 {
			return tabStep{Settle: true}
		}
		s := tabStep{Amount: wallet.Micro(rapid.Int64Range(1, 3*per).Draw(rt, "amount"))}
		for p := range 3 {
			if rapid.IntRange(0, 2).Draw(rt, "payee?") == 0 {
				s.Splits = append(s.Splits, stepSplit{Payee: p, Weight: rapid.Int64Range(1, 100).Draw(rt, "weight")})
			}
		}
		return s
	}), 0, 20).Draw(rt, "steps")
	for i := range steps {
		if i > 0 && !steps[i].Settle && rapid.IntRange(0, 9).Draw(rt, "replay?") == 0 {
			steps[i].Replay = rapid.IntRange(1, i).Draw(rt, "of")
		}
	}

	// The same sequence twice, on two customers' tabs with their own
	// merchants, at once (their charges share the meter's batches).
	var lives [2]*tabLife
	var wg sync.WaitGroup
	for k := range lives {
		phone := f.customer(1000_00)
		payees := []string{f.merchant("Owner").Merchant, f.merchant("Network").Merchant, f.merchant("Publisher").Merchant}
		wg.Go(func() { lives[k] = runTab(f, phone, payees, capMicro, prepaid, steps) })
	}
	wg.Wait()
	for k, l := range lives {
		for _, e := range l.errs {
			rt.Fatalf("run %d: %s", k, e)
		}
		tab := l.tab
		rem := tab.Charged - tab.Settled
		if tab.Status != merchant.TabClosed || tab.Charged != l.accepted || tab.Charged > capMicro || rem < 0 || int64(rem) >= per {
			rt.Fatalf("run %d: tab %+v: accepted %d, cap %d", k, tab, l.accepted, capMicro)
		}
		var settled, fees int64
		assigned := make([]int64, len(l.payees))
		for _, st := range l.settlements {
			if st.Status != merchant.SettlementDone {
				rt.Fatalf("run %d: settlement %+v", k, st)
			}
			settled += st.Amount
			fees += st.Fee
			var gross int64
			for _, sh := range st.Shares {
				gross += sh.Gross
				assigned[slices.Index(l.payees, sh.Merchant)] += sh.Gross
			}
			if gross != st.Amount {
				rt.Fatalf("run %d: settlement %d: shares sum to %d of %d", k, st.Seq, gross, st.Amount)
			}
			checkSettleTransfer(rt, f, st)
		}
		if wallet.Micro(settled*per) != tab.Settled || l.paid != settled {
			rt.Fatalf("run %d: settlements %d, tab settled %d, customer paid %d", k, settled, tab.Settled, l.paid)
		}
		var credited int64
		for _, c := range l.credited {
			credited += c
		}
		if credited != settled-fees {
			rt.Fatalf("run %d: payees got %d of %d settled less %d fees", k, credited, settled, fees)
		}
		if fees == 0 && !slices.Equal(l.credited, assigned) {
			rt.Fatalf("run %d: payees got %v, settlements assigned %v", k, l.credited, assigned)
		}
		// Each payee was assigned what it earned, but for its carry: above
		// minus one minor unit, and the carries sum to the remainder.
		var carries wallet.Micro
		for i, a := range l.accrued {
			c := a - wallet.Micro(assigned[i]*per)
			carries += c
			if c <= -wallet.Micro(per) || c >= wallet.Micro(int64(len(l.payees))*per) {
				rt.Fatalf("run %d: payee %d earned %d, was assigned %d minor units", k, i, a, assigned[i])
			}
		}
		if carries != rem {
			rt.Fatalf("run %d: payees carry %d, the tab %d", k, carries, rem)
		}
	}
	if !slices.EqualFunc(lives[0].settlements, lives[1].settlements, func(a, b merchant.Settlement) bool {
		return sameSettlement(a, lives[0].payees, b, lives[1].payees)
	}) {
		rt.Fatalf("one sequence, two outcomes:\n%+v\n%+v", lives[0].settlements, lives[1].settlements)
	}
}

// sameSettlement compares settlements of two runs, payees by position.
func sameSettlement(a merchant.Settlement, ap []string, b merchant.Settlement, bp []string) bool {
	if a.Seq != b.Seq || a.Amount != b.Amount || a.Fee != b.Fee || len(a.Shares) != len(b.Shares) {
		return false
	}
	for i := range a.Shares {
		x, y := a.Shares[i], b.Shares[i]
		if slices.Index(ap, x.Merchant) != slices.Index(bp, y.Merchant) || x.Weight != y.Weight || x.Gross != y.Gross {
			return false
		}
	}
	return true
}

// checkSettleTransfer checks the ledger's transfer of settlement st: the
// customer (or the tabs account) paid its amount, the payees' principal
// legs sum to the amount less the fee.
func checkSettleTransfer(rt *rapid.T, f *tabFixture, st merchant.Settlement) {
	tr, err := f.w.TransferByRef(f.ctx, st.Transfer)
	if err != nil {
		rt.Fatalf("settlement %d: transfer %s: %v", st.Seq, st.Transfer, err)
	}
	if tr.Kind != wallet.TransferSettle || tr.Amount != st.Amount || tr.Fee != st.Fee {
		rt.Fatalf("settlement %+v: transfer %+v", st, tr)
	}
	var in int64
	for _, q := range tr.Postings {
		if q.Leg == wallet.LegPrincipal && q.Amount > 0 {
			in += q.Amount
		}
	}
	if in != st.Amount-st.Fee {
		rt.Fatalf("settlement %d: payees' principal %d, want %d less %d", st.Seq, in, st.Amount, st.Fee)
	}
}

// runTab opens and approves a tab of payees[0] for phone (which holds
// 1000.00), runs steps on it, closes it, and returns what happened. It
// reports problems in errs: it runs on its own goroutine.
func runTab(f *tabFixture, phone string, payees []string, capMicro wallet.Micro, prepaid bool, steps []tabStep) *tabLife {
	l := &tabLife{payees: payees, credited: make([]int64, len(payees)), accrued: make([]wallet.Micro, len(payees))}
	fail := func(format string, args ...any) *tabLife {
		l.errs = append(l.errs, fmt.Sprintf(format, args...))
		return l
	}
	owner := merchant.Principal{Merchant: payees[0]}
	tab, err := f.s.OpenTab(f.ctx, owner, "open", phone, capMicro, prepaid, f.clock.Now().Add(24*time.Hour), "", "")
	if err != nil {
		return fail("open: %v", err)
	}
	if _, err := f.s.Approve(f.ctx, phone, tab.ID, tabPIN); err != nil {
		return fail("approve: %v", err)
	}
	keys := make([]string, len(steps))
	var charged wallet.Micro
	for i, s := range steps {
		if s.Settle {
			if err := f.s.SettleTab(f.ctx, tab.ID); err != nil {
				return fail("step %d: settle: %v", i, err)
			}
			continue
		}
		src, key := s, fmt.Sprint("step-", i)
		if s.Replay > 0 && keys[s.Replay-1] != "" {
			src, key = steps[s.Replay-1], keys[s.Replay-1]
		}
		req := merchant.ChargeRequest{Tab: tab.ID, Key: key, Amount: src.Amount}
		for _, sp := range src.Splits {
			req.Splits = append(req.Splits, merchant.Split{To: payees[sp.Payee], Weight: sp.Weight})
		}
		c, err := f.s.Charge(f.ctx, owner, req)
		switch {
		case wallet.ErrorCode(err) == wallet.CodeLimitExceeded:
			if charged+req.Amount <= capMicro {
				return fail("step %d: %d refused at %d of cap %d", i, req.Amount, charged, capMicro)
			}
		case err != nil:
			return fail("step %d: %v", i, err)
		case c.Replayed != (key != fmt.Sprint("step-", i)):
			return fail("step %d: replayed %v, key %s", i, c.Replayed, key)
		case c.Replayed:
		default:
			if charged+req.Amount > capMicro {
				return fail("step %d: %d accepted at %d of cap %d", i, req.Amount, charged, capMicro)
			}
			charged += req.Amount
			keys[i] = key
			if len(src.Splits) == 0 {
				l.accrued[0] += req.Amount
				break
			}
			var weights []int64
			for _, sp := range src.Splits {
				weights = append(weights, sp.Weight)
			}
			for j, share := range wallet.Split(int64(req.Amount), weights) {
				l.accrued[src.Splits[j].Payee] += wallet.Micro(share)
			}
		}
	}
	l.accepted = charged
	if l.tab, err = f.s.CloseTab(f.ctx, owner, tab.ID, "close"); err != nil {
		return fail("close: %v", err)
	}
	a, err := f.w.Show(f.ctx, phone)
	if err != nil {
		return fail("%v", err)
	}
	l.paid = 1000_00 - a.Balance
	if l.settlements, err = f.ms.TabSettlements(f.ctx, tab.ID); err != nil {
		return fail("%v", err)
	}
	for i, p := range payees {
		a, err := f.w.Show(f.ctx, p)
		if err != nil {
			return fail("%v", err)
		}
		l.credited[i] = a.Balance
	}
	return l
}
