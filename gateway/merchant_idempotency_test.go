package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsapi/natstest"
)

// idemRig is the idempotency layer on a real JetStream bucket, in front of
// a handler that answers what its body asks and counts its calls.
type idemRig struct {
	e     *echo.Echo
	kv    jetstream.KeyValue
	calls atomic.Int64
	// release unblocks the handler of a {"block":true} request.
	release chan struct{}
	started chan struct{}
	mu      sync.Mutex
	now     time.Time
}

// idemAsk is what the test handler is asked to answer.
type idemAsk struct {
	Status int         `json:"status"`
	Code   wallet.Code `json:"code,omitempty"` // answer a wallet error with this code
	Block  bool        `json:"block,omitempty"`
	Note   string      `json:"note,omitempty"`
}

func newIdemRig(t *testing.T) *idemRig {
	t.Helper()
	ns := natstest.Start(t)
	js, err := jetstream.New(ns.Connect())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kv, err := EnsureIdempotencyBucket(ctx, js, ns.Prefix, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { js.DeleteKeyValue(context.Background(), IdempotencyBucket+"_"+ns.Prefix) })
	r := &idemRig{kv: kv, release: make(chan struct{}), started: make(chan struct{}, 4), now: time.Now()}
	log := slog.New(slog.DiscardHandler)
	m := &merchantServer{idem: &idempotency{kv: kv, now: r.clock, log: log}}
	r.e = New(log)
	shapeErrors(r.e)
	asMerchant := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Set(principalKey, &merchant.Principal{KeyID: "kbk_1", Merchant: c.Request().Header.Get("X-Merchant"), Scopes: merchant.MerchantScopes})
			return next(c)
		}
	}
	handle := func(c echo.Context) error {
		r.calls.Add(1)
		var ask idemAsk
		if err := decodeBody(c, &ask); err != nil {
			return err
		}
		if ask.Block {
			r.started <- struct{}{}
			<-r.release
		}
		if ask.Code != "" {
			return wallet.Errorf(ask.Code, "asked for %s", ask.Code)
		}
		return c.JSON(ask.Status, map[string]any{"key": idempotencyKeyOf(c), "call": r.calls.Load(), "note": ask.Note})
	}
	for _, p := range []string{"/v1/things", "/v1/others"} {
		r.e.POST(p, handle, BodyLimit(jsonBodyBytesMax), asMerchant, m.idempotent(bodyJSON, 0))
	}
	return r
}

func (r *idemRig) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now
}

func (r *idemRig) advance(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now = r.now.Add(d)
}

// post sends body to path as merchant with the Idempotency-Key key.
func (r *idemRig) post(path, merchant, key, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("X-Merchant", merchant)
	req.Header.Set("X-Request-Id", "req-1")
	if key != "" {
		req.Header.Set(HeaderIdempotencyKey, key)
	}
	rec := httptest.NewRecorder()
	r.e.ServeHTTP(rec, req)
	return rec
}

func ask(status int, code wallet.Code) string {
	b, _ := json.Marshal(idemAsk{Status: status, Code: code})
	return string(b)
}

// errorCode returns the code of an API error body, "" for another body.
func errorCode(body []byte) wallet.Code {
	var e errorBody
	json.Unmarshal(body, &e)
	return e.Error.Code
}

