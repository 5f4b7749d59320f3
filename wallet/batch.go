package wallet

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// commitTimeout bounds one batch's transaction, including its retries; a
// batch that cannot commit in this time fails and its callers retry.
const commitTimeout = 30 * time.Second

// runBatch applies ops in one transaction and answers each of them.
func (s *Service) runBatch(ops []*op) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	stats := BatchStats{Ops: len(ops)}
	began := time.Now()
	if s.cfg.Observe != nil {
		defer func() {
			stats.Duration = time.Since(began)
			s.cfg.Observe(stats)
		}()
	}

	var ids []int64
	var keys []string
	var originals []int64
	for _, o := range ops {
		if o.kind != opTransfer {
			ids = append(ids, o.account)
			continue
		}
		p := o.plan
		keys = append(keys, p.key)
		if p.legacy != "" {
			keys = append(keys, p.legacy)
		}
		ids = append(ids, p.source, p.target, s.system[SystemFees], s.system[SystemCommission])
		if p.actor != 0 {
			ids = append(ids, p.actor)
		}
		if p.original != nil {
			originals = append(originals, p.original.ID)
		}
		if p.kind == TransferReversal {
			for _, q := range p.original.Postings {
				ids = append(ids, q.AccountID)
			}
		}
		if p.request != 0 {
			// The hold account, and the original's sender, whom the
			// events of a hold and a release name.
			ids = append(ids, s.system[SystemReversals], p.original.Source)
		}
		for _, py := range p.payees {
			ids = append(ids, py.id)
		}
	}
	ids = sortedUnique(ids)

	var results []Result
	var notices []Notice
	var posted bool
	err := s.store.Write(ctx, func(tx BatchTx) error {
		accounts, err := tx.LockAccounts(ids)
		if err != nil {
			return err
		}
		outcomes, err := tx.Outcomes(keys)
		if err != nil {
			return err
		}
		reversed, err := tx.Reversed(originals)
		if err != nil {
			return err
		}
		// Read after the locks: a refund locks its merchant and a reversal
		// every account of its original (the merchant among them), so what
		// another process refunded or reversed has committed by now.
		refunded, err := tx.Refunded(originals)
		if err != nil {
			return err
		}
		now := s.cfg.Now().UTC()
		b := &batch{s: s, accounts: accounts, outcomes: outcomes, reversed: reversed, refunded: refunded,
			now: now, today: s.day(now), dirty: map[int64]bool{}, write: &BatchWrite{}}
		results = make([]Result, len(ops))
		for i, o := range ops {
			results[i] = b.apply(o)
		}
		if b.empty() {
			return nil
		}
		for id := range b.dirty {
			b.write.Accounts = append(b.write.Accounts, accounts[id])
		}
		b.assertFloors()
		notices = b.notices
		posted = len(b.write.Transfers) > 0
		stats.Transfers, stats.Rejections = len(b.write.Transfers), len(b.write.Rejections)
		return tx.Save(b.write)
	})
	if err != nil {
		s.log.Error("wallet batch failed", "ops", len(ops), "err", err)
		stats.Failed, stats.Transfers, stats.Rejections = true, 0, 0
		failed := &Error{Code: CodeUnavailable, Message: "the wallet could not commit; retry with the same key"}
		for _, o := range ops {
			o.done(Result{Err: failed})
		}
		return
	}
	// Notices before answers: a caller told its PIN changed finds the
	// notice already handed over (Notify must not block).
	for _, n := range notices {
		s.notify(n)
	}
	for i, o := range ops {
		o.done(results[i])
	}
	if posted && s.cfg.Committed != nil {
		s.cfg.Committed()
	}
}

// batch is the state of one group commit: the accounts it touches, loaded and
// locked in its transaction and authoritative for its duration.
type batch struct {
	s        *Service
	accounts map[int64]*AccountRecord
	outcomes map[string]*Outcome
	reversed map[int64]bool
	refunded map[RefundKey]int64 // authoritative for the batch, like reversed
	now      time.Time
	today    int
	dirty    map[int64]bool
	write    *BatchWrite
	notices  []Notice // told to Config.Notify once the batch commits
}

func (b *batch) empty() bool {
	return len(b.dirty) == 0 && len(b.write.Transfers) == 0 && len(b.write.Rejections) == 0
}

func (b *batch) account(id int64) *AccountRecord {
	a := b.accounts[id]
	if a == nil {
		// Accounts are never deleted and ids come from the store: a bug.
		panic(fmt.Sprintf("wallet: account %d vanished", id))
	}
	return a
}

