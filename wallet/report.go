package wallet

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"
)

// The operator's reports: the back-office dashboard (transfers by day and
// kind, e-money in circulation), the agents' float and commission, and the
// reconciliation of the trust account against a bank statement (recon.go).
// They read; they move no money.
//
// # E-money in circulation
//
// Every unit of e-money was issued by a float issue, which debits the trust
// system account and credits an agent against cash banked in the trust
// bank account, so the e-money in circulation is exactly minus the trust
// account's balance (CheckReport.Issued): the amount the trust bank account
// must hold. The ledger balances (every transfer's postings sum to zero),
// so it equals the sum of every other account's balance, split here by who
// holds it (Holdings):
//
//   - holders: customers, agents (their float) and merchants (tills and
//     paybills): Circulation less the two below;
//   - in transit, held for customers: the tabs account (prepaid tab loads)
//     and the reversals account (amounts held while a reversal request is
//     open);
//   - the operator's own: fees (revenue), commission (the expense, negative),
//     airtime (owed to the mobile network) and suspense.
//
// The holders' share is derived from the system accounts (the ledger
// balances), not summed over every customer, so the dashboard reads seven
// rows for it, not a hundred thousand.

const (
	// DashboardDaysMax bounds a dashboard's period: three months of days
	// is what a chart can show a bar for.
	DashboardDaysMax = 92
	// DashboardDaysDefault is the period when none is asked for (issue 14's
	// "last 30 days").
	DashboardDaysDefault = 30
	// AgentsPageMax bounds one page of the agents report (and is its default).
	AgentsPageMax = 200
	// reportSettle is how long after a day ends its figures are kept as
	// final: a transfer's id comes from its wallet process's clock, which
	// may lag by eventClockSkewMax, so a day is read again until then.
	reportSettle = 2 * eventClockSkewMax
	// reportDaysCachedMax bounds the closed days a Reports keeps in memory
	// (one per day and location); older ones are dropped.
	reportDaysCachedMax = 4 * DashboardDaysMax
)

// DefaultFloatLow is the agent float below which the agents report flags an
// agent as low when the query names no threshold: 5,000 units of the
// currency (KES 5,000 covers a morning of deposits at a small shop).
func DefaultFloatLow(c Currency) int64 { return 5_000 * c.unit() }

// KindFigures are the transfers of one kind over a period.
type KindFigures struct {
	Kind   TransferKind `json:"kind"`
	Count  int64        `json:"count"`
	Volume int64        `json:"volume"` // the principals' sum, minor units
	// FeeRevenue is the fees the fee account earned: a reversal gives its
	// original's fee back, so the reversal kind's is negative.
	FeeRevenue int64 `json:"fee_revenue"`
	// Commission is what agents earned (negative for reversals).
	Commission int64 `json:"commission,omitempty"`
}

// DayFigures are one day's transfers by kind (in TransferKind order,
// kinds without transfers left out) and the e-money in circulation at its
// end (for today: now).
type DayFigures struct {
	Day         time.Time     `json:"day"` // midnight starting the day, in the wallet's location
	Kinds       []KindFigures `json:"kinds"`
	Circulation int64         `json:"circulation"`
}

// Holdings splits the e-money in circulation by who holds it (see the
// package's reports comment). Holders + InTransit + Operator = Circulation.
type Holdings struct {
	Holders   int64 `json:"holders"`    // customers, agents, merchants
	InTransit int64 `json:"in_transit"` // tabs and reversal holds, held for customers
	Operator  int64 `json:"operator"`   // fees, commission, airtime, suspense
}

// Dashboard is the back-office dashboard's figures.
type Dashboard struct {
	Currency Currency      `json:"currency"`
	Days     []DayFigures  `json:"days"`   // oldest first, one for every day of the period, today last
	Totals   []KindFigures `json:"totals"` // the period's, by kind
	// Circulation is the e-money in circulation now: minus the trust
	// account's balance, what the trust bank account must hold.
	Circulation int64     `json:"circulation"`
	Holdings    Holdings  `json:"holdings"`
	At          time.Time `json:"at"`
}

