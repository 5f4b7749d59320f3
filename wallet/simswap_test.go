package wallet_test

import (
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/simswap"
	"github.com/kibubu/kibubu/wallet/simswap/camaratest"
)

// simSwapFixture is a wallet whose SIM-swap gate asks a fake network
// (camaratest) for every +2547 number, on the fixture's clock, without a
// cache, checking transfers above KSh 1,000.
type simSwapFixture struct {
	*fixture
	net *camaratest.Server
}

func newSimSwapFixture(t *testing.T, policy map[wallet.SIMSwapAction]simswap.Policy, opts ...func(*wallet.Config)) *simSwapFixture {
	t.Helper()
	c := &clock{now: time.Date(2026, 11, 21, 10, 15, 0, 0, time.UTC)}
	net := camaratest.New(c.Now)
	t.Cleanup(net.Close)
	checker, err := simswap.New(simswap.Config{
		Timeout: simswap.Duration(time.Second), CacheTTL: -1, Policy: policy,
		Networks: []simswap.Network{{Name: "fake", BaseURL: net.URL, TokenURL: net.TokenURL(),
			ClientID: net.ClientID, ClientSecret: net.ClientSecret, Prefixes: []string{"+2547"}}},
	}, simswap.Options{Now: c.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(cfg *wallet.Config) {
		cfg.SIMSwap, cfg.SIMSwapAbove, cfg.Now = checker, 1000_00, c.Now
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		for _, o := range opts {
			o(cfg)
		}
	})
	f.clock = c // the wallet's, the checker's and the network's
	return &simSwapFixture{fixture: f, net: net}
}

// swap records a SIM change of phone ago before now.
func (f *simSwapFixture) swap(phone string, ago time.Duration) {
	f.net.SetSwap(phone, f.clock.Now().Add(-ago))
}

func (f *simSwapFixture) status(phone string) wallet.Status {
	f.t.Helper()
	a, err := f.w.Show(f.ctx, phone)
	f.must(err)
	return a.Status
}

// audited returns the actions of the wallet's own SIM-swap audit records
// for account.
func (f *simSwapFixture) audited(account string) []string {
	f.t.Helper()
	recs, err := f.w.AuditLog(f.ctx, wallet.AuditQuery{Targets: []string{account}, Limit: wallet.AuditPageMax})
	f.must(err)
	var out []string
	for _, r := range recs {
		if r.Actor == "wallet:simswap" {
			out = append(out, r.Action)
		}
	}
	return out
}

func (f *simSwapFixture) send(from, to string, amount int64, k string) (*wallet.TransferResult, error) {
	return f.w.Transfer(f.ctx, wallet.TransferRequest{Key: k, Kind: wallet.TransferSend, From: from, To: to, Amount: amount, PIN: "2580"})
}

// TestSIMSwapGate: a swapped SIM cannot send above the amount, reset or
// change the PIN or change the language, and can send below the amount;
// the account stays held (no more network calls) until an operator clears
// it; a clearance covers the change before it, not a later one.
func TestSIMSwapGate(t *testing.T) {
	f := newSimSwapFixture(t, nil)
	victim, friend := f.customer("Victim Test"), f.customer("Friend Test")
	f.fund(victim, f.ksh(5000))

	// Before any swap: a large send goes.
	if _, err := f.send(victim, friend, f.ksh(2000), key()); err != nil {
		t.Fatalf("before the swap: %v", err)
	}
	_, agentNumber := f.agent(0)
	f.swap(victim, time.Hour)
	replayKey := key()
	calls := f.net.Calls(simswap.CheckPath)

	for _, tc := range []struct {
		name string
		do   func() error
		want wallet.Code
	}{
		{"send above the amount", func() error { _, err := f.send(victim, friend, f.ksh(1500), replayKey); return err }, wallet.CodeSIMSwapHold},
		{"send at the amount", func() error { _, err := f.send(victim, friend, f.ksh(1000), key()); return err }, ""},
		{"withdraw above the amount", func() error {
			_, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: key(), Kind: wallet.TransferWithdraw, From: victim, To: agentNumber, Amount: f.ksh(1200), PIN: "2580"})
			return err
		}, wallet.CodeSIMSwapHold},
		{"PIN reset", func() error { _, err := f.w.ResetPIN(f.ctx, victim); return err }, wallet.CodeSIMSwapHold},
		{"PIN change", func() error { _, err := f.w.ChangePIN(f.ctx, victim, "2580", "9146"); return err }, wallet.CodeSIMSwapHold},
		{"PIN change on two screens", func() error {
			proof, err := f.w.PINProof(f.ctx, victim, "2580")
			if err != nil {
				return err
			}
			_, err = f.w.PendPIN(f.ctx, wallet.NewPIN{Phone: victim, PIN: "9146", Purpose: wallet.PendingChange, Proof: proof})
			return err
		}, wallet.CodeSIMSwapHold},
		{"language change", func() error { _, err := f.w.SetLanguage(f.ctx, victim, "sw"); return err }, wallet.CodeSIMSwapHold},
		{"balance", func() error { _, err := f.w.Balance(f.ctx, victim, "2580"); return err }, ""},
		{"money received", func() error {
			_, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: key(), Kind: wallet.TransferSend, From: friend, To: victim, Amount: f.ksh(1500), PIN: "2580"})
			return err
		}, ""},
	} {
		if got := code(tc.do()); got != tc.want {
			t.Errorf("%s: got %q; want %q", tc.name, got, tc.want)
		}
	}
	if st := f.status(victim); st != wallet.StatusSIMSwapHold {
		t.Errorf("got status %s; want %s", st, wallet.StatusSIMSwapHold)
	}
	if got := f.audited(victim); len(got) != 1 || got[0] != wallet.AuditSIMSwapHold {
		t.Errorf("got audit records %v; want one %s", got, wallet.AuditSIMSwapHold)
	}
	// Held: the gate refuses without asking the network again. Two
	// checks: the victim's first large send, and the friend's.
	if n := f.net.Calls(simswap.CheckPath) - calls; n != 2 {
		t.Errorf("got %d checks; want 2 (the hold answers the victim's others)", n)
	}

	// An operator verifies the holder and clears the hold: the same key
	// works (the refusal was not remembered), and the change cleared does
	// not hold the account again.
	if _, err := f.w.SetStatus(f.ctx, victim, wallet.StatusActive); err != nil {
		t.Fatal(err)
	}
	before := f.balance(victim)
	if _, err := f.send(victim, friend, f.ksh(1500), replayKey); err != nil {
		t.Fatalf("after the clearance: %v", err)
	}
	if got, want := f.balance(victim), before-f.ksh(1500); got > want {
		t.Errorf("got balance %d; want at most %d (the send and its fee)", got, want)
	}
	if got := f.audited(victim); len(got) != 2 || got[1] != wallet.AuditSIMSwapClear {
		t.Errorf("got audit records %v; want a hold and a clearance", got)
	}
	if _, err := f.w.ChangePIN(f.ctx, victim, "2580", "9146"); err != nil {
		t.Fatalf("PIN change after the clearance: %v", err)
	}

	// A new swap after the clearance holds it again.
	f.clock.Add(time.Hour)
	f.swap(victim, time.Minute)
	if _, err := f.w.SetLanguage(f.ctx, victim, "fr"); code(err) != wallet.CodeSIMSwapHold {
		t.Fatalf("a swap after the clearance: got %v; want %s", err, wallet.CodeSIMSwapHold)
	}
	f.check()
}

