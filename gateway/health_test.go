package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

func TestHealth(t *testing.T) {
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("connection refused") }
	hangs := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	tests := []struct {
		name       string
		path       string
		checks     Checks
		wantStatus int
		wantBody   string
	}{
		{"healthz with failing checks", "/healthz", Checks{"nats": down}, 200, `{"status":"ok"}`},
		{"readyz all pass", "/readyz", Checks{"nats": ok, "database": ok}, 200, `{"status":"ok"}`},
		{"readyz no checks", "/readyz", nil, 200, `{"status":"ok"}`},
		{"readyz one fails", "/readyz", Checks{"nats": ok, "database": down}, 503, `{"status":"unavailable","failed":["database"]}`},
		{"readyz both fail, sorted", "/readyz", Checks{"nats": down, "database": down}, 503, `{"status":"unavailable","failed":["database","nats"]}`},
		{"readyz check times out", "/readyz", Checks{"database": hangs, "nats": ok}, 503, `{"status":"unavailable","failed":["database"]}`},
		{"unknown path", "/nope", nil, 404, `{"message":"Not Found"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log := slog.New(slog.DiscardHandler)
			e := New(log)
			MountHealth(e, tc.checks, log)
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			got := strings.TrimSpace(rec.Body.String())
			if rec.Code != tc.wantStatus || got != tc.wantBody {
				t.Errorf("GET %s = %d %s, want %d %s", tc.path, rec.Code, got, tc.wantStatus, tc.wantBody)
			}
			if rec.Header().Get("X-Request-Id") == "" {
				t.Errorf("no X-Request-Id in the response")
			}
		})
	}
}

func TestReadyzBoundedByTimeout(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	e := New(log)
	// A check that ignores its context must not hold the probe.
	block := make(chan struct{})
	defer close(block)
	MountHealth(e, Checks{"stuck": func(context.Context) error { <-block; return nil }}, log)
	start := time.Now()
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if elapsed := time.Since(start); rec.Code != 503 || elapsed > readyCheckTimeout+time.Second {
		t.Errorf("GET /readyz = %d after %s, want 503 within %s", rec.Code, elapsed, readyCheckTimeout)
	}
}

// The request log must carry the request, never its body or query string
// (USSD callbacks carry PINs in both).
func TestRequestLogOmitsBodyAndQuery(t *testing.T) {
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := New(log)
	e.POST("/ussd", func(c echo.Context) error {
		b, _ := io.ReadAll(c.Request().Body)
		return c.String(http.StatusOK, "CON len "+string(rune('0'+len(b)%10)))
	})
	req := httptest.NewRequest(http.MethodPost, "/ussd?text=1*4321", strings.NewReader("sessionId=1&text=1*2*9876"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Request-Id", "req-42")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	out := logged.String()
	for _, secret := range []string{"9876", "4321", "text="} {
		if strings.Contains(out, secret) {
			t.Errorf("request log %q contains %q", out, secret)
		}
	}
	for _, want := range []string{"path=/ussd", "status=200", "request_id=req-42", "method=POST"} {
		if !strings.Contains(out, want) {
			t.Errorf("request log %q lacks %q", out, want)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	e := New(log)
	e.POST("/sms", func(c echo.Context) error {
		if _, err := io.ReadAll(c.Request().Body); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	})
	tests := []struct {
		name string
		size int
		want int
	}{
		{"small", 100, http.StatusNoContent},
		{"at the limit", RequestBodyBytesMax, http.StatusNoContent},
		{"over the limit", RequestBodyBytesMax + 1, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/sms", bytes.NewReader(make([]byte, tc.size))))
			if rec.Code != tc.want {
				t.Errorf("POST %d bytes = %d, want %d", tc.size, rec.Code, tc.want)
			}
		})
	}
}

func TestRecoverPanics(t *testing.T) {
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	e := New(log)
	e.GET("/boom", func(c echo.Context) error { panic("boom") })
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/boom", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("GET /boom = %d, want 500", rec.Code)
	}
	if !strings.Contains(logged.String(), "http handler panicked") {
		t.Errorf("panic not logged: %q", logged.String())
	}
}

func TestNewServerTimeouts(t *testing.T) {
	s := NewServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": s.ReadHeaderTimeout, "ReadTimeout": s.ReadTimeout,
		"WriteTimeout": s.WriteTimeout, "IdleTimeout": s.IdleTimeout,
	} {
		if d <= 0 {
			t.Errorf("%s = %s, want it set", name, d)
		}
	}
	if s.MaxHeaderBytes <= 0 {
		t.Errorf("MaxHeaderBytes = %d, want it set", s.MaxHeaderBytes)
	}
}

func TestHealthJSON(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	e := New(log)
	MountHealth(e, nil, log)
	srv := httptest.NewServer(e)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got healthReply
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Status != "ok" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /healthz = %+v (%s), want status ok as application/json", got, resp.Header.Get("Content-Type"))
	}
}
