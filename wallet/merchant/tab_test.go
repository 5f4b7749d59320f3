package merchant_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
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

// tabClock is real time moved forward by the test, shared by the wallet
// and the merchant services.
type tabClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *tabClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *tabClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// tabFixture is a real wallet and its merchant services (Run started, so
// the meter works; the sweeper is left to the test: Sweep is an hour) on a
// real store, a till with its principal, and an agent with float.
type tabFixture struct {
	t     testing.TB
	ctx   context.Context
	st    *store.Store // the wallet's
	ms    *merchantstore.Store
	w     *wallet.Service
	s     *merchant.Service
	clock *tabClock
	kes   wallet.Currency
	p     merchant.Principal // the till's
	agent string
}

const tabPIN = "2580"

var tabPepper = []byte("0123456789abcdef0123456789abcdef")

var tabPhones atomic.Int64

func tabPhone() string { return fmt.Sprintf("+2547%08d", 60000000+tabPhones.Add(1)) }

type tabOptions struct {
	dsn    string
	clock  *tabClock
	wallet func(*wallet.Config)
	config func(*merchant.Config)
}

func newTabFixture(t testing.TB) *tabFixture {
	t.Helper()
	return newTabFixtureWith(t, tabOptions{})
}

func newTabFixtureWith(t testing.TB, o tabOptions) *tabFixture {
	t.Helper()
	if o.dsn == "" {
		o.dsn = storetest.DSN(t)
	}
	if o.clock == nil {
		o.clock = &tabClock{}
	}
	ctx := context.Background()
	st, err := store.Open(ctx, o.dsn)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := merchantstore.Open(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	kes, _ := wallet.LookupCurrency("KES")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	wc := wallet.Config{Currency: kes, Region: "KE", Pepper: tabPepper, Logger: quiet, Now: o.clock.Now}
	if o.wallet != nil {
		o.wallet(&wc)
	}
	w, err := wallet.New(ctx, st, wc)
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	wdone := make(chan struct{})
	go func() { w.Run(wctx); close(wdone) }()
	cc := merchant.Config{Now: o.clock.Now, Logger: quiet, Sweep: time.Hour}
	if o.config != nil {
		o.config(&cc)
	}
	s, err := merchant.New(ctx, w, ms, cc)
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	cdone := make(chan struct{})
	go func() { s.Run(cctx); close(cdone) }()
	t.Cleanup(func() { ccancel(); <-cdone; wcancel(); <-wdone; st.Close() })
	f := &tabFixture{t: t, ctx: ctx, st: st, ms: ms, w: w, s: s, clock: o.clock, kes: kes}
	a, err := w.AddAgent(ctx, tabPhone(), "Float Agent")
	f.must(err)
	_, err = w.SetPINWithStartKey(ctx, a.Phone, a.StartKey, "1357")
	f.must(err)
	_, err = w.Transfer(ctx, wallet.TransferRequest{Key: "float:" + a.Number, Kind: wallet.TransferFloat, To: a.Number, Amount: 1e12, Reference: "B1"})
	f.must(err)
	f.agent = a.Phone
	f.p = f.merchant("Corner Shop")
	return f
}

func (f *tabFixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// merchant opens a till and returns a principal for it.
func (f *tabFixture) merchant(name string) merchant.Principal {
	f.t.Helper()
	a, err := f.w.AddMerchant(f.ctx, tabPhone(), name, false)
	f.must(err)
	return merchant.Principal{KeyID: "test", Merchant: a.Number, MerchantName: a.Name, Scopes: []merchant.Scope{merchant.ScopeTabs}}
}

// customer opens a fully registered customer with PIN tabPIN holding
// balance (minor units).
func (f *tabFixture) customer(balance int64) string {
	f.t.Helper()
	p := tabPhone()
	a, err := f.w.Register(f.ctx, p, "Customer "+p[8:], wallet.TierFull, "sw")
	f.must(err)
	_, err = f.w.SetPINWithStartKey(f.ctx, p, a.StartKey, tabPIN)
	f.must(err)
	f.fund(p, balance)
	return p
}

var tabFunds atomic.Int64

func (f *tabFixture) fund(phone string, amount int64) {
	f.t.Helper()
	if amount > 0 {
		_, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: fmt.Sprint("fund:", tabFunds.Add(1)), Kind: wallet.TransferDeposit,
			From: f.agent, To: phone, Amount: amount, PIN: "1357"})
		f.must(err)
	}
}

func (f *tabFixture) balance(numberOrPhone string) int64 {
	f.t.Helper()
	a, err := f.w.Show(f.ctx, numberOrPhone)
	f.must(err)
	return a.Balance
}

// micro parses a decimal KES amount with up to 6 decimals.
func (f *tabFixture) micro(s string) wallet.Micro {
	f.t.Helper()
	m, err := f.kes.ParseMicro(s)
	f.must(err)
	return m
}

var tabKeys atomic.Int64

func tabKey() string { return fmt.Sprint("k", tabKeys.Add(1)) }

// open opens a tab of cap for phone, expiring in a week.
func (f *tabFixture) open(phone, cap string, prepaid bool) *merchant.Tab {
	f.t.Helper()
	tab, err := f.s.OpenTab(f.ctx, f.p, tabKey(), phone, f.micro(cap), prepaid, f.clock.Now().Add(7*24*time.Hour), "REF-1", "Metered Wi-Fi")
	f.must(err)
	return tab
}

