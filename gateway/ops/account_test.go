package ops

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

// TestTierChange: a maker proposes a tier change from the account page;
// bad input is refused on the page with nothing proposed; a checker
// approves it on the proposals page (the maker cannot), and the account
// page shows the new tier and its limits.
func TestTierChange(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	register := func() string {
		p := wallettest.NewPhone()
		if _, err := e.w.Client.Register(ctx, natsapi.RegisterRequest{Phone: p, Name: "Tier Customer", Tier: wallet.TierBasic}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	phone, frozen := register(), register()
	if _, err := e.w.Client.SetStatus(ctx, frozen, wallet.StatusFrozen); err != nil {
		t.Fatal(err)
	}
	_, agent := e.w.Agent("Tier Agent", "", 0)
	maker := e.as(wallet.RoleMaker)
	account := Prefix + "/account/" + url.PathEscape(phone)
	p := maker.get(account)
	if p.status != http.StatusOK || !strings.Contains(p.body, `id="tier-propose"`) || !strings.Contains(p.body, `id="limits"`) {
		t.Fatalf("the maker's account page: %d, want the tier form and the limits\n%s", p.status, p.body)
	}
	token := p.csrf(t)
	if p := e.as(wallet.RoleSupport).get(account); strings.Contains(p.body, `id="tier-propose"`) || !strings.Contains(p.body, `id="limits"`) {
		t.Errorf("support's account page: want the limits, not the tier form")
	}
	if p := maker.get(Prefix + "/account/" + url.PathEscape(agent)); strings.Contains(p.body, `id="tier-propose"`) || strings.Contains(p.body, `id="limits"`) {
		t.Errorf("an agent's account page: want neither tier form nor limits")
	}
	for _, tc := range []struct {
		name, number, tier, reason string
		status                     int
		says                       string
	}{
		{"no reason", phone, "2", "", http.StatusBadRequest, text(t, "ops.error.reason_required")},
		{"a reason too long", phone, "2", strings.Repeat("x", ReasonBytesMax+1), http.StatusBadRequest, text(t, "ops.error.reason_long")},
		{"not a number", phone, "gold", "upgrade", http.StatusBadRequest, text(t, "ops.error.tier")},
		{"an unknown tier", phone, "7", "upgrade", http.StatusBadRequest, "unknown tier 7"},
		{"the same tier", phone, "1", "upgrade", http.StatusBadRequest, "already in tier 1"},
		{"a frozen account", frozen, "2", "upgrade", http.StatusBadRequest, "frozen"},
		{"an agent", agent, "2", "upgrade", http.StatusBadRequest, "a tier is a customer's"},
		{"an unknown account", "+254799999999", "2", "upgrade", http.StatusNotFound, text(t, "ops.notfound")},
	} {
		p := maker.post(Prefix+"/account/"+url.PathEscape(tc.number)+"/tier", url.Values{"csrf": {token}, "tier": {tc.tier}, "reason": {tc.reason}})
		if p.status != tc.status || !strings.Contains(p.body, tc.says) {
			t.Errorf("%s: got %d, want %d saying %q", tc.name, p.status, tc.status, tc.says)
		}
	}
	if ps, err := e.client.Proposals(ctx, nil, 0); err != nil || len(ps) != 0 {
		t.Fatalf("after the refusals: got %+v, %v, want no proposal", ps, err)
	}
	p = maker.post(account+"/tier", url.Values{"csrf": {token}, "tier": {"2"}, "reason": {"national ID seen at the shop"}})
	if p.status != http.StatusSeeOther || p.location != account+"?done=tier" {
		t.Fatalf("propose: %d %s\n%s", p.status, p.location, p.body)
	}
	if p := maker.get(p.location); !strings.Contains(p.body, text(t, "ops.account.tier_proposed")) {
		t.Errorf("after proposing: the page does not say it waits for a checker")
	}
	ps, err := e.client.Proposals(ctx, nil, 0)
	if err != nil || len(ps) != 1 || ps[0].Kind != wallet.ProposalTierChange || ps[0].Tier != wallet.TierFull {
		t.Fatalf("proposals: got %+v, %v, want one tier change to 2", ps, err)
	}
	approve := Prefix + "/proposals/" + itoa(ps[0].ID) + "/approve"
	if p := maker.post(approve, url.Values{"csrf": {token}, "reason": {"mine"}}); p.status != http.StatusForbidden {
		t.Errorf("the maker approving: %d, want 403", p.status)
	}
	checker := e.as(wallet.RoleChecker)
	list := checker.get(Prefix + "/proposals")
	if !strings.Contains(list.body, text(t, "ops.account.tier")+" 2") {
		t.Errorf("the proposals page does not show the tier proposed:\n%s", list.body)
	}
	if p := checker.post(approve, url.Values{"csrf": {list.csrf(t)}, "reason": {"ID scan matches"}}); p.status != http.StatusSeeOther {
		t.Fatalf("the checker approving: %d\n%s", p.status, p.body)
	}
	v, err := e.client.AccountStatement(ctx, statementOf(phone))
	if err != nil || v.Account.Tier != wallet.TierFull {
		t.Fatalf("after approval: got %+v, %v, want tier 2", v, err)
	}
	full := wallet.DefaultLimits(e.w.Service.Config().Currency)[wallet.TierFull]
	daily := locales.FormatMoney("en", e.w.Service.Config().Currency, full.Daily)
	if p := maker.get(account); !strings.Contains(p.body, daily) || !strings.Contains(p.body, `<option value="1">`) {
		t.Errorf("the account page after approval: want the tier 2 daily limit %s and a form back to tier 1\n%s", daily, p.body)
	}
}
