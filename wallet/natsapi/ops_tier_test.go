package natsapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

// opSession adds an operator with role and signs them in: their session token.
func opSession(t *testing.T, c *natsapi.Client, email string, role wallet.OperatorRole) string {
	t.Helper()
	op, err := c.AddOperator(as("root", ""), email, role, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	code, err := wallet.TOTPCode(op.TOTPSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.SignIn(as(email, ""), email, testPassword, code)
	if err != nil {
		t.Fatal(err)
	}
	return r.Token
}

// TestOpsTierChange walks a tier change through maker-checker (on SQLite,
// and on PostgreSQL where KIBUBU_TEST_POSTGRES is set): bad proposals are
// refused with nothing recorded, the maker cannot approve their own, an
// approval moves the customer to the tier and its limits, a rejection
// changes nothing, an account frozen after the proposal fails it, and the
// approval is in the audit log.
func TestOpsTierChange(t *testing.T) {
	w := wallettest.Start(t)
	c := w.Client
	ctx := context.Background()
	makerS := opSession(t, c, "maker@example.org", wallet.RoleMaker)
	checkerS := opSession(t, c, "checker@example.org", wallet.RoleChecker)
	mk, ck := as("maker@example.org", "ID checked at the shop"), as("checker@example.org", "ID scan matches")
	basic := func() string {
		p := wallettest.NewPhone()
		if _, err := c.Register(ctx, natsapi.RegisterRequest{Phone: p, Name: "Basic Customer", Tier: wallet.TierBasic}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tier := func(number string, to wallet.Tier) natsapi.ProposalRequest {
		return natsapi.ProposalRequest{Session: makerS, Kind: wallet.ProposalTierChange, Target: number, Tier: to}
	}
	decide := func(id int64, approve bool) (*wallet.Proposal, error) {
		return c.Decide(ck, natsapi.ProposalDecision{Session: checkerS, ID: id}, approve)
	}
	tierOf := func(number string) wallet.Tier {
		t.Helper()
		v, err := c.AccountStatement(ctx, natsapi.OpsStatementRequest{Number: number, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		return v.Account.Tier
	}

	up, rejected, frozen := basic(), basic(), basic()
	_, agent := w.Agent("Tier Agent", "", 0)
	if _, err := c.SetStatus(ctx, frozen, wallet.StatusFrozen); err != nil {
		t.Fatal(err)
	}
	p, err := c.Propose(mk, tier(up, wallet.TierFull))
	if err != nil {
		t.Fatal(err)
	}
	if p.State != wallet.ProposalPending || p.Target != up || p.Tier != wallet.TierFull || p.Reference == "" {
		t.Fatalf("proposal: got %+v, want pending, to tier 2, with a reference", p)
	}
	for _, tc := range []struct {
		name string
		q    natsapi.ProposalRequest
		want wallet.Code
	}{
		{"unknown tier", tier(rejected, 7), wallet.CodeInvalid},
		{"no tier", tier(rejected, 0), wallet.CodeInvalid},
		{"the same tier", tier(rejected, wallet.TierBasic), wallet.CodeInvalid},
		{"a frozen account", tier(frozen, wallet.TierFull), wallet.CodeAccountFrozen},
		{"an agent", tier(agent, wallet.TierFull), wallet.CodeWrongKind},
		{"an unknown account", tier("+254799999999", wallet.TierFull), wallet.CodeNotFound},
		{"a second pending change", tier(up, wallet.TierFull), wallet.CodeExists},
		{"a checker proposes", natsapi.ProposalRequest{Session: checkerS, Kind: wallet.ProposalTierChange, Target: rejected, Tier: wallet.TierFull}, wallet.CodeForbidden},
	} {
		ctx := mk
		if tc.q.Session == checkerS {
			ctx = ck
		}
		got, err := c.Propose(ctx, tc.q)
		if code := wallet.ErrorCode(err); code != tc.want {
			t.Errorf("%s: got %q (%v, %+v), want %q", tc.name, code, err, got, tc.want)
		}
	}
	if ps, err := c.Proposals(ck, nil, 0); err != nil || len(ps) != 1 {
		t.Fatalf("proposals after the refusals: got %+v, %v, want the one", ps, err)
	}
	if _, err := c.Decide(as("maker@example.org", "mine"), natsapi.ProposalDecision{Session: makerS, ID: p.ID}, true); wallet.ErrorCode(err) != wallet.CodeForbidden {
		t.Errorf("the maker approves: got %v, want forbidden", err)
	}
	if got := tierOf(up); got != wallet.TierBasic {
		t.Fatalf("before approval: got tier %d, want %d", got, wallet.TierBasic)
	}
	done, err := decide(p.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if done.State != wallet.ProposalApproved || done.Result != "tier 2" || done.Checker != "checker@example.org" {
		t.Errorf("approved: got %+v", done)
	}
	v, err := c.AccountStatement(ctx, natsapi.OpsStatementRequest{Number: up, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	full := wallet.DefaultLimits(w.Service.Config().Currency)[wallet.TierFull]
	if v.Account.Tier != wallet.TierFull || len(v.Limits) != 3 || v.Limits[0].Limit != wallet.LimitDaily || v.Limits[0].Max != full.Daily {
		t.Errorf("after approval: got tier %d, limits %+v, want tier 2 with its daily limit %d", v.Account.Tier, v.Limits, full.Daily)
	}
	if _, err := decide(p.ID, true); wallet.ErrorCode(err) != wallet.CodeInvalidState {
		t.Errorf("approved again: got %v, want invalid state", err)
	}

	// Rejected: nothing changes.
	r, err := c.Propose(mk, tier(rejected, wallet.TierFull))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decide(r.ID, false); err != nil || got.State != wallet.ProposalRejected {
		t.Errorf("reject: got %+v, %v", got, err)
	}
	if got := tierOf(rejected); got != wallet.TierBasic {
		t.Errorf("after rejection: got tier %d, want %d", got, wallet.TierBasic)
	}

	// Frozen between the proposal and the approval: the approval fails,
	// with why, and the tier stays.
	late := basic()
	lp, err := c.Propose(mk, tier(late, wallet.TierFull))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetStatus(ctx, late, wallet.StatusFrozen); err != nil {
		t.Fatal(err)
	}
	if got, err := decide(lp.ID, true); err != nil || got.State != wallet.ProposalFailed || !strings.Contains(got.Result, "frozen") {
		t.Errorf("approve a tier change of an account frozen since: got %+v, %v, want failed, saying frozen", got, err)
	}
	if got := tierOf(late); got != wallet.TierBasic {
		t.Errorf("after the failed approval: got tier %d, want %d", got, wallet.TierBasic)
	}

	// The approval is audited, with its checker, reason and outcome.
	recs, err := c.AuditLog(ck, natsapi.AuditRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var audited bool
	for _, rec := range recs {
		if rec.Action == "ops.proposal.approve" && rec.Actor == "checker@example.org" && rec.Reason == "ID scan matches" && rec.Outcome == wallet.AuditOK {
			audited = true
		}
	}
	if !audited {
		t.Errorf("no audit record of the approval in %+v", recs)
	}
}

// TestOpsLimitsUsed shows a customer's limits used today, from the fields
// the limits check reads: a send counts its principal against the daily
// limit, the balance against the balance limit; an agent has none.
func TestOpsLimitsUsed(t *testing.T) {
	w := wallettest.Start(t)
	c := w.Client
	ctx := context.Background()
	payer := w.Customer("Payer", "2580", 50_000)
	payee := w.Customer("Payee", "2580", 0)
	if _, err := c.Transfer(ctx, wallet.TransferRequest{Key: "limits-1", Kind: wallet.TransferSend, From: payer, To: payee, Amount: 12_000, PIN: "2580"}); err != nil {
		t.Fatal(err)
	}
	full := wallet.DefaultLimits(w.Service.Config().Currency)[wallet.TierFull]
	_, agent := w.Agent("Limits Agent", "", 0)
	for _, tc := range []struct {
		number string
		want   []wallet.LimitUse
	}{
		{payer, []wallet.LimitUse{
			{Limit: wallet.LimitDaily, Max: full.Daily, Used: 12_000, Left: full.Daily - 12_000},
			{Limit: wallet.LimitPerTransaction, Max: full.PerTransaction, Left: full.PerTransaction},
			{Limit: wallet.LimitBalance, Max: full.BalanceMax, Used: w.Balance(payer), Left: full.BalanceMax - w.Balance(payer)},
		}},
		{payee, []wallet.LimitUse{
			{Limit: wallet.LimitDaily, Max: full.Daily, Left: full.Daily},
			{Limit: wallet.LimitPerTransaction, Max: full.PerTransaction, Left: full.PerTransaction},
			{Limit: wallet.LimitBalance, Max: full.BalanceMax, Used: 12_000, Left: full.BalanceMax - 12_000},
		}},
		{agent, nil},
	} {
		v, err := c.AccountStatement(ctx, natsapi.OpsStatementRequest{Number: tc.number, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Limits) != len(tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.number, v.Limits, tc.want)
			continue
		}
		for i := range tc.want {
			if v.Limits[i] != tc.want[i] {
				t.Errorf("%s limit %d: got %+v, want %+v", tc.number, i, v.Limits[i], tc.want[i])
			}
		}
	}
}
