package rules

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

// eventsMax bounds the transfers the engine keeps per account: a rule
// about more transfers than this in a window cannot tell the difference,
// and an account past it (a busy agent) costs a bounded check.
const eventsMax = 512

// event is one committed debit of an account.
type event struct {
	at     int64 // Unix nanoseconds: compared on every check
	kind   wallet.TransferKind
	target int64
	amount int64
}

// Engine evaluates a Config's rules against each account's recent
// transfers, kept in memory. It implements wallet.RuleChecker.
type Engine struct {
	cfg     Config
	horizon time.Duration // the longest window
	metrics *Metrics

	mu       sync.Mutex
	accounts map[int64][]event // the debits of each account, oldest first
	deposits map[int64][]event // the deposits each customer received (target: the agent), oldest first
	pruned   time.Time         // when idle accounts were last dropped
}

var _ wallet.RuleChecker = (*Engine)(nil)

// New returns an engine over c (validated), counting decisions in m (nil
// for none).
func New(c *Config, m *Metrics) *Engine {
	e := &Engine{cfg: *c, metrics: m, accounts: map[int64][]event{}, deposits: map[int64][]event{}}
	for _, r := range c.Rules {
		e.horizon = max(e.horizon, time.Duration(r.Window))
	}
	return e
}

// Window is the longest window of the rules (wallet.RuleChecker).
func (e *Engine) Window() time.Duration { return e.horizon }

// Config returns the engine's rules.
func (e *Engine) Config() *Config { return &e.cfg }

// Check returns the decision of the rules about f: the first block that
// fires, else the first review, else allow.
func (e *Engine) Check(f wallet.RuleFacts) wallet.RuleDecision {
	e.mu.Lock()
	evs, deps := e.accounts[f.Source], e.deposits[f.Source]
	var review wallet.RuleDecision
	d := wallet.RuleDecision{Outcome: wallet.RuleAllow}
	for i := range e.cfg.Rules {
		r := &e.cfg.Rules[i]
		if r.Outcome == wallet.RuleAllow || !slices.Contains(r.transfers(), f.Kind) {
			continue
		}
		in := evs
		if r.Kind == KindFarming {
			in = deps
		}
		saw, fired := r.check(f, in)
		if !fired {
			continue
		}
		if r.Outcome == wallet.RuleBlock {
			d = wallet.RuleDecision{Outcome: wallet.RuleBlock, Rule: r.Name, Saw: saw}
			break
		}
		if review.Rule == "" {
			review = wallet.RuleDecision{Outcome: wallet.RuleReview, Rule: r.Name, Saw: saw}
		}
	}
	e.mu.Unlock()
	if d.Outcome == wallet.RuleAllow && review.Rule != "" {
		d = review
	}
	e.metrics.decided(d)
	return d
}

// Committed records a transfer the wallet made; a replay of one at start
// (warming the windows from the database) is the same call.
func (e *Engine) Committed(f wallet.RuleFacts) {
	e.mu.Lock()
	defer e.mu.Unlock()
	evs := append(e.accounts[f.Source], event{at: f.Time.UnixNano(), kind: f.Kind, target: f.Target, amount: f.Amount})
	evs = e.trim(evs, f.Time.UnixNano())
	e.accounts[f.Source] = evs
	if f.Kind == wallet.TransferDeposit {
		deps := append(e.deposits[f.Target], event{at: f.Time.UnixNano(), kind: f.Kind, target: f.Source, amount: f.Amount})
		e.deposits[f.Target] = e.trim(deps, f.Time.UnixNano())
	}
	if f.Time.Sub(e.pruned) > e.horizon {
		// Drop the accounts idle for a whole horizon, once per horizon:
		// the map holds only accounts active within it.
		for _, m := range []map[int64][]event{e.accounts, e.deposits} {
			for id, evs := range m {
				if len(evs) == 0 || f.Time.UnixNano()-evs[len(evs)-1].at >= int64(e.horizon) {
					delete(m, id)
				}
			}
		}
		e.pruned = f.Time
	}
}

// trim drops the events older than the horizon and past eventsMax.
func (e *Engine) trim(evs []event, now int64) []event {
	cut := 0
	for cut < len(evs) && now-evs[cut].at >= int64(e.horizon) {
		cut++
	}
	cut = max(cut, len(evs)-eventsMax)
	if cut > 0 {
		evs = slices.Delete(evs, 0, cut)
	}
	return evs
}

// within reports whether ev is inside the window that starts after since
// (the check's time less the window): strictly less than a window old.
func within(ev *event, since int64) bool { return ev.at > since }

// check reports whether r fires on f given the account's events (for a
// farming rule, the deposits it received), and what it saw.
func (r *Rule) check(f wallet.RuleFacts, evs []event) (string, bool) {
	w := time.Duration(r.Window)
	since := f.Time.UnixNano() - int64(w)
	kinds := r.transfers()
	switch r.Kind {
	case KindVelocity:
		count, sum := 1, f.Amount
		for i := range evs {
			if within(&evs[i], since) && slices.Contains(kinds, evs[i].kind) {
				count++
				sum += evs[i].amount
			}
		}
		if r.CountMax > 0 && count > r.CountMax || r.AmountMax > 0 && sum > r.AmountMax {
			return fmt.Sprintf("%d transfers, %d in total within %s (this one included)", count, sum, w), true
		}
	case KindNewRecipient:
		if f.Amount < r.AmountMin {
			return "", false
		}
		for i := range evs {
			if within(&evs[i], since) && evs[i].target == f.Target {
				return "", false
			}
		}
		return fmt.Sprintf("%d to account %d, not paid within %s", f.Amount, f.Target, w), true
	case KindStructuring:
		under := func(amount int64) (int64, bool) {
			for _, b := range r.Below {
				if amount <= b && amount > b-r.Margin {
					return b, true
				}
			}
			return 0, false
		}
		limit, ok := under(f.Amount)
		if !ok {
			return "", false
		}
		count := 1
		for i := range evs {
			if _, near := under(evs[i].amount); near && within(&evs[i], since) && slices.Contains(kinds, evs[i].kind) {
				count++
			}
		}
		if count >= r.CountMin {
			return fmt.Sprintf("%d transfers within %d under a limit within %s (this one under %d)", count, r.Margin, w, limit), true
		}
	case KindFarming:
		for i := range evs {
			d := &evs[i]
			if within(d, since) && d.target == f.Target && f.Amount*100 >= d.amount*int64(r.Share) {
				return fmt.Sprintf("withdrawal of %d at the agent (account %d) that deposited %d %s before", f.Amount, f.Target, d.amount,
					time.Duration(f.Time.UnixNano()-d.at).Round(time.Second)), true
			}
		}
	}
	return "", false
}
