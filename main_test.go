package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kibubu/kibubu/deploy/natsserver"
	"github.com/kibubu/kibubu/internal/cmdline"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// testConfig is the default configuration on a fresh data dir, HTTP on an
// ephemeral port, and the given database ("" for SQLite in the data dir).
func testConfig(t *testing.T, dsn string) Config {
	t.Helper()
	c := DefaultConfig()
	c.Data = t.TempDir()
	c.HTTP = "127.0.0.1:0"
	c.DB = dsn
	return c
}

// startMain runs m and closes it when the test ends.
func startMain(t *testing.T, m *Main) *Main {
	t.Helper()
	if m.Log == nil {
		m.Log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

// testWriter sends log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// cli runs the command line as main does and returns stdout and the error.
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, nil, args, &stdout, &stderr)
	return stdout.String(), err
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// TestServe runs the whole program on the embedded default, on SQLite and
// (with KIBUBU_TEST_POSTGRES) PostgreSQL, and drives it with the operator
// commands as a person would.
func TestServe(t *testing.T) {
	for _, db := range []struct {
		name   string
		dsn    func(t *testing.T) string
		prefix string
	}{
		{"sqlite", func(*testing.T) string { return "" }, ""},
		{"sqlite with a subject prefix", func(*testing.T) string { return "" }, "staging"},
		{"postgres", func(t *testing.T) string { return storetest.Postgres(t) }, ""},
	} {
		t.Run(db.name, func(t *testing.T) {
			c := testConfig(t, db.dsn(t))
			c.NATSPrefix = db.prefix
			m := startMain(t, &Main{Config: c})
			testServing(t, m, "--data", m.Config.Data) // the prefix comes from nats.json
		})
	}
}

// testServing checks the health endpoints and runs every operator command
// against m; conn are the flags that find m's NATS.
func testServing(t *testing.T, m *Main, conn ...string) {
	base := "http://" + m.HTTPAddr()
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := get(t, base+path); code != 200 || body != `{"status":"ok"}` {
			t.Errorf("GET %s = %d %s, want 200 {\"status\":\"ok\"}", path, code, body)
		}
	}

	op := func(args ...string) (string, error) { return cli(t, append(args, conn...)...) }
	mustOp := func(re string, args ...string) []string {
		t.Helper()
		out, err := op(args...)
		if err != nil {
			t.Fatalf("kibubu %s: %v", strings.Join(args, " "), err)
		}
		match := regexp.MustCompile(re).FindStringSubmatch(out)
		if match == nil {
			t.Fatalf("kibubu %s printed %q, want it to match %s", strings.Join(args, " "), out, re)
		}
		return match
	}

	added := mustOp(`^agent (\d{6}) opened: Mama Mboga Shop, phone \+254712000001\nstart key (\d{6}): give it only to the account's owner; it was also sent by SMS to \+254712000001\.\n`,
		"agent", "add", "--phone", "0712000001", "--name", "Mama Mboga Shop")
	agent := added[1]
	first := mustOp(`^([A-Z0-9]{6,}) issued KES 100,000.00 to agent \d+; float balance KES 100,000.00\n$`,
		"float", "issue", "--agent", agent, "--amount", "100000", "--ref", "BANK-001")[1]
	again := mustOp(`^([A-Z0-9]{6,}) replayed: --ref BANK-001 was already issued`,
		"float", "issue", "--agent", agent, "--amount", "100000", "--ref", "BANK-001")[1]
	if again != first {
		t.Errorf("second float issue with the same ref printed transaction %s, want %s", again, first)
	}
	mustOp(`^till \d{6} opened: Kiosk, phone \+254712000002\n$`, "merchant", "add", "--phone", "0712000002", "--name", "Kiosk")
	mustOp(`^paybill \d{6} opened: Maji Water, phone \+254712000003\n$`,
		"merchant", "add", "--phone", "0712000003", "--name", "Maji Water", "--paybill")

	for _, key := range []string{agent, "0712000001", "+254712000001"} {
		out := mustOp(`(?s)^.*balance +KES 100,000.00\n.*$`, "account", "show", key)[0]
		for _, want := range []string{"name     Mama Mboga Shop\n", "kind     agent\n", "number   " + agent + "\n", "phone    +254712000001\n", "status   active\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("account show %s printed %q, want %q in it", key, out, want)
			}
		}
	}
	mustOp(`is frozen`, "account", "freeze", agent, "--reason", "complaint 12")
	if _, err := op("float", "issue", "--agent", agent, "--amount", "5", "--ref", "BANK-FROZEN"); wallet.ErrorCode(err) != wallet.CodeAccountFrozen {
		t.Errorf("float issue to a frozen agent: got %v, want %s", err, wallet.CodeAccountFrozen)
	}
	mustOp(`is active`, "account", "unfreeze", agent, "--reason", "complaint 12 resolved")
	if reset := mustOp(`^PIN cleared and unlocked for \+254712000001 \(Mama Mboga Shop\); status active\nstart key (\d{6}): `, "pin", "reset", "0712000001", "--reason", "owner at the shop with ID"); reset[1] == added[2] {
		t.Errorf("pin reset printed the start key agent add did, %s", reset[1])
	}
	mustOp(`(?s)Tariff \(KES\).*Send money.*Withdraw.*Customer limits.*full \(registered with ID\) +KES 250,000.00 +KES 500,000.00 +KES 500,000.00`,
		"tariff", "show")

	// Refused input: one clear error each, nothing moved.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"float", "issue", "--agent", agent, "--amount", "12.345", "--ref", "BAD-1"}, `--amount "12.345": `},
		{[]string{"float", "issue", "--agent", agent, "--amount", "-5", "--ref", "BAD-2"}, `--amount "-5": `},
		{[]string{"float", "issue", "--agent", agent, "--amount", "abc", "--ref", "BAD-3"}, `--amount "abc": `},
		{[]string{"float", "issue", "--agent", agent, "--amount", "500", "--ref", "BANK-001"}, `--ref BANK-001 was already issued with another agent or amount`},
		{[]string{"float", "issue", "--agent", "0799999999", "--amount", "5", "--ref", "BAD-4"}, `not found`},
		{[]string{"account", "show", "0799999999"}, `not found: no account for +254799999999`},
		{[]string{"agent", "add", "--phone", "0712000001", "--name", "Again"}, `already exists`},
		{[]string{"agent", "add", "--phone", "12", "--name", "Short"}, `invalid phone`},
	} {
		out, err := op(tc.args...)
		var u *cmdline.UsageError
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") || errors.As(err, &u) || out != "" {
			t.Errorf("kibubu %s = %q, %v; want no output and one line containing %q", strings.Join(tc.args, " "), out, err, tc.want)
		}
	}

	out := mustOp(`(?s)^.*ledger ok: every invariant holds\n$`, "ledger", "check")[0]
	for _, want := range []string{"transfers                 1\n", "e-money issued            KES 100,000.00\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("ledger check printed %q, want %q in it", out, want)
		}
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "kibubu_wallet_transfers_total 1\n") {
		t.Errorf("GET /metrics = %d, want 200 counting the one float issue", code)
	}
}

