package wallet_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/store"
)

// noSweep leaves the reversal sweeper to the test: it calls SweepReversals.
func noSweep(c *wallet.Config) { c.ReversalSweep = -1 }

func (f *fixture) send(from, to string, amount int64) wallet.Transfer {
	f.t.Helper()
	r, err := f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferSend, From: from, To: to, Amount: amount, PIN: "2580"}))
	f.must(err)
	return r.Transfer
}

func (f *fixture) sweep() {
	f.t.Helper()
	_, err := f.w.SweepReversals(f.ctx)
	f.must(err)
}

func (f *fixture) reversal(id int64) *wallet.Reversal {
	f.t.Helper()
	r, err := f.st.Reversal(f.ctx, id)
	f.must(err)
	return r
}

// Issue 11, High #1: a customer's reversal of a send (or an agent's of a
// deposit) is a request. It holds the amount on the recipient's account at
// once; without an objection it completes when the window ends; an
// objection, or a recipient who no longer has the money, sends it to an
// operator, who approves or rejects it with a reason. Each case ends with
// the balances it says and a clean ledger check.
func TestSecurityReversalRequest(t *testing.T) {
	const amount = 1_000_00
	type parties struct{ alice, bob, agentPhone, agentNo string }
	tests := []struct {
		name string
		// run drives the request from made (held) to its end, and returns
		// whether the sender got the money back.
		run       func(t *testing.T, f *fixture, p parties, r *wallet.Reversal) bool
		spendHeld bool // bob spends what he got before the request: nothing to hold
	}{
		{"no objection: completes after the window", func(t *testing.T, f *fixture, p parties, r *wallet.Reversal) bool {
			f.sweep()
			if got := f.reversal(r.ID).State; got != wallet.ReversalHeld {
				t.Fatalf("before the window: got %s, want held", got)
			}
			f.clock.Add(f.w.Config().ObjectionWindow)
			f.sweep()
			return true
		}, false},
		{"objected, then approved by an operator", func(t *testing.T, f *fixture, p parties, r *wallet.Reversal) bool {
			o, err := f.w.ObjectReversal(f.ctx, p.bob, r.OriginalRef, "it was for rent")
			f.must(err)
			if o.State != wallet.ReversalObjected || o.Reason != "it was for rent" {
				t.Fatalf("objection: got %+v", o)
			}
			f.clock.Add(f.w.Config().ObjectionWindow)
			f.sweep()
			if got := f.reversal(r.ID).State; got != wallet.ReversalObjected {
				t.Fatalf("an objected request after the window: got %s, want objected (an operator decides)", got)
			}
			d, err := f.w.DecideReversal(f.ctx, r.ID, true, "ops", "the sender's bank slip")
			f.must(err)
			if d.Actor != "ops" || d.Reason != "the sender's bank slip" {
				t.Errorf("decision: got %+v", d)
			}
			return true
		}, false},
		{"objected, then rejected by an operator", func(t *testing.T, f *fixture, p parties, r *wallet.Reversal) bool {
			_, err := f.w.ObjectReversal(f.ctx, p.bob, r.OriginalRef, "")
			f.must(err)
			_, err = f.w.DecideReversal(f.ctx, r.ID, false, "ops", "the goods were delivered")
			f.must(err)
			return false
		}, false},
		{"rejected by an operator before the window ends", func(t *testing.T, f *fixture, p parties, r *wallet.Reversal) bool {
			_, err := f.w.DecideReversal(f.ctx, r.ID, false, "ops", "duplicate complaint")
			f.must(err)
			f.clock.Add(f.w.Config().ObjectionWindow)
			f.sweep()
			return false
		}, false},
		{"money gone: review, approved once the recipient can pay", func(t *testing.T, f *fixture, p parties, r *wallet.Reversal) bool {
			if r.State != wallet.ReversalReview || r.Held != 0 {
				t.Fatalf("got %+v, want review with nothing held", r)
			}
			if _, err := f.w.DecideReversal(f.ctx, r.ID, true, "ops", "fraud report"); wallet.ErrorCode(err) != wallet.CodeNotReversible {
				t.Fatalf("approval without the money: got %v, want not_reversible", err)
			}
			if got := f.reversal(r.ID).State; got != wallet.ReversalReview {
				t.Fatalf("after a failed approval: got %s, want review", got)
			}
			f.fund(p.bob, amount)
			_, err := f.w.DecideReversal(f.ctx, r.ID, true, "ops", "fraud report")
			f.must(err)
			return true
		}, true},
		{"money gone: review, rejected", func(t *testing.T, f *fixture, p parties, r *wallet.Reversal) bool {
			_, err := f.w.DecideReversal(f.ctx, r.ID, false, "ops", "no evidence")
			f.must(err)
			return false
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, noSweep)
			p := parties{alice: f.customer("Alice"), bob: f.customer("Bob")}
			f.fund(p.alice, f.ksh(10_000))
			sent := f.send(p.alice, p.bob, amount)
			if tt.spendHeld {
				f.send(p.bob, f.customer("Carol"), amount-f.ksh(100))
			}
			before := f.snapshot(p.alice, p.bob, wallet.SystemReversals)
			r, err := f.w.RequestReversal(f.ctx, p.alice, sent.Ref, "2580")
			f.must(err)
			if !tt.spendHeld {
				if r.State != wallet.ReversalHeld || r.Held != amount {
					t.Fatalf("request: got %+v, want held %d", r, amount)
				}
				if got := f.balance(p.bob); got != before[p.bob]-amount {
					t.Errorf("bob's balance with the hold: got %d, want %d", got, before[p.bob]-amount)
				}
				// The held amount cannot be spent away.
				if _, err := f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferSend, From: p.bob, To: p.alice, Amount: 100, PIN: "2580"})); wallet.ErrorCode(err) != wallet.CodeInsufficientFunds {
					t.Errorf("bob spending the held money: got %v, want insufficient_funds", err)
				}
				again, err := f.w.RequestReversal(f.ctx, p.alice, sent.Ref, "2580")
				if err != nil || again.ID != r.ID {
					t.Errorf("asking again: got %+v, %v, want request %d", again, err, r.ID)
				}
			}
			reversedBack := tt.run(t, f, p, r)
			end := f.reversal(r.ID)
			after := f.snapshot(p.alice, p.bob, wallet.SystemReversals)
			fee, _, _ := f.w.Quote(wallet.TransferSend, amount)
			want := map[bool]wallet.ReversalState{true: wallet.ReversalCompleted, false: wallet.ReversalRejected}[reversedBack]
			if end.State != want {
				t.Fatalf("got %s, want %s", end.State, want)
			}
			if after[wallet.SystemReversals] != before[wallet.SystemReversals] {
				t.Errorf("the hold account ends at %d, want %d", after[wallet.SystemReversals], before[wallet.SystemReversals])
			}
			gotBack := after[p.alice] - before[p.alice]
			if reversedBack && gotBack != amount+fee || !reversedBack && gotBack != 0 {
				t.Errorf("alice got back %d (reversed: %v), want %d with the fee, or nothing", gotBack, reversedBack, amount+fee)
			}
			if _, err := f.w.DecideReversal(f.ctx, r.ID, true, "ops", "again"); wallet.ErrorCode(err) != wallet.CodeInvalidState {
				t.Errorf("deciding a final request: got %v, want invalid_state", err)
			}
			f.check()
		})
	}
}

