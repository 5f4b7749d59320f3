package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kibubu/kibubu/sessions"
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

func TestUSSDMetrics(t *testing.T) {
	m := NewMetrics()
	e := echo.New()
	MountMetrics(e, m)
	ctx := context.Background()
	for _, c := range []struct {
		screen sessions.Screen
		err    error
	}{
		{sessions.Screen{Text: "menu"}, nil},
		{sessions.Screen{Text: "menu"}, nil},
		{sessions.Screen{Text: "done", End: true}, nil},
		{sessions.Screen{}, sessions.ErrBadHop},
	} {
		u := m.ObserveUSSD(&fakeUSSD{screen: c.screen, err: c.err})
		u.Hop(ctx, sessions.Hop{Aggregator: "hubtel"})
	}
	u := m.ObserveUSSD(&fakeUSSD{})
	u.End(ctx, sessions.End{Aggregator: "africastalking", Status: "Incomplete"})
	u.End(ctx, sessions.End{Aggregator: "africastalking", Status: "1*2580"}) // never a label

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`kibubu_ussd_hops_total{aggregator="hubtel",result="continue"} 2`,
		`kibubu_ussd_hops_total{aggregator="hubtel",result="end"} 1`,
		`kibubu_ussd_hops_total{aggregator="hubtel",result="bad"} 1`,
		`kibubu_ussd_hop_seconds_count{aggregator="hubtel"} 4`,
		`kibubu_ussd_session_ends_total{aggregator="africastalking",status="Incomplete"} 1`,
		`kibubu_ussd_session_ends_total{aggregator="africastalking",status="other"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// No label value holds the input (a runtime gauge's value may hold
	// those digits by chance: only labels are checked).
	if regexp.MustCompile(`="[^"]*2580`).Match(body) {
		t.Error("/metrics shows an input")
	}
}
