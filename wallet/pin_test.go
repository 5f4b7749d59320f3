package wallet_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kibubu/kibubu/wallet"
)

func TestPINLifecycle(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.customer("Alice"), f.customer("Bob")
	f.fund(alice, f.ksh(1_000))
	var startKey string

	steps := []struct {
		name string
		do   func() error
		code wallet.Code
		left int // tries left, for pin_invalid
	}{
		{"set again is refused", func() error { _, err := f.w.SetPIN(f.ctx, alice, "4826"); return err }, wallet.CodeExists, 0},
		{"easy PIN refused", func() error { _, err := f.w.ChangePIN(f.ctx, alice, "2580", "1234"); return err }, wallet.CodeInvalid, 0},
		{"repeated digits refused", func() error { _, err := f.w.ChangePIN(f.ctx, alice, "2580", "7777"); return err }, wallet.CodeInvalid, 0},
		{"short PIN refused", func() error { _, err := f.w.ChangePIN(f.ctx, alice, "2580", "482"); return err }, wallet.CodeInvalid, 0},
		{"letters refused", func() error { _, err := f.w.ChangePIN(f.ctx, alice, "2580", "48a6"); return err }, wallet.CodeInvalid, 0},
		{"right PIN verifies", func() error { _, err := f.w.VerifyPIN(f.ctx, alice, "2580"); return err }, "", 0},
		{"wrong PIN 1 on balance", func() error { _, err := f.w.Balance(f.ctx, alice, "0000"); return err }, wallet.CodePINInvalid, 2},
		{"wrong PIN 2 on a transfer", func() error {
			_, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: key(), Kind: wallet.TransferSend, From: alice, To: bob, Amount: 100, PIN: "1111"})
			return err
		}, wallet.CodePINInvalid, 1},
		{"right PIN resets the count", func() error { _, err := f.w.Balance(f.ctx, alice, "2580"); return err }, "", 0},
		{"wrong PIN 1 again", func() error { _, err := f.w.VerifyPIN(f.ctx, alice, "9999"); return err }, wallet.CodePINInvalid, 2},
		{"wrong PIN 2 on change", func() error { _, err := f.w.ChangePIN(f.ctx, alice, "9998", "4826"); return err }, wallet.CodePINInvalid, 1},
		{"wrong PIN 3 locks", func() error { _, err := f.w.VerifyPIN(f.ctx, alice, "9997"); return err }, wallet.CodePINLocked, 0},
		{"locked: even the right PIN fails", func() error { _, err := f.w.VerifyPIN(f.ctx, alice, "2580"); return err }, wallet.CodePINLocked, 0},
		{"locked: no transfer", func() error {
			_, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: key(), Kind: wallet.TransferSend, From: alice, To: bob, Amount: 100, PIN: "2580"})
			return err
		}, wallet.CodePINLocked, 0},
		{"operator reset", func() error {
			a, err := f.w.ResetPIN(f.ctx, alice)
			if err == nil {
				startKey = a.StartKey
			}
			return err
		}, "", 0},
		{"after reset no PIN", func() error { _, err := f.w.VerifyPIN(f.ctx, alice, "2580"); return err }, wallet.CodePINNotSet, 0},
		{"after reset the first PIN needs the start key", func() error { _, err := f.w.SetPIN(f.ctx, alice, "4826"); return err }, wallet.CodeStartKeyRequired, 0},
		{"set a new PIN with the start key", func() error { _, err := f.w.SetPINWithStartKey(f.ctx, alice, startKey, "4826"); return err }, "", 0},
		{"old PIN no longer works", func() error { _, err := f.w.VerifyPIN(f.ctx, alice, "2580"); return err }, wallet.CodePINInvalid, 2},
		{"change with the right PIN", func() error { _, err := f.w.ChangePIN(f.ctx, alice, "4826", "5193"); return err }, "", 0},
		{"new PIN sends money", func() error {
			_, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: key(), Kind: wallet.TransferSend, From: alice, To: bob, Amount: 100, PIN: "5193"})
			return err
		}, "", 0},
	}
	for _, s := range steps {
		err := s.do()
		if got := wallet.ErrorCode(err); got != s.code {
			t.Fatalf("%s: got %v, want %q", s.name, err, s.code)
		}
		var we *wallet.Error
		if s.code == wallet.CodePINInvalid && (!errors.As(err, &we) || we.TriesLeft == nil || *we.TriesLeft != s.left) {
			t.Fatalf("%s: got %+v, want %d tries left", s.name, err, s.left)
		}
	}
	a, err := f.w.Show(f.ctx, alice)
	f.must(err)
	if a.Status != wallet.StatusActive {
		t.Errorf("status %s, want active", a.Status)
	}
	f.check()
}

