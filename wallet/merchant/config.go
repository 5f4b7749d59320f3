package merchant

import (
	"time"

	"github.com/kibubu/kibubu/internal/cmdline"
	"github.com/kibubu/kibubu/wallet"
)

// The bounds of SettleEvery: a tab settles at least once a minute at most
// (more often is a transfer per charge), and at least once a month.
const (
	SettleEveryMin = time.Minute
	SettleEveryMax = 31 * 24 * time.Hour
)

// Validate checks the settings a deployment gives (the command's flags,
// each given a value) for a wallet in cur: a refused one is a
// *cmdline.SettingError naming its field, which the command names by its
// flag. New takes zeros as defaults and does not call it.
func (c *Config) Validate(cur wallet.Currency) error {
	if c.RequestTTL < RequestTTLMin || c.RequestTTL > RequestTTLMax {
		return cmdline.Settingf("RequestTTL", c.RequestTTL, "must be %s to %s", cmdline.ShortDuration(RequestTTLMin), cmdline.ShortDuration(RequestTTLMax))
	}
	if limit := SettleThresholdMax(cur); c.SettleThreshold > limit {
		return cmdline.Settingf("SettleThreshold", cur.Format(c.SettleThreshold), "at most %s, the most a tab can meter", cur.Format(limit))
	}
	if c.SettleEvery < SettleEveryMin || c.SettleEvery > SettleEveryMax {
		return cmdline.Settingf("SettleEvery", c.SettleEvery, "must be %s to %s (%d days)", cmdline.ShortDuration(SettleEveryMin),
			cmdline.ShortDuration(SettleEveryMax), SettleEveryMax/(24*time.Hour))
	}
	for _, p := range []struct {
		setting string
		limit   PromptLimit
	}{{"PromptsPerPhone", c.PromptsPerPhone}, {"PromptsPerPair", c.PromptsPerPair}, {"PromptsPerMerchant", c.PromptsPerMerchant}} {
		if p.limit.Max < -1 || p.limit.Max == 0 {
			return cmdline.Settingf(p.setting, p.limit.Max, "must be at least 1, or -1 for no limit")
		}
	}
	return nil
}