// The refusals around a request: who may ask, who may object, and when.
func TestSecurityReversalRequestRefusals(t *testing.T) {
	f := newFixture(t, noSweep)
	alice, bob, carol := f.customer("Alice"), f.customer("Bob"), f.customer("Carol")
	f.fund(alice, f.ksh(10_000))
	till := f.merchant("Duka", false)
	sent := f.send(alice, bob, f.ksh(100))
	paid := f.pay(alice, till, f.ksh(100), false)
	agentPhone, _ := f.agent(f.ksh(5_000))
	dep, err := f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferDeposit, From: agentPhone, To: carol, Amount: f.ksh(500), PIN: "1357"}))
	f.must(err)
	for _, tt := range []struct {
		name       string
		phone, ref string
		pin        string
		code       wallet.Code
	}{
		{"a till payment: the merchant refunds", alice, paid.Ref, "2580", wallet.CodeNotReversible},
		{"by the recipient", bob, sent.Ref, "2580", wallet.CodeNotFound},
		{"a wrong PIN", alice, sent.Ref, "0000", wallet.CodePINInvalid},
		{"an unknown id", alice, "QQQQQQQQQQ", "2580", wallet.CodeNotFound},
	} {
		if _, err := f.w.RequestReversal(f.ctx, tt.phone, tt.ref, tt.pin); wallet.ErrorCode(err) != tt.code {
			t.Errorf("%s: got %v, want %s", tt.name, err, tt.code)
		}
	}
	// An agent's mistaken deposit may be reversed: the customer's amount is held.
	r, err := f.w.RequestReversal(f.ctx, agentPhone, dep.Transfer.Ref, "1357")
	f.must(err)
	if r.State != wallet.ReversalHeld || f.balance(carol) != 0 {
		t.Errorf("deposit reversal: got %+v, carol has %d, want held and 0", r, f.balance(carol))
	}
	if _, err := f.w.ObjectReversal(f.ctx, bob, dep.Transfer.Ref, ""); wallet.ErrorCode(err) != wallet.CodeNotFound {
		t.Errorf("objection by another customer: got %v, want not_found", err)
	}
	f.clock.Add(f.w.Config().ObjectionWindow)
	if _, err := f.w.ObjectReversal(f.ctx, carol, dep.Transfer.Ref, ""); wallet.ErrorCode(err) != wallet.CodeInvalidState {
		t.Errorf("objection after the window: got %v, want invalid_state", err)
	}
	if _, err := f.w.DecideReversal(f.ctx, r.ID, true, "ops", ""); wallet.ErrorCode(err) != wallet.CodeInvalid {
		t.Errorf("a decision without a reason: got %v, want invalid_request", err)
	}
	f.sweep()
	if got := f.reversal(r.ID).State; got != wallet.ReversalCompleted {
		t.Errorf("deposit reversal after the window: got %s, want completed", got)
	}
	// The NATS-facing Transfer cannot post a request's own kinds.
	for _, k := range []wallet.TransferKind{wallet.TransferReversalHold, wallet.TransferReversalRelease} {
		if _, err := f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: k, From: bob, To: alice, Amount: 1, Reference: sent.Ref})); wallet.ErrorCode(err) != wallet.CodeInvalid {
			t.Errorf("Transfer of kind %s: got %v, want invalid_request", k, err)
		}
	}
	f.check()
}

