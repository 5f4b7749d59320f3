package wallet

import (
	"context"
	"sync"
	"time"
)

// RuleOutcome is what a fraud rule decides about a transfer.
type RuleOutcome string

const (
	RuleAllow  RuleOutcome = "allow"  // the transfer goes on
	RuleReview RuleOutcome = "review" // the transfer is held: no money moves until an operator approves it
	RuleBlock  RuleOutcome = "block"  // the transfer is refused (CodeRuleBlocked)
)

// RuleFacts is what the rules see of a transfer: before it is made
// (RuleChecker.Check), and once it is committed (RuleChecker.Committed).
type RuleFacts struct {
	Kind   TransferKind
	Source int64 // the account debited the principal
	Target int64 // the account credited it
	Amount int64 // the principal, minor units
	Time   time.Time
}

// RuleDecision is a RuleChecker's answer: the outcome, the rule that fired
// ("" when none did) and what it saw, in words for the record.
type RuleDecision struct {
	Outcome RuleOutcome `json:"outcome"`
	Rule    string      `json:"rule,omitempty"`
	Saw     string      `json:"saw,omitempty"`
}

// RuleChecker evaluates the fraud rules (wallet/rules implements it over a
// rules file). Check must be cheap — it runs on every customer transfer, so
// it keeps what it needs in memory and reads no database — and Committed
// feeds it each transfer the wallet made, from the caller's goroutine once
// the transfer committed. Neither may block.
//
// Config.Rules turns the rules on. A customer's send, withdrawal, till or
// paybill payment, airtime purchase and an agent's deposit are checked
// (after the SIM-swap gate). A block refuses the transfer with
// CodeRuleBlocked; a review holds it (CodeHeldForReview): with the PIN
// checked, the request (never the PIN) is recorded in the review queue
// with the rule and what it saw, and no money moves until an operator
// approves it (ApproveReview: the transfer is made under its original key,
// once) or rejects it (RejectReview: it never is). The decision is
// recorded in the review queue with the operator and the reason (the NATS
// API's operator subjects record it in the audit log too, before and
// after), and the customer is told by SMS
// (NoticeReviewReleased, NoticeReviewRefused).
//
// At start (New) the wallet warms a RuleChecker with the transfers of the
// last Window() from the database, at most rulesWarmMax of them, through
// Committed. Each wallet process feeds its own checker: with several
// wallets, a checker sees the transfers its process made and those made
// before it started.
type RuleChecker interface {
	Check(f RuleFacts) RuleDecision
	Committed(f RuleFacts)
	// Window is how far back the rules look: the longest window.
	Window() time.Duration
}

// rulesWarmMax bounds the transfers read at start to warm the rules: a
// few seconds of reading, and the checker's memory, at most.
const rulesWarmMax = 2_000_000

// rulesWarmPage is one read of the transfers that warm the rules.
const rulesWarmPage = 2000

// rulesWarm feeds the rules the transfers of their window.
func (s *Service) rulesWarm(ctx context.Context) error {
	now := s.cfg.Now()
	after := FirstTransferID(now.Add(-s.cfg.Rules.Window())) - 1
	n := 0
	for n < rulesWarmMax {
		ts, err := s.store.TransfersAfter(ctx, after, rulesWarmPage)
		if err != nil {
			return err
		}
		for i := range ts {
			t := &ts[i]
			if ruleKind(t.Kind) {
				s.cfg.Rules.Committed(RuleFacts{Kind: t.Kind, Source: t.Source, Target: t.Target, Amount: t.Amount, Time: t.Created})
			}
		}
		n += len(ts)
		if len(ts) < rulesWarmPage {
			s.log.Info("fraud rules warmed", "transfers", n, "since", now.Add(-s.cfg.Rules.Window()))
			return nil
		}
		after = ts[len(ts)-1].ID
	}
	s.log.Warn("fraud rules warmed with the first transfers of their window only", "transfers", n, "max", rulesWarmMax)
	return nil
}

// ReviewStatus is where a held (or blocked) transfer is in the review queue.
type ReviewStatus string