// serveWithAgent starts a server on the embedded default with one agent,
// returning its config, the server, the agent number and the start key its
// first PIN needs.
func serveWithAgent(t *testing.T) (Config, *Main, string, string) {
	t.Helper()
	cfg := testConfig(t, "")
	m := startMain(t, &Main{Config: cfg})
	out, err := cli(t, "agent", "add", "--data", cfg.Data, "--phone", "0712000001", "--name", "Duka")
	if err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`(?m)^start key (\d+):`).FindStringSubmatch(out)
	if key == nil {
		t.Fatalf("agent add printed %q, want a start key", out)
	}
	return cfg, m, strings.Fields(out)[1], key[1]
}

// TestRestart checks that data, the pepper and the NATS password survive a
// restart on the same data dir, and nats.json is private.
func TestRestart(t *testing.T) {
	embeddedOnly(t)
	cfg, m, agent, _ := serveWithAgent(t)
	info1, err := natsserver.ReadInfo(cfg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := cli(t, "account", "show", "--data", cfg.Data, agent); err == nil || !strings.Contains(err.Error(), "cannot reach the server") {
		t.Errorf("account show with the server stopped: %v, want cannot reach the server", err)
	}
	m2 := startMain(t, &Main{Config: cfg})
	info2, err := natsserver.ReadInfo(cfg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if info2.Password != info1.Password || info2.URL != m2.NATSURL() {
		t.Errorf("after restart nats.json = %s %s, want password kept and URL %s", info2.URL, info2.Password, m2.NATSURL())
	}
	for _, f := range []string{natsserver.InfoFile, "pepper"} {
		fi, err := os.Stat(filepath.Join(cfg.Data, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", f, fi.Mode().Perm(), err)
		}
	}
	if out, err := cli(t, "account", "show", "--data", cfg.Data, agent); err != nil || !strings.Contains(out, "Duka") {
		t.Errorf("account show after restart = %q, %v; want the agent", out, err)
	}
}

// TestShutdownCommitsAcknowledged closes the server while float issues are
// in flight: after a restart every acknowledged one is there exactly once
// (a retry replays it) and the ledger holds.
func TestShutdownCommitsAcknowledged(t *testing.T) {
	embeddedOnly(t)
	cfg, m, agent, _ := serveWithAgent(t)
	info, _ := natsserver.ReadInfo(cfg.Data)
	// No reconnect: once the server closes, a request fails at once rather
	// than wait out its timeout buffered for a server that is not coming back.
	nc, err := nats.Connect(info.URL, nats.UserInfo(info.User, info.Password), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := natsapi.NewClient(nc, 2*time.Second, testOperator)

	const clients, perClient = 8, 50
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		wg    sync.WaitGroup
	)
	// Close once a good part of the load has been acknowledged, with the
	// rest in flight.
	const ackedBeforeClose = clients * perClient / 8
	started := make(chan struct{})
	var once sync.Once
	for i := range clients {
		wg.Go(func() {
			for j := range perClient {
				ref := fmt.Sprintf("B-%d-%d", i, j)
				_, err := c.IssueFloat(context.Background(), agent, 100, ref)
				if err != nil {
					return // the server is closing: the retries below cover the rest
				}
				mu.Lock()
				acked[ref] = true
				if len(acked) == ackedBeforeClose {
					once.Do(func() { close(started) })
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-started:
	case <-time.After(time.Minute):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("only %d float issues acknowledged in a minute", len(acked))
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close under load: %v", err)
	}
	wg.Wait()
	nc.Close()

	startMain(t, &Main{Config: cfg})
	// Retry every float issue with its reference, as an operator would after
	// the restart: through the wallet's client (the path `kibubu float issue`
	// takes, without a process start per retry), and once through the
	// command itself, which must say it replayed.
	info, _ = natsserver.ReadInfo(cfg.Data)
	nc, err = nats.Connect(info.URL, nats.UserInfo(info.User, info.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c = natsapi.NewClient(nc, 5*time.Second, testOperator)
	var total int64
	for i := range clients {
		for j := range perClient {
			ref := fmt.Sprintf("B-%d-%d", i, j)
			res, err := c.IssueFloat(context.Background(), agent, 100, ref)
			if err != nil {
				t.Fatalf("re-issue %s: %v", ref, err)
			}
			if acked[ref] && !res.Replayed {
				t.Errorf("acknowledged float issue %s was lost: the retry issued it again", ref)
			}
			total += 100
		}
	}
	if out, err := cli(t, "float", "issue", "--data", cfg.Data, "--agent", agent, "--amount", "1", "--ref", "B-0-0"); err != nil || !strings.Contains(out, "replayed") {
		t.Errorf("kibubu float issue --ref B-0-0 after the retries = %q, %v; want replayed", out, err)
	}
	out, err := cli(t, "ledger", "check", "--data", cfg.Data)
	if err != nil || !strings.Contains(out, fmt.Sprintf("e-money issued            %s", mustCurrency(t).Format(total))) {
		t.Errorf("ledger check = %q, %v; want ok with %d issued", out, err, total)
	}
	t.Logf("%d of %d float issues acknowledged before the shutdown", len(acked), clients*perClient)
}

func newTestFlagSet(c *Config) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.serverFlags(fs)
	return fs
}

func mustCurrency(t *testing.T) wallet.Currency {
	c, err := wallet.LookupCurrency("KES")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConfigErrors starts Main with one bad setting each: Run returns one
// clear line and leaves nothing running.
func TestConfigErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name   string
		role   Role
		change func(c *Config)
		prep   func(t *testing.T, c *Config)
		want   string
	}{
		{name: "unknown currency", change: func(c *Config) { c.Currency = "XYZ" }, want: `--currency: "XYZ" is not a currency`},
		{name: "bad http address", change: func(c *Config) { c.HTTP = "localhost" }, want: `--http "localhost": want host:port`},
		{name: "bad http port", change: func(c *Config) { c.HTTP = "127.0.0.1:http-alt" }, want: `port "http-alt" is not a number`},
		{name: "http port in use", change: func(c *Config) { c.HTTP = busy.Addr().String() }, want: "address already in use"},
		{name: "nats port in use", change: func(c *Config) { c.NATSListen = busy.Addr().String() }, want: "address already in use"},
		{name: "unreachable postgres", change: func(c *Config) { c.DB = "postgres://postgres@127.0.0.1:1/test?connect_timeout=2" }, want: "--db postgres://postgres@127.0.0.1:1/test?connect_timeout=2: "},
		{name: "postgres password redacted", change: func(c *Config) { c.DB = "postgres://postgres:hunter2@127.0.0.1:1/test?connect_timeout=2" }, want: "postgres:xxxxx@"},
		{name: "non-loopback nats listen", change: func(c *Config) { c.NATSListen = "0.0.0.0:4222" }, want: "loopback"},
		{name: "nats listen on every interface", change: func(c *Config) { c.NATSListen = ":4222" }, want: "loopback"},
		{name: "not a nats url", change: func(c *Config) { c.NATS = "http://127.0.0.1:4222" }, want: "want a nats://"},
		{name: "unreachable nats", change: func(c *Config) { c.NATS = "nats://127.0.0.1:1" }, want: "--nats nats://127.0.0.1:1: nats: no servers available"},
		{name: "creds without nats", change: func(c *Config) { c.NATSCreds = "x.creds" }, want: "--nats-creds is for an external NATS"},
		{name: "wallet without nats", role: RoleWallet, want: "wallet needs an external NATS: give --nats"},
		{name: "unknown region", change: func(c *Config) { c.Region = "XX" }, want: `--region "XX"`},
		{name: "unknown time zone", change: func(c *Config) { c.TZ = "Africa/Atlantis" }, want: `--tz "Africa/Atlantis"`},
		{name: "pin length", change: func(c *Config) { c.PINLength = 3 }, want: "--pin-length 3: must be 4 to 8"},
		{name: "pin tries", change: func(c *Config) { c.PINTries = 0 }, want: "--pin-tries 0: must be 1 to 10"},
		{name: "log level", change: func(c *Config) { c.LogLevel = "loud" }, want: `--log-level "loud"`},
		{name: "nats prefix", change: func(c *Config) { c.NATSPrefix = "a.b" }, want: `--nats-prefix "a.b"`},
		{name: "stream replicas", change: func(c *Config) { c.StreamReplicas = 7 }, want: "--stream-replicas 7"},
		{name: "missing tariff file", change: func(c *Config) { c.Tariff = "/nonexistent/tariff.toml" }, want: "--tariff: open /nonexistent/tariff.toml"},
		{name: "notify without nats", role: RoleNotify, want: "notify needs an external NATS: give --nats"},
		{name: "public url not absolute", change: func(c *Config) { c.PublicURL = "pay.example.com" }, want: `--public-url "pay.example.com"`},
		{name: "public url with query", change: func(c *Config) { c.PublicURL = "https://pay.example.com/?x=1" }, want: "without query"},
		{name: "twilio api url", change: func(c *Config) { c.TwilioAPIURL = "api.twilio.com" }, want: `--twilio-api-url "api.twilio.com"`},
		{name: "twilio token without sid", change: func(c *Config) { c.TwilioToken = "0123456789abcdef0123456789abcdef" }, want: "TWILIO_ACCOUNT_SID is not set"},
		{name: "twilio sid without token", change: func(c *Config) { c.TwilioSID = "AC0123456789abcdef0123456789abcdef" }, want: "TWILIO_ACCOUNT_SID is set without TWILIO_AUTH_TOKEN"},
		{name: "twilio from and service", change: func(c *Config) {
			c.TwilioSID, c.TwilioToken, c.TwilioFrom, c.TwilioService = "AC0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef", "KIBUBU", "MG0123"
		}, want: "not both"},
		{name: "twilio without a sender", change: func(c *Config) {
			c.TwilioSID, c.TwilioToken = "AC0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"
		}, want: "needs TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID"},
		{name: "sms rate", change: func(c *Config) { c.SMSRate = 0 }, want: "--sms-rate 0"},
		{name: "sms rate per phone", change: func(c *Config) { c.SMSPhoneRate = 601 }, want: "--sms-rate-per-phone 601"},
		{name: "sms attempts", change: func(c *Config) { c.SMSAttempts = 0 }, want: "--sms-attempts 0"},
		{name: "sms timeout", change: func(c *Config) { c.SMSTimeout = time.Hour }, want: "--sms-timeout 1h0m0s"},
		{name: "request ttl", change: func(c *Config) { c.RequestTTL = time.Second }, want: "--request-ttl 1s: must be 30s to 24h"},
		{name: "tab settle amount", change: func(c *Config) { c.TabSettle = "0.001" }, want: "--tab-settle \"0.001\""},
		{name: "tab settle negative", change: func(c *Config) { c.TabSettle = "-5" }, want: "--tab-settle \"-5\""},
		// TestSecurityTabSettleOverflow: the most a tab can meter, one cent more.
		{name: "tab settle above the most a tab meters", change: func(c *Config) { c.TabSettle = "1000000000.01" }, want: "--tab-settle \"1000000000.01\": at most KES 1,000,000,000.00"},
		{name: "tab settle at the maximum amount", change: func(c *Config) { c.TabSettle = "10000000000000" }, want: "--tab-settle \"10000000000000\": at most"},
		{name: "tab settle every", change: func(c *Config) { c.TabSettleEvery = time.Second }, want: "--tab-settle-every 1s"},
		{name: "webhook timeout", change: func(c *Config) { c.WebhookTimeout = 0 }, want: "--webhook-timeout 0s"},
		{name: "webhook retry under a day", change: func(c *Config) { c.WebhookRetryFor = time.Hour }, want: "--webhook-retry-for 1h0m0s: must be 24h0m0s"},
		{name: "webhook retention", change: func(c *Config) { c.WebhookRetention = time.Minute }, want: "--webhook-retention 1m0s: must be 24h"},
		{name: "sms secret readable by others", prep: func(t *testing.T, c *Config) {
			os.WriteFile(filepath.Join(c.Data, "sms.secret"), make([]byte, smsSecretBytes), 0o644)
		}, want: "has mode 0644"},
		{name: "pepper readable by others", prep: func(t *testing.T, c *Config) {
			os.WriteFile(filepath.Join(c.Data, "pepper"), make([]byte, wallet.PepperBytes), 0o644)
		}, want: "has mode 0644: it must not be readable by group or others"},
		{name: "pepper too short", prep: func(t *testing.T, c *Config) {
			os.WriteFile(filepath.Join(c.Data, "pepper"), []byte("secret"), 0o600)
		}, want: "is 6 bytes; it must be exactly 32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t, "")
			if tc.change != nil {
				tc.change(&c)
			}
			if tc.prep != nil {
				tc.prep(t, &c)
			}
			m := &Main{Config: c, Role: tc.role, Log: slog.New(slog.DiscardHandler)}
			err := m.Run(context.Background())
			if err == nil {
				m.Close()
				t.Fatalf("Run succeeded, want an error containing %q", tc.want)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(cmdline.OneLine(msg), "\n") || strings.Contains(msg, "goroutine") || strings.Contains(msg, "hunter2") {
				t.Errorf("Run = %q, want one line containing %q", msg, tc.want)
			}
			if err := m.Close(); err != nil {
				t.Errorf("Close after a failed Run: %v", err)
			}
		})
	}
}

// TestCommandLine checks the command line itself: dispatch, usage errors
// (exit status 2), help and the environment.
func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args      []string
		wantUsage bool   // a usage error (exit 2)
		wantErr   string // else an error containing this, or none
		wantOut   string
	}{
		{args: []string{"help"}, wantOut: "Operator commands"},
		{args: []string{"-h"}, wantOut: "Operator commands"},
		{args: []string{"frobnicate"}, wantUsage: true, wantErr: `unknown command "frobnicate"`},
		{args: []string{"agent"}, wantUsage: true, wantErr: "agent needs a command: add"},
		{args: []string{"agent", "delete"}, wantUsage: true, wantErr: `unknown command "agent delete"`},
		{args: []string{"agent", "add", "--phone", "0712000001"}, wantUsage: true, wantErr: "--phone and --name are required"},
		{args: []string{"agent", "add", "--bogus"}, wantUsage: true, wantErr: "flag provided but not defined: -bogus"},
		{args: []string{"agent", "add", "-h"}, wantOut: "Usage: kibubu agent add --phone P --name N"},
		{args: []string{"float", "issue", "--agent", "1", "--amount", "5"}, wantUsage: true, wantErr: "--agent, --amount and --ref are required"},
		{args: []string{"float", "issue", "-h"}, wantOut: "-amount amount"},
		{args: []string{"merchant", "add", "-h"}, wantOut: "-paybill"},
		{args: []string{"account", "show"}, wantUsage: true, wantErr: "needs one argument"},
		{args: []string{"account", "show", "1", "2"}, wantUsage: true, wantErr: "needs one argument"},
		{args: []string{"account", "freeze", "-h"}, wantOut: "Freeze an account"},
		{args: []string{"account", "unfreeze", "-h"}, wantOut: "Reactivate"},
		{args: []string{"pin", "reset", "-h"}, wantOut: "Clear the PIN"},
		{args: []string{"tariff", "show", "-h"}, wantOut: "tier limits"},
		{args: []string{"ledger", "check", "-h"}, wantOut: "Verify every ledger invariant"},
		{args: []string{"tariff", "show", "extra"}, wantUsage: true, wantErr: "takes no arguments"},
		{args: []string{"serve", "-h"}, wantOut: "-nats-listen"},
		{args: []string{"serve", "extra"}, wantUsage: true, wantErr: "takes no arguments"},
		{args: []string{"--pin-length", "four"}, wantUsage: true, wantErr: `invalid value "four" for flag -pin-length`},
		{args: []string{"wallet", "-h"}, wantOut: "kibubu wallet --nats URL"},
		{args: []string{"tariff", "show", "--data", dir}, wantErr: "no server found: " + filepath.Join(dir, natsserver.InfoFile) + " does not exist"},
		{args: []string{"ledger", "check", "--nats", "nats://127.0.0.1:1"}, wantErr: "cannot reach the server at nats://127.0.0.1:1"},
		{args: []string{"ledger", "check", "--nats-creds", "x.creds", "--data", dir}, wantErr: "--nats-creds is for an external NATS"},
		{args: []string{"serve", "--data", dir, "--currency", "XYZ"}, wantErr: `--currency: "XYZ" is not a currency`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, err := cli(t, tc.args...)
			var u *cmdline.UsageError
			isUsage := errors.As(err, &u)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got error %v, want one containing %q", err, tc.wantErr)
			case isUsage != tc.wantUsage:
				t.Errorf("got usage error %v, want %v", isUsage, tc.wantUsage)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("got output %q, want %q in it", out, tc.wantOut)
			}
		})
	}
}

func TestEnv(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{name: "defaults", want: DefaultConfig()},
		{name: "env sets", env: map[string]string{"KIBUBU_DATA": "/srv/k", "KIBUBU_PIN_TRIES": "5", "KIBUBU_NATS_LISTEN": "127.0.0.1:4333"},
			want: func() Config {
				c := DefaultConfig()
				c.Data, c.PINTries, c.NATSListen = "/srv/k", 5, "127.0.0.1:4333"
				return c
			}()},
		{name: "flag wins", args: []string{"--data", "/flag"}, env: map[string]string{"KIBUBU_DATA": "/env"},
			want: func() Config { c := DefaultConfig(); c.Data = "/flag"; return c }()},
		{name: "bad env value", env: map[string]string{"KIBUBU_PIN_LENGTH": "four"}, wantErr: `KIBUBU_PIN_LENGTH="four": not a valid value for --pin-length`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := DefaultConfig()
			fs := newTestFlagSet(&got)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := cmdline.ApplyEnv(fs, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("applyEnv = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tc.want)
			if err != nil || string(gotJSON) != string(wantJSON) {
				t.Errorf("got %s, %v\nwant %s", gotJSON, err, wantJSON)
			}
		})
	}
	if got := cmdline.EnvName("nats-creds"); got != "KIBUBU_NATS_CREDS" {
		t.Errorf("cmdline.EnvName(nats-creds) = %s, want KIBUBU_NATS_CREDS", got)
	}
}

// TestWalletOnExternalNATS runs the production shape, `kibubu wallet`,
// against the NATS named by KIBUBU_TEST_NATS, under a subject prefix of its
// own so that other tests' wallets on that server never answer it.
func TestWalletOnExternalNATS(t *testing.T) {
	url := os.Getenv("KIBUBU_TEST_NATS")
	if url == "" {
		t.Skip("KIBUBU_TEST_NATS is not set")
	}
	c := testConfig(t, storetest.DSN(t))
	c.NATS = url
	c.NATSPrefix = fmt.Sprintf("t%d", time.Now().UnixNano()) // private subjects and stream on a shared server
	m := startMain(t, &Main{Config: c, Role: RoleWallet})
	if m.nats != nil || m.NATSURL() != url {
		t.Fatalf("wallet role runs NATS embedded (%v) or on %s, want %s", m.nats != nil, m.NATSURL(), url)
	}
	if _, err := os.Stat(filepath.Join(c.Data, natsserver.InfoFile)); err == nil {
		t.Errorf("wallet role wrote %s; only the embedded NATS has one", natsserver.InfoFile)
	}
	testServing(t, m, "--nats", url, "--nats-prefix", c.NATSPrefix)
	if _, err := cli(t, "ledger", "check", "--nats", url); err == nil || !strings.Contains(err.Error(), "unavailable") {
		t.Errorf("ledger check without the prefix: %v, want unavailable (no wallet on the unprefixed subjects)", err)
	}
}

// TestDataDirLocked checks that a second server on a data dir in use stops
// with a clear message, and that the dir is free again after Close.
func TestDataDirLocked(t *testing.T) {
	embeddedOnly(t)
	cfg := testConfig(t, "")
	m := startMain(t, &Main{Config: cfg})
	second := &Main{Config: cfg, Log: slog.New(slog.DiscardHandler)}
	if err := second.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "another kibubu is already serving from this directory") {
		t.Errorf("second Run on the same data dir = %v, want it refused", err)
	}
	second.Close()
	if code, _ := get(t, "http://"+m.HTTPAddr()+"/readyz"); code != http.StatusOK {
		t.Errorf("the first server's /readyz = %d after the second failed, want 200", code)
	}
	if out, err := cli(t, "ledger", "check", "--data", cfg.Data); err != nil || !strings.Contains(out, "ledger ok") {
		t.Errorf("ledger check on the first server = %q, %v; nats.json must still name it", out, err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	startMain(t, &Main{Config: cfg})
}

// TestReadyzReportsNATSDown checks that /readyz fails, naming NATS, once
// the NATS connection is gone while HTTP still serves.
func TestReadyzReportsNATSDown(t *testing.T) {
	embeddedOnly(t)
	m := startMain(t, &Main{Config: testConfig(t, "")})
	m.Conn().Close()
	code, body := get(t, "http://"+m.HTTPAddr()+"/readyz")
	if code != http.StatusServiceUnavailable || body != `{"status":"unavailable","failed":["nats"]}` {
		t.Errorf("GET /readyz with NATS closed = %d %s, want 503 naming nats", code, body)
	}
	if code, _ := get(t, "http://"+m.HTTPAddr()+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", code)
	}
}

// embeddedOnly marks a test that runs on the embedded default (in-process
// NATS, SQLite in a temporary data dir) whatever KIBUBU_TEST_POSTGRES and
// KIBUBU_TEST_NATS say. The second pass of .ci/run exists to run the tests
// again on PostgreSQL and an external NATS; it sets
// KIBUBU_TEST_BACKENDS_ONLY so that such a test, which the first pass ran,
// is not run a second time unchanged.
func embeddedOnly(t *testing.T) {
	t.Helper()
	if os.Getenv("KIBUBU_TEST_BACKENDS_ONLY") != "" {
		t.Skip("runs on the embedded default only; the first pass of .ci/run ran it")
	}
}
