package rules

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kibubu/kibubu/wallet"
)

var t0 = time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)

// past is a transfer committed before the one checked: ago before t0.
type past struct {
	ago    time.Duration
	kind   wallet.TransferKind
	target int64
	amount int64
}

func TestEngine(t *testing.T) {
	velocity := Rule{Name: "hour", Kind: KindVelocity, Outcome: wallet.RuleReview, Window: Duration(time.Hour), CountMax: 2, AmountMax: 10_000}
	newRecipient := Rule{Name: "first", Kind: KindNewRecipient, Outcome: wallet.RuleReview, Window: Duration(24 * time.Hour), AmountMin: 5_000}
	structuring := Rule{Name: "split", Kind: KindStructuring, Outcome: wallet.RuleBlock, Window: Duration(time.Hour),
		Below: []int64{1_000, 2_500}, Margin: 100, CountMin: 3}
	send := wallet.TransferSend
	cases := []struct {
		name   string
		rules  []Rule
		past   []past
		kind   wallet.TransferKind
		target int64
		amount int64
		want   wallet.RuleOutcome
		rule   string
	}{
		{"velocity: first transfer", []Rule{velocity}, nil, send, 2, 100, wallet.RuleAllow, ""},
		{"velocity: count at the max", []Rule{velocity}, []past{{time.Minute, send, 2, 100}}, send, 2, 100, wallet.RuleAllow, ""},
		{"velocity: count over the max", []Rule{velocity}, []past{{time.Minute, send, 2, 100}, {2 * time.Minute, send, 3, 100}}, send, 2, 100, wallet.RuleReview, "hour"},
		{"velocity: one just inside the window", []Rule{velocity}, []past{{time.Hour - time.Nanosecond, send, 2, 100}, {time.Minute, send, 3, 100}}, send, 2, 100, wallet.RuleReview, "hour"},
		{"velocity: one at the window's edge is out", []Rule{velocity}, []past{{time.Hour, send, 2, 100}, {time.Minute, send, 3, 100}}, send, 2, 100, wallet.RuleAllow, ""},
		{"velocity: amount at the max", []Rule{velocity}, []past{{time.Minute, send, 2, 6_000}}, send, 2, 4_000, wallet.RuleAllow, ""},
		{"velocity: amount over the max", []Rule{velocity}, []past{{time.Minute, send, 2, 6_000}}, send, 2, 4_001, wallet.RuleReview, "hour"},
		{"velocity: other kinds do not count", []Rule{velocity}, []past{{time.Minute, wallet.TransferDeposit, 2, 100}, {time.Minute, wallet.TransferDeposit, 2, 100}}, send, 2, 100, wallet.RuleAllow, ""},
		{"velocity: a kind it does not look at", []Rule{velocity}, []past{{time.Minute, send, 2, 100}, {time.Minute, send, 2, 100}}, wallet.TransferDeposit, 2, 100, wallet.RuleAllow, ""},
		{"new recipient: large, new", []Rule{newRecipient}, []past{{time.Minute, send, 3, 100}}, send, 2, 5_000, wallet.RuleReview, "first"},
		{"new recipient: just under the amount", []Rule{newRecipient}, nil, send, 2, 4_999, wallet.RuleAllow, ""},
		{"new recipient: paid before", []Rule{newRecipient}, []past{{23 * time.Hour, send, 2, 100}}, send, 2, 5_000, wallet.RuleAllow, ""},
		{"new recipient: paid exactly a window ago", []Rule{newRecipient}, []past{{24 * time.Hour, send, 2, 100}}, send, 2, 5_000, wallet.RuleReview, "first"},
		{"structuring: third just under", []Rule{structuring}, []past{{time.Minute, send, 2, 950}, {2 * time.Minute, send, 3, 2_450}}, send, 4, 1_000, wallet.RuleBlock, "split"},
		{"structuring: at the margin's edge is not near", []Rule{structuring}, []past{{time.Minute, send, 2, 900}, {2 * time.Minute, send, 3, 2_450}}, send, 4, 1_000, wallet.RuleAllow, ""},
		{"structuring: over the limit is not under", []Rule{structuring}, []past{{time.Minute, send, 2, 950}, {2 * time.Minute, send, 3, 2_450}}, send, 4, 1_001, wallet.RuleAllow, ""},
		{"structuring: one out of the window", []Rule{structuring}, []past{{time.Hour, send, 2, 950}, {2 * time.Minute, send, 3, 2_450}}, send, 4, 1_000, wallet.RuleAllow, ""},
		{"a block before a review", []Rule{velocity, structuring}, []past{{time.Minute, send, 2, 950}, {2 * time.Minute, send, 3, 950}}, send, 4, 990, wallet.RuleBlock, "split"},
		{"allow rules are not evaluated", []Rule{{Name: "x", Kind: KindVelocity, Outcome: wallet.RuleAllow, Window: Duration(time.Hour), CountMax: 1}}, []past{{time.Minute, send, 2, 1}}, send, 2, 1, wallet.RuleAllow, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := &Config{Rules: c.rules}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			m := NewMetrics()
			e := New(cfg, m)
			for i := len(c.past) - 1; i >= 0; i-- { // oldest first
				p := c.past[i]
				e.Committed(wallet.RuleFacts{Kind: p.kind, Source: 1, Target: p.target, Amount: p.amount, Time: t0.Add(-p.ago)})
			}
			// Another account's transfers never count.
			e.Committed(wallet.RuleFacts{Kind: c.kind, Source: 9, Target: c.target, Amount: c.amount, Time: t0.Add(-time.Second)})
			d := e.Check(wallet.RuleFacts{Kind: c.kind, Source: 1, Target: c.target, Amount: c.amount, Time: t0})
			if d.Outcome != c.want || d.Rule != c.rule {
				t.Fatalf("got %s by %q (%s), want %s by %q", d.Outcome, d.Rule, d.Saw, c.want, c.rule)
			}
			if c.rule != "" && d.Saw == "" {
				t.Fatalf("got no Saw for %s", d.Rule)
			}
			if got := testutil.ToFloat64(m.decisions.WithLabelValues(c.rule, string(c.want))); got != 1 {
				t.Fatalf("got metric %v, want 1", got)
			}
		})
	}
}

