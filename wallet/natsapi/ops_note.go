package natsapi

import (
	"context"
	"strings"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// SubjectOpsNote (operator, audited) records in the wallet's audit log an
// action the back-office asks another service to take for a signed-in
// operator (the notifier's SMS retry and webhook re-send): OpsNote →
// OpsNote. The wallet owns the audit log, so the ops process notes the
// action here, with the operator and their reason, before it asks the
// other service; a note refused (no live session of the actor, a reason
// the log cannot take) means the action is not asked for.
const SubjectOpsNote = SubjectPrefix + ".ops.note"

// opsNoteActionBytesMax bounds an OpsNote's Kind and Status: a dotted
// action name, an outcome's code.
const opsNoteActionBytesMax = 40

// OpsNoteEndpoint is SubjectOpsNote, declared once: an operator's, audited.
var OpsNoteEndpoint = natsrpc.Endpoint[OpsNote, OpsNote]{Subject: SubjectOpsNote, Operator: true}

// OpsNote is an action another service takes for an operator. Session
// is the operator's back-office session: it must be live and be the
// request's actor. Kind names the action ("sms.retry"); Status is
// "requested" before it is asked for and then its outcome ("ok" or the
// refusal's code); ID, Phone and Merchant what it acts on (the audit
// record's target and detail).
type OpsNote struct {
	Session  string `json:"session,omitempty"`
	Kind     string `json:"kind"`
	Status   string `json:"status"`
	ID       string `json:"id,omitempty"`
	Phone    string `json:"phone,omitempty"`
	Merchant string `json:"merchant,omitempty"`
}

func (s *server) opsNote(m natsrpc.Mux) {
	OpsNoteEndpoint.Handle(m, func(ctx context.Context, q OpsNote) (*OpsNote, error) {
		h := requestHeader(ctx)
		if q.Kind == "" || len(q.Kind) > opsNoteActionBytesMax || q.Status == "" || len(q.Status) > opsNoteActionBytesMax ||
			strings.TrimSpace(h.Get(HeaderReason)) == "" {
			return nil, wallet.Errorf(wallet.CodeInvalid, "a note names its action and status (at most %d bytes each) and a reason", opsNoteActionBytesMax)
		}
		sess, err := s.w.Session(ctx, q.Session)
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(strings.TrimSpace(h.Get(HeaderActor)), sess.Operator.Email) {
			return nil, wallet.Errorf(wallet.CodeForbidden, "the request names %q, its session %s", h.Get(HeaderActor), sess.Operator.Email)
		}
		q.Session = ""
		return &q, nil
	})
}

// Note (operator) records an action another service takes for the
// signed-in operator ctx names (WithOperator, with the reason).
func (c *Client) Note(ctx context.Context, q OpsNote) error {
	_, err := OpsNoteEndpoint.Call(ctx, c, q)
	return err
}
