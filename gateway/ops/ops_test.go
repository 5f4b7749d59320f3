package ops

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// TestRouteRoleMatrix walks every route with every role: an allowed one is
// answered (a page, a redirect, or the form's own refusal: nothing here
// sends a reason, so no POST changes anything), a refused one is 403 with
// the page that says so. Signed out, every route sends to the sign-in page.
func TestRouteRoleMatrix(t *testing.T) {
	e := newEnv(t)
	_, agent := e.w.Agent("Matrix Agent", "1357", 10_000)
	st, err := e.client.AccountStatement(context.Background(), natsapi.OpsStatementRequest{Number: agent})
	if err != nil || len(st.Lines) == 0 {
		t.Fatalf("agent statement: %v %v", st, err)
	}
	params := strings.NewReplacer("{number}", agent, "{ref}", st.Lines[0].Ref, "{id}", "999999", "{email}", "nobody@example.org", "{$}", "")
	forbidden := text(t, "ops.forbidden.role")
	signedOut := e.browser()
	for _, role := range wallet.OperatorRoles {
		b := e.as(role)
		token := b.get(Prefix + "/").csrf(t)
		for _, rt := range routes {
			path := Prefix + params.Replace(rt.path)
			var p page
			if rt.method == "GET" {
				p = b.get(path)
			} else {
				p = b.post(path, url.Values{"csrf": {token}})
			}
			want := slices.Contains(rt.roles, role)
			got := p.status != http.StatusForbidden
			if got != want || (got && (p.status >= 500 || strings.Contains(p.location, "/signin"))) {
				t.Errorf("%s %s %s: status %d %s, want allowed=%v", role, rt.method, rt.path, p.status, p.location, want)
			}
			if !want && !strings.Contains(p.body, forbidden) {
				t.Errorf("%s %s %s: the 403 page does not say why", role, rt.method, rt.path)
			}
			if role == wallet.RoleSupport {
				var p page
				if rt.method == "GET" {
					p = signedOut.get(path)
				} else {
					p = signedOut.post(path, url.Values{"csrf": {token}})
				}
				if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, Prefix+"/signin") {
					t.Errorf("signed out %s %s: %d %s, want the sign-in page", rt.method, rt.path, p.status, p.location)
				}
			}
		}
	}
}

// TestSignIn covers the sign-in form: TOTP wrong and right, a password
// alone for a role that needs a code, the lockout, the CSRF token of the
// form, and the headers every page carries.
func TestSignIn(t *testing.T) {
	e := newEnv(t)
	failed, locked := text(t, "ops.signin.failed"), text(t, "ops.signin.locked")
	maker, support := e.ops[wallet.RoleMaker], e.ops[wallet.RoleSupport]
	b := e.browser()
	for _, tc := range []struct {
		name, email, password, code string
		status                      int
		says                        string
	}{
		{"maker without a code", maker, password, "", http.StatusUnauthorized, failed},
		{"maker with a wrong code", maker, password, "123456", http.StatusUnauthorized, failed},
		{"maker with a wrong password", maker, "not the password", e.code(maker), http.StatusUnauthorized, failed},
		{"unknown operator", "who@example.org", password, "", http.StatusUnauthorized, failed},
		{"not an email", "<script>", password, "", http.StatusUnauthorized, failed},
		{"maker with the right code", maker, password, e.code(maker), http.StatusSeeOther, ""},
		{"support without a code", support, password, "", http.StatusSeeOther, ""},
	} {
		p := b.signIn(tc.email, tc.password, tc.code)
		if p.status != tc.status || !strings.Contains(p.body, tc.says) {
			t.Errorf("%s: %d, want %d saying %q:\n%s", tc.name, p.status, tc.status, tc.says, p.body)
		}
	}
	// The form's CSRF token: a post without the cookie's token is refused.
	p := e.browser().post(Prefix+"/signin", url.Values{"csrf": {"forged"}, "email": {support}, "password": {password}})
	if p.status != http.StatusForbidden {
		t.Errorf("sign-in without the form's token: %d, want 403", p.status)
	}
	// Lockout: the wrong password SignInFailuresMax times, then even the
	// right one is refused until the lockout ends.
	auditor := e.ops[wallet.RoleAuditor]
	for range wallet.SignInFailuresMax {
		b.signIn(auditor, "not the password", "")
	}
	if p := b.signIn(auditor, password, ""); p.status != http.StatusTooManyRequests || !strings.Contains(p.body, locked) {
		t.Errorf("locked out: %d, want 429 saying %q", p.status, locked)
	}
	e.clk.Add(wallet.SignInLockout)
	if p := b.signIn(auditor, password, ""); p.status != http.StatusSeeOther {
		t.Errorf("after the lockout: %d, want 303", p.status)
	}
	// Every page carries the CSP and its cookie's flags.
	res, err := http.Get(e.srv.URL + Prefix + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Content-Security-Policy"); got != csp {
		t.Errorf("CSP %q", got)
	}
	if c := res.Cookies(); len(c) != 1 || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode {
		t.Errorf("cookies %+v: want one HttpOnly SameSite=Strict", c)
	}
}

