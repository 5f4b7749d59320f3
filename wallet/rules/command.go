package rules

import (
	_ "embed"
	"flag"
	"fmt"
	"io"

	"github.com/kibubu/kibubu/internal/cmdline"
)

// DefaultRules is the rules file `--rules default` names: the rules the
// README recommends to start with (velocity per hour and day, a large
// first send, structuring under the fee bands' tops and the limits).
//
//go:embed default.toml
var DefaultRules []byte

// DefaultName is the --rules value that names DefaultRules.
const DefaultName = "default"

// Open returns the rules --rules names: DefaultName for DefaultRules, else
// a file.
func Open(name string) (*Config, error) {
	if name == DefaultName {
		c, err := Parse(DefaultRules)
		if err != nil {
			panic("rules: the default rules do not load: " + err.Error())
		}
		return c, nil
	}
	return Load(name)
}

// FlagUsage is the --rules flag's help.
const FlagUsage = "fraud rules TOML `file` (or \"default\" for the built-in rules): velocity, new recipient, structuring, each with its outcome allow, review or block (default: none, the rules are off)"

// Command is `kibubu rules show [--rules FILE]`: it prints the effective
// rules (defaults filled in) or the error that stops them from loading.
func Command(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "show" {
		return &cmdline.UsageError{Msg: "rules needs a command: show", Usage: "kibubu rules show [--rules FILE]\n"}
	}
	fs := flag.NewFlagSet("rules show", flag.ContinueOnError)
	name := fs.String("rules", DefaultName, FlagUsage)
	if err := cmdline.ParseCommand(fs, args[1:], "kibubu rules show [--rules FILE]\n\nPrints the effective fraud rules of a rules file (default: the built-in rules) as TOML, or why it does not load.\n", stdout); err != nil {
		return err
	}
	c, err := Open(*name)
	if err != nil {
		return fmt.Errorf("--rules: %w", err)
	}
	text, err := c.Show()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# %d rules from %s\n%s", len(c.Rules), *name, text)
	return nil
}
