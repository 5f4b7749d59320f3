package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kibubu/kibubu/notify/twilio"

	"github.com/kibubu/kibubu/notify"

	"golang.org/x/time/rate"

	"github.com/kibubu/kibubu/notify/twiliotest"
)

// smsTimeout and smsLease keep the tests fast while leaving the loopback
// calls of a loaded machine plenty of time: a call that times out anyway
// only slows a test down, it does not change what is sent.
const (
	smsTimeout = time.Second
	smsLease   = 1200 * time.Millisecond
	smsWait    = 30 * time.Second // a test's whole run at most
)

func smsTwilio(t testing.TB, fake *twiliotest.Server) *twilio.Provider {
	t.Helper()
	tw, err := twilio.New(twilio.Config{AccountSID: fake.AccountSID, AuthToken: fake.AuthToken, From: "+15005550006",
		APIURL: fake.URL, Timeout: smsTimeout})
	if err != nil {
		t.Fatal(err)
	}
	return tw
}

// smsResults counts what a Sender observed.
type smsResults struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *smsResults) observe(provider, result string, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[result]++
}

func (r *smsResults) get(result string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[result]
}

// await waits until result was observed n times, or smsWait has passed:
// a row is settled in the database before its sender reports it.
func (r *smsResults) await(result string, n int) int {
	deadline := time.Now().Add(smsWait)
	for r.get(result) < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return r.get(result)
}

func (r *smsResults) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.n)
}

// smsConfig is a Sender's config for tests: no rate limits, millisecond
// backoffs.
func smsConfig(st *Store, p notify.Provider, res *smsResults) SenderConfig {
	cfg := SenderConfig{Store: st, Provider: p, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		RatePerSecond: math.Inf(1), PhoneRatePerSecond: math.Inf(1), BackoffMin: 2 * time.Millisecond,
		BackoffMax: 20 * time.Millisecond, Lease: smsLease, PollInterval: 20 * time.Millisecond}
	if res != nil {
		cfg.Observe = res.observe
	}
	return cfg
}

// smsRun runs a Sender until the test ends.
func smsRun(t testing.TB, cfg SenderConfig) *Sender {
	t.Helper()
	s, err := NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runUntilEnd(t, s.Run)
	return s
}

// runUntilEnd runs run on its own goroutine until the test ends, then
// stops it and waits for it; an error it returns fails the test.
func runUntilEnd(t testing.TB, run func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
}

