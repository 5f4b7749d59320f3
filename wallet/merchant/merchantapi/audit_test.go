package merchantapi_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// auditTail returns the audit records after seq.
func (e *merchantEnv) auditTail(seq int64) []wallet.AuditRecord {
	e.t.Helper()
	recs, err := e.w.AuditLog(e.ctx, wallet.AuditQuery{After: seq})
	e.must(err)
	return recs
}

func (e *merchantEnv) auditHead() int64 {
	e.t.Helper()
	r, err := e.w.Check(e.ctx)
	e.must(err)
	if !r.OK() {
		e.t.Fatalf("ledger check: %v", r.Violations)
	}
	return r.Audit
}

// rawRequest sends data to subject with headers h and returns the error
// code of the answer ("" for success).
func (e *merchantEnv) rawRequest(subject string, data []byte, h nats.Header) string {
	e.t.Helper()
	msg, err := e.nc.RequestMsg(&nats.Msg{Subject: e.ns.Prefix + "." + subject, Data: data, Header: h}, 5e9)
	e.must(err)
	return msg.Header.Get(micro.ErrorCodeHeader)
}

// TestSecurityEveryOperatorSubjectAudited (issue 11, finding 9) iterates
// natsapi.OperatorSubjects, so that a subject added later is covered: each
// request on an audited one is recorded with its actor and reason before it
// acts and with its outcome after; without an actor it is refused and
// nothing is recorded or done. The read-only subjects are not audited.
func TestSecurityEveryOperatorSubjectAudited(t *testing.T) {
	e := startMerchants(t)
	for _, subject := range natsapi.OperatorSubjects {
		t.Run(strings.TrimPrefix(subject, natsapi.SubjectPrefix+"."), func(t *testing.T) {
			// A request each handler refuses (or, read-only, answers): the
			// audit layer records it all the same.
			body := []byte(`{"number":"999999","phone":"+254799999999","pin":"1234","auth":"kbk_secret","since":"2020-01-01T00:00:00Z"}`)
			readOnly := slices.Contains(natsapi.AuditReadOnlySubjects, subject)

			before := e.auditHead()
			code := e.rawRequest(subject, body, nil)
			if got := e.auditTail(before); len(got) != 0 {
				t.Fatalf("no actor: got %d audit records, want none", len(got))
			}
			if !readOnly && code != string(wallet.CodeForbidden) {
				t.Errorf("no actor: got code %q, want %q", code, wallet.CodeForbidden)
			}

			h := nats.Header{}
			h.Set(natsapi.HeaderActor, "amina")
			h.Set(natsapi.HeaderReason, "ticket 42")
			e.rawRequest(subject, body, h)
			got := e.auditTail(before)
			if readOnly {
				if len(got) != 0 {
					t.Fatalf("read-only: got %d audit records, want none", len(got))
				}
				return
			}
			if len(got) != 2 {
				t.Fatalf("got %d audit records, want the request and its outcome", len(got))
			}
			action := strings.TrimPrefix(subject, natsapi.SubjectPrefix+".")
			req, out := got[0], got[1]
			if req.Actor != "amina" || req.Reason != "ticket 42" || req.Action != action || req.Outcome != wallet.AuditRequested {
				t.Errorf("request record: got %+v", req.AuditEntry)
			}
			if out.Actor != "amina" || out.Action != action || out.Outcome == wallet.AuditRequested || !strings.Contains(out.Detail, `"request":`) {
				t.Errorf("outcome record: got %+v", out.AuditEntry)
			}
			for _, r := range got {
				if strings.Contains(r.Detail, "1234") || strings.Contains(r.Detail, "kbk_secret") {
					t.Errorf("record %d detail %q holds a secret", r.Seq, r.Detail)
				}
			}
		})
	}
}

// TestSecurityOperatorActionsAudited follows real operator actions through
// the log: who, what, target, why and the outcome, and a refusal without
// an actor leaves the account as it was.
func TestSecurityOperatorActionsAudited(t *testing.T) {
	e := startMerchants(t)
	p := e.customer(0)
	anon := natsapi.NewClient(e.nc, 0, natsapi.WithPrefix(e.ns.Prefix))
	if _, err := anon.SetStatus(e.ctx, p, wallet.StatusFrozen); wallet.ErrorCode(err) != wallet.CodeForbidden {
		t.Fatalf("freeze without an actor: got %v, want forbidden", err)
	}
	if a, _ := e.w.Show(e.ctx, p); a.Status != wallet.StatusActive {
		t.Fatalf("a refused freeze froze the account: %s", a.Status)
	}
	before := e.auditHead()
	ctx := natsapi.WithOperator(e.ctx, natsapi.Operator{Actor: "amina", Reason: "fraud report 7"})
	a, err := e.c.SetStatus(ctx, p, wallet.StatusFrozen)
	e.must(err)
	k, err := e.m.CreateAPIKey(ctx, merchantapi.APIKeyRequest{Operator: true, Scopes: []merchant.Scope{merchant.ScopeKeysRead}})
	e.must(err)
	got := e.auditTail(before)
	type row struct{ Actor, Action, Target, Reason, Outcome string }
	var rows []row
	for _, r := range got {
		rows = append(rows, row{r.Actor, r.Action, r.Target, r.Reason, r.Outcome})
	}
	want := []row{
		{"amina", "account.status", p, "fraud report 7", "requested"},
		{"amina", "account.status", a.Number, "fraud report 7", "ok"},
		{"amina", "merchant.apikey.create", "", "fraud report 7", "requested"},
		{"amina", "merchant.apikey.create", k.ID, "fraud report 7", "ok"},
	}
	if !slices.Equal(rows, want) {
		t.Errorf("got  %+v\nwant %+v", rows, want)
	}
	for _, r := range got {
		if strings.Contains(r.Detail, k.Secret[len(k.ID)+1:]) {
			t.Errorf("record %d holds the key's secret", r.Seq)
		}
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(got[0].Detail), &d); err != nil || d["status"] != "frozen" {
		t.Errorf("request detail %q, want the status asked for", got[0].Detail)
	}
	list, err := e.c.AuditLog(e.ctx, natsapi.AuditRequest{Account: a.Number})
	e.must(err)
	// The account's records: its opening (customer.open, an operator
	// subject) and the freeze, every one naming the account.
	var actions []string
	for _, r := range list {
		actions = append(actions, r.Action+" "+r.Outcome)
		if r.Target != a.Number {
			t.Errorf("audit list --account %s: record %d targets %q", a.Number, r.Seq, r.Target)
		}
	}
	if want := []string{"customer.open requested", "customer.open ok", "account.status requested", "account.status ok"}; !slices.Equal(actions, want) {
		t.Errorf("audit list --account: got %v, want %v", actions, want)
	}
	_ = context.Background
}
