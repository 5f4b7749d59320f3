package natsapi

import (
	"context"
	"strings"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// The back-office's subjects (wallet.v1.ops.*), all operator subjects: only
// the ops process (and the operator commands) may call them. The ops process
// signs operators in and checks their session here; every action is audited
// by the wallet (audited), with the signed-in operator as its actor.
const (
	SubjectOpsSignIn          = SubjectPrefix + ".ops.signin"           // SignInRequest → SignInReply
	SubjectOpsSignOut         = SubjectPrefix + ".ops.signout"          // SessionRequest → SessionRequest
	SubjectOpsSession         = SubjectPrefix + ".ops.session"          // SessionRequest → wallet.OperatorSession
	SubjectOpsOperatorAdd     = SubjectPrefix + ".ops.operator.add"     // OperatorAddRequest → wallet.NewOperator
	SubjectOpsOperatorList    = SubjectPrefix + ".ops.operator.list"    // struct{} → OperatorList
	SubjectOpsOperatorDisable = SubjectPrefix + ".ops.operator.disable" // OperatorAddRequest (Email) → wallet.Operator
	SubjectOpsSearch          = SubjectPrefix + ".ops.search"           // SearchRequest → wallet.SearchResult
	SubjectOpsStatement       = SubjectPrefix + ".ops.statement"        // OpsStatementRequest → wallet.AccountView
	SubjectOpsTransfer        = SubjectPrefix + ".ops.transfer"         // TransferQuery (Ref) → wallet.TransferView
	SubjectOpsPropose         = SubjectPrefix + ".ops.proposal.create"  // ProposalRequest → wallet.Proposal
	SubjectOpsProposals       = SubjectPrefix + ".ops.proposal.list"    // ProposalQuery → ProposalList
	SubjectOpsApprove         = SubjectPrefix + ".ops.proposal.approve" // ProposalDecision → wallet.Proposal
	SubjectOpsReject          = SubjectPrefix + ".ops.proposal.reject"  // ProposalDecision → wallet.Proposal
)

func init() {
	// An operator's email names who an operator action acts on; the role
	// and the proposal's target are safe to keep. Passwords, codes and
	// session tokens stay out (not on the allow-list).
	auditDetailFields = append(auditDetailFields, "email", "role", "target")
	auditTargetFields = append(auditTargetFields, "email", "target")
}

// SignInRequest is an operator's sign-in. The request's actor (the
// Kibubu-Actor header) is the email, so the audit log names who tried.
type SignInRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Code     string `json:"code,omitempty"` // the TOTP code
}

// SignInReply is an open session and its token, which only the ops
// process holds (in the operator's cookie).
type SignInReply struct {
	Token   string                 `json:"token"`
	Session wallet.OperatorSession `json:"session"`
}

// SessionRequest names a session by its token.
type SessionRequest struct {
	Token string `json:"token"`
}

// OperatorAddRequest adds (or, on disable, names) an operator.
type OperatorAddRequest struct {
	Email    string              `json:"email"`
	Role     wallet.OperatorRole `json:"role,omitempty"`
	Password string              `json:"password,omitempty"`
}

// OperatorList is every operator.
type OperatorList struct {
	Operators []wallet.Operator `json:"operators"`
}

// SearchRequest is the back-office's search box.
type SearchRequest struct {
	Query string `json:"query"`
	Page  int    `json:"page,omitempty"`
}

// OpsStatementRequest asks for an account's statement without its PIN.
type OpsStatementRequest struct {
	Number string    `json:"number"`
	From   time.Time `json:"from,omitzero"`
	To     time.Time `json:"to,omitzero"`
	Limit  int       `json:"limit,omitempty"`
}

// ProposalRequest proposes a maker-checker action; the maker and reason
// are the request's Kibubu-Actor and Kibubu-Reason.
type ProposalRequest struct {
	// Session is the maker's back-office session token: the wallet names
	// the maker from it, not from the request's actor header, and refuses
	// one who is not a maker.
	Session   string              `json:"session"`
	Kind      wallet.ProposalKind `json:"kind"`
	Target    string              `json:"target"`
	Amount    int64               `json:"amount,omitempty"`
	Reference string              `json:"reference,omitempty"`
	Tier      wallet.Tier         `json:"tier,omitempty"` // a tier change's new tier
}

