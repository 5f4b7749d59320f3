package natsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// SubjectAuditList (operator) lists the audit log: AuditRequest → AuditReply.
const SubjectAuditList = SubjectPrefix + ".audit.list"

// AuditRequest selects audit records (wallet.AuditQuery); Account, a number
// or phone, selects the records whose target is that account.
type AuditRequest struct {
	wallet.AuditQuery
	Account string `json:"account,omitempty"`
}

// AuditReply is one page of audit records.
type AuditReply struct {
	Records []wallet.AuditRecord `json:"records"`
}

// AuditLog (operator) returns one page of the audit log, in Seq order.
func (c *Client) AuditLog(ctx context.Context, q AuditRequest) ([]wallet.AuditRecord, error) {
	r, err := AuditList.Call(ctx, c, q)
	return r.Records, err
}

// audited returns h wrapped so that a request on rt is recorded in the
// audit log when rt is an audited operator endpoint (an Operator route not
// ReadOnly, or an OperatorKey route), and h unchanged otherwise.
//
// The request is recorded before h sees it (Outcome requested, actor and
// reason from the Kibubu-Actor and Kibubu-Reason headers; on an
// OperatorKey route, the key's id as WithKeyActor tells it): a request
// without an actor, or one the log cannot take, is refused and nothing is
// done. Its outcome is recorded when it is answered, before the answer is
// sent (Responder.Respond). A crash between the two leaves the request
// recorded without an outcome. One transaction for both is not possible
// here: the actions commit in their own stores' transactions (the writer's
// group commit, the merchant services'), which the audit layer wraps
// without knowing.
func (s *server) audited(rt natsrpc.Route, h micro.HandlerFunc) micro.HandlerFunc {
	byKey := rt.OperatorKey
	if !byKey && (!rt.Operator || rt.ReadOnly) {
		return h
	}
	subject := rt.Subject
	action := strings.TrimPrefix(subject, SubjectPrefix+".")
	return func(r micro.Request) {
		// On the subscription's goroutine: operator requests are few, and
		// this keeps them bounded (one at a time per subject and process).
		ctx, cancel := context.WithTimeout(context.Background(), handlerTimeout)
		defer cancel()
		e := wallet.AuditEntry{Action: action, Outcome: wallet.AuditRequested, Actor: r.Headers().Get(HeaderActor),
			Reason: r.Headers().Get(HeaderReason), Target: requestTarget(r.Data()), Detail: requestDetail(r.Data())}
		if byKey {
			p, err := s.keyOperator(ctx, r.Data())
			if err != nil {
				s.Respond(r, nil, err)
				return
			}
			e.Actor = "apikey:" + p
		} else if strings.TrimSpace(e.Actor) == "" {
			s.Respond(r, nil, wallet.Errorf(wallet.CodeForbidden, "an operator request must name its operator (the %s header)", HeaderActor))
			return
		}
		rec, err := s.w.Audit(ctx, e)
		if err != nil {
			s.Respond(r, nil, err)
			return
		}
		h(&auditedRequest{Request: r, record: func(v any, err error) { s.auditOutcome(e, rec.Seq, v, err) }})
	}
}

// keyOperator reads the operator API key in a request's auth field and
// returns its id (WithKeyActor).
func (s *server) keyOperator(ctx context.Context, data []byte) (string, error) {
	var q struct {
		Auth string `json:"auth"`
	}
	if err := natsrpc.Decode(data, requestBytesMax, &q); err != nil {
		return "", err
	}
	if s.o.keyActor == nil {
		return "", wallet.Errorf(wallet.CodeUnavailable, "the merchant services are not running")
	}
	return s.o.keyActor(ctx, q.Auth)
}

// auditOutcome records how the request recorded as seq ended.
func (s *server) auditOutcome(e wallet.AuditEntry, seq int64, v any, err error) {
	e.Outcome, e.Detail = wallet.AuditOK, ""
	d := map[string]any{"request": seq}
	if err != nil {
		we, _ := natsrpc.AsWalletError(err)
		e.Outcome = string(we.Code)
		d["error"] = clipText(we.Message, auditErrorBytesMax)
	} else if data, jerr := json.Marshal(v); jerr == nil {
		if t := replyTarget(data); t != "" {
			e.Target = t
		}
	}
	b, _ := json.Marshal(d)
	e.Detail = string(b)
	ctx, cancel := context.WithTimeout(context.Background(), handlerTimeout)
	defer cancel()
	if _, aerr := s.w.Audit(ctx, e); aerr != nil {
		// The action is done: its answer goes out, and the request's record
		// shows it was asked for. An operator seeing this in the log checks
		// the outcome by hand.
		s.log.Error("audit outcome not recorded", "action", e.Action, "request", seq, "err", aerr)
	}
}

