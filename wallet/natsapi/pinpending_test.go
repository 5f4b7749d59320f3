package natsapi_test

import (
	"testing"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// TestPendingPINOverNATS: pin.pending and pin.confirm carry a new PIN's
// two entries and their refusals over the wire, a registration's among
// them.
func TestPendingPINOverNATS(t *testing.T) {
	e := start(t)
	alice := e.customer()
	newbie := newPhone()
	proof, err := e.c.PINProof(e.ctx, alice, "2580")
	e.must(err)
	cases := []struct {
		name    string
		n       wallet.NewPIN
		confirm natsapi.PINConfirmRequest // Token filled from pin.pending
		pending wallet.Code               // pin.pending's refusal, or ""
		want    wallet.Code               // pin.confirm's refusal, or ""
	}{
		{"weak", wallet.NewPIN{Phone: alice, PIN: "0000", Purpose: wallet.PendingChange, Proof: proof}, natsapi.PINConfirmRequest{}, wallet.CodeInvalid, ""},
		{"mismatch", wallet.NewPIN{Phone: alice, PIN: "4826", Purpose: wallet.PendingChange, Proof: proof},
			natsapi.PINConfirmRequest{Phone: alice, PIN: "4862"}, "", wallet.CodePINMismatch},
		{"another phone", wallet.NewPIN{Phone: alice, PIN: "4826", Purpose: wallet.PendingChange, Proof: proof},
			natsapi.PINConfirmRequest{Phone: newbie, PIN: "4826"}, "", wallet.CodePINMismatch},
		{"register", wallet.NewPIN{Phone: newbie, PIN: "3907", Purpose: wallet.PendingRegister, Name: "Wire Newbie", Language: "fr"},
			natsapi.PINConfirmRequest{Phone: newbie, PIN: "3907"}, "", ""},
		{"change", wallet.NewPIN{Phone: alice, PIN: "4826", Purpose: wallet.PendingChange, Proof: proof},
			natsapi.PINConfirmRequest{Phone: alice, PIN: "4826"}, "", ""},
	}
	for _, c := range cases {
		token, err := e.c.PendPIN(e.ctx, c.n)
		if wallet.ErrorCode(err) != c.pending {
			t.Fatalf("%s: pin.pending got %v, want %q", c.name, err, c.pending)
		}
		if err != nil {
			continue
		}
		a, err := e.c.ConfirmPIN(e.ctx, c.confirm.Phone, token, c.confirm.PIN)
		if wallet.ErrorCode(err) != c.want {
			t.Fatalf("%s: pin.confirm got %v, want %q", c.name, err, c.want)
		}
		if err == nil && (!a.HasPIN || a.Phone != c.n.Phone) {
			t.Errorf("%s: pin.confirm answered %+v", c.name, a)
		}
	}
	for phone, pin := range map[string]string{alice: "4826", newbie: "3907"} {
		if _, err := e.c.VerifyPIN(e.ctx, phone, pin); err != nil {
			t.Errorf("%s: the PIN set does not verify: %v", phone, err)
		}
	}
}
