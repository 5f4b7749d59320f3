package wallet_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

func kes(t testing.TB) wallet.Currency {
	t.Helper()
	c, err := wallet.LookupCurrency("KES")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestParseBankStatement(t *testing.T) {
	bal := func(v int64) *int64 { return &v }
	tests := []struct {
		name    string
		in      string
		lines   []wallet.BankLine
		balance *int64
		err     string // a part of the message; empty for none
	}{
		{"plain", "date,reference,amount\n2026-12-01,BANK-001,1500\n2026-12-02,BANK-002,250.50\n",
			[]wallet.BankLine{{Line: 2, Date: day(2026, 12, 1), Reference: "BANK-001", Amount: 150_000}, {Line: 3, Date: day(2026, 12, 2), Reference: "BANK-002", Amount: 25_050}}, nil, ""},
		{"any order and case, other columns, a byte order mark, CRLF",
			"\ufeffDescription,Amount,Reference,Date\r\n\"Cash deposit, Kisumu\",\"1,500,000.00\",bank-9,01/12/2026\r\n",
			[]wallet.BankLine{{Line: 2, Date: day(2026, 12, 1), Reference: "bank-9", Amount: 150_000_000}}, nil, ""},
		{"a debit and a blank line", "date,reference,amount\n2026-12-01,CHG,-35.5\n\n2026-12-02,X,1\n",
			[]wallet.BankLine{{Line: 2, Date: day(2026, 12, 1), Reference: "CHG", Amount: -3_550}, {Line: 4, Date: day(2026, 12, 2), Reference: "X", Amount: 100}}, nil, ""},
		{"a balance column, oldest first", "date,reference,amount,balance\n2026-12-01,A,10,110\n2026-12-02,B,5,115\n",
			[]wallet.BankLine{{Line: 2, Date: day(2026, 12, 1), Reference: "A", Amount: 1_000}, {Line: 3, Date: day(2026, 12, 2), Reference: "B", Amount: 500}}, bal(11_500), ""},
		{"a balance column, newest first", "date,reference,amount,balance\n2026-12-02,B,5,115\n2026-12-01,A,10,110\n",
			[]wallet.BankLine{{Line: 2, Date: day(2026, 12, 2), Reference: "B", Amount: 500}, {Line: 3, Date: day(2026, 12, 1), Reference: "A", Amount: 1_000}}, bal(11_500), ""},
		{"a zero balance", "date,reference,amount,balance\n2026-12-01,A,-10,0.00\n",
			[]wallet.BankLine{{Line: 2, Date: day(2026, 12, 1), Reference: "A", Amount: -1_000}}, bal(0), ""},
		{"only a header", "date,reference,amount\n", []wallet.BankLine{}, nil, ""},
		{"empty", "", nil, nil, "empty"},
		{"no amount column", "date,reference,value\n", nil, nil, `line 1: the header has no "amount" column`},
		{"a column twice", "date,reference,amount,Amount\n", nil, nil, `line 1: the column "amount" appears twice`},
		{"a bad date", "date,reference,amount\n2026-12-01,A,1\n12/31/2026,B,2\n", nil, nil, `line 3: the date "12/31/2026" is not`},
		{"no date", "date,reference,amount\n,A,1\n", nil, nil, "line 2: the date is missing"},
		{"a zero amount", "date,reference,amount\n2026-12-01,A,0\n", nil, nil, "line 2: amount:"},
		{"too many decimals", "date,reference,amount\n2026-12-01,A,1.005\n", nil, nil, "line 2: amount:"},
		{"a decimal comma", "date,reference,amount\n2026-12-01,A,\"15,00\"\n", nil, nil, "line 2: amount: \"15,00\" has misplaced thousands separators"},
		{"a missing amount", "date,reference,amount\n2026-12-01,A\n", nil, nil, "line 2: amount: missing"},
		{"a bad balance", "date,reference,amount,balance\n2026-12-01,A,1,x\n", nil, nil, "line 2: balance:"},
		{"a broken quote", "date,reference,amount\n2026-12-01,\"A,1\n", nil, nil, "line 2:"},
		{"a long reference", "date,reference,amount\n2026-12-01," + strings.Repeat("R", 129) + ",1\n", nil, nil, "line 2: the reference is longer than 128 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := wallet.ParseBankStatement(strings.NewReader(tt.in), kes(t))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || wallet.ErrorCode(err) != wallet.CodeInvalid {
					t.Fatalf("got %v, want a %s error containing %q", err, wallet.CodeInvalid, tt.err)
				}
				if got != nil {
					t.Errorf("got %+v with the error, want nothing", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Lines) != len(tt.lines) {
				t.Fatalf("got %+v, want %+v", got.Lines, tt.lines)
			}
			for i := range got.Lines {
				if g, w := got.Lines[i], tt.lines[i]; g.Line != w.Line || !g.Date.Equal(w.Date) || g.Reference != w.Reference || g.Amount != w.Amount {
					t.Errorf("line %d: got %+v, want %+v", i, g, w)
				}
			}
			if (got.Balance == nil) != (tt.balance == nil) || got.Balance != nil && *got.Balance != *tt.balance {
				t.Errorf("got balance %v, want %v", got.Balance, tt.balance)
			}
		})
	}
}

