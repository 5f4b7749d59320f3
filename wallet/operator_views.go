package wallet

import (
	"cmp"
	"context"
	"regexp"
	"strings"
	"time"
)

// What the back-office reads: a search over accounts and transfers, an
// account's statement without its PIN, a transfer with its legs.

const (
	// SearchPageMax bounds one page of search results.
	SearchPageMax = 50
	// SearchQueryBytesMax bounds what the search box takes: a name, a
	// phone, a number or a transaction id.
	SearchQueryBytesMax = 64
	// searchNameBytesMin: a shorter name matches too much to be useful.
	searchNameBytesMin = 2
)

// SearchResult is one page of what a search found: the transfer a
// transaction id names, or accounts.
type SearchResult struct {
	Transfer *Transfer `json:"transfer,omitempty"`
	Accounts []Account `json:"accounts"`
	More     bool      `json:"more,omitempty"` // another page follows
}

// refPattern is a transaction id (wallet.Ref): ten upper-case letters and digits.
var refPattern = regexp.MustCompile(`^[A-Z0-9]{10}$`)

// Search finds what q names: a transaction id, an account number, a phone
// in any local or international form, or else accounts whose name starts
// with q, any case (an index serves it: a name "contains" search read every
// account). Page counts from 0, SearchPageMax a page.
func (s *Service) Search(ctx context.Context, q string, page int) (*SearchResult, error) {
	st, err := s.operators()
	if err != nil {
		return nil, err
	}
	q = strings.TrimSpace(q)
	if q == "" || len(q) > SearchQueryBytesMax {
		return nil, Errorf(CodeInvalid, "search for 1 to %d characters", SearchQueryBytesMax)
	}
	if page < 0 {
		return nil, Errorf(CodeInvalid, "no page %d", page)
	}
	out := &SearchResult{Accounts: []Account{}}
	if up := strings.ToUpper(q); refPattern.MatchString(up) {
		t, err := s.store.TransferByRef(ctx, up)
		if err == nil {
			out.Transfer = t
			return out, nil
		}
		if ErrorCode(err) != CodeNotFound {
			return nil, err
		}
	}
	if r, err := s.record(ctx, q); err == nil {
		out.Accounts = append(out.Accounts, r.Account())
		return out, nil
	} else if c := ErrorCode(err); c != CodeNotFound && c != CodeInvalid {
		return nil, err
	}
	if strings.IndexFunc(q, func(r rune) bool { return r != '+' && r != ' ' && (r < '0' || r > '9') }) < 0 {
		// Digits that name no account and no phone: nothing to match by name.
		if _, perr := s.phone(q); perr != nil {
			return nil, Errorf(CodeInvalidPhone, "%q is neither a phone number nor an account number", clip(q))
		}
		return out, nil
	}
	if len(q) < searchNameBytesMin {
		return nil, Errorf(CodeInvalid, "search for a name of at least %d characters", searchNameBytesMin)
	}
	rs, err := st.SearchAccounts(ctx, q, page*SearchPageMax, SearchPageMax+1)
	if err != nil {
		return nil, err
	}
	if len(rs) > SearchPageMax {
		rs, out.More = rs[:SearchPageMax], true
	}
	for i := range rs {
		out.Accounts = append(out.Accounts, rs[i].Account())
	}
	return out, nil
}

// AccountStatement (operator) returns an account (by number or phone) and
// its statement lines in [from, to) where those are set, newest first, at
// most limit: the statement without the owner's PIN, with a customer's
// limits used today.
func (s *Service) AccountStatement(ctx context.Context, numberOrPhone string, from, to time.Time, limit int) (*AccountView, error) {
	if limit <= 0 || limit > statementLinesMax {
		limit = statementLinesMax
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return nil, Errorf(CodeInvalid, "the period must start before it ends")
	}
	r, err := s.record(ctx, numberOrPhone)
	if err != nil {
		return nil, err
	}
	lines, err := s.statement(ctx, r.ID, from, to, limit)
	if err != nil {
		return nil, err
	}
	if lines == nil {
		lines = []StatementLine{}
	}
	return &AccountView{Statement: Statement{Account: r.Account(), Lines: lines}, Limits: s.limitsUsed(r, s.cfg.Now())}, nil
}

