package wallet

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ReversalState is where a reversal request stands. A request moves
//
//	requested ─hold─► held ─window passes─► completing ─► completed
//	    │               │ └─recipient objects─► objected ─┐
//	    └─nothing held─►review ◄────────────────────────── operator:
//	                                   approve → completing → completed (or back to review)
//	                                   reject  → rejecting  → rejected
//
// Each step that moves money is a transfer under a key made of the
// request's id in the wallet's own namespace ("rev:<id>:hold", ":complete",
// ":release"), posted before the state that records it is set by
// compare-and-set. A crash between the two leaves the state behind the
// money; the sweeper (any wallet process) posts the same key again, which
// replays, and sets the state. The transient states completing and
// rejecting are taken by compare-and-set before their transfer, so the
// completion and the release of one hold exclude each other even across
// processes.
type ReversalState string

const (
	ReversalRequested  ReversalState = "requested"  // written; the hold not yet posted
	ReversalHeld       ReversalState = "held"       // the amount is held; the recipient may object until Deadline
	ReversalObjected   ReversalState = "objected"   // the recipient objected: an operator decides; still held
	ReversalReview     ReversalState = "review"     // the recipient no longer had the amount: nothing held; an operator decides
	ReversalCompleting ReversalState = "completing" // the completion is being posted
	ReversalRejecting  ReversalState = "rejecting"  // the hold is being released
	ReversalCompleted  ReversalState = "completed"  // reversed: the sender has the money back
	ReversalRejected   ReversalState = "rejected"   // an operator refused it; the hold went back to the recipient
)

// Reversal is a customer's request to reverse a transfer it sent.
type Reversal struct {
	ID          int64         `json:"id"`
	Original    int64         `json:"original"`     // the transfer to reverse
	OriginalRef string        `json:"original_ref"` // its human id
	Kind        TransferKind  `json:"kind"`         // its kind: send or deposit
	Sender      int64         `json:"sender"`       // its source, who asked
	Recipient   int64         `json:"recipient"`    // its target, whose money is held
	Amount      int64         `json:"amount"`       // its principal
	Held        int64         `json:"held"`         // what the hold took: Amount, or 0 in review
	State       ReversalState `json:"state"`
	Deadline    time.Time     `json:"deadline"`         // the end of the objection window
	Reason      string        `json:"reason,omitempty"` // the objection's, then the operator's
	Actor       string        `json:"actor,omitempty"`  // the operator who decided
	Created     time.Time     `json:"created"`
	Updated     time.Time     `json:"updated"`
}

// ReversalStore keeps reversal requests. Store implements it.
type ReversalStore interface {
	// CreateReversal inserts r, setting its ID; CodeExists if the original
	// already has a request.
	CreateReversal(ctx context.Context, r *Reversal) error
	// Reversal and ReversalByOriginal return CodeNotFound when there is none.
	Reversal(ctx context.Context, id int64) (*Reversal, error)
	ReversalByOriginal(ctx context.Context, original int64) (*Reversal, error)
	// UpdateReversal writes r if its stored state is still from, and
	// reports whether it did (compare-and-set).
	UpdateReversal(ctx context.Context, r *Reversal, from ReversalState) (bool, error)
	// Reversals returns up to limit requests in the given states (all when
	// none), oldest first.
	Reversals(ctx context.Context, states []ReversalState, limit int) ([]Reversal, error)
	// DueReversals returns up to limit requests the sweeper must advance:
	// held past their deadline at now, and requested, completing or
	// rejecting not updated since leased (their caller crashed or gave up).
	DueReversals(ctx context.Context, now, leased time.Time, limit int) ([]Reversal, error)
}

