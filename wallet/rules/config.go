package rules

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/kibubu/kibubu/wallet"
)

// Kind names what a rule looks at.
type Kind string

const (
	// KindVelocity: the count and amount an account debits within a window
	// (count_max, amount_max; either may be 0 for no bound).
	KindVelocity Kind = "velocity"
	// KindNewRecipient: a transfer of at least amount_min to an account the
	// sender has not paid within the window.
	KindNewRecipient Kind = "new_recipient"
	// KindStructuring: count_min or more transfers (this one included)
	// within the window, each within margin below one of the limits in
	// below (a fee band's top, a tier limit).
	KindStructuring Kind = "structuring"
	// KindFarming: agent commission farming — a withdrawal of at least
	// share percent of a deposit the same agent made to the same customer
	// within the window (both earn the agent a commission; no money left
	// the agent's till). It looks at withdrawals.
	KindFarming Kind = "farming"
)

// Kinds lists every Kind, in order of priority.
var Kinds = []Kind{KindVelocity, KindNewRecipient, KindStructuring, KindFarming}

// Rule is one rule of the rules file. Amounts are minor units.
type Rule struct {
	Name    string             `toml:"name"`
	Kind    Kind               `toml:"kind"`
	Outcome wallet.RuleOutcome `toml:"outcome"`
	// Transfers lists the transfer kinds the rule looks at; empty for
	// send, withdraw, till, paybill and airtime.
	Transfers []wallet.TransferKind `toml:"transfers,omitempty"`
	Window    Duration              `toml:"window"`
	CountMax  int                   `toml:"count_max,omitzero"`
	AmountMax int64                 `toml:"amount_max,omitzero"`
	AmountMin int64                 `toml:"amount_min,omitzero"`
	Below     []int64               `toml:"below,omitempty"`
	Margin    int64                 `toml:"margin,omitzero"`
	CountMin  int                   `toml:"count_min,omitzero"`
	Share     int                   `toml:"share,omitzero"` // percent

	line int // where its [[rule]] starts in the file, for errors
}

// Config is a rules file: its rules, checked in order; the first that
// fires decides (a block before a review when both fire: see Engine.Check).
type Config struct {
	Rules []Rule `toml:"rule"`
}

// Duration is a time.Duration written as "1h", "24h".
type Duration time.Duration

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 1h or 24h", b)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// The bounds a rules file is checked against, each with its reason.
const (
	// rulesMax: every rule is evaluated on every transfer.
	rulesMax = 64
	// windowMax bounds what the engine keeps in memory per account.
	windowMax = 30 * 24 * time.Hour
	// ruleNameBytesMax: the review queue's column.
	ruleNameBytesMax = 64
	// fileBytesMax: a rules file is a page of settings.
	fileBytesMax = 1 << 20
)

// DefaultTransfers are the transfer kinds a rule without transfers looks at.
var DefaultTransfers = []wallet.TransferKind{wallet.TransferSend, wallet.TransferWithdraw, wallet.TransferTill,
	wallet.TransferPaybill, wallet.TransferAirtime}

// farmingTransfers are the kinds a farming rule looks at.
var farmingTransfers = []wallet.TransferKind{wallet.TransferWithdraw}

// checked are the kinds the wallet asks about (wallet.RuleChecker).
var checked = append(slices.Clone(DefaultTransfers), wallet.TransferDeposit)

