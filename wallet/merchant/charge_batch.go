package merchant

import (
	"context"
	"errors"
	"strconv"

	"github.com/kibubu/kibubu/wallet"
)

// BatchChargesMax bounds the charges of one ChargeBatch: enough to spare
// a pay-per-click merchant a thousand round trips, few enough that a batch
// and its answer stay a small NATS message and a small part of one group
// commit.
const BatchChargesMax = 1000

// ChargeResult is the outcome of one charge of a batch: the charge
// (recorded, or replayed: Charge.Replayed), or why the meter refused it
// (Err); and the tab's total charged and the cap left once it was judged
// (for a replay, now rather than when it was first charged).
type ChargeResult struct {
	Charge    *Charge       `json:"charge,omitempty"`
	Err       *wallet.Error `json:"error,omitempty"`
	Charged   wallet.Micro  `json:"charged"`
	Remaining wallet.Micro  `json:"remaining"`
}

// ChargeBatch records reqs, charges on one of p's merchant's tabs, in
// order. The meter takes them as one unit: they land in the same group
// commit, one after the other, each judged as Charge judges one. A charge's
// Tab is tab (or empty); its Key makes it idempotent within the tab, across
// batches and single charges alike: a key already used returns that charge
// with Replayed set, and the same key with a different amount, reference
// or splits refuses that charge with CodeConflict.
//
// The charges are independent: one refused (the cap reached, a conflict,
// the tab suspended) does not refuse the others, and since they are
// applied in order, once the cap is reached the later ones are refused
// unless they fit what is left. A refused charge is not remembered: sent
// again it is judged again. The results are in reqs' order.
//
// The batch as a whole is refused, nothing recorded, with CodeForbidden
// (an operator key), CodeNotFound (no such tab, or another merchant's),
// CodeInvalid or CodeInvalidAmount (no charges, more than BatchChargesMax,
// or a charge that Charge would refuse as malformed — another tab's, a bad
// key, amount, reference or split rule: the message names the charge,
// counted from 1), CodeUnavailable (no answer in time, or the group commit
// failed: send the batch again, each charge is recorded once).
func (s *Service) ChargeBatch(ctx context.Context, p Principal, tab string, reqs []ChargeRequest) ([]ChargeResult, error) {
	if p.Merchant == "" {
		return nil, wallet.Errorf(wallet.CodeForbidden, "an operator key cannot act for a merchant")
	}
	if !validID("tab", tab) {
		return nil, notFound("tab", tab)
	}
	switch {
	case len(reqs) == 0:
		return nil, wallet.Errorf(wallet.CodeInvalid, "a batch needs at least one charge")
	case len(reqs) > BatchChargesMax:
		return nil, wallet.Errorf(wallet.CodeInvalid, "a batch has at most %d charges", BatchChargesMax)
	}
	done := make(chan meterResult, len(reqs))
	batch := make([]meterOp, len(reqs))
	for i := range reqs {
		op := &batch[i]
		op.merchant, op.req, op.done = p.Merchant, reqs[i], done
		if op.req.Tab == "" {
			op.req.Tab = tab
		}
		if op.req.Tab != tab {
			return nil, wallet.Errorf(wallet.CodeInvalid, "charge %d: it is for tab %q, not the batch's", i+1, clip(op.req.Tab))
		}
		if err := s.tabs.prepare(ctx, op); err != nil {
			return nil, chargeError(i, err)
		}
	}
	if err := s.tabs.enqueue(&meterOp{batch: batch}); err != nil {
		return nil, err
	}
	out := make([]ChargeResult, len(batch))
	for i := range out {
		var r meterResult
		select {
		case r = <-done: // in order: the meter answers a batch's charges one after the other
		case <-ctx.Done():
			return nil, &wallet.Error{Code: wallet.CodeUnavailable, Message: "no answer in time; send the batch again"}
		}
		out[i] = ChargeResult{Charge: r.charge, Charged: r.charged, Remaining: r.cap - r.charged}
		if r.err != nil {
			out[i].Err = s.resultError(r.err)
		}
	}
	// The batch is one unit of one group commit on one tab: when the commit
	// failed, or the tab is not the merchant's, every charge has that
	// answer, and it is the batch's.
	if e := out[0].Err; e != nil && (e.Code == wallet.CodeUnavailable || e.Code == wallet.CodeNotFound) {
		return nil, e
	}
	return out, nil
}

// chargeError is err, a refusal of the batch's charge i, naming it.
func chargeError(i int, err error) error {
	var we *wallet.Error
	if !errors.As(err, &we) {
		return err
	}
	named := *we
	named.Message = "charge " + strconv.Itoa(i+1) + ": " + we.Message
	return &named
}

// resultError is the meter's refusal of one charge as a *wallet.Error.
// The meter refuses only with those; anything else is a bug, logged here
// and answered as CodeInternal.
func (s *Service) resultError(err error) *wallet.Error {
	var we *wallet.Error
	if errors.As(err, &we) {
		return we
	}
	s.log.Error("tab meter: a charge refused with an uncoded error", "err", err)
	return &wallet.Error{Code: wallet.CodeInternal, Message: "internal error"}
}

// ChargeBatchResult is a batch's outcome: per charge in the request's
// order, the charge or its refusal; and the tab's total charged and the
// cap left after the batch.
type ChargeBatchResult struct {
	Results   []ChargeResult `json:"results"`
	Charged   wallet.Micro   `json:"charged"`
	Remaining wallet.Micro   `json:"remaining"`
}