// TestSIMSwapGateFirstPIN: the first PIN set with a start key (an
// operator's opening or reset) is refused on a swapped SIM, in both ways
// of setting it; a replay of a transfer made before the swap still
// answers its first result.
func TestSIMSwapGateFirstPIN(t *testing.T) {
	f := newSimSwapFixture(t, nil)
	for _, tc := range []struct {
		name string
		set  func(phone, key string) error
	}{
		{"with the start key", func(phone, key string) error { _, err := f.w.SetPINWithStartKey(f.ctx, phone, key, "4826"); return err }},
		{"with a start key proof", func(phone, key string) error { _, err := f.w.StartKeyProof(f.ctx, phone, key); return err }},
	} {
		phone := f.phone()
		a, err := f.w.AddAgent(f.ctx, phone, "Swapped Agent")
		f.must(err)
		f.swap(phone, 2*time.Hour)
		if err := tc.set(phone, a.StartKey); code(err) != wallet.CodeSIMSwapHold {
			t.Errorf("%s: got %v; want %s", tc.name, err, wallet.CodeSIMSwapHold)
		}
		if st := f.status(phone); st != wallet.StatusSIMSwapHold {
			t.Errorf("%s: got status %s; want %s", tc.name, st, wallet.StatusSIMSwapHold)
		}
	}

	victim, friend := f.customer("Replay Test"), f.customer("Friend Test")
	f.fund(victim, f.ksh(5000))
	k := key()
	first, err := f.send(victim, friend, f.ksh(2000), k)
	f.must(err)
	f.swap(victim, time.Hour)
	again, err := f.send(victim, friend, f.ksh(2000), k)
	if err != nil || !again.Replayed || again.Transfer.Ref != first.Transfer.Ref {
		t.Errorf("replay after the swap: got %+v, %v; want the first transfer %s replayed", again, err, first.Transfer.Ref)
	}
}

