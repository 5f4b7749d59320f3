package ops

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/simswap"
	"github.com/kibubu/kibubu/wallet/simswap/camaratest"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

// told collects the wallet's notices (the SMS the notifier would send).
type told struct {
	mu sync.Mutex
	ns []wallet.Notice
}

func (n *told) add(x wallet.Notice) { n.mu.Lock(); defer n.mu.Unlock(); n.ns = append(n.ns, x) }

// kinds returns the kinds of the notices to phone, in order.
func (n *told) kinds(phone string) []wallet.NoticeKind {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []wallet.NoticeKind
	for _, x := range n.ns {
		if x.Account.Phone == phone {
			out = append(out, x.Kind)
		}
	}
	return out
}

// newSIMSwapEnv is newEnv with the SIM-swap gate on, asking the fake
// network (camaratest) about every Kenyan number, and the notices kept.
func newSIMSwapEnv(t *testing.T, sent *told) (*env, *camaratest.Server) {
	t.Helper()
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	net := camaratest.New(clk.Now)
	t.Cleanup(net.Close)
	checker, err := simswap.New(simswap.Config{
		Timeout: simswap.Duration(time.Second), CacheTTL: -1,
		Networks: []simswap.Network{{Name: "fake", BaseURL: net.URL, TokenURL: net.TokenURL(),
			ClientID: net.ClientID, ClientSecret: net.ClientSecret, Prefixes: []string{"+254"}}},
	}, simswap.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *wallet.Config) {
		c.SIMSwap, c.Notify = checker, sent.add
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	})
	return e, net
}

// swapCustomer registers a customer and, if swapped, has its SIM changed
// an hour ago and the gate hold it (a change of details is gated).
func (e *env) swapCustomer(t *testing.T, net *camaratest.Server, swapped bool) (phone, number string) {
	t.Helper()
	ctx := context.Background()
	phone = wallettest.NewPhone()
	a, err := e.w.Client.Register(ctx, natsapi.RegisterRequest{Phone: phone, Name: "Swap Customer", Tier: wallet.TierBasic})
	if err != nil {
		t.Fatal(err)
	}
	if swapped {
		net.SetSwap(phone, time.Now().Add(-time.Hour))
		if _, err := e.w.Client.SetLanguage(ctx, phone, "sw"); wallet.ErrorCode(err) != wallet.CodeSIMSwapHold {
			t.Fatalf("language change after a swap: %v, want %s", err, wallet.CodeSIMSwapHold)
		}
	}
	return phone, a.Number
}