// A crash between a step's transfer and the state that records it leaves
// the state behind the money. The sweeper (after the lease) posts the same
// key again: it replays, and nothing moves twice.
func TestSecurityReversalCrashRecovery(t *testing.T) {
	const amount = 500_00
	for _, tt := range []struct {
		name string
		// rewind puts the stored state back to what a crash right after
		// the step's transfer would have left.
		from, to wallet.ReversalState
		window   bool // past the objection window first
	}{
		{"hold posted, still requested", wallet.ReversalHeld, wallet.ReversalRequested, false},
		{"completion posted, still completing", wallet.ReversalCompleted, wallet.ReversalCompleting, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, noSweep)
			alice, bob := f.customer("Alice"), f.customer("Bob")
			f.fund(alice, f.ksh(10_000))
			sent := f.send(alice, bob, amount)
			r, err := f.w.RequestReversal(f.ctx, alice, sent.Ref, "2580")
			f.must(err)
			if tt.window {
				f.clock.Add(f.w.Config().ObjectionWindow)
				f.sweep()
			}
			want := f.snapshot(alice, bob, wallet.SystemReversals)
			cur := f.reversal(r.ID)
			if cur.State != tt.from {
				t.Fatalf("got %s, want %s", cur.State, tt.from)
			}
			back := *cur
			back.State = tt.to
			if ok, err := f.st.UpdateReversal(f.ctx, &back, tt.from); err != nil || !ok {
				t.Fatalf("rewind: %v %v", ok, err)
			}
			f.sweep() // within the lease: left to the call that crashed
			if got := f.reversal(r.ID).State; got != tt.to {
				t.Fatalf("within the lease: got %s, want %s", got, tt.to)
			}
			f.clock.Add(2 * time.Minute)
			f.sweep()
			if got := f.reversal(r.ID).State; got != tt.from {
				t.Errorf("after the sweep: got %s, want %s", got, tt.from)
			}
			if got := f.snapshot(alice, bob, wallet.SystemReversals); !equalMaps(got, want) {
				t.Errorf("balances after recovery %v, want %v (nothing moved twice)", got, want)
			}
			f.check()
		})
	}
}

