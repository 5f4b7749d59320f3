package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	c, err := Load("default.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(c.Rules); got != 5 {
		t.Fatalf("got %d rules, want 5", got)
	}
	shown, err := c.Show()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse([]byte(shown))
	if err != nil {
		t.Fatalf("the shown rules do not load again: %v\n%s", err, shown)
	}
	if got := len(again.Rules[0].Transfers); got != len(DefaultTransfers) {
		t.Fatalf("got %d transfer kinds shown for a rule without, want the %d defaults\n%s", got, len(DefaultTransfers), shown)
	}
}

func TestLoadErrors(t *testing.T) {
	const ok = "[[rule]]\nname = \"a\"\nkind = \"velocity\"\noutcome = \"review\"\nwindow = \"1h\"\ncount_max = 3\n"
	cases := []struct {
		name, text, want string
	}{
		{"not toml", "[[rule]\n", "toml: line 2"},
		{"unknown setting", ok + "colour = \"red\"\n", `unknown setting "rule.colour"`},
		{"no name", "[[rule]]\nkind = \"velocity\"\noutcome = \"review\"\nwindow = \"1h\"\ncount_max = 3\n", `line 1: rule "": name`},
		{"same name", ok + "\n" + ok, `line 8: rule "a": name: used by an earlier rule`},
		{"bad outcome", strings.Replace(ok, "review", "hold", 1), `line 1: rule "a": outcome "hold"`},
		{"bad kind", strings.Replace(ok, `"velocity"`, `"speed"`, 1), `kind "speed"`},
		{"bad window", strings.Replace(ok, `"1h"`, `"soon"`, 1), `"soon" is not a duration`},
		{"window too long", strings.Replace(ok, `"1h"`, `"1000h"`, 1), "window 1000h0m0s"},
		{"no window", strings.Replace(ok, "window = \"1h\"\n", "", 1), "window 0s"},
		{"velocity without bounds", strings.Replace(ok, "count_max = 3\n", "", 1), "count_max, amount_max: at least one"},
		{"a setting of another kind", ok + "margin = 5\n", "margin: not a setting of a velocity rule"},
		{"bad transfer kind", ok + "transfers = [\"float\"]\n", `transfers: "float"`},
		{"new recipient without amount", "[[rule]]\nname = \"n\"\nkind = \"new_recipient\"\noutcome = \"block\"\nwindow = \"1h\"\n", `rule "n": amount_min 0`},
		{"structuring count", "[[rule]]\nname = \"s\"\nkind = \"structuring\"\noutcome = \"block\"\nwindow = \"1h\"\nbelow = [100]\nmargin = 5\ncount_min = 1\n", "count_min 1: at least 2"},
		{"farming share", "[[rule]]\nname = \"f\"\nkind = \"farming\"\noutcome = \"review\"\nwindow = \"30m\"\nshare = 101\n", "share 101"},
		{"farming of sends", "[[rule]]\nname = \"f\"\nkind = \"farming\"\noutcome = \"review\"\nwindow = \"30m\"\nshare = 80\ntransfers = [\"send\"]\n", "withdrawals only"},
		{"structuring without below", "[[rule]]\nname = \"s\"\nkind = \"structuring\"\noutcome = \"block\"\nwindow = \"1h\"\nmargin = 5\ncount_min = 2\n", "below: at least one"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rules.toml")
			if err := os.WriteFile(path, []byte(c.text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("got %v, want an error naming %s and containing %q", err, path, c.want)
			}
		})
	}
}