// TestSessionExpiry moves the wallet's clock: an idle session ends, and so
// does one used all day, after OperatorSessionMax.
func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	b := e.as(wallet.RoleSupport)
	if p := b.get(Prefix + "/search"); p.status != http.StatusOK {
		t.Fatalf("search: %d", p.status)
	}
	e.clk.Add(wallet.OperatorSessionIdle + time.Minute)
	p := b.get(Prefix + "/search")
	if p.status != http.StatusSeeOther || p.location != Prefix+"/signin?expired=1" {
		t.Fatalf("idle session: %d %s, want the sign-in page", p.status, p.location)
	}
	if p := b.get(p.location); !strings.Contains(p.body, text(t, "ops.signin.expired")) {
		t.Errorf("the sign-in page does not say the session ended")
	}
	b = e.as(wallet.RoleSupport)
	for elapsed := time.Duration(0); elapsed < wallet.OperatorSessionMax-20*time.Minute; elapsed += 20 * time.Minute {
		e.clk.Add(20 * time.Minute)
		if p := b.get(Prefix + "/search"); p.status != http.StatusOK {
			t.Fatalf("in use after %s: %d", elapsed, p.status)
		}
	}
	e.clk.Add(21 * time.Minute)
	if p := b.get(Prefix + "/search"); p.status != http.StatusSeeOther {
		t.Fatalf("after %s: %d, want the session ended", wallet.OperatorSessionMax, p.status)
	}
}

