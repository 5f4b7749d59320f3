package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// kibubuBin is the binary built from this module once for all tests: the
// manifests must use only flags it accepts.
var (
	kibubuBin   string
	kibubuOnce  sync.Once
	kibubuErr   error
	roleFlags   = map[string]map[string]bool{}
	roleFlagsMu sync.Mutex
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kibubu-deploy-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kibubuBin = filepath.Join(dir, "kibubu")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildKibubu(t *testing.T) string {
	t.Helper()
	kibubuOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", kibubuBin, "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			kibubuErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if kibubuErr != nil {
		t.Fatal(kibubuErr)
	}
	return kibubuBin
}

// flagLine is a flag in the help the flag package prints: "  -name value".
var flagLine = regexp.MustCompile(`^  -([a-z0-9][a-z0-9-]*)`)

// flagsOf returns the flags `kibubu <role> -h` lists.
func flagsOf(t *testing.T, role string) map[string]bool {
	t.Helper()
	roleFlagsMu.Lock()
	defer roleFlagsMu.Unlock()
	if f, ok := roleFlags[role]; ok {
		return f
	}
	var out bytes.Buffer
	cmd := exec.Command(buildKibubu(t), role, "-h")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = []string{} // the help must not depend on this machine's KIBUBU_*
	if err := cmd.Run(); err != nil {
		t.Fatalf("kibubu %s -h: %v\n%s", role, err, out.String())
	}
	flags := map[string]bool{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if m := flagLine.FindStringSubmatch(sc.Text()); m != nil {
			flags[m[1]] = true
		}
	}
	if len(flags) == 0 {
		t.Fatalf("kibubu %s -h listed no flags:\n%s", role, out.String())
	}
	roleFlags[role] = flags
	return flags
}

// Roles a manifest may run, and the environment each reads besides its
// KIBUBU_* flags.
var roleEnv = map[string][]string{
	"wallet":  {"GOMEMLIMIT"},
	"gateway": {"GOMEMLIMIT", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN_FILE", "TWILIO_FROM", "TWILIO_MESSAGING_SERVICE_SID"},
	"notify":  {"GOMEMLIMIT", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN_FILE", "TWILIO_FROM", "TWILIO_MESSAGING_SERVICE_SID"},
	"migrate": {"GOMEMLIMIT"},
	"ops":     {"GOMEMLIMIT"},
}

// checkCommand reports every flag in args (role first) and every variable
// in env that `kibubu <role>` does not know: a typo there is a setting
// silently not applied.
func checkCommand(t *testing.T, where string, args []string, env []string) {
	t.Helper()
	if len(args) == 0 {
		t.Errorf("%s: no command: give the role (wallet, gateway, notify, migrate)", where)
		return
	}
	role := args[0]
	extra, ok := roleEnv[role]
	if !ok {
		t.Errorf("%s: %q is not a role a deployment runs", where, role)
		return
	}
	flags := flagsOf(t, role)
	for i := 1; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			t.Errorf("%s: argument %q: the roles take flags only", where, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !flags[name] {
			t.Errorf("%s: kibubu %s has no flag --%s", where, role, name)
			continue
		}
		if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			i++ // its value
		}
	}
	for _, name := range env {
		if !envKnown(flags, extra, name) {
			t.Errorf("%s: kibubu %s reads no variable %s", where, role, name)
		}
	}
}

// envKnown reports whether a role reads the variable: KIBUBU_<FLAG>, or
// KIBUBU_<FLAG>_FILE (the flag's value from a file), or one of extra.
func envKnown(flags map[string]bool, extra []string, name string) bool {
	for _, e := range extra {
		if name == e {
			return true
		}
	}
	rest, ok := strings.CutPrefix(name, "KIBUBU_")
	if !ok {
		return false
	}
	flag := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "-")) }
	if flags[flag(rest)] {
		return true
	}
	base, ok := strings.CutSuffix(rest, "_FILE")
	return ok && flags[flag(base)]
}

// The check itself: a flag or variable the binary does not know is found.
func TestCheckCommandFindsUnknownFlags(t *testing.T) {
	flags := flagsOf(t, "wallet")
	for _, f := range []string{"nats", "db", "pepper-file", "stream-replicas", "http"} {
		if !flags[f] {
			t.Errorf("kibubu wallet -h does not list --%s", f)
		}
	}
	tests := []struct {
		name string
		env  string
		want bool
	}{
		{"flag", "KIBUBU_DB", true},
		{"flag from a file", "KIBUBU_DB_FILE", true},
		{"a flag ending in -file", "KIBUBU_PEPPER_FILE", true},
		{"unknown", "KIBUBU_PEPER_FILE", false},
		{"another role's", "KIBUBU_SMS_SECRET_FILE", false},
		{"not ours", "TWILIO_AUTH_TOKEN", false},
		{"Go runtime", "GOMEMLIMIT", true},
	}
	for _, tc := range tests {
		if got := envKnown(flags, roleEnv["wallet"], tc.env); got != tc.want {
			t.Errorf("%s: envKnown(wallet, %s) = %v, want %v", tc.name, tc.env, got, tc.want)
		}
	}
}
