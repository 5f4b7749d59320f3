package simswap_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/simswap"
	"github.com/kibubu/kibubu/wallet/simswap/camaratest"
)

const (
	swappedPhone = "+254700000001" // SIM changed an hour ago
	oldSwapPhone = "+254700000002" // SIM changed 100 hours ago: outside 72 h
	cleanPhone   = "+254700000003" // no change on record
	otherNetwork = "+255700000001" // no network configured for +255
)

// testTimeout bounds a check in these tests: the slow case waits it out,
// so it is short; the fake answers the others in well under it.
const testTimeout = 300 * time.Millisecond

func newFake(t *testing.T) *camaratest.Server {
	t.Helper()
	f := camaratest.New(nil)
	t.Cleanup(f.Close)
	now := time.Now()
	f.SetSwap(swappedPhone, now.Add(-time.Hour))
	f.SetSwap(oldSwapPhone, now.Add(-100*time.Hour))
	return f
}

func config(f *camaratest.Server, policy map[wallet.SIMSwapAction]simswap.Policy, cacheTTL time.Duration) simswap.Config {
	return simswap.Config{
		Timeout: simswap.Duration(testTimeout), CacheTTL: simswap.Duration(cacheTTL), Policy: policy,
		Networks: []simswap.Network{{Name: "fake", BaseURL: f.URL, TokenURL: f.TokenURL(),
			ClientID: f.ClientID, ClientSecret: f.ClientSecret, Prefixes: []string{"+2547"}}},
	}
}