func (b *batch) apply(o *op) Result {
	if o.kind == opTransfer {
		tr, err := b.transfer(o.plan, o.pin)
		if err != nil {
			return Result{Err: err}
		}
		return Result{Transfer: tr}
	}
	a := b.account(o.account)
	var err *Error
	switch o.kind {
	case opVerifyPIN:
		if err = b.checkPIN(a, o.pin, o.attempt); err == nil && o.proof != "" {
			view := a.Account()
			return Result{Account: &view, Proof: pinProof(b.s.cfg.Pepper, a, b.s.cfg.Now().Add(PINProofTTL))}
		}
	case opStartKey:
		if err = b.checkStartKey(a, o.startKey, o.attempt); err == nil {
			view := a.Account()
			return Result{Account: &view, Proof: startKeyProof(b.s.cfg.Pepper, a, b.s.cfg.Now().Add(PINProofTTL))}
		}
	case opSetPIN:
		if err = b.firstPIN(a, o); err == nil {
			b.setPIN(a, o.newPIN)
		}
	case opChangePIN:
		switch {
		case o.proof == "":
			err = b.checkPIN(a, o.pin, o.attempt)
		case b.refusePINCheck(a) != nil:
			err = b.refusePINCheck(a)
		case !pinProofValid(b.s.cfg.Pepper, a, o.proof, b.s.cfg.Now()):
			// Not a guess at the PIN: it does not count toward the lockout.
			err = Errorf(CodePINInvalid, "the PIN check has expired or is not valid; verify the current PIN again")
		case pinMatches(b.s.cfg.Pepper, a, o.newPIN):
			err = Errorf(CodeInvalid, "the new PIN must differ from the old one")
		}
		if err == nil {
			b.setPIN(a, o.newPIN)
			b.notices = append(b.notices, Notice{Kind: NoticePINChanged, Account: a.Account(), At: b.now})
		}
	case opResetPIN:
		// Clears the PIN and its lockout, never the operator's freeze; the
		// owner sets a new PIN with the new start key.
		a.PINFailures, a.PINLocked = 0, false
		key := issueStartKey(b.s.cfg.Pepper, a, b.now, b.s.cfg.StartKeyTTL)
		b.dirty[a.ID] = true
		view := a.Account()
		b.notices = append(b.notices, Notice{Kind: NoticePINReset, Account: view, StartKey: key, Expires: a.StartKeyExpires, At: b.now})
		view.StartKey = key
		return Result{Account: &view}
	case opSetStatus:
		// Freezes or unfreezes only: a PIN lockout is cleared by a PIN reset.
		// A SIM-swap hold is put on an active account only (a freeze stays).
		// The owner is told of a hold and of its clearance, once each: only
		// the op that changes the status says so.
		if o.status != StatusSIMSwapHold || a.Status == StatusActive {
			n, told := simSwapNoticeKind(a.Status, o.status)
			a.Status = o.status
			b.dirty[a.ID] = true
			if told {
				b.notices = append(b.notices, Notice{Kind: n, Account: a.Account(), At: b.now})
			}
		}
	case opSetLanguage:
		a.Language = o.lang
		b.dirty[a.ID] = true
	}
	if err != nil {
		return Result{Err: err}
	}
	view := a.Account()
	return Result{Account: &view}
}

func (b *batch) setPIN(a *AccountRecord, pin string) {
	a.PINHash, a.PINSalt = newPINHash(b.s.cfg.Pepper, pin)
	a.PINFailures = 0
	a.StartKeyHash, a.StartKeyExpires = nil, time.Time{}
	b.dirty[a.ID] = true
}

// refusePINCheck returns why a's PIN may not be checked at all: a frozen
// account refuses every PIN path, and a locked PIN every try.
func (b *batch) refusePINCheck(a *AccountRecord) *Error {
	switch {
	case a.Status == StatusFrozen:
		return Errorf(CodeAccountFrozen, "this account is frozen; call customer care")
	case a.PINLocked:
		return Errorf(CodePINLocked, "the PIN is locked after too many wrong tries; visit an agent or call customer care to reset it")
	}
	return nil
}

