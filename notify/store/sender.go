package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/kibubu/kibubu/notify"
)

// Results a Sender reports to SenderConfig.Observe.
const (
	ResultSent       = "sent"       // the provider took it
	ResultReconciled = "reconciled" // in doubt, and found at the provider: not sent again
	ResultRetry      = "retry"      // a transient failure; tried again after a backoff
	ResultDoubt      = "doubt"      // a failure after which the provider may have it; checked there later
	ResultFailed     = "failed"     // refused by the provider, or out of attempts
	// ResultThrottled means it was put back for later without counting an
	// attempt: over a rate limit, during the pause after transient
	// failures, or because the Sender is stopping.
	ResultThrottled = "throttled"
	// ResultLost means the outcome was not written: another Sender had
	// taken the row over (its lease ran out), or the database failed. The
	// row is then reconciled when its lease ends.
	ResultLost = "lost"
)

// Defaults of SenderConfig.

const (
	// concurrencyDefault bounds the provider calls in flight: Twilio answers
	// in about 100 ms, so 8 carry 80 a second, beyond the default rate.
	concurrencyDefault = 8
	// claimAheadDefault is how many rows per call in flight a Sender holds
	// claimed: one claim is one commit (an fsync on SQLite), so claiming
	// only as many rows as there are free calls would bound the rate by
	// the disk. A held row waits at most a few calls for its turn, well
	// within its lease, and a send that could outlast the lease is put
	// back instead.
	claimAheadDefault = 4
	// outboxClaimRowsDefault is a claim's rows for the Outbox, whose send
	// is the outcome's write itself and takes no time: as many as one
	// transaction of outcomes takes, so that a burst of receipts costs two
	// commits per outcomesBatchMax rows rather than per 4 × Concurrency.
	outboxClaimRowsDefault = outcomesBatchMax
	// burstDefault lets a second's worth of DefaultSMSRate go at once.
	burstDefault = notify.DefaultSMSRate
	// phoneRatePerSecondDefault and phoneBurstDefault bound what one handset
	// gets: a busy agent's receipts come in bursts of a few, while a loop
	// texting one phone is stopped at one message every two seconds.
	phoneRatePerSecondDefault = notify.DefaultSMSPhoneRate / 60.0
	phoneBurstDefault         = 5
	// phonesMaxDefault bounds the per-phone limiters kept in memory; idle
	// ones (a full bucket, nothing to remember) are dropped first.
	phonesMaxDefault = 10_000
	// attemptsMaxDefault bounds the attempts of one SMS before it is failed
	// (DefaultSMSAttempts, the command's --sms-attempts).
	attemptsMaxDefault = notify.DefaultSMSAttempts
	backoffMinDefault  = 10 * time.Second
	backoffMaxDefault  = 30 * time.Minute
	// leaseDefault is how long a claim holds a row; it must outlast the
	// provider's timeout (Twilio's is 10 s), and it is how long a row
	// waits when its Sender died mid-send.
	leaseDefault = time.Minute
	// pollIntervalDefault bounds how late a Sender notices rows another
	// process recorded (Record wakes only this process's Senders).
	pollIntervalDefault = 2 * time.Second
	// outagePauseMax bounds the pause of all sending after consecutive
	// transient failures, so that a provider outage spends few attempts
	// and recovery is noticed within it.
	outagePauseMax = 30 * time.Second
	// reconcileSkew widens the window in which a message in doubt is
	// looked for at the provider, for clock differences.
	reconcileSkew = 5 * time.Minute
	// outcomesBatchMax bounds the outcomes written in one transaction.
	outcomesBatchMax = 256
	// outcomeWriteAttemptsMax is the least number of tries of one batch of
	// outcomes; they go on until the rows' leases end, after which the rows
	// are reconciled. outcomeWritePauseMax bounds the pause between tries.
	outcomeWriteAttemptsMax = 3
	outcomeWritePauseMax    = 2 * time.Second
	// senderDBTimeout bounds one database statement of the Sender's own.
	senderDBTimeout = 10 * time.Second
	// senderIdleMin keeps an idle Sender from spinning on a row another Sender
	// holds locked.
	senderIdleMin = 5 * time.Millisecond
)

