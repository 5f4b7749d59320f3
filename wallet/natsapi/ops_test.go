package natsapi_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

// clock is a settable wallet clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// as returns ctx naming actor as the operator, with reason.
func as(actor, reason string) context.Context {
	return natsapi.WithOperator(context.Background(), natsapi.Operator{Actor: actor, Reason: reason})
}

const testPassword = "correct horse battery"

// TestOpsSignIn walks sign-in: right and wrong passwords and codes, a code
// used twice, an unknown email, the lockout, a disabled operator, and a
// session that ends idle and at its maximum age (a clock the test moves).
func TestOpsSignIn(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)}
	w := wallettest.Start(t, func(c *wallet.Config) { c.Now = clk.Now })
	c := w.Client
	admin := as("root", "")
	maker, err := c.AddOperator(admin, "Maker@Example.org", wallet.RoleMaker, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if maker.Operator.Email != "maker@example.org" || maker.TOTPSecret == "" || !strings.HasPrefix(maker.TOTPURI, "otpauth://totp/") {
		t.Fatalf("new maker %+v: want a lower-cased email and a TOTP secret", maker)
	}
	support, err := c.AddOperator(admin, "support@example.org", wallet.RoleSupport, testPassword)
	if err != nil || support.TOTPSecret != "" {
		t.Fatalf("support: %+v, %v: want no TOTP secret", support, err)
	}
	code := func(offset time.Duration) string {
		s, err := wallet.TOTPCode(maker.TOTPSecret, clk.Now().Add(offset))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	signIn := func(email, password, code string) (*natsapi.SignInReply, error) {
		return c.SignIn(as(email, ""), email, password, code)
	}
	for _, tc := range []struct {
		name, email, password, code string
		want                        wallet.Code
	}{
		{"add again", "", "", "", wallet.CodeExists},
		{"bad role", "", "", "", wallet.CodeInvalid},
		{"short password", "", "", "", wallet.CodeInvalid},
		{"no code", "maker@example.org", testPassword, "", wallet.CodeUnauthenticated},
		{"wrong code", "maker@example.org", testPassword, "000000", wallet.CodeUnauthenticated},
		{"wrong password", "maker@example.org", "wrong password!", code(0), wallet.CodeUnauthenticated},
		{"unknown email", "nobody@example.org", testPassword, "", wallet.CodeUnauthenticated},
		{"support without code", "support@example.org", testPassword, "", ""},
		{"maker", "maker@example.org", testPassword, code(0), ""},
		{"maker's code again", "maker@example.org", testPassword, code(0), wallet.CodeUnauthenticated},
	} {
		var err error
		switch tc.name {
		case "add again":
			_, err = c.AddOperator(admin, "maker@example.org", wallet.RoleChecker, testPassword)
		case "bad role":
			_, err = c.AddOperator(admin, "x@example.org", "boss", testPassword)
		case "short password":
			_, err = c.AddOperator(admin, "x@example.org", wallet.RoleSupport, "short")
		default:
			var r *natsapi.SignInReply
			r, err = signIn(tc.email, tc.password, tc.code)
			if err == nil && (r.Token == "" || r.Session.Operator.Email != tc.email) {
				t.Errorf("%s: got %+v", tc.name, r)
			}
		}
		if got := wallet.ErrorCode(err); got != tc.want {
			t.Errorf("%s: got %q (%v), want %q", tc.name, got, err, tc.want)
		}
	}

	// The session: alive while used, ended idle or at its maximum age.
	clk.Add(time.Minute)
	r, err := signIn("maker@example.org", testPassword, code(0))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ { // 12½ hours of use, 25 minutes apart
		clk.Add(25 * time.Minute)
		_, err := c.Session(admin, r.Token)
		if i < 28 && err != nil {
			t.Fatalf("after %d uses: %v", i+1, err)
		}
		if i >= 28 && wallet.ErrorCode(err) != wallet.CodeUnauthenticated {
			t.Fatalf("after %s: got %v, want the session ended", time.Duration(i+1)*25*time.Minute, err)
		}
	}
	r, err = signIn("support@example.org", testPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(wallet.OperatorSessionIdle + time.Second)
	if _, err := c.Session(admin, r.Token); wallet.ErrorCode(err) != wallet.CodeUnauthenticated {
		t.Fatalf("idle session: got %v, want it ended", err)
	}
	r, err = signIn("support@example.org", testPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SignOut(as("support@example.org", ""), r.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Session(admin, r.Token); wallet.ErrorCode(err) != wallet.CodeUnauthenticated {
		t.Fatalf("signed-out session: got %v, want it ended", err)
	}

	// The lockout: SignInFailuresMax wrong passwords lock even the right one out.
	for i := range wallet.SignInFailuresMax {
		if _, err := signIn("support@example.org", "wrong password!", ""); wallet.ErrorCode(err) != wallet.CodeUnauthenticated {
			t.Fatalf("wrong password %d: %v", i+1, err)
		}
	}
	if _, err := signIn("support@example.org", testPassword, ""); wallet.ErrorCode(err) != wallet.CodeRateLimited {
		t.Fatalf("locked out: got %v, want %s", err, wallet.CodeRateLimited)
	}
	clk.Add(wallet.SignInLockout)
	r, err = signIn("support@example.org", testPassword, "")
	if err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
	// Disabling ends the sessions and refuses the next sign-in.
	if _, err := c.DisableOperator(admin, "support@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Session(admin, r.Token); wallet.ErrorCode(err) != wallet.CodeUnauthenticated {
		t.Fatalf("disabled operator's session: got %v", err)
	}
	if _, err := signIn("support@example.org", testPassword, ""); wallet.ErrorCode(err) != wallet.CodeUnauthenticated {
		t.Fatalf("disabled operator: got %v", err)
	}
	ops, err := c.Operators(admin)
	if err != nil || len(ops) != 2 || ops[0].Email != "maker@example.org" || !ops[1].Disabled {
		t.Fatalf("operators: %+v, %v", ops, err)
	}

	// Every sign-in, right or wrong, is in the audit log; no password is.
	recs, err := c.AuditLog(admin, natsapi.AuditRequest{})
	if err != nil {
		t.Fatal(err)
	}
	signIns := map[string]int{}
	for _, rec := range recs {
		if strings.Contains(rec.Detail, testPassword) || strings.Contains(rec.Detail, "wrong password") {
			t.Errorf("audit record %d keeps a password: %s", rec.Seq, rec.Detail)
		}
		if rec.Action == "ops.signin" && rec.Outcome != wallet.AuditRequested {
			signIns[rec.Outcome]++
		}
	}
	if signIns[wallet.AuditOK] != 6 || signIns[string(wallet.CodeUnauthenticated)] != 11 || signIns[string(wallet.CodeRateLimited)] != 1 {
		t.Errorf("sign-in outcomes in the audit log: %v", signIns)
	}
}

// TestOpsMakerChecker proposes a float issue and decides it: the maker may
// not approve their own, a checker's approval moves the float once, a
// decided proposal stays decided, and a bank reference is proposed once.
func TestOpsMakerChecker(t *testing.T) {
	w := wallettest.Start(t)
	c := w.Client
	_, agent := w.Agent("Float Agent", "1357", 0)
	before := w.Balance(agent)
	// Each step is taken in a back-office session: the wallet names the
	// maker and the checker from their sessions, not from the actor header.
	makerS, checkerS := opSession(t, c, "maker@example.org", wallet.RoleMaker), opSession(t, c, "checker@example.org", wallet.RoleChecker)
	mk, ck := as("maker@example.org", "bank slip 7781"), as("checker@example.org", "slip checked")
	float := func(amount int64, ref string) natsapi.ProposalRequest {
		return natsapi.ProposalRequest{Session: makerS, Kind: wallet.ProposalFloatIssue, Target: agent, Amount: amount, Reference: ref}
	}
	p, err := c.Propose(mk, float(500_000, "DEP-7781"))
	if err != nil {
		t.Fatal(err)
	}
	rejected, err := c.Propose(mk, float(100, "DEP-7782"))
	if err != nil {
		t.Fatal(err)
	}
	customer := w.Customer("Jane", "2580", 0)
	toCustomer := float(1, "DEP-1")
	toCustomer.Target = customer
	noSession := float(1, "DEP-4")
	noSession.Session = ""
	decide := func(ctx context.Context, session string, id int64, approve bool) func() (*wallet.Proposal, error) {
		return func() (*wallet.Proposal, error) {
			return c.Decide(ctx, natsapi.ProposalDecision{Session: session, ID: id}, approve)
		}
	}
	for _, tc := range []struct {
		name string
		call func() (*wallet.Proposal, error)
		want wallet.Code
	}{
		{"same reference again", func() (*wallet.Proposal, error) { return c.Propose(mk, float(1, "DEP-7781")) }, wallet.CodeExists},
		{"to a customer", func() (*wallet.Proposal, error) { return c.Propose(mk, toCustomer) }, wallet.CodeWrongKind},
		{"no reason", func() (*wallet.Proposal, error) { return c.Propose(as("maker@example.org", ""), float(1, "DEP-2")) }, wallet.CodeInvalid},
		{"zero amount", func() (*wallet.Proposal, error) { return c.Propose(mk, float(0, "DEP-3")) }, wallet.CodeInvalidAmount},
		{"no session", func() (*wallet.Proposal, error) { return c.Propose(mk, noSession) }, wallet.CodeUnauthenticated},
		{"a header naming another maker", func() (*wallet.Proposal, error) {
			return c.Propose(as("other@example.org", "slip"), float(1, "DEP-5"))
		}, wallet.CodeForbidden},
		{"a checker proposes", func() (*wallet.Proposal, error) {
			q := float(1, "DEP-6")
			q.Session = checkerS
			return c.Propose(ck, q)
		}, wallet.CodeForbidden},
		{"maker approves own", decide(as("Maker@example.org", "mine"), makerS, p.ID, true), wallet.CodeForbidden},
		{"maker's header on the checker's session", decide(as("maker@example.org", "mine"), checkerS, p.ID, true), wallet.CodeForbidden},
		{"checker's header on the maker's session", decide(ck, makerS, p.ID, true), wallet.CodeForbidden},
		{"checker approves", decide(ck, checkerS, p.ID, true), ""},
		{"approved again", decide(ck, checkerS, p.ID, true), wallet.CodeInvalidState},
		{"checker rejects", decide(ck, checkerS, rejected.ID, false), ""},
		{"rejected one approved", decide(ck, checkerS, rejected.ID, true), wallet.CodeInvalidState},
		{"unknown", decide(ck, checkerS, 999, true), wallet.CodeNotFound},
	} {
		_, err := tc.call()
		if got := wallet.ErrorCode(err); got != tc.want {
			t.Errorf("%s: got %q (%v), want %q", tc.name, got, err, tc.want)
		}
	}
	if got := w.Balance(agent) - before; got != 500_000 {
		t.Errorf("the agent's float grew by %d, want 500000", got)
	}
	ps, err := c.Proposals(ck, nil, 0)
	if err != nil || len(ps) != 2 {
		t.Fatalf("proposals: %+v, %v", ps, err)
	}
	if ps[1].State != wallet.ProposalApproved || ps[1].Checker != "checker@example.org" || len(ps[1].Result) != 10 || ps[0].State != wallet.ProposalRejected {
		t.Errorf("proposals after the decisions: %+v", ps)
	}
	// The float issue is the one the command line would make: the same
	// reference issued again by hand is a replay, not a second issue.
	res, err := c.IssueFloat(ck, agent, 500_000, "DEP-7781")
	if err != nil || !res.Replayed || res.Transfer.Ref != ps[1].Result {
		t.Errorf("issue DEP-7781 by hand: %+v, %v: want the approved transfer replayed", res, err)
	}
}

// TestOpsSearch finds accounts by phone in any form, number, name and a
// transaction id, and refuses a malformed phone.
func TestOpsSearch(t *testing.T) {
	w := wallettest.Start(t)
	c := w.Client
	phone := w.Customer("Wanjiru Kamau", "2580", 0)
	_, agent := w.Agent("Kamau Agency", "1357", 10_000)
	local := "0" + phone[4:]
	spaced := phone[:4] + " " + phone[4:7] + " " + phone[7:]
	ctx := as("support@example.org", "")
	for _, tc := range []struct {
		query string
		want  []string // the numbers found
		code  wallet.Code
	}{
		{phone, []string{phone}, ""},
		{local, []string{phone}, ""},
		{spaced, []string{phone}, ""},
		{agent, []string{agent}, ""},
		{"wanjiru", []string{phone}, ""},
		{"WANJIRU KAM", []string{phone}, ""},
		// A name search matches the start of the name (an index serves
		// it): the agency, not the customer whose surname it is.
		{"KAMAU", []string{agent}, ""},
		{"anjiru", nil, ""},
		{"wanjiru%", nil, ""},
		{"w_njiru", nil, ""},
		{"nobody at all", nil, ""},
		{"07123", nil, wallet.CodeInvalidPhone},
		{"", nil, wallet.CodeInvalid},
		{strings.Repeat("a", wallet.SearchQueryBytesMax+1), nil, wallet.CodeInvalid},
	} {
		r, err := c.Search(ctx, tc.query, 0)
		if got := wallet.ErrorCode(err); got != tc.code {
			t.Errorf("search %q: got %q (%v), want %q", tc.query, got, err, tc.code)
			continue
		}
		if err != nil {
			continue
		}
		var got []string
		for _, a := range r.Accounts {
			got = append(got, a.Number)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("search %q: found %v, want %v", tc.query, got, tc.want)
		}
	}
	ps, err := c.Proposals(ctx, nil, 0)
	if err != nil || len(ps) != 0 {
		t.Fatalf("proposals: %v %v", ps, err)
	}
	st, err := c.AccountStatement(ctx, natsapi.OpsStatementRequest{Number: agent})
	if err != nil || len(st.Lines) != 1 {
		t.Fatalf("agent statement: %+v, %v", st, err)
	}
	ref := st.Lines[0].Ref
	r, err := c.Search(ctx, strings.ToLower(ref), 0)
	if err != nil || r.Transfer == nil || r.Transfer.Ref != ref {
		t.Fatalf("search %s: %+v, %v", ref, r, err)
	}
	v, err := c.TransferDetail(ctx, ref)
	if err != nil || v.Transfer.Amount != 10_000 || len(v.Accounts) < 2 {
		t.Fatalf("transfer %s: %+v, %v", ref, v, err)
	}
}