// AgentQuery selects a page of the agents report: agents in account id
// order after After.
type AgentQuery struct {
	After int64 `json:"after,omitempty"` // the previous page's Next; 0 for the first
	Limit int   `json:"limit,omitempty"` // at most AgentsPageMax (the default)
	// FloatLow is the float (minor units) below which an agent is low;
	// zero takes DefaultFloatLow.
	FloatLow int64 `json:"float_low,omitempty"`
	LowOnly  bool  `json:"low_only,omitempty"` // only the agents whose float is low
}

// AgentFigures is one agent's line: its float, what it earned, and whether
// its float is low.
type AgentFigures struct {
	Profile
	Float int64 `json:"float"`
	// CommissionToday and CommissionMonth are as Earnings reports them:
	// since midnight today and since the first of the month, in the
	// wallet's location, net of reversals.
	CommissionToday int64 `json:"commission_today"`
	CommissionMonth int64 `json:"commission_month"`
	Low             bool  `json:"low"`
}

// AgentPage is one page of the agents report with the totals over every
// agent.
type AgentPage struct {
	Agents   []AgentFigures `json:"agents"`
	Next     int64          `json:"next,omitempty"` // After of the next page; 0 on the last
	FloatLow int64          `json:"float_low"`      // the threshold applied
	Totals   AgentTotals    `json:"totals"`
}

// AgentTotals are figures over every agent.
type AgentTotals struct {
	Agents int64 `json:"agents"`
	Low    int64 `json:"low"`   // agents whose float is below the threshold
	Float  int64 `json:"float"` // the sum of every agent's float
}

// ReportStore is what the reports read. wallet/store implements it; a
// Store without it serves no reports (CodeUnavailable).
type ReportStore interface {
	// TransferTotals sums, by kind, the transfers created in [from, to),
	// whole quarter hours (a day's bounds in any time zone), from totals
	// the batch keeps as it writes: a few rows a day, not every transfer.
	TransferTotals(ctx context.Context, from, to time.Time) ([]KindFigures, error)
	// BalancesBefore returns, in one statement so that they agree, the
	// balance of account now and, for each id in before, its balance
	// without the postings of transfers with ids at or above it.
	BalancesBefore(ctx context.Context, account int64, before []int64) (now int64, then []int64, err error)
	// SystemBalances returns the balance of every system account by number.
	SystemBalances(ctx context.Context) (map[string]int64, error)
	// Agents returns up to limit agent accounts with ids above after, in id
	// order, only those with a balance below below when onlyBelow is set.
	Agents(ctx context.Context, after int64, limit int, below int64, onlyBelow bool) ([]AccountRecord, error)
	// AgentTotals counts the agents, those with a balance below below,
	// and sums their balances.
	AgentTotals(ctx context.Context, below int64) (AgentTotals, error)
	// CommissionSums returns, for each account and each time in since, the
	// sum of its commission postings created at or after it.
	CommissionSums(ctx context.Context, accounts []int64, since []time.Time) (map[int64][]int64, error)
	// FloatIssues returns the float issues with ids in [from, to) or whose
	// reference, upper-cased and trimmed, is one of references, at most
	// limit, in id order.
	FloatIssues(ctx context.Context, from, to int64, references []string, limit int) ([]FloatIssue, error)
}

// Reports serves the operator's reports from a wallet's store. It keeps
// the figures of closed days in memory (they do not change once a day has
// settled), so a dashboard reads only today's totals. Safe for
// concurrent use; make one per process.
type Reports struct {
	st       ReportStore
	cfg      Config
	system   map[string]int64
	mu       sync.Mutex
	days     map[dayKey][]KindFigures
	dayOrder []dayKey
}

type dayKey struct {
	from, to int64 // the day's id range
}

// NewReports returns the reports over s's store: CodeUnavailable if the
// store serves none.
func NewReports(s *Service) (*Reports, error) {
	st, ok := s.store.(ReportStore)
	if !ok {
		return nil, Errorf(CodeUnavailable, "this wallet's store serves no reports")
	}
	return &Reports{st: st, cfg: s.cfg, system: s.system, days: map[dayKey][]KindFigures{}}, nil
}