func TestIdempotencyReplay(t *testing.T) {
	type step struct {
		path, merchant, key, body string
		wantStatus                int
		wantCode                  wallet.Code
		wantReplay                bool
		wantCalls                 int64 // the handler's calls after the step
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a final answer is replayed", []step{
			{"/v1/things", "111", "k1", ask(201, ""), 201, "", false, 1},
			{"/v1/things", "111", "k1", ask(201, ""), 201, "", true, 1},
			{"/v1/things", "111", "k1", ask(201, ""), 201, "", true, 1},
		}},
		{"another body is a conflict", []step{
			{"/v1/things", "111", "k1", ask(201, ""), 201, "", false, 1},
			{"/v1/things", "111", "k1", ask(200, ""), 422, wallet.CodeConflict, false, 1},
			{"/v1/things", "111", "k1", ask(201, "") + " ", 422, wallet.CodeConflict, false, 1},
		}},
		{"another path is a conflict", []step{
			{"/v1/things", "111", "k1", ask(201, ""), 201, "", false, 1},
			{"/v1/others", "111", "k1", ask(201, ""), 422, wallet.CodeConflict, false, 1},
		}},
		{"keys are per merchant", []step{
			{"/v1/things", "111", "k1", ask(201, ""), 201, "", false, 1},
			{"/v1/things", "222", "k1", ask(201, ""), 201, "", false, 2},
			{"/v1/things", "222", "k1", ask(201, ""), 201, "", true, 2},
		}},
		{"a refusal is final", []step{
			{"/v1/things", "111", "k1", ask(0, wallet.CodeInsufficientFunds), 422, wallet.CodeInsufficientFunds, false, 1},
			{"/v1/things", "111", "k1", ask(0, wallet.CodeInsufficientFunds), 422, wallet.CodeInsufficientFunds, true, 1},
		}},
		{"a bad request is final", []step{
			{"/v1/things", "111", "k1", `{"status":201,"x":1}`, 400, wallet.CodeInvalid, false, 1},
			{"/v1/things", "111", "k1", `{"status":201,"x":1}`, 400, wallet.CodeInvalid, true, 1},
		}},
		{"unavailable is forgotten", []step{
			{"/v1/things", "111", "k1", ask(0, wallet.CodeUnavailable), 503, wallet.CodeUnavailable, false, 1},
			{"/v1/things", "111", "k1", ask(0, wallet.CodeUnavailable), 503, wallet.CodeUnavailable, false, 2},
		}},
		{"an internal error is forgotten", []step{
			{"/v1/things", "111", "k1", ask(0, wallet.CodeInternal), 500, wallet.CodeInternal, false, 1},
			{"/v1/things", "111", "k1", ask(0, wallet.CodeInternal), 500, wallet.CodeInternal, false, 2},
		}},
		{"a state conflict is forgotten", []step{
			{"/v1/things", "111", "k1", ask(0, wallet.CodeInvalidState), 409, wallet.CodeInvalidState, false, 1},
			{"/v1/things", "111", "k1", ask(0, wallet.CodeInvalidState), 409, wallet.CodeInvalidState, false, 2},
		}},
		{"no key", []step{
			{"/v1/things", "111", "", ask(201, ""), 400, wallet.CodeInvalid, false, 0},
		}},
		{"a key too long", []step{
			{"/v1/things", "111", strings.Repeat("k", idempotencyKeyBytesMax+1), ask(201, ""), 400, wallet.CodeInvalid, false, 0},
		}},
		{"a key with a space", []step{
			{"/v1/things", "111", "a b", ask(201, ""), 400, wallet.CodeInvalid, false, 0},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newIdemRig(t)
			first := map[string]*httptest.ResponseRecorder{} // by merchant: its first answer
			for i, s := range tc.steps {
				rec := r.post(s.path, s.merchant, s.key, s.body)
				replayed := rec.Header().Get(HeaderIdempotentReplayed) == "true"
				code := errorCode(rec.Body.Bytes())
				if rec.Code != s.wantStatus || code != s.wantCode || replayed != s.wantReplay || r.calls.Load() != s.wantCalls {
					t.Errorf("step %d: %d %s replayed=%v calls=%d %s, want %d %s replayed=%v calls=%d",
						i, rec.Code, code, replayed, r.calls.Load(), rec.Body, s.wantStatus, s.wantCode, s.wantReplay, s.wantCalls)
				}
				f := first[s.merchant]
				if s.wantReplay && (rec.Body.String() != f.Body.String() || rec.Header().Get("Content-Type") != f.Header().Get("Content-Type")) {
					t.Errorf("step %d: replay %q (%s), want the first answer %q (%s)", i, rec.Body, rec.Header().Get("Content-Type"),
						f.Body, f.Header().Get("Content-Type"))
				}
				if f == nil {
					first[s.merchant] = rec
				}
			}
		})
	}
}

func TestIdempotencyInFlight(t *testing.T) {
	r := newIdemRig(t)
	blocked := `{"status":201,"block":true}`
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- r.post("/v1/things", "111", "k1", blocked) }()
	<-r.started
	dup := r.post("/v1/things", "111", "k1", blocked)
	if dup.Code != http.StatusConflict || errorCode(dup.Body.Bytes()) != wallet.CodeInFlight || dup.Header().Get("Retry-After") != "1" {
		t.Errorf("duplicate in flight = %d %s (Retry-After %q), want 409 in_flight with Retry-After 1", dup.Code, dup.Body, dup.Header().Get("Retry-After"))
	}
	other := r.post("/v1/things", "111", "k1", ask(201, ""))
	if other.Code != http.StatusUnprocessableEntity || errorCode(other.Body.Bytes()) != wallet.CodeConflict {
		t.Errorf("another body in flight = %d %s, want 422 conflict", other.Code, other.Body)
	}
	close(r.release)
	first := <-done
	if first.Code != http.StatusCreated {
		t.Fatalf("first = %d %s, want 201", first.Code, first.Body)
	}
	again := r.post("/v1/things", "111", "k1", blocked)
	if again.Code != http.StatusCreated || again.Body.String() != first.Body.String() || again.Header().Get(HeaderIdempotentReplayed) != "true" {
		t.Errorf("after = %d %s, want the replay of 201 %s", again.Code, again.Body, first.Body)
	}
	if n := r.calls.Load(); n != 1 {
		t.Errorf("the handler ran %d times, want 1", n)
	}
}

