package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/labstack/echo/v4"
)

const (
	healthPath = "/healthz"
	readyPath  = "/readyz"
	// readyCheckTimeout bounds each readiness check: a probe that hangs is
	// worse than one that fails, since the orchestrator's own probe timeout
	// (1 s by default in Kubernetes, often raised) would fire first.
	readyCheckTimeout = 2 * time.Second
)

// Checks are the readiness checks, by name (e.g. "nats", "database"). A
// check returns nil when its dependency answers. Checks run concurrently,
// each bounded by readyCheckTimeout.
type Checks map[string]func(context.Context) error

// healthReply is the body of /healthz and /readyz.
type healthReply struct {
	Status string   `json:"status"`           // "ok" or "unavailable"
	Failed []string `json:"failed,omitempty"` // names of the failed checks, sorted
}

// MountHealth mounts GET /healthz, which answers 200 {"status":"ok"} while
// the process serves HTTP, and GET /readyz, which runs checks and answers
// 200 {"status":"ok"} when all pass, else 503 naming the failed checks
// (their errors go to log, not to the caller, as they may name hosts).
func MountHealth(e *echo.Echo, checks Checks, log *slog.Logger) {
	e.GET(healthPath, func(c echo.Context) error {
		return c.JSON(http.StatusOK, healthReply{Status: "ok"})
	})
	e.GET(readyPath, func(c echo.Context) error {
		failed := runChecks(c.Request().Context(), checks, log)
		if len(failed) > 0 {
			return c.JSON(http.StatusServiceUnavailable, healthReply{Status: "unavailable", Failed: failed})
		}
		return c.JSON(http.StatusOK, healthReply{Status: "ok"})
	})
}

// runChecks runs every check and returns the names of those that failed.
// A check that ignores its context and outlives readyCheckTimeout counts
// as failed; the probe does not wait for it.
func runChecks(ctx context.Context, checks Checks, log *slog.Logger) []string {
	ctx, cancel := context.WithTimeout(ctx, readyCheckTimeout)
	defer cancel()
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(checks)) // buffered: a late check never blocks
	for name, check := range checks {
		go func() { results <- result{name, check(ctx)} }()
	}
	pending := map[string]bool{}
	for name := range checks {
		pending[name] = true
	}
	var failed []string
	for len(pending) > 0 {
		select {
		case r := <-results:
			delete(pending, r.name)
			if r.err != nil {
				log.Warn("readiness check failed", "check", r.name, "err", r.err)
				failed = append(failed, r.name)
			}
		case <-ctx.Done():
			for name := range pending {
				log.Warn("readiness check failed", "check", name, "err", "no answer in time")
				failed = append(failed, name)
			}
			pending = nil
		}
	}
	sort.Strings(failed)
	return failed
}