// active opens a tab and approves it.
func (f *tabFixture) active(phone, cap string, prepaid bool) *merchant.Tab {
	f.t.Helper()
	tab := f.open(phone, cap, prepaid)
	r, err := f.s.Approve(f.ctx, phone, tab.ID, tabPIN)
	f.must(err)
	if r.Tab == nil || r.Tab.Status != merchant.TabActive {
		f.t.Fatalf("approved tab: %+v", r.Tab)
	}
	return r.Tab
}

func (f *tabFixture) charge(tab, amount string, splits ...merchant.Split) (*merchant.Charge, error) {
	return f.s.Charge(f.ctx, f.p, merchant.ChargeRequest{Tab: tab, Key: tabKey(), Amount: f.micro(amount), Splits: splits})
}

func (f *tabFixture) tab(id string) *merchant.Tab {
	f.t.Helper()
	tab, err := f.s.Tab(f.ctx, f.p, id)
	f.must(err)
	return tab
}

// events returns the outbox events of type typ about tab id, oldest first.
func (f *tabFixture) events(typ merchant.EventType, id string) []merchant.OutboxEvent {
	f.t.Helper()
	var payloads [][]byte
	f.must(f.st.Gorm().Table("outbox_events").Where("subject = ?", merchant.Subject(typ)).Order("id").Pluck("payload", &payloads).Error)
	var out []merchant.OutboxEvent
	for _, p := range payloads {
		var ev merchant.OutboxEvent
		f.must(json.Unmarshal(p, &ev))
		var data merchant.TabEvent
		f.must(json.Unmarshal(ev.Data, &data))
		if data.ID == id {
			out = append(out, ev)
		}
	}
	return out
}

func (f *tabFixture) settlements(id string) []merchant.Settlement {
	f.t.Helper()
	sts, err := f.ms.TabSettlements(f.ctx, id)
	f.must(err)
	return sts
}

func (f *tabFixture) checkLedger() {
	f.t.Helper()
	r, err := f.w.Check(f.ctx)
	f.must(err)
	if !r.OK() {
		f.t.Fatalf("ledger check: %v", r.Violations)
	}
}

// sweep runs one tab sweep.
func (f *tabFixture) sweep() {
	f.t.Helper()
	f.must(f.s.SweepTabs(f.ctx))
}

func wantTabCode(t testing.TB, err error, want wallet.Code) {
	t.Helper()
	if got := wallet.ErrorCode(err); got != want {
		t.Fatalf("error %v (code %q), want code %q", err, got, want)
	}
}

// eventually waits up to 10 s for cond.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOpenTab(t *testing.T) {
	f := newTabFixture(t)
	phone := f.customer(0)
	basic := tabPhone()
	_, err := f.w.Register(f.ctx, basic, "Basic Tier", wallet.TierBasic, "")
	f.must(err)
	week := f.clock.Now().Add(7 * 24 * time.Hour)
	tests := []struct {
		name    string
		p       merchant.Principal
		idem    string
		phone   string
		cap     wallet.Micro
		expires time.Time
		ref     string
		want    wallet.Code
	}{
		{"ok", f.p, "o1", phone, 50_000_000, week, "R", ""},
		{"local phone format", f.p, "o2", "07" + phone[5:], 1, week, "", ""},
		{"no key", f.p, "", phone, 1, week, "", wallet.CodeInvalid},
		{"key with a space", f.p, "a b", phone, 1, week, "", wallet.CodeInvalid},
		{"zero cap", f.p, "o3", phone, 0, week, "", wallet.CodeInvalidAmount},
		{"negative cap", f.p, "o4", phone, -5, week, "", wallet.CodeInvalidAmount},
		{"cap over MaxMicro", f.p, "o5", phone, wallet.MicroMax + 1, week, "", wallet.CodeInvalidAmount},
		{"cap over the tier limit", f.p, "o6", basic, f.kes.Micro(50_000_01), week, "", wallet.CodeLimitExceeded},
		{"cap at the tier limit", f.p, "o7", basic, f.kes.Micro(50_000_00), week, "", ""},
		{"no expiry", f.p, "o8", phone, 1, time.Time{}, "", wallet.CodeInvalid},
		{"expired", f.p, "o9", phone, 1, f.clock.Now().Add(-time.Second), "", wallet.CodeInvalid},
		{"over 90 days", f.p, "o10", phone, 1, f.clock.Now().Add(91 * 24 * time.Hour), "", wallet.CodeInvalid},
		{"reference too long", f.p, "o11", phone, 1, week, strings.Repeat("x", 33), wallet.CodeInvalid},
		{"unknown customer", f.p, "o12", "+254799999999", 1, week, "", wallet.CodeNotFound},
		{"not a phone", f.p, "o13", "hello", 1, week, "", wallet.CodeInvalidPhone},
		{"an agent", f.p, "o14", f.agent, 1, week, "", wallet.CodeWrongKind},
		{"operator key", merchant.Principal{Operator: true}, "o15", phone, 1, week, "", wallet.CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := f.s.OpenTab(f.ctx, tt.p, tt.idem, tt.phone, tt.cap, false, tt.expires, tt.ref, "")
			wantTabCode(t, err, tt.want)
			if err != nil {
				return
			}
			if tab.Status != merchant.TabPending || tab.Cap != tt.cap || tab.Merchant != f.p.Merchant || tab.MerchantName != "Corner Shop" {
				t.Errorf("tab %+v", tab)
			}
		})
	}

	// Idempotency: the same key and payload is the same tab; another payload is a conflict.
	a, err := f.s.OpenTab(f.ctx, f.p, "same", phone, 1000, true, week, "R", "D")
	f.must(err)
	b, err := f.s.OpenTab(f.ctx, f.p, "same", "07"+phone[5:], 1000, true, week, "R", "D")
	f.must(err)
	if b.ID != a.ID {
		t.Errorf("replay opened %s, then %s", a.ID, b.ID)
	}
	_, err = f.s.OpenTab(f.ctx, f.p, "same", phone, 1001, true, week, "R", "D")
	wantTabCode(t, err, wallet.CodeConflict)
	// Another merchant may use the same key.
	other := f.merchant("Other Shop")
	c, err := f.s.OpenTab(f.ctx, other, "same", phone, 1000, true, week, "R", "D")
	f.must(err)
	if c.ID == a.ID {
		t.Error("two merchants share a tab")
	}
	// Another merchant's tab is not found.
	_, err = f.s.Tab(f.ctx, other, a.ID)
	wantTabCode(t, err, wallet.CodeNotFound)
	_, err = f.s.Tab(f.ctx, f.p, "tab_nonsense")
	wantTabCode(t, err, wallet.CodeNotFound)

	// tab.created carries the customer's phone and language for the prompt.
	evs := f.events(merchant.EventTabCreated, a.ID)
	if len(evs) != 1 || evs[0].Phone != phone || evs[0].Language != "sw" || evs[0].Merchant != f.p.Merchant {
		t.Fatalf("tab.created events: %+v", evs)
	}
	var data merchant.Tab
	f.must(json.Unmarshal(evs[0].Data, &data))
	if data.Cap != 1000 || !data.Prepaid || data.Status != merchant.TabPending {
		t.Errorf("tab.created data: %+v", data)
	}
}