// Dashboard returns the last days days (today included; 0 means
// DashboardDaysDefault; more than DashboardDaysMax is CodeInvalid) of
// transfers by day and kind, and the e-money in circulation at each day's
// end and now.
func (r *Reports) Dashboard(ctx context.Context, days int) (*Dashboard, error) {
	if days == 0 {
		days = DashboardDaysDefault
	}
	if days < 1 || days > DashboardDaysMax {
		return nil, Errorf(CodeInvalid, "a dashboard shows 1 to %d days, not %d", DashboardDaysMax, days)
	}
	now := r.cfg.Now()
	loc := r.cfg.Location
	y, m, d := now.In(loc).Date()
	starts := make([]time.Time, days+1) // the days' starts, then tomorrow's
	for i := range starts {
		starts[i] = time.Date(y, m, d-days+1+i, 0, 0, 0, 0, loc)
	}
	out := &Dashboard{Currency: r.cfg.Currency, At: now.UTC(), Days: make([]DayFigures, days)}
	totals := map[TransferKind]*KindFigures{}
	// The circulation at each day's end: the trust balance without the
	// transfers of later days. Today's end is now.
	ends := make([]int64, days-1)
	for i := range ends {
		ends[i] = FirstTransferID(starts[i+1])
	}
	trust, before, err := r.st.BalancesBefore(ctx, r.system[SystemTrust], ends)
	if err != nil {
		return nil, err
	}
	for i := range out.Days {
		kinds, err := r.day(ctx, starts[i], starts[i+1], now)
		if err != nil {
			return nil, err
		}
		day := DayFigures{Day: starts[i], Kinds: kinds, Circulation: -trust}
		if i < len(before) {
			day.Circulation = -before[i]
		}
		out.Days[i] = day
		for _, k := range kinds {
			t := totals[k.Kind]
			if t == nil {
				t = &KindFigures{Kind: k.Kind}
				totals[k.Kind] = t
			}
			t.Count += k.Count
			t.Volume += k.Volume
			t.FeeRevenue += k.FeeRevenue
			t.Commission += k.Commission
		}
	}
	for _, t := range totals {
		out.Totals = append(out.Totals, *t)
	}
	sortKinds(out.Totals)
	sys, err := r.st.SystemBalances(ctx)
	if err != nil {
		return nil, err
	}
	out.Circulation, out.Holdings = holdings(sys)
	return out, nil
}

// holdings splits the e-money in circulation, given the system accounts'
// balances.
func holdings(sys map[string]int64) (int64, Holdings) {
	circulation := -sys[SystemTrust]
	h := Holdings{
		InTransit: sys[SystemTabs] + sys[SystemReversals],
		Operator:  sys[SystemFees] + sys[SystemCommission] + sys[SystemAirtime] + sys[SystemSuspense],
	}
	h.Holders = circulation - h.InTransit - h.Operator
	return circulation, h
}

// day returns the transfers of the day [start, end) by kind, from memory
// when the day has settled and was read before.
func (r *Reports) day(ctx context.Context, start, end, now time.Time) ([]KindFigures, error) {
	k := dayKey{FirstTransferID(start), FirstTransferID(end)}
	settled := now.Sub(end) >= reportSettle
	if settled {
		r.mu.Lock()
		kinds, ok := r.days[k]
		r.mu.Unlock()
		if ok {
			return kinds, nil
		}
	}
	kinds, err := r.st.TransferTotals(ctx, start, end)
	if err != nil {
		return nil, err
	}
	for i := range kinds {
		if kinds[i].Kind == TransferReversal {
			// Stored as the original's fee and commission, given back.
			kinds[i].FeeRevenue, kinds[i].Commission = -kinds[i].FeeRevenue, -kinds[i].Commission
		}
	}
	sortKinds(kinds)
	if settled {
		r.mu.Lock()
		if _, ok := r.days[k]; !ok {
			r.days[k] = kinds
			r.dayOrder = append(r.dayOrder, k)
			if len(r.dayOrder) > reportDaysCachedMax {
				delete(r.days, r.dayOrder[0])
				r.dayOrder = r.dayOrder[1:]
			}
		}
		r.mu.Unlock()
	}
	return kinds, nil
}

