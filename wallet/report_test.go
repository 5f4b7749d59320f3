package wallet_test

import (
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

// reportEpoch is where the report tests' clocks start, in a year no other
// test uses: transfer ids follow a logical clock that never goes back
// within a year (it starts afresh in another), and the dashboard buckets
// days by id, so a test whose dates must match its ids has a year of its
// own (TestDashboard this one, TestReconcile reconEpoch's).
var reportEpoch = time.Date(2031, 3, 10, 0, 0, 0, 0, time.UTC)

// reports returns the reports over f's wallet.
func (f *fixture) reports() *wallet.Reports {
	f.t.Helper()
	r, err := wallet.NewReports(f.w)
	f.must(err)
	return r
}

// figures accumulates what a test expects a dashboard to show for a day.
type figures map[wallet.TransferKind]*wallet.KindFigures

func (fs figures) add(t wallet.Transfer) {
	k := fs[t.Kind]
	if k == nil {
		k = &wallet.KindFigures{Kind: t.Kind}
		fs[t.Kind] = k
	}
	k.Count++
	k.Volume += t.Amount
	sign := int64(1)
	if t.Kind == wallet.TransferReversal {
		sign = -1
	}
	k.FeeRevenue += sign * t.Fee
	k.Commission += sign * t.Commission
}

func TestDashboard(t *testing.T) {
	// Nairobi is UTC+3: days start at midnight there.
	eat := time.FixedZone("EAT", 3*60*60)
	f := newFixture(t, func(c *wallet.Config) { c.Location = eat })
	at := func(day, hour int) { f.clock.Set(time.Date(reportEpoch.Year(), 3, day, hour, 0, 0, 0, eat)) }
	transfer := func(want figures, req wallet.TransferRequest) wallet.Transfer {
		t.Helper()
		r, err := f.w.Transfer(f.ctx, keyed(req))
		f.must(err)
		want.add(r.Transfer)
		return r.Transfer
	}
	float := func(want figures, agent string, amount int64) {
		t.Helper()
		r, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: key(), Kind: wallet.TransferFloat, To: agent, Amount: amount, Reference: "BANK-" + key()})
		f.must(err)
		want.add(r.Transfer)
	}
	const days = 4 // the 10th to the 13th of March, the 13th today
	want := make([]figures, days)
	for i := range want {
		want[i] = figures{}
	}
	circulation := make([]int64, days)
	fees0 := f.balance(wallet.SystemFees) // before the period: none
	at(9, 12)                             // the day before the period
	agentPhone, agentNo := f.agent(f.ksh(50_000))
	alice, bob := f.customer("Alice"), f.customer("Bob")
	till := f.merchant("Duka", false)
	old := figures{}
	transfer(old, wallet.TransferRequest{Kind: wallet.TransferDeposit, From: agentPhone, To: alice, Amount: f.ksh(20_000), PIN: "1357"})
	feesBefore := f.balance(wallet.SystemFees) - fees0

	at(10, 0) // midnight in Nairobi, 21:00 UTC the day before
	transfer(want[0], wallet.TransferRequest{Kind: wallet.TransferSend, From: alice, To: bob, Amount: f.ksh(1_000), PIN: "2580"})
	at(10, 23)
	transfer(want[0], wallet.TransferRequest{Kind: wallet.TransferTill, From: alice, To: till, Amount: f.ksh(700), PIN: "2580"})
	circulation[0] = -f.balance(wallet.SystemTrust)
	at(11, 9)
	float(want[1], agentNo, f.ksh(10_000))
	sent := transfer(want[1], wallet.TransferRequest{Kind: wallet.TransferSend, From: alice, To: bob, Amount: f.ksh(2_500), PIN: "2580"})
	transfer(want[1], wallet.TransferRequest{Kind: wallet.TransferWithdraw, From: bob, To: agentNo, Amount: f.ksh(500), PIN: "2580"})
	at(11, 20)
	transfer(want[1], wallet.TransferRequest{Kind: wallet.TransferReversal, From: alice, Reference: sent.Ref, PIN: "2580"})
	circulation[1] = -f.balance(wallet.SystemTrust)
	// Nothing on the 12th.
	circulation[2] = circulation[1]
	at(13, 8)
	float(want[3], agentNo, f.ksh(3_000))
	transfer(want[3], wallet.TransferRequest{Kind: wallet.TransferDeposit, From: agentPhone, To: bob, Amount: f.ksh(4_000), PIN: "1357"})
	circulation[3] = -f.balance(wallet.SystemTrust)
	at(13, 18)
	f.check()

	r := f.reports()
	for pass := range 2 { // the second from the closed days kept in memory
		d, err := r.Dashboard(f.ctx, days)
		f.must(err)
		if len(d.Days) != days {
			t.Fatalf("pass %d: got %d days, want %d", pass, len(d.Days), days)
		}
		total := figures{}
		for i, day := range d.Days {
			if wantDay := time.Date(reportEpoch.Year(), 3, 10+i, 0, 0, 0, 0, eat); !day.Day.Equal(wantDay) {
				t.Errorf("pass %d: day %d starts at %s, want %s", pass, i, day.Day, wantDay)
			}
			got := figures{}
			for _, k := range day.Kinds {
				got[k.Kind] = &k
			}
			assertFigures(t, day.Day.Format("Jan 2"), got, want[i])
			if day.Circulation != circulation[i] {
				t.Errorf("pass %d: %s circulation %d, want %d", pass, day.Day.Format("Jan 2"), day.Circulation, circulation[i])
			}
			for k, w := range want[i] {
				if total[k] == nil {
					total[k] = &wallet.KindFigures{Kind: k}
				}
				total[k].Count += w.Count
				total[k].Volume += w.Volume
				total[k].FeeRevenue += w.FeeRevenue
				total[k].Commission += w.Commission
			}
		}
		got := figures{}
		var revenue int64
		for _, k := range d.Totals {
			got[k.Kind] = &k
			revenue += k.FeeRevenue
		}
		assertFigures(t, "totals", got, total)
		// ByKind: a row per kind of the totals, a value per day.
		kinds, rows := d.ByKind(func(k wallet.KindFigures) int64 { return k.Volume })
		if len(kinds) != len(d.Totals) || len(rows) != len(kinds) {
			t.Fatalf("pass %d: ByKind gave %d kinds and %d rows for %d kinds", pass, len(kinds), len(rows), len(d.Totals))
		}
		for r, k := range kinds {
			for i := range d.Days {
				var w int64
				if f := want[i][k]; f != nil {
					w = f.Volume
				}
				if rows[r][i] != w {
					t.Errorf("pass %d: ByKind %s day %d: got %d, want %d", pass, k, i, rows[r][i], w)
				}
			}
		}
		// The period's fee revenue is what the fee account earned in it.
		if fees := f.balance(wallet.SystemFees) - fees0 - feesBefore; revenue != fees {
			t.Errorf("pass %d: fee revenue %d, want the fee account's %d", pass, revenue, fees)
		}
		// Circulation: what the trust bank account must hold, split by holder.
		if d.Circulation != -f.balance(wallet.SystemTrust) {
			t.Errorf("pass %d: circulation %d, want %d", pass, d.Circulation, -f.balance(wallet.SystemTrust))
		}
		var holders int64
		for _, n := range []string{agentNo, alice, bob, till} {
			holders += f.balance(n)
		}
		if d.Holdings.Holders != holders {
			t.Errorf("pass %d: holders hold %d, want %d", pass, d.Holdings.Holders, holders)
		}
		if op := f.balance(wallet.SystemFees) + f.balance(wallet.SystemCommission) + f.balance(wallet.SystemAirtime) + f.balance(wallet.SystemSuspense); d.Holdings.Operator != op {
			t.Errorf("pass %d: the operator holds %d, want %d", pass, d.Holdings.Operator, op)
		}
		if d.Holdings.Holders+d.Holdings.InTransit+d.Holdings.Operator != d.Circulation {
			t.Errorf("pass %d: holdings %+v do not sum to the circulation %d", pass, d.Holdings, d.Circulation)
		}
	}
}