// SenderConfig configures a Sender. Zero fields take the defaults.
type SenderConfig struct {
	Store    *Store          // required
	Provider notify.Provider // required: a *Twilio, or Outbox{}
	Logger   *slog.Logger

	Concurrency int // provider calls in flight at most (8)
	// ClaimRows bounds the rows a Sender holds claimed, in flight or
	// waiting for a call, and so one claim's rows (4 × Concurrency; 256
	// for the Outbox).
	ClaimRows int
	// RatePerSecond and Burst bound the messages a second to the provider
	// (30, burst 30); math.Inf(1) for no limit.
	RatePerSecond float64
	Burst         int
	// PhoneRatePerSecond and PhoneBurst bound the messages a second to one
	// phone (0.5, burst 5); math.Inf(1) for no limit. A row over its phone's
	// limit is put back for later without counting an attempt, so it never
	// holds up other phones. The limits are per process.
	PhoneRatePerSecond float64
	PhoneBurst         int
	PhonesMax          int // per-phone limiters kept (10,000)

	AttemptsMax int // attempts at the provider (sends and checks) of one SMS before it is failed (8)
	// BackoffMin and BackoffMax bound the wait after a transient failure:
	// BackoffMin doubled per attempt, at most BackoffMax, with jitter
	// (10 s, 30 min). BackoffMin, doubled up to 30 s, is also the pause of
	// all sending after consecutive transient failures.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// Lease is how long a claim holds a row before another Sender may take
	// it over and reconcile it (1 min); it must exceed the provider's
	// timeout.
	Lease time.Duration
	// PollInterval bounds the wait for rows another process recorded (2 s).
	PollInterval time.Duration

	// Observe, if set, is told the outcome of every claimed row (a Result
	// constant) and how long the provider call took (0 when none was
	// made), for metrics. It is called from one goroutine and must not block.
	Observe func(provider, result string, took time.Duration)
}

// Sender sends the recorded SMS through a Provider: it claims due rows,
// sends them with bounded concurrency and rates, and records each outcome.
// Any number of Senders, in one process or several, may run on one
// database: each row is claimed by one at a time.
type Sender struct {
	store    *Store
	provider notify.Provider
	finder   notify.Finder // nil when the provider cannot find its messages
	log      *slog.Logger
	observe  func(provider, result string, took time.Duration)

	concurrency  int
	claimRows    int
	calls        chan struct{} // a slot per provider call in flight
	limit        *rate.Limiter
	phones       *phoneLimits // nil: no per-phone limit
	attemptsMax  int
	backoffMin   time.Duration
	backoffMax   time.Duration
	lease        time.Duration
	pollInterval time.Duration
	timeout      time.Duration // the provider's, 0 if it has none

	wake wakeup

	mu          sync.Mutex
	failStreak  int       // consecutive transient failures
	pausedUntil time.Time // no claims before, after transient failures
}

// NewSender checks cfg and returns a Sender. It fails without a Store or a
// Provider, or for a Lease not longer than the provider's timeout.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if cfg.Store == nil || cfg.Provider == nil {
		return nil, errors.New("notify: a sender needs a store and a provider")
	}
	s := &Sender{store: cfg.Store, provider: cfg.Provider, log: cfg.Logger, observe: cfg.Observe,
		concurrency: cfg.Concurrency, attemptsMax: cfg.AttemptsMax, backoffMin: cfg.BackoffMin,
		backoffMax: cfg.BackoffMax, lease: cfg.Lease, pollInterval: cfg.PollInterval,
		wake: newWakeup()}
	s.finder, _ = cfg.Provider.(notify.Finder)
	if t, ok := cfg.Provider.(interface{ Timeout() time.Duration }); ok {
		s.timeout = t.Timeout()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.concurrency <= 0 {
		s.concurrency = concurrencyDefault
	}
	s.claimRows = cfg.ClaimRows
	if s.claimRows <= 0 {
		s.claimRows = claimAheadDefault * s.concurrency
		if _, ok := cfg.Provider.(notify.Outbox); ok {
			s.claimRows = outboxClaimRowsDefault
		}
	}
	s.claimRows = max(s.claimRows, s.concurrency)
	s.calls = make(chan struct{}, s.concurrency)
	if s.attemptsMax <= 0 {
		s.attemptsMax = attemptsMaxDefault
	}
	if s.backoffMin <= 0 {
		s.backoffMin = backoffMinDefault
	}
	if s.backoffMax <= 0 {
		s.backoffMax = max(backoffMaxDefault, s.backoffMin)
	}
	if s.backoffMax < s.backoffMin {
		return nil, fmt.Errorf("notify: backoff max %v below min %v", s.backoffMax, s.backoffMin)
	}
	if s.pollInterval <= 0 {
		s.pollInterval = pollIntervalDefault
	}
	if s.lease <= 0 {
		s.lease = max(leaseDefault, 2*s.timeout)
	}
	if s.lease <= s.timeout {
		return nil, fmt.Errorf("notify: lease %v must exceed the provider's timeout %v", s.lease, s.timeout)
	}
	perSecond, burst := cfg.RatePerSecond, cfg.Burst
	if perSecond == 0 {
		perSecond = notify.DefaultSMSRate
	}
	if burst <= 0 {
		burst = burstDefault
	}
	if perSecond < 0 || math.IsNaN(perSecond) {
		return nil, fmt.Errorf("notify: rate %v per second", perSecond)
	}
	s.limit = rate.NewLimiter(rate.Limit(perSecond), burst)
	phoneRate, phoneBurst, phonesMax := cfg.PhoneRatePerSecond, cfg.PhoneBurst, cfg.PhonesMax
	if phoneRate == 0 {
		phoneRate = phoneRatePerSecondDefault
	}
	if phoneBurst <= 0 {
		phoneBurst = phoneBurstDefault
	}
	if phonesMax <= 0 {
		phonesMax = phonesMaxDefault
	}
	if phoneRate < 0 || math.IsNaN(phoneRate) {
		return nil, fmt.Errorf("notify: phone rate %v per second", phoneRate)
	}
	if !math.IsInf(phoneRate, 1) {
		s.phones = &phoneLimits{every: rate.Limit(phoneRate), burst: phoneBurst, max: phonesMax,
			m: map[string]*rate.Limiter{}}
	}
	return s, nil
}

