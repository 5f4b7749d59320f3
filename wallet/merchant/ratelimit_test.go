package merchant_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// frozenClock stands still until the test moves it: the window edges are
// tested to the second.
type frozenClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *frozenClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *frozenClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// The limits the tests use: small, so that the edges are few steps away.
var testPromptLimits = func(c *merchant.Config) {
	c.PromptsPerPhone = merchant.PromptLimit{Max: 3, Window: 10 * time.Minute}
	c.PromptsPerPair = merchant.PromptLimit{Max: 2, Window: 10 * time.Minute}
	c.PromptsPerMerchant = merchant.PromptLimit{Max: 4, Window: time.Minute}
}

// TestSecurityPromptsRateLimited: a merchant's payment requests and tabs
// (each prompts the customer) are limited per customer phone across
// merchants, per merchant and customer, and per merchant, in sliding
// windows: at the edge a prompt still counts one second before its window
// ends and no longer at the end. A refused creation leaves nothing behind,
// and an Idempotency-Key replay of an earlier creation still replays.
func TestSecurityPromptsRateLimited(t *testing.T) {
	clock := &frozenClock{now: time.Now().UTC().Truncate(time.Second)}
	f := newMerchantFixtureOn(t, storetest.DSN(t), func(c *merchant.Config) {
		testPromptLimits(c)
		c.Now = clock.Now
	})
	merchants := map[string]merchant.Principal{}
	for _, m := range []string{"A", "B", "C", "D", "E"} {
		merchants[m] = f.merchant("Duka "+m, false)
	}
	customers := map[string]string{}
	for i := range 8 {
		customers[fmt.Sprint("c", i)] = f.customer(0)
	}
	n := 0
	create := func(m, c string, tab bool) (string, error) {
		n++
		idem := fmt.Sprint("rl-", n)
		if tab {
			tb, err := f.s.OpenTab(f.ctx, merchants[m], idem, customers[c], 1_000_000, false, clock.Now().Add(24*time.Hour), "T1", "")
			if err != nil {
				return "", err
			}
			return tb.ID, nil
		}
		r, err := f.s.RequestPayment(f.ctx, merchants[m], idem, customers[c], 100, "R1", "")
		if err != nil {
			return "", err
		}
		return r.ID, nil
	}
	steps := []struct {
		name       string
		advance    time.Duration
		merchant   string
		customer   string
		tab        bool
		code       wallet.Code
		retryAfter int64
	}{
		// Per pair (2 in 10 minutes): a request and a tab count together.
		{name: "pair first", merchant: "A", customer: "c0"},
		{name: "pair second is a tab", merchant: "A", customer: "c0", tab: true},
		{name: "pair third refused", merchant: "A", customer: "c0", code: wallet.CodeRateLimited, retryAfter: 600},
		{name: "pair a second before the window ends", advance: 10*time.Minute - time.Second, merchant: "A", customer: "c0", tab: true, code: wallet.CodeRateLimited, retryAfter: 1},
		{name: "pair at the window's end", advance: time.Second, merchant: "A", customer: "c0"},
		// Per phone (3 in 10 minutes, from any merchant).
		{name: "phone from A", merchant: "A", customer: "c1"},
		{name: "phone from B", merchant: "B", customer: "c1"},
		{name: "phone from C later", advance: time.Minute, merchant: "C", customer: "c1", tab: true},
		{name: "phone from D refused", merchant: "D", customer: "c1", code: wallet.CodeRateLimited, retryAfter: 540},
		{name: "phone a second before", advance: 9*time.Minute - time.Second, merchant: "D", customer: "c1", code: wallet.CodeRateLimited, retryAfter: 1},
		{name: "phone at the window's end", advance: time.Second, merchant: "D", customer: "c1"},
		{name: "phone third again", merchant: "B", customer: "c1"},
		{name: "phone full again", merchant: "A", customer: "c1", code: wallet.CodeRateLimited, retryAfter: 60},
		// Per merchant (4 a minute, to anyone).
		{name: "merchant 1", advance: 20 * time.Minute, merchant: "E", customer: "c2"},
		{name: "merchant 2", merchant: "E", customer: "c3"},
		{name: "merchant 3", advance: 30 * time.Second, merchant: "E", customer: "c4", tab: true},
		{name: "merchant 4", merchant: "E", customer: "c5"},
		{name: "merchant 5 refused", merchant: "E", customer: "c6", code: wallet.CodeRateLimited, retryAfter: 30},
		{name: "merchant a second before", advance: 29 * time.Second, merchant: "E", customer: "c6", code: wallet.CodeRateLimited, retryAfter: 1},
		{name: "merchant at the window's end", advance: time.Second, merchant: "E", customer: "c6"},
		{name: "merchant fourth again", merchant: "E", customer: "c7"},
		{name: "merchant full again", merchant: "E", customer: "c3", code: wallet.CodeRateLimited, retryAfter: 30},
		{name: "other merchant to that customer", merchant: "A", customer: "c7"},
	}
	for _, s := range steps {
		clock.Add(s.advance)
		requests, tabs, events := f.countRows("payment_requests"), f.countRows("tabs"), f.countRows("outbox_events")
		id, err := create(s.merchant, s.customer, s.tab)
		if got := wallet.ErrorCode(err); got != s.code {
			t.Fatalf("%s: error %v (code %q), want code %q", s.name, err, got, s.code)
		}
		if s.code == "" {
			continue
		}
		var we *wallet.Error
		if !errors.As(err, &we) || we.RetryAfter != s.retryAfter {
			t.Fatalf("%s: %#v, want retry after %d s", s.name, err, s.retryAfter)
		}
		if id != "" || f.countRows("payment_requests") != requests || f.countRows("tabs") != tabs || f.countRows("outbox_events") != events {
			t.Fatalf("%s: a refused creation left something behind", s.name)
		}
	}

	// A replay of an earlier creation replays, limited or not, and is not
	// counted again.
	r, err := f.s.RequestPayment(f.ctx, merchants["B"], "replayed", customers["c0"], 100, "R1", "")
	f.must(err)
	tb, err := f.s.OpenTab(f.ctx, merchants["B"], "replayed-tab", customers["c0"], 1_000_000, false, clock.Now().Add(24*time.Hour), "T1", "")
	f.must(err)
	_, err = create("B", "c0", false)
	wantCode(t, err, wallet.CodeRateLimited) // the pair B, c0 is full
	for range 3 {
		again, err := f.s.RequestPayment(f.ctx, merchants["B"], "replayed", customers["c0"], 100, "R1", "")
		if err != nil || again.ID != r.ID {
			t.Fatalf("replay: %+v, %v; want %s", again, err, r.ID)
		}
		tagain, err := f.s.OpenTab(f.ctx, merchants["B"], "replayed-tab", customers["c0"], 1_000_000, false, tb.Expires, "T1", "")
		if err != nil || tagain.ID != tb.ID {
			t.Fatalf("tab replay: %+v, %v; want %s", tagain, err, tb.ID)
		}
	}
}

