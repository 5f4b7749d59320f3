package merchant

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/kibubu/kibubu/wallet"
)

// messageBytesMax bounds a failure's message as stored with a payout.
const messageBytesMax = 200

// Payout pays amount (minor units) from p's merchant's balance to the
// customer with phone: a payout row (pending) is stored first, then the
// wallet posts the payout under the key po:<merchant>:<idem>; the payout is
// paid (Transaction, Fee: the merchant pays it on top) or failed (Reason,
// Message; event payout.failed). idem is the merchant's idempotency key:
// the same key with the same payload returns the first payout, with
// another payload CodeConflict.
//
// If the wallet's answer is lost (CodeUnavailable is returned), the payout
// stays pending: a retry with the same key, or the sweeper after a minute,
// asks the wallet again under the same key, so it is paid at most once.
func (s *Service) Payout(ctx context.Context, p Principal, idem, phone string, amount int64, reference string) (*Payout, error) {
	if err := checkInput(idem, reference, false, ""); err != nil {
		return nil, err
	}
	if err := s.checkAmount(amount); err != nil {
		return nil, err
	}
	m, c, err := s.parties(ctx, p, phone)
	if err != nil {
		return nil, err
	}
	now := s.now()
	r := &PayoutRecord{
		Payout: Payout{ID: newID("po", now), Merchant: m.Number, Phone: c.Number, Amount: amount, Reference: reference,
			Status: PayoutPending, Created: now, Updated: now},
		Key:  "po:" + m.Number + ":" + idem,
		Hash: payloadHash(c.Number, strconv.FormatInt(amount, 10), reference),
	}
	got, err := s.st.CreatePayout(ctx, r)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(got.Hash, r.Hash) {
		return nil, wallet.Errorf(wallet.CodeConflict, "this idempotency key was used for a different payout")
	}
	if got.Status != PayoutPending {
		return &got.Payout, nil
	}
	if err := s.pay(ctx, got); err != nil {
		return nil, err
	}
	return &got.Payout, nil
}

// PayoutStatus returns one of p's merchant's payouts (a single payout or a
// row of a bulk payout); another merchant's is CodeNotFound.
func (s *Service) PayoutStatus(ctx context.Context, p Principal, id string) (*Payout, error) {
	r, err := own(ctx, p, "payout", "po", id, s.st.Payout)
	if err != nil {
		return nil, err
	}
	return &r.Payout, nil
}

// pay posts payout r under its key and records the result: r is updated to
// what is stored. It returns an error only when the result is unknown
// (the wallet did not answer; r stays pending) or could not be stored.
func (s *Service) pay(ctx context.Context, r *PayoutRecord) error {
	res, err := s.w.Transfer(ctx, payoutTransfer(r))
	if err != nil && transient(err) {
		return err
	}
	var t *wallet.Transfer
	if res != nil {
		t = &res.Transfer
	}
	return s.finish(ctx, r, t, err)
}

// payoutTransfer is payout r as the wallet posts it under its key.
func payoutTransfer(r *PayoutRecord) wallet.TransferRequest {
	return wallet.TransferRequest{Key: r.Key, Kind: wallet.TransferPayout, From: r.Merchant, To: r.Phone, Amount: r.Amount, Reference: r.Reference}
}

// finish records payout r's outcome: paid by transfer t, or refused with
// err. r is updated to what is stored.
func (s *Service) finish(ctx context.Context, r *PayoutRecord, t *wallet.Transfer, err error) error {
	now := s.now()
	next := *r
	next.Updated = now
	var evs []OutboxEvent
	if t != nil {
		next.Status, next.Transaction, next.Fee = PayoutPaid, t.Ref, t.Fee
	} else {
		next.Status, next.Reason, next.Message = PayoutFailed, string(wallet.ErrorCode(err)), failureMessage(err)
		evs = append(evs, newEvent(EventPayoutFailed, r.Merchant, next.Payout, now, "", ""))
	}
	ok, serr := s.st.FinishPayout(ctx, &next, evs, func(b BulkPayout) OutboxEvent {
		return newEvent(EventBatchDone, b.Merchant, b, now, "", "")
	})
	if serr != nil {
		return serr
	}
	if !ok { // finished by another call (a retry, the sweeper, another process)
		fresh, err := s.st.Payout(ctx, r.ID)
		if err != nil {
			return err
		}
		*r = *fresh
		return nil
	}
	*r = next
	return nil
}

// failureMessage is err's message, bounded for storage.
func failureMessage(err error) string {
	msg := "internal error"
	var we *wallet.Error
	if errors.As(err, &we) {
		msg = we.Message
	}
	if len(msg) > messageBytesMax {
		cut := messageBytesMax
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut]
	}
	return msg
}

// sweepPayouts settles the single payouts left pending by a lost answer or
// a crash: from what the wallet says their key produced, and when it
// produced nothing, by posting them now under the same key (which pays at
// most once whatever else is running).
func (s *Service) sweepPayouts(ctx context.Context) error {
	rs, err := s.st.StalePayouts(ctx, s.now().Add(-leaseDuration), sweepBatchMax)
	if err != nil {
		return err
	}
	errs := sweepErrors{what: "payouts"}
	for i := range rs {
		r := &rs[i]
		errs.add(r.ID, s.recoverLost(ctx, payoutTransfer(r),
			func(t *wallet.Transfer, refusal error) error { return s.finish(ctx, r, t, refusal) },
			func() error { return s.pay(ctx, r) }))
	}
	return errs.err()
}