// LimitUse is one of a customer's tier limits and how much of it is used:
// the daily limit by today's debits, the balance limit by the balance; a
// per-transaction limit is never used up (Used is zero).
type LimitUse struct {
	Limit Limit `json:"limit"`
	Max   int64 `json:"max"`
	Used  int64 `json:"used"`
	Left  int64 `json:"left"` // Max - Used, never below zero
}

// AccountView is what the back-office's account page shows: the account,
// its statement, and (customers) its tier limits used today.
type AccountView struct {
	Statement
	Limits []LimitUse `json:"limits,omitempty"`
}

// limitsUsed returns a's tier limits and how much of each it used at now,
// read from the fields the batch's limits check reads (debitedOn): the
// account row, no other query. Nil for an account without tier limits.
func (s *Service) limitsUsed(a *AccountRecord, now time.Time) []LimitUse {
	l, ok := s.cfg.Tiers[a.Tier]
	if a.Kind != KindCustomer || !ok {
		return nil
	}
	use := func(limit Limit, minorMax, used int64) LimitUse {
		return LimitUse{Limit: limit, Max: minorMax, Used: used, Left: max(minorMax-used, 0)}
	}
	return []LimitUse{
		use(LimitDaily, l.Daily, a.debitedOn(s.day(now))),
		use(LimitPerTransaction, l.PerTransaction, 0),
		use(LimitBalance, l.BalanceMax, a.Balance),
	}
}

// TransferView is a transfer with the accounts its postings touch and its
// history: the reversal request about it, the transfers that reverse or
// refund it, and the one it reverses or refunds.
type TransferView struct {
	Transfer Transfer          `json:"transfer"`
	Accounts map[int64]Profile `json:"accounts"`
	// Reversal is the customer's reversal request about the transfer, if any.
	Reversal *Reversal `json:"reversal,omitempty"`
	// Later are the transfers that reverse or refund it (a reversal, a
	// merchant's refunds, at most TransferHistoryMax), oldest first.
	Later []Transfer `json:"later,omitempty"`
	// Original is the transfer it reverses or refunds, if it is one.
	Original *Transfer `json:"original,omitempty"`
}

// TransferHistoryMax bounds the refunds a transfer's page lists: a
// merchant refunds a payment in a few parts, not hundreds.
const TransferHistoryMax = 50

// TransferDetail (operator) returns the transfer with id ref and the
// profiles of the accounts it posted to.
func (s *Service) TransferDetail(ctx context.Context, ref string) (*TransferView, error) {
	ref = strings.ToUpper(strings.TrimSpace(ref))
	if !refPattern.MatchString(ref) {
		return nil, Errorf(CodeInvalid, "%q is not a transaction id", clip(ref))
	}
	t, err := s.store.TransferByRef(ctx, ref)
	if err != nil {
		return nil, err
	}
	v := &TransferView{Transfer: *t, Accounts: map[int64]Profile{}}
	for _, p := range t.Postings {
		if _, ok := v.Accounts[p.AccountID]; ok {
			continue
		}
		a, err := s.store.AccountByID(ctx, p.AccountID)
		if err != nil {
			return nil, err
		}
		v.Accounts[p.AccountID] = a.Account().Profile
	}
	if v.Later, err = s.store.TransfersOf(ctx, t.ID, TransferHistoryMax); err != nil {
		return nil, err
	}
	r, err := s.reversals.ReversalByOriginal(ctx, t.ID)
	switch {
	case err == nil:
		v.Reversal = r
	case ErrorCode(err) != CodeNotFound:
		return nil, err
	}
	if orig := cmp.Or(t.Reverses, t.Refunds); orig != 0 {
		if v.Original, err = s.store.TransferByRef(ctx, Ref(orig)); err != nil {
			return nil, err
		}
	}
	return v, nil
}