func assertFigures(t *testing.T, what string, got, want figures) {
	t.Helper()
	for k, w := range want {
		if g := got[k]; g == nil || *g != *w {
			t.Errorf("%s %s: got %+v, want %+v", what, k, g, *w)
		}
	}
	for k, g := range got {
		if want[k] == nil {
			t.Errorf("%s: got %+v, want no %s", what, *g, k)
		}
	}
}

func TestDashboardDays(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(otherEpoch)
	r := f.reports()
	tests := []struct {
		days, want int
		code       wallet.Code
	}{
		{0, wallet.DashboardDaysDefault, ""},
		{1, 1, ""},
		{wallet.DashboardDaysMax, wallet.DashboardDaysMax, ""},
		{wallet.DashboardDaysMax + 1, 0, wallet.CodeInvalid},
		{-1, 0, wallet.CodeInvalid},
	}
	for _, tt := range tests {
		d, err := r.Dashboard(f.ctx, tt.days)
		if code := wallet.ErrorCode(err); code != tt.code {
			t.Errorf("%d days: got %v, want %q", tt.days, err, tt.code)
			continue
		}
		if err == nil && len(d.Days) != tt.want {
			t.Errorf("%d days: got %d, want %d", tt.days, len(d.Days), tt.want)
		}
	}
}

