package natsapi_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/kibubu/kibubu/deploy/natsroles"
	"github.com/kibubu/kibubu/deploy/natsserver"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/store/storetest"
	"github.com/kibubu/kibubu/wallet/walletd"
)

// refusedTimeout is how long a call on a subject the caller may not
// publish to waits before the client calls the wallet unavailable.
const refusedTimeout = 2 * time.Second

func TestReports(t *testing.T) {
	e := start(t)
	agentPhone, agentNo := e.agent(200_000)
	alice := e.customer()
	_, err := e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "r1", Kind: wallet.TransferDeposit, From: agentPhone, To: alice, Amount: 50_000, PIN: "1357"})
	e.must(err)
	_, lowNo := e.agent(100)
	if _, err := e.c.IssueFloat(e.ctx, agentNo, 30_000, "BANK-77"); err != nil {
		t.Fatal(err)
	}
	show := func(n string) *wallet.Account {
		a, err := e.c.Show(e.ctx, n)
		e.must(err)
		return a
	}
	trust := show(wallet.SystemTrust).Balance

	t.Run("dashboard", func(t *testing.T) {
		d, err := e.c.Dashboard(e.ctx, 3)
		e.must(err)
		if len(d.Days) != 3 || d.Circulation != -trust || d.Days[2].Circulation != -trust || d.Currency.Code != "KES" {
			t.Fatalf("got %d days, circulation %d (today's %d), currency %s; want 3 days, %d, KES",
				len(d.Days), d.Circulation, d.Days[len(d.Days)-1].Circulation, d.Currency.Code, -trust)
		}
		var deposits, floats int64
		for _, k := range d.Totals {
			switch k.Kind {
			case wallet.TransferDeposit:
				deposits = k.Count
			case wallet.TransferFloat:
				floats = k.Count
			}
		}
		if deposits != 1 || floats != 3 {
			t.Errorf("got %d deposits and %d float issues, want 1 and 3: %+v", deposits, floats, d.Totals)
		}
		for _, days := range []int{-1, wallet.DashboardDaysMax + 1} {
			if _, err := e.c.Dashboard(e.ctx, days); wallet.ErrorCode(err) != wallet.CodeInvalid {
				t.Errorf("%d days: got %v, want %s", days, err, wallet.CodeInvalid)
			}
		}
	})

	t.Run("agents", func(t *testing.T) {
		p, err := e.c.AgentsReport(e.ctx, wallet.AgentQuery{FloatLow: 1_000, LowOnly: true})
		e.must(err)
		if len(p.Agents) != 1 || p.Agents[0].Number != lowNo || !p.Agents[0].Low || p.Totals.Agents != 2 || p.Totals.Low != 1 {
			t.Errorf("got %+v, want only agent %s, low, of 2", p, lowNo)
		}
		p, err = e.c.AgentsReport(e.ctx, wallet.AgentQuery{})
		e.must(err)
		for _, a := range p.Agents {
			if a.Number == agentNo && (a.Float != show(agentNo).Balance || a.CommissionToday == 0) {
				t.Errorf("agent %s: float %d, commission today %d; want %d and the deposit's", agentNo, a.Float, a.CommissionToday, show(agentNo).Balance)
			}
		}
	})

	t.Run("reconcile", func(t *testing.T) {
		today := time.Now().UTC().Format("2006-01-02")
		bank := int64(-trust - 500)
		r, err := e.c.Reconcile(e.ctx, natsapi.ReconcileRequest{CSV: "Date,Reference,Amount\n" + today + ",bank-77,300.00\n" + today + ",NOPE,5\n", Balance: &bank})
		e.must(err)
		if r.Counts.Matched != 1 || r.Matched[0].Float.Agent != agentNo || r.Counts.UnmatchedLines != 1 || r.Counts.UnmatchedFloats != 2 ||
			r.Difference == nil || *r.Difference != -500 {
			t.Errorf("got %+v; want BANK-77 matched, NOPE unmatched, the two agents' first floats unmatched, a difference of -500", r)
		}
		_, err = e.c.Reconcile(e.ctx, natsapi.ReconcileRequest{CSV: "date,reference,amount\n" + today + ",X,12.345\n"})
		if wallet.ErrorCode(err) != wallet.CodeInvalid || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("a bad amount: got %v, want %s naming line 2", err, wallet.CodeInvalid)
		}
	})
}

// TestReportsRefusedToGateways serves the wallet on a NATS server whose
// users have exactly natsroles' permissions: the operator's user gets the
// reports, the gateway's is refused every report subject by the server.
func TestReportsRefusedToGateways(t *testing.T) {
	var users []*server.User
	for _, r := range []natsroles.Role{natsroles.Wallet, natsroles.Gateway, natsroles.Operator} {
		users = append(users, &server.User{Username: string(r), Password: string(r) + "-pw", Permissions: natsroles.Permissions(r, "")})
	}
	srv, err := natsserver.Start(natsserver.Options{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Users: users})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	violations := make(chan string, 16)
	connect := func(r natsroles.Role) *nats.Conn {
		nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(string(r), string(r)+"-pw"),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
				select {
				case violations <- err.Error():
				default:
				}
			}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	kes, _ := wallet.LookupCurrency("KES")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := walletd.Start(ctx, walletd.Options{Store: st, Conn: connect(natsroles.Wallet),
		Wallet: wallet.Config{Currency: kes, Region: "KE", Pepper: pepper, Logger: quiet}, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })

	op := natsapi.NewClient(connect(natsroles.Operator), 0, natsapi.AsOperator(natsapi.Operator{Actor: "amina"}))
	if _, err := op.Dashboard(ctx, 7); err != nil {
		t.Fatalf("the operator's dashboard: %v", err)
	}
	gw := natsapi.NewClient(connect(natsroles.Gateway), refusedTimeout)
	calls := map[string]func() error{
		natsapi.SubjectReportDashboard: func() error { _, err := gw.Dashboard(ctx, 7); return err },
		natsapi.SubjectReportAgents:    func() error { _, err := gw.AgentsReport(ctx, wallet.AgentQuery{}); return err },
		natsapi.SubjectReportReconcile: func() error { _, err := gw.Reconcile(ctx, natsapi.ReconcileRequest{}); return err },
	}
	for _, subject := range natsapi.ReportSubjects {
		if err := calls[subject](); wallet.ErrorCode(err) != wallet.CodeUnavailable {
			t.Errorf("gateway %s: got %v, want %s (no wallet sees it)", subject, err, wallet.CodeUnavailable)
		}
		select {
		case v := <-violations:
			if !strings.Contains(v, "Permissions Violation") || !strings.Contains(v, subject) {
				t.Errorf("gateway %s: got %q, want a permissions violation for it", subject, v)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("gateway %s: the server reported no permissions violation", subject)
		}
	}
}