// Wake tells the Sender that something was recorded. It never blocks.
// Store.Record already wakes the Senders running on its Store; call it for
// rows written otherwise.
func (s *Sender) Wake() { s.wake.notify() }

// Run sends until ctx ends, then waits for the provider calls in flight
// and writes their outcomes (each call is bounded by the provider's
// timeout). It returns nil then; database failures are logged and retried,
// not returned. Call it once.
func (s *Sender) Run(ctx context.Context) error {
	s.store.smsWakers.add(s)
	defer s.store.smsWakers.remove(s)
	outcomes := make(chan outcome, 2*s.concurrency)
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		s.record(outcomes)
	}()
	l := claimLoop[smsRow]{
		name: "sms sender", log: s.log, rows: s.claimRows, shareClaims: true,
		pollInterval: s.pollInterval, wake: s.wake, pause: s.waitPause,
		lease: s.lease, claim: s.store.claim, nextDue: s.store.nextDue,
		handle: func(ctx context.Context, r *smsRow) { outcomes <- s.process(ctx, r) },
	}
	l.run(ctx)
	close(outcomes)
	<-recorded
	return nil
}

// wakeup wakes a sender's loop: a buffer of one, so that a wake while the
// loop is busy is kept for its next idle wait.
type wakeup chan struct{}

func newWakeup() wakeup { return make(wakeup, 1) }

// notify wakes the loop; it never blocks.
func (w wakeup) notify() {
	select {
	case w <- struct{}{}:
	default:
	}
}

// claimLoop is the loop the Sender and the WebhookSender share: it takes
// the free ones of its slots (one per row held), claims that many due rows
// under a lease, handles each on its own goroutine holding a slot, and
// idles when fewer were due.
type claimLoop[R any] struct {
	name string // what the log calls the sender
	log  *slog.Logger
	rows int // rows held at most: one claim's rows, and those still handled
	// shareClaims makes a claim wait, while rows are still held, until half
	// the slots are free, so that a claim's commit is shared by many rows
	// rather than paid for each row as it finishes.
	shareClaims  bool
	pollInterval time.Duration
	wake         wakeup
	lease        time.Duration
	pause        func(context.Context) bool // if set, waited out before each claim; false when ctx ended
	claim        func(ctx context.Context, n int, lease time.Duration) ([]R, error)
	nextDue      func(context.Context) (time.Time, error) // the next row due or lease ending; zero if none
	handle       func(context.Context, *R)
}

