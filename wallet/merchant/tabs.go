// Tabs and micropayments
//
// A tab is a metered account a merchant opens for a customer (OpenTab):
// a cap in wallet.Micro (millionths of the major unit) and an expiry. The
// customer approves it once with the PIN (Approvals, USSD "6 Approvals" or
// the SMS prompt that tab.created triggers); from then on the merchant
// posts charges as small as KES 0.000001 (Charge), each idempotent by
// (tab, key). Charges never touch the ledger: they accrue on the tab, and
// the tab settles into the ledger as one settle transfer of whole minor
// units when the unsettled total reaches Config.SettleThreshold, at close,
// at expiry and at least every Config.SettleEvery; the fraction of a minor
// unit is carried to the next settlement (wallet.Accrual). So a tab of
// thousands of 0.001 charges costs one settlement fee, not thousands.
//
// Postpaid and prepaid. A postpaid tab settles from the customer's wallet;
// if a settlement is refused (insufficient funds) the tab is suspended
// (no charges) and the sweeper retries the settlement, after
// suspendedRetry and then at doubling intervals, until it succeeds and the
// tab is active again. A prepaid tab is a
// merchant-specific balance the customer loads and spends down in sub-cent
// charges: approving it moves the cap, rounded up to minor units, from the
// customer to the wallet's tabs account (a hold, with the PIN); settlements
// come from there, and at close what was not spent is released back to the
// customer. The cap is never exceeded, so a prepaid settlement is always
// covered.
//
// Revenue splits. A charge may carry split rules [{to, weight}] (tills or
// paybills, at most SplitRulesMax; a tab pays at most tabPayeesMax
// merchants). The charge's Micro amount is split among the payees by
// wallet.Split (largest remainder, ties to the earlier rule), and each
// payee's accrued Micro on the tab grows by its share. A settlement of W
// minor units assigns each payee its largest-remainder share of W by the
// weights of what each has unsettled, and the ledger splits W less its fee
// by the same weights: each payee is paid in proportion to what it earned.
// Per-payee carry: a payee's unsettled is its accrued Micro less what the
// settlements assigned it; a share rounded up may leave one payee slightly
// negative (by less than a minor unit), which its next earnings absorb,
// while the tab's total carry is always in [0, 1 minor unit).
//
// The invariant, over a tab's life: the sum of its charges equals what
// was settled into the ledger plus the remainder, exactly; what was
// charged never exceeds the cap; and for a prepaid tab what was settled
// plus what was released equals what was held. At close the remainder
// (less than a minor unit) is written off in the customer's favour, and
// stays on the tab: Charged = Settled + remainder.
//
// The meter. Charges go through one writer goroutine per process (group
// commit, like the wallet's batch writer): it takes every charge waiting
// (up to meterBatchMax), and in one transaction loads and locks the tabs
// involved (in id order, FOR UPDATE on PostgreSQL, so several wallet
// processes stay correct), looks up the charges' keys, applies the charges
// in arrival order, writes the new charges with multi-row statements and
// each touched tab and payee once, commits, and only then answers. An
// acknowledged charge is committed. A refused charge is not remembered: a
// retry is judged again (it may pass once a suspended tab is active).
//
// Idempotency keys of the transfers a tab makes (deterministic, so a crash
// or a retry never moves money twice): "tab:<id>:hold" (a prepaid tab's
// load), "tab:<id>:settle:<seq>" (the seq-th settlement) and
// "tab:<id>:release". A settlement is recorded (pending) in the same
// transaction that advances the tab's Settled, then posted, then marked
// done; the sweeper finishes a pending one left by a crash by asking the
// wallet what its key produced (Outcome) and posting it again if nothing.
// A refused settlement is marked failed and its amount goes back to
// unsettled; the next try uses the next seq.

package merchant

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