func TestApproveDeclineExpire(t *testing.T) {
	f := newTabFixture(t)
	phone := f.customer(10_000)
	tab := f.open(phone, "50", false)

	got, err := f.s.Approvals(f.ctx, phone)
	f.must(err)
	if len(got) != 1 || got[0].ID != tab.ID || got[0].Kind != merchant.ApprovalTab || got[0].Amount != 50_00 {
		t.Fatalf("approvals: %+v", got)
	}
	// Another customer cannot see or approve it.
	stranger := f.customer(0)
	_, err = f.s.Approve(f.ctx, stranger, tab.ID, tabPIN)
	wantTabCode(t, err, wallet.CodeNotFound)
	// A wrong PIN leaves it pending.
	_, err = f.s.Approve(f.ctx, phone, tab.ID, "9999")
	wantTabCode(t, err, wallet.CodePINInvalid)
	if f.tab(tab.ID).Status != merchant.TabPending {
		t.Fatal("a wrong PIN changed the tab")
	}
	// A charge before the approval is refused.
	_, err = f.charge(tab.ID, "1")
	wantTabCode(t, err, wallet.CodeInvalidState)

	r, err := f.s.Approve(f.ctx, phone, tab.ID, tabPIN)
	f.must(err)
	if r.Tab.Status != merchant.TabActive || r.Transfer != nil || r.Approval.ID != tab.ID {
		t.Fatalf("approve: %+v", r)
	}
	_, err = f.s.Approve(f.ctx, phone, tab.ID, tabPIN)
	wantTabCode(t, err, wallet.CodeInvalidState)
	if len(f.events(merchant.EventTabApproved, tab.ID)) != 1 {
		t.Error("no tab.approved event")
	}

	// Decline.
	d := f.open(phone, "5", false)
	a, err := f.s.Decline(f.ctx, phone, d.ID, tabPIN)
	f.must(err)
	if a.ID != d.ID {
		t.Errorf("declined %+v", a)
	}
	if got := f.tab(d.ID); got.Status != merchant.TabDeclined || got.Reason != "declined" {
		t.Errorf("declined tab: %+v", got)
	}
	_, err = f.s.Approve(f.ctx, phone, d.ID, tabPIN)
	wantTabCode(t, err, wallet.CodeInvalidState)
	_, err = f.charge(d.ID, "1")
	wantTabCode(t, err, wallet.CodeInvalidState)
	_, err = f.s.CloseTab(f.ctx, f.p, d.ID, "c1")
	wantTabCode(t, err, wallet.CodeInvalidState)
	if len(f.events(merchant.EventTabDeclined, d.ID)) != 1 {
		t.Error("no tab.declined event")
	}

	// Expiry: a pending tab past its expiry is declined by the sweeper.
	e, err := f.s.OpenTab(f.ctx, f.p, "exp", phone, 100, false, f.clock.Now().Add(time.Hour), "", "")
	f.must(err)
	f.clock.Add(time.Hour)
	_, err = f.s.Approve(f.ctx, phone, e.ID, tabPIN)
	wantTabCode(t, err, wallet.CodeInvalidState)
	if got, _ := f.s.Approvals(f.ctx, phone); len(got) != 0 {
		t.Errorf("an expired tab is still listed: %+v", got)
	}
	f.sweep()
	if got := f.tab(e.ID); got.Status != merchant.TabDeclined || got.Reason != "expired" {
		t.Errorf("expired tab: %+v", got)
	}
	// An active tab past its expiry: the sweeper closes it.
	f.clock.Add(7 * 24 * time.Hour)
	f.sweep()
	if got := f.tab(tab.ID); got.Status != merchant.TabClosed {
		t.Errorf("expired active tab: %+v", got)
	}
}