// run loops until ctx ends, then waits for the rows it is handling.
func (l *claimLoop[R]) run(ctx context.Context) {
	var inflight sync.WaitGroup
	defer inflight.Wait()
	slots := make(chan struct{}, l.rows) // a slot per row held
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
	more:
		for n < l.rows {
			select {
			case slots <- struct{}{}:
				n++
				continue
			default:
			}
			if !l.shareClaims || len(slots) == n || 2*n >= l.rows {
				break more
			}
			select {
			case slots <- struct{}{}:
				n++
			case <-ctx.Done():
				return
			}
		}
		if l.pause != nil && !l.pause(ctx) {
			return
		}
		// The claim is not cancelled with ctx: a claim committed but not
		// seen would leave its rows to wait out their lease.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), senderDBTimeout)
		rows, err := l.claim(cctx, n, l.lease)
		cancel()
		for range n - len(rows) {
			<-slots
		}
		if err != nil {
			l.log.Warn(l.name, "err", err, "retry_in", l.pollInterval)
			if !senderSleep(ctx, l.pollInterval) {
				return
			}
			continue
		}
		for i := range rows {
			inflight.Add(1)
			go func(r *R) {
				defer inflight.Done()
				defer func() { <-slots }()
				l.handle(ctx, r)
			}(&rows[i])
		}
		if len(rows) < n && !l.idle(ctx) {
			return
		}
	}
}

// idle waits for a wake, the next row due or lease ending, or the poll
// interval, and reports whether ctx is still live.
func (l *claimLoop[R]) idle(ctx context.Context) bool {
	wait := l.pollInterval
	dctx, cancel := context.WithTimeout(ctx, senderDBTimeout)
	next, err := l.nextDue(dctx)
	cancel()
	if err == nil && !next.IsZero() {
		wait = min(wait, max(time.Until(next), senderIdleMin))
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-l.wake:
	case <-t.C:
	}
	return true
}

// writeOutcome runs write, each time with a fresh senderDBTimeout, until it
// succeeds, and returns its last error. It tries outcomeWriteAttemptsMax
// times at least, and goes on, with a growing pause, until the lease ends
// (a zero lease: no further): an outcome given up early leaves its rows
// claimed until their leases end, and a merchant's later deliveries behind
// them, so a database that stops for a few seconds must not lose it.
func writeOutcome(lease time.Time, write func(context.Context) error) error {
	pause := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), senderDBTimeout)
		err := write(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if attempt >= outcomeWriteAttemptsMax && !time.Now().Add(pause).Before(lease) {
			return err
		}
		time.Sleep(pause)
		pause = min(2*pause, outcomeWritePauseMax)
	}
}

// process takes one claimed row through reconciliation, the rate limits and
// the provider, and returns what to record.
func (s *Sender) process(ctx context.Context, r *smsRow) outcome {
	// The provider call and what it needs are not cancelled with ctx: an
	// interrupted call would leave the row in doubt. The provider's timeout
	// bounds them.
	call := context.WithoutCancel(ctx)
	if r.InDoubt && s.finder != nil {
		if !s.acquire(ctx) {
			return s.putBack(r, time.Now(), ResultThrottled)
		}
		found, took, err := s.reconcile(call, r)
		s.release()
		if err != nil {
			return s.failure(r, err, took)
		}
		if found != nil {
			s.healthy()
			return outcome{row: r, status: notify.ProviderStatus(found.Status), provider: s.provider.Name(),
				providerID: found.ID, result: ResultReconciled, took: took}
		}
		// Not at the provider: send it, under a fresh lease since the
		// check took some of this one.
		r.InDoubt = false
		rctx, cancel := context.WithTimeout(call, senderDBTimeout)
		held, err := s.store.renew(rctx, r, s.lease)
		cancel()
		if err != nil || !held {
			return s.putBack(r, time.Now(), ResultThrottled)
		}
	}
	now := time.Now()
	var phone *rate.Reservation
	if s.phones != nil {
		phone = s.phones.reserve(r.Phone, now)
		if d := phone.DelayFrom(now); d > 0 {
			phone.CancelAt(now)
			return s.putBack(r, now.Add(d), ResultThrottled)
		}
	}
	// Wait for a call and the overall rate, but not so long that the send
	// could outlast the lease.
	wctx, cancel := context.WithDeadline(ctx, r.NextAttemptAt.Add(-s.timeout))
	defer cancel()
	if !s.acquire(wctx) {
		if phone != nil {
			phone.Cancel()
		}
		return s.putBack(r, time.Now(), ResultThrottled)
	}
	defer s.release()
	if until := s.pausedUntilTime(); !until.IsZero() {
		// Another send just failed transiently: wait with the rest rather
		// than spend an attempt on a provider that is likely down.
		if phone != nil {
			phone.Cancel()
		}
		return s.putBack(r, until, ResultThrottled)
	}
	if err := s.limit.Wait(wctx); err != nil {
		if phone != nil {
			phone.Cancel()
		}
		return s.putBack(r, time.Now().Add(s.limitDelay()), ResultThrottled)
	}
	start := time.Now()
	acc, err := s.provider.Send(call, r.stored())
	took := time.Since(start)
	if err != nil {
		return s.failure(r, err, took)
	}
	s.healthy()
	return outcome{row: r, status: notify.ProviderStatus(acc.Status), provider: s.provider.Name(), providerID: acc.ID,
		result: ResultSent, took: took}
}

