package deploy

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"golang.org/x/mod/modfile"
)

// loadCompose loads compose.yaml (and overrides) with compose-go, as
// `docker compose` does, from a copy of deploy/ whose secrets/ is the
// example's: the README's first step.
func loadCompose(t *testing.T, env []string, files ...string) *types.Project {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(".")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "secrets"), os.DirFS("secrets.example")); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(dir, f))
	}
	opts, err := cli.NewProjectOptions(paths, cli.WithWorkingDirectory(dir), cli.WithEnv(env), cli.WithInterpolation(true), cli.WithResolvedPaths(true))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose-go loads %v: %v", files, err)
	}
	return p
}

// natsServerVersion is the nats-server/v2 module version go.mod names: the
// NATS the binary embeds, which the cluster must run too.
func natsServerVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse("go.mod", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range f.Require {
		if r.Mod.Path == "github.com/nats-io/nats-server/v2" {
			return strings.TrimPrefix(r.Mod.Version, "v")
		}
	}
	t.Fatal("go.mod requires no github.com/nats-io/nats-server/v2")
	return ""
}

// pinnedTag matches an image pinned to an exact version: a tag with a
// full version (major.minor, as PostgreSQL numbers its releases, or
// major.minor.patch), or a digest.
var pinnedTag = regexp.MustCompile(`^[^@]+:(v?\d+\.\d+(\.\d+)?([-+][^:/]*)?)$|@sha256:[0-9a-f]{64}$`)

func TestComposeServices(t *testing.T) {
	p := loadCompose(t, nil, "compose.yaml")
	natsVersion := natsServerVersion(t)
	want := []string{"gateway-1", "gateway-2", "migrate", "nats-1", "nats-2", "nats-3", "notify", "ops", "postgres", "proxy", "wallet-1", "wallet-2"}
	if got := p.ServiceNames(); !slices.Equal(sortedCopy(got), want) {
		t.Fatalf("services %v, want %v", sortedCopy(got), want)
	}
	roles := map[string][]string{}
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		// The Kibubu image is built here (compose up --build); every other
		// image is pinned to an exact version.
		if s.Build == nil && !pinnedTag.MatchString(s.Image) {
			t.Errorf("%s: image %q is not pinned to an exact version", name, s.Image)
		}
		if strings.HasPrefix(name, "nats-") {
			if !strings.HasPrefix(s.Image, "nats:"+natsVersion+"-") && s.Image != "nats:"+natsVersion {
				t.Errorf("%s: image %s, want nats-server %s, the version go.mod embeds", name, s.Image, natsVersion)
			}
		}
		if s.HealthCheck == nil && name != "migrate" && name != "proxy" {
			t.Errorf("%s: no health check: dependants cannot wait for it", name)
		}
		if s.Build == nil {
			continue
		}
		// A Kibubu process.
		if s.Image == "" || strings.HasSuffix(s.Image, ":latest") || !strings.Contains(s.Image, ":") {
			t.Errorf("%s: image %q: name a tag, not latest", name, s.Image)
		}
		if s.User == "" || strings.HasPrefix(s.User, "0:") || s.User == "0" || strings.HasPrefix(s.User, "root") {
			t.Errorf("%s: runs as %q: never root", name, s.User)
		}
		if !s.ReadOnly {
			t.Errorf("%s: root filesystem is writable: read_only: true", name)
		}
		var env []string
		for k, v := range s.Environment {
			env = append(env, k)
			// Secrets come as files: a variable names the file, never holds
			// the secret, and the file is one of the service's secrets.
			if v == nil {
				continue
			}
			if looksSecret(k) && !strings.HasPrefix(*v, "/run/secrets/") {
				t.Errorf("%s: %s=%q holds a secret in the environment: pass it as a file under /run/secrets", name, k, *v)
			}
			if target, ok := strings.CutPrefix(*v, "/run/secrets/"); ok && !hasSecret(s, target) {
				t.Errorf("%s: %s=%s, but the service has no such secret", name, k, *v)
			}
		}
		slices.Sort(env)
		checkCommand(t, "compose "+name, s.Command, env)
		if len(s.Command) > 0 {
			roles[s.Command[0]] = append(roles[s.Command[0]], name)
		}
		if len(s.Command) > 0 && s.Command[0] != "migrate" {
			if s.Deploy == nil || s.Deploy.Resources.Limits == nil || s.Deploy.Resources.Limits.MemoryBytes == 0 {
				t.Errorf("%s: no memory limit", name)
			} else if v := s.Environment["GOMEMLIMIT"]; v == nil || memBytes(t, *v) >= int64(s.Deploy.Resources.Limits.MemoryBytes) {
				t.Errorf("%s: GOMEMLIMIT must be set below the memory limit %d", name, s.Deploy.Resources.Limits.MemoryBytes)
			}
		}
	}
	// Two of each that scales, a notifier, a migration.
	for role, n := range map[string]int{"wallet": 2, "gateway": 2, "notify": 1, "migrate": 1, "ops": 1} {
		if len(roles[role]) < n {
			t.Errorf("%d %s services, want at least %d", len(roles[role]), role, n)
		}
	}
	// The wallets and the notifier never migrate: the migrate service does,
	// and they wait for it to complete.
	for _, name := range append(roles["wallet"], roles["notify"]...) {
		s := p.Services[name]
		if !slices.Contains(s.Command, "--migrate=false") {
			t.Errorf("%s: %v: want --migrate=false, the migrate service migrates", name, s.Command)
		}
		if d, ok := s.DependsOn["migrate"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s: must depend on migrate completing successfully", name)
		}
	}
	for _, name := range roles["wallet"] {
		if !slices.Contains(s2(p, name), "--stream-replicas") {
			t.Errorf("%s: give --stream-replicas 3: the cluster has 3 nodes", name)
		}
	}
	// One pepper for every wallet, one session key for every gateway: the
	// same file, by the same variable.
	sameSecret(t, p, roles["wallet"], "KIBUBU_PEPPER_FILE")
	sameSecret(t, p, roles["gateway"], "KIBUBU_SESSION_KEY_FILE")
	sameSecret(t, p, roles["gateway"], "KIBUBU_SMS_SECRET_FILE")
	// The proxy sends to both gateways.
	cfg, err := os.ReadFile("haproxy.cfg")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range roles["gateway"] {
		if !regexp.MustCompile(`(?m)^\s*server\s+` + g + `\s+` + g + `:8080\s+check`).Match(cfg) {
			t.Errorf("haproxy.cfg has no health-checked server for %s", g)
		}
	}
	if !strings.Contains(string(cfg), "option httpchk GET /readyz") {
		t.Error("haproxy.cfg does not check the gateways' /readyz")
	}
}