// otherEpoch is where the report tests that do not read by id start.
var otherEpoch = time.Date(2035, 3, 10, 0, 0, 0, 0, time.UTC)

func TestAgentsReport(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(otherEpoch.Add(10 * time.Hour))
	type agent struct{ phone, number string }
	var agents []agent
	for _, float := range []int64{f.ksh(100), f.ksh(20_000), f.ksh(4_999), f.ksh(5_000)} {
		p, n := f.agent(float)
		agents = append(agents, agent{p, n})
	}
	// The first earns commission on a deposit last month and one today.
	alice := f.customer("Alice")
	f.clock.Set(otherEpoch.Add(-48 * time.Hour)) // in February
	_, err := f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferDeposit, From: agents[1].phone, To: alice, Amount: f.ksh(1_000), PIN: "1357"}))
	f.must(err)
	f.clock.Set(otherEpoch.Add(11 * time.Hour))
	_, err = f.w.Transfer(f.ctx, keyed(wallet.TransferRequest{Kind: wallet.TransferDeposit, From: agents[1].phone, To: alice, Amount: f.ksh(3_000), PIN: "1357"}))
	f.must(err)
	earned, err := f.w.Earnings(f.ctx, agents[1].phone, "1357")
	f.must(err)
	if earned.Today == 0 || earned.Month <= earned.Today {
		t.Fatalf("the test needs commission: %+v", earned)
	}
	r := f.reports()
	numbers := func(p *wallet.AgentPage) []string {
		var out []string
		for _, a := range p.Agents {
			out = append(out, a.Number)
		}
		return out
	}
	tests := []struct {
		name string
		q    wallet.AgentQuery
		want []string // agent numbers
		low  int64
		code wallet.Code
	}{
		{"default threshold", wallet.AgentQuery{}, []string{agents[0].number, agents[1].number, agents[2].number, agents[3].number}, 2, ""},
		{"low only", wallet.AgentQuery{LowOnly: true}, []string{agents[0].number, agents[2].number}, 2, ""},
		{"a higher threshold", wallet.AgentQuery{FloatLow: f.ksh(30_000), LowOnly: true}, []string{agents[0].number, agents[1].number, agents[2].number, agents[3].number}, 4, ""},
		{"a negative threshold", wallet.AgentQuery{FloatLow: -1}, nil, 0, wallet.CodeInvalid},
		{"a negative page", wallet.AgentQuery{Limit: -1}, nil, 0, wallet.CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := r.Agents(f.ctx, tt.q)
			if code := wallet.ErrorCode(err); code != tt.code {
				t.Fatalf("got %v, want %q", err, tt.code)
			}
			if err != nil {
				return
			}
			if got := numbers(p); !equalStrings(got, tt.want) {
				t.Errorf("got agents %v, want %v", got, tt.want)
			}
			if p.Totals.Agents != int64(len(agents)) || p.Totals.Low != tt.low {
				t.Errorf("got totals %+v, want %d agents, %d low", p.Totals, len(agents), tt.low)
			}
			for _, a := range p.Agents {
				if a.Float != f.balance(a.Number) || a.Low != (a.Float < p.FloatLow) {
					t.Errorf("agent %s: float %d low %v, want float %d under %d", a.Number, a.Float, a.Low, f.balance(a.Number), p.FloatLow)
				}
				if a.Number == agents[1].number && (a.CommissionToday != earned.Today || a.CommissionMonth != earned.Month) {
					t.Errorf("agent %s earned %d today, %d this month; Earnings says %d and %d", a.Number, a.CommissionToday, a.CommissionMonth, earned.Today, earned.Month)
				}
			}
		})
	}
	// Pages of one follow each other to the end.
	var got []string
	q := wallet.AgentQuery{Limit: 1}
	for range len(agents) + 1 {
		p, err := r.Agents(f.ctx, q)
		f.must(err)
		got = append(got, numbers(p)...)
		if p.Next == 0 {
			break
		}
		q.After = p.Next
	}
	if want := []string{agents[0].number, agents[1].number, agents[2].number, agents[3].number}; !equalStrings(got, want) {
		t.Errorf("paged: got %v, want %v", got, want)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