// TestEngineTrim: the engine forgets what is older than its longest
// window, and accounts idle that long.
func TestEngineTrim(t *testing.T) {
	cfg := &Config{Rules: []Rule{{Name: "hour", Kind: KindVelocity, Outcome: wallet.RuleBlock, Window: Duration(time.Hour), CountMax: 1}}}
	e := New(cfg, nil)
	e.Committed(wallet.RuleFacts{Kind: wallet.TransferSend, Source: 1, Target: 2, Amount: 1, Time: t0})
	e.Committed(wallet.RuleFacts{Kind: wallet.TransferSend, Source: 3, Target: 2, Amount: 1, Time: t0.Add(2 * time.Hour)})
	if got := len(e.accounts); got != 1 {
		t.Fatalf("got %d accounts kept, want 1", got)
	}
	for i := range eventsMax + 10 {
		e.Committed(wallet.RuleFacts{Kind: wallet.TransferSend, Source: 3, Target: 2, Amount: 1, Time: t0.Add(2*time.Hour + time.Duration(i))})
	}
	if got := len(e.accounts[3]); got != eventsMax {
		t.Fatalf("got %d events kept, want %d", got, eventsMax)
	}
}

// TestEngineFarming: a withdrawal of most of a deposit, at the agent who
// made it, within the window, is farming; at another agent, of less than
// the share, or after the window, it is not.
func TestEngineFarming(t *testing.T) {
	const customer, agent, other = 1, 50, 51
	farming := Rule{Name: "farm", Kind: KindFarming, Outcome: wallet.RuleReview, Window: Duration(30 * time.Minute), Share: 80}
	cases := []struct {
		name    string
		ago     time.Duration // the deposit's age
		from    int64         // the agent who deposited
		to      int64         // the agent withdrawn at
		deposit int64
		amount  int64
		want    wallet.RuleOutcome
	}{
		{"most of it at once", time.Minute, agent, agent, 10_000, 9_500, wallet.RuleReview},
		{"exactly the share", time.Minute, agent, agent, 10_000, 8_000, wallet.RuleReview},
		{"just under the share", time.Minute, agent, agent, 10_000, 7_999, wallet.RuleAllow},
		{"at another agent", time.Minute, agent, other, 10_000, 9_500, wallet.RuleAllow},
		{"just inside the window", 30*time.Minute - time.Nanosecond, agent, agent, 10_000, 9_500, wallet.RuleReview},
		{"at the window's edge", 30 * time.Minute, agent, agent, 10_000, 9_500, wallet.RuleAllow},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := &Config{Rules: []Rule{farming}}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			e := New(cfg, nil)
			e.Committed(wallet.RuleFacts{Kind: wallet.TransferDeposit, Source: c.from, Target: customer, Amount: c.deposit, Time: t0.Add(-c.ago)})
			// A send is not a deposit: it never counts.
			e.Committed(wallet.RuleFacts{Kind: wallet.TransferSend, Source: c.to, Target: customer, Amount: c.deposit, Time: t0.Add(-time.Second)})
			d := e.Check(wallet.RuleFacts{Kind: wallet.TransferWithdraw, Source: customer, Target: c.to, Amount: c.amount, Time: t0})
			if d.Outcome != c.want {
				t.Fatalf("got %s (%s), want %s", d.Outcome, d.Saw, c.want)
			}
			// A send of the same amount to the agent's phone is not farming.
			if d := e.Check(wallet.RuleFacts{Kind: wallet.TransferSend, Source: customer, Target: c.to, Amount: c.amount, Time: t0}); d.Outcome != wallet.RuleAllow {
				t.Fatalf("a send: got %s", d.Outcome)
			}
		})
	}
}
