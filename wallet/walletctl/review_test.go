package walletctl_test

import (
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/rules"
	"github.com/kibubu/kibubu/wallet/walletctl"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

// TestReviewCommands: over NATS, a send a rule holds is listed by `review
// list` with its rule, approved once by `review approve` (audited with the
// operator's reason), and another is refused by `review reject`.
func TestReviewCommands(t *testing.T) {
	cfg := &rules.Config{Rules: []rules.Rule{{Name: "hourly", Kind: rules.KindVelocity, Outcome: wallet.RuleReview,
		Window: rules.Duration(time.Hour), CountMax: 1}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	w := wallettest.Start(t, func(c *wallet.Config) { c.Rules = rules.New(cfg, nil) })
	ctx := context.Background()
	alice, bob := w.Customer("Alice Test", "2580", 5000_00), w.Customer("Bob Test", "2580", 0)
	send := func(key string) error {
		_, err := w.Client.Transfer(ctx, wallet.TransferRequest{Key: key, Kind: wallet.TransferSend, From: alice, To: bob, Amount: 100_00, PIN: "2580"})
		return err
	}
	if err := send("first"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"second", "third"} {
		if err := send(k); wallet.ErrorCode(err) != wallet.CodeHeldForReview {
			t.Fatalf("send %s: got %v, want %s", k, err, wallet.CodeHeldForReview)
		}
	}
	run := func(setup func(*flag.FlagSet) walletctl.Action, args ...string) (string, error) {
		var out strings.Builder
		o := &walletctl.Conn{Out: &out, Dial: func() (*natsapi.Client, error) { return w.Client, nil }}
		octx := natsapi.WithOperator(ctx, natsapi.Operator{Actor: "wanjiru"})
		fs := flag.NewFlagSet("review", flag.ContinueOnError)
		act := setup(fs)
		if err := fs.Parse(args); err != nil {
			return "", err
		}
		err := act(octx, o, fs.Args())
		return out.String(), err
	}
	out, err := run(walletctl.ReviewList)
	if err != nil || strings.Count(out, "hourly") != 2 || !strings.Contains(out, "2 transfers") || !strings.Contains(out, "KES 100.00") {
		t.Fatalf("review list: got %q, %v; want two held by hourly", out, err)
	}
	if _, err := run(walletctl.ReviewDecide(true), "1"); err == nil || !strings.Contains(err.Error(), "--reason is required") {
		t.Fatalf("approve without a reason: got %v", err)
	}
	out, err = run(walletctl.ReviewDecide(true), "--reason", "customer called back", "1")
	if err != nil || !strings.Contains(out, "review 1: approved by wanjiru; transfer ") {
		t.Fatalf("approve: got %q, %v", out, err)
	}
	out, err = run(walletctl.ReviewDecide(false), "--reason", "not the customer", "2")
	if err != nil || !strings.Contains(out, "review 2: rejected by wanjiru (not the customer)") {
		t.Fatalf("reject: got %q, %v", out, err)
	}
	if _, err := run(walletctl.ReviewDecide(true), "--reason", "again", "1"); wallet.ErrorCode(err) != wallet.CodeInvalidState {
		t.Fatalf("approve twice: got %v, want %s", err, wallet.CodeInvalidState)
	}
	if out, err = run(walletctl.ReviewList); err != nil || out != "no transfers to review\n" {
		t.Fatalf("review list after: got %q, %v", out, err)
	}
	out, err = run(walletctl.ReviewList, "--status", "all")
	if err != nil || !strings.Contains(out, "approved") || !strings.Contains(out, "rejected") || !strings.Contains(out, "wanjiru: not the customer") {
		t.Fatalf("review list --status all: got %q, %v", out, err)
	}
	// Money moved once: the first send and the approved one.
	a, err := w.Service.Show(ctx, bob)
	if err != nil || a.Balance != 200_00 {
		t.Fatalf("got bob's balance %v, %v; want 200.00", a, err)
	}
	recs, err := w.Service.AuditLog(ctx, wallet.AuditQuery{Limit: wallet.AuditPageMax})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		if strings.HasPrefix(r.Action, "review.") {
			got = append(got, r.Actor+" "+r.Action+" "+r.Outcome+" "+r.Reason)
		}
	}
	want := []string{
		"wanjiru review.approve requested customer called back",
		"wanjiru review.approve ok customer called back",
		"wanjiru review.reject requested not the customer",
		"wanjiru review.reject ok not the customer",
		"wanjiru review.approve requested again",
		"wanjiru review.approve invalid_state again",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got audit records\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r, err := w.Service.Check(ctx); err != nil || !r.OK() {
		t.Fatalf("ledger check: %+v, %v", r, err)
	}
}
