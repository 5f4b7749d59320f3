package natsapi

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// The back-office's report subjects (wallet.Reports): operator subjects, so
// a gateway's NATS user is refused them. They read and change nothing, so
// they are not audited (AuditReadOnlySubjects).
const (
	SubjectReportDashboard = SubjectPrefix + ".report.dashboard" // operator: DashboardRequest → wallet.Dashboard
	SubjectReportAgents    = SubjectPrefix + ".report.agents"    // operator: wallet.AgentQuery → wallet.AgentPage
	SubjectReportReconcile = SubjectPrefix + ".report.reconcile" // operator: ReconcileRequest → wallet.Reconciliation
)

// ReportSubjects are the report subjects in OperatorSubjects.
var ReportSubjects = []string{SubjectReportDashboard, SubjectReportAgents, SubjectReportReconcile}

func init() {
	OperatorSubjects = append(OperatorSubjects, ReportSubjects...)
	AuditReadOnlySubjects = append(AuditReadOnlySubjects, ReportSubjects...)
}

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

// reports adds the report subjects, served from one wallet.Reports (which
// keeps closed days in memory) for as long as the service runs.
func (s *server) reports(add func(string, micro.HandlerFunc)) {
	r, rerr := wallet.NewReports(s.w)
	serve := func(subject string, h func(ctx context.Context, r *wallet.Reports, data []byte) (any, error)) {
		add(subject, s.Async(reportTimeout, func(ctx context.Context, req micro.Request) (any, error) {
			if rerr != nil {
				return nil, rerr
			}
			return h(ctx, r, req.Data())
		}))
	}
	serve(SubjectReportDashboard, func(ctx context.Context, r *wallet.Reports, data []byte) (any, error) {
		var q DashboardRequest
		if err := natsrpc.Decode(data, requestBytesMax, &q); err != nil {
			return nil, err
		}
		return r.Dashboard(ctx, q.Days)
	})
	serve(SubjectReportAgents, func(ctx context.Context, r *wallet.Reports, data []byte) (any, error) {
		var q wallet.AgentQuery
		if err := natsrpc.Decode(data, requestBytesMax, &q); err != nil {
			return nil, err
		}
		return r.Agents(ctx, q)
	})
	serve(SubjectReportReconcile, func(ctx context.Context, r *wallet.Reports, data []byte) (any, error) {
		var q ReconcileRequest
		if err := natsrpc.Decode(data, reconcileRequestBytesMax, &q); err != nil {
			return nil, err
		}
		st, err := wallet.ParseBankStatement(strings.NewReader(q.CSV), s.w.Config().Currency)
		if err != nil {
			return nil, err
		}
		if q.Balance != nil {
			st.Balance = q.Balance
		}
		return r.Reconcile(ctx, wallet.ReconcileQuery{Statement: *st, From: q.From, To: q.To})
	})
}

// Dashboard (operator) returns the dashboard of the last days days (0 for
// wallet.DashboardDaysDefault).
func (c *Client) Dashboard(ctx context.Context, days int) (*wallet.Dashboard, error) {
	var r wallet.Dashboard
	return &r, c.Call(ctx, SubjectReportDashboard, DashboardRequest{Days: days}, &r)
}

// AgentsReport (operator) returns a page of the agents report.
func (c *Client) AgentsReport(ctx context.Context, q wallet.AgentQuery) (*wallet.AgentPage, error) {
	var r wallet.AgentPage
	return &r, c.Call(ctx, SubjectReportAgents, q, &r)
}

// Reconcile (operator) reconciles a bank statement (its CSV) against the
// ledger.
func (c *Client) Reconcile(ctx context.Context, q ReconcileRequest) (*wallet.Reconciliation, error) {
	var r wallet.Reconciliation
	return &r, c.Call(ctx, SubjectReportReconcile, q, &r)
}
