package wallet_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

// notices records what the wallet hands Config.Notify.
type notices struct {
	mu sync.Mutex
	ns []wallet.Notice
}

func (n *notices) add(x wallet.Notice) { n.mu.Lock(); defer n.mu.Unlock(); n.ns = append(n.ns, x) }
func (n *notices) all() []wallet.Notice {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]wallet.Notice(nil), n.ns...)
}

func code(err error) wallet.Code { return wallet.ErrorCode(err) }

func triesLeft(err error) int {
	var we *wallet.Error
	if errors.As(err, &we) && we.TriesLeft != nil {
		return *we.TriesLeft
	}
	return -1
}

// TestSecurityFirstPINNeedsStartKey: an account opened by an operator (an
// agent, an imported customer, a customer opened at the full tier or on
// OpenCustomer) or reset by one gets its first PIN only
// from whoever holds the one-time start key, within its validity; wrong
// keys count toward the lockout; a reset kills the old key.
func TestSecurityFirstPINNeedsStartKey(t *testing.T) {
	var sent notices
	f := newFixture(t, func(c *wallet.Config) { c.Notify = sent.add; c.StartKeyTTL = time.Hour })
	other := func(k string) string { // a wrong key of the same length
		b := []byte(k)
		b[0] = '0' + (b[0]-'0'+1)%10
		return string(b)
	}

	t.Run("a stranger cannot set an agent's first PIN", func(t *testing.T) {
		phone := f.phone()
		a, err := f.w.AddAgent(f.ctx, phone, "Stranger Test")
		f.must(err)
		if len(a.StartKey) != wallet.StartKeyDigits || !a.NeedsStartKey || a.HasPIN {
			t.Fatalf("got %+v, want a %d-digit start key and no PIN", a, wallet.StartKeyDigits)
		}
		if _, err := f.w.SetPIN(f.ctx, phone, "4826"); code(err) != wallet.CodeStartKeyRequired {
			t.Fatalf("SetPIN without the key: got %v, want %s", err, wallet.CodeStartKeyRequired)
		}
		if p, err := f.w.Lookup(f.ctx, phone); err != nil || p.HasPIN || !p.NeedsStartKey {
			t.Fatalf("after the refusal got %+v, %v, want no PIN and the key still needed", p, err)
		}
	})

	cases := []struct {
		name  string
		setup func(phone string) string // opens the account, returns its start key
		steps func(t *testing.T, phone, key string)
	}{
		{"agent: right key sets the PIN, once", func(phone string) string {
			a, err := f.w.AddAgent(f.ctx, phone, "Right Key")
			f.must(err)
			return a.StartKey
		}, func(t *testing.T, phone, key string) {
			if _, err := f.w.SetPINWithStartKey(f.ctx, phone, key, "4826"); err != nil {
				t.Fatal(err)
			}
			if _, err := f.w.VerifyPIN(f.ctx, phone, "4826"); err != nil {
				t.Fatal(err)
			}
			if _, err := f.w.SetPINWithStartKey(f.ctx, phone, key, "5937"); code(err) != wallet.CodeExists {
				t.Fatalf("the key used twice: got %v, want %s", err, wallet.CodeExists)
			}
		}},
		{"wrong keys count toward the lockout", func(phone string) string {
			a, err := f.w.AddAgent(f.ctx, phone, "Wrong Key")
			f.must(err)
			return a.StartKey
		}, func(t *testing.T, phone, key string) {
			_, err := f.w.SetPINWithStartKey(f.ctx, phone, other(key), "4826")
			if code(err) != wallet.CodeStartKeyInvalid || triesLeft(err) != 2 {
				t.Fatalf("wrong key 1: got %v, want %s with 2 tries left", err, wallet.CodeStartKeyInvalid)
			}
			_, err = f.w.StartKeyProof(f.ctx, phone, other(other(key)))
			if code(err) != wallet.CodeStartKeyInvalid || triesLeft(err) != 1 {
				t.Fatalf("wrong key 2: got %v, want %s with 1 try left", err, wallet.CodeStartKeyInvalid)
			}
			if _, err = f.w.SetPINWithStartKey(f.ctx, phone, other(other(other(key))), "4826"); code(err) != wallet.CodePINLocked {
				t.Fatalf("wrong key 3: got %v, want %s", err, wallet.CodePINLocked)
			}
			if _, err = f.w.SetPINWithStartKey(f.ctx, phone, key, "4826"); code(err) != wallet.CodePINLocked {
				t.Fatalf("the right key once locked: got %v, want %s", err, wallet.CodePINLocked)
			}
		}},
		{"an expired key sets nothing", func(phone string) string {
			a, err := f.w.AddAgent(f.ctx, phone, "Expired Key")
			f.must(err)
			return a.StartKey
		}, func(t *testing.T, phone, key string) {
			f.clock.Add(time.Hour)
			defer f.clock.Add(-time.Hour)
			if _, err := f.w.SetPINWithStartKey(f.ctx, phone, key, "4826"); code(err) != wallet.CodeStartKeyExpired {
				t.Fatalf("got %v, want %s", err, wallet.CodeStartKeyExpired)
			}
			if _, err := f.w.StartKeyProof(f.ctx, phone, key); code(err) != wallet.CodeStartKeyExpired {
				t.Fatalf("proof: got %v, want %s", err, wallet.CodeStartKeyExpired)
			}
		}},
		{"a proof stands in for the key, and dies with it", func(phone string) string {
			a, err := f.w.AddAgent(f.ctx, phone, "Proof Key")
			f.must(err)
			return a.StartKey
		}, func(t *testing.T, phone, key string) {
			proof, err := f.w.StartKeyProof(f.ctx, phone, key)
			f.must(err)
			if strings.Contains(proof, key) {
				t.Fatalf("the proof %q holds the key", proof)
			}
			if _, err := f.w.SetPINWithProof(f.ctx, phone, proof[:11]+strings.Repeat("A", len(proof)-11), "4826"); code(err) != wallet.CodeStartKeyInvalid {
				t.Fatalf("forged proof: got %v, want %s", err, wallet.CodeStartKeyInvalid)
			}
			a, err := f.w.ResetPIN(f.ctx, phone) // a new key: the old proof dies
			f.must(err)
			if _, err := f.w.SetPINWithProof(f.ctx, phone, proof, "4826"); code(err) != wallet.CodeStartKeyInvalid {
				t.Fatalf("proof of the old key: got %v, want %s", err, wallet.CodeStartKeyInvalid)
			}
			proof, err = f.w.StartKeyProof(f.ctx, phone, a.StartKey)
			f.must(err)
			if _, err := f.w.SetPINWithProof(f.ctx, phone, proof, "4826"); err != nil {
				t.Fatal(err)
			}
		}},
		{"a reset issues a new key and kills the old", func(phone string) string {
			_, err := f.w.Register(f.ctx, phone, "Reset Customer", wallet.TierBasic, "en")
			f.must(err)
			_, err = f.w.SetPIN(f.ctx, phone, "2580") // self-registered: no key
			f.must(err)
			a, err := f.w.ResetPIN(f.ctx, phone)
			f.must(err)
			return a.StartKey
		}, func(t *testing.T, phone, key string) {
			if key == "" {
				t.Fatal("the reset printed no start key")
			}
			a, err := f.w.ResetPIN(f.ctx, phone)
			f.must(err)
			if a.StartKey == key {
				t.Fatalf("the second reset gave the same key")
			}
			if _, err := f.w.SetPINWithStartKey(f.ctx, phone, key, "4826"); code(err) != wallet.CodeStartKeyInvalid {
				t.Fatalf("the old key: got %v, want %s", err, wallet.CodeStartKeyInvalid)
			}
			if _, err := f.w.SetPINWithStartKey(f.ctx, phone, a.StartKey, "4826"); err != nil {
				t.Fatalf("the new key: %v", err)
			}
		}},
		{"an imported customer without a PIN needs its key", func(phone string) string {
			as, err := f.w.Import(f.ctx, []wallet.ImportCustomer{{Phone: phone, Name: "Imported", Tier: wallet.TierFull}})
			f.must(err)
			return as[0].StartKey
		}, func(t *testing.T, phone, key string) {
			if _, err := f.w.SetPIN(f.ctx, phone, "4826"); code(err) != wallet.CodeStartKeyRequired {
				t.Fatalf("got %v, want %s", err, wallet.CodeStartKeyRequired)
			}
			if _, err := f.w.SetPINWithStartKey(f.ctx, phone, key, "4826"); err != nil {
				t.Fatal(err)
			}
		}},
		{"a full-tier customer the operator opened needs its key", func(phone string) string {
			a, err := f.w.Register(f.ctx, phone, "Full Tier", wallet.TierFull, "fr")
			f.must(err)
			return a.StartKey
		}, func(t *testing.T, phone, key string) {
			if _, err := f.w.SetPIN(f.ctx, phone, "4826"); code(err) != wallet.CodeStartKeyRequired {
				t.Fatalf("got %v, want %s", err, wallet.CodeStartKeyRequired)
			}
			if _, err := f.w.SetPINWithStartKey(f.ctx, phone, key, "4826"); err != nil {
				t.Fatal(err)
			}
		}},
		{"a basic-tier customer the operator opened needs its key", func(phone string) string {
			a, err := f.w.OpenCustomer(f.ctx, phone, "Basic Opened", wallet.TierBasic, "sw")
			f.must(err)
			if a.Tier != wallet.TierBasic {
				t.Errorf("opened at tier %d, want %d", a.Tier, wallet.TierBasic)
			}
			return a.StartKey
		}, func(t *testing.T, phone, key string) {
			if _, err := f.w.SetPIN(f.ctx, phone, "4826"); code(err) != wallet.CodeStartKeyRequired {
				t.Fatalf("got %v, want %s", err, wallet.CodeStartKeyRequired)
			}
			if _, err := f.w.SetPINWithStartKey(f.ctx, phone, key, "4826"); err != nil {
				t.Fatal(err)
			}
		}},
		{"a self-registered customer sets its PIN directly", func(phone string) string {
			_, err := f.w.Register(f.ctx, phone, "Self Registered", wallet.TierBasic, "sw")
			f.must(err)
			return ""
		}, func(t *testing.T, phone, key string) {
			if _, err := f.w.SetPIN(f.ctx, phone, "4826"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			phone := f.phone()
			c.steps(t, phone, c.setup(phone))
		})
	}

	// Every key issued went to its owner's phone, and the PIN changes and
	// resets were told too.
	kinds := map[wallet.NoticeKind]int{}
	for _, n := range sent.all() {
		kinds[n.Kind]++
		if (n.Kind == wallet.NoticeStartKey || n.Kind == wallet.NoticePINReset) && (len(n.StartKey) != wallet.StartKeyDigits || n.Account.Phone == "") {
			t.Errorf("notice %+v: want a start key and a phone", n)
		}
	}
	if kinds[wallet.NoticeStartKey] != 8 || kinds[wallet.NoticePINReset] != 3 {
		t.Errorf("got notices %v, want 8 start keys and 3 resets", kinds)
	}
	f.check()
}

// TestSecurityPINChangeNotice: a PIN change tells the owner.
func TestSecurityPINChangeNotice(t *testing.T) {
	var sent notices
	f := newFixture(t, func(c *wallet.Config) { c.Notify = sent.add })
	alice := f.customer("Alice")
	opened := len(sent.all()) // the start key of the operator's opening
	_, err := f.w.ChangePIN(f.ctx, alice, "2580", "4826")
	f.must(err)
	ns := sent.all()[opened:]
	if len(ns) != 1 || ns[0].Kind != wallet.NoticePINChanged || ns[0].Account.Phone != alice || ns[0].StartKey != "" {
		t.Fatalf("got %+v, want one PIN-changed notice to %s", ns, alice)
	}
}

// TestSecurityAccountStatesIndependent: frozen and PIN-locked are two
// states, each cleared only by its own command, in every combination.
func TestSecurityAccountStatesIndependent(t *testing.T) {
	f := newFixture(t)
	lock := func(phone string) {
		for range 3 {
			f.w.VerifyPIN(f.ctx, phone, "0000")
		}
	}
	type state struct{ frozen, locked bool }
	get := func(phone string) state {
		a, err := f.w.Show(f.ctx, phone)
		f.must(err)
		return state{a.Status == wallet.StatusFrozen, a.PINLocked}
	}
	for _, start := range []state{{false, false}, {true, false}, {false, true}, {true, true}} {
		for _, cmd := range []string{"freeze", "unfreeze", "reset"} {
			t.Run(fmt.Sprintf("frozen=%v,locked=%v,%s", start.frozen, start.locked, cmd), func(t *testing.T) {
				p := f.customer("States")
				if start.locked {
					lock(p)
				}
				if start.frozen {
					_, err := f.w.SetStatus(f.ctx, p, wallet.StatusFrozen)
					f.must(err)
				}
				if got := get(p); got != start {
					t.Fatalf("set up %+v, got %+v", start, got)
				}
				want := start
				var err error
				switch cmd {
				case "freeze":
					_, err = f.w.SetStatus(f.ctx, p, wallet.StatusFrozen)
					want.frozen = true
				case "unfreeze":
					_, err = f.w.SetStatus(f.ctx, p, wallet.StatusActive)
					want.frozen = false
				case "reset":
					_, err = f.w.ResetPIN(f.ctx, p)
					want.locked = false
				}
				f.must(err)
				if got := get(p); got != want {
					t.Fatalf("after %s: got %+v, want %+v", cmd, got, want)
				}
			})
		}
	}
	// A lockout while frozen leaves it frozen.
	p := f.customer("Frozen Then Guessed")
	_, err := f.w.SetStatus(f.ctx, p, wallet.StatusFrozen)
	f.must(err)
	lock(p)
	if got := get(p); got != (state{frozen: true}) {
		t.Fatalf("a frozen account guessed at: got %+v, want frozen and not locked (a frozen account checks no PIN)", got)
	}
	f.check()
}

// TestSecurityFrozenRefusesEveryPINPath: a frozen account answers every
// path that checks a PIN with account_frozen, and a wrong PIN there does not
// count.
func TestSecurityFrozenRefusesEveryPINPath(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.customer("Alice"), f.customer("Bob")
	f.fund(alice, f.ksh(100))
	agent, _ := f.agent(0)
	_, err := f.w.SetStatus(f.ctx, alice, wallet.StatusFrozen)
	f.must(err)
	_, err = f.w.SetStatus(f.ctx, agent, wallet.StatusFrozen)
	f.must(err)
	paths := []struct {
		name string
		call func(pin string) error
	}{
		{"verify", func(pin string) error { _, err := f.w.VerifyPIN(f.ctx, alice, pin); return err }},
		{"balance", func(pin string) error { _, err := f.w.Balance(f.ctx, alice, pin); return err }},
		{"proof", func(pin string) error { _, err := f.w.PINProof(f.ctx, alice, pin); return err }},
		{"statement", func(pin string) error {
			_, _, err := f.w.Statement(f.ctx, wallet.StatementQuery{Phone: alice, PIN: pin})
			return err
		}},
		{"earnings", func(pin string) error { _, err := f.w.Earnings(f.ctx, agent, pin); return err }},
		{"change", func(pin string) error { _, err := f.w.ChangePIN(f.ctx, alice, pin, "4826"); return err }},
		{"send", func(pin string) error {
			_, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: key(), Kind: wallet.TransferSend, From: alice, To: bob, Amount: 100, PIN: pin})
			return err
		}},
	}
	for _, p := range paths {
		for _, pin := range []string{"2580", "1357", "0000"} {
			if err := p.call(pin); code(err) != wallet.CodeAccountFrozen {
				t.Errorf("%s with %s: got %v, want %s", p.name, pin, err, wallet.CodeAccountFrozen)
			}
		}
	}
	for _, ph := range []string{alice, agent} {
		_, err = f.w.SetStatus(f.ctx, ph, wallet.StatusActive)
		f.must(err)
	}
	if _, err := f.w.VerifyPIN(f.ctx, alice, "2580"); err != nil {
		t.Fatalf("unfrozen, the right PIN: %v", err)
	}
	if err := paths[0].call("0000"); triesLeft(err) != 2 {
		t.Fatalf("unfrozen, a wrong PIN: got %v, want 2 tries left (none counted while frozen)", err)
	}
	f.check()
}

