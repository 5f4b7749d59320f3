package main

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a log a test reads while the server writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Finding 3 (high), USSD half: a server listening on a non-loopback
// address refuses to start without aggregator authentication, through the
// command line as an operator starts it, unless
// --ussd-allow-unauthenticated says otherwise, and then warns on every
// start. On loopback (go run .) nothing needs setting.
func TestSecurityOpenByDefaultUSSD(t *testing.T) {
	embeddedOnly(t)
	refusals := []struct {
		name string
		args []string
	}{
		{"every interface, no --ussd-auth", []string{"--http", "0.0.0.0:0"}},
		{"an empty host is every interface", []string{"--http", ":0"}},
		{"an aggregator without secret or allow-list", []string{"--http", "0.0.0.0:0", "--ussd-auth", "africastalking:"}},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			_, err := cli(t, append([]string{"serve", "--data", t.TempDir()}, r.args...)...)
			if err == nil || !strings.Contains(err.Error(), "--ussd-auth") || !strings.Contains(err.Error(), "--ussd-allow-unauthenticated") {
				t.Fatalf("kibubu serve %s = %v, want a refusal naming --ussd-auth and --ussd-allow-unauthenticated", strings.Join(r.args, " "), err)
			}
		})
	}

	for _, tc := range []struct {
		name     string
		change   func(c *Config)
		wantWarn bool
	}{
		{"loopback, no set-up", func(c *Config) {}, false},
		{"every interface, the development flag", func(c *Config) { c.HTTP, c.USSDAllowUnauthenticated = "0.0.0.0:0", true }, true},
		{"every interface, every aggregator authenticated", func(c *Config) {
			c.HTTP = "0.0.0.0:0"
			c.USSDAuth = "africastalking:secret=0123456789abcdef0123456789abcdef;hubtel:allow=196.201.214.0/24;nalo:secret=fedcba9876543210fedcba9876543210"
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "")
			tc.change(&cfg)
			cfg.MetricsListen = "127.0.0.1:0"
			var log syncBuffer
			startMain(t, &Main{Config: cfg, Log: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn}))})
			warned := strings.Contains(log.String(), "--ussd-allow-unauthenticated")
			if warned != tc.wantWarn {
				t.Errorf("warned %v, want %v; log:\n%s", warned, tc.wantWarn, log.String())
			}
		})
	}
}

// Finding 3 (high), webhook half: the merchant webhook address guard is on
// unless --webhook-allow-private turns it off, also on a development
// server without a public URL: a merchant cannot point deliveries at
// loopback, private or link-local addresses.
func TestSecurityOpenByDefaultWebhookGuard(t *testing.T) {
	embeddedOnly(t)
	receiver := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer receiver.Close()
	for _, tc := range []struct {
		name  string
		allow bool
		url   string
		want  int
	}{
		{"loopback refused by default", false, receiver.URL + "/hook", http.StatusBadRequest},
		{"link-local (cloud metadata) refused by default", false, "http://169.254.169.254/latest", http.StatusBadRequest},
		{"private refused by default", false, "http://10.1.2.3/hook", http.StatusBadRequest},
		{"loopback with --webhook-allow-private", true, receiver.URL + "/hook", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "")
			cfg.WebhookAllowPrivate = tc.allow
			m := startMain(t, &Main{Config: cfg})
			api := merchantKey(t, m, cfg.Data)
			code, out, _, raw := api.call(http.MethodPut, "/v1/webhooks", `{"url":"`+tc.url+`"}`, "")
			if code != tc.want {
				t.Fatalf("PUT /v1/webhooks %s = %d %s, want %d", tc.url, code, raw, tc.want)
			}
			if code != http.StatusOK {
				if e, _ := out["error"].(map[string]any); e["code"] != "invalid_request" {
					t.Errorf("refusal %s, want the error shape with code invalid_request", raw)
				}
			}
		})
	}
}

// merchantKey opens a merchant on m and returns its API with a key of
// every scope.
func merchantKey(t *testing.T, m *Main, data string) *merchantAPI {
	t.Helper()
	out, err := cli(t, "merchant", "add", "--phone", "0700000009", "--name", "Mama Mboga Shop", "--data", data)
	till := regexp.MustCompile(`^till (\d+) opened`).FindStringSubmatch(out)
	if err != nil || till == nil {
		t.Fatalf("merchant add: %q %v", out, err)
	}
	out, err = cli(t, "apikey", "create", "--merchant", till[1], "--scopes", "all", "--data", data)
	lines := strings.Split(out, "\n")
	if err != nil || len(lines) < 2 || !strings.HasPrefix(lines[1], "kbk_") {
		t.Fatalf("apikey create: %q %v", out, err)
	}
	return &merchantAPI{t: t, base: "http://" + m.HTTPAddr(), key: lines[1]}
}

// Finding "low: /metrics open to anyone who reaches the HTTP port": a
// server on a non-loopback address serves /metrics only on its own
// listener (--metrics-listen, loopback by default); on loopback, for
// development, the HTTP port serves it too.
func TestSecurityMetricsNotOnPublicListener(t *testing.T) {
	embeddedOnly(t)
	cfg := testConfig(t, "")
	cfg.HTTP, cfg.USSDAllowUnauthenticated, cfg.MetricsListen = "0.0.0.0:0", true, "127.0.0.1:0"
	m := startMain(t, &Main{Config: cfg})
	_, port, _ := strings.Cut(m.HTTPAddr(), "]:")
	if port == "" {
		port = m.HTTPAddr()[strings.LastIndex(m.HTTPAddr(), ":")+1:]
	}
	if code, _ := get(t, "http://127.0.0.1:"+port+"/metrics"); code != http.StatusNotFound {
		t.Errorf("GET /metrics on the public listener = %d, want 404", code)
	}
	if code, _ := get(t, "http://127.0.0.1:"+port+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz on the public listener = %d, want 200", code)
	}
	if code, body := get(t, "http://"+m.MetricsAddr()+"/metrics"); code != http.StatusOK || !strings.Contains(body, "kibubu_wallet_transfers_total") {
		t.Errorf("GET /metrics on --metrics-listen = %d, want 200 with the wallet's counters", code)
	}

	dev := startMain(t, &Main{Config: testConfig(t, "")})
	if code, _ := get(t, "http://"+dev.HTTPAddr()+"/metrics"); code != http.StatusOK {
		t.Errorf("GET /metrics on a loopback server = %d, want 200", code)
	}
}