// TestClearSIMSwap: the page of a held account shows the hold and since
// when; support clears it with a reason (the audit log names them and the
// owner is told once); every other role, a missing CSRF token, a missing
// or over-long reason, an account not held (active, or frozen over a hold)
// and the unfreeze form are refused with nothing changed.
func TestClearSIMSwap(t *testing.T) {
	var sent told
	e, net := newSIMSwapEnv(t, &sent)
	ctx := context.Background()
	register := func(swapped bool) (phone, number string) { return e.swapCustomer(t, net, swapped) }
	held, heldNumber := register(true)
	active, _ := register(false)
	frozen, _ := register(true)
	if _, err := e.w.Client.SetStatus(ctx, frozen, wallet.StatusFrozen); err != nil {
		t.Fatal(err)
	}
	status := func(phone string) wallet.Status {
		v, err := e.client.AccountStatement(ctx, statementOf(phone))
		if err != nil {
			t.Fatal(err)
		}
		return v.Account.Status
	}
	page := func(phone string) string { return Prefix + "/account/" + url.PathEscape(phone) }

	support := e.as(wallet.RoleSupport)
	p := support.get(page(held))
	for _, want := range []string{`class="status-sim_swap_hold"`, `id="simswap-held"`, `id="simswap-since"`, `id="simswap-clear"`, text(t, "ops.account.simswap_held")} {
		if !strings.Contains(p.body, want) {
			t.Errorf("support's page of a held account lacks %s:\n%s", want, p.body)
		}
	}
	if strings.Contains(p.body, `id="pin-reset"`) {
		t.Errorf("support's page of a held account offers a PIN reset (the gate refuses it until the hold is cleared)")
	}
	token := p.csrf(t)
	if p := support.get(page(frozen)); !strings.Contains(p.body, `id="simswap-frozen"`) || strings.Contains(p.body, `id="simswap-clear"`) {
		t.Errorf("a frozen account held before: want the note that an unfreeze does not clear the hold, no clear form")
	}
	if p := support.get(page(active)); strings.Contains(p.body, `id="simswap-`) {
		t.Errorf("an active account's page speaks of a SIM-swap hold")
	}
	if p := e.as(wallet.RoleMaker).get(page(held)); !strings.Contains(p.body, `id="simswap-held"`) || strings.Contains(p.body, `id="simswap-clear"`) {
		t.Errorf("the maker's page of a held account: want the hold shown, no clear form")
	}

	reason := url.Values{"reason": {"ID card seen, last 3 transactions confirmed"}}
	// TestRouteRoleMatrix refuses every other role; these three, the
	// likeliest to be given it, are checked to change nothing.
	for _, role := range []wallet.OperatorRole{wallet.RoleMaker, wallet.RoleChecker, wallet.RoleAdmin} {
		b := e.as(role)
		form := url.Values{"csrf": {b.get(Prefix + "/").csrf(t)}, "reason": reason["reason"]}
		if p := b.post(page(held)+"/clear-simswap", form); p.status != http.StatusForbidden {
			t.Errorf("%s clearing: got %d, want 403", role, p.status)
		}
	}
	for _, tc := range []struct {
		name, path, csrf, reason string
		status                   int
		says                     string
	}{
		{"no CSRF token", page(held) + "/clear-simswap", "", reason.Get("reason"), http.StatusForbidden, text(t, "ops.forbidden.csrf")},
		{"a wrong CSRF token", page(held) + "/clear-simswap", token + "x", reason.Get("reason"), http.StatusForbidden, text(t, "ops.forbidden.csrf")},
		{"no reason", page(held) + "/clear-simswap", token, " ", http.StatusBadRequest, text(t, "ops.error.reason_required")},
		{"a reason too long", page(held) + "/clear-simswap", token, strings.Repeat("x", ReasonBytesMax+1), http.StatusBadRequest, text(t, "ops.error.reason_long")},
		{"an active account", page(active) + "/clear-simswap", token, reason.Get("reason"), http.StatusConflict, text(t, "ops.account.simswap_not_held")},
		{"a frozen account held before", page(frozen) + "/clear-simswap", token, reason.Get("reason"), http.StatusConflict, text(t, "ops.account.simswap_not_held")},
		{"an unknown account", page("+254799999999") + "/clear-simswap", token, reason.Get("reason"), http.StatusNotFound, text(t, "ops.notfound")},
		{"an unfreeze of a held account", page(held) + "/unfreeze", token, reason.Get("reason"), http.StatusConflict, text(t, "ops.account.unfreeze_held")},
	} {
		p := support.post(tc.path, url.Values{"csrf": {tc.csrf}, "reason": {tc.reason}})
		if p.status != tc.status || !strings.Contains(p.body, tc.says) {
			t.Errorf("%s: got %d, want %d saying %q", tc.name, p.status, tc.status, tc.says)
		}
	}
	if st := status(held); st != wallet.StatusSIMSwapHold {
		t.Fatalf("after the refusals: got status %s, want %s", st, wallet.StatusSIMSwapHold)
	}
	if st := status(frozen); st != wallet.StatusFrozen {
		t.Fatalf("after the refusals: the frozen account is %s", st)
	}
	if got := sent.kinds(held); !slices.Equal(got, []wallet.NoticeKind{wallet.NoticeSIMSwapHold}) {
		t.Fatalf("after the refusals: notices %v, want the hold's only", got)
	}

	p = support.post(page(held)+"/clear-simswap", url.Values{"csrf": {token}, "reason": reason["reason"]})
	if p.status != http.StatusSeeOther || p.location != Prefix+"/account/"+heldNumber+"?done=simswap" {
		t.Fatalf("clear: got %d %s\n%s", p.status, p.location, p.body)
	}
	if p := support.get(p.location); !strings.Contains(p.body, text(t, "ops.account.simswap_cleared")) || strings.Contains(p.body, `id="simswap-`) ||
		!strings.Contains(p.body, `id="pin-reset"`) {
		t.Errorf("after the clearance: want the notice, no hold and the PIN reset on the page\n%s", p.body)
	}
	if st := status(held); st != wallet.StatusActive {
		t.Fatalf("after the clearance: got status %s, want active", st)
	}
	// A second press (a double submit) is refused: one clearance, one SMS.
	if p := support.post(page(held)+"/clear-simswap", url.Values{"csrf": {token}, "reason": reason["reason"]}); p.status != http.StatusConflict {
		t.Errorf("a second clearance: got %d, want 409", p.status)
	}
	if got := sent.kinds(held); !slices.Equal(got, []wallet.NoticeKind{wallet.NoticeSIMSwapHold, wallet.NoticeSIMSwapClear}) {
		t.Errorf("notices %v, want one hold and one clearance", got)
	}
	// The audit log names the signed-in operator and their reason around
	// the wallet's own record of the clearance.
	recs, err := e.client.AuditLog(ctx, natsapi.AuditRequest{AuditQuery: wallet.AuditQuery{Targets: []string{heldNumber}}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		if r.Action == "account.status" || strings.HasPrefix(r.Action, "account.simswap") {
			got = append(got, r.Action+" "+r.Actor+" "+r.Outcome+" "+r.Reason)
		}
	}
	sup := e.ops[wallet.RoleSupport]
	want := []string{
		wallet.AuditSIMSwapHold + " wallet:simswap ok ",
		"account.status " + sup + " requested " + reason.Get("reason"),
		wallet.AuditSIMSwapClear + " wallet:simswap ok ",
		"account.status " + sup + " ok " + reason.Get("reason"),
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit records\n%q\nwant\n%q", got, want)
	}
	// The cleared swap does not hold the account again.
	if _, err := e.w.Client.SetLanguage(ctx, held, "fr"); err != nil {
		t.Errorf("a change of details after the clearance: %v", err)
	}
}