// acquire waits for a provider call slot and reports whether it got one
// before ctx ended.
func (s *Sender) acquire(ctx context.Context) bool {
	select {
	case s.calls <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Sender) release() { <-s.calls }

// reconcile asks the provider for r, whose last attempt is in doubt. It
// returns the provider's message if it has one that no other row claims as
// its own (an identical text to the same phone may be another message), or
// nil when it has none. An error leaves r in doubt.
func (s *Sender) reconcile(ctx context.Context, r *smsRow) (*notify.Accepted, time.Duration, error) {
	since := r.CreatedAt
	if r.ClaimedAt != nil {
		since = *r.ClaimedAt
	}
	start := time.Now()
	found, err := s.finder.Find(ctx, r.stored(), since.Add(-reconcileSkew))
	took := time.Since(start)
	if err != nil {
		return nil, took, &notify.SendError{MaybeSent: true, Err: fmt.Errorf("look for it at the provider: %w", err)}
	}
	if len(found) == 0 {
		return nil, took, nil
	}
	ids := make([]string, len(found))
	for i, a := range found {
		ids[i] = a.ID
	}
	dctx, cancel := context.WithTimeout(ctx, senderDBTimeout)
	known, err := s.store.knownIDs(dctx, s.provider.Name(), ids)
	cancel()
	if err != nil {
		return nil, took, &notify.SendError{MaybeSent: true, Err: err}
	}
	// The oldest unclaimed match is the one this row's first doubtful
	// attempt made.
	for i := len(found) - 1; i >= 0; i-- {
		if !known[found[i].ID] {
			return &found[i], took, nil
		}
	}
	return nil, took, nil
}

// failure decides what a failed attempt leads to: failed at once when
// permanent or out of attempts; else another attempt after a backoff, with
// a check at the provider first when it may have the message.
func (s *Sender) failure(r *smsRow, err error, took time.Duration) outcome {
	var se *notify.SendError
	if !errors.As(err, &se) {
		se = &notify.SendError{MaybeSent: true, Err: err}
	}
	o := outcome{row: r, provider: s.provider.Name(), err: err.Error(), code: se.Code, took: took}
	now := time.Now()
	switch {
	case se.Permanent:
		s.healthy()
		o.status, o.result, o.next = notify.StatusFailed, ResultFailed, now
	case r.Attempts >= s.attemptsMax:
		s.unhealthy()
		o.status, o.result, o.next = notify.StatusFailed, ResultFailed, now
		o.err = fmt.Sprintf("%d attempts, the last: %s", r.Attempts, o.err)
		if se.MaybeSent {
			o.err += " (the provider may have it)"
		}
	case se.MaybeSent:
		s.unhealthy()
		// Checked no sooner than a lease later, by when the provider's
		// list shows what it took.
		o.status, o.doubt, o.result = notify.StatusSending, true, ResultDoubt
		o.next = now.Add(max(s.retryDelay(r.Attempts), s.lease))
	default:
		s.unhealthy()
		o.status, o.result, o.next = notify.StatusPending, ResultRetry, now.Add(s.retryDelay(r.Attempts))
	}
	return o
}

// putBack returns a row it did not send for another claim at next, without
// counting the attempt. A row still in doubt stays so.
func (s *Sender) putBack(r *smsRow, next time.Time, result string) outcome {
	o := outcome{row: r, status: notify.StatusPending, next: next, uncount: true, result: result}
	if r.InDoubt {
		o.status, o.doubt = notify.StatusSending, true
	}
	o.err, o.code = r.LastError, r.ErrorCode
	return o
}

// limitDelay is about how long the overall rate makes a send wait now.
func (s *Sender) limitDelay() time.Duration {
	now := time.Now()
	res := s.limit.ReserveN(now, 1)
	d := res.DelayFrom(now)
	res.CancelAt(now)
	return max(d, senderIdleMin)
}

// retryDelay is the wait after failed attempt n: BackoffMin doubled n-1
// times, at most BackoffMax, then a random point in its upper half so that
// the rows of one outage do not all come back at once.
func (s *Sender) retryDelay(n int) time.Duration {
	return retryJitter(retryDoubled(s.backoffMin, s.backoffMax, n))
}

func retryDoubled(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

func retryJitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// unhealthy notes a transient failure: after one, the Sender claims nothing
// for a while, doubling with each consecutive failure up to outagePauseMax,
// so that an outage spends few attempts and is probed by few rows.
func (s *Sender) unhealthy() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failStreak++
	s.pausedUntil = time.Now().Add(retryJitter(retryDoubled(s.backoffMin, min(s.backoffMax, outagePauseMax), s.failStreak)))
}

// healthy notes that the provider answered: the pause ends.
func (s *Sender) healthy() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failStreak = 0
	s.pausedUntil = time.Time{}
}