const (
	ReviewHeld      ReviewStatus = "held"      // waiting for an operator
	ReviewApproving ReviewStatus = "approving" // an operator approved it; the transfer is being made
	ReviewApproved  ReviewStatus = "approved"  // released: the transfer was made (Review.Ref)
	ReviewFailed    ReviewStatus = "failed"    // approved, but the wallet refused the transfer (Review.Error)
	ReviewRejected  ReviewStatus = "rejected"  // refused by an operator: no money moved
	ReviewBlocked   ReviewStatus = "blocked"   // refused by a block rule: recorded, never queued
)

// Review is one decision of a rule that fired, as the review queue keeps
// it: a held transfer waiting for an operator, a decided one, or a block.
type Review struct {
	ID      int64           `json:"id"`
	Key     string          `json:"key"` // the transfer's idempotency key
	Status  ReviewStatus    `json:"status"`
	Rule    string          `json:"rule"`
	Outcome RuleOutcome     `json:"outcome"`
	Saw     string          `json:"saw"`
	Request TransferRequest `json:"request"` // without its PIN
	Account int64           `json:"account"` // the account debited
	Created time.Time       `json:"created"`
	// Decided, Operator and Reason are set once an operator decided.
	Decided  time.Time `json:"decided,omitempty"`
	Operator string    `json:"operator,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Ref      string    `json:"ref,omitempty"`   // the transfer made on approval
	Error    Code      `json:"error,omitempty"` // why the wallet refused it on approval
}

// ReviewStore keeps the review queue (wallet/store implements it). The
// wallet's Store must implement it when Config.Rules is set.
type ReviewStore interface {
	// AddReview records r and sets its ID.
	AddReview(ctx context.Context, r *Review) error
	// ReviewByID returns a review; CodeNotFound when there is none.
	ReviewByID(ctx context.Context, id int64) (*Review, error)
	// Reviews returns up to limit reviews with this status ("" for any),
	// oldest first, with ids above after.
	Reviews(ctx context.Context, status ReviewStatus, after int64, limit int) ([]Review, error)
	// UpdateReview saves r's status and decision fields if its stored
	// status is from; CodeInvalidState when it is not.
	UpdateReview(ctx context.Context, r *Review, from ReviewStatus) error
}

// ReviewsMax bounds one page of the review queue.
const ReviewsMax = 500

// reviewReasonBytesMax bounds an operator's reason, and
// reviewOperatorBytesMax their name: the review queue's columns.
const (
	reviewReasonBytesMax   = 200
	reviewOperatorBytesMax = 64
)

// Notices to the customer about a held transfer (Config.Notify).
const (
	NoticeReviewReleased NoticeKind = "review_released" // approved: the transfer was made
	NoticeReviewRefused  NoticeKind = "review_refused"  // rejected, or refused by the wallet on approval
)

// approvedPIN stands in for the PIN of a held transfer, which was checked
// when it was held and is never kept, so that prepare accepts the request
// on approval; the plan is then made with no actor, so no PIN is checked.
const approvedPIN = "-"

func errHeldForReview() *Error {
	return Errorf(CodeHeldForReview, "this transfer is held for review; you will get an SMS when it is released or refused")
}

func errRuleBlocked() *Error {
	return Errorf(CodeRuleBlocked, "this transfer is not allowed; call customer care")
}

// reviewKeys remembers, in this process, the keys of the transfers held or
// refused by review, so that a retry of one is answered as such rather than
// checked (and maybe made) again. It is loaded from the queue at start.
type reviewKeys struct {
	m sync.Map // key → ReviewStatus
}

// rulesGated reports whether p is a transfer the rules check.
func (s *Service) rulesGated(p *plan) bool {
	return s.cfg.Rules != nil && p.actor != 0 && ruleKind(p.kind)
}

// ruleKind reports whether the rules check (and are fed) transfers of kind
// k: a customer's PIN kinds and an agent's deposit.
func ruleKind(k TransferKind) bool {
	switch k {
	case TransferSend, TransferWithdraw, TransferTill, TransferPaybill, TransferAirtime, TransferDeposit:
		return true
	}
	return false
}

func factsOf(p *plan, now time.Time) RuleFacts {
	return RuleFacts{Kind: p.kind, Source: p.source, Target: p.target, Amount: p.amount, Time: now}
}

// rulesCheck checks p (rulesGated) against the rules, in memory: a
// decision that fired (RuleDecision.fired) is for rulesHold to act on; an
// error is the answer to a retry of a transfer already held or rejected.
func (s *Service) rulesCheck(p *plan) (RuleDecision, error) {
	if st, ok := s.reviews.m.Load(p.key); ok {
		if st == ReviewRejected {
			return RuleDecision{}, errRuleBlocked() // never made
		}
		return RuleDecision{}, errHeldForReview()
	}
	return s.cfg.Rules.Check(factsOf(p, s.cfg.Now())), nil
}

// fired reports whether d holds or refuses its transfer.
func (d RuleDecision) fired() bool { return d.Outcome == RuleReview || d.Outcome == RuleBlock }

// rulesHold acts on a rule that fired on p: only then does the gate read
// or write the database. A replay of a key already used is let through to
// return its first result; else the PIN is checked, and the decision is
// recorded in the review queue and refuses or holds the transfer.
func (s *Service) rulesHold(ctx context.Context, p *plan, req TransferRequest, d RuleDecision) error {
	if _, err := s.store.Outcome(ctx, p.key); err == nil {
		return nil
	} else if ErrorCode(err) != CodeNotFound {
		return err
	}
	if r := s.call(ctx, &op{kind: opVerifyPIN, account: p.actor, pin: req.PIN, attempt: p.attempt}); r.Err != nil {
		return r.Err
	}
	req.PIN, req.Source, req.Attempt, req.LegacyKey = "", "", "", ""
	rv := &Review{Key: p.key, Status: ReviewHeld, Rule: d.Rule, Outcome: d.Outcome, Saw: d.Saw, Request: req,
		Account: p.source, Created: s.cfg.Now().UTC()}
	if d.Outcome == RuleBlock {
		rv.Status = ReviewBlocked
	}
	if err := s.reviewStore.AddReview(ctx, rv); err != nil {
		return err
	}
	s.log.Warn("fraud rule fired", "rule", d.Rule, "outcome", d.Outcome, "saw", d.Saw, "review", rv.ID, "kind", p.kind, "amount", p.amount)
	if d.Outcome == RuleBlock {
		return errRuleBlocked()
	}
	s.reviews.m.Store(p.key, ReviewHeld)
	return errHeldForReview()
}

// rulesCommitted feeds a transfer the writer made (not a replay) to the rules.
func (s *Service) rulesCommitted(p *plan, r *TransferResult) {
	if r == nil || r.Replayed || !s.rulesGated(p) {
		return
	}
	s.cfg.Rules.Committed(RuleFacts{Kind: p.kind, Source: p.source, Target: p.target, Amount: p.amount, Time: r.Transfer.Created})
}

// loadReviews remembers the keys of the held and rejected transfers.
func (s *Service) loadReviews(ctx context.Context) error {
	for _, st := range []ReviewStatus{ReviewHeld, ReviewApproving, ReviewRejected} {
		var after int64
		for {
			rs, err := s.reviewStore.Reviews(ctx, st, after, ReviewsMax)
			if err != nil {
				return err
			}
			for _, r := range rs {
				s.reviews.m.Store(r.Key, st)
			}
			if len(rs) < ReviewsMax {
				break
			}
			after = rs[len(rs)-1].ID
		}
	}
	return nil
}

// Reviews returns up to limit (at most ReviewsMax) entries of the review
// queue with this status ("" for any) and ids above after, oldest first.
func (s *Service) Reviews(ctx context.Context, status ReviewStatus, after int64, limit int) ([]Review, error) {
	if s.reviewStore == nil {
		return nil, Errorf(CodeInvalidState, "the fraud rules are off")
	}
	if limit <= 0 || limit > ReviewsMax {
		limit = ReviewsMax
	}
	return s.reviewStore.Reviews(ctx, status, after, limit)
}

// ApproveReview releases the held transfer id: it is made under its
// original idempotency key, so it moves money once however often it is
// approved. An approval interrupted (a crash, a timeout) may be approved
// again. It returns the review as decided: ReviewApproved with the
// transfer's ref, or ReviewFailed with the wallet's refusal (the balance
// no longer covers it, the account was frozen…). CodeInvalidState when the
// transfer is not held; CodeInvalid without an operator or a reason.
func (s *Service) ApproveReview(ctx context.Context, id int64, operator, reason string) (*Review, error) {
	r, err := s.reviewStart(ctx, id, operator, reason, true)
	if err != nil {
		return nil, err
	}
	if r.Status == ReviewHeld {
		r.Status, r.Decided, r.Operator, r.Reason = ReviewApproving, s.cfg.Now().UTC(), operator, reason
		if err := s.reviewStore.UpdateReview(ctx, r, ReviewHeld); err != nil {
			return nil, err
		}
		s.reviews.m.Store(r.Key, ReviewApproving)
	}
	req := r.Request
	req.PIN = approvedPIN
	p, err := s.prepare(ctx, req)
	var res Result
	if err == nil {
		p.actor = 0 // checked when held
		res = s.call(ctx, &op{kind: opTransfer, plan: p})
		err = res.Err
	}
	switch code := ErrorCode(err); {
	case err == nil:
		r.Status, r.Ref = ReviewApproved, res.Transfer.Transfer.Ref
		p.actor = r.Account
		s.rulesCommitted(p, res.Transfer)
	case code == CodeUnavailable || code == CodeInternal || code == CodeInFlight:
		return nil, err // stays approving: approve again
	default:
		r.Status, r.Error = ReviewFailed, code
	}
	if err := s.reviewStore.UpdateReview(ctx, r, ReviewApproving); err != nil {
		return nil, err
	}
	s.reviews.m.Delete(r.Key)
	s.reviewNotify(ctx, r)
	return r, nil
}

// RejectReview refuses the held transfer id: it is never made, and a retry
// under its key is refused (CodeRuleBlocked). CodeInvalidState when it is
// not held.
func (s *Service) RejectReview(ctx context.Context, id int64, operator, reason string) (*Review, error) {
	r, err := s.reviewStart(ctx, id, operator, reason, false)
	if err != nil {
		return nil, err
	}
	if r.Status != ReviewHeld {
		return nil, Errorf(CodeInvalidState, "review %d is %s, not held", id, r.Status)
	}
	r.Status, r.Decided, r.Operator, r.Reason = ReviewRejected, s.cfg.Now().UTC(), operator, reason
	if err := s.reviewStore.UpdateReview(ctx, r, ReviewHeld); err != nil {
		return nil, err
	}
	s.reviews.m.Store(r.Key, ReviewRejected)
	s.reviewNotify(ctx, r)
	return r, nil
}

// reviewStart checks an operator's decision and loads the review: held,
// or approving for an approval.
func (s *Service) reviewStart(ctx context.Context, id int64, operator, reason string, approve bool) (*Review, error) {
	if s.reviewStore == nil {
		return nil, Errorf(CodeInvalidState, "the fraud rules are off")
	}
	if operator == "" || len(operator) > reviewOperatorBytesMax || reason == "" || len(reason) > reviewReasonBytesMax {
		return nil, Errorf(CodeInvalid, "an operator of 1 to %d bytes and a reason of 1 to %d are required", reviewOperatorBytesMax, reviewReasonBytesMax)
	}
	r, err := s.reviewStore.ReviewByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Status != ReviewHeld && !(r.Status == ReviewApproving && approve) {
		return nil, Errorf(CodeInvalidState, "review %d is %s, not held", id, r.Status)
	}
	return r, nil
}

// reviewNotify tells the customer a held transfer was released or refused.
func (s *Service) reviewNotify(ctx context.Context, r *Review) {
	a, err := s.store.AccountByID(ctx, r.Account)
	if err != nil {
		s.log.Error("review decided; the customer's notice not sent", "review", r.ID, "err", err)
		return
	}
	kind := NoticeReviewRefused
	if r.Status == ReviewApproved {
		kind = NoticeReviewReleased
	}
	s.notify(Notice{Kind: kind, Account: a.Account(), At: s.cfg.Now()})
}