func newChecker(t *testing.T, cfg simswap.Config) *simswap.Checker {
	t.Helper()
	c, err := simswap.New(cfg, simswap.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChecker(t *testing.T) {
	open := map[wallet.SIMSwapAction]simswap.Policy{wallet.SIMSwapTransfer: simswap.FailOpen, wallet.SIMSwapPIN: simswap.FailClosed}
	for _, tc := range []struct {
		name    string
		phone   string
		action  wallet.SIMSwapAction
		inject  func(*camaratest.Server)
		want    bool
		wantErr bool
		outcome string
	}{
		{name: "swapped", phone: swappedPhone, action: wallet.SIMSwapPIN, want: true, outcome: simswap.OutcomeSwapped},
		{name: "not swapped", phone: cleanPhone, action: wallet.SIMSwapPIN, outcome: simswap.OutcomeNotSwapped},
		{name: "swapped before max age", phone: oldSwapPhone, action: wallet.SIMSwapPIN, outcome: simswap.OutcomeNotSwapped},
		{name: "not covered", phone: otherNetwork, action: wallet.SIMSwapPIN, outcome: simswap.OutcomeNotCovered},
		{name: "slow fails closed", phone: swappedPhone, action: wallet.SIMSwapPIN, wantErr: true, outcome: simswap.OutcomeError,
			inject: func(f *camaratest.Server) { f.SetDelay(10 * testTimeout) }},
		{name: "slow fails open", phone: swappedPhone, action: wallet.SIMSwapTransfer, outcome: simswap.OutcomeErrorOpen,
			inject: func(f *camaratest.Server) { f.SetDelay(10 * testTimeout) }},
		{name: "500 fails closed", phone: swappedPhone, action: wallet.SIMSwapPIN, wantErr: true, outcome: simswap.OutcomeError,
			inject: func(f *camaratest.Server) { f.FailNext(1) }},
		{name: "down fails closed", phone: swappedPhone, action: wallet.SIMSwapPIN, wantErr: true, outcome: simswap.OutcomeError,
			inject: func(f *camaratest.Server) { f.Down() }},
		{name: "down fails open", phone: swappedPhone, action: wallet.SIMSwapTransfer, outcome: simswap.OutcomeErrorOpen,
			inject: func(f *camaratest.Server) { f.Down() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			c := newChecker(t, config(f, open, -1))
			if tc.inject != nil {
				tc.inject(f)
			}
			got, err := c.SIMSwapped(context.Background(), tc.phone, time.Time{}, tc.action)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("got %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
			if err != nil && !errors.Is(err, simswap.ErrNoAnswer) {
				t.Errorf("got error %v; want one wrapping ErrNoAnswer", err)
			}
			network := "fake"
			if tc.outcome == simswap.OutcomeNotCovered {
				network = ""
			}
			if n := testutil.ToFloat64(c.Metrics().Outcomes().WithLabelValues(network, string(tc.action), tc.outcome)); n != 1 {
				t.Errorf("got %v checks with outcome %s; want 1", n, tc.outcome)
			}
		})
	}
}

func TestCheckerCache(t *testing.T) {
	f := newFake(t)
	c := newChecker(t, config(f, nil, time.Minute))
	ctx := context.Background()
	for i, want := range []string{simswap.OutcomeSwapped, simswap.OutcomeCached} {
		got, err := c.SIMSwapped(ctx, swappedPhone, time.Time{}, wallet.SIMSwapPIN)
		if err != nil || !got {
			t.Fatalf("check %d: got %v, %v; want swapped", i+1, got, err)
		}
		if n := testutil.ToFloat64(c.Metrics().Outcomes().WithLabelValues("fake", "pin", want)); n != 1 {
			t.Errorf("check %d: got %v outcomes %s; want 1", i+1, n, want)
		}
	}
	if n := f.Calls(simswap.CheckPath); n != 1 {
		t.Errorf("got %d calls to the network; want 1 (the second answer is cached)", n)
	}
}

// TestCheckerTokenRefresh: a token the network stops taking (401) is
// replaced once, and the check answers.
func TestCheckerTokenRefresh(t *testing.T) {
	f := newFake(t)
	c := newChecker(t, config(f, nil, -1))
	ctx := context.Background()
	if _, err := c.SIMSwapped(ctx, cleanPhone, time.Time{}, wallet.SIMSwapPIN); err != nil {
		t.Fatal(err)
	}
	f.ExpireTokens()
	got, err := c.SIMSwapped(ctx, swappedPhone, time.Time{}, wallet.SIMSwapPIN)
	if err != nil || !got {
		t.Fatalf("after the token expired: got %v, %v; want swapped", got, err)
	}
	if n := f.TokensIssued(); n != 2 {
		t.Errorf("got %d tokens issued; want 2", n)
	}
}

// TestCheckerWrongSecret: a client the token endpoint refuses gets no
// answer, and the action fails as its policy says.
func TestCheckerWrongSecret(t *testing.T) {
	f := newFake(t)
	cfg := config(f, nil, -1)
	cfg.Networks[0].ClientSecret = "wrong"
	c := newChecker(t, cfg)
	got, err := c.SIMSwapped(context.Background(), swappedPhone, time.Time{}, wallet.SIMSwapPIN)
	if err == nil || got {
		t.Fatalf("got %v, %v; want an error (pin fails closed)", got, err)
	}
	if n := f.Calls(simswap.CheckPath); n != 0 {
		t.Errorf("got %d API calls; want 0", n)
	}
}

// TestCheckerAfter: with a time, the question is a change after it
// (retrieve-date), within the maximum age.
func TestCheckerAfter(t *testing.T) {
	f := newFake(t)
	c := newChecker(t, config(f, nil, -1))
	now := time.Now()
	for _, tc := range []struct {
		phone string
		after time.Time
		want  bool
	}{
		{swappedPhone, now.Add(-2 * time.Hour), true},    // changed after
		{swappedPhone, now.Add(-time.Minute), false},     // cleared since
		{oldSwapPhone, now.Add(-200 * time.Hour), false}, // after, but older than max age
		{cleanPhone, now.Add(-time.Hour), false},         // no change on record
	} {
		got, err := c.SIMSwapped(context.Background(), tc.phone, tc.after, wallet.SIMSwapPIN)
		if err != nil || got != tc.want {
			t.Errorf("%s after %s: got %v, %v; want %v", tc.phone, now.Sub(tc.after), got, err, tc.want)
		}
	}
	if n := f.Calls(simswap.RetrieveDatePath); n != 4 {
		t.Errorf("got %d retrieve-date calls; want 4", n)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	network := `
[[network]]
name = "safaricom"
base_url = "https://api.example/"
token_url = "https://api.example/token"
client_id = "kibubu"
client_secret_file = "` + secret + `"
prefixes = ["+25470", "+25471"]
`
	for _, tc := range []struct {
		name, file, wantErr string
	}{
		{"defaults", network, ""},
		{"all set", "max_age = \"48h\"\ntimeout = \"2s\"\ncache_ttl = \"1m\"\nabove = \"1000\"\n[policy]\ntransfer = \"closed\"\n" + network, ""},
		{"no network", "max_age = \"48h\"\n", "no [[network]]"},
		{"unknown setting", "maxage = \"48h\"\n" + network, "unknown setting \"maxage\""},
		{"max age not hours", "max_age = \"90m\"\n" + network, "max_age 1h30m0s: whole hours"},
		{"max age too long", "max_age = \"2401h\"\n" + network, "max_age"},
		{"timeout too long", "timeout = \"1m\"\n" + network, "timeout 1m0s"},
		{"bad duration", "timeout = \"soon\"\n" + network, "not a duration"},
		{"unknown policy action", "[policy]\nsend = \"open\"\n" + network, "unknown action \"send\""},
		{"bad policy", "[policy]\npin = \"maybe\"\n" + network, "policy.pin = \"maybe\""},
		{"bad prefix", strings.Replace(network, `"+25470"`, `"25470"`, 1), "prefix \"25470\""},
		{"bad url", strings.Replace(network, `https://api.example/token`, `api.example`, 1), "token_url"},
		{"missing secret file", strings.Replace(network, secret, filepath.Join(dir, "none"), 1), "client secret"},
		{"twice", network + strings.Replace(network, "+25470", "+25479", 1), "named twice"},
		{"shared prefix", network + strings.Replace(network, "safaricom", "airtel", 1), "prefix +25470 is also \"safaricom\"'s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".toml")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := simswap.Load(path)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.Networks[0].ClientSecret != "s3cret" || c.Policy[wallet.SIMSwapPIN] != simswap.FailClosed {
					t.Errorf("got secret %q, policies %v", c.Networks[0].ClientSecret, c.Policy)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v; want an error with %q", err, tc.wantErr)
			}
		})
	}
}
