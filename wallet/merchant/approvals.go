package merchant

import (
	"context"
	"encoding/binary"
	"slices"
	"strings"

	"github.com/kibubu/kibubu/wallet"
)

// Approvals lists what waits for the approval of the customer with phone:
// pending payment requests and tabs, oldest first (at most 50 requests).
// It needs no PIN: it is what the USSD "Approvals" menu shows before asking
// for one. An unknown phone has none.
func (s *Service) Approvals(ctx context.Context, phone string) ([]Approval, error) {
	ph, err := wallet.NormalizePhone(phone, s.region)
	if err != nil {
		return nil, err
	}
	rs, err := s.st.PendingPaymentRequests(ctx, ph, s.now(), approvalsMax)
	if err != nil {
		return nil, err
	}
	out := make([]Approval, 0, len(rs))
	for i := range rs {
		out = append(out, requestApproval(&rs[i]))
	}
	tabs, err := s.tabs.approvals(ctx, ph)
	if err != nil {
		return nil, err
	}
	out = append(out, tabs...)
	slices.SortStableFunc(out, func(a, b Approval) int { return idOrder(a.ID, b.ID) })
	return out, nil
}

// Approve approves, with the customer's PIN, the payment request ("pr_…",
// which pays it) or the tab ("tab_…") id waiting for the customer with
// phone. Another customer's is CodeNotFound; one no longer pending is
// CodeInvalidState ("this request has expired"), or CodeInFlight while
// another approval of it is being paid. A wrong PIN is the wallet's
// CodePINInvalid with the tries left, and leaves it pending.
func (s *Service) Approve(ctx context.Context, phone, id, pin string) (*ApproveResult, error) {
	switch {
	case strings.HasPrefix(id, "pr_"):
		return s.approveRequest(ctx, phone, id, pin)
	case strings.HasPrefix(id, "tab_"):
		return s.tabs.approve(ctx, phone, id, pin)
	}
	return nil, notFound("approval", id)
}

// Decline declines, with the customer's PIN, the payment request or tab id
// waiting for the customer with phone. The PIN is checked as Approve's is
// (the context's wallet.PINAttempt, the source's budget, the lockout; a
// frozen account is refused): a gateway cannot say no for a customer any
// more than it can say yes. Errors as Approve's: a missing PIN is
// CodeInvalid, a wrong one the wallet's CodePINInvalid with the tries
// left, and either leaves the approval pending.
func (s *Service) Decline(ctx context.Context, phone, id, pin string) (*Approval, error) {
	switch {
	case strings.HasPrefix(id, "pr_"):
		return s.declineRequest(ctx, phone, id, pin)
	case strings.HasPrefix(id, "tab_"):
		return s.tabs.decline(ctx, phone, id, pin)
	}
	return nil, notFound("approval", id)
}

// idOrder orders object ids by the time they were made (newID puts it
// first), whatever their prefixes.
func idOrder(a, b string) int {
	ta, tb := idTime(a), idTime(b)
	switch {
	case ta < tb:
		return -1
	case ta > tb:
		return 1
	}
	return strings.Compare(a, b)
}

// idTime returns the time, in nanoseconds, in an id newID made; 0 for any
// other string.
func idTime(id string) uint64 {
	_, rest, ok := strings.Cut(id, "_")
	if !ok || len(rest) != 26 {
		return 0
	}
	b, err := idEncoding.DecodeString(rest)
	if err != nil || len(b) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b[:8])
}