// TestPINNeverStoredInClear scans every stored byte for the PIN.
func TestPINNeverStoredInClear(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.customer("Alice"), f.customer("Bob")
	f.fund(alice, f.ksh(100))
	const pin = "2580"
	f.w.Transfer(f.ctx, wallet.TransferRequest{Key: key(), Kind: wallet.TransferSend, From: alice, To: bob, Amount: 100, PIN: pin})
	f.w.Transfer(f.ctx, wallet.TransferRequest{Key: key(), Kind: wallet.TransferSend, From: alice, To: bob, Amount: 1 << 40, PIN: pin})
	for _, table := range []string{"accounts", "transfers", "postings", "rejections", "outbox_events"} {
		var rows []map[string]any
		f.must(f.st.Gorm().Table(table).Find(&rows).Error)
		for _, r := range rows {
			for col, v := range r {
				var s string
				switch v := v.(type) {
				case string:
					s = v
				case []byte:
					s = string(v)
				}
				if col != "number" && col != "msisdn" && col != "phone" && col != "reference" && containsPIN(s, pin) {
					t.Errorf("%s.%s holds the PIN: %q", table, col, s)
				}
			}
		}
	}
}

func containsPIN(s, pin string) bool {
	for i := 0; i+len(pin) <= len(s); i++ {
		if s[i:i+len(pin)] == pin && (i == 0 || s[i-1] < '0' || s[i-1] > '9') && (i+len(pin) == len(s) || s[i+len(pin)] < '0' || s[i+len(pin)] > '9') {
			return true
		}
	}
	return false
}

// A PIN proof stands in for the current PIN in one change: it is refused
// once expired, once the PIN it proves has changed, for another account, or
// forged, and none of those refusals counts toward the lockout.
func TestPINProof(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.customer("Alice"), f.customer("Bob")
	proof, err := f.w.PINProof(f.ctx, alice, "2580")
	f.must(err)
	bobProof, err := f.w.PINProof(f.ctx, bob, "2580")
	f.must(err)
	if _, err := f.w.PINProof(f.ctx, alice, "0000"); wallet.ErrorCode(err) != wallet.CodePINInvalid {
		t.Fatalf("proof of a wrong PIN: got %v, want pin_invalid", err)
	}
	forged := []byte(proof)
	forged[len(forged)-1] ^= 1
	steps := []struct {
		name  string
		phone string
		proof string
		pin   string
		code  wallet.Code
	}{
		{"another account's proof", alice, bobProof, "4826", wallet.CodePINInvalid},
		{"forged", alice, string(forged), "4826", wallet.CodePINInvalid},
		{"garbage", alice, "not-a-proof", "4826", wallet.CodePINInvalid},
		{"empty", alice, "", "4826", wallet.CodeInvalid},
		{"too long", alice, strings.Repeat("A", 65), "4826", wallet.CodeInvalid},
		{"weak new PIN", alice, proof, "1234", wallet.CodeInvalid},
		{"same PIN", alice, proof, "2580", wallet.CodeInvalid},
		{"change", alice, proof, "4826", ""},
		{"the proof died with the PIN", alice, proof, "5193", wallet.CodePINInvalid},
	}
	for _, s := range steps {
		if s.name == "change" {
			// None of the refused proofs counted: the one wrong PIN did.
			_, err := f.w.VerifyPIN(f.ctx, alice, "0000")
			if we := (*wallet.Error)(nil); !errors.As(err, &we) || we.TriesLeft == nil || *we.TriesLeft != 1 {
				t.Fatalf("after one wrong PIN and refused proofs: got %v, want 1 try left", err)
			}
		}
		_, err := f.w.ChangePINWithProof(f.ctx, s.phone, s.proof, s.pin)
		if got := wallet.ErrorCode(err); got != s.code {
			t.Fatalf("%s: got %v, want %q", s.name, err, s.code)
		}
	}
	if _, err := f.w.VerifyPIN(f.ctx, alice, "4826"); err != nil {
		t.Fatalf("the new PIN: %v", err)
	}

	expiring, err := f.w.PINProof(f.ctx, bob, "2580")
	f.must(err)
	f.clock.Add(wallet.PINProofTTL)
	if _, err := f.w.ChangePINWithProof(f.ctx, bob, expiring, "4826"); wallet.ErrorCode(err) != wallet.CodePINInvalid {
		t.Fatalf("an expired proof: got %v, want pin_invalid", err)
	}
	f.check()
}
