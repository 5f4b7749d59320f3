package wallet

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"
	"time"
)

// Maker-checker: an operator action that moves money (a float issue) or
// changes what an account may move (a tier change) is
// proposed by one operator (the maker) and takes effect only when another
// (the checker) approves it. The wallet enforces both halves: a proposal
// is checked when made, the checker must not be its maker, and approval
// executes it exactly once (a float issue's idempotency key is its bank
// reference, so even an approval retried after a crash moves money once).

// ProposalKind is what a proposal would do.
type ProposalKind string

// The kinds of proposal.
const (
	// ProposalFloatIssue issues Amount of e-float to agent Target against
	// the bank deposit Reference (the float issue's idempotency key).
	ProposalFloatIssue ProposalKind = "float_issue"
	// ProposalTierChange moves customer Target to Tier, and so to that
	// tier's limits. Its Reference is made by the wallet (a proposal's
	// (kind, reference) is unique); one change per account is pending at
	// a time.
	ProposalTierChange ProposalKind = "tier_change"
)

// ProposalState is where a proposal is.
type ProposalState string

// The states. A proposal is pending until a checker decides; approving
// while it executes (a crash leaves it there, and approving it again
// finishes it); then approved (executed), failed (the execution was
// refused: Result says why) or rejected.
const (
	ProposalPending   ProposalState = "pending"
	ProposalApproving ProposalState = "approving"
	ProposalApproved  ProposalState = "approved"
	ProposalFailed    ProposalState = "failed"
	ProposalRejected  ProposalState = "rejected"
)

// ProposalReasonBytesMax bounds a maker's or checker's reason: what the
// audit log keeps.
const ProposalReasonBytesMax = AuditReasonBytesMax

// proposalResultBytesMax bounds a failed proposal's stored reason.
const proposalResultBytesMax = 200

// proposalsPageMax bounds one listing of proposals.
const proposalsPageMax = 200

// Proposal is one maker-checker request.
type Proposal struct {
	ID            int64         `json:"id"`
	Kind          ProposalKind  `json:"kind"`
	Target        string        `json:"target"`              // the agent's (float) or customer's (tier) number
	Amount        int64         `json:"amount,omitempty"`    // minor units (float)
	Reference     string        `json:"reference,omitempty"` // the bank deposit's reference (float); the wallet's (tier)
	Tier          Tier          `json:"tier,omitempty"`      // the tier proposed (tier change)
	State         ProposalState `json:"state"`
	Maker         string        `json:"maker"`
	MakerReason   string        `json:"maker_reason"`
	Checker       string        `json:"checker,omitempty"`
	CheckerReason string        `json:"checker_reason,omitempty"`
	Result        string        `json:"result,omitempty"` // the transfer's ref, or why it failed
	Created       time.Time     `json:"created"`
	Decided       time.Time     `json:"decided,omitzero"`
}

// ProposalStore keeps proposals.
type ProposalStore interface {
	// CreateProposal inserts p, setting its ID; CodeExists if a proposal of
	// the same kind has the same reference.
	CreateProposal(ctx context.Context, p *Proposal) error
	// Proposal returns proposal id; CodeNotFound when none.
	Proposal(ctx context.Context, id int64) (*Proposal, error)
	// Proposals lists proposals in states (all when none), newest first.
	Proposals(ctx context.Context, states []ProposalState, limit int) ([]Proposal, error)
	// UpdateProposal writes p's state, checker and result if the stored
	// state is still from, and reports whether it did.
	UpdateProposal(ctx context.Context, p *Proposal, from ProposalState) (bool, error)
}

