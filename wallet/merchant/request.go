package merchant

import (
	"bytes"
	"context"
	"fmt"
	"strconv"

	"github.com/kibubu/kibubu/wallet"
)

// The approving state is internal: the merchant sees a request being paid
// as pending until the wallet answers.
const requestApproving RequestStatus = "approving"

// RequestPayment asks the customer with phone to pay amount (minor units)
// to p's merchant: a pending payment request that the customer approves
// with the PIN (USSD "Approvals", or the SMS prompt the created event
// triggers) or declines, and that expires after Config.RequestTTL. No
// money is held meanwhile.
//
// idem is the merchant's idempotency key: the same key with the same
// payload returns the first request (in its current state), with another
// payload CodeConflict. Errors: CodeInvalidPhone, CodeNotFound (no such
// customer), CodeWrongKind (not a customer), CodeInvalidAmount,
// CodeLimitExceeded (above the customer's per-transaction limit),
// CodeInvalid (reference of 1 to 32 characters, description up to 100),
// CodeRateLimited (too many requests and tabs to this phone or from this
// merchant just now: Config.PromptsPerPhone and the like).
func (s *Service) RequestPayment(ctx context.Context, p Principal, idem, phone string, amount int64, reference, description string) (*PaymentRequest, error) {
	if err := checkInput(idem, reference, true, description); err != nil {
		return nil, err
	}
	if err := s.checkAmount(amount); err != nil {
		return nil, err
	}
	m, c, err := s.parties(ctx, p, phone)
	if err != nil {
		return nil, err
	}
	if l, ok := s.w.Config().Tiers[c.Tier]; ok && amount > l.PerTransaction {
		return nil, &wallet.Error{Code: wallet.CodeLimitExceeded, Limit: wallet.LimitPerTransaction,
			Message: fmt.Sprintf("the customer can pay at most %s in one transaction", s.cur.Format(l.PerTransaction))}
	}
	now := s.now()
	r := &RequestRecord{
		PaymentRequest: PaymentRequest{
			ID: newID("pr", now), Merchant: m.Number, MerchantName: m.Name, Phone: c.Number, Amount: amount,
			Reference: reference, Description: description, Status: RequestPending,
			Created: now, Expires: now.Add(s.cfg.RequestTTL), Updated: now,
		},
		Idem: idem, Hash: payloadHash(c.Number, strconv.FormatInt(amount, 10), reference, description),
		Paybill: m.Kind == wallet.KindPaybill,
	}
	ev := newEvent(EventRequestCreated, m.Number, r.PaymentRequest, now, c.Number, c.Language)
	got, err := s.st.CreatePaymentRequest(ctx, r, ev, s.promptGate(now))
	if err != nil {
		return nil, err
	}
	if got.ID != r.ID && !bytes.Equal(got.Hash, r.Hash) {
		return nil, wallet.Errorf(wallet.CodeConflict, "this idempotency key was used for a different payment request")
	}
	return s.view(ctx, got)
}

// PaymentRequest returns one of p's merchant's payment requests; another
// merchant's is CodeNotFound, as an unknown one.
func (s *Service) PaymentRequest(ctx context.Context, p Principal, id string) (*PaymentRequest, error) {
	r, err := own(ctx, p, "payment request", "pr", id, s.st.PaymentRequest)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, r)
}

// RequestQueries are the store's reads behind the lists of payment
// requests, each declared beside the method that uses it; Store embeds it.
type RequestQueries interface {
	// PaymentRequests lists merchant's requests with ids before before
	// (every one when empty), newest first, at most limit.
	PaymentRequests(ctx context.Context, merchant, before string, limit int) ([]RequestRecord, error)
}

