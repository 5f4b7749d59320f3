package merchantapi

import (
	"context"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// A customer's approvals: they act for a phone, with its PIN where money moves.

const (
	SubjectApprovals = natsapi.SubjectPrefix + ".approvals.list"
	SubjectApprove   = natsapi.SubjectPrefix + ".approvals.approve"
	SubjectDecline   = natsapi.SubjectPrefix + ".approvals.decline"
)

// ApprovalsRequest asks what waits for a customer's approval.
type ApprovalsRequest struct {
	Phone string `json:"phone"`
}

// ApprovalsReply lists it, oldest first.
type ApprovalsReply struct {
	Approvals []merchant.Approval `json:"approvals"`
}

// ApproveRequest approves or declines one approval, with the customer's
// PIN either way.
type ApproveRequest struct {
	Phone string `json:"phone"`
	ID    string `json:"id"`
	PIN   string `json:"pin,omitempty"`
	// Source and Attempt: where the PIN came from and which try it is
	// (wallet.PINAttempt), filled by the client from the context: a
	// retried approval hop counts a wrong PIN once.
	Source  string `json:"source,omitempty"`
	Attempt string `json:"attempt,omitempty"`
}

// The endpoints, declared once.
var (
	// A customer's approvals: they act for a phone, with its PIN where
	// money moves.
	Approvals = natsrpc.Endpoint[ApprovalsRequest, ApprovalsReply]{Subject: SubjectApprovals}
	Approve   = natsrpc.Endpoint[ApproveRequest, merchant.ApproveResult]{Subject: SubjectApprove}
	Decline   = natsrpc.Endpoint[ApproveRequest, merchant.Approval]{Subject: SubjectDecline}
)

// registerApprovals binds each endpoint above to the merchant.Service method that
// answers it (see Register).
func registerApprovals(m natsrpc.Mux, c *merchant.Service, payloadMax func() int64) {
	Approvals.Handle(m, func(ctx context.Context, q ApprovalsRequest) (*ApprovalsReply, error) {
		as, err := c.Approvals(ctx, q.Phone)
		return &ApprovalsReply{Approvals: as}, err
	})
	Approve.Handle(m, func(ctx context.Context, q ApproveRequest) (*merchant.ApproveResult, error) {
		return c.Approve(wallet.WithPINAttempt(ctx, q.attempt()), q.Phone, q.ID, q.PIN)
	})
	Decline.Handle(m, func(ctx context.Context, q ApproveRequest) (*merchant.Approval, error) {
		return c.Decline(wallet.WithPINAttempt(ctx, q.attempt()), q.Phone, q.ID, q.PIN)
	})
}

func (q ApproveRequest) attempt() wallet.PINAttempt {
	return wallet.PINAttempt{Source: q.Source, Key: q.Attempt}
}
