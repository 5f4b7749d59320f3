package wallet_test

import (
	"testing"

	"github.com/kibubu/kibubu/wallet"
)

func TestImport(t *testing.T) {
	f := newFixture(t)
	taken := f.customer("Already Here")
	p1, p2 := f.phone(), f.phone()
	tests := []struct {
		name string
		rows []wallet.ImportCustomer
		code wallet.Code
	}{
		{"bad phone", []wallet.ImportCustomer{{Phone: p1, Name: "A", Tier: wallet.TierFull}, {Phone: "12", Name: "B", Tier: wallet.TierFull}}, wallet.CodeInvalidPhone},
		{"no name", []wallet.ImportCustomer{{Phone: p1, Name: "  ", Tier: wallet.TierFull}}, wallet.CodeInvalid},
		{"bad tier", []wallet.ImportCustomer{{Phone: p1, Name: "A", Tier: 7}}, wallet.CodeInvalid},
		{"easy PIN", []wallet.ImportCustomer{{Phone: p1, Name: "A", Tier: wallet.TierFull, PIN: "0000"}}, wallet.CodeInvalid},
		{"phone taken: nothing imported", []wallet.ImportCustomer{{Phone: p1, Name: "A", Tier: wallet.TierFull}, {Phone: taken, Name: "B", Tier: wallet.TierFull}}, wallet.CodeExists},
		{"ok", []wallet.ImportCustomer{{Phone: p1, Name: "Amina  Juma", Tier: wallet.TierFull, PIN: "4826"}, {Phone: "0" + p2[4:], Name: "Baraka", Tier: wallet.TierBasic}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.w.Import(f.ctx, tt.rows)
			if wallet.ErrorCode(err) != tt.code {
				t.Fatalf("got %v, want %q", err, tt.code)
			}
			if tt.code != "" {
				if _, err := f.w.Show(f.ctx, p1); wallet.ErrorCode(err) != wallet.CodeNotFound {
					t.Fatalf("after a refused import %s exists: %v", p1, err)
				}
				return
			}
			if len(got) != 2 || got[0].Name != "Amina Juma" || !got[0].HasPIN || got[1].HasPIN || got[1].Number != p2 {
				t.Fatalf("imported %+v", got)
			}
			if _, err := f.w.VerifyPIN(f.ctx, p1, "4826"); err != nil {
				t.Fatalf("imported PIN: %v", err)
			}
		})
	}
}

func TestOpenAccountsRefusesTakenPhones(t *testing.T) {
	f := newFixture(t)
	customer := f.customer("Amina")
	agentPhone, _ := f.agent(0)
	tests := []struct {
		name string
		open func() error
		code wallet.Code
	}{
		{"register twice", func() error {
			_, err := f.w.Register(f.ctx, "0"+customer[4:], "Again", wallet.TierBasic, "sw")
			return err
		}, wallet.CodeExists},
		{"register an agent's phone", func() error { _, err := f.w.Register(f.ctx, agentPhone, "X", wallet.TierBasic, ""); return err }, wallet.CodeExists},
		{"agent on a customer's phone", func() error { _, err := f.w.AddAgent(f.ctx, customer, "Shop"); return err }, wallet.CodeExists},
		{"a merchant may share a customer's phone", func() error { _, err := f.w.AddMerchant(f.ctx, customer, "Amina's Shop", false); return err }, ""},
		{"no name", func() error { _, err := f.w.Register(f.ctx, f.phone(), " ", wallet.TierBasic, ""); return err }, wallet.CodeInvalid},
		{"bad phone", func() error { _, err := f.w.AddAgent(f.ctx, "07", "Shop"); return err }, wallet.CodeInvalidPhone},
	}
	for _, tt := range tests {
		if err := tt.open(); wallet.ErrorCode(err) != tt.code {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.code)
		}
	}
}
