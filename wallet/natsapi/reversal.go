package natsapi

import (
	"context"

	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
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

// ReversalOperatorSubjects are the reversal subjects in OperatorSubjects.
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

// reversal adds the reversal subjects.
func (s *server) reversal(add func(string, micro.HandlerFunc)) {
	w := s.w
	add(SubjectReversalRequest, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q ReversalAsk
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		return w.RequestReversal(ctx, q.Phone, q.Ref, q.PIN)
	}))
	add(SubjectReversalObject, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q ReversalObjection
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		return w.ObjectReversal(ctx, q.Phone, q.Ref, q.Reason)
	}))
	add(SubjectReversalList, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q ReversalQuery
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		rs, err := w.Reversals(ctx, q.States, q.Limit)
		if rs == nil {
			rs = []wallet.Reversal{}
		}
		return ReversalList{Reversals: rs}, err
	}))
	decide := func(approve bool) micro.HandlerFunc {
		return s.async(func(ctx context.Context, r micro.Request) (any, error) {
			var q ReversalDecision
			if err := decode(r, &q); err != nil {
				return nil, err
			}
			actor, reason := r.Headers().Get(HeaderActor), r.Headers().Get(HeaderReason)
			if actor == "" {
				return nil, wallet.Errorf(wallet.CodeInvalid, "a reversal decision needs the operator's name (%s)", HeaderActor)
			}
			return w.DecideReversal(ctx, q.ID, approve, actor, reason)
		})
	}
	add(SubjectReversalApprove, decide(true))
	add(SubjectReversalReject, decide(false))
}

// RequestReversal asks to reverse transfer ref, which the account phone
// operates sent, with its PIN (wallet.Service.RequestReversal).
func (c *Client) RequestReversal(ctx context.Context, phone, ref, pin string) (*wallet.Reversal, error) {
	var r wallet.Reversal
	return &r, c.Call(ctx, SubjectReversalRequest, ReversalAsk{Phone: phone, Ref: ref, PIN: pin}, &r)
}

// ObjectReversal records the objection of the recipient phone to the
// reversal of transfer ref.
func (c *Client) ObjectReversal(ctx context.Context, phone, ref, reason string) (*wallet.Reversal, error) {
	var r wallet.Reversal
	return &r, c.Call(ctx, SubjectReversalObject, ReversalObjection{Phone: phone, Ref: ref, Reason: reason}, &r)
}

// Reversals (operator) lists reversal requests in the given states.
func (c *Client) Reversals(ctx context.Context, states []wallet.ReversalState, limit int) ([]wallet.Reversal, error) {
	var r ReversalList
	err := c.Call(ctx, SubjectReversalList, ReversalQuery{States: states, Limit: limit}, &r)
	return r.Reversals, err
}

// DecideReversal (operator) approves or rejects request id; ctx must carry
// the operator and the reason (WithOperator).
func (c *Client) DecideReversal(ctx context.Context, id int64, approve bool) (*wallet.Reversal, error) {
	subject := SubjectReversalReject
	if approve {
		subject = SubjectReversalApprove
	}
	var r wallet.Reversal
	return &r, c.Call(ctx, subject, ReversalDecision{ID: id}, &r)
}
