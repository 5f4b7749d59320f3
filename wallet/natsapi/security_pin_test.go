package natsapi_test

import (
	"testing"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

// TestSecurityFrozenRefusesPINOverNATS: a frozen account answers every PIN
// subject with account_frozen.
func TestSecurityFrozenRefusesPINOverNATS(t *testing.T) {
	e := start(t)
	p := e.customer()
	_, err := e.c.SetStatus(e.ctx, p, wallet.StatusFrozen)
	e.must(err)
	calls := map[string]func() error{
		"pin.verify": func() error { _, err := e.c.VerifyPIN(e.ctx, p, "2580"); return err },
		"balance":    func() error { _, err := e.c.Balance(e.ctx, p, "2580"); return err },
		"pin.proof":  func() error { _, err := e.c.PINProof(e.ctx, p, "2580"); return err },
		"earnings":   func() error { _, err := e.c.Earnings(e.ctx, p, "2580"); return err },
		"statement": func() error {
			_, err := e.c.Statement(e.ctx, wallet.StatementQuery{Phone: p, PIN: "2580"})
			return err
		},
		"pin.change": func() error { _, err := e.c.ChangePIN(e.ctx, p, "2580", "4826"); return err },
	}
	for name, call := range calls {
		if err := call(); wallet.ErrorCode(err) != wallet.CodeAccountFrozen {
			t.Errorf("%s: got %v, want %s", name, err, wallet.CodeAccountFrozen)
		}
	}
}

// TestSecurityStartKeyOverNATS: an agent's first PIN over NATS needs its
// start key, directly or through a proof.
func TestSecurityStartKeyOverNATS(t *testing.T) {
	e := start(t)
	phone := wallettest.NewPhone()
	a, err := e.c.AddAgent(e.ctx, phone, "Start Key Agent")
	e.must(err)
	if a.StartKey == "" || !a.NeedsStartKey {
		t.Fatalf("agent add answered %+v, want a start key", a)
	}
	if _, err := e.c.SetPIN(e.ctx, phone, "1357"); wallet.ErrorCode(err) != wallet.CodeStartKeyRequired {
		t.Fatalf("pin.set without the key: got %v, want %s", err, wallet.CodeStartKeyRequired)
	}
	proof, err := e.c.StartKeyProof(e.ctx, phone, a.StartKey)
	e.must(err)
	if _, err := e.c.SetPINWithProof(e.ctx, phone, proof, "1357"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.VerifyPIN(e.ctx, phone, "1357"); err != nil {
		t.Fatal(err)
	}
	r, err := e.c.ResetPIN(e.ctx, phone)
	e.must(err)
	if r.StartKey == "" || r.StartKey == a.StartKey {
		t.Fatalf("pin.reset answered %+v, want a new start key", r)
	}
}

// TestSecurityPINSourceOverNATS: the source and attempt of a PIN travel in
// the request, so a retried request counts a wrong PIN once and a source
// over its budget is refused while the owner elsewhere is not.
func TestSecurityPINSourceOverNATS(t *testing.T) {
	w := wallettest.Start(t, func(c *wallet.Config) {
		c.Pepper = pepper
		c.PINBudget = wallet.PINBudget{PerSource: 2}
	})
	e := &env{t: t, ctx: t.Context(), c: w.Client}
	victim, other := e.customer(), e.customer()
	at := func(src, key string) *env {
		return &env{t: t, ctx: wallet.WithPINAttempt(t.Context(), wallet.PINAttempt{Source: src, Key: key}), c: w.Client}
	}
	hop := at("ussd:africastalking:63999", "ussd:at.s9:3")
	for range 2 { // the same hop twice: one wrong PIN
		if _, err := hop.c.VerifyPIN(hop.ctx, victim, "0000"); triesLeft(err) != 2 {
			t.Fatalf("retried hop: got %v, want 2 tries left", err)
		}
	}
	next := at("ussd:africastalking:63999", "ussd:at.s9:4")
	if _, err := next.c.VerifyPIN(next.ctx, other, "0000"); wallet.ErrorCode(err) != wallet.CodePINInvalid {
		t.Fatalf("second wrong PIN: got %v", err)
	}
	last := at("ussd:africastalking:63999", "ussd:at.s9:5")
	if _, err := last.c.Balance(last.ctx, other, "2580"); wallet.ErrorCode(err) != wallet.CodePINThrottled {
		t.Fatalf("over budget: got %v, want %s", err, wallet.CodePINThrottled)
	}
	owner := at("sms:twilio:"+victim, "sms:twilio.SM1")
	if _, err := owner.c.Balance(owner.ctx, victim, "2580"); err != nil {
		t.Fatalf("the owner by SMS: %v", err)
	}
}

func triesLeft(err error) int {
	if we, ok := err.(*wallet.Error); ok && we.TriesLeft != nil {
		return *we.TriesLeft
	}
	return -1
}