const (
	// DefaultObjectionWindow is how long a recipient may object to a
	// reversal request. M-Pesa gives a day; so does the reversal window
	// itself, so a request made at its last minute still leaves the
	// recipient a working day to answer an SMS.
	DefaultObjectionWindow = 24 * time.Hour
	// ObjectionWindowMax bounds the objection window (--reversal-objection
	// too): a week keeps a recipient's money held no longer than an
	// operator takes to look.
	ObjectionWindowMax = 7 * 24 * time.Hour
	// reversalLease is how long a request in a transient state is left to
	// the call moving it before the sweeper takes over: above a batch's
	// bound (commitTimeout) so the call's transfer is decided by then.
	reversalLease = time.Minute
	// reversalSweepMax bounds the requests one sweep advances.
	reversalSweepMax = 200
	// reversalListMax bounds one operator listing.
	reversalListMax = 500
	// reasonBytesMax bounds an objection's or an operator's reason.
	reasonBytesMax = 200
	// defaultReversalSweep is how often the sweeper looks for due requests:
	// a completion a few seconds after its window is on time.
	defaultReversalSweep = 10 * time.Second
)

// reversalKey is the key of a request's step in the wallet's namespace:
// no client can post under "rev:" (the NATS API keeps callers' keys in
// namespaces of their own).
func reversalKey(id int64, step string) string {
	return "rev:" + strconv.FormatInt(id, 10) + ":" + step
}

// RequestReversal asks to reverse the transfer ref that the account phone
// operates sent (a send, or an agent's deposit), with that account's PIN.
// The recipient's amount is held at once and the recipient may object
// until the objection window ends; without an objection the sweeper
// completes it. A request the recipient can no longer cover holds nothing
// and waits for an operator (ReversalReview). Asking again returns the
// request already made. Errors: CodeNotFound as TransferInfo,
// CodeNotReversible (a payment to a business: the merchant refunds; too
// old; already reversed), the PIN's errors.
func (s *Service) RequestReversal(ctx context.Context, phone, ref, pin string) (*Reversal, error) {
	k, t, err := s.sentBy(ctx, phone, ref)
	if err != nil {
		return nil, err
	}
	if _, err := s.VerifyPIN(ctx, phone, pin); err != nil {
		return nil, err
	}
	if r, err := s.reversals.ReversalByOriginal(ctx, t.ID); err == nil {
		return r, nil // a retried hop, or asked twice
	} else if ErrorCode(err) != CodeNotFound {
		return nil, err
	}
	reversed, err := s.store.Reversed(ctx, []int64{t.ID})
	if err != nil {
		return nil, err
	}
	refunded, err := s.store.Refunded(ctx, []int64{t.ID})
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now().UTC()
	if e := s.reversible(t, k.id, reversed[t.ID], len(refunded) > 0, now); e != nil {
		return nil, e
	}
	r := &Reversal{Original: t.ID, OriginalRef: t.Ref, Kind: t.Kind, Sender: t.Source, Recipient: t.Target,
		Amount: t.Amount, State: ReversalRequested, Created: now, Updated: now}
	if err := s.reversals.CreateReversal(ctx, r); ErrorCode(err) == CodeExists {
		return s.reversals.ReversalByOriginal(ctx, t.ID)
	} else if err != nil {
		return nil, err
	}
	if err := s.advance(ctx, r); err != nil {
		// The request is made; the sweeper takes the hold.
		s.log.Warn("reversal hold deferred to the sweeper", "reversal", r.ID, "err", err)
	}
	return r, nil
}

// ObjectReversal records the objection of the recipient (the account phone
// operates) to the request to reverse transfer ref: an operator decides,
// and the amount stays held. It needs no PIN: it moves no money, and the
// phone proves as much as an SMS reply does. Errors: CodeNotFound (no
// request against this recipient for ref), CodeInvalidState (decided, or
// the window has closed). Objecting twice returns the request.
func (s *Service) ObjectReversal(ctx context.Context, phone, ref, reason string) (*Reversal, error) {
	if len(reason) > reasonBytesMax {
		reason = reason[:reasonBytesMax]
	}
	id, ok := ParseRef(ref)
	if !ok {
		return nil, Errorf(CodeNotFound, "no reversal request for %q", clip(ref))
	}
	k, err := s.operatedBy(ctx, phone)
	if err != nil {
		return nil, err
	}
	r, err := s.reversals.ReversalByOriginal(ctx, id)
	if ErrorCode(err) == CodeNotFound || err == nil && r.Recipient != k.id {
		return nil, Errorf(CodeNotFound, "no reversal request for %s", Ref(id))
	}
	if err != nil {
		return nil, err
	}
	for {
		now := s.cfg.Now().UTC()
		switch {
		case r.State == ReversalObjected:
			return r, nil
		case r.State == ReversalRequested:
			// The hold is not posted yet: take it, then object.
			if err := s.advance(ctx, r); err != nil {
				return nil, err
			}
			continue
		case r.State != ReversalHeld:
			return nil, Errorf(CodeInvalidState, "the reversal of %s is %s", r.OriginalRef, r.State)
		case !now.Before(r.Deadline):
			return nil, Errorf(CodeInvalidState, "the time to object to the reversal of %s has passed", r.OriginalRef)
		}
		next := *r
		next.State, next.Reason, next.Updated = ReversalObjected, reason, now
		ok, err := s.reversals.UpdateReversal(ctx, &next, ReversalHeld)
		if err != nil {
			return nil, err
		}
		if ok {
			return &next, nil
		}
		if r, err = s.reversals.Reversal(ctx, r.ID); err != nil {
			return nil, err
		}
	}
}

