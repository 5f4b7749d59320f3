package merchant

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

const (
	// transactionsDefault and transactionsMax are the page sizes of
	// Transactions: what a dashboard shows, and what one read serves in
	// well under a request's timeout.
	transactionsDefault = 50
	transactionsMax     = 200
	// cursorPrefix versions the cursor, should its form ever change.
	cursorPrefix = 'c'
)

// Transaction returns the transfer with transaction id ref as p's merchant
// sees it; one in which the merchant has no posting is CodeNotFound, as an
// unknown one.
func (s *Service) Transaction(ctx context.Context, p Principal, ref string) (*Transaction, error) {
	m, err := s.merchant(ctx, p)
	if err != nil {
		return nil, err
	}
	t, err := s.merchantTransfer(ctx, m, ref)
	if err != nil {
		return nil, err
	}
	return s.transaction(ctx, m.ID, t, map[int64]*wallet.Account{})
}

// merchantTransfer returns the transfer ref if merchant m has a posting in it.
func (s *Service) merchantTransfer(ctx context.Context, m *wallet.Profile, ref string) (*wallet.Transfer, error) {
	if len(ref) > 16 {
		return nil, notFound("transaction", ref)
	}
	t, err := s.w.TransferByRef(ctx, ref)
	if wallet.ErrorCode(err) == wallet.CodeNotFound {
		return nil, notFound("transaction", ref)
	}
	if err != nil {
		return nil, err
	}
	for _, q := range t.Postings {
		if q.AccountID == m.ID {
			return t, nil
		}
	}
	return nil, notFound("transaction", ref)
}

// Transactions lists p's merchant's transactions, newest first, created in
// [from, to) where those are non-zero: a page of limit (default 50, at
// most 200) after cursor (empty for the first page; else the previous
// page's next). next is empty on the last page.
func (s *Service) Transactions(ctx context.Context, p Principal, from, to time.Time, cursor string, limit int) (txs []Transaction, next string, err error) {
	if limit <= 0 {
		limit = transactionsDefault
	}
	if limit > transactionsMax {
		return nil, "", wallet.Errorf(wallet.CodeInvalid, "a page holds at most %d transactions", transactionsMax)
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return nil, "", wallet.Errorf(wallet.CodeInvalid, "the period must start before it ends")
	}
	before, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	m, err := s.merchant(ctx, p)
	if err != nil {
		return nil, "", err
	}
	ts, err := s.w.AccountTransfers(ctx, m.ID, from, to, before, limit+1)
	if err != nil {
		return nil, "", err
	}
	if len(ts) > limit {
		ts = ts[:limit]
		next = encodeCursor(ts[limit-1].ID)
	}
	names := map[int64]*wallet.Account{}
	txs = make([]Transaction, 0, len(ts))
	for i := range ts {
		tx, err := s.transaction(ctx, m.ID, &ts[i], names)
		if err != nil {
			return nil, "", err
		}
		txs = append(txs, *tx)
	}
	return txs, next, nil
}

// encodeCursor makes the opaque cursor of a page that ends with transfer id.
func encodeCursor(id int64) string {
	var b [9]byte
	b[0] = cursorPrefix
	binary.BigEndian.PutUint64(b[1:], uint64(id))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// decodeCursor returns the transfer id a cursor stands for; 0 for none.
func decodeCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	// The decoder skips newlines: the length check keeps one spelling.
	if len(c) != base64.RawURLEncoding.EncodedLen(9) {
		return 0, wallet.Errorf(wallet.CodeInvalid, "the cursor is not one this API gave")
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) != 9 || b[0] != cursorPrefix || int64(binary.BigEndian.Uint64(b[1:])) <= 0 {
		return 0, wallet.Errorf(wallet.CodeInvalid, "the cursor is not one this API gave")
	}
	return int64(binary.BigEndian.Uint64(b[1:])), nil
}

// transaction is t as the merchant with account id mid sees it. names
// caches the accounts already looked up.
func (s *Service) transaction(ctx context.Context, mid int64, t *wallet.Transfer, names map[int64]*wallet.Account) (*Transaction, error) {
	tx, other := merchantSide(t, mid)
	if other != mid {
		a, ok := names[other]
		if !ok {
			var err error
			if a, err = s.w.AccountByID(ctx, other); err != nil {
				return nil, err
			}
			names[other] = a
		}
		tx.Counterparty, tx.Name = a.Number, a.Name
	}
	switch t.Kind {
	case wallet.TransferTill, wallet.TransferPaybill, wallet.TransferSettle:
		if tx.Direction == "in" {
			r, err := s.w.RefundedBy(ctx, t.ID, mid)
			if err != nil {
				return nil, err
			}
			tx.Refunded = r
		}
	}
	return &tx, nil
}

// Refund returns amount (minor units; 0 for everything not yet refunded)
// of the payment with transaction id ref to the customer who paid p's
// merchant, and returns the refund. idem is the merchant's idempotency key:
// a replay returns the first refund (or refusal), whatever was refunded
// since. Errors: CodeNotFound (not the merchant's payment), the wallet's
// CodeInvalidAmount for more than is left, CodeNotReversible for a payment
// that cannot be refunded (a reversed one, a prepaid tab's settlement).
func (s *Service) Refund(ctx context.Context, p Principal, idem, ref string, amount int64) (*Transaction, error) {
	if err := checkIdem(idem); err != nil {
		return nil, err
	}
	if amount < 0 || amount > wallet.AmountMax {
		return nil, wallet.Errorf(wallet.CodeInvalidAmount, "the amount must be positive and at most %s, or 0 for all", s.cur.Format(wallet.AmountMax))
	}
	m, err := s.merchant(ctx, p)
	if err != nil {
		return nil, err
	}
	t, err := s.merchantTransfer(ctx, m, ref)
	if err != nil {
		return nil, err
	}
	key := "rf:" + m.Number + ":" + idem
	names := map[int64]*wallet.Account{}
	if amount == 0 {
		// "All that is left" changes with every refund: a replay must find
		// the first answer rather than recompute it.
		prior, refusal, err := s.w.Outcome(ctx, key)
		switch {
		case refusal != nil:
			return nil, refusal
		case prior != nil:
			// The amount is not known here, so no request hash to compare:
			// the kind, the payment and the paying merchant are checked.
			if prior.Kind != wallet.TransferRefund || prior.Reference != t.Ref || prior.Refunds != t.ID || prior.Source != m.ID {
				return nil, wallet.Errorf(wallet.CodeConflict, "this idempotency key was used for a different request")
			}
			return s.transaction(ctx, m.ID, prior, names)
		case wallet.ErrorCode(err) != wallet.CodeNotFound:
			return nil, err
		}
		var received int64
		for _, q := range t.Postings {
			if q.AccountID == m.ID && q.Leg == wallet.LegPrincipal {
				received += q.Amount
			}
		}
		done, err := s.w.RefundedBy(ctx, t.ID, m.ID)
		if err != nil {
			return nil, err
		}
		if amount = received - done; amount <= 0 {
			return nil, wallet.Errorf(wallet.CodeInvalidAmount, "nothing of %s is left to refund", t.Ref)
		}
	}
	res, err := s.w.Transfer(ctx, wallet.TransferRequest{Key: key, Kind: wallet.TransferRefund, From: m.Number, Reference: t.Ref, Amount: amount})
	if err != nil {
		return nil, err
	}
	return s.transaction(ctx, m.ID, &res.Transfer, names)
}

// TransactionsPage is one page of a merchant's transactions.
type TransactionsPage struct {
	Transactions []Transaction `json:"transactions"`
	Next         string        `json:"next,omitempty"` // empty on the last page
}
