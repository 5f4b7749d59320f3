package merchant

import (
	"context"
	"fmt"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

// settle settles tab id: it finishes a pending settlement, or records and
// posts a new one of everything whole that is unsettled.
func (t *tabs) settle(ctx context.Context, id string) error {
	rec, err := t.load(ctx, id)
	if err != nil {
		return err
	}
	if rec.PendingSeq != 0 {
		return t.drive(ctx, id, true)
	}
	_, err = t.settleOnce(ctx, id)
	return err
}

// settleOnce records a settlement of tab id and posts it; it reports
// whether there was one (posted, or refused by the ledger).
func (t *tabs) settleOnce(ctx context.Context, id string) (bool, error) {
	st, err := t.startSettlement(ctx, id)
	if err != nil || st == nil {
		return false, err
	}
	return true, t.drive(ctx, id, false)
}

// startSettlement records, in the transaction that advances the tab's
// Settled and its payees' Assigned, a pending settlement of the whole minor
// units unsettled on tab id, and returns it; nil if there is nothing whole
// to settle or a settlement is already pending. A suspended tab with
// nothing whole to settle is active again.
func (t *tabs) startSettlement(ctx context.Context, id string) (*Settlement, error) {
	now := t.now()
	cur := t.s.cur
	var st *Settlement
	err := t.edit(ctx, id, func(e *TabEdit) error {
		st = nil
		tab := e.Tab
		if tab.PendingSeq != 0 || (tab.Status != TabActive && tab.Status != TabSuspended) {
			return errUnchanged
		}
		var sum wallet.Micro
		for _, p := range e.Payees {
			sum += p.Unsettled()
		}
		if sum != tab.Charged-tab.Settled {
			panic(fmt.Sprintf("merchant: tab %s: payees have %d unsettled, the tab %d", id, sum, tab.Charged-tab.Settled))
		}
		acc := wallet.Accrual{Cap: tab.Cap, Charged: tab.Charged, Settled: tab.Settled}
		amount := acc.Settle(cur)
		if amount == 0 {
			if tab.Status != TabSuspended {
				return errUnchanged
			}
			tab.Status, tab.Reason, tab.RetryAt, tab.SuspendedAt, tab.Updated = TabActive, "", time.Time{}, time.Time{}, now
			return nil
		}
		var idx []int
		var weights []int64
		for i, p := range e.Payees {
			if u := p.Unsettled(); u > 0 {
				idx, weights = append(idx, i), append(weights, int64(u))
			}
		}
		gross := wallet.Split(amount, weights)
		shares := make([]SettlementShare, len(idx))
		for k, i := range idx {
			shares[k] = SettlementShare{Merchant: e.Payees[i].Merchant, Weight: wallet.Micro(weights[k]), Gross: gross[k]}
			e.Payees[i].Assigned += cur.Micro(gross[k])
		}
		source := tab.Phone
		if tab.Prepaid {
			source = wallet.SystemTabs
		}
		tab.Settled = acc.Settled
		tab.Seq++
		tab.PendingSeq, tab.PendingAt, tab.Updated = tab.Seq, now, now
		st = &Settlement{Tab: id, Seq: tab.Seq, Amount: amount, Source: source, Shares: shares,
			Status: SettlementPending, Created: now, Updated: now}
		e.NewSettlement = st
		return nil
	})
	return st, err
}

// pending returns tab id and its pending settlement (nil if none).
func (t *tabs) pending(ctx context.Context, id string) (*TabRecord, *Settlement, error) {
	var rec *TabRecord
	var st *Settlement
	err := t.edit(ctx, id, func(e *TabEdit) error {
		rec, st = e.Tab, e.Settlement
		return errUnchanged
	})
	return rec, st, err
}

// settleRequest is the settle transfer of settlement st of tab rec. It is
// derived only from what is stored, so that posting it again after a
// crash is the same request under the same key.
func settleRequest(rec *TabRecord, st *Settlement) wallet.TransferRequest {
	splits := make([]wallet.Share, len(st.Shares))
	for i, sh := range st.Shares {
		splits[i] = wallet.Share{To: sh.Merchant, Weight: int64(sh.Weight)}
	}
	return wallet.TransferRequest{Key: settleKey(rec.ID, st.Seq), Kind: wallet.TransferSettle, From: st.Source,
		To: rec.Merchant, Amount: st.Amount, Reference: rec.ID, Splits: splits}
}

// drive takes tab id's pending settlement to its end: with ask (after a
// crash, or when another worker may have posted it) it first asks the
// wallet what its key produced; then it posts it if nothing, and records
// the transfer (done) or the refusal (failed). A transient failure leaves
// it pending for the sweeper.
func (t *tabs) drive(ctx context.Context, id string, ask bool) error {
	rec, st, err := t.pending(ctx, id)
	if err != nil || st == nil {
		return err
	}
	req := settleRequest(rec, st)
	var tr *wallet.Transfer
	var refusal error
	if ask {
		got, werr, err := t.s.w.OutcomeOf(ctx, req)
		switch {
		case wallet.ErrorCode(err) == wallet.CodeNotFound:
		case err != nil:
			return err
		case werr != nil:
			refusal = werr
		default:
			tr = got
		}
	}
	if tr == nil && refusal == nil {
		res, err := t.s.w.Transfer(ctx, req)
		switch {
		case err == nil:
			tr = &res.Transfer
		case transient(err):
			return err
		default:
			refusal = err
		}
	}
	if tr != nil {
		return t.settled(ctx, id, st.Seq, tr)
	}
	return t.refused(ctx, rec, st.Seq, refusal)
}

// settled records that settlement seq of tab id was posted as tr: done,
// with tab.settled; a suspended tab is active again.
func (t *tabs) settled(ctx context.Context, id string, seq int, tr *wallet.Transfer) error {
	now := t.now()
	return t.edit(ctx, id, func(e *TabEdit) error {
		tab, st := e.Tab, e.Settlement
		if tab.PendingSeq != seq || st == nil {
			return errUnchanged // another worker recorded it
		}
		st.Status, st.Transfer, st.Fee, st.Updated = SettlementDone, tr.Ref, tr.Fee, now
		tab.PendingSeq, tab.PendingAt, tab.LastSettled, tab.Updated = 0, time.Time{}, now, now
		if tab.Status == TabSuspended {
			tab.Status, tab.Reason, tab.RetryAt, tab.SuspendedAt = TabActive, "", time.Time{}, time.Time{}
		}
		e.Events = append(e.Events, tabEvent(EventTabSettled, tab, st, now))
		return nil
	})
}

// refused records that the ledger refused settlement seq of tab rec:
// failed, its amount back to unsettled (the tab's and each payee's), and
// the tab suspended (tab.suspended) until a retry succeeds.
func (t *tabs) refused(ctx context.Context, rec *TabRecord, seq int, refusal error) error {
	now := t.now()
	code := wallet.ErrorCode(refusal)
	if rec.Prepaid {
		// The hold covers the cap: a bug, or an operator's doing.
		t.s.log.Error("a prepaid tab's settlement was refused", "tab", rec.ID, "seq", seq, "err", refusal)
	}
	return t.edit(ctx, rec.ID, func(e *TabEdit) error {
		tab, st := e.Tab, e.Settlement
		if tab.PendingSeq != seq || st == nil {
			return errUnchanged
		}
		st.Status, st.Reason, st.Updated = SettlementFailed, string(code), now
		for _, sh := range st.Shares {
			i := payeeIndex(e.Payees, sh.Merchant)
			if i < 0 {
				panic(fmt.Sprintf("merchant: tab %s: settlement %d pays %s, not a payee", tab.ID, seq, sh.Merchant))
			}
			e.Payees[i].Assigned -= t.s.cur.Micro(sh.Gross)
		}
		tab.Settled -= t.s.cur.Micro(st.Amount)
		tab.PendingSeq, tab.PendingAt, tab.Reason, tab.Updated = 0, time.Time{}, string(code), now
		if tab.Status == TabActive {
			tab.Status, tab.SuspendedAt = TabSuspended, now
			e.Events = append(e.Events, tabEvent(EventTabSuspended, tab, st, now))
		}
		tab.RetryAt = now.Add(retryDelay(now.Sub(tab.SuspendedAt)))
		return nil
	})
}

// retryDelay is how long a tab suspended for so long waits for its next
// settlement try: as long again, from suspendedRetry to suspendedRetryMax.
func retryDelay(suspended time.Duration) time.Duration {
	return min(max(suspended, suspendedRetry), suspendedRetryMax)
}

func payeeIndex(ps []TabPayee, merchant string) int {
	for i := range ps {
		if ps[i].Merchant == merchant {
			return i
		}
	}
	return -1
}
