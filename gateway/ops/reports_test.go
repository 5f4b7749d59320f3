package ops

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kibubu/kibubu/wallet"
)

// TestAgentsPage lists every agent with its float and flags the low ones;
// the filter shows only those; a malformed page is refused.
func TestAgentsPage(t *testing.T) {
	e := newEnv(t)
	_, low := e.w.Agent("Low Float Agent", "1357", 70_000)
	_, high := e.w.Agent("Full Float Agent", "1357", 600_000)
	b := e.as(wallet.RoleSupport)
	for _, tc := range []struct {
		name, query string
		status      int
		shows       []string
		hides       []string
	}{
		{"all", "", http.StatusOK, []string{low, high, "Low Float Agent", "KES 700.00", "KES 6,000.00", `id="total-low">1<`, `id="total-float">KES 6,700.00<`}, nil},
		{"low only", "?low=1", http.StatusOK, []string{low}, []string{high}},
		{"a bad page", "?after=x", http.StatusBadRequest, []string{text(t, "ops.error.bad_page")}, []string{low}},
		{"a negative page", "?after=-4", http.StatusBadRequest, []string{text(t, "ops.error.bad_page")}, []string{low}},
	} {
		p := b.get(Prefix + "/agents" + tc.query)
		if p.status != tc.status {
			t.Errorf("%s: %d, want %d\n%s", tc.name, p.status, tc.status, p.body)
		}
		for _, s := range tc.shows {
			if !strings.Contains(p.body, s) {
				t.Errorf("%s: the page does not show %q", tc.name, s)
			}
		}
		for _, s := range tc.hides {
			if strings.Contains(p.body, s) {
				t.Errorf("%s: the page shows %q", tc.name, s)
			}
		}
	}
	if p := b.get(Prefix + "/agents"); strings.Count(p.body, `class="flag"`) != 1 {
		t.Errorf("want exactly one agent flagged low")
	}
}

// upload posts a multipart form with the bank statement csv (no file part
// when csv is nil).
func (b *browser) upload(path, token string, csv []byte) page {
	b.e.t.Helper()
	var body bytes.Buffer
	m := multipart.NewWriter(&body)
	m.WriteField("csrf", token)
	if csv != nil {
		f, _ := m.CreateFormFile("statement", "statement.csv")
		f.Write(csv)
	}
	m.Close()
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, &body)
	req.Header.Set("Content-Type", m.FormDataContentType())
	return b.do(req)
}

// TestReconcilePage uploads bank statements: a good one shows circulation
// against the bank balance and the float issues matched, differing and
// unmatched, with totals; a bad one is refused with its line number, and
// nothing changes.
func TestReconcilePage(t *testing.T) {
	e := newEnv(t)
	_, a := e.w.Agent("Recon Agent A", "1357", 70_000)
	_, b := e.w.Agent("Recon Agent B", "1357", 50_000)
	day := e.clk.Now().Format("2006-01-02")
	good := "date,reference,amount,balance\n" +
		day + ",BANK-" + a + ",700.00,700.00\n" +
		day + ",BANK-" + b + ",400.00,1100.00\n" +
		day + ",CHARGE-77,-5.00,1095.00\n"
	finance := e.as(wallet.RoleFinance)
	form := finance.get(Prefix + "/reconcile")
	if form.status != http.StatusOK || !strings.Contains(form.body, `enctype="multipart/form-data"`) {
		t.Fatalf("reconcile form: %d\n%s", form.status, form.body)
	}
	token := form.csrf(t)
	badCSV := text(t, "ops.recon.bad_csv")
	for _, tc := range []struct {
		name   string
		csv    []byte
		token  string
		status int
		shows  []string
	}{
		{"good", []byte(good), token, http.StatusOK, []string{
			`id="circulation">KES 1,200.00<`, `id="bank-balance">KES 1,095.00<`, `id="difference">KES -105.00<`,
			`id="matched-count">1<`, `id="matched-total">KES 700.00<`, `id="differs-count">1<`,
			`id="unmatched-lines-count">1<`, `id="unmatched-lines-total">KES -5.00<`, `id="unmatched-floats-count">0<`, "CHARGE-77"}},
		{"no header column", []byte("date,ref,amount\n" + day + ",X,1.00\n"), token, http.StatusBadRequest, []string{badCSV, "line 1"}},
		{"a bad amount on line 3", []byte("date,reference,amount\n" + day + ",X,1.00\n" + day + ",Y,twelve\n"), token, http.StatusBadRequest, []string{badCSV, "line 3"}},
		{"a bad date on line 2", []byte("date,reference,amount\n31/31/2026,X,1.00\n"), token, http.StatusBadRequest, []string{badCSV, "line 2"}},
		{"empty", []byte{}, token, http.StatusBadRequest, []string{badCSV}},
		{"no file", nil, token, http.StatusBadRequest, []string{text(t, "ops.recon.no_file")}},
		{"too large", bytes.Repeat([]byte("x"), uploadBytesMax+1), token, http.StatusRequestEntityTooLarge, []string{text(t, "ops.error.too_large")}},
		{"over the statement's bound", append([]byte("date,reference,amount\n"), bytes.Repeat([]byte("\n"), wallet.BankStatementBytesMax)...), token, http.StatusBadRequest, []string{badCSV}},
		{"no CSRF token", []byte(good), "forged", http.StatusForbidden, []string{text(t, "ops.forbidden.csrf")}},
	} {
		p := finance.upload(Prefix+"/reconcile", tc.token, tc.csv)
		if p.status != tc.status {
			t.Errorf("%s: %d, want %d\n%s", tc.name, p.status, tc.status, p.body)
		}
		for _, s := range tc.shows {
			if !strings.Contains(p.body, s) {
				t.Errorf("%s: the page does not show %q", tc.name, s)
			}
		}
		if tc.status != http.StatusOK && strings.Contains(p.body, `id="matched-count"`) {
			t.Errorf("%s: a refused statement was reconciled", tc.name)
		}
	}
	// Reconciling reads only: the floats are as issued.
	for number, want := range map[string]int64{a: 70_000, b: 50_000} {
		if got := e.w.Balance(number); got != want {
			t.Errorf("agent %s: balance %d, want %d", number, got, want)
		}
	}
	// A url-encoded post carries no file.
	if p := finance.post(Prefix+"/reconcile", url.Values{"csrf": {token}}); p.status != http.StatusBadRequest {
		t.Errorf("a form without a file: %d, want 400", p.status)
	}
}