func s2(p *types.Project, name string) []string { return p.Services[name].Command }

// With compose.twilio.yaml the notifier and the gateways read Twilio's
// token from a file, and still only variables they know.
func TestComposeTwilioOverride(t *testing.T) {
	p := loadCompose(t, []string{"TWILIO_ACCOUNT_SID=ACexample", "TWILIO_FROM=+254700000000", "KIBUBU_PUBLIC_URL=https://pay.example.com"},
		"compose.yaml", "compose.twilio.yaml")
	for _, name := range []string{"notify", "gateway-1", "gateway-2"} {
		s := p.Services[name]
		v := s.Environment["TWILIO_AUTH_TOKEN_FILE"]
		if v == nil || !hasSecret(s, strings.TrimPrefix(*v, "/run/secrets/")) {
			t.Errorf("%s: TWILIO_AUTH_TOKEN_FILE must name one of its secrets", name)
		}
		var env []string
		for k := range s.Environment {
			env = append(env, k)
		}
		checkCommand(t, "compose+twilio "+name, s.Command, env)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func hasSecret(s types.ServiceConfig, target string) bool {
	for _, sec := range s.Secrets {
		if secretPath(sec) == "/run/secrets/"+target {
			return true
		}
	}
	return false
}

// secretPath is where a service's secret is mounted.
func secretPath(sec types.ServiceSecretConfig) string {
	t := sec.Target
	if t == "" {
		t = sec.Source
	}
	if !strings.HasPrefix(t, "/") {
		t = "/run/secrets/" + t
	}
	return t
}

// sameSecret checks that every service reads variable from the same
// secret file.
func sameSecret(t *testing.T, p *types.Project, services []string, variable string) {
	t.Helper()
	files := map[string]bool{}
	for _, name := range services {
		s := p.Services[name]
		v := s.Environment[variable]
		if v == nil {
			t.Errorf("%s: %s is not set", name, variable)
			continue
		}
		for _, sec := range s.Secrets {
			if secretPath(sec) == *v {
				files[p.Secrets[sec.Source].File] = true
			}
		}
	}
	if len(files) != 1 {
		t.Errorf("%v: %s comes from %d files, want one shared by all", services, variable, len(files))
	}
}

// looksSecret reports whether a variable's name says it holds a secret.
func looksSecret(name string) bool {
	for _, w := range []string{"PASSWORD", "TOKEN", "SECRET", "PEPPER", "KEY", "NKEY", "DB", "USSD_AUTH"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// nkeyEnv reads secrets.example/nats-users.env.
func nkeyEnv(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("secrets.example/nats-users.env")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env
}