// PaymentRequests lists p's merchant's payment requests, newest first, a
// page at a time: next, when not empty, is the cursor of the page after
// (an opaque string, as Transactions's). limit 0 is the default page
// (transactionsDefault); more than transactionsMax is CodeInvalid, and so
// is a cursor this API did not give. An operator key is CodeForbidden.
func (s *Service) PaymentRequests(ctx context.Context, p Principal, cursor string, limit int) (reqs []PaymentRequest, next string, err error) {
	recs, next, err := pageByID(requestCursor, "payment requests", p, cursor, limit, func(before string, n int) ([]RequestRecord, error) {
		return s.st.PaymentRequests(ctx, p.Merchant, before, n)
	}, func(r *RequestRecord) string { return r.ID })
	if err != nil {
		return nil, "", err
	}
	reqs = make([]PaymentRequest, 0, len(recs))
	for i := range recs {
		v, err := s.view(ctx, &recs[i])
		if err != nil {
			return nil, "", err
		}
		reqs = append(reqs, *v)
	}
	return reqs, next, nil
}

// view returns r as the merchant sees it, expiring it first if its time
// has passed and the sweeper has not yet seen it.
func (s *Service) view(ctx context.Context, r *RequestRecord) (*PaymentRequest, error) {
	if _, err := s.expireDue(ctx, r); err != nil {
		return nil, err
	}
	v := r.PaymentRequest
	if v.Status == requestApproving {
		v.Status = RequestPending
	}
	if v.Status == RequestPaid {
		if err := s.refundedView(ctx, &v); err != nil {
			return nil, err
		}
	}
	return &v, nil
}

// refundedView sets what the merchant refunded of a paid request's payment,
// and the status refunded once that is all of it: a refund touches the
// objects the merchant API shows, not only the transaction list.
func (s *Service) refundedView(ctx context.Context, v *PaymentRequest) error {
	id, ok := wallet.ParseRef(v.Transaction)
	if !ok {
		return nil
	}
	m, err := s.w.Lookup(ctx, v.Merchant)
	if err != nil {
		return err
	}
	if v.Refunded, err = s.w.RefundedBy(ctx, id, m.ID); err != nil {
		return err
	}
	if v.Refunded >= v.Amount {
		v.Status = RequestRefunded
	}
	return nil
}

// expireDue moves r to expired if it is pending past its expiry, and
// reports whether r is now expired. r is updated to what is stored.
func (s *Service) expireDue(ctx context.Context, r *RequestRecord) (bool, error) {
	now := s.now()
	if r.Status != RequestPending || now.Before(r.Expires) {
		return r.Status == RequestExpired, nil
	}
	next := *r
	next.Status, next.Updated = RequestExpired, now
	ok, err := s.st.UpdatePaymentRequest(ctx, &next, RequestPending, r.Attempt,
		[]OutboxEvent{newEvent(EventRequestExpired, r.Merchant, next.PaymentRequest, now, "", "")})
	if err != nil {
		return false, err
	}
	if !ok {
		if err := s.reload(ctx, r); err != nil {
			return false, err
		}
		return r.Status == RequestExpired, nil
	}
	*r = next
	return true, nil
}

// reload reads r again, after a lost compare-and-set.
func (s *Service) reload(ctx context.Context, r *RequestRecord) error {
	fresh, err := s.st.PaymentRequest(ctx, r.ID)
	if err != nil {
		return err
	}
	*r = *fresh
	return nil
}

// stateError says why a request that is not pending cannot be approved or
// declined.
func stateError(r *RequestRecord) error {
	switch r.Status {
	case requestApproving:
		return wallet.Errorf(wallet.CodeInFlight, "this request is being paid; try again in a moment")
	case RequestPaid:
		return wallet.Errorf(wallet.CodeInvalidState, "this request has already been paid")
	case RequestDeclined:
		return wallet.Errorf(wallet.CodeInvalidState, "this request was declined")
	case RequestExpired:
		return wallet.Errorf(wallet.CodeInvalidState, "this request has expired")
	case RequestFailed:
		return wallet.Errorf(wallet.CodeInvalidState, "this request failed (%s)", r.Reason)
	}
	return wallet.Errorf(wallet.CodeInvalidState, "this request is %s", r.Status)
}