// checkPIN verifies pin for a, counting a wrong one toward the lockout.
func (b *batch) checkPIN(a *AccountRecord, pin string, at PINAttempt) *Error {
	if err := b.refusePINCheck(a); err != nil {
		return err
	}
	if len(a.PINHash) == 0 {
		return Errorf(CodePINNotSet, "no PIN is set for this account")
	}
	return b.checkSecret(a, hashPIN(b.s.cfg.Pepper, a.PINSalt, pin), a.PINHash, at, CodePINInvalid)
}

// checkStartKey verifies a's start key, counting a wrong one toward the
// PIN lockout like a wrong PIN.
func (b *batch) checkStartKey(a *AccountRecord, key string, at PINAttempt) *Error {
	if err := b.refusePINCheck(a); err != nil {
		return err
	}
	switch {
	case len(a.PINHash) > 0:
		return Errorf(CodeExists, "a PIN is already set; change it with the old PIN")
	case len(a.StartKeyHash) == 0:
		return Errorf(CodeInvalid, "this account needs no start key: set the PIN")
	case !b.now.Before(a.StartKeyExpires):
		return Errorf(CodeStartKeyExpired, "the start key has expired; ask an agent or customer care for a new one")
	}
	return b.checkSecret(a, startKeyHash(b.s.cfg.Pepper, a.PINSalt, key), a.StartKeyHash, at, CodeStartKeyInvalid)
}

// firstPIN returns why o may not set a's first PIN: one is set, the account
// is frozen or locked, or it has a start key and o proves neither it nor a
// live proof of it. A self-registered account has no start key.
func (b *batch) firstPIN(a *AccountRecord, o *op) *Error {
	if err := b.refusePINCheck(a); err != nil {
		return err
	}
	switch {
	case len(a.PINHash) > 0:
		return Errorf(CodeExists, "a PIN is already set; change it with the old PIN")
	case len(a.StartKeyHash) == 0:
		return nil
	case o.startKey != "":
		return b.checkStartKey(a, o.startKey, o.attempt)
	case o.proof == "":
		return Errorf(CodeStartKeyRequired, "the first PIN needs the start key sent by SMS")
	case !b.now.Before(a.StartKeyExpires):
		return Errorf(CodeStartKeyExpired, "the start key has expired; ask an agent or customer care for a new one")
	case !startKeyProofValid(b.s.cfg.Pepper, a, o.proof, b.s.cfg.Now()):
		// Not a guess at the key: it does not count toward the lockout.
		return Errorf(CodeStartKeyInvalid, "the start key check has expired or is not valid; enter the start key again")
	}
	return nil
}

// checkSecret compares digest, the keyed hash of a PIN or start key tried
// for a, with want. A wrong one counts toward a's lockout and its source's
// budget, once per attempt key; a source over budget is refused without a
// comparison (and without a count on a: the owner on another channel is
// not locked out by someone else's guesses).
func (b *batch) checkSecret(a *AccountRecord, digest, want []byte, at PINAttempt, wrong Code) *Error {
	at = normalAttempt(at)
	g := b.s.guard
	if e := g.remembered(at, a.ID, digest, b.now); e != nil {
		return e // a retried hop: answered as before, counted once
	}
	if !g.allowed(at, b.now) {
		b.s.observePIN(at, "refused")
		return Errorf(CodePINThrottled, "too many wrong PINs from this channel; try again later or another way")
	}
	if hmac.Equal(digest, want) {
		if a.PINFailures > 0 {
			a.PINFailures = 0
			b.dirty[a.ID] = true
		}
		return nil
	}
	a.PINFailures++
	b.dirty[a.ID] = true
	left := b.s.cfg.PINTriesMax - a.PINFailures
	var e *Error
	if left <= 0 {
		a.PINLocked = true
		e = Errorf(CodePINLocked, "wrong PIN; the PIN is now locked: visit an agent or call customer care to reset it")
	} else if wrong == CodeStartKeyInvalid {
		e = Errorf(wrong, "wrong start key; %d tries left", left)
	} else {
		e = Errorf(wrong, "wrong PIN; %d tries left", left)
	}
	if left > 0 {
		e.TriesLeft = &left
	}
	g.wrong(at, a.ID, digest, e, b.now, b.s.log)
	b.s.observePIN(at, "wrong")
	return e
}

