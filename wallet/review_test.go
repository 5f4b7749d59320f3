package wallet_test

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/rules"
)

// reviewFixture is a wallet with fraud rules: a send is held for review
// when it is the second within an hour, and refused when it is of
// KSh 40,000 or more to someone not paid within a day.
type reviewFixture struct {
	*fixture
	mu      sync.Mutex
	notices []wallet.Notice
}

func newReviewFixture(t *testing.T) *reviewFixture {
	t.Helper()
	cfg := &rules.Config{Rules: []rules.Rule{
		{Name: "hourly", Kind: rules.KindVelocity, Outcome: wallet.RuleReview, Window: rules.Duration(time.Hour), CountMax: 1},
		{Name: "large-first", Kind: rules.KindNewRecipient, Outcome: wallet.RuleBlock, Window: rules.Duration(24 * time.Hour), AmountMin: 40_000_00},
	}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	rf := &reviewFixture{}
	rf.fixture = newFixture(t, func(c *wallet.Config) {
		c.Rules = rules.New(cfg, nil)
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		c.Notify = func(n wallet.Notice) { rf.mu.Lock(); rf.notices = append(rf.notices, n); rf.mu.Unlock() }
	})
	return rf
}

func (f *reviewFixture) noticeKinds() []wallet.NoticeKind {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []wallet.NoticeKind
	for _, n := range f.notices {
		if n.Kind == wallet.NoticeReviewReleased || n.Kind == wallet.NoticeReviewRefused {
			out = append(out, n.Kind)
		}
	}
	return out
}

func (f *reviewFixture) send(from, to string, amount int64, k, pin string) (*wallet.TransferResult, error) {
	return f.w.Transfer(f.ctx, wallet.TransferRequest{Key: k, Kind: wallet.TransferSend, From: from, To: to, Amount: amount, PIN: pin})
}

func (f *reviewFixture) held() []wallet.Review {
	f.t.Helper()
	rs, err := f.w.Reviews(f.ctx, wallet.ReviewHeld, 0, 0)
	f.must(err)
	return rs
}

// TestReview: a rule's review holds a transfer (PIN checked, nothing
// moved, recorded with the rule and what it saw); a retry is held again;
// an approval makes it once under its key, a rejection never; a block is
// refused and recorded; the customer is told; the operator and the
// reason are recorded.
func TestReview(t *testing.T) {
	f := newReviewFixture(t)
	alice, bob := f.customer("Alice Test"), f.customer("Bob Test")
	f.fund(alice, f.ksh(100_000))
	if _, err := f.send(alice, bob, f.ksh(100), key(), "2580"); err != nil {
		t.Fatalf("first send: %v", err)
	}
	before := f.balance(alice)

	// The second send within the hour: a wrong PIN is refused as such,
	// nothing recorded; the right one is held.
	heldKey := key()
	if got := code(f.sendErr(alice, bob, f.ksh(200), heldKey, "1111")); got != wallet.CodePINInvalid {
		t.Fatalf("held with a wrong PIN: got %s, want %s", got, wallet.CodePINInvalid)
	}
	if got := len(f.held()); got != 0 {
		t.Fatalf("got %d held after a wrong PIN, want 0", got)
	}
	for range 2 { // the retry is answered the same, and not recorded twice
		if got := code(f.sendErr(alice, bob, f.ksh(200), heldKey, "2580")); got != wallet.CodeHeldForReview {
			t.Fatalf("second send: got %s, want %s", got, wallet.CodeHeldForReview)
		}
	}
	if got := f.balance(alice); got != before {
		t.Fatalf("got balance %d after a hold, want %d", got, before)
	}
	held := f.held()
	if len(held) != 1 || held[0].Rule != "hourly" || held[0].Key != heldKey || held[0].Request.PIN != "" ||
		!strings.Contains(held[0].Saw, "2 transfers") || held[0].Request.Amount != f.ksh(200) {
		t.Fatalf("got held %+v, want one by hourly, without its PIN, saying 2 transfers", held)
	}

	// The operator's decision needs a reason.
	if _, err := f.w.ApproveReview(f.ctx, held[0].ID, "ops:carol", ""); code(err) != wallet.CodeInvalid {
		t.Fatalf("approve without a reason: got %v", err)
	}
	r, err := f.w.ApproveReview(f.ctx, held[0].ID, "ops:carol", "called the customer")
	if err != nil || r.Status != wallet.ReviewApproved || r.Ref == "" {
		t.Fatalf("approve: got %+v, %v", r, err)
	}
	moved := before - f.balance(alice)
	if moved <= f.ksh(200) || moved > f.ksh(300) { // the amount and its fee
		t.Fatalf("approval moved %d, want 200 and its fee", moved)
	}
	if _, err := f.w.ApproveReview(f.ctx, held[0].ID, "ops:dave", "again"); code(err) != wallet.CodeInvalidState {
		t.Fatalf("second approval: got %v, want %s", err, wallet.CodeInvalidState)
	}
	// The customer's retry under the key is the same transfer.
	rep, err := f.send(alice, bob, f.ksh(200), heldKey, "2580")
	if err != nil || !rep.Replayed || rep.Transfer.Ref != r.Ref {
		t.Fatalf("retry after approval: got %+v, %v; want a replay of %s", rep, err, r.Ref)
	}
	if got := before - f.balance(alice); got != moved {
		t.Fatalf("retry moved money: %d, want %d", got, moved)
	}

	// Another held, rejected: never made, and its retry refused.
	rejKey := key()
	if got := code(f.sendErr(alice, bob, f.ksh(300), rejKey, "2580")); got != wallet.CodeHeldForReview {
		t.Fatalf("third send: got %s", got)
	}
	h := f.held()
	r, err = f.w.RejectReview(f.ctx, h[0].ID, "ops:carol", "not the customer")
	if err != nil || r.Status != wallet.ReviewRejected {
		t.Fatalf("reject: got %+v, %v", r, err)
	}
	if _, err := f.w.ApproveReview(f.ctx, h[0].ID, "ops:dave", "approve a rejected one"); code(err) != wallet.CodeInvalidState {
		t.Fatalf("approve after reject: got %v", err)
	}
	if got := code(f.sendErr(alice, bob, f.ksh(300), rejKey, "2580")); got != wallet.CodeRuleBlocked {
		t.Fatalf("retry of a rejected transfer: got %s, want %s", got, wallet.CodeRuleBlocked)
	}
	if got := before - f.balance(alice); got != moved {
		t.Fatalf("rejection moved money: %d, want %d", got, moved)
	}

	// A block: refused and recorded, not queued.
	carol := f.customer("Carol Test")
	f.clock.Add(2 * time.Hour)
	if got := code(f.sendErr(alice, carol, f.ksh(40_000), key(), "2580")); got != wallet.CodeRuleBlocked {
		t.Fatalf("large first send: got %s, want %s", got, wallet.CodeRuleBlocked)
	}
	blocked, err := f.w.Reviews(f.ctx, wallet.ReviewBlocked, 0, 0)
	f.must(err)
	if len(blocked) != 1 || blocked[0].Rule != "large-first" {
		t.Fatalf("got blocked %+v, want one by large-first", blocked)
	}
	if got := f.balance(carol); got != 0 {
		t.Fatalf("blocked send moved %d", got)
	}
	// Under it, and after the hour: the send goes.
	if _, err := f.send(alice, carol, f.ksh(39_999), key(), "2580"); err != nil {
		t.Fatalf("send under the amount: %v", err)
	}

	if got, want := f.noticeKinds(), []wallet.NoticeKind{wallet.NoticeReviewReleased, wallet.NoticeReviewRefused}; !slices.Equal(got, want) {
		t.Fatalf("got notices %v, want %v", got, want)
	}
	decided, err := f.w.Reviews(f.ctx, wallet.ReviewApproved, 0, 0)
	f.must(err)
	if len(decided) != 1 || decided[0].Operator != "ops:carol" || decided[0].Reason != "called the customer" || decided[0].Decided.IsZero() {
		t.Fatalf("got approved %+v, want the operator, the reason and the time recorded", decided)
	}
	f.check()
}

func (f *reviewFixture) sendErr(from, to string, amount int64, k, pin string) error {
	_, err := f.send(from, to, amount, k, pin)
	return err
}

// TestReviewProperty: in any order of sends (some held), approvals and
// rejections, money moves only for a send let through or an approval,
// once; a rejected transfer never moves; the ledger check holds.
func TestReviewProperty(t *testing.T) {
	f := newReviewFixture(t)
	alice, bob := f.customer("Alice Test"), f.customer("Bob Test")
	f.fund(alice, f.ksh(100_000))
	want := f.balance(alice)
	rng := rand.New(rand.NewPCG(16, 2))
	var keys []string
	var heldN, approvedN, rejectedN int
	for step := range 60 {
		switch op := rng.IntN(10); {
		case op < 5: // a new send, or a retry of an earlier one
			k := key()
			if len(keys) > 0 && op == 0 {
				k = keys[rng.IntN(len(keys))]
			}
			r, err := f.send(alice, bob, f.ksh(10), k, "2580")
			switch {
			case err == nil && !r.Replayed:
				want -= r.Transfer.Amount + r.Transfer.Fee
				keys = append(keys, k)
			case err == nil:
			case code(err) == wallet.CodeHeldForReview || code(err) == wallet.CodeRuleBlocked:
				heldN++
				keys = append(keys, k)
			default:
				t.Fatalf("step %d: send: %v", step, err)
			}
		case op < 8: // approve a held one
			if h := f.held(); len(h) > 0 {
				r, err := f.w.ApproveReview(f.ctx, h[rng.IntN(len(h))].ID, "ops:carol", "checked")
				f.must(err)
				if r.Status == wallet.ReviewApproved {
					approvedN++
					tr, err := f.w.TransferByRef(f.ctx, r.Ref)
					f.must(err)
					want -= tr.Amount + tr.Fee
				}
			}
		case op < 9: // reject a held one
			if h := f.held(); len(h) > 0 {
				_, err := f.w.RejectReview(f.ctx, h[rng.IntN(len(h))].ID, "ops:carol", "fraud")
				f.must(err)
				rejectedN++
			}
		default:
			f.clock.Add(40 * time.Minute)
		}
		if got := f.balance(alice); got != want {
			t.Fatalf("step %d: got balance %d, want %d", step, got, want)
		}
	}
	if heldN == 0 || approvedN == 0 || rejectedN == 0 {
		t.Fatalf("got %d held, %d approved, %d rejected: the sequence did not exercise all three", heldN, approvedN, rejectedN)
	}
	t.Logf("%d held, %d approved, %d rejected", heldN, approvedN, rejectedN)
	f.check()
}

// TestReviewWarm: a wallet started on a database with transfers in the
// rules' window feeds them to its rules: the next send is held as it would
// have been without the restart, and one older than the window is not
// counted.
func TestReviewWarm(t *testing.T) {
	f := newReviewFixture(t)
	alice, bob := f.customer("Alice Test"), f.customer("Bob Test")
	f.fund(alice, f.ksh(1000))
	if _, err := f.send(alice, bob, f.ksh(100), key(), "2580"); err != nil {
		t.Fatal(err)
	}
	a, err := f.w.Show(f.ctx, alice)
	f.must(err)
	cfg := &rules.Config{Rules: []rules.Rule{{Name: "hourly", Kind: rules.KindVelocity, Outcome: wallet.RuleReview, Window: rules.Duration(time.Hour), CountMax: 1}}}
	f.must(cfg.Validate())
	for _, tc := range []struct {
		later time.Duration
		want  wallet.RuleOutcome
	}{
		{59 * time.Minute, wallet.RuleReview},
		{61 * time.Minute, wallet.RuleAllow},
	} {
		eng := rules.New(cfg, nil)
		now := f.clock.Now().Add(tc.later)
		kes := f.kes
		if _, err := wallet.New(f.ctx, f.st, wallet.Config{Currency: kes, Region: "KE", Pepper: testPepper, PasswordCost: wallet.TestPasswordCost,
			Now: func() time.Time { return now }, Rules: eng, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
			t.Fatal(err)
		}
		d := eng.Check(wallet.RuleFacts{Kind: wallet.TransferSend, Source: a.ID, Target: a.ID + 1, Amount: 1, Time: now})
		if d.Outcome != tc.want {
			t.Errorf("%s after the send: got %s (%s), want %s", tc.later, d.Outcome, d.Saw, tc.want)
		}
	}
}