func TestChargeRefusals(t *testing.T) {
	f := newTabFixture(t)
	phone := f.customer(100_000)
	tab := f.active(phone, "1", false)
	other := f.merchant("Network")
	ch, err := f.s.Charge(f.ctx, f.p, merchant.ChargeRequest{Tab: tab.ID, Key: "c1", Amount: 2500, Reference: "click"})
	f.must(err)
	if ch.Charged != 2500 || ch.Remaining != 1_000_000-2500 || ch.Replayed || !strings.HasPrefix(ch.ID, "ch_") {
		t.Fatalf("charge: %+v", ch)
	}
	tests := []struct {
		name  string
		p     merchant.Principal
		req   merchant.ChargeRequest
		want  wallet.Code
		limit wallet.Limit
	}{
		{"replay", f.p, merchant.ChargeRequest{Tab: tab.ID, Key: "c1", Amount: 2500, Reference: "click"}, "", ""},
		{"same key, other amount", f.p, merchant.ChargeRequest{Tab: tab.ID, Key: "c1", Amount: 2501, Reference: "click"}, wallet.CodeConflict, ""},
		{"same key, other reference", f.p, merchant.ChargeRequest{Tab: tab.ID, Key: "c1", Amount: 2500}, wallet.CodeConflict, ""},
		{"same key, splits", f.p, merchant.ChargeRequest{Tab: tab.ID, Key: "c1", Amount: 2500, Reference: "click",
			Splits: []merchant.Split{{To: other.Merchant, Weight: 1}}}, wallet.CodeConflict, ""},
		{"over the cap", f.p, merchant.ChargeRequest{Tab: tab.ID, Key: "c2", Amount: 1_000_000}, wallet.CodeLimitExceeded, wallet.LimitTabCap},
		{"another merchant's tab", other, merchant.ChargeRequest{Tab: tab.ID, Key: "c3", Amount: 1}, wallet.CodeNotFound, ""},
		{"unknown tab", f.p, merchant.ChargeRequest{Tab: "tab_0000000000000000000000000a", Key: "c4", Amount: 1}, wallet.CodeNotFound, ""},
		{"malformed tab", f.p, merchant.ChargeRequest{Tab: "x", Key: "c5", Amount: 1}, wallet.CodeNotFound, ""},
		{"zero", f.p, merchant.ChargeRequest{Tab: tab.ID, Key: "c6"}, wallet.CodeInvalidAmount, ""},
		{"no key", f.p, merchant.ChargeRequest{Tab: tab.ID, Amount: 1}, wallet.CodeInvalid, ""},
		{"long reference", f.p, merchant.ChargeRequest{Tab: tab.ID, Key: "c7", Amount: 1, Reference: strings.Repeat("r", 33)}, wallet.CodeInvalid, ""},
		{"split to nobody", f.p, merchant.ChargeRequest{Tab: tab.ID, Key: "c8", Amount: 1, Splits: []merchant.Split{{To: "999999", Weight: 1}}}, wallet.CodeInvalid, ""},
		{"split to a customer", f.p, merchant.ChargeRequest{Tab: tab.ID, Key: "c9", Amount: 1, Splits: []merchant.Split{{To: phone, Weight: 1}}}, wallet.CodeInvalid, ""},
		{"split to an agent", f.p, merchant.ChargeRequest{Tab: tab.ID, Key: "c10", Amount: 1, Splits: []merchant.Split{{To: f.agent, Weight: 1}}}, wallet.CodeInvalid, ""},
		{"zero weight", f.p, merchant.ChargeRequest{Tab: tab.ID, Key: "c11", Amount: 1, Splits: []merchant.Split{{To: other.Merchant}}}, wallet.CodeInvalid, ""},
		{"negative weight", f.p, merchant.ChargeRequest{Tab: tab.ID, Key: "c12", Amount: 1, Splits: []merchant.Split{{To: other.Merchant, Weight: -70}}}, wallet.CodeInvalid, ""},
		{"twice the same payee", f.p, merchant.ChargeRequest{Tab: tab.ID, Key: "c13", Amount: 1,
			Splits: []merchant.Split{{To: other.Merchant, Weight: 1}, {To: other.Merchant, Weight: 2}}}, wallet.CodeInvalid, ""},
		{"17 rules", f.p, merchant.ChargeRequest{Tab: tab.ID, Key: "c14", Amount: 1, Splits: make([]merchant.Split, 17)}, wallet.CodeInvalid, ""},
		{"operator", merchant.Principal{Operator: true}, merchant.ChargeRequest{Tab: tab.ID, Key: "c15", Amount: 1}, wallet.CodeForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.s.Charge(f.ctx, tt.p, tt.req)
			wantTabCode(t, err, tt.want)
			if tt.limit != "" {
				var we *wallet.Error
				if e, ok := err.(*wallet.Error); ok {
					we = e
				}
				if we == nil || we.Limit != tt.limit {
					t.Errorf("error %v, want limit %s", err, tt.limit)
				}
			}
			if err == nil && (!got.Replayed || got.ID != ch.ID || got.Charged != 2500) {
				t.Errorf("replay: %+v, want the first charge %+v replayed", got, ch)
			}
		})
	}
	if got := f.tab(tab.ID); got.Charged != 2500 {
		t.Errorf("charged %d after one charge and refusals", got.Charged)
	}
	// Up to the cap exactly.
	c, err := f.s.Charge(f.ctx, f.p, merchant.ChargeRequest{Tab: tab.ID, Key: "last", Amount: 1_000_000 - 2500})
	f.must(err)
	if c.Remaining != 0 {
		t.Errorf("remaining %d at the cap", c.Remaining)
	}
	_, err = f.s.Charge(f.ctx, f.p, merchant.ChargeRequest{Tab: tab.ID, Key: "more", Amount: 1})
	wantTabCode(t, err, wallet.CodeLimitExceeded)

	// An expired tab takes no charge.
	e, err := f.s.OpenTab(f.ctx, f.p, "short", phone, 1000, false, f.clock.Now().Add(time.Minute), "", "")
	f.must(err)
	_, err = f.s.Approve(f.ctx, phone, e.ID, tabPIN)
	f.must(err)
	f.clock.Add(time.Minute)
	_, err = f.charge(e.ID, "0.0001")
	wantTabCode(t, err, wallet.CodeInvalidState)
}