// Reversals (operator) lists requests in the given states (all when none),
// oldest first, at most limit (0: the most, 500).
func (s *Service) Reversals(ctx context.Context, states []ReversalState, limit int) ([]Reversal, error) {
	if limit <= 0 || limit > reversalListMax {
		limit = reversalListMax
	}
	return s.reversals.Reversals(ctx, states, limit)
}

// DecideReversal (operator) approves or rejects request id, which must be
// held, objected or in review, recording actor and reason. Approving
// completes it: from the hold, or, in review, from the recipient's balance
// now (CodeNotReversible, and still in review, if that does not cover it).
// Rejecting releases the hold to the recipient. Errors: CodeNotFound,
// CodeInvalid (no reason), CodeInvalidState (decided already), and
// CodeWrongKind where the original touched a merchant account: a payment to
// a business is refunded by the business, never reversed by an operator.
func (s *Service) DecideReversal(ctx context.Context, id int64, approve bool, actor, reason string) (*Reversal, error) {
	if reason == "" || len(reason) > reasonBytesMax {
		return nil, Errorf(CodeInvalid, "a reason of 1 to %d bytes is required", reasonBytesMax)
	}
	r, err := s.reversals.Reversal(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Kind != TransferSend && r.Kind != TransferDeposit {
		// Requests are made only for these; a row of another kind is a bug
		// or tampering, and an operator does not reverse a merchant either.
		return nil, Errorf(CodeWrongKind, "a %s cannot be reversed; the merchant refunds it", r.Kind)
	}
	to := ReversalRejecting
	if approve {
		to = ReversalCompleting
	}
	for {
		switch r.State {
		case ReversalHeld, ReversalObjected, ReversalReview:
		default:
			return nil, Errorf(CodeInvalidState, "reversal %d is %s", r.ID, r.State)
		}
		from := r.State
		next := *r
		next.State, next.Actor, next.Reason, next.Updated = to, actor, reason, s.cfg.Now().UTC()
		ok, err := s.reversals.UpdateReversal(ctx, &next, from)
		if err != nil {
			return nil, err
		}
		if ok {
			*r = next
			break
		}
		if r, err = s.reversals.Reversal(ctx, id); err != nil {
			return nil, err
		}
	}
	if err := s.advance(ctx, r); err != nil {
		return r, err
	}
	return r, nil
}

// SweepReversals advances the requests that are due (see DueReversals) and
// returns how many it moved. Several wallet processes may sweep at once:
// every step is a compare-and-set or a transfer under the request's key.
func (s *Service) SweepReversals(ctx context.Context) (int, error) {
	now := s.cfg.Now().UTC()
	due, err := s.reversals.DueReversals(ctx, now, now.Add(-reversalLease), reversalSweepMax)
	if err != nil {
		return 0, err
	}
	moved := 0
	var errs []error
	for i := range due {
		r := &due[i]
		before := r.State
		if err := s.advance(ctx, r); err != nil && ErrorCode(err) != CodeNotReversible {
			errs = append(errs, fmt.Errorf("reversal %d: %w", r.ID, err))
		}
		if r.State != before {
			moved++
		}
	}
	return moved, errors.Join(errs...)
}

// sweepReversals runs SweepReversals every cfg.ReversalSweep until ctx ends.
func (s *Service) sweepReversals(ctx context.Context) {
	t := time.NewTicker(s.cfg.ReversalSweep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.SweepReversals(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("reversal sweep", "err", err)
			}
		}
	}
}

