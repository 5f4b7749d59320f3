package wallet_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

var testPepper = []byte("0123456789abcdef0123456789abcdef")

// clock is a settable time source for tests of windows and daily limits.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

type fixture struct {
	t     testing.TB
	ctx   context.Context
	w     *wallet.Service
	st    *store.Store
	dsn   string
	clock *clock
	kes   wallet.Currency
	n     int
}

// newFixture starts a wallet on a real store (SQLite, or PostgreSQL when
// KIBUBU_TEST_POSTGRES is set). opts adjust its configuration.
func newFixture(t testing.TB, opts ...func(*wallet.Config)) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dsn := storetest.DSN(t)
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	st.CacheAccounts(true) // as kibubu serve on SQLite: the writer keeps its accounts (no-op on PostgreSQL)
	kes, err := wallet.LookupCurrency("KES")
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Date(2026, 11, 21, 10, 15, 0, 0, time.UTC)}
	cfg := wallet.Config{Currency: kes, Region: "KE", Pepper: testPepper, PasswordCost: wallet.TestPasswordCost, Now: c.Now}
	for _, o := range opts {
		o(&cfg)
	}
	w, err := wallet.New(ctx, st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		st.Close()
	})
	return &fixture{t: t, ctx: context.Background(), w: w, st: st, dsn: dsn, clock: c, kes: kes}
}

func (f *fixture) ksh(major int64) int64 { return major * 100 }

// phone returns a new valid Kenyan mobile number.
func (f *fixture) phone() string {
	f.n++
	return fmt.Sprintf("+2547%08d", 10000000+f.n)
}

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// customer registers a full-tier customer with PIN 2580.
func (f *fixture) customer(name string) string {
	f.t.Helper()
	p := f.phone()
	a, err := f.w.Register(f.ctx, p, name, wallet.TierFull, "en")
	f.must(err)
	_, err = f.w.SetPINWithStartKey(f.ctx, p, a.StartKey, "2580")
	f.must(err)
	return p
}

// agent adds an agent with PIN 1357 and float, returning its phone and number.
func (f *fixture) agent(float int64) (phone, number string) {
	f.t.Helper()
	phone = f.phone()
	a, err := f.w.AddAgent(f.ctx, phone, "Agent "+phone[len(phone)-4:])
	f.must(err)
	_, err = f.w.SetPINWithStartKey(f.ctx, phone, a.StartKey, "1357")
	f.must(err)
	if float > 0 {
		_, err = f.w.Transfer(f.ctx, wallet.TransferRequest{Key: "float-" + a.Number, Kind: wallet.TransferFloat, To: a.Number, Amount: float, Reference: "BANK-" + a.Number})
		f.must(err)
	}
	return phone, a.Number
}

var keyN int

func key() string { keyN++; return fmt.Sprintf("k%d-%d", time.Now().UnixNano(), keyN) }

// fund deposits amount into customer through a fresh agent.
func (f *fixture) fund(customer string, amount int64) {
	f.t.Helper()
	ap, _ := f.agent(amount)
	_, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: key(), Kind: wallet.TransferDeposit, From: ap, To: customer, Amount: amount, PIN: "1357"})
	f.must(err)
}

func (f *fixture) balance(numberOrPhone string) int64 {
	f.t.Helper()
	a, err := f.w.Show(f.ctx, numberOrPhone)
	f.must(err)
	return a.Balance
}

func (f *fixture) check() {
	f.t.Helper()
	r, err := f.w.Check(f.ctx)
	f.must(err)
	if !r.OK() {
		f.t.Fatalf("ledger check: %v", r.Violations)
	}
}

// snapshot is every balance, to prove a refused command changed nothing.
func (f *fixture) snapshot(numbers ...string) map[string]int64 {
	out := map[string]int64{}
	for _, n := range append(numbers, wallet.SystemFees, wallet.SystemCommission, wallet.SystemTrust, wallet.SystemAirtime) {
		out[n] = f.balance(n)
	}
	return out
}

func keyed(r wallet.TransferRequest) wallet.TransferRequest { r.Key = key(); return r }

