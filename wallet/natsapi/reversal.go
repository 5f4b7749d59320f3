package natsapi

import (
	"context"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// The reversal request subjects (wallet.Reversal). A customer asks and a
// recipient objects through the gateway; an operator lists and decides.
const (
	SubjectReversalRequest = SubjectPrefix + ".reversal.request" // ReversalAsk → wallet.Reversal
	SubjectReversalObject  = SubjectPrefix + ".reversal.object"  // ReversalObjection → wallet.Reversal
	SubjectReversalList    = SubjectPrefix + ".reversal.list"    // operator: ReversalQuery → ReversalList
	SubjectReversalApprove = SubjectPrefix + ".reversal.approve" // operator: ReversalDecision → wallet.Reversal
	SubjectReversalReject  = SubjectPrefix + ".reversal.reject"  // operator: ReversalDecision → wallet.Reversal
)

// ReversalOperatorSubjects are the reversal subjects only operators may
// call (their declarations say Operator, so they are in OperatorSubjects).
var ReversalOperatorSubjects = []string{SubjectReversalList, SubjectReversalApprove, SubjectReversalReject}

// ReversalAsk asks to reverse the transfer Ref that the account Phone
// operates sent, with that account's PIN.
type ReversalAsk struct {
	Phone string `json:"phone"`
	Ref   string `json:"ref"`
	PIN   string `json:"pin"`
}

// ReversalObjection is the recipient's objection to the reversal of Ref.
type ReversalObjection struct {
	Phone  string `json:"phone"`
	Ref    string `json:"ref"`
	Reason string `json:"reason,omitempty"`
}

// ReversalQuery lists requests in the given states (all when none).
type ReversalQuery struct {
	States []wallet.ReversalState `json:"states,omitempty"`
	Limit  int                    `json:"limit,omitempty"`
}

// ReversalList is a listing of requests, oldest first.
type ReversalList struct {
	Reversals []wallet.Reversal `json:"reversals"`
}

// ReversalDecision approves or rejects request ID. The reason is the
// request's Kibubu-Reason header (WithOperator), the actor its
// Kibubu-Actor; both are required.
type ReversalDecision struct {
	ID int64 `json:"id"`
}

// reversal serves the reversal endpoints.
func (s *server) reversal(m natsrpc.Mux) {
	ReversalRequest.Handle(m, func(ctx context.Context, q ReversalAsk) (*wallet.Reversal, error) {
		return s.w.RequestReversal(ctx, q.Phone, q.Ref, q.PIN)
	})
	ReversalObject.Handle(m, func(ctx context.Context, q ReversalObjection) (*wallet.Reversal, error) {
		return s.w.ObjectReversal(ctx, q.Phone, q.Ref, q.Reason)
	})
	Reversals.Handle(m, func(ctx context.Context, q ReversalQuery) (*ReversalList, error) {
		rs, err := s.w.Reversals(ctx, q.States, q.Limit)
		if rs == nil {
			rs = []wallet.Reversal{}
		}
		return &ReversalList{Reversals: rs}, err
	})
	decide := func(approve bool) func(context.Context, ReversalDecision) (*wallet.Reversal, error) {
		return func(ctx context.Context, q ReversalDecision) (*wallet.Reversal, error) {
			h := requestHeader(ctx)
			actor, reason := h.Get(HeaderActor), h.Get(HeaderReason)
			if actor == "" {
				return nil, wallet.Errorf(wallet.CodeInvalid, "a reversal decision needs the operator's name (%s)", HeaderActor)
			}
			return s.w.DecideReversal(ctx, q.ID, approve, actor, reason)
		}
	}
	ReversalApprove.Handle(m, decide(true))
	ReversalReject.Handle(m, decide(false))
}

// RequestReversal asks to reverse transfer ref, which the account phone
// operates sent, with its PIN (wallet.Service.RequestReversal).
func (c *Client) RequestReversal(ctx context.Context, phone, ref, pin string) (*wallet.Reversal, error) {
	return ReversalRequest.Call(ctx, c, ReversalAsk{Phone: phone, Ref: ref, PIN: pin})
}

// ObjectReversal records the objection of the recipient phone to the
// reversal of transfer ref.
func (c *Client) ObjectReversal(ctx context.Context, phone, ref, reason string) (*wallet.Reversal, error) {
	return ReversalObject.Call(ctx, c, ReversalObjection{Phone: phone, Ref: ref, Reason: reason})
}

// Reversals (operator) lists reversal requests in the given states.
func (c *Client) Reversals(ctx context.Context, states []wallet.ReversalState, limit int) ([]wallet.Reversal, error) {
	r, err := Reversals.Call(ctx, c, ReversalQuery{States: states, Limit: limit})
	return r.Reversals, err
}

// DecideReversal (operator) approves or rejects request id; ctx must carry
// the operator and the reason (WithOperator).
func (c *Client) DecideReversal(ctx context.Context, id int64, approve bool) (*wallet.Reversal, error) {
	e := ReversalReject
	if approve {
		e = ReversalApprove
	}
	return e.Call(ctx, c, ReversalDecision{ID: id})
}
