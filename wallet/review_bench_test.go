package wallet_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/rules"
)

// BenchmarkTransferRules is BenchmarkTransfer with the fraud rules off and
// with the default rules (rules.DefaultRules) on, back to back: the cost of
// checking every transfer and feeding every committed one to the rules.
// The default rules' thresholds are raised so that none fires: the
// benchmark's customers send hundreds of transfers at one instant (the
// fixture's clock stands still), which the real rules would hold, and a
// held transfer is a PIN check and a row, not a transfer.
func BenchmarkTransferRules(b *testing.B) {
	cfg, err := rules.Open(rules.DefaultName)
	if err != nil {
		b.Fatal(err)
	}
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		switch r.Kind {
		case rules.KindVelocity:
			r.CountMax, r.AmountMax = 1<<30, wallet.AmountMax
		case rules.KindNewRecipient:
			r.AmountMin = wallet.AmountMax
		}
	}
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	b.Run("off", func(b *testing.B) { benchTransfers(b, false) })
	b.Run("default", func(b *testing.B) {
		benchTransfers(b, false, func(c *wallet.Config) {
			c.Rules, c.Logger = rules.New(cfg, nil), slog.New(slog.NewTextHandler(io.Discard, nil))
		})
	})
}