func (f *merchantFixture) countRows(table string) int64 {
	f.t.Helper()
	var n int64
	f.must(f.st.Gorm().Table(table).Count(&n).Error)
	return n
}

// TestSecurityPromptLimitTwoProcesses: two wallet processes on one database
// creating payment requests to one phone at once make no more than the
// limit between them.
func TestSecurityPromptLimitTwoProcesses(t *testing.T) {
	dsn := storetest.DSN(t)
	a := newMerchantFixtureOn(t, dsn, testPromptLimits)
	b := newMerchantFixtureOn(t, dsn, testPromptLimits)
	phone := a.customer(0)
	var ms []merchant.Principal
	for i := range 4 {
		ms = append(ms, a.merchant(fmt.Sprint("Duka ", i), false))
	}
	const tries = 16
	var wg sync.WaitGroup
	errs := make([]error, tries)
	for i := range tries {
		s := a.s
		if i%2 == 1 {
			s = b.s
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.RequestPayment(a.ctx, ms[i%len(ms)], fmt.Sprint("k", i), phone, 100, "R1", "")
		}()
	}
	wg.Wait()
	made := 0
	for _, err := range errs {
		switch wallet.ErrorCode(err) {
		case "":
			made++
		case wallet.CodeRateLimited:
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
	var rows int64
	a.must(a.st.Gorm().Table("payment_requests").Where("phone = ?", phone).Count(&rows).Error)
	if made != 3 || rows != 3 {
		t.Fatalf("%d requests made (%d rows) to one phone by two processes; the limit is 3", made, rows)
	}
}
