package natsapi

import (
	"context"
	"strings"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// The back-office's report subjects (wallet.Reports): operator subjects, so
// a gateway's NATS user is refused them. They read and change nothing, so
// they are not audited (their declarations say ReadOnly).
const (
	SubjectReportDashboard = SubjectPrefix + ".report.dashboard" // operator: DashboardRequest → wallet.Dashboard
	SubjectReportAgents    = SubjectPrefix + ".report.agents"    // operator: wallet.AgentQuery → wallet.AgentPage
	SubjectReportReconcile = SubjectPrefix + ".report.reconcile" // operator: ReconcileRequest → wallet.Reconciliation
)

// ReportSubjects are the report subjects (operator subjects, not audited).
var ReportSubjects = []string{SubjectReportDashboard, SubjectReportAgents, SubjectReportReconcile}

const (
	// reconcileRequestBytesMax bounds a reconciliation request: the bank
	// statement and the JSON around it (escaping adds a little).
	reconcileRequestBytesMax = wallet.BankStatementBytesMax + wallet.BankStatementBytesMax/4
	// reportTimeout bounds a report's work: the first dashboard of a
	// process reads every day of its period (later ones only today).
	reportTimeout = 30 * time.Second
)

// DashboardRequest asks for the dashboard of the last Days days (0: the
// default, wallet.DashboardDaysDefault).
type DashboardRequest struct {
	Days int `json:"days,omitempty"`
}

// ReconcileRequest carries the trust account's bank statement as the CSV
// file the bank exported (wallet.ParseBankStatement reads it in the
// wallet's currency), and the period (wallet.ReconcileQuery). Balance, if
// set, is the bank balance entered by hand (minor units); it overrides the
// file's balance column.
type ReconcileRequest struct {
	CSV     string    `json:"csv"`
	Balance *int64    `json:"balance,omitempty"`
	From    time.Time `json:"from,omitzero"`
	To      time.Time `json:"to,omitzero"`
}

// reports serves the report endpoints from one wallet.Reports (which
// keeps closed days in memory) for as long as the service runs
// (Serve makes it).
func (s *server) reports(m natsrpc.Mux) {
	ReportDashboard.Handle(m, func(ctx context.Context, q DashboardRequest) (*wallet.Dashboard, error) {
		if s.reportsErr != nil {
			return nil, s.reportsErr
		}
		return s.rep.Dashboard(ctx, q.Days)
	})
	ReportAgents.Handle(m, func(ctx context.Context, q wallet.AgentQuery) (*wallet.AgentPage, error) {
		if s.reportsErr != nil {
			return nil, s.reportsErr
		}
		return s.rep.Agents(ctx, q)
	})
	ReportReconcile.Handle(m, func(ctx context.Context, q ReconcileRequest) (*wallet.Reconciliation, error) {
		if s.reportsErr != nil {
			return nil, s.reportsErr
		}
		st, err := wallet.ParseBankStatement(strings.NewReader(q.CSV), s.w.Config().Currency)
		if err != nil {
			return nil, err
		}
		if q.Balance != nil {
			st.Balance = q.Balance
		}
		return s.rep.Reconcile(ctx, wallet.ReconcileQuery{Statement: *st, From: q.From, To: q.To})
	})
}

// Dashboard (operator) returns the dashboard of the last days days (0 for
// wallet.DashboardDaysDefault).
func (c *Client) Dashboard(ctx context.Context, days int) (*wallet.Dashboard, error) {
	return ReportDashboard.Call(ctx, c, DashboardRequest{Days: days})
}

// AgentsReport (operator) returns a page of the agents report.
func (c *Client) AgentsReport(ctx context.Context, q wallet.AgentQuery) (*wallet.AgentPage, error) {
	return ReportAgents.Call(ctx, c, q)
}

// Reconcile (operator) reconciles a bank statement (its CSV) against the
// ledger.
func (c *Client) Reconcile(ctx context.Context, q ReconcileRequest) (*wallet.Reconciliation, error) {
	return ReportReconcile.Call(ctx, c, q)
}