// customerRequest loads request id for the customer with phone: another
// customer's request is CodeNotFound, as an unknown one. It expires the
// request if its time has passed.
func (s *Service) customerRequest(ctx context.Context, phone, id string) (*RequestRecord, error) {
	ph, err := wallet.NormalizePhone(phone, s.region)
	if err != nil {
		return nil, err
	}
	r, err := find(ctx, "payment request", "pr", id, s.st.PaymentRequest)
	if err != nil {
		return nil, err
	}
	if r.Phone != ph {
		return nil, notFound("payment request", id)
	}
	if _, err := s.expireDue(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// requestKey is the wallet idempotency key of a payment request's payment
// at an attempt.
func requestKey(id string, attempt int) string { return "pr:" + id + ":" + strconv.Itoa(attempt) }

// paymentTransfer is the payment of request r at its current attempt,
// without the PIN: what its approval posts and its recovery looks for.
func paymentTransfer(r *RequestRecord) wallet.TransferRequest {
	kind := wallet.TransferTill
	if r.Paybill {
		kind = wallet.TransferPaybill
	}
	return wallet.TransferRequest{Key: requestKey(r.ID, r.Attempt), Kind: kind, From: r.Phone, To: r.Merchant,
		Amount: r.Amount, Reference: r.Reference}
}

// approveRequest pays request id from the customer's wallet with the PIN.
//
// The request moves pending → approving (a compare-and-set that counts
// the attempt, so that of two concurrent approvals one pays and the other
// is CodeInFlight), then the wallet posts the payment under the attempt's
// key. A wrong PIN (or a locked or unset one) returns the request to
// pending and returns the wallet's error, with the tries left; any other
// refusal fails the request; a payment paid it. If the wallet's answer is
// lost (CodeUnavailable, or a crash), the request stays approving and the
// sweeper settles it from the key's outcome once the lease has passed.
func (s *Service) approveRequest(ctx context.Context, phone, id, pin string) (*ApproveResult, error) {
	if pin == "" {
		return nil, wallet.Errorf(wallet.CodeInvalid, "a PIN is required")
	}
	r, err := s.customerRequest(ctx, phone, id)
	if err != nil {
		return nil, err
	}
	if r.Status != RequestPending {
		return nil, stateError(r)
	}
	prev := r.Attempt
	next := *r
	next.Status, next.Attempt, next.Updated = requestApproving, prev+1, s.now()
	ok, err := s.st.UpdatePaymentRequest(ctx, &next, RequestPending, prev, nil)
	if err != nil {
		return nil, err
	}
	if !ok {
		if err := s.reload(ctx, r); err != nil {
			return nil, err
		}
		if r.Status == RequestPending { // another approval came and went
			return nil, wallet.Errorf(wallet.CodeInFlight, "this request is being paid; try again in a moment")
		}
		return nil, stateError(r)
	}
	r = &next
	req := paymentTransfer(r)
	req.PIN = pin
	res, terr := s.w.Transfer(ctx, req)
	if terr != nil && transient(terr) {
		return nil, terr // left approving: the sweeper asks the wallet later
	}
	var tr *wallet.Transfer
	if res != nil {
		tr = &res.Transfer
	}
	if err := s.resolve(ctx, r, tr, terr); err != nil {
		return nil, err
	}
	if terr != nil {
		return nil, terr
	}
	return &ApproveResult{Approval: requestApproval(r), Transfer: res}, nil
}

// resolve moves an approving request r to what its payment's key produced:
// paid with transfer t, back to pending (or expired) after a PIN refusal or
// an unused key, or failed with err's code. It writes the matching event.
// r is updated to what is stored.
func (s *Service) resolve(ctx context.Context, r *RequestRecord, t *wallet.Transfer, err error) error {
	now := s.now()
	next := *r
	next.Updated = now
	var evs []OutboxEvent
	switch code := wallet.ErrorCode(err); {
	case t != nil:
		next.Status, next.Transaction = RequestPaid, t.Ref
		evs = append(evs, newEvent(EventRequestPaid, r.Merchant, next.PaymentRequest, now, "", ""))
	case code == wallet.CodePINInvalid || code == wallet.CodePINLocked || code == wallet.CodePINNotSet || code == wallet.CodeNotFound && err == errUnusedKey:
		// Not an outcome of the key: the customer may try again.
		next.Status = RequestPending
		if !now.Before(r.Expires) {
			next.Status = RequestExpired
			evs = append(evs, newEvent(EventRequestExpired, r.Merchant, next.PaymentRequest, now, "", ""))
		}
	default:
		next.Status, next.Reason = RequestFailed, string(code)
		evs = append(evs, newEvent(EventRequestFailed, r.Merchant, next.PaymentRequest, now, "", ""))
	}
	ok, serr := s.st.UpdatePaymentRequest(ctx, &next, requestApproving, r.Attempt, evs)
	if serr != nil {
		return serr
	}
	if !ok {
		return s.reload(ctx, r)
	}
	*r = next
	return nil
}

// errUnusedKey stands for the wallet's answer that a payment's key was
// never used: the payment did not happen.
var errUnusedKey = &wallet.Error{Code: wallet.CodeNotFound, Message: "the payment was not made"}

// declineRequest declines request id for the customer with phone, once
// the wallet has verified the PIN.
func (s *Service) declineRequest(ctx context.Context, phone, id, pin string) (*Approval, error) {
	if pin == "" {
		return nil, wallet.Errorf(wallet.CodeInvalid, "a PIN is required")
	}
	r, err := s.customerRequest(ctx, phone, id)
	if err != nil {
		return nil, err
	}
	if r.Status != RequestPending {
		return nil, stateError(r)
	}
	if _, err := s.w.VerifyPIN(ctx, r.Phone, pin); err != nil {
		return nil, err
	}
	now := s.now()
	next := *r
	next.Status, next.Updated = RequestDeclined, now
	ok, err := s.st.UpdatePaymentRequest(ctx, &next, RequestPending, r.Attempt,
		[]OutboxEvent{newEvent(EventRequestDeclined, r.Merchant, next.PaymentRequest, now, "", "")})
	if err != nil {
		return nil, err
	}
	if !ok {
		if err := s.reload(ctx, r); err != nil {
			return nil, err
		}
		return nil, stateError(r)
	}
	a := requestApproval(&next)
	return &a, nil
}

// requestApproval is r as the customer's approvals list shows it.
func requestApproval(r *RequestRecord) Approval {
	return Approval{ID: r.ID, Kind: ApprovalRequest, Merchant: r.Merchant, MerchantName: r.MerchantName,
		Amount: r.Amount, Reference: r.Reference, Description: r.Description, Expires: r.Expires, Created: r.Created}
}

// sweepRequests expires pending requests past their time and settles
// approving ones whose payment's answer was lost (a crash, a timeout) from
// what the wallet says the payment's key produced.
func (s *Service) sweepRequests(ctx context.Context) error {
	now := s.now()
	due, err := s.st.DuePaymentRequests(ctx, now, now.Add(-leaseDuration), sweepBatchMax)
	if err != nil {
		return err
	}
	errs := sweepErrors{what: "requests"}
	for i := range due {
		r := &due[i]
		switch r.Status {
		case RequestPending:
			_, err = s.expireDue(ctx, r)
		case requestApproving:
			err = s.recoverLost(ctx, paymentTransfer(r),
				func(t *wallet.Transfer, refusal error) error { return s.resolve(ctx, r, t, refusal) },
				func() error { return s.resolve(ctx, r, nil, errUnusedKey) })
		}
		errs.add(r.ID, err)
	}
	return errs.err()
}