// TestSIMSwapGateNetworkDown: with the network down, an action that fails
// closed is refused as unavailable (and the account is not held); one that
// fails open goes on.
func TestSIMSwapGateNetworkDown(t *testing.T) {
	f := newSimSwapFixture(t, map[wallet.SIMSwapAction]simswap.Policy{wallet.SIMSwapPIN: simswap.FailClosed, wallet.SIMSwapTransfer: simswap.FailOpen})
	victim, friend := f.customer("Down Test"), f.customer("Friend Test")
	f.fund(victim, f.ksh(5000))
	f.swap(victim, time.Hour)
	f.net.Down()
	if _, err := f.w.ChangePIN(f.ctx, victim, "2580", "9146"); code(err) != wallet.CodeUnavailable {
		t.Errorf("PIN change, fails closed: got %v; want %s", err, wallet.CodeUnavailable)
	}
	if _, err := f.send(victim, friend, f.ksh(2000), key()); err != nil {
		t.Errorf("send, fails open: got %v; want it sent", err)
	}
	if st := f.status(victim); st != wallet.StatusActive {
		t.Errorf("got status %s; want %s (no answer holds nothing)", st, wallet.StatusActive)
	}
}

// TestSIMSwapNotices: the owner is told once when the gate holds the
// account (not again by the refusals while held), and once when an
// operator clears it; a freeze of a held account and its unfreeze tell
// nothing and clear nothing (the next gated action holds it again).
func TestSIMSwapNotices(t *testing.T) {
	var sent notices
	f := newSimSwapFixture(t, nil, func(c *wallet.Config) { c.Notify = sent.add })
	victim, friend := f.customer("Victim Test"), f.customer("Friend Test")
	f.fund(victim, f.ksh(5000))
	f.swap(victim, time.Hour)
	held := func() error { _, err := f.send(victim, friend, f.ksh(1500), key()); return err }
	active := func() error { _, err := f.w.SetStatus(f.ctx, victim, wallet.StatusActive); return err }
	frozen := func() error { _, err := f.w.SetStatus(f.ctx, victim, wallet.StatusFrozen); return err }
	for _, tc := range []struct {
		name   string
		do     func() error
		want   wallet.Code
		status wallet.Status
		told   []wallet.NoticeKind
	}{
		{"the gate holds", held, wallet.CodeSIMSwapHold, wallet.StatusSIMSwapHold, []wallet.NoticeKind{wallet.NoticeSIMSwapHold}},
		{"refused again while held", held, wallet.CodeSIMSwapHold, wallet.StatusSIMSwapHold, nil},
		{"PIN reset while held", func() error { _, err := f.w.ResetPIN(f.ctx, victim); return err }, wallet.CodeSIMSwapHold, wallet.StatusSIMSwapHold, nil},
		{"frozen while held", frozen, "", wallet.StatusFrozen, nil},
		{"unfrozen", active, "", wallet.StatusActive, nil},
		{"the same swap holds again", held, wallet.CodeSIMSwapHold, wallet.StatusSIMSwapHold, []wallet.NoticeKind{wallet.NoticeSIMSwapHold}},
		{"cleared", active, "", wallet.StatusActive, []wallet.NoticeKind{wallet.NoticeSIMSwapClear}},
		{"set active again", active, "", wallet.StatusActive, nil},
		{"a large send after the clearance", held, "", wallet.StatusActive, nil},
	} {
		before := len(sent.all())
		if got := code(tc.do()); got != tc.want {
			t.Errorf("%s: got %q; want %q", tc.name, got, tc.want)
		}
		if st := f.status(victim); st != tc.status {
			t.Errorf("%s: got status %s; want %s", tc.name, st, tc.status)
		}
		var told []wallet.NoticeKind
		for _, n := range sent.all()[before:] {
			told = append(told, n.Kind)
			if n.Account.Phone != victim || n.Account.Status != tc.status {
				t.Errorf("%s: %s notice to %s (status %s); want to %s (status %s)", tc.name, n.Kind, n.Account.Phone, n.Account.Status, victim, tc.status)
			}
		}
		if !slices.Equal(told, tc.told) {
			t.Errorf("%s: got notices %v; want %v", tc.name, told, tc.told)
		}
	}
	f.check()
}