// Propose records maker's proposal p (Kind, Target, Amount, Reference) with
// the maker's reason, pending a checker.
func (s *Service) Propose(ctx context.Context, p Proposal, maker, reason string) (*Proposal, error) {
	st, err := s.operators()
	if err != nil {
		return nil, err
	}
	if err := checkActor(maker, reason); err != nil {
		return nil, err
	}
	switch p.Kind {
	case ProposalFloatIssue:
		p.Reference = strings.TrimSpace(p.Reference)
		if p.Reference == "" || len(p.Reference) > ReferenceBytesMax {
			return nil, Errorf(CodeInvalid, "a bank reference of 1 to %d bytes is required", ReferenceBytesMax)
		}
		if p.Amount <= 0 {
			return nil, Errorf(CodeInvalidAmount, "the amount must be positive")
		}
		a, err := s.record(ctx, strings.TrimSpace(p.Target))
		if err != nil {
			return nil, err
		}
		if a.Kind != KindAgent {
			return nil, Errorf(CodeWrongKind, "float is issued to an agent; %s is a %s", a.Number, a.Kind)
		}
		p.Target = a.Number
		p.Tier = 0
	case ProposalTierChange:
		a, err := s.record(ctx, strings.TrimSpace(p.Target))
		if err != nil {
			return nil, err
		}
		if err := s.tierChangeable(a, p.Tier); err != nil {
			return nil, err
		}
		if err := pendingTierChange(ctx, st, a.Number); err != nil {
			return nil, err
		}
		p.Target, p.Amount, p.Reference = a.Number, 0, tierReference()
	default:
		return nil, Errorf(CodeInvalid, "unknown proposal kind %q", clip(string(p.Kind)))
	}
	now := s.cfg.Now().UTC()
	p.ID, p.State, p.Maker, p.MakerReason, p.Created = 0, ProposalPending, maker, reason, now
	p.Checker, p.CheckerReason, p.Result, p.Decided = "", "", "", time.Time{}
	if err := st.CreateProposal(ctx, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// checkActor refuses a missing operator or reason, or one too long.
func checkActor(actor, reason string) error {
	switch {
	case strings.TrimSpace(actor) == "":
		return Errorf(CodeInvalid, "the operator is required")
	case strings.TrimSpace(reason) == "":
		return Errorf(CodeInvalid, "a reason is required")
	case len(reason) > ProposalReasonBytesMax:
		return Errorf(CodeInvalid, "a reason is at most %d bytes", ProposalReasonBytesMax)
	}
	return nil
}

// Proposals lists proposals in states (all when none), newest first.
func (s *Service) Proposals(ctx context.Context, states []ProposalState, limit int) ([]Proposal, error) {
	st, err := s.operators()
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > proposalsPageMax {
		limit = proposalsPageMax
	}
	ps, err := st.Proposals(ctx, states, limit)
	if ps == nil {
		ps = []Proposal{}
	}
	return ps, err
}

// Decide approves or rejects proposal id as checker, with a reason. The
// checker must not be its maker (CodeForbidden). Approval executes the
// proposal; a proposal left approving by a crash is finished by approving
// it again. Anything else not pending is CodeInvalidState.
func (s *Service) Decide(ctx context.Context, id int64, approve bool, checker, reason string) (*Proposal, error) {
	st, err := s.operators()
	if err != nil {
		return nil, err
	}
	if err := checkActor(checker, reason); err != nil {
		return nil, err
	}
	p, err := st.Proposal(ctx, id)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(p.Maker, checker) {
		return nil, Errorf(CodeForbidden, "a proposal is decided by someone other than its maker")
	}
	from := p.State
	switch {
	case from == ProposalPending, from == ProposalApproving && approve && strings.EqualFold(p.Checker, checker):
	default:
		return nil, Errorf(CodeInvalidState, "proposal %d is %s", id, p.State)
	}
	p.Checker, p.CheckerReason, p.Decided = checker, reason, s.cfg.Now().UTC()
	p.State = ProposalRejected
	if approve {
		p.State = ProposalApproving
	}
	if from != p.State {
		ok, err := st.UpdateProposal(ctx, p, from)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, Errorf(CodeInvalidState, "proposal %d was decided meanwhile", id)
		}
	}
	if !approve {
		return p, nil
	}
	res, terr := s.execute(ctx, st, p)
	switch {
	case terr == nil:
		p.State, p.Result = ProposalApproved, res
	case ErrorCode(terr) == CodeUnavailable || ErrorCode(terr) == CodeInternal || ErrorCode(terr) == CodeInFlight:
		// Not known to be refused: the proposal stays approving, and the
		// checker approves it again (the same key moves money once).
		return nil, terr
	default:
		p.State, p.Result = ProposalFailed, clipBytes(terr.Error(), proposalResultBytesMax)
	}
	if _, err := st.UpdateProposal(ctx, p, ProposalApproving); err != nil {
		return nil, err
	}
	return p, nil
}

// FloatKey is the idempotency key of the float issue against bank
// reference ref, the same from the command line and a proposal.
func FloatKey(ref string) string { return "float:" + ref }

// execute carries out approved proposal p once, and returns its result: a
// float issue's transfer ref, or the tier a customer is now in. Executing
// it again (an approval retried after a crash) changes nothing more.
func (s *Service) execute(ctx context.Context, st OperatorStore, p *Proposal) (string, error) {
	switch p.Kind {
	case ProposalFloatIssue:
		res, err := s.Transfer(ctx, TransferRequest{Key: FloatKey(p.Reference), Kind: TransferFloat, To: p.Target, Amount: p.Amount, Reference: p.Reference})
		if err != nil {
			return "", err
		}
		return res.Transfer.Ref, nil
	case ProposalTierChange:
		done := fmt.Sprintf("tier %d", p.Tier)
		a, err := s.record(ctx, p.Target)
		if err != nil {
			return "", err
		}
		if a.Tier == p.Tier {
			// Executed before a crash (one change per account is pending at
			// a time, and nothing else sets a tier).
			return done, nil
		}
		if err := s.tierChangeable(a, p.Tier); err != nil {
			return "", err
		}
		ok, err := st.SetTier(ctx, a.ID, a.Tier, p.Tier)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", Errorf(CodeInvalidState, "%s changed meanwhile (frozen, or another tier); propose again", a.Number)
		}
		return done, nil
	}
	return "", Errorf(CodeInvalid, "unknown proposal kind %q", clip(string(p.Kind)))
}