func TestChargePayeeLimit(t *testing.T) {
	f := newTabFixture(t)
	phone := f.customer(0)
	tab := f.active(phone, "1000", false)
	// The tab's merchant plus 63 others: 64 payees.
	var rules []merchant.Split
	for i := 0; i < merchant.TabPayeesMax-1; i++ {
		rules = append(rules, merchant.Split{To: f.merchant(fmt.Sprint("Payee ", i)).Merchant, Weight: 1})
		if len(rules) == 16 || i == merchant.TabPayeesMax-2 {
			_, err := f.charge(tab.ID, "1", rules...)
			f.must(err)
			rules = nil
		}
	}
	_, err := f.charge(tab.ID, "1")
	f.must(err)
	extra := f.merchant("One Too Many")
	_, err = f.charge(tab.ID, "1", merchant.Split{To: extra.Merchant, Weight: 1})
	wantTabCode(t, err, wallet.CodeInvalid)
	// A split of a charge too small to reach a payee adds no payee.
	_, err = f.charge(tab.ID, "0.000001", merchant.Split{To: f.p.Merchant, Weight: 99}, merchant.Split{To: extra.Merchant, Weight: 1})
	f.must(err)
}

func TestThresholdSettlement(t *testing.T) {
	f := newTabFixture(t)
	shop, network := f.p, f.merchant("Ad Network")
	phone := f.customer(1000_00)
	tab := f.active(phone, "200", false)
	// Threshold: 100 major units. 0.7 + 0.3 per click; 100 clicks of 1.000001 pass it.
	for range 100 {
		_, err := f.charge(tab.ID, "1.000001", merchant.Split{To: shop.Merchant, Weight: 70}, merchant.Split{To: network.Merchant, Weight: 30})
		f.must(err)
	}
	eventually(t, "the threshold settlement", func() bool {
		sts := f.settlements(tab.ID)
		return len(sts) == 1 && sts[0].Status == merchant.SettlementDone
	})
	st := f.settlements(tab.ID)[0]
	if st.Amount != 100_00 || st.Source != phone || st.Transfer == "" || len(st.Shares) != 2 ||
		st.Shares[0].Gross != 70_00 || st.Shares[1].Gross != 30_00 {
		t.Fatalf("settlement: %+v", st)
	}
	got := f.tab(tab.ID)
	if got.Settled != f.micro("100") || got.Charged != f.micro("100.0001") {
		t.Errorf("tab after settlement: %+v", got)
	}
	if b := f.balance(phone); b != 900_00 {
		t.Errorf("customer balance %d, want 900.00", b)
	}
	if a, b := f.balance(shop.Merchant), f.balance(network.Merchant); a != 70_00 || b != 30_00 {
		t.Errorf("payees got %d and %d, want 70.00 and 30.00", a, b)
	}
	evs := f.events(merchant.EventTabSettled, tab.ID)
	if len(evs) != 1 {
		t.Fatalf("%d tab.settled events", len(evs))
	}
	var data merchant.TabEvent
	f.must(json.Unmarshal(evs[0].Data, &data))
	if data.Settlement == nil || data.Settlement.Transfer != st.Transfer || data.Settlement.Amount != 100_00 {
		t.Errorf("tab.settled data: %+v", data)
	}
	f.checkLedger()
}

func TestDailySettlement(t *testing.T) {
	f := newTabFixture(t)
	phone := f.customer(1000_00)
	tab := f.active(phone, "100", false)
	_, err := f.charge(tab.ID, "12.345678")
	f.must(err)
	f.sweep()
	if n := len(f.settlements(tab.ID)); n != 0 {
		t.Fatalf("%d settlements before a day passed", n)
	}
	f.clock.Add(24 * time.Hour)
	f.sweep()
	got := f.tab(tab.ID)
	if got.Settled != f.micro("12.34") || got.Charged-got.Settled != f.micro("0.005678") {
		t.Fatalf("after a day: %+v", got)
	}
	// Less than a minor unit unsettled: the next day settles nothing.
	f.clock.Add(25 * time.Hour)
	f.sweep()
	if n := len(f.settlements(tab.ID)); n != 1 {
		t.Errorf("%d settlements, want 1", n)
	}
	if b := f.balance(phone); b != 1000_00-12_34 {
		t.Errorf("customer balance %d", b)
	}
}

