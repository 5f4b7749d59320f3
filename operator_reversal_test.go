package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// Issue 11, High #1: `kibubu reversal list|approve|reject` decide the
// operator's queue of reversal requests, with the operator's reason.
func TestSecurityReversalCommands(t *testing.T) {
	embeddedOnly(t)
	cfg, m, agent, startKey := serveWithAgent(t)
	ctx := context.Background()
	c := natsapi.NewClient(m.Conn(), 0, testOperator)
	conn := []string{"--data", cfg.Data}
	if _, err := cli(t, append([]string{"float", "issue", "--agent", agent, "--amount", "10000", "--ref", "B1"}, conn...)...); err != nil {
		t.Fatal(err)
	}
	_, err := c.SetPINWithStartKey(ctx, "0712000001", startKey, "1357")
	must(t, err)
	var refs []string
	for i, phone := range []string{"0712000011", "0712000012", "0712000013"} {
		a, err := c.Register(ctx, natsapi.RegisterRequest{Phone: phone, Name: "Customer", Tier: wallet.TierFull})
		must(t, err)
		_, err = c.SetPINWithStartKey(ctx, phone, a.StartKey, "2580")
		must(t, err)
		if i == 0 {
			continue
		}
		dep, err := c.Transfer(ctx, wallet.TransferRequest{Key: "dep-" + phone, Kind: wallet.TransferDeposit, From: "0712000001", To: phone, Amount: 50_000, PIN: "1357"})
		must(t, err)
		refs = append(refs, dep.Transfer.Ref)
	}
	// Two mistaken deposits: the customers object to both.
	var ids []string
	for i, ref := range refs {
		r, err := c.RequestReversal(ctx, "0712000001", ref, "1357")
		must(t, err)
		_, err = c.ObjectReversal(ctx, []string{"0712000012", "0712000013"}[i], ref, "mine")
		must(t, err)
		ids = append(ids, strconv.FormatInt(r.ID, 10))
	}

	out, err := cli(t, append([]string{"reversal", "list"}, conn...)...)
	must(t, err)
	for i, ref := range refs {
		if !regexp.MustCompile(`(?m)^` + ids[i] + ` +objected +` + ref + ` +deposit +KES 500.00 +KES 500.00 `).MatchString(out) {
			t.Errorf("reversal list printed %q, want request %s of %s objected", out, ids[i], ref)
		}
	}
	for _, tt := range []struct {
		args []string
		want string // in the output, or in the error
		fail bool
	}{
		{[]string{"reversal", "approve", ids[0]}, "--reason is required", true},
		{[]string{"reversal", "approve", "x", "--reason", "r"}, `ID "x"`, true},
		{[]string{"reversal", "approve", ids[0], "--reason", "agent's bank slip"}, "reversal " + ids[0] + " of " + refs[0] + ": completed by ", false},
		{[]string{"reversal", "reject", ids[1], "--reason", "the customer's goods"}, "reversal " + ids[1] + " of " + refs[1] + ": rejected by ", false},
		{[]string{"reversal", "reject", ids[1], "--reason", "again"}, "invalid state", true},
	} {
		out, err := cli(t, append(tt.args, conn...)...)
		got := out
		if err != nil {
			got = err.Error()
		}
		if (err != nil) != tt.fail || !strings.Contains(got, tt.want) {
			t.Errorf("kibubu %s: got %q, %v, want %q", strings.Join(tt.args, " "), out, err, tt.want)
		}
	}
	out, err = cli(t, append([]string{"reversal", "list"}, conn...)...)
	must(t, err)
	if out != "no reversal requests\n" {
		t.Errorf("the queue after the decisions: %q, want empty", out)
	}
	all, err := c.Reversals(ctx, nil, 0)
	must(t, err)
	if len(all) != 2 || all[0].Reason != "agent's bank slip" || all[0].Actor == "" || all[1].State != wallet.ReversalRejected {
		t.Errorf("requests after the decisions: %+v", all)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
