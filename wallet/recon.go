package wallet

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

const (
	// BankStatementBytesMax bounds a bank statement file: a month of a
	// trust account's deposits is a few hundred kilobytes.
	// Half a megabyte: about 15,000 lines, and a request carrying it fits
	// NATS's default max_payload (1 MB).
	BankStatementBytesMax = 512 << 10
	// BankLinesMax bounds a statement's lines: one reconciliation matches
	// them all in memory and lists the unmatched ones on a page.
	BankLinesMax = 20_000
	// bankReferenceBytesMax bounds a line's reference. A float issue's is
	// at most ReferenceBytesMax, so a longer one (a bank charge's
	// narration) is kept but can match nothing.
	bankReferenceBytesMax = 128
	// bankFieldBytesMax bounds any other field, so an error can quote it.
	bankFieldBytesMax = 64
	// reconcileFloatsMax bounds the float issues one reconciliation reads:
	// a period's, plus those the statement's references name.
	reconcileFloatsMax = 50_000
	// ReconcileListMax bounds each list of a Reconciliation (its counts and
	// totals cover every entry): a page shows no more, and the reply must
	// fit in a NATS message.
	ReconcileListMax = 500
)

// BankLine is one line of the trust account's bank statement.
type BankLine struct {
	Line      int       `json:"line"` // in the file, the header being line 1; 0 when entered by hand
	Date      time.Time `json:"date"` // midnight UTC of the day the bank booked it
	Reference string    `json:"reference"`
	Amount    int64     `json:"amount"` // minor units; negative for a debit
}

// BankStatement is the trust account's bank statement: its lines and, when
// known, the closing balance.
type BankStatement struct {
	Lines   []BankLine `json:"lines"`
	Balance *int64     `json:"balance,omitempty"` // minor units; nil when the statement gives none
}

// The bank statement's columns: a header row names them (any case, any
// order, other columns ignored).
const (
	bankColDate      = "date"
	bankColReference = "reference"
	bankColAmount    = "amount"
	bankColBalance   = "balance" // optional: the balance after the line
)

// bankDateLayouts are the dates a statement may hold: ISO 8601, and the
// day-first form East African banks export (never month-first).
var bankDateLayouts = []string{"2006-01-02", "02/01/2006"}