func TestParseBankStatementBounds(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("date,reference,amount\n")
	for b.Len() <= wallet.BankStatementBytesMax {
		b.WriteString("2026-12-01,BANK-0001,1\n")
	}
	if _, err := wallet.ParseBankStatement(&b, kes(t)); wallet.ErrorCode(err) != wallet.CodeInvalid || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("an oversized statement: got %v, want %s", err, wallet.CodeInvalid)
	}
	b.Reset()
	b.WriteString("date,reference,amount\n")
	for range wallet.BankLinesMax + 1 {
		b.WriteString("2026-12-01,R,1\n")
	}
	want := "line " + strconv.Itoa(wallet.BankLinesMax+2) + ": a bank statement has at most"
	if _, err := wallet.ParseBankStatement(&b, kes(t)); wallet.ErrorCode(err) != wallet.CodeInvalid || !strings.Contains(err.Error(), want) {
		t.Errorf("too many lines: got %v, want %q", err, want)
	}
}

// FuzzParseBankStatement: whatever the file, the parser returns a
// statement or a CodeInvalid error, never both, never panics, and what it
// returns is within its bounds.
func FuzzParseBankStatement(f *testing.F) {
	for _, s := range []string{
		"date,reference,amount\n2026-12-01,BANK-001,1500\n",
		"Date,Amount,Reference,Balance\r\n01/12/2026,\"1,500.00\",x,\"2,000.00\"\r\n",
		"date,reference,amount\n2026-12-01,\"A\"\"B\",-0.5\n",
		"\ufeffdate,reference,amount\n",
		"date,reference,amount\n2026-12-01,A,1,2,3\n\n",
	} {
		f.Add([]byte(s))
	}
	c, err := wallet.LookupCurrency("KES")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := wallet.ParseBankStatement(bytes.NewReader(data), c)
		if err != nil {
			if st != nil || wallet.ErrorCode(err) != wallet.CodeInvalid {
				t.Fatalf("got %+v and %v", st, err)
			}
			return
		}
		if len(st.Lines) > wallet.BankLinesMax {
			t.Fatalf("%d lines", len(st.Lines))
		}
		for _, l := range st.Lines {
			if l.Amount == 0 || l.Amount > wallet.AmountMax || l.Amount < -wallet.AmountMax || l.Line < 2 {
				t.Fatalf("line %+v", l)
			}
		}
	})
}

// reconEpoch is TestReconcile's reportEpoch: a year of its own, since the
// id clock starts afresh in a new year but never goes back within one, and
// the reconciliation's period is an id range.
var reconEpoch = time.Date(2033, 3, 10, 0, 0, 0, 0, time.UTC)

