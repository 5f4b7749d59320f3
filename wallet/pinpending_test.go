package wallet_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/kibubu/kibubu/wallet"
)

// pendingRows counts phone's pending new PINs in the database.
func (f *fixture) pendingRows(phone string) int64 {
	f.t.Helper()
	var n int64
	f.must(f.st.Gorm().Table("pending_pins").Where("phone = ?", phone).Count(&n).Error)
	return n
}

// TestPendingPIN: a new PIN chosen on one screen and confirmed on the next
// (PendPIN, ConfirmPIN), on each purpose, with the refusals of the first
// call, and what a token is worth after expiry, a mismatch, a use, from
// another phone, or past the phone's bound.
func TestPendingPIN(t *testing.T) {
	f := newFixture(t)
	const newPIN = "4826"
	changeOf := func(t *testing.T, phone, pin string) wallet.NewPIN {
		t.Helper()
		proof, err := f.w.PINProof(f.ctx, phone, "2580")
		f.must(err)
		return wallet.NewPIN{Phone: phone, PIN: pin, Purpose: wallet.PendingChange, Proof: proof}
	}
	verifies := func(t *testing.T, phone, pin string, want bool) {
		t.Helper()
		_, err := f.w.VerifyPIN(f.ctx, phone, pin)
		if got := err == nil; got != want {
			t.Errorf("PIN %s of %s verifies: got %v (%v), want %v", pin, phone, got, err, want)
		}
	}

	t.Run("refused choices", func(t *testing.T) {
		alice := f.customer("Alice Pending")
		agentPhone := f.phone()
		agent, err := f.w.AddAgent(f.ctx, agentPhone, "Pending Agent")
		f.must(err)
		proof, err := f.w.PINProof(f.ctx, alice, "2580")
		f.must(err)
		cases := []struct {
			name string
			n    wallet.NewPIN
			want wallet.Code
		}{
			{"trivial PIN", wallet.NewPIN{Phone: alice, PIN: "1234", Purpose: wallet.PendingChange, Proof: proof}, wallet.CodeInvalid},
			{"short PIN", wallet.NewPIN{Phone: alice, PIN: "482", Purpose: wallet.PendingChange, Proof: proof}, wallet.CodeInvalid},
			{"the same PIN again", wallet.NewPIN{Phone: alice, PIN: "2580", Purpose: wallet.PendingChange, Proof: proof}, wallet.CodeInvalid},
			{"change without a proof", wallet.NewPIN{Phone: alice, PIN: newPIN, Purpose: wallet.PendingChange}, wallet.CodePINInvalid},
			{"change with a forged proof", wallet.NewPIN{Phone: alice, PIN: newPIN, Purpose: wallet.PendingChange, Proof: "AAAAAGkgZ6T2cG9T0Xq1yH9pJc0l2mKx"}, wallet.CodePINInvalid},
			{"change of another's PIN with a proof of mine", wallet.NewPIN{Phone: f.customer("Bob Pending"), PIN: newPIN, Purpose: wallet.PendingChange, Proof: proof}, wallet.CodePINInvalid},
			{"register a phone with a PIN", wallet.NewPIN{Phone: alice, PIN: newPIN, Purpose: wallet.PendingRegister, Name: "Alice Again"}, wallet.CodeExists},
			{"register an agent's phone", wallet.NewPIN{Phone: agentPhone, PIN: newPIN, Purpose: wallet.PendingRegister, Name: "Not An Agent"}, wallet.CodeExists},
			{"register without a name", wallet.NewPIN{Phone: f.phone(), PIN: newPIN, Purpose: wallet.PendingRegister}, wallet.CodeInvalid},
			{"first PIN of a phone without an account", wallet.NewPIN{Phone: f.phone(), PIN: newPIN, Purpose: wallet.PendingFirstPIN}, wallet.CodeNotFound},
			{"first PIN of an account with one", wallet.NewPIN{Phone: alice, PIN: newPIN, Purpose: wallet.PendingFirstPIN}, wallet.CodeExists},
			{"first PIN without the start key", wallet.NewPIN{Phone: agentPhone, PIN: newPIN, Purpose: wallet.PendingFirstPIN}, wallet.CodeStartKeyRequired},
			{"first PIN with the start key itself as proof", wallet.NewPIN{Phone: agentPhone, PIN: newPIN, Purpose: wallet.PendingFirstPIN, Proof: agent.StartKey}, wallet.CodeStartKeyInvalid},
			{"no purpose", wallet.NewPIN{Phone: alice, PIN: newPIN}, wallet.CodeInvalid},
			{"not a phone", wallet.NewPIN{Phone: "12", PIN: newPIN, Purpose: wallet.PendingRegister, Name: "Short Phone"}, wallet.CodeInvalidPhone},
		}
		for _, c := range cases {
			token, err := f.w.PendPIN(f.ctx, c.n)
			if code(err) != c.want || token != "" {
				t.Errorf("%s: got %q, %v, want %s", c.name, token, err, c.want)
			}
		}
		if n := f.pendingRows(alice) + f.pendingRows(agentPhone); n != 0 {
			t.Errorf("refused choices left %d pending rows", n)
		}
		if p, err := f.w.Lookup(f.ctx, agentPhone); err != nil || p.PINLocked {
			t.Errorf("a bad start key proof counted toward the lockout: %+v, %v", p, err)
		}
	})

	t.Run("purposes", func(t *testing.T) {
		cases := []struct {
			name  string
			setup func(t *testing.T) (wallet.NewPIN, func(t *testing.T))
		}{
			{"register", func(t *testing.T) (wallet.NewPIN, func(t *testing.T)) {
				phone := f.phone()
				return wallet.NewPIN{Phone: phone, PIN: newPIN, Purpose: wallet.PendingRegister, Name: "wanjiku  kamau", Language: "sw"},
					func(t *testing.T) {
						p, err := f.w.Lookup(f.ctx, phone)
						if err != nil || p.Tier != wallet.TierBasic || p.Language != "sw" || p.Kind != wallet.KindCustomer || !p.HasPIN {
							t.Errorf("registered %+v, %v: want a basic customer in sw with a PIN", p, err)
						}
						verifies(t, phone, newPIN, true)
					}
			}},
			{"register, repeated after the account was opened", func(t *testing.T) (wallet.NewPIN, func(t *testing.T)) {
				phone := f.phone()
				_, err := f.w.Register(f.ctx, phone, "Half Done", wallet.TierBasic, "en")
				f.must(err)
				return wallet.NewPIN{Phone: phone, PIN: newPIN, Purpose: wallet.PendingRegister, Name: "Half Done"},
					func(t *testing.T) { verifies(t, phone, newPIN, true) }
			}},
			{"first PIN of a self-registered account", func(t *testing.T) (wallet.NewPIN, func(t *testing.T)) {
				phone := f.phone()
				_, err := f.w.Register(f.ctx, phone, "Self Made", wallet.TierBasic, "en")
				f.must(err)
				return wallet.NewPIN{Phone: phone, PIN: newPIN, Purpose: wallet.PendingFirstPIN},
					func(t *testing.T) { verifies(t, phone, newPIN, true) }
			}},
			{"first PIN with the start key's proof", func(t *testing.T) (wallet.NewPIN, func(t *testing.T)) {
				phone := f.phone()
				a, err := f.w.AddAgent(f.ctx, phone, "Proof Agent")
				f.must(err)
				proof, err := f.w.StartKeyProof(f.ctx, phone, a.StartKey)
				f.must(err)
				return wallet.NewPIN{Phone: phone, PIN: newPIN, Purpose: wallet.PendingFirstPIN, Proof: proof},
					func(t *testing.T) {
						verifies(t, phone, newPIN, true)
						if p, _ := f.w.Lookup(f.ctx, phone); p.NeedsStartKey {
							t.Errorf("the start key is still needed: %+v", p)
						}
					}
			}},
			{"change", func(t *testing.T) (wallet.NewPIN, func(t *testing.T)) {
				phone := f.customer("Changer")
				return changeOf(t, phone, newPIN), func(t *testing.T) {
					verifies(t, phone, newPIN, true)
					verifies(t, phone, "2580", false)
				}
			}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				n, check := c.setup(t)
				token, err := f.w.PendPIN(f.ctx, n)
				f.must(err)
				if strings.Contains(token, n.PIN) && len(token) < 20 {
					t.Fatalf("token %q", token)
				}
				if _, err := f.w.ConfirmPIN(f.ctx, n.Phone, token, n.PIN); err != nil {
					t.Fatalf("confirm: %v", err)
				}
				check(t)
				if _, err := f.w.ConfirmPIN(f.ctx, n.Phone, token, n.PIN); code(err) != wallet.CodePINMismatch {
					t.Errorf("the token used again: got %v, want %s", err, wallet.CodePINMismatch)
				}
				if r := f.pendingRows(n.Phone); r != 0 {
					t.Errorf("%d pending rows left after the confirmation", r)
				}
			})
		}
	})

	t.Run("tokens that set nothing", func(t *testing.T) {
		cases := []struct {
			name string
			// confirm makes the calls before the right one, which must
			// then find the token dead (or, for live, alive).
			confirm func(t *testing.T, phone, token string)
			live    bool
		}{
			{"expired", func(t *testing.T, phone, token string) { f.clock.Add(wallet.PendingPINTTL) }, false},
			{"a different PIN", func(t *testing.T, phone, token string) {
				if _, err := f.w.ConfirmPIN(f.ctx, phone, token, "4827"); code(err) != wallet.CodePINMismatch {
					t.Errorf("got %v, want %s", err, wallet.CodePINMismatch)
				}
			}, false},
			{"no PIN at all", func(t *testing.T, phone, token string) {
				if _, err := f.w.ConfirmPIN(f.ctx, phone, token, "48"); code(err) != wallet.CodePINMismatch {
					t.Errorf("got %v, want %s", err, wallet.CodePINMismatch)
				}
			}, false},
			{"from another phone", func(t *testing.T, phone, token string) {
				other := f.customer("Other Phone")
				if _, err := f.w.ConfirmPIN(f.ctx, other, token, newPIN); code(err) != wallet.CodePINMismatch {
					t.Errorf("got %v, want %s", err, wallet.CodePINMismatch)
				}
				verifies(t, other, "2580", true)
			}, true},
			{"a forged token", func(t *testing.T, phone, token string) {
				for _, forged := range []string{"", "x", strings.Repeat("A", 22), token + "A", strings.Repeat("A", 100)} {
					if _, err := f.w.ConfirmPIN(f.ctx, phone, forged, newPIN); code(err) != wallet.CodePINMismatch {
						t.Errorf("%q: got %v, want %s", forged, err, wallet.CodePINMismatch)
					}
				}
			}, true},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				phone := f.customer("Token Owner")
				token, err := f.w.PendPIN(f.ctx, changeOf(t, phone, newPIN))
				f.must(err)
				c.confirm(t, phone, token)
				_, err = f.w.ConfirmPIN(f.ctx, phone, token, newPIN)
				switch {
				case c.live && err != nil:
					t.Errorf("the right confirmation after: %v", err)
				case !c.live && code(err) != wallet.CodePINMismatch:
					t.Errorf("the right confirmation after: got %v, want %s", err, wallet.CodePINMismatch)
				}
				verifies(t, phone, newPIN, c.live)
				verifies(t, phone, "2580", !c.live)
			})
		}
	})

	t.Run("wrong confirmations do not lock the PIN", func(t *testing.T) {
		phone := f.customer("Clumsy")
		for range 2 * f.w.Config().PINTriesMax {
			token, err := f.w.PendPIN(f.ctx, changeOf(t, phone, newPIN))
			f.must(err)
			if _, err := f.w.ConfirmPIN(f.ctx, phone, token, "4827"); code(err) != wallet.CodePINMismatch {
				t.Fatalf("got %v, want %s", err, wallet.CodePINMismatch)
			}
		}
		if p, err := f.w.Lookup(f.ctx, phone); err != nil || p.PINLocked {
			t.Fatalf("after wrong confirmations: %+v, %v", p, err)
		}
		verifies(t, phone, "2580", true)
	})

	t.Run("bounded per phone", func(t *testing.T) {
		phone := f.phone()
		n := wallet.NewPIN{Phone: phone, PIN: newPIN, Purpose: wallet.PendingRegister, Name: "Flood Target"}
		var tokens []string
		for i := range 10 {
			token, err := f.w.PendPIN(f.ctx, n)
			f.must(err)
			tokens = append(tokens, token)
			if got := f.pendingRows(phone); got > 3 || got != int64(min(i+1, 3)) {
				t.Fatalf("after %d choices %d rows, want %d", i+1, got, min(i+1, 3))
			}
		}
		// The oldest made way; the newest is the owner's to confirm.
		if _, err := f.w.ConfirmPIN(f.ctx, phone, tokens[0], newPIN); code(err) != wallet.CodePINMismatch {
			t.Errorf("the first token: got %v, want %s", err, wallet.CodePINMismatch)
		}
		if _, err := f.w.ConfirmPIN(f.ctx, phone, tokens[9], newPIN); err != nil {
			t.Errorf("the last token: %v", err)
		}
	})

	t.Run("bounded per phone, at once", func(t *testing.T) {
		phone := f.phone()
		n := wallet.NewPIN{Phone: phone, PIN: newPIN, Purpose: wallet.PendingRegister, Name: "Flood Target"}
		var wg sync.WaitGroup
		for range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := f.w.PendPIN(f.ctx, n); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if got := f.pendingRows(phone); got != 3 {
			t.Errorf("after 12 choices at once %d rows, want 3", got)
		}
	})

	t.Run("expired records are swept", func(t *testing.T) {
		gone := f.customer("Gone Away")
		_, err := f.w.PendPIN(f.ctx, changeOf(t, gone, newPIN))
		f.must(err)
		f.clock.Add(wallet.PendingPINTTL)
		_, err = f.w.PendPIN(f.ctx, wallet.NewPIN{Phone: f.phone(), PIN: newPIN, Purpose: wallet.PendingRegister, Name: "Next One"})
		f.must(err)
		if n := f.pendingRows(gone); n != 0 {
			t.Errorf("%d expired rows left", n)
		}
	})

	t.Run("one take of a token", func(t *testing.T) {
		phone := f.customer("Racer")
		token, err := f.w.PendPIN(f.ctx, changeOf(t, phone, newPIN))
		f.must(err)
		const racers = 8
		errs := make([]error, racers)
		var wg sync.WaitGroup
		for i := range racers {
			wg.Add(1)
			go func() { defer wg.Done(); _, errs[i] = f.w.ConfirmPIN(f.ctx, phone, token, newPIN) }()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case code(err) != wallet.CodePINMismatch:
				t.Errorf("a racer got %v", err)
			}
		}
		if ok != 1 {
			t.Errorf("%d of %d confirmations of one token set the PIN, want 1", ok, racers)
		}
	})

	t.Run("the record holds no PIN", func(t *testing.T) {
		phone := f.customer("Row Reader")
		_, err := f.w.PendPIN(f.ctx, changeOf(t, phone, "7391"))
		f.must(err)
		var rows []map[string]any
		f.must(f.st.Gorm().Table("pending_pins").Where("phone = ?", phone).Find(&rows).Error)
		if len(rows) != 1 {
			t.Fatalf("%d rows, want 1", len(rows))
		}
		for col, v := range rows[0] {
			var b []byte
			switch v := v.(type) {
			case string:
				b = []byte(v)
			case []byte:
				b = v
			}
			if string(b) == "7391" {
				t.Errorf("column %s holds the PIN", col)
			}
		}
		if h, salt := rows[0]["pin_hash"], rows[0]["pin_salt"]; len(asBytes(h)) != 32 || len(asBytes(salt)) != 16 {
			t.Errorf("pin_hash %x, pin_salt %x: want a 32-byte keyed hash with a 16-byte salt", h, salt)
		}
	})
}

func asBytes(v any) []byte {
	switch v := v.(type) {
	case []byte:
		return v
	case string:
		return []byte(v)
	}
	return nil
}