// Load reads and validates the rules file at path. Its errors name the
// file, the line of the rule and its name, and the setting.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules %s: %w", path, err)
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("rules %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates a rules file's text.
func Parse(b []byte) (*Config, error) {
	if len(b) > fileBytesMax {
		return nil, fmt.Errorf("over %d bytes", fileBytesMax)
	}
	var c Config
	md, err := toml.Decode(string(b), &c)
	if err != nil {
		return nil, err
	}
	lines := ruleLines(b)
	for i := range c.Rules {
		if i < len(lines) {
			c.Rules[i].line = lines[i]
		}
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("unknown setting %q", und[0].String())
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// ruleLines returns the line number of each [[rule]] header.
func ruleLines(b []byte) []int {
	var out []int
	for i, l := range bytes.Split(b, []byte("\n")) {
		if strings.HasPrefix(strings.TrimSpace(string(l)), "[[rule]]") {
			out = append(out, i+1)
		}
	}
	return out
}

// Validate checks every rule; the error names the first wrong one's line,
// name and setting.
func (c *Config) Validate() error {
	if len(c.Rules) > rulesMax {
		return fmt.Errorf("%d rules: at most %d", len(c.Rules), rulesMax)
	}
	names := map[string]bool{}
	for i := range c.Rules {
		r := &c.Rules[i]
		if err := r.validate(); err != nil {
			return fmt.Errorf("line %d: rule %q: %w", r.line, r.Name, err)
		}
		if names[r.Name] {
			return fmt.Errorf("line %d: rule %q: name: used by an earlier rule", r.line, r.Name)
		}
		names[r.Name] = true
	}
	return nil
}

func (r *Rule) validate() error {
	if r.Name == "" || len(r.Name) > ruleNameBytesMax {
		return fmt.Errorf("name: 1 to %d bytes", ruleNameBytesMax)
	}
	switch r.Outcome {
	case wallet.RuleAllow, wallet.RuleReview, wallet.RuleBlock:
	default:
		return fmt.Errorf("outcome %q: allow, review or block", r.Outcome)
	}
	for _, k := range r.Transfers {
		if !slices.Contains(checked, k) {
			return fmt.Errorf("transfers: %q is not one of %v", k, checked)
		}
	}
	if w := time.Duration(r.Window); w <= 0 || w > windowMax {
		return fmt.Errorf("window %s: more than 0 and at most %s", w, windowMax)
	}
	positive := func(name string, v int64) error {
		if v < 0 || v > wallet.AmountMax {
			return fmt.Errorf("%s %d: from 0 to %d", name, v, wallet.AmountMax)
		}
		return nil
	}
	unused := func(set ...string) error {
		all := map[string]bool{"count_max": r.CountMax != 0, "amount_max": r.AmountMax != 0, "amount_min": r.AmountMin != 0,
			"below": len(r.Below) > 0, "margin": r.Margin != 0, "count_min": r.CountMin != 0, "share": r.Share != 0}
		for name, isSet := range all {
			if isSet && !slices.Contains(set, name) {
				return fmt.Errorf("%s: not a setting of a %s rule", name, r.Kind)
			}
		}
		return nil
	}
	switch r.Kind {
	case KindVelocity:
		if r.CountMax < 0 {
			return fmt.Errorf("count_max %d: negative", r.CountMax)
		}
		if err := positive("amount_max", r.AmountMax); err != nil {
			return err
		}
		if r.CountMax == 0 && r.AmountMax == 0 {
			return fmt.Errorf("count_max, amount_max: at least one is required")
		}
		return unused("count_max", "amount_max")
	case KindNewRecipient:
		if r.AmountMin <= 0 {
			return fmt.Errorf("amount_min %d: required, positive", r.AmountMin)
		}
		if err := positive("amount_min", r.AmountMin); err != nil {
			return err
		}
		return unused("amount_min")
	case KindStructuring:
		if len(r.Below) == 0 {
			return fmt.Errorf("below: at least one limit is required")
		}
		for _, b := range r.Below {
			if b <= 0 || b > wallet.AmountMax {
				return fmt.Errorf("below %d: from 1 to %d", b, wallet.AmountMax)
			}
		}
		if r.Margin <= 0 {
			return fmt.Errorf("margin %d: required, positive", r.Margin)
		}
		if r.CountMin < 2 {
			return fmt.Errorf("count_min %d: at least 2", r.CountMin)
		}
		return unused("below", "margin", "count_min")
	case KindFarming:
		if r.Share < 1 || r.Share > 100 {
			return fmt.Errorf("share %d: a percentage from 1 to 100", r.Share)
		}
		if len(r.Transfers) > 0 && !slices.Equal(r.Transfers, []wallet.TransferKind{wallet.TransferWithdraw}) {
			return fmt.Errorf("transfers: a farming rule looks at withdrawals only")
		}
		return unused("share")
	}
	return fmt.Errorf("kind %q: one of %v", r.Kind, Kinds)
}

// transfers returns the kinds r looks at.
func (r *Rule) transfers() []wallet.TransferKind {
	if r.Kind == KindFarming {
		return farmingTransfers
	}
	if len(r.Transfers) == 0 {
		return DefaultTransfers
	}
	return r.Transfers
}

// Show writes c as a rules file (the effective rules: defaults filled in).
func (c *Config) Show() (string, error) {
	out := Config{Rules: make([]Rule, len(c.Rules))}
	for i, r := range c.Rules {
		r.Transfers = r.transfers()
		out.Rules[i] = r
	}
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(out); err != nil {
		return "", err
	}
	return b.String(), nil
}