const (
	// tabLifeMax bounds a tab's expiry: a customer approves a cap for a
	// season of use, not for ever; it is also the longest a prepaid load
	// stays away from the customer's wallet.
	tabLifeMax = 90 * 24 * time.Hour
	// SplitRulesMax bounds the split rules of one charge.
	SplitRulesMax = 16
	// tabPayeesMax bounds the merchants one tab pays: one settlement
	// transfer carries a posting per payee, and the ledger takes at most 64.
	tabPayeesMax = 64
	// SplitWeightMax bounds a split rule's weight: percentages or small
	// ratios, and 16 of them cannot overflow a sum.
	SplitWeightMax = 1_000_000
	// meterBatchMax bounds one meter group commit: enough to amortise a
	// commit over thousands of charges, small enough to keep its latency in
	// milliseconds.
	meterBatchMax = 2048
	// meterQueueLen bounds the charges waiting for the meter; a full queue
	// blocks callers, which pushes back on the gateway.
	meterQueueLen = 16384
	// meterCommitTimeout bounds one meter transaction, retries included.
	meterCommitTimeout = 30 * time.Second
	// tabWorkers bounds the settlements, closes and releases this process
	// runs at once.
	tabWorkers = 4
	// tabWorkQueueLen bounds the tabs waiting for a worker; past it the
	// sweeper finds them again on its next round.
	tabWorkQueueLen = 1024
	// sweepTabsMax bounds the tabs one sweep schedules.
	sweepTabsMax = 1000
	// suspendedRetry is how soon a suspended tab's settlement is first
	// tried again: soon enough that a customer who tops up is served within
	// minutes. Each later try waits as long as the tab has been suspended
	// (the waits double), up to suspendedRetryMax, so that a tab that is
	// never paid does not flood the ledger with refusals.
	suspendedRetry    = 10 * time.Minute
	suspendedRetryMax = 24 * time.Hour
	// closeRoundsMax bounds the settlements one close drives: a pending one,
	// then the final one, with room for a retry.
	closeRoundsMax = 4
	// closeExpiry is the close key of a tab the sweeper closes at its
	// expiry; it holds a space, which a merchant's key cannot.
	closeExpiry = "expired tab"
)

// The reasons a tab is declined (besides a refused hold's wallet code).
const (
	reasonDeclined = "declined"
	reasonExpired  = "expired"
)

// errUnchanged aborts an EditTab function that found nothing to change.
var errUnchanged = errors.New("merchant: tab unchanged")

// tabs is the tab engine of a Service: the meter and the workers that
// settle, close and release.
type tabs struct {
	s *Service

	queue    chan *meterOp
	mu       sync.RWMutex // held shared by enqueuers, exclusively to stop
	stopped  bool
	stopping chan struct{}

	work      chan string
	busy      sync.Map // tab id → struct{}: scheduled or being worked on here
	merchants sync.Map // till or paybill number → struct{}: known to exist (accounts are never deleted)
}

func newTabs(s *Service) *tabs {
	return &tabs{s: s, queue: make(chan *meterOp, meterQueueLen), stopping: make(chan struct{}),
		work: make(chan string, tabWorkQueueLen)}
}

// run runs the meter, the tab workers and the tab sweeper until ctx ends;
// then it answers the charges already queued and waits for the workers.
func (t *tabs) run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range tabWorkers {
		wg.Go(func() { t.worker(ctx) })
	}
	wg.Go(func() { t.sweeper(ctx) })
	t.meter(ctx)
	wg.Wait()
	return nil
}

func (t *tabs) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-t.work:
			if err := t.tend(ctx, id); err != nil && ctx.Err() == nil {
				t.s.log.Error("tab work failed", "tab", id, "err", err)
			}
			t.busy.Delete(id)
		}
	}
}

// schedule hands tab id to a worker unless one has it already or the queue
// is full (the sweeper will find it again).
func (t *tabs) schedule(id string) {
	if _, dup := t.busy.LoadOrStore(id, struct{}{}); dup {
		return
	}
	select {
	case t.work <- id:
	default:
		t.busy.Delete(id)
	}
}