func TestCloseWithRemainder(t *testing.T) {
	f := newTabFixture(t)
	phone := f.customer(1000_00)
	tab := f.active(phone, "50", false)
	for _, a := range []string{"1", "0.23", "0.00456"} {
		_, err := f.charge(tab.ID, a)
		f.must(err)
	}
	closed, err := f.s.CloseTab(f.ctx, f.p, tab.ID, "close-1")
	f.must(err)
	if closed.Status != merchant.TabClosed || closed.Settled != f.micro("1.23") || closed.Charged != f.micro("1.23456") {
		t.Fatalf("closed: %+v", closed)
	}
	if rem := closed.Charged - closed.Settled; rem != 4560 {
		t.Errorf("remainder %d, want 4560", rem)
	}
	if b := f.balance(phone); b != 1000_00-1_23 {
		t.Errorf("customer paid %d, want 1.23", 1000_00-b)
	}
	_, err = f.charge(tab.ID, "1")
	wantTabCode(t, err, wallet.CodeInvalidState)
	again, err := f.s.CloseTab(f.ctx, f.p, tab.ID, "close-1")
	f.must(err)
	if again.Status != merchant.TabClosed || again.Settled != closed.Settled {
		t.Errorf("close replay: %+v", again)
	}
	_, err = f.s.CloseTab(f.ctx, f.p, tab.ID, "close-2")
	wantTabCode(t, err, wallet.CodeInvalidState)
	_, err = f.s.CloseTab(f.ctx, f.merchant("Other"), tab.ID, "close-1")
	wantTabCode(t, err, wallet.CodeNotFound)
	if n := len(f.events(merchant.EventTabClosed, tab.ID)); n != 1 {
		t.Errorf("%d tab.closed events", n)
	}
	// A pending tab closes at once.
	p := f.open(phone, "5", false)
	c, err := f.s.CloseTab(f.ctx, f.p, p.ID, "close-3")
	f.must(err)
	if c.Status != merchant.TabClosed || c.Charged != 0 {
		t.Errorf("closed pending tab: %+v", c)
	}
	_, err = f.s.Approve(f.ctx, phone, p.ID, tabPIN)
	wantTabCode(t, err, wallet.CodeInvalidState)
	f.checkLedger()
}

func TestPrepaidTab(t *testing.T) {
	f := newTabFixture(t)
	phone := f.customer(100_00)
	tab := f.open(phone, "10.005", true)
	got, err := f.s.Approvals(f.ctx, phone)
	f.must(err)
	if len(got) != 1 || got[0].Amount != 10_01 || !got[0].Prepaid {
		t.Fatalf("approvals: %+v", got)
	}
	// A wrong PIN holds nothing and leaves the key free.
	_, err = f.s.Approve(f.ctx, phone, tab.ID, "9999")
	wantTabCode(t, err, wallet.CodePINInvalid)
	if b := f.balance(phone); b != 100_00 {
		t.Fatalf("a wrong PIN moved money: balance %d", b)
	}
	r, err := f.s.Approve(f.ctx, phone, tab.ID, tabPIN)
	f.must(err)
	if r.Transfer == nil || r.Transfer.Transfer.Kind != wallet.TransferHold || r.Transfer.Transfer.Amount != 10_01 || r.Tab.Status != merchant.TabActive {
		t.Fatalf("approve: %+v", r)
	}
	if b := f.balance(phone); b != 100_00-10_01 {
		t.Fatalf("balance after the hold: %d", b)
	}
	if b := f.balance(wallet.SystemTabs); b != 10_01 {
		t.Fatalf("tabs account: %d", b)
	}
	for range 3 {
		_, err := f.charge(tab.ID, "1.000013")
		f.must(err)
	}
	_, err = f.charge(tab.ID, "7.005")
	wantTabCode(t, err, wallet.CodeLimitExceeded)
	closed, err := f.s.CloseTab(f.ctx, f.p, tab.ID, "c")
	f.must(err)
	if closed.Status != merchant.TabClosed || closed.Settled != f.micro("3") {
		t.Fatalf("closed: %+v", closed)
	}
	// Held 10.01, settled 3.00, released 7.01: the customer paid 3.00, the
	// remainder 0.000039 written off.
	if b := f.balance(phone); b != 100_00-3_00 {
		t.Errorf("customer balance %d, want 97.00", b)
	}
	if b := f.balance(f.p.Merchant); b != 3_00 {
		t.Errorf("merchant balance %d, want 3.00", b)
	}
	if b := f.balance(wallet.SystemTabs); b != 0 {
		t.Errorf("tabs account %d after the close", b)
	}
	if sts := f.settlements(tab.ID); len(sts) != 1 || sts[0].Source != wallet.SystemTabs {
		t.Errorf("settlements: %+v", sts)
	}
	f.checkLedger()
}

func TestPrepaidHoldRefused(t *testing.T) {
	f := newTabFixture(t)
	phone := f.customer(5_00)
	tab := f.open(phone, "10", true)
	_, err := f.s.Approve(f.ctx, phone, tab.ID, tabPIN)
	wantTabCode(t, err, wallet.CodeInsufficientFunds)
	got := f.tab(tab.ID)
	if got.Status != merchant.TabDeclined || got.Reason != string(wallet.CodeInsufficientFunds) {
		t.Fatalf("tab after a refused hold: %+v", got)
	}
	if b := f.balance(phone); b != 5_00 {
		t.Errorf("balance %d", b)
	}
	f.sweep() // nothing held: nothing to release
	if b := f.balance(phone); b != 5_00 {
		t.Errorf("balance %d after the sweep", b)
	}
}