// transfer applies one money command against the batch's accounts.
func (b *batch) transfer(p *plan, pin string) (*TransferResult, error) {
	if prior := b.outcomes[p.key]; prior != nil {
		return b.replay(p, prior, pin)
	}
	// The same command made before its caller's keys had a namespace: a
	// replay. A different one under that key is no conflict (the key is
	// another namespace's now): the command is new.
	if prior := b.outcomes[p.legacy]; p.legacy != "" && prior != nil && bytes.Equal(prior.Hash, p.hash) {
		return b.replay(p, prior, pin)
	}
	var actor *AccountRecord
	if p.actor != 0 {
		actor = b.account(p.actor)
		if actor.Status == StatusFrozen {
			return nil, b.reject(p, Errorf(CodeAccountFrozen, "this account is frozen; call customer care"))
		}
		if err := b.checkPIN(actor, pin, p.attempt); err != nil {
			return nil, err // a wrong PIN is not the command's outcome: the key stays free
		}
	}
	src, dst := b.account(p.source), b.account(p.target)
	if p.kind != TransferReversal && !p.kind.reversalStep() {
		parties := []*AccountRecord{src, dst}
		for _, py := range p.payees {
			parties = append(parties, b.account(py.id))
		}
		for _, a := range parties {
			if a.Status == StatusFrozen {
				return nil, b.reject(p, Errorf(CodeAccountFrozen, "account %s is frozen", a.Number))
			}
		}
	}

	t := &StoredTransfer{Key: p.key, Hash: p.hash, Transfer: Transfer{
		ID: NewTransferID(b.now), Kind: p.kind, Source: p.source, Target: p.target, Amount: p.amount,
		Fee: p.fee, Commission: p.commission, Reference: p.reference, Created: b.now,
	}}
	t.Ref = Ref(t.ID)
	switch p.kind {
	case TransferReversal:
		if p.request == 0 {
			if err := b.s.reversible(p.original, p.actor, b.reversed[p.original.ID], b.hasRefunds(p.original.ID), b.now); err != nil {
				return nil, b.reject(p, err)
			}
		} else if b.reversed[p.original.ID] {
			// A request's completion: its rules were checked when it was
			// made, and the window has passed by design.
			return nil, b.reject(p, Errorf(CodeNotReversible, "%s has already been reversed", p.original.Ref))
		}
		t.Reverses = p.original.ID
		for _, q := range p.original.Postings {
			t.Postings = append(t.Postings, Posting{AccountID: q.AccountID, Leg: q.Leg, Amount: -q.Amount})
		}
		if p.held > 0 {
			t.Postings = append(t.Postings, Posting{AccountID: p.original.Target, Leg: LegHold, Amount: p.held},
				Posting{AccountID: b.s.system[SystemReversals], Leg: LegHold, Amount: -p.held})
		}
	case TransferReversalHold, TransferReversalRelease:
		t.Postings = []Posting{{AccountID: p.source, Leg: LegHold, Amount: -p.amount}, {AccountID: p.target, Leg: LegHold, Amount: p.amount}}
	case TransferRefund:
		if err := b.refundable(p, dst); err != nil {
			return nil, b.reject(p, err)
		}
		t.Refunds = p.original.ID
		t.Postings = b.legs(p)
	case TransferSettle, TransferRelease:
		// No tier limits: the customer approved the tab with the PIN.
		t.Postings = b.legs(p)
	default:
		t.Postings = b.legs(p)
		if err := b.limits(p, src, dst); err != nil {
			return nil, b.reject(p, err)
		}
	}

	// Net effect per account, checked against floors before anything changes.
	net := map[int64]int64{}
	var sum int64
	for _, q := range t.Postings {
		net[q.AccountID] += q.Amount
		sum += q.Amount
	}
	if sum != 0 {
		panic(fmt.Sprintf("wallet: unbalanced %s transfer: postings sum to %d", p.kind, sum))
	}
	for id, n := range net {
		a := b.account(id)
		if n < 0 && !a.AllowNegative && a.Balance+n < 0 {
			if p.kind == TransferReversal && p.request != 0 {
				// A completion without a hold: not remembered, so that an
				// operator may approve it again once the recipient can pay.
				return nil, Errorf(CodeInsufficientFunds, "the recipient's balance no longer covers the reversal")
			}
			if p.kind == TransferReversal {
				return nil, b.reject(p, Errorf(CodeNotReversible, "the recipient's balance no longer covers the reversal"))
			}
			e := Errorf(CodeInsufficientFunds, "insufficient funds: %s needed, balance %s",
				b.s.cfg.Currency.Format(-n), b.s.cfg.Currency.Format(a.Balance))
			if actor != nil && a.ID == actor.ID || actor == nil && a.ID == p.initiator && p.initiator == p.source {
				// The account asking (by its PIN, or a merchant through
				// the merchant services) may see its own balance.
				bal := a.Balance
				e.Balance = &bal
			}
			return nil, b.reject(p, e)
		}
	}

	for i := range t.Postings {
		q := &t.Postings[i]
		a := b.account(q.AccountID)
		a.Balance += q.Amount
		q.BalanceAfter = a.Balance
		b.dirty[a.ID] = true
	}
	if src.Kind == KindCustomer && p.kind != TransferReversal && !p.kind.reversalStep() {
		if src.Day != b.today {
			src.Day, src.DayDebits = b.today, 0
		}
		src.DayDebits += p.amount
	}
	switch p.kind {
	case TransferReversal:
		b.reversed[p.original.ID] = true
	case TransferRefund:
		b.refunded[RefundKey{Transfer: p.original.ID, Merchant: p.source}] += p.amount
	}
	b.write.Transfers = append(b.write.Transfers, t)
	var extra []int64
	if p.request != 0 {
		extra = append(extra, p.original.Source)
	}
	b.write.Events = append(b.write.Events, b.event(t, extra...))
	b.outcomes[p.key] = &Outcome{Hash: p.hash, Transfer: &t.Transfer}
	return &TransferResult{Transfer: t.Transfer, Balance: b.initiatorBalance(p, &t.Transfer)}, nil
}

