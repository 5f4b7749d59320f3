package merchantapi_test

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
)

var pepper = []byte("0123456789abcdef0123456789abcdef")

var phoneN atomic.Int64

func newPhone() string { return fmt.Sprintf("+2547%08d", 30000000+phoneN.Add(1)) }

// testLogger writes the service's logs to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