func TestSuspendedThenRecovered(t *testing.T) {
	f := newTabFixture(t)
	phone := f.customer(2_00)
	tab := f.active(phone, "100", false)
	_, err := f.charge(tab.ID, "5.5")
	f.must(err)
	f.must(f.s.SettleTab(f.ctx, tab.ID))
	got := f.tab(tab.ID)
	if got.Status != merchant.TabSuspended || got.Reason != string(wallet.CodeInsufficientFunds) || got.Settled != 0 {
		t.Fatalf("tab after a refused settlement: %+v", got)
	}
	sts := f.settlements(tab.ID)
	if len(sts) != 1 || sts[0].Status != merchant.SettlementFailed || sts[0].Amount != 5_50 {
		t.Fatalf("settlements: %+v", sts)
	}
	if n := len(f.events(merchant.EventTabSuspended, tab.ID)); n != 1 {
		t.Errorf("%d tab.suspended events", n)
	}
	_, err = f.charge(tab.ID, "1")
	wantTabCode(t, err, wallet.CodeInvalidState)
	// Not retried before its time; then retried, refused again, and the
	// next try waits twice as long.
	f.sweep()
	if n := len(f.settlements(tab.ID)); n != 1 {
		t.Fatalf("%d settlements: retried too early", n)
	}
	f.clock.Add(merchant.SuspendedRetry)
	f.sweep()
	if sts := f.settlements(tab.ID); len(sts) != 2 || sts[1].Status != merchant.SettlementFailed {
		t.Fatalf("first retry: %+v", sts)
	}
	f.clock.Add(merchant.SuspendedRetry / 2)
	f.sweep()
	if n := len(f.settlements(tab.ID)); n != 2 {
		t.Fatalf("%d settlements: the second retry came too early", n)
	}
	f.fund(phone, 10_00)
	f.clock.Add(merchant.SuspendedRetry/2 + time.Second) // the wait doubled the milliseconds this test took too
	f.sweep()
	got = f.tab(tab.ID)
	sts = f.settlements(tab.ID)
	if got.Status != merchant.TabActive || got.Settled != f.micro("5.5") || len(sts) != 3 || sts[2].Status != merchant.SettlementDone {
		t.Fatalf("after the retry: %+v, %+v", got, sts)
	}
	if b := f.balance(phone); b != 12_00-5_50 {
		t.Errorf("balance %d", b)
	}
	if n := len(f.events(merchant.EventTabSuspended, tab.ID)); n != 1 {
		t.Errorf("%d tab.suspended events, want 1", n)
	}
	_, err = f.charge(tab.ID, "1")
	f.must(err)
	f.checkLedger()
}

func TestCloseSuspendedThenSweeperCloses(t *testing.T) {
	f := newTabFixture(t)
	phone := f.customer(1_00)
	tab := f.active(phone, "100", false)
	_, err := f.charge(tab.ID, "3.333333")
	f.must(err)
	c, err := f.s.CloseTab(f.ctx, f.p, tab.ID, "close")
	f.must(err)
	if c.Status != merchant.TabSuspended {
		t.Fatalf("close without funds: %+v", c)
	}
	f.fund(phone, 5_00)
	f.clock.Add(merchant.SuspendedRetry)
	f.sweep()
	got := f.tab(tab.ID)
	if got.Status != merchant.TabClosed || got.Settled != f.micro("3.33") {
		t.Fatalf("after the retry: %+v", got)
	}
	if b := f.balance(phone); b != 6_00-3_33 {
		t.Errorf("balance %d", b)
	}
}

func TestPendingSettlementRecovery(t *testing.T) {
	for _, posted := range []bool{false, true} {
		t.Run(fmt.Sprint("posted=", posted), func(t *testing.T) {
			f := newTabFixture(t)
			phone := f.customer(100_00)
			tab := f.active(phone, "100", false)
			_, err := f.charge(tab.ID, "7.77")
			f.must(err)
			// A crash after recording the settlement (and, posted, after the
			// ledger took it) and before marking it done.
			st, err := f.s.StartTabSettlement(f.ctx, tab.ID)
			f.must(err)
			if st == nil || st.Amount != 7_77 || st.Status != merchant.SettlementPending {
				t.Fatalf("started: %+v", st)
			}
			rec, err := f.ms.TabByID(f.ctx, tab.ID)
			f.must(err)
			if posted {
				_, err := f.w.Transfer(f.ctx, merchant.TabSettleRequest(rec, st))
				f.must(err)
			}
			// Charges go on meanwhile; the sweeper waits for the lease.
			_, err = f.charge(tab.ID, "1")
			f.must(err)
			f.sweep()
			if got := f.settlements(tab.ID); got[0].Status != merchant.SettlementPending {
				t.Fatalf("resolved within the lease: %+v", got)
			}
			f.clock.Add(merchant.TabLease)
			f.sweep()
			sts := f.settlements(tab.ID)
			if len(sts) != 1 || sts[0].Status != merchant.SettlementDone {
				t.Fatalf("settlements: %+v", sts)
			}
			if b := f.balance(phone); b != 100_00-7_77 {
				t.Errorf("customer balance %d: paid %d, want 7.77 once", b, 100_00-b)
			}
			closed, err := f.s.CloseTab(f.ctx, f.p, tab.ID, "c")
			f.must(err)
			if closed.Settled != f.micro("8.77") || f.balance(phone) != 100_00-8_77 {
				t.Errorf("closed %+v, balance %d", closed, f.balance(phone))
			}
			f.checkLedger()
		})
	}
}