// ParseBankStatement reads a bank statement in CSV: a header row naming the
// columns date, reference and amount (and optionally balance), then one row
// per line. Dates are YYYY-MM-DD or DD/MM/YYYY; amounts are in major units
// of c ("1500", "1,500.00", "-35.50" for a debit). The closing balance is
// the balance column of the latest line: the last row when the dates
// ascend, the first when they descend. Anything else is a CodeInvalid
// error naming the line; nothing is returned with it.
func ParseBankStatement(r io.Reader, c Currency) (*BankStatement, error) {
	data, err := io.ReadAll(io.LimitReader(r, BankStatementBytesMax+1))
	if err != nil {
		return nil, fmt.Errorf("read the bank statement: %w", err)
	}
	if len(data) > BankStatementBytesMax {
		return nil, Errorf(CodeInvalid, "the bank statement is larger than %d KiB", BankStatementBytesMax>>10)
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff")) // a spreadsheet's byte order mark
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, Errorf(CodeInvalid, "the bank statement is empty: it needs a header row (%s,%s,%s)", bankColDate, bankColReference, bankColAmount)
	}
	if err != nil {
		return nil, csvError(err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if _, dup := col[h]; dup && h != "" {
			return nil, Errorf(CodeInvalid, "line 1: the column %q appears twice", clipField(h))
		}
		col[h] = i
	}
	for _, name := range []string{bankColDate, bankColReference, bankColAmount} {
		if _, ok := col[name]; !ok {
			return nil, Errorf(CodeInvalid, "line 1: the header has no %q column; it needs %s, %s and %s", name, bankColDate, bankColReference, bankColAmount)
		}
	}
	balanceCol, hasBalance := col[bankColBalance]
	st := &BankStatement{Lines: []BankLine{}}
	var balances []int64
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		if len(st.Lines) == BankLinesMax {
			return nil, Errorf(CodeInvalid, "line %d: a bank statement has at most %d lines", line, BankLinesMax)
		}
		field := func(name string) string {
			if i := col[name]; i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		l := BankLine{Line: line, Reference: field(bankColReference)}
		if l.Date, err = parseBankDate(field(bankColDate)); err != nil {
			return nil, Errorf(CodeInvalid, "line %d: %v", line, err)
		}
		if len(l.Reference) > bankReferenceBytesMax {
			return nil, Errorf(CodeInvalid, "line %d: the reference is longer than %d bytes", line, bankReferenceBytesMax)
		}
		if l.Amount, err = parseBankAmount(c, field(bankColAmount), false); err != nil {
			return nil, Errorf(CodeInvalid, "line %d: amount: %v", line, err)
		}
		if hasBalance {
			var b string
			if balanceCol < len(rec) {
				b = strings.TrimSpace(rec[balanceCol])
			}
			v, err := parseBankAmount(c, b, true)
			if err != nil {
				return nil, Errorf(CodeInvalid, "line %d: balance: %v", line, err)
			}
			balances = append(balances, v)
		}
		st.Lines = append(st.Lines, l)
	}
	if hasBalance && len(st.Lines) > 0 {
		last := len(st.Lines) - 1
		b := balances[last]
		if st.Lines[0].Date.After(st.Lines[last].Date) { // newest first
			b = balances[0]
		}
		st.Balance = &b
	}
	return st, nil
}

// csvError turns a CSV syntax error into a CodeInvalid naming its line.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return Errorf(CodeInvalid, "line %d: %v", pe.StartLine, pe.Err)
	}
	return Errorf(CodeInvalid, "the bank statement is not CSV: %v", err)
}

func parseBankDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("the date is missing")
	}
	for _, layout := range bankDateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("the date %q is not YYYY-MM-DD or DD/MM/YYYY", clipField(s))
}

// parseBankAmount reads an amount in major units with an optional leading
// minus and optional thousands separators ("1,500.00"), through
// Currency.ParseAmount. Zero is refused unless zeroOK (a balance).
func parseBankAmount(c Currency, s string, zeroOK bool) (int64, error) {
	if s == "" {
		return 0, errors.New("missing")
	}
	if len(s) > bankFieldBytesMax {
		return 0, fmt.Errorf("longer than %d bytes", bankFieldBytesMax)
	}
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(s, "-")
	plain, ok := ungroup(digits)
	if !ok {
		return 0, fmt.Errorf("%q has misplaced thousands separators", clipField(s))
	}
	if zeroOK && strings.Trim(plain, "0.") == "" && plain != "" && plain != "." {
		return 0, nil
	}
	v, err := c.ParseAmount(plain)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return 0, fmt.Errorf("%q: %s", clipField(s), e.Message)
		}
		return 0, err
	}
	if neg {
		v = -v
	}
	return v, nil
}

