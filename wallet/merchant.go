package wallet

import (
	"bytes"
	"context"
	"time"
)

// The reads the merchant services (package wallet/merchant, in the wallet's
// process) build on. They trust their caller: no PIN, no ownership check.
// Commerce authenticates the merchant by its API key and shows it only its
// own objects.

// accountTransfersMax bounds one page of AccountTransfers: a merchant's
// transaction list, as a statement is bounded by statementLinesMax.
const accountTransfersMax = statementLinesMax

// Outcome returns what the idempotency key produced: the posted transfer
// (with its postings), or the refusal remembered under it (a *Error with the
// transfer nil). A key whose command is still queued, or was refused
// before the writer saw it (invalid input, a wrong PIN), produced nothing
// yet: err is CodeNotFound, as for a key never used. A malformed key is
// CodeInvalid.
func (s *Service) Outcome(ctx context.Context, key string) (*Transfer, *Error, error) {
	if key == "" || len(key) > KeyBytesMax {
		return nil, nil, Errorf(CodeInvalid, "an idempotency key of 1 to %d bytes is required", KeyBytesMax)
	}
	o, err := s.store.Outcome(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	return o.Transfer, o.Err, nil
}

// Refunded returns the sum of the refunds posted against transfer
// transferID, by every merchant it paid (a split settlement pays several);
// 0 for a transfer without refunds, or with no such transfer.
func (s *Service) Refunded(ctx context.Context, transferID int64) (int64, error) {
	m, err := s.store.Refunded(ctx, []int64{transferID})
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, v := range m {
		sum += v
	}
	return sum, nil
}

// OutcomeOf is Outcome for the command req describes (its PIN is not
// needed and not checked): what req.Key produced, if that was req itself.
// Something else under the key (another kind, other parties, another
// amount or reference: a different request hash) is CodeConflict, never
// taken for req's outcome, so that a command recovering a lost answer
// cannot record another command's transfer as its own. Errors as Outcome's,
// and prepare's for a malformed req.
func (s *Service) OutcomeOf(ctx context.Context, req TransferRequest) (*Transfer, *Error, error) {
	if needsPIN(req.Kind) {
		req.PIN = "-" // prepare asks that one is given; no lookup checks it
	}
	p, err := s.prepare(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	o, err := s.store.Outcome(ctx, p.key)
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(o.Hash, p.hash) || o.Transfer != nil && o.Transfer.Kind != p.kind {
		return nil, nil, Errorf(CodeConflict, "idempotency key %s holds a different command", p.key)
	}
	return o.Transfer, o.Err, nil
}

// RefundedBy returns the sum merchant (an account id) refunded against
// transfer transferID: what a refund by that merchant is measured against.
func (s *Service) RefundedBy(ctx context.Context, transferID, merchant int64) (int64, error) {
	m, err := s.store.Refunded(ctx, []int64{transferID})
	if err != nil {
		return 0, err
	}
	return m[RefundKey{Transfer: transferID, Merchant: merchant}], nil
}

// AccountTransfers returns the transfers with a posting on account
// accountID, with all their postings, newest (highest id) first: those
// created in [from, to) where from and to are non-zero, with ids below
// before where before is positive (the last id of the previous page: a
// cursor), at most limit of them (at most 500; 0 means 500). Errors:
// CodeInvalid for an empty period or a negative cursor.
func (s *Service) AccountTransfers(ctx context.Context, accountID int64, from, to time.Time, before int64, limit int) ([]Transfer, error) {
	if limit <= 0 || limit > accountTransfersMax {
		limit = accountTransfersMax
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return nil, Errorf(CodeInvalid, "the period must start before it ends")
	}
	if before < 0 {
		return nil, Errorf(CodeInvalid, "the cursor is not valid")
	}
	return s.store.AccountTransfers(ctx, accountID, from, to, before, limit)
}

// TransferByRef returns the transfer with human id ref (as Ref writes it,
// any case) with its postings; CodeNotFound for an unknown or malformed ref.
func (s *Service) TransferByRef(ctx context.Context, ref string) (*Transfer, error) {
	return s.store.TransferByRef(ctx, ref)
}

// AccountByID returns the account with the given id and its balance, as
// Show does by number or phone; CodeNotFound if there is none. It turns the
// account ids of postings into numbers and names.
func (s *Service) AccountByID(ctx context.Context, id int64) (*Account, error) {
	r, err := s.store.AccountByID(ctx, id)
	if err != nil {
		return nil, err
	}
	a := r.Account()
	return &a, nil
}

// SystemAccountID returns the id of a system account (SystemTabs, …), or 0
// for an unknown name.
func (s *Service) SystemAccountID(number string) int64 { return s.system[number] }