// replay answers a repeated key with what it first produced. The caller
// must still know the PIN (a wrong one counts toward the lockout, or replays
// would be a free way to guess it), but the account's state since then does
// not change the answer.
func (b *batch) replay(p *plan, prior *Outcome, pin string) (*TransferResult, error) {
	if !bytes.Equal(prior.Hash, p.hash) {
		return nil, Errorf(CodeConflict, "this idempotency key was used for a different request")
	}
	if p.actor != 0 {
		if err := b.checkPIN(b.account(p.actor), pin, p.attempt); err != nil {
			return nil, err
		}
	}
	if prior.Err != nil {
		return nil, prior.Err
	}
	return &TransferResult{Transfer: *prior.Transfer, Balance: b.initiatorBalance(p, prior.Transfer), Replayed: true}, nil
}

// initiatorBalance is the balance after t of the account that asked for it:
// the PIN's owner, the merchant of a payout or refund, else the target (an
// operator's float issue, a settlement's merchant, a release's customer).
// It is zero if that account has no posting in t (a settlement split away
// from its merchant).
func (b *batch) initiatorBalance(p *plan, t *Transfer) int64 {
	var bal int64
	for _, q := range t.Postings {
		if q.AccountID == p.initiator {
			bal = q.BalanceAfter
		}
	}
	return bal
}

// reject remembers a refusal under the command's key, so that a retry gets
// the same answer and cannot move money after the caller was told it failed.
func (b *batch) reject(p *plan, e *Error) *Error {
	b.write.Rejections = append(b.write.Rejections, Rejection{Key: p.key, Hash: p.hash, Err: e, Created: b.now})
	b.outcomes[p.key] = &Outcome{Hash: p.hash, Err: e}
	return e
}

// legs returns the postings of a transfer: the principal, then the fee and
// commission legs, all in one balanced transfer, with the postings of each
// account merged into one per leg.
func (b *batch) legs(p *plan) []Posting {
	fees, commission := b.s.system[SystemFees], b.s.system[SystemCommission]
	if p.kind == TransferSettle {
		// The fee comes out of the amount; the payees share the rest.
		weights := make([]int64, len(p.payees))
		for i, py := range p.payees {
			weights[i] = py.weight
		}
		ps := []Posting{{AccountID: p.source, Leg: LegPrincipal, Amount: -p.amount}}
		for i, share := range Split(p.amount-p.fee, weights) {
			ps = append(ps, Posting{AccountID: p.payees[i].id, Leg: LegPrincipal, Amount: share})
		}
		ps = append(ps, Posting{AccountID: fees, Leg: LegFee, Amount: p.fee})
		return merge(ps)
	}
	return Postings(Transfer{Kind: p.kind, Source: p.source, Target: p.target, Amount: p.amount, Fee: p.fee, Commission: p.commission},
		fees, commission)
}