// ungroup removes thousands separators from s when they group the whole
// part in threes ("1,500,000.00"), and reports false when a comma is
// anywhere else ("1,5", "15,00"): a decimal comma must not become a
// hundredfold amount.
func ungroup(s string) (string, bool) {
	if !strings.Contains(s, ",") {
		return s, true
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	groups := strings.Split(whole, ",")
	if len(groups[0]) < 1 || len(groups[0]) > 3 {
		return "", false
	}
	for _, g := range groups[1:] {
		if len(g) != 3 {
			return "", false
		}
	}
	if strings.Contains(frac, ",") {
		return "", false
	}
	out := strings.Join(groups, "")
	if hasFrac {
		out += "." + frac
	}
	return out, true
}

func clipField(s string) string {
	if len(s) > bankFieldBytesMax {
		return s[:bankFieldBytesMax] + "…"
	}
	return s
}

// FloatIssue is a float issue (a transfer of kind float) as reconciliation
// lists it.
type FloatIssue struct {
	ID        int64     `json:"-"`
	Ref       string    `json:"ref"`
	Agent     string    `json:"agent"` // the agent's number
	AgentName string    `json:"agent_name"`
	Amount    int64     `json:"amount"`
	Reference string    `json:"reference"` // the bank reference it was issued against
	Created   time.Time `json:"created"`
}

// ReconcileQuery asks for a reconciliation of a bank statement over a
// period. Without From and To the period is the statement's: from the day of
// its first line to the end of the day of its last, in the wallet's
// location.
type ReconcileQuery struct {
	Statement BankStatement `json:"statement"`
	From      time.Time     `json:"from,omitzero"`
	To        time.Time     `json:"to,omitzero"`
}

// FloatMatch is a bank line and the float issue with its reference.
type FloatMatch struct {
	Line  BankLine   `json:"line"`
	Float FloatIssue `json:"float"`
}

// Reconciliation compares the trust account's bank statement with the
// ledger: the e-money in circulation against the bank balance, and the
// float issues against the bank's deposits, matched by reference.
type Reconciliation struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Circulation is the e-money in circulation now (Dashboard's), which
	// the trust bank account must hold; Holdings splits it.
	Circulation int64    `json:"circulation"`
	Holdings    Holdings `json:"holdings"`
	// BankBalance is the statement's closing balance (nil without one),
	// and Difference BankBalance − Circulation: zero when they agree, as
	// far as the statement is up to date.
	BankBalance *int64 `json:"bank_balance,omitempty"`
	Difference  *int64 `json:"difference,omitempty"`

	Matched []FloatMatch `json:"matched"` // same reference, same amount
	// AmountDiffers pairs a line and a float issue with the same reference
	// but different amounts.
	AmountDiffers   []FloatMatch `json:"amount_differs"`
	UnmatchedFloats []FloatIssue `json:"unmatched_floats"` // in the period, no bank line
	UnmatchedLines  []BankLine   `json:"unmatched_lines"`  // no float issue, at any time

	// Counts are each list's entries before ReconcileListMax cut it.
	Counts ReconcileCounts `json:"counts"`

	MatchedTotal         int64 `json:"matched_total"`
	AmountDiffersTotal   int64 `json:"amount_differs_total"` // the lines' amounts less the floats'
	UnmatchedFloatsTotal int64 `json:"unmatched_floats_total"`
	UnmatchedLinesTotal  int64 `json:"unmatched_lines_total"`
}

// ReconcileCounts are how many entries each list of a Reconciliation has.
type ReconcileCounts struct {
	Matched         int `json:"matched"`
	AmountDiffers   int `json:"amount_differs"`
	UnmatchedFloats int `json:"unmatched_floats"`
	UnmatchedLines  int `json:"unmatched_lines"`
}

// capped appends v to list unless it holds ReconcileListMax, and counts it.
func capped[T any](list []T, v T, n *int) []T {
	*n++
	if len(list) < ReconcileListMax {
		list = append(list, v)
	}
	return list
}

// matchKey is how references compare: bank exports change case and pad.
func matchKey(ref string) string { return strings.ToUpper(strings.TrimSpace(ref)) }

// Reconcile matches q's statement against the float issues of the period
// and of any time with a reference on the statement: each line takes the
// first unmatched float issue with its reference and amount, or else with
// its reference (AmountDiffers). A line matches one float issue at most,
// so a reference used for two issues leaves one unmatched. CodeInvalid for
// a statement with more than BankLinesMax lines or a period that ends
// before it starts.
func (r *Reports) Reconcile(ctx context.Context, q ReconcileQuery) (*Reconciliation, error) {
	lines := q.Statement.Lines
	if len(lines) > BankLinesMax {
		return nil, Errorf(CodeInvalid, "a bank statement has at most %d lines", BankLinesMax)
	}
	from, to := q.From, q.To
	loc := r.cfg.Location
	if from.IsZero() && to.IsZero() && len(lines) > 0 {
		first, last := lines[0].Date, lines[0].Date
		for _, l := range lines {
			if l.Date.Before(first) {
				first = l.Date
			}
			if l.Date.After(last) {
				last = l.Date
			}
		}
		from = time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, loc)
		to = time.Date(last.Year(), last.Month(), last.Day()+1, 0, 0, 0, 0, loc)
	}
	if to.IsZero() {
		to = r.cfg.Now()
	}
	if !from.Before(to) {
		return nil, Errorf(CodeInvalid, "the period must start before it ends")
	}
	var refs []string
	seen := map[string]bool{}
	for _, l := range lines {
		if len(l.Reference) > bankReferenceBytesMax {
			return nil, Errorf(CodeInvalid, "line %d: the reference is longer than %d bytes", l.Line, bankReferenceBytesMax)
		}
		if k := matchKey(l.Reference); k != "" && len(k) <= ReferenceBytesMax && !seen[k] {
			seen[k] = true
			refs = append(refs, k)
		}
	}
	floats, err := r.st.FloatIssues(ctx, FirstTransferID(from), FirstTransferID(to), refs, reconcileFloatsMax+1)
	if err != nil {
		return nil, err
	}
	if len(floats) > reconcileFloatsMax {
		return nil, Errorf(CodeInvalid, "more than %d float issues to reconcile: choose a shorter period", reconcileFloatsMax)
	}
	sys, err := r.st.SystemBalances(ctx)
	if err != nil {
		return nil, err
	}
	out := &Reconciliation{From: from.UTC(), To: to.UTC(), Matched: []FloatMatch{}, AmountDiffers: []FloatMatch{},
		UnmatchedFloats: []FloatIssue{}, UnmatchedLines: []BankLine{}}
	out.Circulation, out.Holdings = holdings(sys)
	if b := q.Statement.Balance; b != nil {
		bal, diff := *b, *b-out.Circulation
		out.BankBalance, out.Difference = &bal, &diff
	}
	byRef := map[string][]int{} // reference → indexes into floats, in id order
	for i, f := range floats {
		byRef[matchKey(f.Reference)] = append(byRef[matchKey(f.Reference)], i)
	}
	used := make([]bool, len(floats))
	take := func(l BankLine, sameAmount bool) bool {
		for _, i := range byRef[matchKey(l.Reference)] {
			if !used[i] && (!sameAmount || floats[i].Amount == l.Amount) {
				used[i] = true
				m := FloatMatch{Line: l, Float: floats[i]}
				if sameAmount {
					out.Matched = capped(out.Matched, m, &out.Counts.Matched)
					out.MatchedTotal += l.Amount
				} else {
					out.AmountDiffers = capped(out.AmountDiffers, m, &out.Counts.AmountDiffers)
					out.AmountDiffersTotal += l.Amount - floats[i].Amount
				}
				return true
			}
		}
		return false
	}
	// Exact matches first, so a line with a wrong amount cannot take the
	// float issue a later, exact line is for.
	pending := make([]bool, len(lines))
	for i, l := range lines {
		pending[i] = matchKey(l.Reference) == "" || !take(l, true)
	}
	for i, l := range lines {
		if pending[i] && (matchKey(l.Reference) == "" || !take(l, false)) {
			out.UnmatchedLines = capped(out.UnmatchedLines, l, &out.Counts.UnmatchedLines)
			out.UnmatchedLinesTotal += l.Amount
		}
	}
	lo, hi := FirstTransferID(from), FirstTransferID(to)
	for i, f := range floats {
		if !used[i] && f.ID >= lo && f.ID < hi {
			out.UnmatchedFloats = capped(out.UnmatchedFloats, f, &out.Counts.UnmatchedFloats)
			out.UnmatchedFloatsTotal += f.Amount
		}
	}
	return out, nil
}