// ProposalQuery lists proposals in the given states (all when none).
type ProposalQuery struct {
	States []wallet.ProposalState `json:"states,omitempty"`
	Limit  int                    `json:"limit,omitempty"`
}

// ProposalList is proposals, newest first.
type ProposalList struct {
	Proposals []wallet.Proposal `json:"proposals"`
}

// ProposalDecision approves or rejects proposal ID; the checker and reason
// are the request's Kibubu-Actor and Kibubu-Reason.
type ProposalDecision struct {
	// Session is the checker's back-office session token (as
	// ProposalRequest's): the checker the wallet compares with the maker.
	Session string `json:"session"`
	ID      int64  `json:"id"`
}

// ops serves the back-office's endpoints.
func (s *server) ops(m natsrpc.Mux) {
	OpsSignIn.Handle(m, func(ctx context.Context, q SignInRequest) (*SignInReply, error) {
		token, sess, err := s.w.SignIn(ctx, q.Email, q.Password, q.Code)
		if err != nil {
			return nil, err
		}
		return &SignInReply{Token: token, Session: *sess}, nil
	})
	OpsSignOut.Handle(m, func(ctx context.Context, q SessionRequest) (*SessionRequest, error) {
		return &SessionRequest{}, s.w.SignOut(ctx, q.Token)
	})
	OpsSession.Handle(m, func(ctx context.Context, q SessionRequest) (*wallet.OperatorSession, error) {
		return s.w.Session(ctx, q.Token)
	})
	OpsOperatorAdd.Handle(m, func(ctx context.Context, q OperatorAddRequest) (*wallet.NewOperator, error) {
		return s.w.AddOperator(ctx, q.Email, q.Role, q.Password)
	})
	OpsOperatorList.Handle(m, func(ctx context.Context, _ struct{}) (*OperatorList, error) {
		os, err := s.w.Operators(ctx)
		return &OperatorList{Operators: os}, err
	})
	OpsOperatorDisable.Handle(m, func(ctx context.Context, q OperatorAddRequest) (*wallet.Operator, error) {
		return s.w.DisableOperator(ctx, q.Email)
	})
	OpsSearch.Handle(m, func(ctx context.Context, q SearchRequest) (*wallet.SearchResult, error) {
		return s.w.Search(ctx, q.Query, q.Page)
	})
	OpsStatement.Handle(m, func(ctx context.Context, q OpsStatementRequest) (*wallet.AccountView, error) {
		return s.w.AccountStatement(ctx, q.Number, q.From, q.To, q.Limit)
	})
	OpsTransfer.Handle(m, func(ctx context.Context, q TransferQuery) (*wallet.TransferView, error) {
		return s.w.TransferDetail(ctx, q.Ref)
	})
	OpsPropose.Handle(m, func(ctx context.Context, q ProposalRequest) (*wallet.Proposal, error) {
		h := requestHeader(ctx)
		maker, err := sessionActor(ctx, s.w, q.Session, h.Get(HeaderActor), wallet.RoleMaker)
		if err != nil {
			return nil, err
		}
		p := wallet.Proposal{Kind: q.Kind, Target: q.Target, Amount: q.Amount, Reference: q.Reference, Tier: q.Tier}
		return s.w.Propose(ctx, p, maker, h.Get(HeaderReason))
	})
	OpsProposals.Handle(m, func(ctx context.Context, q ProposalQuery) (*ProposalList, error) {
		ps, err := s.w.Proposals(ctx, q.States, q.Limit)
		return &ProposalList{Proposals: ps}, err
	})
	decide := func(approve bool) func(context.Context, ProposalDecision) (*wallet.Proposal, error) {
		return func(ctx context.Context, q ProposalDecision) (*wallet.Proposal, error) {
			h := requestHeader(ctx)
			checker, err := sessionActor(ctx, s.w, q.Session, h.Get(HeaderActor), wallet.RoleChecker)
			if err != nil {
				return nil, err
			}
			return s.w.Decide(ctx, q.ID, approve, checker, h.Get(HeaderReason))
		}
	}
	OpsApprove.Handle(m, decide(true))
	OpsReject.Handle(m, decide(false))
	s.opsNote(m)
}

