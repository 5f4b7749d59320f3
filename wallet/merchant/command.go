package merchant

import (
	"context"
	"fmt"
	"strings"

	"github.com/kibubu/kibubu/wallet"
)

// What the merchant commands share: the checks of their inputs, the two
// parties of a payment request, payout or tab, and the loading of a
// merchant's own objects by id.

// checkInput validates what a merchant's command carries besides its
// amount: its idempotency key, its reference (at most 32 bytes, required or
// not) and its description (at most 100 characters; "" for a command without
// one). The errors are CodeInvalid.
func checkInput(idem, reference string, referenceRequired bool, description string) error {
	if err := checkIdem(idem); err != nil {
		return err
	}
	if err := checkText("reference", reference, referenceRequired, wallet.ReferenceBytesMax, 0); err != nil {
		return err
	}
	return checkText("description", description, false, 4*DescriptionRunesMax, DescriptionRunesMax)
}

// parties returns p's merchant's profile and the customer's with phone: see
// merchant and customer for the errors.
func (s *Service) parties(ctx context.Context, p Principal, phone string) (m, c *wallet.Profile, err error) {
	if m, err = s.merchant(ctx, p); err != nil {
		return nil, nil, err
	}
	if c, err = s.customer(ctx, phone); err != nil {
		return nil, nil, err
	}
	return m, c, nil
}

// owned is a stored object of one merchant's.
type owned interface{ owner() string }

func (r *RequestRecord) owner() string { return r.Merchant }
func (r *PayoutRecord) owner() string  { return r.Merchant }
func (r *TabRecord) owner() string     { return r.Merchant }

// find loads object id with load, a Store lookup; what names its kind and
// prefix its ids. An id that cannot be one, or that load does not find, is
// CodeNotFound, with what and id in the message.
func find[R any](ctx context.Context, what, prefix, id string, load func(context.Context, string) (R, error)) (R, error) {
	var none R
	if !validID(prefix, id) {
		return none, notFound(what, id)
	}
	r, err := load(ctx, id)
	if wallet.ErrorCode(err) == wallet.CodeNotFound {
		return none, notFound(what, id)
	}
	if err != nil {
		return none, err
	}
	return r, nil
}

// own is find for p's merchant: an operator key is CodeForbidden, and
// another merchant's object CodeNotFound, as an unknown one.
func own[R owned](ctx context.Context, p Principal, what, prefix, id string, load func(context.Context, string) (R, error)) (R, error) {
	var none R
	if p.Merchant == "" {
		return none, wallet.Errorf(wallet.CodeForbidden, "an operator key cannot act for a merchant")
	}
	r, err := find(ctx, what, prefix, id, load)
	if err != nil {
		return none, err
	}
	if r.owner() != p.Merchant {
		return none, notFound(what, id)
	}
	return r, nil
}

// recoverLost settles a command whose wallet answer was lost (a crash, a
// timeout) from what the wallet says its key produced: a transfer, or a
// refusal, goes to done; nothing at all (the key is unused) to unused.
// Something else under the key (wallet.OutcomeOf: another kind, parties or
// payload) is an error, and the command stays unsettled.
func (s *Service) recoverLost(ctx context.Context, req wallet.TransferRequest, done func(t *wallet.Transfer, refusal error) error, unused func() error) error {
	t, refusal, err := s.w.OutcomeOf(ctx, req)
	switch {
	case refusal != nil:
		return done(nil, refusal)
	case t != nil:
		return done(t, nil)
	case wallet.ErrorCode(err) == wallet.CodeNotFound:
		return unused()
	}
	return err
}

// sweepErrors gathers the failures of a sweep over objects of one kind
// (what, plural) into one error.
type sweepErrors struct {
	what string
	errs []string
}

// add notes err, if any, as object id's.
func (e *sweepErrors) add(id string, err error) {
	if err != nil {
		e.errs = append(e.errs, id+": "+err.Error())
	}
}

// err is nil if nothing failed, else one error counting and listing the
// failures.
func (e *sweepErrors) err() error {
	if len(e.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%d %s: %s", len(e.errs), e.what, strings.Join(e.errs, "; "))
}
