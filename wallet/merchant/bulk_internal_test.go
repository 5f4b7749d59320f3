package merchant

import (
	"strings"
	"testing"

	"github.com/kibubu/kibubu/wallet"
)

func TestParseBulk(t *testing.T) {
	kes, _ := wallet.LookupCurrency("KES")
	file := "\ufeffAmount,Phone,reference\n" +
		"1500,0712345678,salary\n" +
		"\"12.50\",\"+254 722 000 002\",\"with, comma\"\n" +
		"7,0712345678\n" + // no reference field at all
		"1.234,0712345678,r\n" +
		"1,call me,r\n" +
		"1,0712345678," + strings.Repeat("r", 33) + "\n" +
		"\"multi\nline\",0712345678,r\n" +
		"2,0712345678,r\n"
	got, err := parseBulk([]byte(file), kes, "KE")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		line   int
		phone  string
		amount int64
		ref    string
		code   wallet.Code
	}{
		{2, "+254712345678", 150000, "salary", ""},
		{3, "+254722000002", 1250, "with, comma", ""},
		{4, "+254712345678", 700, "", ""},
		{5, "+254712345678", 0, "r", wallet.CodeInvalidAmount},
		{6, "call me", 0, "r", wallet.CodeInvalidPhone},
		{7, "+254712345678", 0, strings.Repeat("r", 32), wallet.CodeInvalid},
		{8, "+254712345678", 0, "r", wallet.CodeInvalidAmount},
		{10, "+254712345678", 200, "r", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rows %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		code := wallet.Code("")
		if g.err != nil {
			code = g.err.Code
		}
		if g.Line != w.line || g.Phone != w.phone || g.Amount != w.amount || g.Reference != w.ref || code != w.code {
			t.Errorf("row %d: got line %d %q %d %q %q, want %+v", i, g.Line, g.Phone, g.Amount, g.Reference, code, w)
		}
	}
}

// FuzzParseBulk feeds the bulk payout parser arbitrary files: it never
// panics, refuses a file only with CodeInvalid or CodeInvalidAmount, and
// every row it returns is either a valid payout or carries its error.
func FuzzParseBulk(f *testing.F) {
	kes, _ := wallet.LookupCurrency("KES")
	f.Add([]byte("phone,amount,reference\n0712345678,100,r\n0722000002,1.5,\n"))
	f.Add([]byte("Amount,PHONE\n1,2\n\"3\",\"4\"\n"))
	f.Add([]byte("phone,amount\n\"unterminated\n"))
	f.Add([]byte("\ufeffphone,amount\n0712345678,100\n,,\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := parseBulk(data, kes, "KE")
		if err != nil {
			if c := wallet.ErrorCode(err); c != wallet.CodeInvalid && c != wallet.CodeInvalidAmount {
				t.Fatalf("file refused with %v", err)
			}
			return
		}
		if len(rows) == 0 || len(rows) > BulkRowsMax {
			t.Fatalf("%d rows accepted", len(rows))
		}
		last := 0
		for _, r := range rows {
			if r.Line <= last {
				t.Fatalf("line %d after %d", r.Line, last)
			}
			last = r.Line
			if r.err == nil && (r.Amount <= 0 || r.Amount > wallet.AmountMax || !strings.HasPrefix(r.Phone, "+") || len(r.Reference) > wallet.ReferenceBytesMax) {
				t.Fatalf("row %+v accepted", r)
			}
			if len(r.Phone) > 32 || len(r.Reference) > 32 {
				t.Fatalf("row %+v keeps too much of the input", r)
			}
		}
	})
}