// TestSecurityPINBudgetPerSource: wrong PINs from one source past its budget
// refuse that source's PIN checks, while the same account's owner on another
// source goes on; the refused source does not lock the account.
func TestSecurityPINBudgetPerSource(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	f := newFixture(t, func(c *wallet.Config) {
		c.PINBudget = wallet.PINBudget{Window: time.Minute, PerSource: 4, Overall: 100}
		c.ObservePIN = func(ch, result string) { mu.Lock(); seen[ch+" "+result]++; mu.Unlock() }
	})
	attacker := wallet.PINAttempt{Source: "ussd:africastalking:63999"}
	owner := wallet.PINAttempt{Source: "sms:twilio:+254700000001"}
	victims := []string{f.customer("V1"), f.customer("V2"), f.customer("V3")}
	actx := func(i int) context.Context {
		a := attacker
		a.Key = fmt.Sprint("hop-", i)
		return wallet.WithPINAttempt(f.ctx, a)
	}
	// Two wrong PINs on each of two accounts: the source's budget of 4.
	n := 0
	for _, v := range victims[:2] {
		for range 2 {
			n++
			if _, err := f.w.VerifyPIN(actx(n), v, "0000"); code(err) != wallet.CodePINInvalid {
				t.Fatalf("guess %d: got %v, want %s", n, err, wallet.CodePINInvalid)
			}
		}
	}
	// The third account: refused before its PIN is compared, right or wrong.
	for _, pin := range []string{"0000", "2580"} {
		n++
		if _, err := f.w.VerifyPIN(actx(n), victims[2], pin); code(err) != wallet.CodePINThrottled {
			t.Fatalf("over budget with %s: got %v, want %s", pin, err, wallet.CodePINThrottled)
		}
	}
	_, err := f.w.Transfer(actx(n+1), wallet.TransferRequest{Key: key(), Kind: wallet.TransferSend, From: victims[0], To: victims[1], Amount: 100, PIN: "2580"})
	if code(err) != wallet.CodePINThrottled {
		t.Fatalf("a transfer over budget: got %v, want %s", err, wallet.CodePINThrottled)
	}
	// The owners on another channel are not refused, and not locked.
	octx := wallet.WithPINAttempt(f.ctx, owner)
	for _, v := range victims {
		if _, err := f.w.VerifyPIN(octx, v, "2580"); err != nil {
			t.Fatalf("the owner of %s by SMS: %v", v, err)
		}
	}
	// Another aggregator's network is another source.
	if _, err := f.w.VerifyPIN(wallet.WithPINAttempt(f.ctx, wallet.PINAttempt{Source: "ussd:hubtel:62001"}), victims[2], "2580"); err != nil {
		t.Fatalf("another source: %v", err)
	}
	// The window passes: the source may try again.
	f.clock.Add(2 * time.Minute)
	if _, err := f.w.VerifyPIN(actx(100), victims[2], "2580"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["ussd wrong"] != 4 || seen["ussd refused"] != 3 {
		t.Fatalf("metrics got %v, want 4 ussd wrong and 3 ussd refused", seen)
	}
}

// TestSecurityPINBudgetOverall: past the overall budget every source's
// budget is halved.
func TestSecurityPINBudgetOverall(t *testing.T) {
	f := newFixture(t, func(c *wallet.Config) {
		c.PINBudget = wallet.PINBudget{Window: time.Minute, PerSource: 4, Overall: 6}
	})
	var vs []string
	for i := range 4 {
		vs = append(vs, f.customer(fmt.Sprint("V", i)))
	}
	src := func(s string) context.Context { return wallet.WithPINAttempt(f.ctx, wallet.PINAttempt{Source: s}) }
	// Three sources spend 2 each: 6 overall, none over its own 4.
	for i, s := range []string{"sms:twilio:+254700000011", "sms:twilio:+254700000012", "sms:twilio:+254700000013"} {
		for range 2 {
			if _, err := f.w.VerifyPIN(src(s), vs[i], "0000"); code(err) != wallet.CodePINInvalid {
				t.Fatalf("%s: got %v", s, err)
			}
		}
	}
	// Now each source may have 2: the first three are at it.
	if _, err := f.w.VerifyPIN(src("sms:twilio:+254700000011"), vs[0], "2580"); code(err) != wallet.CodePINThrottled {
		t.Fatalf("overall spent: got %v, want %s", err, wallet.CodePINThrottled)
	}
	// A source with no wrong PINs is not refused.
	if _, err := f.w.VerifyPIN(src("sms:twilio:+254700000014"), vs[3], "2580"); err != nil {
		t.Fatalf("a fresh source: %v", err)
	}
}

// TestSecurityRetriedAttemptCountsOnce: a hop retried after a timeout
// carries the same attempt key, and its wrong PIN counts once; a different
// PIN under the same key is a new guess and counts.
func TestSecurityRetriedAttemptCountsOnce(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.customer("Alice"), f.customer("Bob")
	f.fund(alice, f.ksh(100))
	hop := wallet.WithPINAttempt(f.ctx, wallet.PINAttempt{Source: "ussd:africastalking:63902", Key: "ussd:at.s1:4"})
	for i := range 3 {
		if _, err := f.w.VerifyPIN(hop, alice, "0000"); code(err) != wallet.CodePINInvalid || triesLeft(err) != 2 {
			t.Fatalf("try %d of the same hop: got %v, want 2 tries left", i+1, err)
		}
	}
	// A transfer retried under its key and attempt.
	req := wallet.TransferRequest{Key: key(), Kind: wallet.TransferSend, From: alice, To: bob, Amount: 100, PIN: "1111",
		Source: "ussd:africastalking:63902", Attempt: "ussd:at.s1:5"}
	for i := range 2 {
		if _, err := f.w.Transfer(f.ctx, req); code(err) != wallet.CodePINInvalid || triesLeft(err) != 1 {
			t.Fatalf("try %d of the transfer hop: got %v, want 1 try left", i+1, err)
		}
	}
	// Another PIN under a used attempt key is another guess.
	if _, err := f.w.VerifyPIN(hop, alice, "9999"); code(err) != wallet.CodePINLocked {
		t.Fatalf("a new PIN under the old key: got %v, want %s", err, wallet.CodePINLocked)
	}
	f.check()
}

// TestSecurityNamesRefuseControlCharacters: names shown to others may not
// carry control, invisible or bidirectional-override characters.
func TestSecurityNamesRefuseControlCharacters(t *testing.T) {
	f := newFixture(t)
	bad := []string{
		"Till \u202eKCAB",     // right-to-left override
		"Jane\u2066Doe\u2069", // isolates
		"Jane\u200fDoe",       // right-to-left mark
		"Jane\x00Doe",         // NUL
		"Jane\x1b[31mDoe",     // an escape sequence
		"Jane\nDoe",           // a line break
		"Jane\u0085Doe",       // C1 next line
		"Jane\u2028Doe",       // line separator
		"Jane\u200bDoe",       // zero-width space
	}
	for _, name := range bad {
		for _, open := range []struct {
			what string
			do   func() error
		}{
			{"register", func() error { _, err := f.w.Register(f.ctx, f.phone(), name, wallet.TierBasic, "en"); return err }},
			{"agent", func() error { _, err := f.w.AddAgent(f.ctx, f.phone(), name); return err }},
			{"merchant", func() error { _, err := f.w.AddMerchant(f.ctx, f.phone(), name, false); return err }},
			{"import", func() error {
				_, err := f.w.Import(f.ctx, []wallet.ImportCustomer{{Phone: f.phone(), Name: name, Tier: wallet.TierFull}})
				return err
			}},
		} {
			err := open.do()
			if code(err) != wallet.CodeInvalid || !strings.Contains(err.Error(), "U+") {
				t.Errorf("%s %q: got %v, want %s naming the character", open.what, name, err, wallet.CodeInvalid)
			}
		}
		if wallet.CheckName("a name", name) == nil {
			t.Errorf("CheckName(%q) = nil", name)
		}
	}
	for _, good := range []string{"Jane Doe", "Amina Wanjiru-Otieno", "Café Ndogo", "محمد علي", "O'Brien & Sons"} {
		if _, err := f.w.AddMerchant(f.ctx, f.phone(), good, false); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
}
