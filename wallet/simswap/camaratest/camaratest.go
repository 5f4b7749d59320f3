// Package camaratest is a fake of a mobile network's CAMARA SIM Swap API
// for tests: POST /sim-swap/v2/check and /sim-swap/v2/retrieve-date in the
// API's JSON shapes, behind its own OAuth2 client-credentials token
// endpoint (POST /oauth2/token), with failures to inject: a delay (slow),
// HTTP 500s, an outage (the listener closed: down), and tokens that the API
// stops taking before they say they expire (token expired).
//
// Set a phone's latest SIM change with SetSwap. Everything is in memory and
// safe for concurrent use; nothing here talks to a real network.
package camaratest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

const (
	// TokenPath is the fake's OAuth2 token endpoint.
	TokenPath = "/oauth2/token"
	// TokenTTL is the lifetime a token's expires_in announces.
	TokenTTL = time.Hour
	// bodyBytesMax bounds a request body.
	bodyBytesMax = 4 << 10
)

// phonePattern is CAMARA's phoneNumber pattern.
var phonePattern = regexp.MustCompile(`^\+[1-9][0-9]{4,14}$`)

// Server is a fake network. Create it with New; Close it when done.
type Server struct {
	*httptest.Server
	ClientID, ClientSecret string

	mu       sync.Mutex
	now      func() time.Time
	changes  map[string]time.Time // phone → latest SIM change
	tokens   map[string]bool      // issued and still taken
	delay    time.Duration
	fail     int // the next API calls to answer 500
	calls    map[string]int
	tokensIn int // tokens issued
}

// New starts a fake with a random client id and secret. now, if not nil,
// is the fake's clock (for ages); default time.Now.
func New(now func() time.Time) *Server {
	if now == nil {
		now = time.Now
	}
	s := &Server{ClientID: "kibubu-" + randomHex(4), ClientSecret: randomHex(16), now: now,
		changes: map[string]time.Time{}, tokens: map[string]bool{}, calls: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// TokenURL is the fake's token endpoint.
func (s *Server) TokenURL() string { return s.URL + TokenPath }

// SetSwap records that phone's SIM last changed at t.
func (s *Server) SetSwap(phone string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changes[phone] = t
}

// SetDelay makes every request wait d (or until the client gives up)
// before it is answered: a slow network.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// FailNext makes the next n API calls (not token requests) answer 500.
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = n
}

// ExpireTokens makes the API refuse (401) every token issued so far, as a
// network does with a token revoked or expired earlier than announced.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// Down closes the fake's listener: every call fails to connect.
func (s *Server) Down() { s.Server.Close() }

// Calls returns how many API calls reached path (CheckPath,
// RetrieveDatePath) with a valid token.
func (s *Server) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// TokensIssued returns how many tokens the fake issued.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokensIn
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	// Read the body first: the server notices a client that gave up only
	// once it has (and then cancels r's context).
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, bodyBytesMax))
	if err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "request body too large")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.mu.Lock()
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "POST only")
		return
	}
	switch r.URL.Path {
	case TokenPath:
		s.token(w, r)
	case "/sim-swap/v2/check", "/sim-swap/v2/retrieve-date":
		s.api(w, r)
	default:
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such path")
	}
}

// token answers a client-credentials grant, with the client's id and
// secret in HTTP basic auth or in the form, as RFC 6749 allows.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, bodyBytesMax)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != s.ClientID || secret != s.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	tok := randomHex(16)
	s.mu.Lock()
	s.tokens[tok] = true
	s.tokensIn++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(TokenTTL / time.Second)})
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	valid := ok && s.tokens[tok]
	fail := s.fail > 0
	if valid {
		s.calls[r.URL.Path]++
		if fail {
			s.fail--
		}
	}
	s.mu.Unlock()
	if !valid {
		writeError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request not authenticated due to missing, invalid, or expired credentials.")
		return
	}
	if fail {
		writeError(w, http.StatusInternalServerError, "INTERNAL", "Server error")
		return
	}
	var q struct {
		PhoneNumber string `json:"phoneNumber"`
		MaxAge      *int   `json:"maxAge"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, bodyBytesMax))
	if err != nil || json.Unmarshal(body, &q) != nil {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Client specified an invalid argument, request body or query param.")
		return
	}
	if !phonePattern.MatchString(q.PhoneNumber) {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "phoneNumber is not in E.164")
		return
	}
	s.mu.Lock()
	latest, known := s.changes[q.PhoneNumber]
	now := s.now()
	s.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "/check") {
		ageMax := 240
		if q.MaxAge != nil {
			ageMax = *q.MaxAge
		}
		if ageMax < 1 || ageMax > 2400 {
			writeError(w, http.StatusBadRequest, "OUT_OF_RANGE", "maxAge is out of range")
			return
		}
		swapped := known && now.Sub(latest) < time.Duration(ageMax)*time.Hour
		writeJSON(w, http.StatusOK, map[string]bool{"swapped": swapped})
		return
	}
	if !known {
		writeJSON(w, http.StatusOK, map[string]any{"latestSimChange": nil, "monitoredPeriod": 120})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"latestSimChange": latest.UTC().Format(time.RFC3339)})
}

// WriteConfig writes, in dir, a client secret file and a SIM-swap
// configuration file (simswap.Config, TOML) for a network served by s
// covering every number under prefix (e.g. "+2547"), checking transfers
// above above (major units), and returns the configuration's path. extra
// is TOML added before the network (e.g. `cache_ttl = "-1s"`).
func (s *Server) WriteConfig(dir, prefix, above, extra string) (string, error) {
	secret := filepath.Join(dir, "camara.secret")
	if err := os.WriteFile(secret, []byte(s.ClientSecret+"\n"), 0o600); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "simswap.toml")
	file := fmt.Sprintf(`# The SIM-swap gate against camaratest's fake network.
above = %q
max_age = "72h"
timeout = "2s"
%s
[[network]]
name = "fake"
base_url = %q
token_url = %q
client_id = %q
client_secret_file = %q
prefixes = [%q]
`, above, extra, s.URL, s.TokenURL(), s.ClientID, secret, prefix)
	return path, os.WriteFile(path, []byte(file), 0o600)
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"status": status, "code": code, "message": message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