// Two wallet processes on one database sweep the same due requests at
// once: each completes exactly once.
func TestSecurityReversalTwoWalletsSweep(t *testing.T) {
	const requests, amount = 6, 200_00
	f := newFixture(t, noSweep)
	w2 := f.secondWallet()
	alice := f.customer("Alice")
	f.fund(alice, f.ksh(20_000))
	var ids []int64
	for range requests {
		sent := f.send(alice, f.customer("Bob"), amount)
		r, err := f.w.RequestReversal(f.ctx, alice, sent.Ref, "2580")
		f.must(err)
		ids = append(ids, r.ID)
	}
	before := f.balance(alice)
	f.clock.Add(f.w.Config().ObjectionWindow)
	var wg sync.WaitGroup
	for _, w := range []*wallet.Service{f.w, w2, f.w, w2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.SweepReversals(context.Background()); err != nil {
				t.Errorf("sweep: %v", err)
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if got := f.reversal(id).State; got != wallet.ReversalCompleted {
			t.Errorf("request %d: got %s, want completed", id, got)
		}
	}
	fee, _, _ := f.w.Quote(wallet.TransferSend, amount)
	if got := f.balance(alice) - before; got != requests*(amount+fee) {
		t.Errorf("alice got back %d, want %d", got, requests*(amount+fee))
	}
	if got := f.balance(wallet.SystemReversals); got != 0 {
		t.Errorf("the hold account holds %d, want 0", got)
	}
	f.check()
}

// secondWallet starts another wallet on f's database, as a second process
// would be, with f's clock.
func (f *fixture) secondWallet() *wallet.Service {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f.st.CacheAccounts(false) // two writers: neither may keep accounts between batches
	st, err := store.Open(ctx, f.dsn)
	f.must(err)
	w, err := wallet.New(ctx, st, wallet.Config{Currency: f.kes, Region: "KE", Pepper: testPepper, Now: f.clock.Now, ReversalSweep: -1})
	f.must(err)
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	f.t.Cleanup(func() { cancel(); <-done; st.Close() })
	return w
}

// TestReversalProperties runs random sequences of sends, spending, reversal
// requests, objections, operator approvals and rejections, the window
// passing and sweeps, against a model: every balance agrees with it, the
// hold account holds exactly the amounts of the requests held or objected,
// a request completes at most once, and the ledger check passes (no money
// created or destroyed).
func TestReversalProperties(t *testing.T) {
	f := newFixture(t, noSweep)
	const people = 3
	var phones []string
	for range people {
		phones = append(phones, f.customer("Person"))
	}
	rapid.Check(t, func(rt *rapid.T) {
		// Close what earlier runs left open, so that this run's sweeps
		// move only this run's requests.
		open, err := f.w.Reversals(f.ctx, []wallet.ReversalState{wallet.ReversalHeld, wallet.ReversalObjected, wallet.ReversalReview}, 0)
		f.must(err)
		for _, r := range open {
			_, err := f.w.DecideReversal(f.ctx, r.ID, false, "ops", "end of run")
			f.must(err)
		}
		for _, p := range phones {
			if b := f.balance(p); b < f.ksh(2_000) {
				f.fund(p, f.ksh(2_000)-b)
			}
		}
		balance := func() map[string]int64 { return f.snapshot(append(phones, wallet.SystemReversals)...) }
		model := balance()
		var sends []wallet.Transfer
		var requests []int64
		fee := func(a int64) int64 { q, _, _ := f.w.Quote(wallet.TransferSend, a); return q }
		rt.Repeat(map[string]func(*rapid.T){
			"send": func(rt *rapid.T) {
				from, to := rapid.IntRange(0, people-1).Draw(rt, "from"), rapid.IntRange(0, people-1).Draw(rt, "to")
				a := rapid.Int64Range(1, f.ksh(500)).Draw(rt, "amount")
				if from == to || model[phones[from]] < a+fee(a) {
					rt.Skip("not a payable send")
				}
				sends = append(sends, f.send(phones[from], phones[to], a))
				model[phones[from]] -= a + fee(a)
				model[phones[to]] += a
				model[wallet.SystemFees] += fee(a)
			},
			"request": func(rt *rapid.T) {
				if len(sends) == 0 {
					rt.Skip("nothing sent")
				}
				s := sends[rapid.IntRange(0, len(sends)-1).Draw(rt, "which")]
				from, _ := f.w.AccountByID(f.ctx, s.Source)
				r, err := f.w.RequestReversal(f.ctx, from.Phone, s.Ref, "2580")
				if wallet.ErrorCode(err) == wallet.CodeNotReversible {
					return // too old
				}
				if err != nil {
					rt.Fatalf("request: %v", err)
				}
				if !slices.Contains(requests, r.ID) { // asking again returns the same request
					requests = append(requests, r.ID)
				}
			},
			"object": func(rt *rapid.T) {
				if len(requests) == 0 {
					rt.Skip("no request")
				}
				r := f.reversal(requests[rapid.IntRange(0, len(requests)-1).Draw(rt, "which")])
				to, _ := f.w.AccountByID(f.ctx, r.Recipient)
				if _, err := f.w.ObjectReversal(f.ctx, to.Phone, r.OriginalRef, "no"); err != nil && wallet.ErrorCode(err) != wallet.CodeInvalidState {
					rt.Fatalf("object: %v", err)
				}
			},
			"decide": func(rt *rapid.T) {
				if len(requests) == 0 {
					rt.Skip("no request")
				}
				id := requests[rapid.IntRange(0, len(requests)-1).Draw(rt, "which")]
				_, err := f.w.DecideReversal(f.ctx, id, rapid.Bool().Draw(rt, "approve"), "ops", "checked")
				switch wallet.ErrorCode(err) {
				case "", wallet.CodeInvalidState, wallet.CodeNotReversible:
				default:
					rt.Fatalf("decide: %v", err)
				}
			},
			"time passes": func(rt *rapid.T) {
				f.clock.Add(rapid.SampledFrom([]time.Duration{time.Hour, 12 * time.Hour, 25 * time.Hour}).Draw(rt, "by"))
			},
			"sweep": func(rt *rapid.T) {
				if _, err := f.w.SweepReversals(f.ctx); err != nil {
					rt.Fatalf("sweep: %v", err)
				}
			},
			"": func(rt *rapid.T) {
				// The model: each request's effect follows from its state.
				want := map[string]int64{}
				for k, v := range model {
					want[k] = v
				}
				for _, id := range requests {
					r := f.reversal(id)
					orig, err := f.w.TransferByRef(f.ctx, r.OriginalRef)
					if err != nil {
						rt.Fatal(err)
					}
					from, _ := f.w.AccountByID(f.ctx, r.Sender)
					to, _ := f.w.AccountByID(f.ctx, r.Recipient)
					switch r.State {
					case wallet.ReversalHeld, wallet.ReversalObjected:
						want[to.Phone] -= r.Held
						want[wallet.SystemReversals] += r.Held
					case wallet.ReversalCompleted:
						want[to.Phone] -= orig.Amount
						want[from.Phone] += orig.Amount + orig.Fee
						want[wallet.SystemFees] -= orig.Fee
					case wallet.ReversalRejected, wallet.ReversalReview:
					default:
						rt.Fatalf("request %d left in %s", id, r.State)
					}
				}
				if got := balance(); !equalMaps(got, want) {
					for _, id := range requests {
						rt.Logf("request %+v", *f.reversal(id))
					}
					rt.Logf("phones %v", phones)
					rt.Fatalf("balances %v, want %v", got, want)
				}
			},
		})
		// The whole-ledger check reads every posting: once per run.
		r, err := f.w.Check(f.ctx)
		if err != nil || !r.OK() {
			rt.Fatalf("ledger check: %+v, %v", r, err)
		}
	})
}

// The recipient's statement shows the hold as money taken, and the
// completion, paid from the hold, as nothing more: its lines add up to
// what the balance did.
func TestReversalStatement(t *testing.T) {
	const amount = 300_00
	f := newFixture(t, noSweep)
	alice, bob := f.customer("Alice"), f.customer("Bob")
	f.fund(alice, f.ksh(1_000))
	sent := f.send(alice, bob, amount)
	_, err := f.w.RequestReversal(f.ctx, alice, sent.Ref, "2580")
	f.must(err)
	f.clock.Add(f.w.Config().ObjectionWindow)
	f.sweep()
	_, lines, err := f.w.Statement(f.ctx, wallet.StatementQuery{Phone: bob, PIN: "2580", Limit: 10})
	f.must(err)
	var sum int64
	for _, l := range lines {
		sum += l.Amount
	}
	if len(lines) != 3 || lines[1].Kind != wallet.TransferReversalHold || lines[1].Amount != -amount || lines[0].Amount != 0 || sum != 0 || lines[0].BalanceAfter != 0 {
		t.Errorf("bob's statement %+v: want the send, the hold taking %d, the completion netting 0", lines, amount)
	}
}