func TestSettlementFee(t *testing.T) {
	f := newTabFixtureWith(t, tabOptions{wallet: func(c *wallet.Config) {
		c.Tariff = wallet.DefaultTariff(c.Currency)
		c.Tariff.Settle = wallet.Percent{BasisPoints: 100, Min: 5} // 1%, at least 0.05
	}})
	network := f.merchant("Network")
	phone := f.customer(1000_00)
	tab := f.active(phone, "1000", false)
	// Thousands of 0.001 charges cost one fee.
	const clicks = 3000
	var wg sync.WaitGroup
	for i := range clicks {
		wg.Go(func() {
			_, err := f.s.Charge(f.ctx, f.p, merchant.ChargeRequest{Tab: tab.ID, Key: fmt.Sprint("click-", i), Amount: 1000,
				Splits: []merchant.Split{{To: f.p.Merchant, Weight: 2}, {To: network.Merchant, Weight: 1}}})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	closed, err := f.s.CloseTab(f.ctx, f.p, tab.ID, "c")
	f.must(err)
	if closed.Settled != f.micro("3") || closed.Charged != f.micro("3") {
		t.Fatalf("closed: %+v", closed)
	}
	sts := f.settlements(tab.ID)
	if len(sts) != 1 || sts[0].Fee != 5 || sts[0].Amount != 3_00 {
		t.Fatalf("settlements: %+v", sts)
	}
	shop, net := f.balance(f.p.Merchant), f.balance(network.Merchant)
	if shop+net != 3_00-5 || shop != 197 || net != 98 {
		t.Errorf("payees got %d and %d of 2.95 (2:1, largest remainder)", shop, net)
	}
	if b := f.balance(wallet.SystemFees); b != 5 {
		t.Errorf("fees %d", b)
	}
	f.checkLedger()
}

// TestHoldRecovery: a prepaid approval that posted its hold and crashed
// before recording it is finished by the sweeper once the lease is over
// (the tab is active); a decline meanwhile finds the hold and says the
// tab is approved; a close meanwhile gives the hold back.
func TestHoldRecovery(t *testing.T) {
	for _, then := range []string{"sweep", "decline", "close", "close first"} {
		t.Run(then, func(t *testing.T) {
			f := newTabFixture(t)
			phone := f.customer(50_00)
			tab := f.open(phone, "20", true)
			req, err := f.s.BeginTabHold(f.ctx, tab.ID, tabPIN)
			f.must(err)
			if then == "close first" {
				// The merchant closes while the hold is still in the
				// wallet's queue: the tab waits, pending, for its outcome.
				c, err := f.s.CloseTab(f.ctx, f.p, tab.ID, "c")
				f.must(err)
				if c.Status != merchant.TabPending {
					t.Fatalf("closed with a hold in flight: %+v", c)
				}
			}
			_, err = f.w.Transfer(f.ctx, req)
			f.must(err)
			switch then {
			case "close first":
				f.clock.Add(merchant.TabLease)
				f.sweep()
				got := f.tab(tab.ID)
				if got.Status != merchant.TabClosed || f.balance(phone) != 50_00 || f.balance(wallet.SystemTabs) != 0 {
					t.Fatalf("closed tab %+v; balance %d, tabs %d", got, f.balance(phone), f.balance(wallet.SystemTabs))
				}
				f.checkLedger()
				return
			case "sweep":
				f.sweep()
				if got := f.tab(tab.ID); got.Status != merchant.TabPending {
					t.Fatalf("resolved within the lease: %+v", got)
				}
				f.clock.Add(merchant.TabLease)
				f.sweep()
			case "decline":
				_, err = f.s.Decline(f.ctx, phone, tab.ID, tabPIN)
				wantTabCode(t, err, wallet.CodeInvalidState)
			case "close":
				// The close finds the hold, closes the tab and gives it back.
				_, err := f.s.CloseTab(f.ctx, f.p, tab.ID, "c")
				f.must(err)
				got := f.tab(tab.ID)
				if got.Status != merchant.TabClosed || f.balance(phone) != 50_00 || f.balance(wallet.SystemTabs) != 0 {
					t.Fatalf("closed tab %+v; balance %d, tabs %d", got, f.balance(phone), f.balance(wallet.SystemTabs))
				}
				f.checkLedger()
				return
			}
			got := f.tab(tab.ID)
			if got.Status != merchant.TabActive || f.balance(phone) != 30_00 {
				t.Fatalf("tab %+v, balance %d", got, f.balance(phone))
			}
			_, err = f.charge(tab.ID, "19.999999")
			f.must(err)
			c, err := f.s.CloseTab(f.ctx, f.p, tab.ID, "c")
			f.must(err)
			if c.Status != merchant.TabClosed || f.balance(phone) != 50_00-19_99 || f.balance(f.p.Merchant) != 19_99 {
				t.Errorf("closed %+v; customer %d, merchant %d", c, f.balance(phone), f.balance(f.p.Merchant))
			}
			f.checkLedger()
		})
	}
}
