package natsapi

import (
	"context"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// The review queue's subjects (wallet.Review): transfers a fraud rule held,
// listed and decided by operators. The decisions are audited (operator
// subjects that are not read-only); the listing is not.
const (
	SubjectReviewList    = SubjectPrefix + ".review.list"    // operator: ReviewQuery → ReviewList
	SubjectReviewApprove = SubjectPrefix + ".review.approve" // operator: ReviewDecision → wallet.Review
	SubjectReviewReject  = SubjectPrefix + ".review.reject"  // operator: ReviewDecision → wallet.Review
)

// The review queue's endpoints, declared once (see endpoints.go).
var (
	Reviews       = natsrpc.Endpoint[ReviewQuery, ReviewList]{Subject: SubjectReviewList, Operator: true, ReadOnly: true}
	ReviewApprove = natsrpc.Endpoint[ReviewDecision, wallet.Review]{Subject: SubjectReviewApprove, Operator: true}
	ReviewReject  = natsrpc.Endpoint[ReviewDecision, wallet.Review]{Subject: SubjectReviewReject, Operator: true}
)

// ReviewQuery lists the review queue: entries with Status ("" for any)
// and ids above After, oldest first, at most Limit (wallet.ReviewsMax).
type ReviewQuery struct {
	Status wallet.ReviewStatus `json:"status,omitempty"`
	After  int64               `json:"after,omitempty"`
	Limit  int                 `json:"limit,omitempty"`
}

// ReviewList is one page of the review queue.
type ReviewList struct {
	Reviews []wallet.Review `json:"reviews"`
}

// ReviewDecision approves or rejects held transfer ID. The reason is the
// request's Kibubu-Reason header (WithOperator), the actor its
// Kibubu-Actor; both are required.
type ReviewDecision struct {
	ID int64 `json:"id"`
}

// review serves the review queue's endpoints.
func (s *server) review(m natsrpc.Mux) {
	Reviews.Handle(m, func(ctx context.Context, q ReviewQuery) (*ReviewList, error) {
		rs, err := s.w.Reviews(ctx, q.Status, q.After, q.Limit)
		if rs == nil {
			rs = []wallet.Review{}
		}
		return &ReviewList{Reviews: rs}, err
	})
	decide := func(approve bool) func(context.Context, ReviewDecision) (*wallet.Review, error) {
		return func(ctx context.Context, q ReviewDecision) (*wallet.Review, error) {
			h := requestHeader(ctx)
			actor, reason := h.Get(HeaderActor), h.Get(HeaderReason)
			if approve {
				return s.w.ApproveReview(ctx, q.ID, actor, reason)
			}
			return s.w.RejectReview(ctx, q.ID, actor, reason)
		}
	}
	ReviewApprove.Handle(m, decide(true))
	ReviewReject.Handle(m, decide(false))
}

// Reviews (operator) lists the review queue (wallet.Service.Reviews).
func (c *Client) Reviews(ctx context.Context, q ReviewQuery) ([]wallet.Review, error) {
	r, err := Reviews.Call(ctx, c, q)
	if err != nil {
		return nil, err
	}
	return r.Reviews, nil
}

// DecideReview (operator) approves or rejects held transfer id; ctx must
// carry the operator and the reason (WithOperator).
func (c *Client) DecideReview(ctx context.Context, id int64, approve bool) (*wallet.Review, error) {
	e := ReviewReject
	if approve {
		e = ReviewApprove
	}
	return e.Call(ctx, c, ReviewDecision{ID: id})
}