// smsSettled waits until no row is pending or sending, and returns them all.
func smsSettled(t testing.TB, st *Store) []notify.Stored {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(smsWait)
	for {
		b, err := st.Backlog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b.Pending+b.Sending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d pending, %d sending after %v", b.Pending, b.Sending, smsWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
	rows, err := st.List(ctx, Filter{Limit: listRowsMax})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// smsCheckOnce checks that every row the provider took is at the fake
// exactly once, with the row's sid, and that no other row reached it.
func smsCheckOnce(t *testing.T, fake *twiliotest.Server, rows []notify.Stored) {
	t.Helper()
	bodies := map[string][]twiliotest.Message{}
	for _, m := range fake.Messages() {
		bodies[m.Body] = append(bodies[m.Body], m)
	}
	for _, r := range rows {
		got := bodies[r.Text]
		if r.Status == notify.StatusFailed {
			if len(got) != 0 {
				t.Errorf("%s failed (%s) but reached twilio %d times", r.Key, r.LastError, len(got))
			}
			continue
		}
		if len(got) != 1 || got[0].SID != r.ProviderID || got[0].To != r.To || r.Provider != notify.ProviderTwilio {
			t.Errorf("%s: %s %s at twilio %d times (%+v), want once", r.Key, r.Status, r.ProviderID, len(got), got)
		}
	}
}

func TestOutboxSender(t *testing.T) {
	ctx := context.Background()
	st := smsStore(t, smsDB(t))
	var res smsResults
	smsRun(t, smsConfig(st, notify.Outbox{}, &res))
	var out []notify.Outgoing
	for i := range 20 {
		out = append(out, smsOut(fmt.Sprint("o", i), fmt.Sprint("+2547000000", 10+i%4), fmt.Sprint("text ", i)))
	}
	if _, err := st.Record(ctx, out); err != nil {
		t.Fatal(err)
	}
	rows := smsSettled(t, st)
	for _, r := range rows {
		if r.Status != notify.StatusSent || r.Provider != notify.ProviderOutbox || r.ProviderID != fmt.Sprint("outbox-", r.ID) ||
			r.Attempts != 1 || r.Sent.IsZero() {
			t.Errorf("got %+v, want sent to the outbox in one attempt", r)
		}
	}
	phone, err := st.List(ctx, Filter{Provider: notify.ProviderOutbox, Phone: "+254700000011"})
	if err != nil || len(phone) != 5 {
		t.Errorf("got %d rows for one phone, %v; want 5", len(phone), err)
	}
	if res.await(ResultSent, 20) != 20 {
		t.Errorf("observed %v, want 20 sent", &res)
	}
}

func TestTwilioSender(t *testing.T) {
	const rowsN = 6
	cases := []struct {
		name        string
		attemptsMax int
		setup       func(fake *twiliotest.Server)
		during      func(t *testing.T, fake *twiliotest.Server, st *Store) // while the Sender runs, before settling
		wantFailed  int
		wantCode    string // of the failed rows
		wantErr     string // in their LastError
		wantResults map[string]int
	}{
		{name: "ok", wantResults: map[string]int{ResultSent: rowsN}},
		{name: "503 then up", setup: func(f *twiliotest.Server) { f.FailNext(3, 503, twiliotest.CodeServiceUnavailable) },
			wantResults: map[string]int{ResultRetry: 3, ResultSent: rowsN}},
		{name: "429", setup: func(f *twiliotest.Server) { f.FailNext(2, 429, twiliotest.CodeTooManyRequests) },
			wantResults: map[string]int{ResultRetry: 2, ResultSent: rowsN}},
		{name: "500 maybe sent", setup: func(f *twiliotest.Server) { f.FailNext(2, 500, twiliotest.CodeInternal) },
			wantResults: map[string]int{ResultDoubt: 2, ResultSent: rowsN}},
		{name: "answer lost", setup: func(f *twiliotest.Server) { f.DropNext(2) },
			wantResults: map[string]int{ResultDoubt: 2, ResultReconciled: 2, ResultSent: rowsN - 2}},
		{name: "outage", setup: func(f *twiliotest.Server) { f.SetOutage(503) },
			during: func(t *testing.T, f *twiliotest.Server, st *Store) {
				// Let the outage cost some attempts, then end it.
				for f.Requests().Creates < 3 {
					time.Sleep(time.Millisecond)
				}
				f.SetOutage(0)
			}, wantResults: map[string]int{ResultSent: rowsN}},
		{name: "invalid number", setup: func(f *twiliotest.Server) { f.FailNext(1, 400, twiliotest.CodeInvalidTo) },
			wantFailed: 1, wantCode: "21211", wantResults: map[string]int{ResultFailed: 1, ResultSent: rowsN - 1}},
		{name: "stop", setup: func(f *twiliotest.Server) { f.Unsubscribe("+254700000102") },
			wantFailed: 2, wantCode: "21610", wantResults: map[string]int{ResultFailed: 2, ResultSent: rowsN - 2}},
		{name: "out of attempts", attemptsMax: 3,
			setup:      func(f *twiliotest.Server) { f.FailNext(3*rowsN, 503, twiliotest.CodeServiceUnavailable) },
			wantFailed: rowsN, wantCode: "20503", wantErr: "3 attempts",
			wantResults: map[string]int{ResultRetry: 2 * rowsN, ResultFailed: rowsN}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			fake := twiliotest.New(twiliotest.Config{})
			defer fake.Close()
			if tc.setup != nil {
				tc.setup(fake)
			}
			st := smsStore(t, smsDB(t))
			var out []notify.Outgoing
			for i := range rowsN {
				out = append(out, smsOut(fmt.Sprint("t", i), fmt.Sprint("+25470000010", i%3), fmt.Sprint("receipt ", i)))
			}
			if _, err := st.Record(ctx, out); err != nil {
				t.Fatal(err)
			}
			var res smsResults
			cfg := smsConfig(st, smsTwilio(t, fake), &res)
			cfg.AttemptsMax = tc.attemptsMax
			smsRun(t, cfg)
			if tc.during != nil {
				tc.during(t, fake, st)
			}
			rows := smsSettled(t, st)
			smsCheckOnce(t, fake, rows)
			failed, err := st.List(ctx, Filter{Status: notify.StatusFailed, Provider: notify.ProviderTwilio})
			if err != nil {
				t.Fatal(err)
			}
			if len(failed) != tc.wantFailed {
				t.Fatalf("got %d failed, want %d", len(failed), tc.wantFailed)
			}
			for _, r := range failed {
				if r.ErrorCode != tc.wantCode || !strings.Contains(r.LastError, tc.wantErr) || r.LastError == "" {
					t.Errorf("got %s failed with %q code %q, want code %q, error with %q", r.Key, r.LastError,
						r.ErrorCode, tc.wantCode, tc.wantErr)
				}
			}
			for _, r := range rows {
				if r.Status != notify.StatusFailed && (r.Status != notify.StatusQueued || r.Sent.IsZero()) {
					t.Errorf("got %s %s, want queued", r.Key, r.Status)
				}
			}
			for result, want := range tc.wantResults {
				if got := res.get(result); got != want {
					t.Errorf("observed %v, want %d %s", &res, want, result)
				}
			}
			if got := res.get(ResultLost); got != 0 {
				t.Errorf("observed %d lost", got)
			}
		})
	}
}

// TestReconcile starts from a Sender that died after its claim: the row is
// sending and its lease has run out. Whoever picks it up next must send it
// only if Twilio does not have it.
func TestReconcile(t *testing.T) {
	cases := []struct {
		name string
		// atTwilio sends the row to the fake before the crash, and sets the
		// status the fake then reports ("" for queued, with no date sent).
		atTwilio bool
		status   string
		twin     bool // an earlier row with the same phone and text was sent
		// newer is how many other messages the phone got after the crash,
		// still queued (no date sent): more than the latest page holds.
		newer      int
		wantResult string
	}{
		{name: "at twilio, queued", atTwilio: true, wantResult: ResultReconciled},
		{name: "at twilio, queued, behind pages of newer", atTwilio: true, newer: 2*twilio.ListPageSize + 10,
			wantResult: ResultReconciled},
		{name: "at twilio, delivered", atTwilio: true, status: "delivered", wantResult: ResultReconciled},
		{name: "not at twilio", wantResult: ResultSent},
		{name: "not at twilio, its twin is", twin: true, wantResult: ResultSent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			fake := twiliotest.New(twiliotest.Config{})
			defer fake.Close()
			st := smsStore(t, smsDB(t))
			tw := smsTwilio(t, fake)
			const phone, text = "+254700000200", "Your balance is KES 10.00"
			if tc.twin {
				if _, err := st.Record(ctx, []notify.Outgoing{smsOut("twin", phone, text)}); err != nil {
					t.Fatal(err)
				}
				rows, _ := st.claim(ctx, 1, time.Minute)
				acc, err := tw.Send(ctx, rows[0].stored())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := st.apply(ctx, []outcome{{row: &rows[0], status: acc.Status, provider: notify.ProviderTwilio,
					providerID: acc.ID}}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.Record(ctx, []notify.Outgoing{smsOut("crashed", phone, text)}); err != nil {
				t.Fatal(err)
			}
			rows, err := st.claim(ctx, 1, time.Hour)
			if err != nil || len(rows) != 1 {
				t.Fatal(rows, err)
			}
			wantSID := ""
			if tc.atTwilio {
				acc, err := tw.Send(ctx, rows[0].stored())
				if err != nil {
					t.Fatal(err)
				}
				wantSID = acc.ID
				if tc.status != "" {
					if err := fake.Deliver(ctx, acc.ID, tc.status, 0); err != nil {
						t.Fatal(err)
					}
				}
			}
			for i := range tc.newer {
				if _, err := tw.Send(ctx, notify.Stored{To: phone, Text: fmt.Sprintf("Other message %d", i)}); err != nil {
					t.Fatal(err)
				}
			}
			// The Sender died here, before recording anything.
			smsExpire(t, st)
			var res smsResults
			smsRun(t, smsConfig(st, tw, &res))
			all := smsSettled(t, st)
			got, _ := st.List(ctx, Filter{Key: "crashed"})
			r := got[0]
			if tc.twin {
				// Same text twice: each row has its own message.
				twin, _ := st.List(ctx, Filter{Key: "twin"})
				sids := map[string]bool{}
				for _, m := range fake.Messages() {
					sids[m.SID] = true
				}
				if r.ProviderID == twin[0].ProviderID || !sids[r.ProviderID] || !sids[twin[0].ProviderID] {
					t.Errorf("got sids %s and twin's %s, want two distinct at twilio", r.ProviderID, twin[0].ProviderID)
				}
			} else {
				smsCheckOnce(t, fake, all)
			}
			if wantSID != "" && r.ProviderID != wantSID {
				t.Errorf("got sid %s, want the one sent before the crash, %s", r.ProviderID, wantSID)
			}
			if res.get(tc.wantResult) != 1 || r.InDoubt || r.Attempts != 2 {
				t.Errorf("observed %v, row %+v; want one %s, in 2 attempts", &res, r, tc.wantResult)
			}
			wantAtTwilio := 1 + tc.newer
			if tc.twin {
				wantAtTwilio = 2
			}
			if n := len(fake.Messages()); n != wantAtTwilio {
				t.Errorf("twilio has %d messages, want %d", n, wantAtTwilio)
			}
		})
	}
}

func TestReconcileOutage(t *testing.T) {
	// Twilio is down when a row in doubt comes up: it stays in doubt, then
	// is checked and sent once Twilio is back.
	ctx := context.Background()
	fake := twiliotest.New(twiliotest.Config{})
	defer fake.Close()
	st := smsStore(t, smsDB(t))
	if _, err := st.Record(ctx, []notify.Outgoing{smsOut("k", "+254700000300", "hello")}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.claim(ctx, 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	smsExpire(t, st)
	fake.SetOutage(500)
	var res smsResults
	cfg := smsConfig(st, smsTwilio(t, fake), &res)
	cfg.Lease = smsTimeout + 50*time.Millisecond
	smsRun(t, cfg)
	for res.get(ResultDoubt) == 0 {
		time.Sleep(time.Millisecond)
	}
	if n := len(fake.Messages()); n != 0 {
		t.Fatalf("sent %d in an outage", n)
	}
	fake.SetOutage(0)
	rows := smsSettled(t, st)
	smsCheckOnce(t, fake, rows)
	if rows[0].Status != notify.StatusQueued {
		t.Errorf("got %+v, want queued", rows[0])
	}
}

func TestPhoneRate(t *testing.T) {
	// One phone gets 3 messages at 5 a second, burst 1; five others one
	// each. With one send at a time, the busy phone must not hold them up.
	ctx := context.Background()
	st := smsStore(t, smsDB(t))
	var out []notify.Outgoing
	for i := range 3 {
		out = append(out, smsOut(fmt.Sprint("busy", i), "+254700000400", fmt.Sprint("busy ", i)))
	}
	for i := range 5 {
		out = append(out, smsOut(fmt.Sprint("other", i), fmt.Sprint("+25470000041", i), "other"))
	}
	if _, err := st.Record(ctx, out); err != nil {
		t.Fatal(err)
	}
	var res smsResults
	cfg := smsConfig(st, notify.Outbox{}, &res)
	cfg.Concurrency = 1
	cfg.PhoneRatePerSecond, cfg.PhoneBurst = 5, 1
	smsRun(t, cfg)
	rows := smsSettled(t, st)
	var busy []time.Time
	var lastOther time.Time
	for _, r := range rows {
		if r.Attempts != 1 {
			t.Errorf("%s: %d attempts, want 1: throttling is no attempt", r.Key, r.Attempts)
		}
		if strings.HasPrefix(r.Key, "busy") {
			busy = append(busy, r.Sent)
		} else if r.Sent.After(lastOther) {
			lastOther = r.Sent
		}
	}
	first, last := busy[0], busy[0]
	for _, b := range busy {
		first, last = smsTimeMin(first, b), smsTimeMax(last, b)
	}
	if spread := last.Sub(first); spread < 300*time.Millisecond {
		t.Errorf("the busy phone's 3 messages went out within %v, want 400ms at 5 a second", spread)
	}
	if !lastOther.Before(last) {
		t.Errorf("the other phones' last message went at %v, after the busy phone's last at %v", lastOther, last)
	}
	if res.get(ResultThrottled) == 0 {
		t.Errorf("observed %v, want some throttled", &res)
	}
}

func smsTimeMin(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func smsTimeMax(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func TestOverallRate(t *testing.T) {
	// 10 messages at 20 a second, burst 2: about 400 ms at least.
	ctx := context.Background()
	st := smsStore(t, smsDB(t))
	var out []notify.Outgoing
	for i := range 10 {
		out = append(out, smsOut(fmt.Sprint("r", i), fmt.Sprint("+2547000005", 10+i), "x"))
	}
	cfg := smsConfig(st, notify.Outbox{}, nil)
	cfg.RatePerSecond, cfg.Burst = 20, 2
	start := time.Now()
	smsRun(t, cfg)
	if _, err := st.Record(ctx, out); err != nil {
		t.Fatal(err)
	}
	smsSettled(t, st)
	if took := time.Since(start); took < 350*time.Millisecond {
		t.Errorf("10 messages at 20 a second took %v", took)
	}
}

func TestTwoSenders(t *testing.T) {
	// Two notifier processes on one database, each with its own pool and
	// Sender, and one Twilio: every row reaches Twilio exactly once.
	ctx := context.Background()
	fake := twiliotest.New(twiliotest.Config{})
	defer fake.Close()
	fake.SetDelay(time.Millisecond)
	dsn := smsDB(t)
	a, b := smsStore(t, dsn), smsStore(t, dsn)
	var resA, resB smsResults
	for _, s := range []struct {
		st  *Store
		res *smsResults
	}{{a, &resA}, {b, &resB}} {
		cfg := smsConfig(s.st, smsTwilio(t, fake), s.res)
		cfg.Concurrency = 4
		smsRun(t, cfg)
	}
	const n = 200
	for i := 0; i < n; i += 20 {
		var out []notify.Outgoing
		for j := i; j < i+20; j++ {
			out = append(out, smsOut(fmt.Sprint("k", j), fmt.Sprint("+2547000006", 10+j%50), fmt.Sprint("text ", j)))
		}
		st := a
		if i%40 == 20 {
			st = b
		}
		if _, err := st.Record(ctx, out); err != nil {
			t.Fatal(err)
		}
	}
	rows := smsSettled(t, a)
	if len(rows) != n {
		t.Fatalf("got %d rows, want %d", len(rows), n)
	}
	smsCheckOnce(t, fake, rows)
	if got := len(fake.Messages()); got != n {
		t.Errorf("twilio got %d messages, want %d", got, n)
	}
	// On a loaded machine a lease may run out before its outcome is
	// written: the other Sender then finds the message at Twilio and
	// records it as reconciled, and the first one's outcome is lost. Each
	// row is recorded once, either way.
	recorded := resA.get(ResultSent) + resB.get(ResultSent) + resA.get(ResultReconciled) + resB.get(ResultReconciled)
	if recorded != n {
		t.Errorf("observed %v and %v, want %d sent or reconciled in all", &resA, &resB, n)
	}
	t.Logf("sent by a: %d, by b: %d", resA.get(ResultSent), resB.get(ResultSent))
}

func TestNewSender(t *testing.T) {
	st := &Store{}
	tw, err := twilio.New(twilio.Config{AccountSID: "AC1", AuthToken: "t", From: "+15005550006",
		Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		cfg     SenderConfig
		wantErr bool
	}{
		{"defaults", SenderConfig{Store: st, Provider: tw}, false},
		{"no store", SenderConfig{Provider: tw}, true},
		{"no provider", SenderConfig{Store: st}, true},
		{"lease within the timeout", SenderConfig{Store: st, Provider: tw, Lease: 5 * time.Second}, true},
		{"negative rate", SenderConfig{Store: st, Provider: tw, RatePerSecond: -1}, true},
		{"backoff max below min", SenderConfig{Store: st, Provider: tw, BackoffMin: time.Minute, BackoffMax: time.Second}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSender(tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("got %v, want error %v", err, tc.wantErr)
			}
			if err == nil && (s.lease != leaseDefault || s.attemptsMax != attemptsMaxDefault || s.concurrency != concurrencyDefault) {
				t.Errorf("got lease %v, %d attempts, %d concurrency", s.lease, s.attemptsMax, s.concurrency)
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	s := &Sender{backoffMin: time.Second, backoffMax: 10 * time.Second}
	cases := []struct {
		attempt int
		lo, hi  time.Duration
	}{
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{3, 2 * time.Second, 4 * time.Second},
		{5, 5 * time.Second, 10 * time.Second},
		{50, 5 * time.Second, 10 * time.Second},
	}
	for _, tc := range cases {
		for range 100 {
			if d := s.retryDelay(tc.attempt); d < tc.lo || d > tc.hi {
				t.Fatalf("attempt %d: got %v, want %v to %v", tc.attempt, d, tc.lo, tc.hi)
			}
		}
	}
}

func TestPhoneLimitsBounded(t *testing.T) {
	p := &phoneLimits{every: 1, burst: 1, max: 100, m: map[string]*rate.Limiter{}}
	now := time.Now()
	for i := range 1000 {
		p.reserve(fmt.Sprint("+2547", i), now)
	}
	if len(p.m) > 100 {
		t.Errorf("got %d limiters, want at most 100", len(p.m))
	}
	// A phone just limited keeps its limiter while idle ones are dropped.
	later := now.Add(time.Hour)
	p.reserve("+254799", later)
	p.reserve("+254798", later.Add(10*time.Millisecond))
	if _, ok := p.m["+254799"]; !ok || len(p.m) > 100 {
		t.Errorf("got %d limiters, want at most 100 with the busy one", len(p.m))
	}
}

func TestTwilioErrors(t *testing.T) {
	// The classification, through twilio-go and the fake.
	fake := twiliotest.New(twiliotest.Config{})
	defer fake.Close()
	tw := smsTwilio(t, fake)
	bad, err := twilio.New(twilio.Config{AccountSID: fake.AccountSID, AuthToken: "wrong", From: "+15005550006",
		APIURL: fake.URL, Timeout: smsTimeout})
	if err != nil {
		t.Fatal(err)
	}
	down, err := twilio.New(twilio.Config{AccountSID: fake.AccountSID, AuthToken: fake.AuthToken, From: "+15005550006",
		APIURL: "http://127.0.0.1:1", Timeout: smsTimeout})
	if err != nil {
		t.Fatal(err)
	}
	slow, err := twilio.New(twilio.Config{AccountSID: fake.AccountSID, AuthToken: fake.AuthToken, From: "+15005550006",
		APIURL: fake.URL, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		tw        *twilio.Provider
		setup     func()
		to        string
		permanent bool
		maybe     bool
		code      string
	}{
		{"invalid number", tw, nil, "+1", true, false, "21211"},
		{"stop", tw, func() { fake.Unsubscribe("+254700000700") }, "+254700000700", true, false, "21610"},
		{"credentials", bad, nil, "+254700000701", false, false, "20003"},
		{"429", tw, func() { fake.FailNext(1, 429, twiliotest.CodeTooManyRequests) }, "+254700000702", false, false, "20429"},
		{"503", tw, func() { fake.FailNext(1, 503, twiliotest.CodeServiceUnavailable) }, "+254700000703", false, false, "20503"},
		{"500", tw, func() { fake.FailNext(1, 500, twiliotest.CodeInternal) }, "+254700000704", false, true, "20500"},
		{"connection refused", down, nil, "+254700000705", false, false, ""},
		{"answer lost", tw, func() { fake.DropNext(1) }, "+254700000706", false, true, ""},
		{"timeout", slow, func() { fake.SetDelay(200 * time.Millisecond) }, "+254700000707", false, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			defer fake.SetDelay(0)
			_, err := tc.tw.Send(context.Background(), notify.Stored{To: tc.to, Text: "hi"})
			se, ok := err.(*notify.SendError)
			if !ok {
				t.Fatalf("got %T %v, want a *SendError", err, err)
			}
			if se.Permanent != tc.permanent || se.MaybeSent != tc.maybe || se.Code != tc.code {
				t.Fatalf("got permanent %v maybe %v code %q (%v), want %v %v %q", se.Permanent, se.MaybeSent,
					se.Code, err, tc.permanent, tc.maybe, tc.code)
			}
		})
	}
}

func TestTwilioConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  twilio.Config
		ok   bool
	}{
		{"from", twilio.Config{AccountSID: "AC1", AuthToken: "t", From: "+15005550006"}, true},
		{"service", twilio.Config{AccountSID: "AC1", AuthToken: "t", MessagingServiceSID: "MG1"}, true},
		{"no sender", twilio.Config{AccountSID: "AC1", AuthToken: "t"}, false},
		{"no token", twilio.Config{AccountSID: "AC1", From: "+1"}, false},
		{"token with symbols", twilio.Config{AccountSID: "AC1", AuthToken: "a-b", From: "+1"}, false},
		{"relative callback", twilio.Config{AccountSID: "AC1", AuthToken: "t", From: "+1", StatusCallback: "/sms/status"}, false},
		{"bad api url", twilio.Config{AccountSID: "AC1", AuthToken: "t", From: "+1", APIURL: "localhost:8080"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := twilio.New(tc.cfg); (err == nil) != tc.ok {
				t.Fatalf("got %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestTwilioServiceAndCallback(t *testing.T) {
	// Through a messaging service, with a status callback and an API URL
	// with a path prefix (an egress proxy's).
	fake := twiliotest.New(twiliotest.Config{})
	defer fake.Close()
	target, _ := url.Parse(fake.URL)
	proxy := httptest.NewServer(http.StripPrefix("/twilio", httputil.NewSingleHostReverseProxy(target)))
	defer proxy.Close()
	srv := proxy.URL
	tw, err := twilio.New(twilio.Config{AccountSID: fake.AccountSID, AuthToken: fake.AuthToken,
		MessagingServiceSID: "MG" + strings.Repeat("a", 32), StatusCallback: "https://kibubu.example/sms/status",
		APIURL: srv + "/twilio/", Timeout: smsTimeout})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := tw.Send(context.Background(), notify.Stored{To: "+254700000800", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	ms := fake.Messages()
	if len(ms) != 1 || ms[0].SID != acc.ID || acc.Status != notify.StatusAccepted || ms[0].From != "" ||
		ms[0].StatusCallback != "https://kibubu.example/sms/status" {
		t.Errorf("got %+v, %+v", acc, ms)
	}
}

func TestOutagePause(t *testing.T) {
	// During an outage the Sender pauses: the rows it holds are put back
	// without an attempt, so an outage costs a few probes, not an attempt
	// of every row each backoff. Every attempt counted is one request.
	ctx := context.Background()
	fake := twiliotest.New(twiliotest.Config{})
	defer fake.Close()
	st := smsStore(t, smsDB(t))
	const n = 40
	var out []notify.Outgoing
	for i := range n {
		out = append(out, smsOut(fmt.Sprint("p", i), fmt.Sprint("+2547000009", 10+i), fmt.Sprint("text ", i)))
	}
	if _, err := st.Record(ctx, out); err != nil {
		t.Fatal(err)
	}
	fake.SetOutage(503)
	var res smsResults
	cfg := smsConfig(st, smsTwilio(t, fake), &res)
	cfg.Concurrency, cfg.BackoffMin, cfg.BackoffMax = 2, 50*time.Millisecond, 100*time.Millisecond
	smsRun(t, cfg)
	time.Sleep(300 * time.Millisecond)
	fake.SetOutage(0)
	rows := smsSettled(t, st)
	smsCheckOnce(t, fake, rows)
	attempts := 0
	for _, r := range rows {
		attempts += r.Attempts
	}
	creates := fake.Requests().Creates
	if attempts != creates {
		t.Errorf("got %d attempts counted, %d requests made", attempts, creates)
	}
	if failed := creates - n; failed > n/2 {
		t.Errorf("the outage cost %d failed requests for %d rows, want at most %d", failed, n, n/2)
	}
	t.Logf("%d failed requests, observed %v", creates-n, &res)
}

func TestStop(t *testing.T) {
	// Stopping a Sender mid-send: the calls in flight finish and are
	// recorded, the rows it held are put back, nothing is left sending.
	ctx := context.Background()
	fake := twiliotest.New(twiliotest.Config{})
	defer fake.Close()
	fake.SetDelay(200 * time.Millisecond)
	st := smsStore(t, smsDB(t))
	var out []notify.Outgoing
	for i := range 10 {
		out = append(out, smsOut(fmt.Sprint("s", i), fmt.Sprint("+2547000008", 10+i), fmt.Sprint("text ", i)))
	}
	if _, err := st.Record(ctx, out); err != nil {
		t.Fatal(err)
	}
	cfg := smsConfig(st, smsTwilio(t, fake), nil)
	cfg.Concurrency = 2
	s, err := NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	for fake.Requests().Creates < 2 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(smsWait):
		t.Fatal("run did not return")
	}
	b, err := st.Backlog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	queued, _ := st.List(ctx, Filter{Status: notify.StatusQueued})
	sent := len(fake.Messages())
	if b.Sending != 0 || len(queued) != sent || b.Pending != 10-sent || sent == 0 {
		t.Errorf("got %+v, %d queued, %d at twilio; want none sending, every one at twilio queued", b, len(queued), sent)
	}
	all, _ := st.List(ctx, Filter{})
	for _, r := range all {
		if r.Status == notify.StatusPending && r.Attempts != 0 {
			t.Errorf("%s put back with %d attempts, want 0", r.Key, r.Attempts)
		}
	}
}