// kindOrder is the order kinds are listed (and stacked in a chart) in.
var kindOrder = []TransferKind{TransferSend, TransferDeposit, TransferWithdraw, TransferTill, TransferPaybill,
	TransferAirtime, TransferFloat, TransferPayout, TransferRefund, TransferSettle, TransferHold, TransferRelease,
	TransferReversal, TransferReversalHold, TransferReversalRelease}

// TransferKinds returns every transfer kind in the order the reports list
// them.
func TransferKinds() []TransferKind { return slices.Clone(kindOrder) }

func sortKinds(ks []KindFigures) {
	rank := func(k TransferKind) int {
		if i := slices.Index(kindOrder, k); i >= 0 {
			return i
		}
		return len(kindOrder) // a kind from a newer wallet: last
	}
	sort.SliceStable(ks, func(i, j int) bool {
		ri, rj := rank(ks[i].Kind), rank(ks[j].Kind)
		if ri != rj {
			return ri < rj
		}
		return ks[i].Kind < ks[j].Kind
	})
}

// Agents returns a page of agents with their float, commission earned
// today and this month (as Earnings computes it), and whether their float
// is below q.FloatLow, with totals over every agent. A negative FloatLow
// or Limit is CodeInvalid.
func (r *Reports) Agents(ctx context.Context, q AgentQuery) (*AgentPage, error) {
	if q.FloatLow < 0 || q.Limit < 0 || q.After < 0 {
		return nil, Errorf(CodeInvalid, "the float threshold, the page size and the cursor cannot be negative")
	}
	if q.FloatLow == 0 {
		q.FloatLow = DefaultFloatLow(r.cfg.Currency)
	}
	if q.Limit == 0 || q.Limit > AgentsPageMax {
		q.Limit = AgentsPageMax
	}
	recs, err := r.st.Agents(ctx, q.After, q.Limit+1, q.FloatLow, q.LowOnly)
	if err != nil {
		return nil, err
	}
	out := &AgentPage{FloatLow: q.FloatLow, Agents: []AgentFigures{}}
	if len(recs) > q.Limit {
		recs = recs[:q.Limit]
		out.Next = recs[len(recs)-1].ID
	}
	ids := make([]int64, len(recs))
	for i := range recs {
		ids[i] = recs[i].ID
	}
	y, m, d := r.cfg.Now().In(r.cfg.Location).Date()
	since := []time.Time{time.Date(y, m, d, 0, 0, 0, 0, r.cfg.Location), time.Date(y, m, 1, 0, 0, 0, 0, r.cfg.Location)}
	sums := map[int64][]int64{}
	if len(ids) > 0 {
		if sums, err = r.st.CommissionSums(ctx, ids, since); err != nil {
			return nil, err
		}
	}
	for i := range recs {
		a := recs[i].Account()
		f := AgentFigures{Profile: a.Profile, Float: a.Balance, Low: a.Balance < q.FloatLow}
		if s := sums[a.ID]; len(s) == 2 {
			f.CommissionToday, f.CommissionMonth = s[0], s[1]
		}
		out.Agents = append(out.Agents, f)
	}
	if out.Totals, err = r.st.AgentTotals(ctx, q.FloatLow); err != nil {
		return nil, err
	}
	return out, nil
}

// ByKind reshapes the dashboard for a stacked chart: the kinds with
// transfers in the period (in TransferKinds order) and, for each, measure
// of its figures on each day, oldest first (0 on a day without any).
// measure picks what to chart: Count, Volume, FeeRevenue.
func (d *Dashboard) ByKind(measure func(KindFigures) int64) (kinds []TransferKind, rows [][]int64) {
	for _, t := range d.Totals {
		kinds = append(kinds, t.Kind)
		row := make([]int64, len(d.Days))
		for i, day := range d.Days {
			for _, k := range day.Kinds {
				if k.Kind == t.Kind {
					row[i] = measure(k)
				}
			}
		}
		rows = append(rows, row)
	}
	return kinds, rows
}