// Postings returns the legs the writer posts for t, a transfer of any kind
// but a settlement, a reversal or a reversal's hold or release: the
// principal from t.Source to t.Target, the fee from its payer to the fees
// account, and the commission from the commission account to the agent,
// with the postings of each account merged into one per leg. It is the
// one statement of how fees and commissions move, which the storage
// limit's rows (wallet/store BulkRows) share with the writer.
func Postings(t Transfer, fees, commission int64) []Posting {
	ps := []Posting{{AccountID: t.Source, Leg: LegPrincipal, Amount: -t.Amount}, {AccountID: t.Target, Leg: LegPrincipal, Amount: t.Amount}}
	if t.Fee > 0 {
		payer := t.Source // send, withdraw, airtime: the customer pays
		if t.Kind == TransferTill || t.Kind == TransferPaybill {
			payer = t.Target // buy goods and pay bill: the merchant pays
		}
		ps = append(ps, Posting{AccountID: payer, Leg: LegFee, Amount: -t.Fee}, Posting{AccountID: fees, Leg: LegFee, Amount: t.Fee})
	}
	if t.Commission > 0 {
		agent := t.Source // deposit: the agent's float is the source
		if t.Kind == TransferWithdraw {
			agent = t.Target
		}
		ps = append(ps, Posting{AccountID: commission, Leg: LegCommission, Amount: -t.Commission}, Posting{AccountID: agent, Leg: LegCommission, Amount: t.Commission})
	}
	return merge(ps)
}

// merge sums the postings of each account and leg into one, in order of
// first appearance, and drops those that come to zero (a payee whose share
// rounds to nothing, a zero fee).
func merge(ps []Posting) []Posting {
	type legOf struct {
		account int64
		leg     LegKind
	}
	at := make(map[legOf]int, len(ps))
	out := ps[:0:0]
	for _, q := range ps {
		k := legOf{q.AccountID, q.Leg}
		if i, ok := at[k]; ok {
			out[i].Amount += q.Amount
			continue
		}
		at[k] = len(out)
		out = append(out, q)
	}
	kept := out[:0]
	for _, q := range out {
		if q.Amount != 0 {
			kept = append(kept, q)
		}
	}
	return kept
}

// limits checks the customer tier limits of both parties.
func (b *batch) limits(p *plan, src, dst *AccountRecord) *Error {
	limitErr := func(l Limit, format string, args ...any) *Error {
		e := Errorf(CodeLimitExceeded, format, args...)
		e.Limit = l
		return e
	}
	cur := b.s.cfg.Currency
	if src.Kind == KindCustomer {
		l := b.s.cfg.Tiers[src.Tier]
		if p.amount > l.PerTransaction {
			return limitErr(LimitPerTransaction, "the most you can send in one transaction is %s", cur.Format(l.PerTransaction))
		}
		today := src.debitedOn(b.today)
		if today+p.amount > l.Daily {
			return limitErr(LimitDaily, "this would pass your daily limit of %s (%s left today)", cur.Format(l.Daily), cur.Format(max(l.Daily-today, 0)))
		}
	}
	if dst.Kind == KindCustomer {
		l := b.s.cfg.Tiers[dst.Tier]
		if p.amount > l.PerTransaction {
			return limitErr(LimitPerTransaction, "the recipient can receive at most %s in one transaction", cur.Format(l.PerTransaction))
		}
		if dst.Balance+p.amount > l.BalanceMax {
			return limitErr(LimitBalance, "the recipient's account cannot hold more than %s", cur.Format(l.BalanceMax))
		}
	}
	return nil
}

// debitedOn is what the daily limit counts of a's debits on day (yyyymmdd
// in the wallet's time zone): the principal debited that day, zero when
// a's last debit was on another day. The operator's account view reads it too.
func (a *AccountRecord) debitedOn(day int) int64 {
	if a.Day != day {
		return 0
	}
	return a.DayDebits
}

