package wallet

import (
	"context"
	"crypto/hmac"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PINAttempt says where a PIN (or a start key) came from, for the wrong-PIN
// budgets, and which try it is, so that a retried hop counts once.
//
// Source names the channel and the party that carried it:
// "ussd:<aggregator>:<network>" for a USSD hop, "sms:<provider>:<sender>"
// for an SMS, "api:<caller>" for others. Key is unique per hop or message
// (a USSD hop's key, an SMS's id): a check repeated under the same Key, for
// the same account and the same PIN, answers as the first did without
// counting again. Both are optional; a check without a Source counts
// toward the "unattributed" source.
type PINAttempt struct {
	Source string `json:"source,omitempty"`
	Key    string `json:"attempt,omitempty"`
}

type pinAttemptKey struct{}

// WithPINAttempt returns ctx carrying a: the wallet's PIN checks read it
// where the request has no Source or Attempt of its own, and the NATS
// client copies it into the PIN-carrying requests it sends.
func WithPINAttempt(ctx context.Context, a PINAttempt) context.Context {
	return context.WithValue(ctx, pinAttemptKey{}, a)
}

// PINAttemptFrom returns the PINAttempt ctx carries, or the zero one.
func PINAttemptFrom(ctx context.Context) PINAttempt {
	a, _ := ctx.Value(pinAttemptKey{}).(PINAttempt)
	return a
}

// or returns a with its empty fields taken from d.
func (a PINAttempt) or(d PINAttempt) PINAttempt {
	if a.Source == "" {
		a.Source = d.Source
	}
	if a.Key == "" {
		a.Key = d.Key
	}
	return a
}

const (
	// pinSourceBytesMax and pinAttemptBytesMax bound what a client may put
	// in a PINAttempt: longer values are clipped, not refused.
	pinSourceBytesMax  = 64
	pinAttemptBytesMax = 128
	// pinSourcesMax bounds the sources one process tracks; past it, new
	// sources share one budget ("other") until old windows are pruned.
	pinSourcesMax = 10_000
	// pinAttemptTTL is how long the outcome of a wrong PIN is remembered
	// by its attempt key: an aggregator or Twilio retries a hop within
	// seconds, an approval's retry comes after a pause, and a USSD session
	// lasts 180 s.
	pinAttemptTTL = 5 * time.Minute
	// pinAttemptsMax bounds the remembered attempts; past it, a retry
	// counts again (the safe side).
	pinAttemptsMax = 100_000
	// unattributed is the source of a check that named none.
	unattributed = "unattributed"
)

// PINBudget bounds wrong PINs (and start keys) in a sliding window.
//
// Each wallet process keeps its own budget: with N processes behind the
// queue group a source gets up to N times PerSource before every process
// refuses it. That is still a fixed multiple, and a shared budget would put
// a database or key-value write on every wrong PIN.
type PINBudget struct {
	Window time.Duration // default 10 minutes
	// PerSource is the wrong PINs one source may send per Window before
	// its PIN checks are refused (CodePINThrottled) until its count falls.
	// A source is an aggregator and network, not a person: it must hold
	// the honest mistakes of everyone on a network. Default 300 (one every
	// two seconds); halved while the overall budget is spent.
	PerSource int
	// Overall is the wrong PINs of all sources per Window past which every
	// source's budget is halved and a warning logged. Default 1,500.
	Overall int
}

// DefaultPINBudget is the budget a zero PINBudget takes.
var DefaultPINBudget = PINBudget{Window: 10 * time.Minute, PerSource: 300, Overall: 1500}

func (b PINBudget) withDefaults() PINBudget {
	if b.Window <= 0 {
		b.Window = DefaultPINBudget.Window
	}
	if b.PerSource <= 0 {
		b.PerSource = DefaultPINBudget.PerSource
	}
	if b.Overall <= 0 {
		b.Overall = DefaultPINBudget.Overall
	}
	return b
}

// window counts events in a sliding window, estimated from two fixed ones.
type window struct {
	start     time.Time // of the current fixed window
	cur, prev int
}

func (w *window) roll(now time.Time, size time.Duration) {
	switch d := now.Sub(w.start); {
	case d < size:
	case d < 2*size:
		w.start, w.prev, w.cur = w.start.Add(size), w.cur, 0
	default:
		w.start, w.prev, w.cur = now, 0, 0
	}
}

// count estimates the events in the window ending now.
func (w *window) count(now time.Time, size time.Duration) int {
	w.roll(now, size)
	left := size - now.Sub(w.start)
	return w.cur + int(int64(w.prev)*int64(left)/int64(size))
}

// pinGuard holds one process's wrong-PIN budgets and the outcomes of recent
// wrong tries by attempt key. The writer calls it; the lock is for safety
// should anything else ever read it.
type pinGuard struct {
	mu       sync.Mutex
	budget   PINBudget
	sources  map[string]*window
	overall  window
	warned   map[string]time.Time // last warning per source ("" for overall), so the log says it once a window
	attempts map[string]attemptMemo
}

// attemptMemo is a remembered wrong try: the keyed hash of the secret tried
// (never kept beyond pinAttemptTTL, never stored) and the answer it got.
type attemptMemo struct {
	digest  []byte
	err     *Error
	expires time.Time
}

func newPINGuard(b PINBudget) *pinGuard {
	return &pinGuard{budget: b.withDefaults(), sources: map[string]*window{}, warned: map[string]time.Time{},
		attempts: map[string]attemptMemo{}}
}

// channel is the first field of a source: ussd, sms, api.
func channel(source string) string {
	if i := strings.IndexByte(source, ':'); i >= 0 {
		return source[:i]
	}
	return source
}

func normalAttempt(a PINAttempt) PINAttempt {
	if a.Source == "" {
		a.Source = unattributed
	}
	a.Source = clipBytes(a.Source, pinSourceBytesMax)
	a.Key = clipBytes(a.Key, pinAttemptBytesMax)
	return a
}

func attemptID(a PINAttempt, account int64) string {
	return a.Source + "\x00" + a.Key + "\x00" + strconv.FormatInt(account, 10)
}

// remembered returns the answer a wrong try with the same attempt key,
// account and secret got, if it is recent.
func (g *pinGuard) remembered(a PINAttempt, account int64, digest []byte, now time.Time) *Error {
	if a.Key == "" {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	m, ok := g.attempts[attemptID(a, account)]
	if !ok || !now.Before(m.expires) || !hmac.Equal(m.digest, digest) {
		return nil
	}
	return m.err
}

// allowed reports whether a's source is within its budget.
func (g *pinGuard) allowed(a PINAttempt, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.sources[a.Source]
	if w == nil {
		return true
	}
	return w.count(now, g.budget.Window) < g.perSource(now)
}

// perSource is the per-source budget now: halved while the overall one is spent.
func (g *pinGuard) perSource(now time.Time) int {
	if g.overall.count(now, g.budget.Window) >= g.budget.Overall {
		return max(1, g.budget.PerSource/2)
	}
	return g.budget.PerSource
}

// wrong counts a wrong try from a and remembers its answer under its key.
// It logs a warning, once a window, when a source or the whole wallet has
// spent its budget.
func (g *pinGuard) wrong(a PINAttempt, account int64, digest []byte, answer *Error, now time.Time, log *slog.Logger) {
	g.mu.Lock()
	defer g.mu.Unlock()
	size := g.budget.Window
	w := g.sources[a.Source]
	if w == nil {
		if len(g.sources) >= pinSourcesMax {
			g.prune(now)
		}
		if len(g.sources) >= pinSourcesMax {
			a.Source = "other"
			w = g.sources[a.Source]
		}
		if w == nil {
			w = &window{start: now}
			g.sources[a.Source] = w
		}
	}
	w.roll(now, size)
	w.cur++
	g.overall.roll(now, size)
	g.overall.cur++
	if n := w.count(now, size); n >= g.perSource(now) && g.warn(a.Source, now) {
		log.Warn("wallet: wrong-PIN budget spent; PIN checks from this source are refused for now",
			"source", a.Source, "wrong_pins", n, "window", size)
	}
	if n := g.overall.count(now, size); n >= g.budget.Overall && g.warn("", now) {
		log.Warn("wallet: overall wrong-PIN budget spent; every source's budget is halved for now",
			"wrong_pins", n, "window", size)
	}
	if a.Key == "" {
		return
	}
	if len(g.attempts) >= pinAttemptsMax {
		for k, m := range g.attempts {
			if !now.Before(m.expires) {
				delete(g.attempts, k)
			}
		}
		if len(g.attempts) >= pinAttemptsMax {
			return
		}
	}
	g.attempts[attemptID(a, account)] = attemptMemo{digest: digest, err: answer, expires: now.Add(pinAttemptTTL)}
}

// warn reports whether to log a warning for source now: once per window.
func (g *pinGuard) warn(source string, now time.Time) bool {
	if last, ok := g.warned[source]; ok && now.Sub(last) < g.budget.Window {
		return false
	}
	g.warned[source] = now
	return true
}

// prune forgets sources that have been quiet for two windows.
func (g *pinGuard) prune(now time.Time) {
	for s, w := range g.sources {
		if now.Sub(w.start) >= 2*g.budget.Window {
			delete(g.sources, s)
			delete(g.warned, s)
		}
	}
}
