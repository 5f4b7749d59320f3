package wallet

import (
	"context"
	"time"
)

// The reads the merchant services (package wallet/commerce, in the wallet's
// process) build on. They trust their caller: no PIN, no ownership check.
// Commerce authenticates the merchant by its API key and shows it only its
// own objects.

// maxAccountTransfers bounds one page of AccountTransfers: a merchant's
// transaction list, as a statement is bounded by maxStatementLines.
const maxAccountTransfers = maxStatementLines

// Outcome returns what the idempotency key produced: the posted transfer
// (with its postings), or the refusal remembered under it (a *Error with the
// transfer nil). A key whose command is still queued, or was refused
// before the writer saw it (invalid input, a wrong PIN), produced nothing
// yet: err is CodeNotFound, as for a key never used. A malformed key is
// CodeInvalid.
func (s *Service) Outcome(ctx context.Context, key string) (*Transfer, *Error, error) {
	if key == "" || len(key) > maxKeyBytes {
		return nil, nil, Errorf(CodeInvalid, "an idempotency key of 1 to %d bytes is required", maxKeyBytes)
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
	if limit <= 0 || limit > maxAccountTransfers {
		limit = maxAccountTransfers
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