// reversible says whether account actor may reverse o at now, given
// whether o already has a reversal and whether a merchant refunded any of
// it (the customer got that part back already: a reversal would pay it
// twice). It is the one statement of the rules: the batch applies it to a
// reversal command, TransferInfo to show the sender beforehand. (Whether the
// recipient's balance still covers the reversal is checked only when it is
// applied: saying so earlier would reveal it.)
func (s *Service) reversible(o *Transfer, actor int64, reversed, refunded bool, now time.Time) *Error {
	switch o.Kind {
	case TransferSend, TransferDeposit:
	case TransferTill, TransferPaybill:
		// As M-Pesa: a payment to a business is undone by the business, a
		// refund through the merchant API, never by its payer alone.
		return Errorf(CodeNotReversible, "a payment to a till or business number cannot be reversed; ask the merchant for a refund")
	default:
		return Errorf(CodeNotReversible, "a %s cannot be reversed", o.Kind)
	}
	if o.Source != actor {
		return Errorf(CodeNotReversible, "only the sender of %s can reverse it", o.Ref)
	}
	if reversed {
		return Errorf(CodeNotReversible, "%s has already been reversed", o.Ref)
	}
	if refunded {
		return Errorf(CodeNotReversible, "%s has been refunded by the merchant, in part or in full; ask the merchant for the rest", o.Ref)
	}
	if now.Sub(o.Created) > s.cfg.ReversalWindow {
		return Errorf(CodeNotReversible, "%s is older than %s and can no longer be reversed", o.Ref, s.cfg.ReversalWindow)
	}
	return nil
}

// refundable says whether the merchant p.source may refund p.amount of
// p.original to its payer (customer, the account p.target): the original
// must be a till, paybill or settle transfer that credited the merchant
// principal and was paid by a customer (not from the tabs account), must not
// have been reversed, and must have at least p.amount of the merchant's
// principal in it not yet refunded. The batch's refunded map is
// authoritative: it holds every refund committed, and those earlier in
// this batch.
func (b *batch) refundable(p *plan, payer *AccountRecord) *Error {
	o := p.original
	switch o.Kind {
	case TransferTill, TransferPaybill, TransferSettle:
	default:
		return Errorf(CodeNotReversible, "a %s cannot be refunded", o.Kind)
	}
	var received int64
	for _, q := range o.Postings {
		if q.AccountID == p.source && q.Leg == LegPrincipal && q.Amount > 0 {
			received += q.Amount
		}
	}
	if received == 0 {
		// As for another account's transfer in TransferInfo: not found.
		return Errorf(CodeNotFound, "no payment %s to this merchant", o.Ref)
	}
	if payer.Kind != KindCustomer {
		return Errorf(CodeNotReversible, "%s was paid from a prepaid tab: close the tab to release its balance instead", o.Ref)
	}
	if b.reversed[o.ID] {
		return Errorf(CodeNotReversible, "%s has been reversed", o.Ref)
	}
	left := received - b.refunded[RefundKey{Transfer: o.ID, Merchant: p.source}]
	cur := b.s.cfg.Currency
	if left <= 0 {
		return Errorf(CodeNotReversible, "%s has been refunded in full", o.Ref)
	}
	if p.amount > left {
		return Errorf(CodeInvalidAmount, "only %s of %s's %s is left to refund", cur.Format(left), o.Ref, cur.Format(received))
	}
	return nil
}

// hasRefunds reports whether any merchant refunded part of transfer id.
func (b *batch) hasRefunds(id int64) bool {
	for k, v := range b.refunded {
		if k.Transfer == id && v > 0 {
			return true
		}
	}
	return false
}

// Event is what the wallet publishes for each posted transfer: the transfer
// and every account it touched, so consumers (receipts, webhooks) need not
// call back.
type Event struct {
	Transfer Transfer `json:"transfer"`
	Parties  []Party  `json:"parties"`
}

// Party is an account as an event shows it.
type Party struct {
	ID       int64       `json:"id"`
	Kind     AccountKind `json:"kind"`
	Number   string      `json:"number"`
	Phone    string      `json:"phone,omitempty"`
	Name     string      `json:"name"`
	Language string      `json:"language,omitempty"`
}

func partyOf(a *AccountRecord) Party {
	return Party{ID: a.ID, Kind: a.Kind, Number: a.Number, Phone: a.Phone, Name: a.Name, Language: a.Language}
}

// EventSubjectPrefix prefixes the subject of every wallet event; the
// transfer kind follows.
const EventSubjectPrefix = "wallet.events.transfer."

// MerchantEventSubjectPrefix prefixes the subject of the merchant services'
// events (payment requests, tabs, payouts: package wallet/merchant), which
// share the outbox and the stream; the event type follows.
const MerchantEventSubjectPrefix = "wallet.events.merchant."

// event is t's outbox event. Its parties are the accounts t posts to, then
// extra: a reversal request's hold and release name the original's sender,
// who is told of them without a posting.
func (b *batch) event(t *StoredTransfer, extra ...int64) OutboxEvent {
	return NewOutboxEvent(t, b.account, extra...)
}

