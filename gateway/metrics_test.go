package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kibubu/kibubu/wallet"
)

func TestMetrics(t *testing.T) {
	m := NewMetrics()
	e := echo.New()
	MountMetrics(e, m)
	m.ObserveBatch(wallet.BatchStats{Ops: 130, Transfers: 120, Rejections: 4, Duration: 12 * time.Millisecond})
	m.ObserveBatch(wallet.BatchStats{Ops: 2, Duration: time.Second, Failed: true})

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		"kibubu_wallet_transfers_total 120",
		"kibubu_wallet_rejections_total 4",
		"kibubu_wallet_batch_failures_total 1",
		"kibubu_wallet_batch_commands_count 2",
		`kibubu_wallet_batch_commands_bucket{le="128"} 1`,
		"kibubu_wallet_batch_seconds_count 2",
		"go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if rec.Code != http.StatusOK {
		t.Errorf("status %d", rec.Code)
	}
}