// TestFreezeAndBadInput freezes and unfreezes an account with a reason,
// and refuses a missing CSRF token, a missing or over-long reason, a
// malformed phone and an unknown account with a clear message and nothing
// changed.
func TestFreezeAndBadInput(t *testing.T) {
	e := newEnv(t)
	phone := e.w.Customer("Achieng Otieno", "2580", 5_000)
	b := e.as(wallet.RoleSupport)
	acct := Prefix + "/account/" + url.PathEscape(phone)
	token := b.get(acct).csrf(t)
	status := func() wallet.Status {
		a, err := e.client.AccountStatement(context.Background(), natsapi.OpsStatementRequest{Number: phone, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		return a.Account.Status
	}
	for _, tc := range []struct {
		name   string
		do     func() page
		status int
		says   string
	}{
		{"no CSRF token", func() page { return b.post(acct+"/freeze", url.Values{"reason": {"fraud report 17"}}) }, http.StatusForbidden, text(t, "ops.forbidden.csrf")},
		{"wrong CSRF token", func() page {
			return b.post(acct+"/freeze", url.Values{"csrf": {token + "x"}, "reason": {"fraud report 17"}})
		}, http.StatusForbidden, text(t, "ops.forbidden.csrf")},
		{"no reason", func() page { return b.post(acct+"/freeze", url.Values{"csrf": {token}, "reason": {"  "}}) }, http.StatusBadRequest, text(t, "ops.error.reason_required")},
		{"over-long reason", func() page {
			return b.post(acct+"/freeze", url.Values{"csrf": {token}, "reason": {strings.Repeat("x", ReasonBytesMax+1)}})
		}, http.StatusBadRequest, text(t, "ops.error.reason_long")},
		{"reason with a control character", func() page {
			return b.post(acct+"/freeze", url.Values{"csrf": {token}, "reason": {"line\x07bell"}})
		}, http.StatusBadRequest, "control characters"},
		{"malformed phone", func() page { return b.get(Prefix + "/search?q=07123") }, http.StatusBadRequest, "neither a phone number nor an account number"},
		{"unknown account", func() page { return b.get(Prefix + "/account/%2B254799999999") }, http.StatusNotFound, text(t, "ops.notfound")},
		{"bad date", func() page { return b.get(acct + "?from=07/12/2026") }, http.StatusBadRequest, text(t, "ops.error.date")},
	} {
		p := tc.do()
		if p.status != tc.status || !strings.Contains(p.body, tc.says) {
			t.Errorf("%s: %d, want %d saying %q:\n%s", tc.name, p.status, tc.status, tc.says, p.body)
		}
		if got := status(); got != wallet.StatusActive {
			t.Fatalf("%s: the account is %s, want it unchanged", tc.name, got)
		}
	}
	p := b.post(acct+"/freeze", url.Values{"csrf": {token}, "reason": {"fraud report 17"}})
	if p.status != http.StatusSeeOther || status() != wallet.StatusFrozen {
		t.Fatalf("freeze: %d %s, account %s", p.status, p.location, status())
	}
	if p := b.get(p.location); !strings.Contains(p.body, text(t, "ops.account.frozen_done")) {
		t.Errorf("the account page does not say it froze")
	}
	if p := b.post(acct+"/unfreeze", url.Values{"csrf": {token}, "reason": {"customer verified"}}); p.status != http.StatusSeeOther || status() != wallet.StatusActive {
		t.Fatalf("unfreeze: %d, account %s", p.status, status())
	}
	if p := b.post(acct+"/pin-reset", url.Values{"csrf": {token}, "reason": {"forgot PIN, ID checked"}}); p.status != http.StatusSeeOther {
		t.Fatalf("PIN reset: %d\n%s", p.status, p.body)
	}
	if a, _ := e.client.AccountStatement(context.Background(), natsapi.OpsStatementRequest{Number: phone, Limit: 1}); a.Account.HasPIN || !a.Account.NeedsStartKey {
		t.Errorf("after the PIN reset: %+v", a.Account)
	}
	// The audit log names the operator and their reasons.
	recs, err := e.client.AuditLog(context.Background(), natsapi.AuditRequest{Account: phone})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		if r.Outcome == wallet.AuditOK && r.Actor != "test" { // the test wallet's own setup
			got = append(got, r.Actor+" "+r.Action+" "+r.Reason)
		}
	}
	want := []string{"support@example.org account.status fraud report 17", "support@example.org account.status customer verified",
		"support@example.org pin.reset forgot PIN, ID checked"}
	if !slices.Equal(got, want) {
		t.Errorf("audit log:\n got %q\nwant %q", got, want)
	}
}

// TestSearchPages finds an account by phone in local form and by name,
// pages a long list, and opens a transaction from its id.
func TestSearchPages(t *testing.T) {
	e := newEnv(t)
	phone := e.w.Customer("Zawadi Mwangi", "2580", 0)
	for i := range wallet.SearchPageMax + 1 {
		e.w.Customer("Pagetest "+string(rune('A'+i%26)), "2580", 0)
	}
	_, agent := e.w.Agent("Zawadi Agency", "1357", 20_000)
	b := e.as(wallet.RoleSupport)
	if p := b.get(Prefix + "/search?q=" + url.QueryEscape("0"+phone[4:])); p.status != http.StatusOK || !strings.Contains(p.body, "Zawadi Mwangi") || strings.Contains(p.body, "Zawadi Agency") {
		t.Errorf("search by local phone: %d\n%s", p.status, p.body)
	}
	if p := b.get(Prefix + "/search?q=zawadi"); !strings.Contains(p.body, "Zawadi Mwangi") || !strings.Contains(p.body, "Zawadi Agency") {
		t.Errorf("search by name: %d\n%s", p.status, p.body)
	}
	p := b.get(Prefix + "/search?q=pagetest")
	if strings.Count(p.body, "Pagetest") != wallet.SearchPageMax || !strings.Contains(p.body, text(t, "ops.search.next")) {
		t.Errorf("first page: %d rows", strings.Count(p.body, "Pagetest"))
	}
	if p := b.get(Prefix + "/search?q=pagetest&page=1"); strings.Count(p.body, "Pagetest") != 1 {
		t.Errorf("second page: %d rows", strings.Count(p.body, "Pagetest"))
	}
	st, err := e.client.AccountStatement(context.Background(), natsapi.OpsStatementRequest{Number: agent})
	if err != nil {
		t.Fatal(err)
	}
	ref := st.Lines[0].Ref
	p = b.get(Prefix + "/search?q=" + ref)
	if p.status != http.StatusSeeOther || p.location != Prefix+"/transfer/"+ref {
		t.Fatalf("search %s: %d %s", ref, p.status, p.location)
	}
	if p := b.get(p.location); !strings.Contains(p.body, "principal") || !strings.Contains(p.body, agent) {
		t.Errorf("transfer page:\n%s", p.body)
	}
}

// TestMakerChecker: a maker proposes a float issue; the maker cannot
// approve it, a checker can, and the float moves once.
func TestMakerChecker(t *testing.T) {
	e := newEnv(t)
	_, agent := e.w.Agent("Float Agent", "1357", 0)
	maker := e.as(wallet.RoleMaker)
	token := maker.get(Prefix + "/proposals").csrf(t)
	form := url.Values{"csrf": {token}, "agent": {agent}, "amount": {"2,500.50"}, "reference": {"DEP-991"}, "reason": {"bank slip 991"}}
	if p := maker.post(Prefix+"/proposals", form); p.status != http.StatusBadRequest || !strings.Contains(p.body, text(t, "ops.error.amount")) {
		t.Errorf("malformed amount: %d", p.status)
	}
	form.Set("amount", "2500.50")
	if p := maker.post(Prefix+"/proposals", form); p.status != http.StatusSeeOther {
		t.Fatalf("propose: %d\n%s", p.status, p.body)
	}
	if p := maker.post(Prefix+"/proposals", form); p.status != http.StatusConflict || !strings.Contains(p.body, "DEP-991 was already proposed") {
		t.Errorf("the same reference again: %d", p.status)
	}
	ps, err := e.client.Proposals(context.Background(), nil, 0)
	if err != nil || len(ps) != 1 {
		t.Fatalf("proposals: %v %v", ps, err)
	}
	approve := Prefix + "/proposals/" + itoa(ps[0].ID) + "/approve"
	if p := maker.post(approve, url.Values{"csrf": {token}, "reason": {"mine"}}); p.status != http.StatusForbidden {
		t.Errorf("the maker approving: %d, want 403", p.status)
	}
	checker := e.as(wallet.RoleChecker)
	ct := checker.get(Prefix + "/proposals").csrf(t)
	if p := checker.post(approve, url.Values{"csrf": {ct}, "reason": {"slip matches statement"}}); p.status != http.StatusSeeOther {
		t.Fatalf("the checker approving: %d\n%s", p.status, p.body)
	}
	if p := checker.post(approve, url.Values{"csrf": {ct}, "reason": {"again"}}); p.status != http.StatusConflict {
		t.Errorf("approving twice: %d, want 409", p.status)
	}
	if got := e.w.Balance(agent); got != 250_050 {
		t.Errorf("agent float %d, want 250050", got)
	}
	// The operator NATS user alone cannot play a part: a proposal or a
	// decision names its maker or checker by a live back-office session of
	// that role, whatever the actor header says.
	other := e.addOperator("both@example.org", wallet.RoleChecker)
	ctx := natsapi.WithOperator(context.Background(), natsapi.Operator{Actor: other, Reason: "self"})
	if _, err := e.client.Propose(ctx, natsapi.ProposalRequest{Kind: wallet.ProposalFloatIssue, Target: agent, Amount: 1, Reference: "DEP-992"}); wallet.ErrorCode(err) != wallet.CodeUnauthenticated {
		t.Errorf("a proposal without a session: %v, want unauthenticated", err)
	}
	if _, err := e.client.Decide(ctx, natsapi.ProposalDecision{ID: ps[0].ID}, false); wallet.ErrorCode(err) != wallet.CodeUnauthenticated {
		t.Errorf("a decision without a session: %v, want unauthenticated", err)
	}
}

// TestAuditPage shows the log newest first with its chain verified.
func TestAuditPage(t *testing.T) {
	e := newEnv(t)
	b := e.as(wallet.RoleAuditor)
	p := b.get(Prefix + "/audit")
	if p.status != http.StatusOK || !strings.Contains(p.body, text(t, "ops.audit.verified")) || !strings.Contains(p.body, "ops.signin") {
		t.Errorf("audit page: %d\n%s", p.status, p.body)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestDashboard draws the wallet's report: the circulation, its split, the
// period's totals by kind, and four charts drawn as SVG on the server.
func TestDashboard(t *testing.T) {
	e := newEnv(t)
	e.w.Agent("Dash Agent", "1357", 70_000)
	p := e.as(wallet.RoleFinance).get(Prefix + "/dashboard")
	if p.status != http.StatusOK {
		t.Fatalf("dashboard: %d\n%s", p.status, p.body)
	}
	if !strings.Contains(p.body, `id="circulation">KES 700.00<`) {
		t.Errorf("the dashboard does not show KES 700.00 in circulation")
	}
	for _, id := range []string{"chart-transfers", "chart-volume", "chart-fees", "chart-circulation"} {
		i := strings.Index(p.body, `<figure id="`+id+`"`)
		if i < 0 {
			t.Errorf("no figure %s", id)
			continue
		}
		fig := p.body[i : i+strings.Index(p.body[i:], "</figure>")]
		if !strings.Contains(fig, "<svg") || !strings.Contains(fig, "</svg>") {
			t.Errorf("%s has no chart:\n%s", id, fig)
		}
	}
	if !strings.Contains(p.body, "<td>"+string(wallet.TransferFloat)+"</td><td>1</td><td>KES 700.00</td>") {
		t.Errorf("the totals do not show the one float issue")
	}
	res, err := http.Get(e.srv.URL + Prefix + "/static/chart.css")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") {
		t.Errorf("chart.css: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
}