func (t *tabs) sweeper(ctx context.Context) {
	tick := time.NewTicker(t.s.cfg.Sweep)
	defer tick.Stop()
	for {
		ids, err := t.due(ctx)
		if err != nil && ctx.Err() == nil {
			t.s.log.Error("tab sweep failed", "err", err)
		}
		for _, id := range ids {
			t.schedule(id)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// due returns the tabs the sweeper may have work on now.
func (t *tabs) due(ctx context.Context) ([]string, error) {
	now := t.now()
	return t.s.st.TabsToSweep(ctx, SweepQuery{
		Now: now, Lease: now.Add(-leaseDuration), Daily: now.Add(-t.s.cfg.SettleEvery),
		Threshold: t.s.cur.Micro(t.s.cfg.SettleThreshold), Unit: t.s.cur.Micro(1), Limit: sweepTabsMax,
	})
}

// sweepNow does one sweep in the caller's goroutine, tab after tab.
func (t *tabs) sweepNow(ctx context.Context) error {
	ids, err := t.due(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if err := t.tend(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("tab %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// edit runs fn on tab id locked; errUnchanged from fn is not an error.
func (t *tabs) edit(ctx context.Context, id string, fn func(e *TabEdit) error) error {
	err := t.s.st.EditTab(ctx, id, fn)
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

// now is the services' time to the microsecond, which both databases
// keep: a tab or charge read back is the one first answered.
func (t *tabs) now() time.Time { return t.s.now().Truncate(time.Microsecond) }

// load returns tab id.
func (t *tabs) load(ctx context.Context, id string) (*TabRecord, error) {
	rec, err := t.s.st.TabByID(ctx, id)
	if wallet.ErrorCode(err) == wallet.CodeNotFound {
		return nil, notFound("tab", id)
	}
	return rec, err
}

// ceilMinor is m in minor units, rounded up.
func (t *tabs) ceilMinor(m wallet.Micro) int64 {
	minor, rest := t.s.cur.Whole(m)
	if rest > 0 {
		minor++
	}
	return minor
}

// The wallet keys of a tab's transfers.
func holdKey(id string) string { return "tab:" + id + ":hold" }

// holdRequest is the hold of amount (its cap rounded up) for prepaid tab
// rec, without the PIN: what its approval posts and its recovery looks for.
func holdRequest(rec *TabRecord, amount int64) wallet.TransferRequest {
	return wallet.TransferRequest{Key: holdKey(rec.ID), Kind: wallet.TransferHold, From: rec.Phone, Amount: amount, Reference: rec.ID}
}

func releaseKey(id string) string         { return "tab:" + id + ":release" }
func settleKey(id string, seq int) string { return "tab:" + id + ":settle:" + strconv.Itoa(seq) }
func tabView(rec *TabRecord) *Tab         { v := rec.Tab; return &v }
func tabEvent(typ EventType, rec *TabRecord, st *Settlement, now time.Time) OutboxEvent {
	var s *Settlement
	if st != nil {
		c := *st
		s = &c
	}
	return newEvent(typ, rec.Merchant, TabEvent{Tab: rec.Tab, Settlement: s}, now, "", "")
}

// TabEvent is the data of a tab event: the tab, and for tab.settled and
// tab.suspended the settlement that was posted or refused.
type TabEvent struct {
	Tab
	Settlement *Settlement `json:"settlement,omitempty"`
}

// OpenTab opens a tab for the customer with phone, pending the customer's
// approval: cap is the most it may charge (Micro), expires when it closes
// (in the future, at most 90 days on). A prepaid tab is loaded with the
// cap (rounded up to minor units) when the customer approves it.
//
// idem is the merchant's idempotency key: the same key with the same
// payload returns the first tab (in its current state), with another
// payload CodeConflict. Errors: CodeInvalidPhone, CodeNotFound (no such
// customer), CodeWrongKind (not a customer), CodeInvalidAmount (cap),
// CodeLimitExceeded (a cap above the customer's per-transaction limit),
// CodeInvalid (expiry, a reference over 32 bytes, a description over 100
// characters), CodeRateLimited (as RequestPayment: a tab prompts too).
func (s *Service) OpenTab(ctx context.Context, p Principal, idem, phone string, cap wallet.Micro, prepaid bool, expires time.Time, reference, description string) (*Tab, error) {
	if err := checkInput(idem, reference, false, description); err != nil {
		return nil, err
	}
	if cap <= 0 || cap > wallet.MicroMax {
		return nil, wallet.Errorf(wallet.CodeInvalidAmount, "a tab's cap must be more than zero and at most %s", s.cur.FormatMicro(wallet.MicroMax))
	}
	now := s.tabs.now()
	expires = expires.UTC().Truncate(time.Microsecond) // what both databases keep
	switch {
	case expires.IsZero():
		return nil, wallet.Errorf(wallet.CodeInvalid, "a tab needs an expiry")
	case !expires.After(now):
		return nil, wallet.Errorf(wallet.CodeInvalid, "a tab's expiry must be in the future")
	case expires.Sub(now) > tabLifeMax:
		return nil, wallet.Errorf(wallet.CodeInvalid, "a tab lasts at most %d days", int(tabLifeMax/(24*time.Hour)))
	}
	m, c, err := s.parties(ctx, p, phone)
	if err != nil {
		return nil, err
	}
	if l, ok := s.w.Config().Tiers[c.Tier]; ok && s.tabs.ceilMinor(cap) > l.PerTransaction {
		return nil, &wallet.Error{Code: wallet.CodeLimitExceeded, Limit: wallet.LimitPerTransaction,
			Message: fmt.Sprintf("a tab's cap may be at most the customer's per-transaction limit, %s", s.cur.Format(l.PerTransaction))}
	}
	rec := &TabRecord{
		Tab: Tab{ID: newID("tab", now), Merchant: m.Number, MerchantName: m.Name, Phone: c.Number, Prepaid: prepaid,
			Reference: reference, Description: description, Cap: cap, Status: TabPending, Created: now, Expires: expires, Updated: now},
		IdemKey: idem, Language: c.Language, LastSettled: now,
		Hash: payloadHash(c.Number, strconv.FormatInt(int64(cap), 10), strconv.FormatBool(prepaid),
			expires.Format(time.RFC3339Nano), reference, description),
	}
	ev := newEvent(EventTabCreated, m.Number, TabEvent{Tab: rec.Tab}, now, c.Number, c.Language)
	got, err := s.st.CreateTab(ctx, rec, ev, s.promptGate(now))
	if err != nil {
		return nil, err
	}
	if got != nil {
		if !bytes.Equal(got.Hash, rec.Hash) {
			return nil, wallet.Errorf(wallet.CodeConflict, "this idempotency key was used to open a different tab")
		}
		return tabView(got), nil
	}
	return tabView(rec), nil
}

// Tab returns one of p's merchant's tabs; another merchant's is
// CodeNotFound, as an unknown one.
func (s *Service) Tab(ctx context.Context, p Principal, id string) (*Tab, error) {
	rec, err := own(ctx, p, "tab", "tab", id, s.st.TabByID)
	if err != nil {
		return nil, err
	}
	return tabView(rec), nil
}

// CloseTab closes one of p's merchant's tabs: it stops its charges,
// settles everything whole that accrued, releases what a prepaid tab did
// not spend, and returns the closed tab. The remainder below a minor unit
// is written off in the customer's favour (Charged − Settled). A postpaid
// tab whose final settlement is refused stays open, suspended, and the
// sweeper closes it once a retry succeeds. idem makes it idempotent: the
// same key again returns the tab, another key on a closed tab is
// CodeInvalidState. A declined tab cannot be closed (CodeInvalidState).
func (s *Service) CloseTab(ctx context.Context, p Principal, id, idem string) (*Tab, error) {
	if err := checkIdem(idem); err != nil {
		return nil, err
	}
	if _, err := own(ctx, p, "tab", "tab", id, s.st.TabByID); err != nil {
		return nil, err
	}
	t := s.tabs
	if err := t.markClosing(ctx, id, idem); err != nil {
		return nil, err
	}
	// A prepaid approval in flight: if its hold was posted, the tab closes
	// now and the hold goes back; if not yet, it stays pending (and
	// closing) until it is known.
	if err := t.resolveHold(ctx, id); err != nil {
		return nil, err
	}
	if err := t.finish(ctx, id); err != nil {
		return nil, err
	}
	rec, err := t.load(ctx, id)
	if err != nil {
		return nil, err
	}
	return tabView(rec), nil
}

// markClosing stops a tab's charges under close key key. A pending tab
// with no hold in flight closes at once.
func (t *tabs) markClosing(ctx context.Context, id, key string) error {
	now := t.now()
	return t.edit(ctx, id, func(e *TabEdit) error {
		tab := e.Tab
		if tab.CloseKey != "" {
			switch {
			case tab.CloseKey == key || key == closeExpiry:
				return errUnchanged
			case tab.Status == TabClosed:
				return wallet.Errorf(wallet.CodeInvalidState, "this tab is already closed")
			}
			return wallet.Errorf(wallet.CodeInvalidState, "this tab is being closed")
		}
		switch tab.Status {
		case TabDeclined:
			return wallet.Errorf(wallet.CodeInvalidState, "the customer declined this tab; there is nothing to close")
		case TabClosed:
			return wallet.Errorf(wallet.CodeInvalidState, "this tab is already closed")
		}
		tab.CloseKey, tab.ClosingAt, tab.Updated = key, now, now
		if tab.Status == TabPending && tab.HoldAt.IsZero() {
			tab.Status, tab.Done = TabClosed, tab.Held == 0
			e.Events = append(e.Events, tabEvent(EventTabClosed, tab, nil, now))
		}
		return nil
	})
}

// tend does whatever is due on tab id: resolve a hold or a settlement left
// by a crash, decline a pending tab past its expiry, close an expired or
// closing one, settle one due for it, retry a suspended one, release what
// a finished prepaid tab holds.
func (t *tabs) tend(ctx context.Context, id string) error {
	rec, err := t.load(ctx, id)
	if err != nil {
		return err
	}
	now := t.now()
	lease := now.Add(-leaseDuration)
	expired := !now.Before(rec.Expires)
	if !rec.HoldAt.IsZero() && (!rec.HoldAt.After(lease) || rec.Status != TabPending || expired || rec.CloseKey != "") {
		if err := t.resolveHold(ctx, id); err != nil {
			return err
		}
	}
	if rec.PendingSeq != 0 && !rec.PendingAt.After(lease) {
		if err := t.drive(ctx, id, true); err != nil {
			return err
		}
	}
	if rec, err = t.load(ctx, id); err != nil {
		return err
	}
	unsettled := rec.Charged - rec.Settled
	switch rec.Status {
	case TabPending:
		if rec.HoldAt.IsZero() && (expired || rec.CloseKey != "") {
			return t.expirePending(ctx, id)
		}
		return nil
	case TabActive, TabSuspended:
		if rec.CloseKey == "" && expired {
			if err := t.markClosing(ctx, id, closeExpiry); err != nil {
				return err
			}
			rec.CloseKey = closeExpiry
		}
		retry := rec.Status == TabSuspended && !now.Before(rec.RetryAt)
		switch {
		case rec.CloseKey != "" && (rec.Status == TabActive || retry):
			return t.finish(ctx, id)
		case rec.CloseKey != "":
			return nil
		case retry,
			rec.Status == TabActive && unsettled >= t.s.cur.Micro(t.s.cfg.SettleThreshold),
			rec.Status == TabActive && unsettled >= t.s.cur.Micro(1) && !rec.LastSettled.After(now.Add(-t.s.cfg.SettleEvery)):
			return t.settle(ctx, id)
		}
		return nil
	}
	return t.release(ctx, id)
}

// expirePending ends a pending tab with no hold in flight: declined as
// expired, or closed if the merchant closed it.
func (t *tabs) expirePending(ctx context.Context, id string) error {
	now := t.now()
	return t.edit(ctx, id, func(e *TabEdit) error {
		tab := e.Tab
		if tab.Status != TabPending || !tab.HoldAt.IsZero() {
			return errUnchanged
		}
		if tab.CloseKey != "" {
			tab.Status, tab.Done, tab.Updated = TabClosed, tab.Held == 0, now
			e.Events = append(e.Events, tabEvent(EventTabClosed, tab, nil, now))
			return nil
		}
		if now.Before(tab.Expires) {
			return errUnchanged
		}
		tab.Status, tab.Reason, tab.Done, tab.Updated = TabDeclined, reasonExpired, tab.Held == 0, now
		e.Events = append(e.Events, tabEvent(EventTabDeclined, tab, nil, now))
		return nil
	})
}

// finish closes a closing tab: it settles what is pending and what is
// left whole, marks the tab closed and releases what a prepaid one did not
// spend. A refused settlement leaves the tab suspended (and closing).
func (t *tabs) finish(ctx context.Context, id string) error {
	for range closeRoundsMax {
		rec, err := t.load(ctx, id)
		if err != nil {
			return err
		}
		if rec.Status != TabActive && rec.Status != TabSuspended {
			break
		}
		if rec.PendingSeq != 0 {
			if err := t.drive(ctx, id, true); err != nil {
				return err
			}
			continue
		}
		posted, err := t.settleOnce(ctx, id)
		if err != nil {
			return err
		}
		if !posted {
			break
		}
		if rec, err = t.load(ctx, id); err != nil {
			return err
		}
		if rec.Status == TabSuspended {
			return nil // refused: the sweeper retries, then closes
		}
	}
	now := t.now()
	err := t.edit(ctx, id, func(e *TabEdit) error {
		tab := e.Tab
		if tab.Status != TabActive || tab.CloseKey == "" || tab.PendingSeq != 0 {
			return errUnchanged
		}
		if whole, _ := t.s.cur.Whole(tab.Charged - tab.Settled); whole != 0 {
			return errUnchanged // settled by the next round
		}
		tab.Status, tab.Reason, tab.Updated = TabClosed, "", now
		tab.Done = !tab.Prepaid || tab.Held == 0 && tab.HoldAt.IsZero()
		e.Events = append(e.Events, tabEvent(EventTabClosed, tab, nil, now))
		return nil
	})
	if err != nil {
		return err
	}
	return t.release(ctx, id)
}

// release gives the customer of a finished prepaid tab what it held and
// did not settle (key tab:<id>:release), and marks the tab done. A refused
// release (a frozen account) is logged for an operator and recorded as the
// tab's reason: its key is spent, so it is not retried.
func (t *tabs) release(ctx context.Context, id string) error {
	rec, err := t.load(ctx, id)
	if err != nil {
		return err
	}
	if rec.Done || (rec.Status != TabClosed && rec.Status != TabDeclined) || rec.PendingSeq != 0 || !rec.HoldAt.IsZero() {
		return nil
	}
	settled, _ := t.s.cur.Whole(rec.Settled)
	amount := rec.Held - settled - rec.Released
	var reason string
	if amount > 0 {
		_, err := t.s.w.Transfer(ctx, wallet.TransferRequest{Key: releaseKey(id), Kind: wallet.TransferRelease,
			To: rec.Phone, Amount: amount, Reference: id})
		switch {
		case transient(err):
			return err
		case err != nil:
			t.s.log.Error("a prepaid tab's release was refused; an operator must return the money", "tab", id,
				"amount", amount, "err", err)
			reason, amount = "release_"+string(wallet.ErrorCode(err)), 0
		}
	} else {
		amount = 0
	}
	now := t.now()
	return t.edit(ctx, id, func(e *TabEdit) error {
		tab := e.Tab
		if tab.Done {
			return errUnchanged
		}
		tab.Released += amount
		tab.Done, tab.Updated = true, now
		if reason != "" {
			tab.Reason = reason
		}
		return nil
	})
}

// approvals lists the tabs waiting for the approval of the customer with
// phone (E.164), oldest first.
func (t *tabs) approvals(ctx context.Context, phone string) ([]Approval, error) {
	recs, err := t.s.st.PendingTabs(ctx, phone, approvalsMax)
	if err != nil {
		return nil, err
	}
	now := t.now()
	out := make([]Approval, 0, len(recs))
	for i := range recs {
		if rec := &recs[i]; now.Before(rec.Expires) && rec.CloseKey == "" {
			out = append(out, t.approval(rec))
		}
	}
	return out, nil
}

func (t *tabs) approval(rec *TabRecord) Approval {
	return Approval{ID: rec.ID, Kind: ApprovalTab, Merchant: rec.Merchant, MerchantName: rec.MerchantName,
		Amount: t.ceilMinor(rec.Cap), Prepaid: rec.Prepaid, Reference: rec.Reference, Description: rec.Description,
		Expires: rec.Expires, Created: rec.Created}
}

// approvable says why tab cannot be approved (or declined) now, or nil.
func approvable(tab *TabRecord, now time.Time) error {
	switch {
	case tab.CloseKey != "" || tab.Status == TabClosed:
		return wallet.Errorf(wallet.CodeInvalidState, "the merchant has closed this tab")
	case tab.Status == TabDeclined && tab.Reason == reasonExpired:
		return wallet.Errorf(wallet.CodeInvalidState, "this tab has expired")
	case tab.Status == TabDeclined:
		return wallet.Errorf(wallet.CodeInvalidState, "this tab was declined")
	case tab.Status != TabPending:
		return wallet.Errorf(wallet.CodeInvalidState, "this tab is already approved")
	case !now.Before(tab.Expires):
		return wallet.Errorf(wallet.CodeInvalidState, "this tab has expired")
	}
	return nil
}

// customerTab returns tab id if it is the customer's with phone.
func (t *tabs) customerTab(ctx context.Context, phone, id string) (*TabRecord, string, error) {
	ph, err := wallet.NormalizePhone(phone, t.s.region)
	if err != nil {
		return nil, "", err
	}
	if !validID("tab", id) {
		return nil, "", notFound("tab", id)
	}
	rec, err := t.load(ctx, id)
	if err != nil {
		return nil, "", err
	}
	if rec.Phone != ph {
		return nil, "", notFound("tab", id)
	}
	return rec, ph, nil
}

// pinRefusal reports a wallet error about the PIN itself: the command was
// not judged, and its key stays free.
func pinRefusal(err error) bool {
	switch wallet.ErrorCode(err) {
	case wallet.CodePINInvalid, wallet.CodePINLocked, wallet.CodePINNotSet, wallet.CodeInvalid:
		return true
	}
	return false
}

// approve approves tab id for the customer with phone. Postpaid: the PIN
// is verified and the tab is active. Prepaid: the cap, rounded up to minor
// units, is held from the customer's wallet with the PIN (key
// tab:<id>:hold); a refused hold (insufficient funds, a limit) declines the
// tab with the wallet's code as its reason. A wrong PIN is the wallet's
// error and leaves the tab pending.
func (t *tabs) approve(ctx context.Context, phone, id, pin string) (*ApproveResult, error) {
	rec, ph, err := t.customerTab(ctx, phone, id)
	if err != nil {
		return nil, err
	}
	now := t.now()
	if err := approvable(rec, now); err != nil {
		return nil, err
	}
	if pin == "" {
		return nil, wallet.Errorf(wallet.CodeInvalid, "a PIN is required")
	}
	if !rec.Prepaid {
		if _, err := t.s.w.VerifyPIN(ctx, ph, pin); err != nil {
			return nil, err
		}
		err := t.edit(ctx, id, func(e *TabEdit) error {
			if err := approvable(e.Tab, now); err != nil {
				return err
			}
			if !e.Tab.HoldAt.IsZero() {
				return wallet.Errorf(wallet.CodeInFlight, "this tab is being approved")
			}
			e.Tab.Status, e.Tab.LastSettled, e.Tab.Updated = TabActive, now, now
			e.Events = append(e.Events, tabEvent(EventTabApproved, e.Tab, nil, now))
			rec = e.Tab
			return nil
		})
		if err != nil {
			return nil, err
		}
		return &ApproveResult{Approval: t.approval(rec), Tab: tabView(rec)}, nil
	}

	amount := t.ceilMinor(rec.Cap)
	err = t.edit(ctx, id, func(e *TabEdit) error {
		if err := approvable(e.Tab, now); err != nil {
			return err
		}
		e.Tab.HoldAt = now
		return nil
	})
	if err != nil {
		return nil, err
	}
	req := holdRequest(rec, amount)
	req.PIN = pin
	tr, err := t.s.w.Transfer(ctx, req)
	switch {
	case err == nil:
	case pinRefusal(err):
		// Nothing was held: clear our mark unless another approval replaced it.
		if cerr := t.edit(ctx, id, func(e *TabEdit) error {
			if !e.Tab.HoldAt.Equal(now) {
				return errUnchanged
			}
			e.Tab.HoldAt = time.Time{}
			return nil
		}); cerr != nil {
			return nil, errors.Join(err, cerr)
		}
		return nil, err
	case transient(err):
		return nil, err // the sweeper asks the wallet once the lease ends
	default:
		if derr := t.holdRefused(ctx, id, err); derr != nil {
			return nil, errors.Join(err, derr)
		}
		return nil, err
	}
	rec, err = t.holdPosted(ctx, id, &tr.Transfer)
	if err != nil {
		return nil, err
	}
	if rec.Status != TabActive && rec.Status != TabSuspended {
		// Closed or declined while the hold was being posted: give it back.
		if err := t.release(ctx, id); err != nil {
			return nil, err
		}
		return nil, wallet.Errorf(wallet.CodeInvalidState, "the tab was closed while it was being approved; the money held was returned")
	}
	return &ApproveResult{Approval: t.approval(rec), Transfer: tr, Tab: tabView(rec)}, nil
}

// holdPosted records a prepaid tab's hold: the tab becomes active if it
// is still pending (and not closing).
func (t *tabs) holdPosted(ctx context.Context, id string, tr *wallet.Transfer) (*TabRecord, error) {
	now := t.now()
	var rec *TabRecord
	err := t.s.st.EditTab(ctx, id, func(e *TabEdit) error {
		tab := e.Tab
		rec = tab
		if tab.Held != 0 && tab.HoldAt.IsZero() {
			return errUnchanged
		}
		tab.Held, tab.HoldAt, tab.Updated = tr.Amount, time.Time{}, now
		switch {
		case tab.Status == TabPending && tab.CloseKey == "":
			tab.Status, tab.LastSettled = TabActive, now
			e.Events = append(e.Events, tabEvent(EventTabApproved, tab, nil, now))
		case tab.Status == TabPending:
			// Closed before its approval landed: nothing was charged, and
			// the hold goes back.
			tab.Status, tab.Done = TabClosed, false
			e.Events = append(e.Events, tabEvent(EventTabClosed, tab, nil, now))
		case tab.Status == TabClosed || tab.Status == TabDeclined:
			tab.Done = false // the hold goes back
		}
		return nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return nil, err
	}
	return rec, nil
}

// holdRefused declines a pending prepaid tab whose hold the wallet refused.
func (t *tabs) holdRefused(ctx context.Context, id string, refusal error) error {
	now := t.now()
	return t.edit(ctx, id, func(e *TabEdit) error {
		tab := e.Tab
		tab.HoldAt = time.Time{}
		if tab.Status == TabPending {
			tab.Status, tab.Reason, tab.Done, tab.Updated = TabDeclined, string(wallet.ErrorCode(refusal)), tab.Held == 0, now
			e.Events = append(e.Events, tabEvent(EventTabDeclined, tab, nil, now))
		}
		return nil
	})
}

// resolveHold settles the fate of a hold in flight: it asks the wallet
// what the hold key produced, and records the hold, the refusal, or (once
// the lease is over) that there was none.
func (t *tabs) resolveHold(ctx context.Context, id string) error {
	rec, err := t.load(ctx, id)
	if err != nil || rec.HoldAt.IsZero() {
		return err
	}
	tr, refusal, err := t.s.w.OutcomeOf(ctx, holdRequest(rec, t.ceilMinor(rec.Cap)))
	switch {
	case wallet.ErrorCode(err) == wallet.CodeNotFound:
		lease := t.now().Add(-leaseDuration)
		if rec.HoldAt.After(lease) {
			return nil // the approval may still be in the wallet's queue
		}
		return t.edit(ctx, id, func(e *TabEdit) error {
			if !e.Tab.HoldAt.Equal(rec.HoldAt) {
				return errUnchanged
			}
			e.Tab.HoldAt = time.Time{}
			return nil
		})
	case err != nil:
		return err
	case refusal != nil:
		return t.holdRefused(ctx, id, refusal)
	}
	_, err = t.holdPosted(ctx, id, tr)
	return err
}

// decline declines tab id for the customer with phone, once the wallet
// has verified the PIN: it will take no charges. CodeInFlight while an
// approval of it is being posted.
func (t *tabs) decline(ctx context.Context, phone, id, pin string) (*Approval, error) {
	rec, ph, err := t.customerTab(ctx, phone, id)
	if err != nil {
		return nil, err
	}
	now := t.now()
	if err := approvable(rec, now); err != nil {
		return nil, err
	}
	if pin == "" {
		return nil, wallet.Errorf(wallet.CodeInvalid, "a PIN is required")
	}
	if _, err := t.s.w.VerifyPIN(ctx, ph, pin); err != nil {
		return nil, err
	}
	if !rec.HoldAt.IsZero() {
		if err := t.resolveHold(ctx, id); err != nil {
			return nil, err
		}
	}
	err = t.edit(ctx, id, func(e *TabEdit) error {
		if err := approvable(e.Tab, now); err != nil {
			return err
		}
		if !e.Tab.HoldAt.IsZero() {
			return wallet.Errorf(wallet.CodeInFlight, "this tab is being approved; try again in a minute")
		}
		tab := e.Tab
		tab.Status, tab.Reason, tab.Done, tab.Updated = TabDeclined, reasonDeclined, tab.Held == 0, now
		e.Events = append(e.Events, tabEvent(EventTabDeclined, tab, nil, now))
		rec = tab
		return nil
	})
	if err != nil {
		return nil, err
	}
	a := t.approval(rec)
	return &a, nil
}
