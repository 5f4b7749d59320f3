package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// What runUSSDCases and runSMSCases share, after courier's handlertest:
// sending a case's raw request and checking the raw response and the log.

// rawRequest is the request half of a case. ussdCase and smsCase declare
// these fields again rather than embed rawRequest, because the tables'
// keyed literals name them and a literal cannot name a promoted field; the
// cases' request methods gather them.
type rawRequest struct {
	method      string            // POST when empty
	path        string            // the table's path when empty
	query       string            // raw query string, without '?'
	contentType string            // sent as Content-Type when not empty
	header      map[string]string // more request headers
	body        string            // the raw body
	unsized     bool              // send the body without a Content-Length
	remoteAddr  string            // the TCP peer; peerOK when empty
	sends       int               // how many times the request is sent (duplicates); 1 when 0
}

// times is how many times the request is sent: what each call the handler
// makes must be counted against.
func (r rawRequest) times() int { return max(r.sends, 1) }

// target is the request's method and target, given the table's path.
func (r rawRequest) target(path string) (method, target string) {
	method, target = http.MethodPost, path
	if r.method != "" {
		method = r.method
	}
	if r.path != "" {
		target = r.path
	}
	if r.query != "" {
		target += "?" + r.query
	}
	return method, target
}

// send sends the request to h r.times() times and returns the last
// response. more holds headers the harness adds (a signature); the case's
// own headers are set after them, so a case can override any header.
func (r rawRequest) send(h http.Handler, method, target string, more map[string]string) *httptest.ResponseRecorder {
	var rec *httptest.ResponseRecorder
	for range r.times() {
		var body io.Reader = strings.NewReader(r.body)
		if r.unsized {
			body = io.MultiReader(body) // hides the length from NewRequest
		}
		req := httptest.NewRequest(method, target, body)
		req.RemoteAddr = peerOK
		if r.remoteAddr != "" {
			req.RemoteAddr = r.remoteAddr
		}
		if r.contentType != "" {
			req.Header.Set("Content-Type", r.contentType)
		}
		for k, v := range more {
			req.Header.Set(k, v)
		}
		// A fixed id: a random one could hold the PIN's digits.
		req.Header.Set("X-Request-Id", "req-1")
		for k, v := range r.header {
			req.Header.Set(k, v)
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
	}
	return rec
}

// checkResponse checks the status and the body, less echo's trailing
// newline, and the Content-Type when wantContentType is not empty.
func checkResponse(t *testing.T, method, target string, rec *httptest.ResponseRecorder, wantStatus int, wantBody, wantContentType string) {
	t.Helper()
	got := strings.TrimSuffix(rec.Body.String(), "\n")
	if rec.Code != wantStatus || got != wantBody {
		t.Errorf("%s %s = %d %s, want %d %s", method, target, rec.Code, got, wantStatus, wantBody)
	}
	if ct := rec.Header().Get("Content-Type"); wantContentType != "" && ct != wantContentType {
		t.Errorf("Content-Type = %q, want %q", ct, wantContentType)
	}
}

// checkLog checks that the log holds none of secrets and, when wantLog is
// not empty, holds wantLog.
func checkLog(t *testing.T, logged string, secrets []string, wantLog string) {
	t.Helper()
	for _, secret := range secrets {
		if strings.Contains(logged, secret) {
			t.Errorf("log holds %q:\n%s", secret, logged)
		}
	}
	if wantLog != "" && !strings.Contains(logged, wantLog) {
		t.Errorf("log lacks %q:\n%s", wantLog, logged)
	}
}
