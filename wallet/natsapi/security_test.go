package natsapi_test

import (
	"encoding/json"
	"testing"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// TestSecurityGatewayKeysNamespaced (issue 11, finding 5: a gateway posts
// under the wallet's internal keys): a key sent on wallet.v1.transfer is
// stored in the callers' namespace, so a caller using a merchant service's
// key ("pr:…", "tab:…:release", "po:…") or the operator's ("float:…") does
// not take it: the internal command made afterwards under that key posts,
// rather than replaying the caller's transfer or being refused as a
// conflict. A command first made under the bare key before the namespace
// (a retry spanning the upgrade) replays, and moves nothing twice.
func TestSecurityGatewayKeysNamespaced(t *testing.T) {
	e := start(t)
	alice, bob := e.customer(), e.customer()
	agentPhone, agentNo := e.agent(1_000_000)
	_, err := e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "dep", Kind: wallet.TransferDeposit, From: agentPhone, To: alice, Amount: 100_000, PIN: "1357"})
	e.must(err)

	// A caller takes the operator's key for the next float issue.
	floatKey := "float:BANK-NEXT"
	sent, err := e.c.Transfer(e.ctx, wallet.TransferRequest{Key: floatKey, Kind: wallet.TransferSend, From: alice, To: bob, Amount: 1_000, PIN: "2580"})
	e.must(err)
	if _, _, err := e.w.Outcome(e.ctx, floatKey); wallet.ErrorCode(err) != wallet.CodeNotFound {
		t.Errorf("outcome of %s after a caller used it: %v, want %s (the caller's is %s%s)", floatKey, err, wallet.CodeNotFound, natsapi.ExternalKeyPrefix, floatKey)
	}
	if tr, _, err := e.w.Outcome(e.ctx, natsapi.ExternalKeyPrefix+floatKey); err != nil || tr.ID != sent.Transfer.ID {
		t.Errorf("outcome of %s%s = %v, %v; want the caller's send", natsapi.ExternalKeyPrefix, floatKey, tr, err)
	}
	r, err := e.c.IssueFloat(e.ctx, agentNo, 5_000, "BANK-NEXT")
	if err != nil || r.Replayed || r.Transfer.Kind != wallet.TransferFloat {
		t.Errorf("float issue under %s after a caller used it = %+v, %v; want a first issue", floatKey, r, err)
	}

	// A key over the callers' bound is refused, not cut.
	long := make([]byte, natsapi.ExternalKeyBytesMax+1)
	for i := range long {
		long[i] = 'k'
	}
	if _, err := e.c.Transfer(e.ctx, wallet.TransferRequest{Key: string(long), Kind: wallet.TransferSend, From: alice, To: bob, Amount: 1_000, PIN: "2580"}); wallet.ErrorCode(err) != wallet.CodeInvalid {
		t.Errorf("a %d-byte key: %v, want %s", len(long), err, wallet.CodeInvalid)
	}

	// Made under the bare key before the upgrade (straight to the wallet,
	// as the NATS server did then), retried through the NATS API now.
	old := wallet.TransferRequest{Key: "ussd:at.c2Vzcw:4", Kind: wallet.TransferSend, From: alice, To: bob, Amount: 2_000, PIN: "2580"}
	first, err := e.w.Transfer(e.ctx, old)
	e.must(err)
	again, err := e.c.Transfer(e.ctx, old)
	if err != nil || !again.Replayed || again.Transfer.ID != first.Transfer.ID {
		t.Errorf("retry of a pre-namespace key = %+v, %v; want a replay of %s", again, err, first.Transfer.Ref)
	}
	a, err := e.c.Show(e.ctx, alice)
	e.must(err)
	fee, _, err := e.w.Quote(wallet.TransferSend, 1_000)
	e.must(err)
	fee2, _, err := e.w.Quote(wallet.TransferSend, 2_000)
	e.must(err)
	if want := 100_000 - 1_000 - fee - 2_000 - fee2; a.Balance != want {
		t.Errorf("alice's balance %d, want %d (each send once)", a.Balance, want)
	}
	// Another request under a bare key that holds something else is no
	// conflict: that key is not the caller's namespace any more.
	other := old
	other.Amount = 3_000
	if r, err := e.c.Transfer(e.ctx, other); err != nil || r.Replayed {
		t.Errorf("a different send under a pre-namespace key = %+v, %v; want a new transfer", r, err)
	}
}

// TestSecurityGatewayRegisterTier (issue 11, finding 5: a gateway registers
// accounts at the tier it chooses): customer.register opens the basic tier
// only; a full-tier account is the operator's customer.open.
func TestSecurityGatewayRegisterTier(t *testing.T) {
	e := start(t)
	for _, tt := range []struct {
		name string
		req  string
		code wallet.Code
		tier wallet.Tier
	}{
		{"no tier is basic", `{"phone":"0712900001","name":"Amina"}`, "", wallet.TierBasic},
		{"basic", `{"phone":"0712900002","name":"Amina","tier":1}`, "", wallet.TierBasic},
		{"full refused", `{"phone":"0712900003","name":"Amina","tier":2}`, wallet.CodeInvalid, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var a wallet.Account
			subject := natsapi.SubjectRegister
			if e.prefix != "" {
				subject = e.prefix + "." + subject
			}
			err := natsrpc.Request(e.ctx, e.nc, "the wallet", subject, natsapi.DefaultTimeout, json.RawMessage(tt.req), &a)
			if wallet.ErrorCode(err) != tt.code || err == nil && a.Tier != tt.tier {
				t.Errorf("register %s = tier %d, %v; want tier %d, code %q", tt.req, a.Tier, err, tt.tier, tt.code)
			}
		})
	}
	a, err := e.c.Register(e.ctx, natsapi.RegisterRequest{Phone: "0712900004", Name: "Baraka", Tier: wallet.TierFull})
	if err != nil || a.Tier != wallet.TierFull {
		t.Errorf("operator opening at tier full = %+v, %v", a, err)
	}
}