// tierChangeable refuses moving a to tier: only an active customer moves,
// to another tier the wallet has limits for.
func (s *Service) tierChangeable(a *AccountRecord, tier Tier) error {
	switch _, known := s.cfg.Tiers[tier]; {
	case a.Kind != KindCustomer:
		return Errorf(CodeWrongKind, "a tier is a customer's; %s is a %s", a.Number, a.Kind)
	case !known:
		return Errorf(CodeInvalid, "unknown tier %d", tier)
	case a.Tier == tier:
		return Errorf(CodeInvalid, "%s is already in tier %d", a.Number, tier)
	case a.Status != StatusActive:
		return Errorf(CodeAccountFrozen, "%s is %s: unfreeze it before changing its tier", a.Number, a.Status)
	}
	return nil
}

// pendingTierChange refuses a second tier change for account number while
// one is pending or approving (as Fineract refuses a duplicate pending
// maker submission). The pending queue is bounded by what a listing shows.
func pendingTierChange(ctx context.Context, st ProposalStore, number string) error {
	ps, err := st.Proposals(ctx, []ProposalState{ProposalPending, ProposalApproving}, proposalsPageMax)
	if err != nil {
		return err
	}
	for _, q := range ps {
		if q.Kind == ProposalTierChange && q.Target == number {
			return Errorf(CodeExists, "a tier change for %s is already waiting for a checker (proposal %d)", number, q.ID)
		}
	}
	return nil
}

// tierReferenceBytes is the randomness of a tier change's reference: its
// only job is to keep (kind, reference) unique.
const tierReferenceBytes = 10

// tierReference is a new tier change's reference: 16 base32 characters.
func tierReference() string {
	b := make([]byte, tierReferenceBytes)
	rand.Read(b)
	return base32.StdEncoding.EncodeToString(b)
}
