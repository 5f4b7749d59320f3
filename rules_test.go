package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kibubu/kibubu/wallet/natsapi"
)

// TestRulesOverUSSD: kibubu serve with --rules; a second send within the
// hour is held over USSD (the screen says so, no money moves), listed by
// `kibubu review list`, released by `kibubu review approve` (once: the
// recipient gets it once), and the sender is told by SMS; a third, by SMS,
// is held too.
func TestRulesOverUSSD(t *testing.T) {
	cfg := testConfig(t, "")
	cfg.Rules = filepath.Join(t.TempDir(), "rules.toml")
	if err := os.WriteFile(cfg.Rules, []byte("[[rule]]\nname = \"hourly\"\nkind = \"velocity\"\noutcome = \"review\"\nwindow = \"1h\"\ncount_max = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := startMain(t, &Main{Config: cfg})
	c := natsapi.NewClient(m.Conn(), 0, testOperator)
	ctx := context.Background()
	floatAgent(t, c)
	jane, bob := "+254722000001", "+254733000001"
	registered(t, c, jane, 5000_00)
	registered(t, c, bob, 0)

	dial(t, cfg.Data, "0722000001", "en", "1", "0733000001", "500", "1", "3907")
	out := dial(t, cfg.Data, "0722000001", "en", "1", "0733000001", "600", "1", "3907")
	if want := render("en", "error.held_for_review", nil); !shows(out, want) {
		t.Fatalf("second send: want %q on the screen:\n%s", want, out)
	}
	if a, err := c.Show(ctx, bob); err != nil || a.Balance != 500_00 {
		t.Fatalf("held send: bob %+v, %v; want KSh 500", a, err)
	}
	list, err := cli(t, "review", "list", "--data", cfg.Data)
	if err != nil || !strings.Contains(list, "hourly") || !strings.Contains(list, "KES 600.00") {
		t.Fatalf("review list: got %q, %v", list, err)
	}
	out, err = cli(t, "review", "approve", "--data", cfg.Data, "--reason", "customer called", "1")
	if err != nil || !strings.Contains(out, "approved") {
		t.Fatalf("review approve: got %q, %v", out, err)
	}
	if _, err := cli(t, "review", "approve", "--data", cfg.Data, "--reason", "again", "1"); err == nil {
		t.Fatal("a second approval was accepted")
	}
	if a, err := c.Show(ctx, bob); err != nil || a.Balance != 1100_00 {
		t.Fatalf("after the approval: bob %+v, %v; want KSh 1,100", a, err)
	}
	if r, err := c.Check(ctx); err != nil || !r.OK() {
		t.Fatalf("ledger check: %+v, %v", r, err)
	}
	waitOutbox(t, cfg.Data, jane, "was released")

	// Over SMS, the same hold.
	if _, err := cli(t, "sms", "send", "--data", cfg.Data, "--phone", jane, "send", "0733000001", "700"); err != nil {
		t.Fatal(err)
	}
	reply, err := cli(t, "sms", "send", "--data", cfg.Data, "--phone", jane, "3907")
	if err != nil || !shows(reply, render("en", "error.held_for_review", nil)) {
		t.Fatalf("send by SMS: got %q, %v; want the held reply", reply, err)
	}
	if a, err := c.Show(ctx, bob); err != nil || a.Balance != 1100_00 {
		t.Fatalf("after the SMS send: bob %+v, %v; want KSh 1,100 still", a, err)
	}
}

// TestRulesShow: kibubu rules show prints the built-in rules, a file's,
// or the error that stops one from loading (naming the line and rule);
// serve refuses to start with a bad --rules.
func TestRulesShow(t *testing.T) {
	out, err := cli(t, "rules", "show")
	if err != nil || !strings.Contains(out, "# 5 rules from default") || !strings.Contains(out, `name = "structuring"`) {
		t.Fatalf("rules show: got %q, %v", out, err)
	}
	bad := filepath.Join(t.TempDir(), "rules.toml")
	if err := os.WriteFile(bad, []byte("# rules\n\n[[rule]]\nname = \"x\"\nkind = \"velocity\"\noutcome = \"hold\"\nwindow = \"1h\"\ncount_max = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, "rules", "show", "--rules", bad); err == nil || !strings.Contains(err.Error(), `line 3: rule "x": outcome "hold"`) {
		t.Fatalf("rules show of a bad file: got %v", err)
	}
	cfg := testConfig(t, "")
	cfg.Rules = bad
	if err := cfg.validate(); err == nil || !strings.HasPrefix(err.Error(), "--rules: ") {
		t.Fatalf("serve with a bad --rules: got %v", err)
	}
}

// floatAgent opens the agent registered deposits from (phone 0712000001,
// PIN 2468) with KSh 50,000 of float.
func floatAgent(t *testing.T, c *natsapi.Client) {
	t.Helper()
	ctx := context.Background()
	agent, err := c.AddAgent(ctx, "0712000001", "Duka")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetPINWithStartKey(ctx, "0712000001", agent.StartKey, "2468"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.IssueFloat(ctx, agent.Number, 50_000_00, "BANK-1"); err != nil {
		t.Fatal(err)
	}
}