// NewOutboxEvent is t's outbox event as the writer records it: t and its
// parties, the accounts t posts to (account returns each) and then extra.
func NewOutboxEvent(t *StoredTransfer, account func(id int64) *AccountRecord, extra ...int64) OutboxEvent {
	ev := Event{Transfer: t.Transfer}
	seen := map[int64]bool{}
	ids := make([]int64, 0, len(t.Postings)+len(extra))
	for _, q := range t.Postings {
		ids = append(ids, q.AccountID)
	}
	for _, id := range append(ids, extra...) {
		if seen[id] {
			continue
		}
		seen[id] = true
		ev.Parties = append(ev.Parties, partyOf(account(id)))
	}
	return OutboxEvent{TransferID: t.ID, Subject: EventSubjectPrefix + string(t.Kind), Payload: appendEvent(make([]byte, 0, 1024), &ev)}
}

// appendEvent appends ev's JSON to b: byte for byte what json.Marshal
// writes (TestEventJSON compares them), without its reflection, which
// took a tenth of the writer's time.
func appendEvent(b []byte, ev *Event) []byte {
	t := &ev.Transfer
	b = append(b, `{"transfer":{"id":`...)
	b = strconv.AppendInt(b, t.ID, 10)
	b = appendField(b, `,"ref":`, t.Ref)
	b = appendField(b, `,"kind":`, string(t.Kind))
	b = appendInt(b, `,"source":`, t.Source)
	b = appendInt(b, `,"target":`, t.Target)
	b = appendInt(b, `,"amount":`, t.Amount)
	b = appendInt(b, `,"fee":`, t.Fee)
	if t.Commission != 0 {
		b = appendInt(b, `,"commission":`, t.Commission)
	}
	if t.Reference != "" {
		b = appendField(b, `,"reference":`, t.Reference)
	}
	if t.Reverses != 0 {
		b = appendInt(b, `,"reverses":`, t.Reverses)
	}
	if t.Refunds != 0 {
		b = appendInt(b, `,"refunds":`, t.Refunds)
	}
	b = appendList(b, `,"postings":`, t.Postings, func(b []byte, q *Posting) []byte {
		b = appendInt(b, `{"account_id":`, q.AccountID)
		b = appendField(b, `,"leg":`, string(q.Leg))
		b = appendInt(b, `,"amount":`, q.Amount)
		return appendInt(b, `,"balance_after":`, q.BalanceAfter)
	})
	b = append(b, `,"created":`...)
	if y := t.Created.Year(); y >= 0 && y <= 9999 {
		b = append(t.Created.AppendFormat(append(b, '"'), time.RFC3339Nano), '"') // as Time.MarshalJSON
	} else {
		created, err := t.Created.MarshalJSON()
		if err != nil {
			panic("wallet: cannot encode an event: " + err.Error())
		}
		b = append(b, created...)
	}
	b = appendList(append(b, '}'), `,"parties":`, ev.Parties, func(b []byte, p *Party) []byte {
		b = appendInt(b, `{"id":`, p.ID)
		b = appendField(b, `,"kind":`, string(p.Kind))
		b = appendField(b, `,"number":`, p.Number)
		if p.Phone != "" {
			b = appendField(b, `,"phone":`, p.Phone)
		}
		b = appendField(b, `,"name":`, p.Name)
		if p.Language != "" {
			b = appendField(b, `,"language":`, p.Language)
		}
		return b
	})
	return append(b, '}')
}

// appendList appends key and xs as a JSON array of objects, each object's
// fields written by fields (without the closing brace); null for nil.
func appendList[T any](b []byte, key string, xs []T, fields func([]byte, *T) []byte) []byte {
	b = append(b, key...)
	if xs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(fields(b, &xs[i]), '}')
	}
	return append(b, ']')
}

func appendInt(b []byte, key string, n int64) []byte {
	return strconv.AppendInt(append(b, key...), n, 10)
}

// appendField appends key and s as a JSON string: as is when s is
// printable ASCII that json.Marshal would not escape, else as json.Marshal
// writes it.
func appendField(b []byte, key, s string) []byte {
	b = append(b, key...)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// assertFloors panics if the batch left an account below its floor: the
// checks above must have refused the transfer that did it.
func (b *batch) assertFloors() {
	for id := range b.dirty {
		a := b.accounts[id]
		if a.Balance < 0 && !a.AllowNegative {
			panic(fmt.Sprintf("wallet: account %d below its floor: %d", id, a.Balance))
		}
	}
}