// advance takes r as far as it can go now, updating it to what is stored.
// It returns an error when a step could not be taken (r stays where it was;
// a caller or the sweeper tries again).
func (s *Service) advance(ctx context.Context, r *Reversal) error {
	for {
		now := s.cfg.Now().UTC()
		next := *r
		next.Updated = now
		switch r.State {
		case ReversalRequested:
			_, err := s.reversalStep(ctx, r, TransferReversalHold)
			switch ErrorCode(err) {
			case "":
				next.State, next.Held, next.Deadline = ReversalHeld, r.Amount, now.Add(s.cfg.ObjectionWindow)
			case CodeInsufficientFunds:
				// The recipient spent it: hold nothing, and let an operator
				// decide, rather than hold part of it and punish the
				// recipient for a decision not yet made.
				next.State, next.Held = ReversalReview, 0
			default:
				return err
			}
		case ReversalHeld:
			if now.Before(r.Deadline) {
				return nil
			}
			next.State = ReversalCompleting
		case ReversalCompleting:
			_, err := s.reversalStep(ctx, r, TransferReversal)
			switch ErrorCode(err) {
			case "":
				next.State = ReversalCompleted
			case CodeInsufficientFunds:
				// Only without a hold: back to the operator's queue.
				next.State = ReversalReview
				if ok, uerr := s.reversals.UpdateReversal(ctx, &next, r.State); uerr != nil || !ok {
					return errors.Join(err, uerr)
				}
				*r = next
				return Errorf(CodeNotReversible, "the recipient's balance does not cover the reversal of %s; nothing moved", r.OriginalRef)
			default:
				return err
			}
		case ReversalRejecting:
			if r.Held > 0 {
				if _, err := s.reversalStep(ctx, r, TransferReversalRelease); err != nil {
					return err
				}
			}
			next.State = ReversalRejected
		default:
			return nil // objected and review wait for an operator; the rest are final
		}
		ok, err := s.reversals.UpdateReversal(ctx, &next, r.State)
		if err != nil {
			return err
		}
		if ok {
			*r = next
			continue
		}
		fresh, err := s.reversals.Reversal(ctx, r.ID)
		if err != nil {
			return err
		}
		*r = *fresh
	}
}

// reversalStep posts one of r's transfers under its key: the hold
// (recipient → reversals), the completion (the original's exact negation,
// its recipient's share taken from the hold) or the release (reversals →
// recipient). A refusal for want of funds is remembered for the hold (so
// every process sees one outcome) but not for a completion without a hold,
// which an operator may try again later.
func (s *Service) reversalStep(ctx context.Context, r *Reversal, kind TransferKind) (*TransferResult, error) {
	orig, err := s.store.TransferByRef(ctx, r.OriginalRef)
	if err != nil {
		return nil, err
	}
	p := &plan{kind: kind, original: orig, reference: orig.Ref, request: r.ID}
	holds := s.system[SystemReversals]
	switch kind {
	case TransferReversalHold:
		p.key, p.source, p.target, p.amount, p.initiator = reversalKey(r.ID, "hold"), r.Recipient, holds, r.Amount, r.Recipient
	case TransferReversalRelease:
		p.key, p.source, p.target, p.amount, p.initiator = reversalKey(r.ID, "release"), holds, r.Recipient, r.Held, r.Recipient
	case TransferReversal:
		p.key, p.source, p.target, p.initiator = reversalKey(r.ID, "complete"), orig.Target, orig.Source, orig.Source
		p.amount, p.fee, p.commission, p.held = orig.Amount, orig.Fee, orig.Commission, r.Held
	default:
		panic("wallet: not a reversal step: " + string(kind))
	}
	p.hash = requestHash(string(kind), strconv.FormatInt(r.ID, 10), strconv.FormatInt(p.amount, 10), strconv.FormatInt(p.held, 10))
	res := s.call(ctx, &op{kind: opTransfer, plan: p})
	return res.Transfer, res.Err
}
