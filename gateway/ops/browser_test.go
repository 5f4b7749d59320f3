package ops

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kibubu/kibubu/gateway/internal/browsertest"
	"github.com/kibubu/kibubu/wallet"
)

// tab drives one browser tab through the back-office.
type tab struct {
	t   *testing.T
	e   *env
	ctx context.Context
}

func (e *env) tab(t *testing.T, parent context.Context) *tab {
	if parent == nil {
		return &tab{t: t, e: e, ctx: browsertest.New(t)}
	}
	ctx, cancel := chromedp.NewContext(parent)
	t.Cleanup(cancel)
	return &tab{t: t, e: e, ctx: ctx}
}

func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatal(err)
	}
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(sel))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// signIn fills the sign-in form as the operator with role.
func (b *tab) signIn(role wallet.OperatorRole) {
	b.t.Helper()
	email := b.e.ops[role]
	b.do(chromedp.Navigate(b.e.srv.URL+Prefix+"/signin"),
		chromedp.SendKeys("#email", email),
		chromedp.SendKeys("#password", password),
		chromedp.SendKeys("#code", b.e.code(email)),
		chromedp.Click("#signin"),
		chromedp.WaitVisible("#role"),
	)
	if got := b.text("#role"); got != string(role) {
		b.t.Fatalf("signed in as %q, want %q", got, role)
	}
}

// TestBrowserSupport signs a support operator in (with TOTP for the maker
// below), searches a phone in local form, and freezes the account with a
// reason, in a real headless Chromium; it saves a screenshot of each page.
func TestBrowserSupport(t *testing.T) {
	e := newEnv(t)
	phone := e.w.Customer("Neema Wambui", "2580", 12_345)
	b := e.tab(t, nil)
	b.signIn(wallet.RoleSupport)
	browsertest.Screenshot(t, b.ctx, "home")
	b.do(chromedp.SendKeys("#q", "0"+phone[4:]), chromedp.Click("#search"), chromedp.WaitVisible("#results"))
	browsertest.Screenshot(t, b.ctx, "search")
	if got := b.text("#results tbody"); !strings.Contains(got, "Neema Wambui") {
		t.Fatalf("results: %q", got)
	}
	b.do(chromedp.Click("#results tbody a"), chromedp.WaitVisible("#account-status"))
	if got := b.text("#account-status"); got != "active" {
		t.Fatalf("status %q", got)
	}
	// The form refuses no reason: the browser's own check, then ours.
	b.do(chromedp.SendKeys("#reason", "customer reported a stolen phone"), chromedp.Click("#status-action"), chromedp.WaitVisible("#notice"))
	browsertest.Screenshot(t, b.ctx, "account-frozen")
	if got := b.text("#account-status"); got != "frozen" {
		t.Fatalf("after freezing: status %q", got)
	}
	if a, err := e.client.AccountStatement(context.Background(), statementOf(phone)); err != nil || a.Account.Status != wallet.StatusFrozen {
		t.Fatalf("the wallet says %+v, %v", a, err)
	}
	// French.
	b.do(chromedp.Navigate(e.srv.URL+Prefix+"/lang/fr"), chromedp.WaitVisible("#role"))
	if got := b.text("h1"); got != "Bienvenue" {
		t.Errorf("French home page title %q", got)
	}
	browsertest.Screenshot(t, b.ctx, "home-fr")
}