// pausedUntilTime is the end of the pause after transient failures, or
// zero when there is none.
func (s *Sender) pausedUntilTime() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Now().Before(s.pausedUntil) {
		return s.pausedUntil
	}
	return time.Time{}
}

// waitPause waits out a pause after transient failures and reports whether
// ctx is still live.
func (s *Sender) waitPause(ctx context.Context) bool {
	for {
		s.mu.Lock()
		until := s.pausedUntil
		s.mu.Unlock()
		d := time.Until(until)
		if d <= 0 {
			return ctx.Err() == nil
		}
		if !senderSleep(ctx, d) {
			return false
		}
	}
}

// record writes the outcomes it receives until the channel closes,
// batching those that arrive together into one transaction.
func (s *Sender) record(in <-chan outcome) {
	batch := make([]outcome, 0, outcomesBatchMax)
	for o := range in {
		batch = append(batch[:0], o)
	fill:
		for len(batch) < outcomesBatchMax {
			select {
			case o, ok := <-in:
				if !ok {
					break fill
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.write(batch)
	}
}

func (s *Sender) write(batch []outcome) {
	var lost []outcome
	lease := batch[0].row.NextAttemptAt
	for _, o := range batch[1:] {
		lease = smsEarlier(lease, o.row.NextAttemptAt)
	}
	err := writeOutcome(lease, func(ctx context.Context) (err error) {
		lost, err = s.store.apply(ctx, batch)
		return err
	})
	if err != nil {
		s.log.Error("sms outcomes not recorded: the rows are checked again when their leases end",
			"rows", len(batch), "err", err)
		for _, o := range batch {
			s.note(ResultLost, o.took)
		}
		return
	}
	lostRows := make(map[*smsRow]bool, len(lost))
	for _, o := range lost {
		lostRows[o.row] = true
		s.log.Info("sms taken over by another sender", "key", o.row.Key, "result", o.result)
	}
	for _, o := range batch {
		if lostRows[o.row] {
			s.note(ResultLost, o.took)
		} else {
			s.note(o.result, o.took)
		}
	}
}

// smsEarlier is the earlier of a and b.
func smsEarlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (s *Sender) note(result string, took time.Duration) {
	if s.observe != nil {
		s.observe(s.provider.Name(), result, took)
	}
}

// phoneLimits keeps a rate limiter per phone, at most max of them.
type phoneLimits struct {
	every rate.Limit
	burst int
	max   int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// reserve takes one message of phone's allowance at now.
func (p *phoneLimits) reserve(phone string, now time.Time) *rate.Reservation {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.m[phone]
	if l == nil {
		if len(p.m) >= p.max {
			p.evict(now)
		}
		l = rate.NewLimiter(p.every, p.burst)
		p.m[phone] = l
	}
	return l.ReserveN(now, 1)
}

// evict drops the limiters with a full bucket, which remember nothing; if
// all are busy it drops a tenth at random, loosening their limit a little
// rather than growing without bound.
func (p *phoneLimits) evict(now time.Time) {
	for k, l := range p.m {
		if l.TokensAt(now) >= float64(p.burst) {
			delete(p.m, k)
		}
	}
	for k := range p.m {
		if len(p.m) < p.max*9/10 {
			break
		}
		delete(p.m, k)
	}
}

// sleepCtx sleeps for d and reports whether ctx is still live.
func senderSleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
