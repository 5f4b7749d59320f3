package natsapi

import (
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// The wallet's endpoints, each declared once: subject, request, reply, who
// may call it. The Client's methods call them (natsrpc.Endpoint.Call),
// Serve answers them (register, with natsrpc.Endpoint.Handle), and
// OperatorSubjects and AuditReadOnlySubjects are derived from them, so the
// NATS permissions (deploy/natsroles) follow the declarations.
var (
	// Transfers: queued to the writer, answered once their batch commits.
	Transfer = natsrpc.Endpoint[wallet.TransferRequest, wallet.TransferResult]{Subject: SubjectTransfer}
	// Float is the operator's float issue (kind float only).
	Float        = natsrpc.Endpoint[wallet.TransferRequest, wallet.TransferResult]{Subject: SubjectFloat, Operator: true}
	TransferShow = natsrpc.Endpoint[TransferQuery, wallet.TransferInfo]{Subject: SubjectTransferShow}
	Quote        = natsrpc.Endpoint[QuoteRequest, QuoteReply]{Subject: SubjectQuote}

	// Accounts.
	Lookup       = natsrpc.Endpoint[AccountRequest, wallet.Profile]{Subject: SubjectLookup}
	Show         = natsrpc.Endpoint[AccountRequest, wallet.Account]{Subject: SubjectShow, Operator: true, ReadOnly: true}
	Status       = natsrpc.Endpoint[StatusRequest, wallet.Account]{Subject: SubjectStatus, Operator: true}
	Register     = natsrpc.Endpoint[RegisterRequest, wallet.Account]{Subject: SubjectRegister}
	CustomerOpen = natsrpc.Endpoint[RegisterRequest, wallet.Account]{Subject: SubjectCustomerOpen, Operator: true}
	AgentAdd     = natsrpc.Endpoint[AgentRequest, wallet.Account]{Subject: SubjectAgentAdd, Operator: true}
	MerchantAdd  = natsrpc.Endpoint[MerchantRequest, wallet.Account]{Subject: SubjectMerchant, Operator: true}

	// PINs: the only requests that carry one.
	PINSet    = natsrpc.Endpoint[PINRequest, wallet.Account]{Subject: SubjectPINSet}
	StartKey  = natsrpc.Endpoint[PINRequest, PINProofReply]{Subject: SubjectStartKey}
	PINChange = natsrpc.Endpoint[PINRequest, wallet.Account]{Subject: SubjectPINChange}
	PINProof  = natsrpc.Endpoint[PINRequest, PINProofReply]{Subject: SubjectPINProof}
	PINVerify = natsrpc.Endpoint[PINRequest, wallet.Account]{Subject: SubjectPINVerify}
	Balance   = natsrpc.Endpoint[PINRequest, wallet.Account]{Subject: SubjectBalance}
	PINReset  = natsrpc.Endpoint[PINRequest, wallet.Account]{Subject: SubjectPINReset, Operator: true}
	Earnings  = natsrpc.Endpoint[PINRequest, wallet.Earnings]{Subject: SubjectEarnings}

	Statement = natsrpc.Endpoint[wallet.StatementQuery, StatementReply]{Subject: SubjectStatement}
	Language  = natsrpc.Endpoint[LanguageRequest, wallet.Account]{Subject: SubjectLanguage}
	Tariff    = natsrpc.Endpoint[struct{}, TariffReply]{Subject: SubjectTariff}
	Check     = natsrpc.Endpoint[struct{}, wallet.CheckReport]{Subject: SubjectCheck, Operator: true, ReadOnly: true, Timeout: checkTimeout}
	// Events are what a notifier replays, by itself, without an operator
	// behind it: read-only, so not audited.
	Events = natsrpc.Endpoint[EventsRequest, EventsReply]{Subject: SubjectEvents, Operator: true, ReadOnly: true}

	// Reversal requests (reversal.go).
	ReversalRequest = natsrpc.Endpoint[ReversalAsk, wallet.Reversal]{Subject: SubjectReversalRequest}
	ReversalObject  = natsrpc.Endpoint[ReversalObjection, wallet.Reversal]{Subject: SubjectReversalObject}
	Reversals       = natsrpc.Endpoint[ReversalQuery, ReversalList]{Subject: SubjectReversalList, Operator: true}
	ReversalApprove = natsrpc.Endpoint[ReversalDecision, wallet.Reversal]{Subject: SubjectReversalApprove, Operator: true}
	ReversalReject  = natsrpc.Endpoint[ReversalDecision, wallet.Reversal]{Subject: SubjectReversalReject, Operator: true}

	// A new PIN typed twice (pinpending.go).
	PINPending = natsrpc.Endpoint[wallet.NewPIN, PINPendingReply]{Subject: SubjectPINPending}
	PINConfirm = natsrpc.Endpoint[PINConfirmRequest, wallet.Account]{Subject: SubjectPINConfirm}

	// The audit log (audit.go).
	AuditList = natsrpc.Endpoint[AuditRequest, AuditReply]{Subject: SubjectAuditList, Operator: true, ReadOnly: true}

	// The back-office (ops.go). A session check keeps the session alive,
	// which is not an action: read-only, like the pages' reads.
	OpsSignIn          = natsrpc.Endpoint[SignInRequest, SignInReply]{Subject: SubjectOpsSignIn, Operator: true}
	OpsSignOut         = natsrpc.Endpoint[SessionRequest, SessionRequest]{Subject: SubjectOpsSignOut, Operator: true}
	OpsSession         = natsrpc.Endpoint[SessionRequest, wallet.OperatorSession]{Subject: SubjectOpsSession, Operator: true, ReadOnly: true}
	OpsOperatorAdd     = natsrpc.Endpoint[OperatorAddRequest, wallet.NewOperator]{Subject: SubjectOpsOperatorAdd, Operator: true}
	OpsOperatorList    = natsrpc.Endpoint[struct{}, OperatorList]{Subject: SubjectOpsOperatorList, Operator: true, ReadOnly: true}
	OpsOperatorDisable = natsrpc.Endpoint[OperatorAddRequest, wallet.Operator]{Subject: SubjectOpsOperatorDisable, Operator: true}
	OpsSearch          = natsrpc.Endpoint[SearchRequest, wallet.SearchResult]{Subject: SubjectOpsSearch, Operator: true, ReadOnly: true}
	OpsStatement       = natsrpc.Endpoint[OpsStatementRequest, wallet.AccountView]{Subject: SubjectOpsStatement, Operator: true, ReadOnly: true}
	OpsTransfer        = natsrpc.Endpoint[TransferQuery, wallet.TransferView]{Subject: SubjectOpsTransfer, Operator: true, ReadOnly: true}
	OpsPropose         = natsrpc.Endpoint[ProposalRequest, wallet.Proposal]{Subject: SubjectOpsPropose, Operator: true}
	OpsProposals       = natsrpc.Endpoint[ProposalQuery, ProposalList]{Subject: SubjectOpsProposals, Operator: true, ReadOnly: true}
	OpsApprove         = natsrpc.Endpoint[ProposalDecision, wallet.Proposal]{Subject: SubjectOpsApprove, Operator: true}
	OpsReject          = natsrpc.Endpoint[ProposalDecision, wallet.Proposal]{Subject: SubjectOpsReject, Operator: true}

	// The back-office's reports (report.go): they read and change nothing.
	ReportDashboard = natsrpc.Endpoint[DashboardRequest, wallet.Dashboard]{Subject: SubjectReportDashboard, Operator: true, ReadOnly: true, Timeout: reportTimeout}
	ReportAgents    = natsrpc.Endpoint[wallet.AgentQuery, wallet.AgentPage]{Subject: SubjectReportAgents, Operator: true, ReadOnly: true, Timeout: reportTimeout}
	ReportReconcile = natsrpc.Endpoint[ReconcileRequest, wallet.Reconciliation]{Subject: SubjectReportReconcile, Operator: true, ReadOnly: true,
		Timeout: reportTimeout, RequestBytesMax: reconcileRequestBytesMax}
)

// Routes are the wallet's own endpoints' routes (not those added
// WithEndpoints), in the order Serve adds them.
var Routes = append([]natsrpc.Route{Transfer.Route(), Float.Route()}, natsrpc.Routes((&server{}).register)...)

// OperatorSubjects are the wallet's subjects only operators may call,
// sorted: a deployment gives gateway credentials no permission to publish
// to them (deploy/natsroles, with merchantapi.OperatorSubjects).
var OperatorSubjects = natsrpc.OperatorSubjects(Routes)

// AuditReadOnlySubjects are the wallet's operator subjects that change
// nothing and are not audited (their declarations say ReadOnly): they read
// (an account, the ledger check, the events a notifier replays, the audit
// log itself, the back-office's pages and reports). Every other operator
// subject is audited.
var AuditReadOnlySubjects = readOnlySubjects(Routes)

func readOnlySubjects(routes []natsrpc.Route) []string {
	var out []string
	for _, r := range routes {
		if r.Operator && r.ReadOnly {
			out = append(out, r.Subject)
		}
	}
	return out
}