// sessionActor is the operator a maker-checker step is taken by: the one
// signed in with token, who must hold role and be the request's actor
// (the audit log names the actor header). Naming the maker and the checker
// from their sessions, not from a header the caller writes, means a second
// person's live session is needed to approve: the operator NATS user alone
// cannot play both parts.
func sessionActor(ctx context.Context, w *wallet.Service, token, actor string, role wallet.OperatorRole) (string, error) {
	sess, err := w.Session(ctx, token)
	if err != nil {
		return "", err
	}
	op := sess.Operator
	switch {
	case op.Role != role:
		return "", wallet.Errorf(wallet.CodeForbidden, "%s is %s, not %s", op.Email, op.Role, role)
	case !strings.EqualFold(strings.TrimSpace(actor), op.Email):
		return "", wallet.Errorf(wallet.CodeForbidden, "the request names %q, its session %s", actor, op.Email)
	}
	return op.Email, nil
}

// SignIn (operator) checks an operator's email, password and TOTP code and
// opens a session (wallet.Service.SignIn). ctx's operator should name the
// email, so the audit log names who tried.
func (c *Client) SignIn(ctx context.Context, email, password, code string) (*SignInReply, error) {
	return OpsSignIn.Call(ctx, c, SignInRequest{Email: email, Password: password, Code: code})
}

// SignOut (operator) ends the session token opens.
func (c *Client) SignOut(ctx context.Context, token string) error {
	_, err := OpsSignOut.Call(ctx, c, SessionRequest{Token: token})
	return err
}

// Session (operator) returns the live session token opens.
func (c *Client) Session(ctx context.Context, token string) (*wallet.OperatorSession, error) {
	return OpsSession.Call(ctx, c, SessionRequest{Token: token})
}

// AddOperator (admin) creates an operator; the reply's TOTP secret is shown once.
func (c *Client) AddOperator(ctx context.Context, email string, role wallet.OperatorRole, password string) (*wallet.NewOperator, error) {
	return OpsOperatorAdd.Call(ctx, c, OperatorAddRequest{Email: email, Role: role, Password: password})
}

// Operators (admin) lists the operators.
func (c *Client) Operators(ctx context.Context) ([]wallet.Operator, error) {
	r, err := OpsOperatorList.Call(ctx, c, struct{}{})
	return r.Operators, err
}

// DisableOperator (admin) disables an operator and ends their sessions.
func (c *Client) DisableOperator(ctx context.Context, email string) (*wallet.Operator, error) {
	return OpsOperatorDisable.Call(ctx, c, OperatorAddRequest{Email: email})
}

// Search (operator) finds accounts or a transfer (wallet.Service.Search).
func (c *Client) Search(ctx context.Context, query string, page int) (*wallet.SearchResult, error) {
	return OpsSearch.Call(ctx, c, SearchRequest{Query: query, Page: page})
}

// AccountStatement (operator) returns an account's statement without its
// PIN, with a customer's limits used today.
func (c *Client) AccountStatement(ctx context.Context, q OpsStatementRequest) (*wallet.AccountView, error) {
	return OpsStatement.Call(ctx, c, q)
}

// TransferDetail (operator) returns a transfer with the accounts it posted to.
func (c *Client) TransferDetail(ctx context.Context, ref string) (*wallet.TransferView, error) {
	return OpsTransfer.Call(ctx, c, TransferQuery{Ref: ref})
}

// Propose (maker) proposes q; ctx names the maker and reason (WithOperator),
// q.Session is the maker's session.
func (c *Client) Propose(ctx context.Context, q ProposalRequest) (*wallet.Proposal, error) {
	return OpsPropose.Call(ctx, c, q)
}

// Proposals lists proposals in states (all when none), newest first.
func (c *Client) Proposals(ctx context.Context, states []wallet.ProposalState, limit int) ([]wallet.Proposal, error) {
	r, err := OpsProposals.Call(ctx, c, ProposalQuery{States: states, Limit: limit})
	return r.Proposals, err
}

// Decide (checker) approves or rejects proposal q.ID; ctx names the
// checker and reason (WithOperator), q.Session is the checker's session.
func (c *Client) Decide(ctx context.Context, q ProposalDecision, approve bool) (*wallet.Proposal, error) {
	e := OpsReject
	if approve {
		e = OpsApprove
	}
	return e.Call(ctx, c, q)
}