// TestBrowserMakerChecker: a maker proposes a float issue and cannot
// approve it; a checker, in another browser, approves it; the agent's
// float grows once.
func TestBrowserMakerChecker(t *testing.T) {
	e := newEnv(t)
	_, agent := e.w.Agent("Float Agent", "1357", 0)
	m := e.tab(t, nil)
	m.signIn(wallet.RoleMaker)
	m.do(chromedp.Navigate(e.srv.URL+Prefix+"/proposals"),
		chromedp.SendKeys("#agent", agent),
		chromedp.SendKeys("#amount", "1500"),
		chromedp.SendKeys("#reference", "DEP-5521"),
		chromedp.SendKeys("#reason", "bank slip 5521"),
		chromedp.Click("#propose"),
		chromedp.WaitVisible("#notice"),
	)
	browsertest.Screenshot(t, m.ctx, "proposal-made")
	if got := m.text("#proposals tbody tr"); !strings.Contains(got, "pending") || strings.Contains(got, text(t, "ops.proposals.approve")) {
		t.Fatalf("the maker sees %q: want it pending with no approve button", got)
	}
	// A second browser (its own cookies) for the checker.
	c := e.tab(t, nil)
	c.signIn(wallet.RoleChecker)
	c.do(chromedp.Navigate(e.srv.URL+Prefix+"/proposals"),
		chromedp.SendKeys("#proposals tbody input[name=reason]", "slip matches the bank statement"),
		chromedp.Click("#proposals tbody button.approve"),
		chromedp.WaitVisible("#notice"),
	)
	browsertest.Screenshot(t, c.ctx, "proposal-approved")
	if got := c.text("#proposals tbody tr .state"); got != "approved" {
		t.Fatalf("after approval the state is %q", got)
	}
	if got := e.w.Balance(agent); got != 150_000 {
		t.Fatalf("agent float %d, want 150000", got)
	}
	c.do(chromedp.Click("#proposals tbody a[href*='/transfer/']"), chromedp.WaitVisible("#postings"))
	browsertest.Screenshot(t, c.ctx, "transfer")
	a := e.tab(t, nil)
	a.signIn(wallet.RoleAuditor)
	a.do(chromedp.Navigate(e.srv.URL+Prefix+"/audit"), chromedp.WaitVisible("#chain"))
	browsertest.Screenshot(t, a.ctx, "audit")
	if got := a.text("#chain"); !strings.Contains(got, text(t, "ops.audit.verified")) {
		t.Fatalf("audit chain: %q", got)
	}
	// The dashboard draws its charts on the server, as SVG.
	a.do(chromedp.Navigate(e.srv.URL+Prefix+"/dashboard"), chromedp.WaitVisible("#chart-transfers rect"))
	browsertest.Screenshot(t, a.ctx, "dashboard")
	if got, err := chromedp.Run(a.ctx, chromedp.TextContent("#chart-fees")); err != nil || !strings.Contains(got, "float") {
		t.Errorf("the fee chart names %q (%v), want the float kind among its bars", got, err)
	}
	if got := a.text("#circulation"); got != "KES 1,500.00" {
		t.Errorf("e-money in circulation %q, want KES 1,500.00", got)
	}
	// The agents report: the agent's float, flagged low (under KES 5,000).
	a.do(chromedp.Navigate(e.srv.URL+Prefix+"/agents"), chromedp.WaitVisible("#agents"))
	browsertest.Screenshot(t, a.ctx, "agents")
	if got := a.text("#agents tbody tr"); !strings.Contains(got, agent) || !strings.Contains(got, "KES 1,500.00") || !strings.Contains(got, text(t, "ops.agents.low")) {
		t.Errorf("the agents page shows %q: want the agent, its float, flagged low", got)
	}
	// Reconciliation: finance uploads the bank statement; the float issue
	// matches its deposit, the bank charge matches nothing.
	csv := filepath.Join(t.TempDir(), "statement.csv")
	day := e.clk.Now().Format("2006-01-02")
	if err := os.WriteFile(csv, []byte("date,reference,amount,balance\n"+day+",DEP-5521,1500.00,1500.00\n"+day+",CHARGE-1,-2.50,1497.50\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := e.tab(t, nil)
	f.signIn(wallet.RoleFinance)
	f.do(chromedp.Navigate(e.srv.URL+Prefix+"/reconcile"),
		chromedp.SetUploadFiles("#statement", []string{csv}),
		chromedp.Click("#reconcile"),
		chromedp.WaitVisible("#matched-count"),
	)
	browsertest.Screenshot(t, f.ctx, "reconcile")
	for sel, want := range map[string]string{"#matched-count": "1", "#unmatched-lines-count": "1", "#difference": "KES -2.50"} {
		if got := f.text(sel); got != want {
			t.Errorf("reconciliation %s = %q, want %q", sel, got, want)
		}
	}
}