func TestReconcile(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(reconEpoch.Add(9 * time.Hour)) // 10 March
	_, a1 := f.agent(0)
	_, a2 := f.agent(0)
	issue := func(agent string, amount int64, ref string) {
		t.Helper()
		_, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: key(), Kind: wallet.TransferFloat, To: agent, Amount: amount, Reference: ref})
		f.must(err)
	}
	issue(a1, f.ksh(1_000), "OLD-1") // before the statement's period, not on it
	f.clock.Set(reconEpoch.Add(24*time.Hour + 9*time.Hour))
	issue(a1, f.ksh(50_000), "DEP-1") // matched
	issue(a2, f.ksh(20_000), "dep-2") // matched, the bank upper-cases it
	issue(a2, f.ksh(7_000), "DEP-3")  // the bank booked 7,500
	issue(a1, f.ksh(3_000), "DEP-4")  // not on the statement
	issue(a1, f.ksh(3_000), "DEP-1")  // the reference used twice: one stays unmatched
	f.clock.Set(reconEpoch.Add(3 * 24 * time.Hour))
	circulation := -f.balance(wallet.SystemTrust)

	csv := "date,reference,amount,balance\n" +
		"2033-03-11,DEP-1,\"50,000.00\",50000\n" +
		"2033-03-11,DEP-2,20000,70000\n" +
		"2033-03-11,DEP-3,7500,77500\n" +
		"2033-03-12,CHARGES,-150,77350\n" +
		"2033-03-12,DEP-9,4000,81350\n"
	st, err := wallet.ParseBankStatement(strings.NewReader(csv), f.kes)
	f.must(err)
	rec, err := f.reports().Reconcile(f.ctx, wallet.ReconcileQuery{Statement: *st})
	f.must(err)

	if rec.Circulation != circulation {
		t.Errorf("circulation %d, want %d", rec.Circulation, circulation)
	}
	if rec.BankBalance == nil || *rec.BankBalance != f.ksh(81_350) || rec.Difference == nil || *rec.Difference != f.ksh(81_350)-circulation {
		t.Errorf("bank balance %v, difference %v; want %d and %d", rec.BankBalance, rec.Difference, f.ksh(81_350), f.ksh(81_350)-circulation)
	}
	refs := func(ms []wallet.FloatMatch) (out []string) {
		for _, m := range ms {
			out = append(out, m.Line.Reference+"="+m.Float.Reference)
		}
		return out
	}
	if got, want := refs(rec.Matched), []string{"DEP-1=DEP-1", "DEP-2=dep-2"}; !equalStrings(got, want) {
		t.Errorf("matched %v, want %v", got, want)
	}
	if rec.MatchedTotal != f.ksh(70_000) {
		t.Errorf("matched total %d, want %d", rec.MatchedTotal, f.ksh(70_000))
	}
	if got, want := refs(rec.AmountDiffers), []string{"DEP-3=DEP-3"}; !equalStrings(got, want) || rec.AmountDiffersTotal != f.ksh(500) {
		t.Errorf("amounts differ %v (total %d), want %v (total %d)", got, rec.AmountDiffersTotal, want, f.ksh(500))
	}
	var lines []string
	for _, l := range rec.UnmatchedLines {
		lines = append(lines, l.Reference)
	}
	if want := []string{"CHARGES", "DEP-9"}; !equalStrings(lines, want) || rec.UnmatchedLinesTotal != f.ksh(4_000-150) {
		t.Errorf("unmatched lines %v (total %d), want %v (total %d)", lines, rec.UnmatchedLinesTotal, want, f.ksh(4_000-150))
	}
	var floats []string
	for _, fl := range rec.UnmatchedFloats {
		floats = append(floats, fl.Reference+"@"+fl.Agent)
		if fl.AgentName == "" || fl.Ref == "" {
			t.Errorf("unmatched float %+v lacks its agent's name or its ref", fl)
		}
	}
	if want := []string{"DEP-4@" + a1, "DEP-1@" + a1}; !equalStrings(floats, want) || rec.UnmatchedFloatsTotal != f.ksh(6_000) {
		t.Errorf("unmatched floats %v (total %d), want %v (total %d)", floats, rec.UnmatchedFloatsTotal, want, f.ksh(6_000))
	}

	if want := (wallet.ReconcileCounts{Matched: 2, AmountDiffers: 1, UnmatchedFloats: 2, UnmatchedLines: 2}); rec.Counts != want {
		t.Errorf("counts %+v, want %+v", rec.Counts, want)
	}

	bad := []struct {
		name string
		q    wallet.ReconcileQuery
	}{
		{"a period ending before it starts", wallet.ReconcileQuery{From: reconEpoch, To: reconEpoch.Add(-time.Hour)}},
		{"too many lines", wallet.ReconcileQuery{Statement: wallet.BankStatement{Lines: make([]wallet.BankLine, wallet.BankLinesMax+1)}}},
		{"a long reference", wallet.ReconcileQuery{Statement: wallet.BankStatement{Lines: []wallet.BankLine{{Reference: strings.Repeat("r", 129), Amount: 1}}}}},
	}
	for _, tt := range bad {
		if _, err := f.reports().Reconcile(f.ctx, tt.q); wallet.ErrorCode(err) != wallet.CodeInvalid {
			t.Errorf("%s: got %v, want %s", tt.name, err, wallet.CodeInvalid)
		}
	}
}