// auditedRequest is a request whose answer the Responder records first.
type auditedRequest struct {
	micro.Request
	record func(v any, err error)
}

var _ natsrpc.Recorded = (*auditedRequest)(nil)

// Record records the answer's outcome in the audit log.
func (a *auditedRequest) Record(v any, err error) { a.record(v, err) }

// Original is the request as the Responder passed it on.
func (a *auditedRequest) Original() micro.Request { return a.Request }

// auditDetailValueBytesMax bounds one field's JSON in an audit record's
// detail: a name, a number, a list of scopes. A longer value is left out.
const auditDetailValueBytesMax = 256

// auditErrorBytesMax bounds the refusal's message an outcome record keeps.
const auditErrorBytesMax = 200

// auditDetailFields are the request fields an audit record's detail keeps:
// an allow-list, so that a field a later request type adds (a PIN, a start
// key, an API key's secret) is left out until someone decides it is safe.
var auditDetailFields = []string{"number", "status", "phone", "name", "paybill", "tier", "kind", "from", "to", "amount",
	"reference", "key", "merchant", "operator", "scopes", "expires", "id", "ref", "decision"}

// auditTargetFields are the request fields, in order of preference, that
// name what an operator action acts on.
var auditTargetFields = []string{"number", "to", "ref", "id", "merchant", "phone"}

// requestDetail is the allowed fields of a JSON request, as JSON, within
// wallet.AuditDetailBytesMax.
func requestDetail(data []byte) string {
	var q map[string]json.RawMessage
	if json.Unmarshal(data, &q) != nil {
		return ""
	}
	out := map[string]json.RawMessage{}
	for _, f := range auditDetailFields {
		v, ok := q[f]
		if !ok || len(v) > auditDetailValueBytesMax {
			continue
		}
		out[f] = v
		if b, _ := json.Marshal(out); len(b) > wallet.AuditDetailBytesMax {
			delete(out, f)
		}
	}
	if len(out) == 0 {
		return ""
	}
	b, _ := json.Marshal(out)
	return escapeUnprintable(strings.ToValidUTF8(string(b), "\uFFFD"))
}

// escapeUnprintable writes the control and bidirectional-control characters
// in JSON text as \u escapes (they can only be inside its strings), so a
// record prints as it reads.
func escapeUnprintable(s string) string {
	if strings.IndexFunc(s, unprintable) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unprintable(r) {
			fmt.Fprintf(&b, "\\u%04x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func unprintable(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }

// requestTarget is the first of a JSON request's target fields that is a
// string.
func requestTarget(data []byte) string {
	var q map[string]json.RawMessage
	if json.Unmarshal(data, &q) != nil {
		return ""
	}
	for _, f := range auditTargetFields {
		var s string
		if json.Unmarshal(q[f], &s) == nil && s != "" {
			return clipText(strings.Map(func(r rune) rune {
				if unprintable(r) {
					return '?'
				}
				return r
			}, s), wallet.AuditTargetBytesMax)
		}
	}
	return ""
}

// replyTarget is what a reply names as acted on: an account's number, an
// object's id (an API key), a transfer's ref.
func replyTarget(data []byte) string {
	var v map[string]json.RawMessage
	if json.Unmarshal(data, &v) != nil {
		return ""
	}
	var transfer map[string]json.RawMessage
	json.Unmarshal(v["transfer"], &transfer)
	for _, raw := range []json.RawMessage{v["number"], v["id"], transfer["ref"]} {
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			return clipText(s, wallet.AuditTargetBytesMax)
		}
	}
	return ""
}

// clipText cuts s to at most n bytes, on a rune boundary.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// serveAudit serves the audit log's endpoint.
func (s *server) serveAudit(m natsrpc.Mux) {
	AuditList.Handle(m, func(ctx context.Context, q AuditRequest) (*AuditReply, error) {
		if q.Account != "" {
			a, err := s.w.Show(ctx, q.Account)
			if err != nil {
				return nil, err
			}
			q.Targets = []string{a.Number}
			if a.Phone != "" {
				q.Targets = append(q.Targets, a.Phone)
			}
		}
		recs, err := s.w.AuditLog(ctx, q.AuditQuery)
		return &AuditReply{Records: recs}, err
	})
}