func TestMoneyOperations(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.customer("Alice Wanjiru"), f.customer("Bob Otieno")
	agentPhone, agentNo := f.agent(f.ksh(100_000))
	till, err := f.w.AddMerchant(f.ctx, f.phone(), "Duka La Mama", false)
	f.must(err)
	paybill, err := f.w.AddMerchant(f.ctx, f.phone(), "Kenya Power", true)
	f.must(err)
	other := f.phone()

	quote := func(k wallet.TransferKind, amount int64) (int64, int64) {
		fee, com, err := f.w.Quote(k, amount)
		f.must(err)
		return fee, com
	}

	tests := []struct {
		name  string
		req   wallet.TransferRequest
		delta map[string]int64 // expected balance change per account number or phone
	}{
		{"deposit at an agent", wallet.TransferRequest{Kind: wallet.TransferDeposit, From: agentPhone, To: alice, Amount: f.ksh(20_000), PIN: "1357"},
			func() map[string]int64 {
				_, com := quote(wallet.TransferDeposit, f.ksh(20_000))
				return map[string]int64{alice: f.ksh(20_000), agentNo: -f.ksh(20_000) + com, wallet.SystemCommission: -com}
			}()},
		{"send money with a fee", wallet.TransferRequest{Kind: wallet.TransferSend, From: alice, To: "0" + bob[4:], Amount: f.ksh(500), PIN: "2580"},
			func() map[string]int64 {
				fee, _ := quote(wallet.TransferSend, f.ksh(500))
				return map[string]int64{alice: -f.ksh(500) - fee, bob: f.ksh(500), wallet.SystemFees: fee}
			}()},
		{"send a small amount free", wallet.TransferRequest{Kind: wallet.TransferSend, From: alice, To: bob, Amount: f.ksh(100), PIN: "2580"},
			map[string]int64{alice: -f.ksh(100), bob: f.ksh(100)}},
		{"withdraw at an agent", wallet.TransferRequest{Kind: wallet.TransferWithdraw, From: alice, To: agentNo, Amount: f.ksh(2_000), PIN: "2580"},
			func() map[string]int64 {
				fee, com := quote(wallet.TransferWithdraw, f.ksh(2_000))
				return map[string]int64{alice: -f.ksh(2_000) - fee, agentNo: f.ksh(2_000) + com, wallet.SystemFees: fee, wallet.SystemCommission: -com}
			}()},
		{"buy goods: the merchant pays the fee", wallet.TransferRequest{Kind: wallet.TransferTill, From: alice, To: till.Number, Amount: f.ksh(1_000), PIN: "2580"},
			func() map[string]int64 {
				fee, _ := quote(wallet.TransferTill, f.ksh(1_000))
				return map[string]int64{alice: -f.ksh(1_000), till.Number: f.ksh(1_000) - fee, wallet.SystemFees: fee}
			}()},
		{"pay bill with an account reference", wallet.TransferRequest{Kind: wallet.TransferPaybill, From: alice, To: paybill.Number, Reference: "ACC-778", Amount: f.ksh(3_000), PIN: "2580"},
			func() map[string]int64 {
				fee, _ := quote(wallet.TransferPaybill, f.ksh(3_000))
				return map[string]int64{alice: -f.ksh(3_000), paybill.Number: f.ksh(3_000) - fee, wallet.SystemFees: fee}
			}()},
		{"airtime for self", wallet.TransferRequest{Kind: wallet.TransferAirtime, From: alice, Amount: f.ksh(50), PIN: "2580"},
			map[string]int64{alice: -f.ksh(50), wallet.SystemAirtime: f.ksh(50)}},
		{"airtime for another phone", wallet.TransferRequest{Kind: wallet.TransferAirtime, From: alice, To: other, Amount: f.ksh(20), PIN: "2580"},
			map[string]int64{alice: -f.ksh(20), wallet.SystemAirtime: f.ksh(20)}},
		{"float issue", wallet.TransferRequest{Kind: wallet.TransferFloat, To: agentNo, Amount: f.ksh(5_000), Reference: "BANK-9"},
			map[string]int64{agentNo: f.ksh(5_000), wallet.SystemTrust: -f.ksh(5_000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var numbers []string
			for n := range tt.delta {
				numbers = append(numbers, n)
			}
			before := f.snapshot(numbers...)
			tt.req.Key = key()
			res, err := f.w.Transfer(f.ctx, tt.req)
			if err != nil {
				t.Fatalf("transfer: got %v, want success", err)
			}
			after := f.snapshot(numbers...)
			for n, want := range tt.delta {
				if got := after[n] - before[n]; got != want {
					t.Errorf("%s changed by %d, want %d", n, got, want)
				}
			}
			var sum int64
			for _, p := range res.Transfer.Postings {
				sum += p.Amount
			}
			if sum != 0 {
				t.Errorf("postings sum to %d", sum)
			}
			if len(res.Transfer.Ref) != 10 || res.Transfer.Ref != wallet.Ref(res.Transfer.ID) {
				t.Errorf("ref %q does not name transfer %d", res.Transfer.Ref, res.Transfer.ID)
			}
			if tt.req.From != "" {
				if want := after[tt.req.From]; tt.delta[tt.req.From] != 0 && res.Balance != want {
					t.Errorf("reply balance %d, want %d", res.Balance, want)
				}
			}
			if tt.req.Kind == wallet.TransferAirtime {
				wantRef := alice
				if tt.req.To != "" {
					wantRef = other
				}
				if res.Transfer.Reference != wantRef {
					t.Errorf("airtime reference %q, want %q", res.Transfer.Reference, wantRef)
				}
			}
			f.check()
		})
	}
}

func TestRefusedCommandsChangeNothing(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.customer("Alice"), f.customer("Bob")
	f.fund(alice, f.ksh(1_000))
	frozen := f.customer("Frozen")
	f.fund(frozen, f.ksh(1_000))
	_, err := f.w.SetStatus(f.ctx, frozen, wallet.StatusFrozen)
	f.must(err)
	basic := f.phone()
	_, err = f.w.Register(f.ctx, basic, "Basic Tier", wallet.TierBasic, "sw")
	f.must(err)
	_, err = f.w.SetPIN(f.ctx, basic, "2580")
	f.must(err)
	_, agentNo := f.agent(f.ksh(1_000))
	till, err := f.w.AddMerchant(f.ctx, f.phone(), "Shop", false)
	f.must(err)
	paybill, err := f.w.AddMerchant(f.ctx, f.phone(), "Water Co", true)
	f.must(err)
	rich := f.customer("Rich")
	f.fund(rich, f.ksh(240_000))
	f.fund(rich, f.ksh(240_000))

	send := func(from, to string, amount int64) wallet.TransferRequest {
		return wallet.TransferRequest{Kind: wallet.TransferSend, From: from, To: to, Amount: amount, PIN: "2580"}
	}
	tests := []struct {
		name  string
		req   wallet.TransferRequest
		code  wallet.Code
		limit wallet.Limit
	}{
		{"negative amount", send(alice, bob, -100), wallet.CodeInvalidAmount, ""},
		{"zero amount", send(alice, bob, 0), wallet.CodeInvalidAmount, ""},
		{"overflow-sized amount", send(alice, bob, 1<<62), wallet.CodeInvalidAmount, ""},
		{"more than the balance", send(alice, bob, f.ksh(5_000)), wallet.CodeInsufficientFunds, ""},
		{"unknown recipient", send(alice, "+254799999999", f.ksh(10)), wallet.CodeNotFound, ""},
		{"malformed recipient phone", send(alice, "07123", f.ksh(10)), wallet.CodeInvalidPhone, ""},
		{"unknown sender", send("+254799999998", bob, f.ksh(10)), wallet.CodeNotFound, ""},
		{"to self", send(alice, alice, f.ksh(10)), wallet.CodeSameAccount, ""},
		{"from a frozen account", send(frozen, bob, f.ksh(10)), wallet.CodeAccountFrozen, ""},
		{"to a frozen account", send(alice, frozen, f.ksh(10)), wallet.CodeAccountFrozen, ""},
		{"no PIN", wallet.TransferRequest{Kind: wallet.TransferSend, From: alice, To: bob, Amount: 100}, wallet.CodeInvalid, ""},
		{"no key", wallet.TransferRequest{Kind: wallet.TransferSend, From: alice, To: bob, Amount: 100, PIN: "2580"}, wallet.CodeInvalid, ""},
		{"unknown kind", wallet.TransferRequest{Kind: "loan", From: alice, To: bob, Amount: 100, PIN: "2580"}, wallet.CodeInvalid, ""},
		{"withdraw at a till number", wallet.TransferRequest{Kind: wallet.TransferWithdraw, From: alice, To: till.Number, Amount: f.ksh(100), PIN: "2580"}, wallet.CodeWrongKind, ""},
		{"pay a till at an agent number", wallet.TransferRequest{Kind: wallet.TransferTill, From: alice, To: agentNo, Amount: f.ksh(100), PIN: "2580"}, wallet.CodeWrongKind, ""},
		{"paybill to a till number", wallet.TransferRequest{Kind: wallet.TransferPaybill, From: alice, To: till.Number, Reference: "A1", Amount: f.ksh(100), PIN: "2580"}, wallet.CodeWrongKind, ""},
		{"paybill without an account reference", wallet.TransferRequest{Kind: wallet.TransferPaybill, From: alice, To: paybill.Number, Amount: f.ksh(100), PIN: "2580"}, wallet.CodeInvalid, ""},
		{"deposit from a customer", wallet.TransferRequest{Kind: wallet.TransferDeposit, From: alice, To: bob, Amount: f.ksh(100), PIN: "2580"}, wallet.CodeWrongKind, ""},
		{"float without a bank reference", wallet.TransferRequest{Kind: wallet.TransferFloat, To: agentNo, Amount: f.ksh(100)}, wallet.CodeInvalid, ""},
		{"over the per-transaction limit", send(rich, bob, f.ksh(250_001)), wallet.CodeLimitExceeded, wallet.LimitPerTransaction},
		{"over the recipient tier's per-transaction limit", send(rich, basic, f.ksh(100_001)), wallet.CodeLimitExceeded, wallet.LimitPerTransaction},
		{"over the basic tier's per-transaction limit", send(basic, bob, f.ksh(50_001)), wallet.CodeLimitExceeded, wallet.LimitPerTransaction},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.snapshot(alice, bob, frozen, rich, basic, agentNo, till.Number)
			if tt.req.Key == "" && tt.name != "no key" {
				tt.req.Key = key()
			}
			_, err := f.w.Transfer(f.ctx, tt.req)
			var we *wallet.Error
			if !errors.As(err, &we) {
				t.Fatalf("got %v, want a *wallet.Error %s", err, tt.code)
			}
			if we.Code != tt.code || we.Limit != tt.limit || we.Message == "" {
				t.Fatalf("got %s %q (limit %q), want %s (limit %q)", we.Code, we.Message, we.Limit, tt.code, tt.limit)
			}
			after := f.snapshot(alice, bob, frozen, rich, basic, agentNo, till.Number)
			for n, b := range before {
				if after[n] != b {
					t.Errorf("%s changed from %d to %d", n, b, after[n])
				}
			}
			f.check()
		})
	}

	t.Run("insufficient funds reports the balance", func(t *testing.T) {
		_, err := f.w.Transfer(f.ctx, keyed(send(alice, bob, f.ksh(5_000))))
		var we *wallet.Error
		if !errors.As(err, &we) || we.Balance == nil || *we.Balance != f.balance(alice) {
			t.Fatalf("got %+v, want insufficient funds with balance %d", err, f.balance(alice))
		}
	})

	t.Run("recipient maximum balance", func(t *testing.T) {
		f.fund(basic, f.ksh(50_000))
		f.fund(basic, f.ksh(40_000))
		_, err := f.w.Transfer(f.ctx, keyed(send(rich, basic, f.ksh(20_000))))
		var we *wallet.Error
		if !errors.As(err, &we) || we.Code != wallet.CodeLimitExceeded || we.Limit != wallet.LimitBalance {
			t.Fatalf("got %v, want limit_exceeded balance", err)
		}
	})

	t.Run("daily limit", func(t *testing.T) {
		day := f.customer("Daily")
		f.fund(day, f.ksh(240_000))
		f.fund(day, f.ksh(240_000))
		f.fund(day, f.ksh(20_000))
		to := f.customer("Sink")
		for i, amount := range []int64{f.ksh(200_000), f.ksh(200_000)} {
			f.w.Transfer(f.ctx, keyed(send(day, to, amount)))
			_ = i
		}
		// The sink holds 400,000 of its 500,000: spread the rest over others.
		_, err := f.w.Transfer(f.ctx, keyed(send(day, f.customer("Other"), f.ksh(100_001))))
		var we *wallet.Error
		if !errors.As(err, &we) || we.Code != wallet.CodeLimitExceeded || we.Limit != wallet.LimitDaily {
			t.Fatalf("got %v, want limit_exceeded daily", err)
		}
		f.clock.Add(24 * time.Hour)
		if _, err := f.w.Transfer(f.ctx, keyed(send(day, f.customer("Tomorrow"), f.ksh(50_000)))); err != nil {
			t.Fatalf("the next day: got %v, want success", err)
		}
	})
}
