package natsapi_test

import (
	"strings"
	"testing"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// Issue 11, High #1, over NATS: a reversal is asked for on
// reversal.request (the transfer subject refuses one), the recipient
// objects on reversal.object, and an operator decides with a name and a
// reason in the headers, on subjects that are in OperatorSubjects.
func TestSecurityReversalSubjects(t *testing.T) {
	e := start(t)
	alice, bob := e.customer(), e.customer()
	agentPhone, _ := e.agent(1_000_000)
	_, err := e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "fund", Kind: wallet.TransferDeposit, From: agentPhone, To: alice, Amount: 500_000, PIN: "1357"})
	e.must(err)
	sent, err := e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "send", Kind: wallet.TransferSend, From: alice, To: bob, Amount: 10_000, PIN: "2580"})
	e.must(err)
	ref := sent.Transfer.Ref

	_, err = e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "rev", Kind: wallet.TransferReversal, From: alice, Reference: ref, PIN: "2580"})
	checkError(t, err, wallet.CodeInvalid)
	r, err := e.c.RequestReversal(e.ctx, alice, ref, "2580")
	e.must(err)
	if r.State != wallet.ReversalHeld || r.Held != 10_000 || r.OriginalRef != ref {
		t.Fatalf("request: got %+v, want held 10000", r)
	}
	_, err = e.c.ObjectReversal(e.ctx, alice, ref, "")
	checkError(t, err, wallet.CodeNotFound) // only the recipient objects
	o, err := e.c.ObjectReversal(e.ctx, bob, ref, "rent")
	e.must(err)
	if o.State != wallet.ReversalObjected {
		t.Fatalf("objection: got %+v", o)
	}
	queue, err := e.c.Reversals(e.ctx, []wallet.ReversalState{wallet.ReversalObjected}, 0)
	e.must(err)
	if len(queue) != 1 || queue[0].ID != r.ID {
		t.Fatalf("operator queue: got %+v", queue)
	}
	_, err = e.c.DecideReversal(e.ctx, r.ID, false)
	checkError(t, err, wallet.CodeInvalid) // no operator named
	ctx := natsapi.WithOperator(e.ctx, natsapi.Operator{Actor: "amina", Reason: "goods delivered"})
	d, err := e.c.DecideReversal(ctx, r.ID, false)
	e.must(err)
	if d.State != wallet.ReversalRejected || d.Actor != "amina" || d.Reason != "goods delivered" {
		t.Errorf("decision: got %+v", d)
	}
	for _, s := range natsapi.ReversalOperatorSubjects {
		found := false
		for _, o := range natsapi.OperatorSubjects {
			found = found || o == s
		}
		if !found || !strings.HasPrefix(s, natsapi.SubjectPrefix+".reversal.") {
			t.Errorf("%s is not an operator subject", s)
		}
	}
}
