package walletd_test

import (
	"errors"
	"testing"
	"time"

	"github.com/kibubu/kibubu/internal/cmdline"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/walletd"
)

// TestOptionsValidate: a deployment's settings at their defaults and at
// their bounds pass; one beyond is a *cmdline.SettingError naming the
// field, the wallet's and the merchant services' alike.
func TestOptionsValidate(t *testing.T) {
	kes, err := wallet.LookupCurrency("KES")
	if err != nil {
		t.Fatal(err)
	}
	defaults := func() walletd.Options {
		return walletd.Options{
			Wallet: wallet.Config{Currency: kes, PINLength: wallet.DefaultPINLength, PINTriesMax: wallet.DefaultPINTries,
				StartKeyTTL: wallet.DefaultStartKeyTTL, ObjectionWindow: wallet.DefaultObjectionWindow},
			Merchant: &merchant.Config{RequestTTL: merchant.DefaultRequestTTL, SettleThreshold: 100_00, SettleEvery: merchant.DefaultSettleEvery,
				PromptsPerPhone: merchant.PromptLimit{Max: merchant.DefaultPromptsPerPhone}, PromptsPerPair: merchant.PromptLimit{Max: -1},
				PromptsPerMerchant: merchant.PromptLimit{Max: merchant.DefaultPromptsPerMerchant}},
		}
	}
	tests := []struct {
		name string
		edit func(*walletd.Options)
		want string // the setting refused; "" for none
	}{
		{"defaults", func(*walletd.Options) {}, ""},
		{"no merchant services", func(o *walletd.Options) { o.Merchant = nil }, ""},
		{"the upper bounds", func(o *walletd.Options) {
			o.Wallet.PINLength, o.Wallet.PINTriesMax, o.Wallet.StartKeyTTL = wallet.PINLengthMax, walletd.PINTriesMax, walletd.StartKeyTTLMax
			o.Wallet.ObjectionWindow, o.Merchant.RequestTTL = wallet.ObjectionWindowMax, merchant.RequestTTLMax
			o.Merchant.SettleThreshold, o.Merchant.SettleEvery = merchant.SettleThresholdMax(kes), merchant.SettleEveryMax
		}, ""},
		{"the lower bounds", func(o *walletd.Options) {
			o.Wallet.PINLength, o.Wallet.PINTriesMax, o.Wallet.StartKeyTTL = wallet.PINLengthMin, 1, walletd.StartKeyTTLMin
			o.Wallet.ObjectionWindow, o.Merchant.RequestTTL, o.Merchant.SettleEvery = walletd.ObjectionWindowMin, merchant.RequestTTLMin, merchant.SettleEveryMin
		}, ""},
		{"pin length", func(o *walletd.Options) { o.Wallet.PINLength = wallet.PINLengthMax + 1 }, "PINLength"},
		{"pin tries", func(o *walletd.Options) { o.Wallet.PINTriesMax = 0 }, "PINTriesMax"},
		{"start key", func(o *walletd.Options) { o.Wallet.StartKeyTTL = time.Minute }, "StartKeyTTL"},
		{"objection window", func(o *walletd.Options) { o.Wallet.ObjectionWindow = time.Second }, "ObjectionWindow"},
		{"request ttl", func(o *walletd.Options) { o.Merchant.RequestTTL = time.Second }, "RequestTTL"},
		{"settle threshold", func(o *walletd.Options) { o.Merchant.SettleThreshold = merchant.SettleThresholdMax(kes) + 1 }, "SettleThreshold"},
		{"settle every", func(o *walletd.Options) { o.Merchant.SettleEvery = merchant.SettleEveryMax + time.Hour }, "SettleEvery"},
		{"prompts per pair", func(o *walletd.Options) { o.Merchant.PromptsPerPair.Max = 0 }, "PromptsPerPair"},
		{"prompts per merchant", func(o *walletd.Options) { o.Merchant.PromptsPerMerchant.Max = -2 }, "PromptsPerMerchant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := defaults()
			tc.edit(&o)
			err := o.Validate()
			var se *cmdline.SettingError
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want none", err)
			case tc.want != "" && (!errors.As(err, &se) || se.Setting != tc.want):
				t.Errorf("got %v, want a setting error naming %s", err, tc.want)
			}
		})
	}
}