// TestIdempotencyTakeover: a record left in flight by a gateway that died
// is taken over once it is older than inFlightTakeover, not before.
func TestIdempotencyTakeover(t *testing.T) {
	tests := []struct {
		name       string
		age        time.Duration
		value      string // the record; an in-flight one of age when empty
		wantStatus int
		wantCalls  int64
	}{
		{"young", inFlightTakeover / 2, "", http.StatusConflict, 0},
		{"old", inFlightTakeover + time.Second, "", http.StatusCreated, 1},
		{"unreadable", 0, "{not json", http.StatusCreated, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newIdemRig(t)
			body := ask(201, "")
			rec := idemRecord{Fingerprint: fingerprint(http.MethodPost, "/v1/things", []byte(body)), Started: r.clock().Add(-tc.age)}
			value, _ := json.Marshal(rec)
			if tc.value != "" {
				value = []byte(tc.value)
			}
			if _, err := r.kv.Create(context.Background(), recordKey("111", "k1"), value); err != nil {
				t.Fatal(err)
			}
			got := r.post("/v1/things", "111", "k1", body)
			if got.Code != tc.wantStatus || r.calls.Load() != tc.wantCalls {
				t.Errorf("POST = %d %s, calls %d, want %d, calls %d", got.Code, got.Body, r.calls.Load(), tc.wantStatus, tc.wantCalls)
			}
		})
	}
}

// TestIdempotencyBucketGone: without its bucket the layer answers 503 and
// the handler does not run (the client retries with the same key).
func TestIdempotencyBucketGone(t *testing.T) {
	ns := natstest.Start(t)
	js, err := jetstream.New(ns.Connect())
	if err != nil {
		t.Fatal(err)
	}
	r := newIdemRig(t)
	kv, err := EnsureIdempotencyBucket(context.Background(), js, ns.Prefix, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue(context.Background(), IdempotencyBucket+"_"+ns.Prefix); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	m := &merchantServer{idem: &idempotency{kv: kv, now: time.Now, log: log}}
	r.e.POST("/v1/gone", func(c echo.Context) error { r.calls.Add(1); return c.NoContent(201) },
		func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				c.Set(principalKey, &merchant.Principal{KeyID: "kbk_1", Merchant: "111"})
				return next(c)
			}
		}, m.idempotent(bodyJSON, 0))
	got := r.post("/v1/gone", "111", "k1", `{}`)
	if got.Code != http.StatusServiceUnavailable || errorCode(got.Body.Bytes()) != wallet.CodeUnavailable || r.calls.Load() != 0 {
		t.Errorf("POST without a bucket = %d %s, calls %d, want 503 unavailable, no call", got.Code, got.Body, r.calls.Load())
	}
}

func TestFinal(t *testing.T) {
	for status, want := range map[int]bool{200: true, 201: true, 202: true, 400: true, 404: true, 413: true, 422: true,
		409: false, 429: false, 500: false, 503: false, 504: false, 0: false} {
		if got := final(status); got != want {
			t.Errorf("final(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestCSVLimit(t *testing.T) {
	tests := []struct {
		payloadMax, want int64
	}{
		{1 << 20, (1<<20 - natsRequestOverheadBytes) / 4 * 3}, // NATS's default: about 765 KB
		{8 << 20, csvBytesMax},
		{csvBytesMax/3*4 + natsRequestOverheadBytes + 4, csvBytesMax},
		{natsRequestOverheadBytes, 0},
		{0, 0},
	}
	for _, tc := range tests {
		got := csvLimit(tc.payloadMax)
		if got != tc.want {
			t.Errorf("csvLimit(%d) = %d, want %d", tc.payloadMax, got, tc.want)
		}
		// What csvLimit allows fits: base64 of it and the overhead.
		if (got+2)/3*4+natsRequestOverheadBytes > max(tc.payloadMax, natsRequestOverheadBytes) {
			t.Errorf("csvLimit(%d) = %d does not fit", tc.payloadMax, got)
		}
	}
}

func TestAuthCache(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	a := newAuthCache(func() time.Time { return now })
	k := func(i int) [32]byte { return [32]byte{byte(i), byte(i >> 8), byte(i >> 16)} }
	p := &merchant.Principal{KeyID: "kbk_1", Merchant: "111"}
	a.put(k(1), p)
	if got := a.get(k(1)); got != p {
		t.Errorf("get = %v, want %v", got, p)
	}
	if got := a.get(k(2)); got != nil {
		t.Errorf("get of another key = %v, want nil", got)
	}
	now = now.Add(authCacheTTL - time.Nanosecond)
	if a.get(k(1)) != p {
		t.Error("forgotten before its TTL")
	}
	now = now.Add(time.Nanosecond)
	if a.get(k(1)) != nil {
		t.Error("kept past its TTL")
	}
	for i := range authCacheMax {
		a.put(k(i), p)
	}
	a.put(k(authCacheMax), p)
	if n := len(a.m); n > authCacheMax {
		t.Errorf("the cache holds %d keys, more than %d", n, authCacheMax)
	}
	if a.get(k(authCacheMax)) != p {
		t.Error("the key put when full is not kept")
	}
}
