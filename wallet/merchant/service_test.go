package merchant_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	merchantstore "github.com/kibubu/kibubu/wallet/merchant/store"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// merchantFixture is a real wallet and its merchant services on a real
// store (SQLite, or PostgreSQL when KIBUBU_TEST_POSTGRES is set), with a
// clock the test moves. The merchant services' Run is not started unless
// asked: tests call sweep themselves.
type merchantFixture struct {
	t     testing.TB
	ctx   context.Context
	st    *store.Store // the wallet's
	ms    *merchantstore.Store
	w     *wallet.Service
	s     *merchant.Service
	clock *fixtureClock
	agent string // an agent's phone, with float, PIN fixturePIN
}

const fixturePIN = "2580"

var fixturePepper = []byte("0123456789abcdef0123456789abcdef")

// fixtureClock is real time moved forward by the test.
type fixtureClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *fixtureClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}
func (c *fixtureClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

func newMerchantFixture(t testing.TB) *merchantFixture {
	t.Helper()
	return newMerchantFixtureOn(t, storetest.DSN(t), nil)
}

// newMerchantFixtureOn starts a wallet and merchant services on dsn; cfg,
// if set, adjusts the merchant services' configuration.
func newMerchantFixtureOn(t testing.TB, dsn string, cfg func(*merchant.Config)) *merchantFixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := merchantstore.Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	kes, _ := wallet.LookupCurrency("KES")
	clock := &fixtureClock{}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := wallet.New(ctx, st, wallet.Config{Currency: kes, Region: "KE", Pepper: fixturePepper, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	c := merchant.Config{Now: clock.Now, Logger: quiet, Sweep: 20 * time.Millisecond}
	if cfg != nil {
		cfg(&c)
	}
	s, err := merchant.New(ctx, w, ms, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	f := &merchantFixture{t: t, ctx: context.Background(), st: st, ms: ms, w: w, s: s, clock: clock}
	a, err := w.AddAgent(f.ctx, fixturePhone(), "Float Agent")
	f.must(err)
	_, err = w.SetPINWithStartKey(f.ctx, a.Phone, a.StartKey, "1357")
	f.must(err)
	_, err = w.Transfer(f.ctx, wallet.TransferRequest{Key: "float:" + a.Number, Kind: wallet.TransferFloat, To: a.Number, Amount: 1e12, Reference: "B1"})
	f.must(err)
	f.agent = a.Phone
	return f
}

// run starts the merchant services' Run until the test ends.
func (f *merchantFixture) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.s.Run(ctx); close(done) }()
	f.t.Cleanup(func() { cancel(); <-done })
}

func (f *merchantFixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

var fixturePhones atomic.Int64

func fixturePhone() string { return fmt.Sprintf("+2547%08d", 40000000+fixturePhones.Add(1)) }

// customer opens a fully registered customer with PIN fixturePIN holding
// balance (minor units), and returns its phone.
func (f *merchantFixture) customer(balance int64) string {
	f.t.Helper()
	p := fixturePhone()
	a, err := f.w.Register(f.ctx, p, "Customer "+p[8:], wallet.TierFull, "sw")
	f.must(err)
	_, err = f.w.SetPINWithStartKey(f.ctx, p, a.StartKey, fixturePIN)
	f.must(err)
	if balance > 0 {
		_, err = f.w.Transfer(f.ctx, wallet.TransferRequest{Key: "seed:" + p, Kind: wallet.TransferDeposit, From: f.agent, To: p, Amount: balance, PIN: "1357"})
		f.must(err)
	}
	return p
}

// merchant opens a till (or paybill) and returns a principal for it with
// every merchant scope.
func (f *merchantFixture) merchant(name string, paybill bool) merchant.Principal {
	f.t.Helper()
	a, err := f.w.AddMerchant(f.ctx, fixturePhone(), name, paybill)
	f.must(err)
	k, err := f.s.CreateAPIKey(f.ctx, a.Number, false, merchant.MerchantScopes)
	f.must(err)
	p, err := f.s.Authorize(f.ctx, k.Secret, merchant.ScopePayments)
	f.must(err)
	return p
}

func (f *merchantFixture) balance(numberOrPhone string) int64 {
	f.t.Helper()
	a, err := f.w.Show(f.ctx, numberOrPhone)
	f.must(err)
	return a.Balance
}

// events returns the outbox events of type typ, oldest first.
func (f *merchantFixture) events(typ merchant.EventType) []merchant.OutboxEvent {
	f.t.Helper()
	var payloads [][]byte
	f.must(f.st.Gorm().Table("outbox_events").Where("subject = ?", merchant.Subject(typ)).Order("id").Pluck("payload", &payloads).Error)
	out := make([]merchant.OutboxEvent, len(payloads))
	for i, p := range payloads {
		f.must(json.Unmarshal(p, &out[i]))
	}
	return out
}

// checkLedger fails the test if any ledger invariant is broken.
func (f *merchantFixture) checkLedger() {
	f.t.Helper()
	r, err := f.w.Check(f.ctx)
	f.must(err)
	if !r.OK() {
		f.t.Fatalf("ledger check: %v", r.Violations)
	}
}

// wantCode fails the test unless err has code want ("" for none).
func wantCode(t testing.TB, err error, want wallet.Code) {
	t.Helper()
	if got := wallet.ErrorCode(err); got != want {
		t.Fatalf("error %v (code %q), want code %q", err, got, want)
	}
}

func TestNewConfig(t *testing.T) {
	f := newMerchantFixture(t)
	tests := []struct {
		name string
		cfg  merchant.Config
		ok   bool
	}{
		{"defaults", merchant.Config{}, true},
		{"negative TTL", merchant.Config{RequestTTL: -time.Second}, false},
		{"TTL over a day", merchant.Config{RequestTTL: 25 * time.Hour}, false},
		{"negative threshold", merchant.Config{SettleThreshold: -1}, false},
		{"negative period", merchant.Config{SettleEvery: -time.Hour}, false},
		{"busy sweep", merchant.Config{Sweep: time.Microsecond}, false},
		// TestSecurityTabSettleOverflow: a threshold near wallet.AmountMax
		// overflowed int64 once converted to Micro.
		{"threshold at the most a tab meters", merchant.Config{SettleThreshold: merchant.SettleThresholdMax(f.w.Config().Currency)}, true},
		{"threshold above the most a tab meters", merchant.Config{SettleThreshold: merchant.SettleThresholdMax(f.w.Config().Currency) + 1}, false},
		{"threshold at the maximum amount", merchant.Config{SettleThreshold: wallet.AmountMax}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := merchant.New(f.ctx, f.w, f.ms, tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New: %v, want ok %v", err, tt.ok)
			}
			if err == nil && tt.cfg.SettleThreshold != 0 {
				if got := f.w.Config().Currency.Micro(s.Config().SettleThreshold); got <= 0 || got > wallet.MicroMax {
					t.Errorf("threshold %d minor units is %d Micro, want in (0, %d]", s.Config().SettleThreshold, got, wallet.MicroMax)
				}
				return
			}
			if err == nil {
				c := s.Config()
				if c.RequestTTL != merchant.DefaultRequestTTL || c.SettleThreshold != 100_00 || c.SettleEvery != merchant.DefaultSettleEvery || c.Sweep != merchant.DefaultSweep {
					t.Errorf("defaults: got %+v", c)
				}
			}
		})
	}
	if _, err := merchant.New(f.ctx, nil, f.ms, merchant.Config{}); err == nil {
		t.Error("New without a wallet: no error")
	}
}

// TestRunStops checks that Run returns once its context ends.
func TestRunStops(t *testing.T) {
	f := newMerchantFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.s.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
