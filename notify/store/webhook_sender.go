package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/kibubu/kibubu/notify"
)

// Results a WebhookSender reports to WebhookSenderConfig.Observe.
const (
	WebhookDelivered = "delivered" // the endpoint answered 2xx
	WebhookRetry     = "retry"     // any other answer, a timeout or no connection: tried again after a backoff
	WebhookFailed    = "failed"    // out of time (RetryFor since the first attempt), or no endpoint
	// WebhookLost means the outcome was not written: another sender had
	// taken the delivery over (its lease ran out), or the database failed;
	// the delivery is sent again when its lease ends.
	WebhookLost = "lost"
)

// Defaults of WebhookSenderConfig.
const (
	// webhookTimeoutDefault bounds one POST, connection to last byte of the
	// answer read: a receiver should answer 2xx at once and work later.
	webhookTimeoutDefault = notify.DefaultWebhookTimeout
	// webhookConcurrencyDefault bounds the merchants POSTed to at once (one
	// delivery each, since a merchant's go in order).
	webhookConcurrencyDefault = 16
	// webhookBackoffMinDefault and webhookBackoffMaxDefault bound the wait
	// after a failed attempt: 10 s doubling, at most an hour, jittered into
	// its upper half; about 32 attempts in the default 24 hours.
	webhookBackoffMinDefault = 10 * time.Second
	webhookBackoffMaxDefault = time.Hour
	// webhookLeaseMin is the least lease of a claim: it must outlast the
	// POST's timeout, and it is how long a delivery waits when its sender
	// died mid-POST.
	webhookLeaseMin = time.Minute
	// webhookResponseBytesMax bounds what is read of an answer (to reuse
	// the connection); the rest is dropped with the connection.
	webhookResponseBytesMax = 64 << 10
	// webhookDialTimeout and webhookTLSTimeout bound connecting, within the
	// POST's timeout.
	webhookDialTimeout = 5 * time.Second
	webhookTLSTimeout  = 5 * time.Second
	// webhookIdleConnsPerHost bounds the idle connections kept per
	// receiver: one delivery at a time goes to a merchant.
	webhookIdleConnsPerHost = 2
	webhookIdleConnTimeout  = 90 * time.Second
	// webhookRetentionDefault is how long a delivered or failed delivery
	// is kept, with its attempts: long enough for a merchant to look into
	// last month's, and to re-send one.
	webhookRetentionDefault = notify.DefaultWebhookRetention
	// webhookPurgeInterval is how often a sender purges the deliveries
	// past their retention: a day's worth of rows is deleted in a few
	// batches.
	webhookPurgeInterval = time.Hour
	// webhookPurgeRows bounds the deliveries one purge transaction
	// deletes, with their attempts (about 30 each when failed), so that it
	// holds the SQLite write lock for milliseconds, not for the whole
	// backlog.
	webhookPurgeRows = 200
)

// WebhookSenderConfig configures a WebhookSender. Zero fields take the
// defaults.
type WebhookSenderConfig struct {
	Store  *Store // required
	Logger *slog.Logger
	// Timeout bounds one POST, answer included (10 s): a timeout is a
	// failed attempt.
	Timeout time.Duration
	// Concurrency bounds the merchants POSTed to at once (16).
	Concurrency int
	// BackoffMin and BackoffMax bound the wait after a failed attempt:
	// BackoffMin doubled per consecutive failure, at most BackoffMax, with
	// jitter (10 s, 1 h).
	BackoffMin time.Duration
	BackoffMax time.Duration
	// RetryFor is how long after its first attempt a delivery is retried
	// (24 h): a failed attempt begun that long after the first fails the
	// delivery, so the attempts span at least RetryFor.
	RetryFor time.Duration
	// Lease is how long a claim holds a delivery before another sender may
	// take it over (3 × Timeout, at least 1 min); it must exceed Timeout.
	Lease time.Duration
	// PollInterval bounds the wait for deliveries another process recorded (2 s).
	PollInterval time.Duration
	// AllowPrivate lets the sender connect to loopback, private,
	// link-local, CGNAT and other non-public addresses (a developer's
	// receiver on this machine; tests). Without it the sender is guarded:
	// it refuses them on the address it connects to, after DNS, and a
	// refused connection is a failed attempt ("address 10.0.0.5 is
	// private: refused"). Production must leave it false: merchants choose
	// the URLs, and must not reach the operator's network through them.
	AllowPrivate bool
	// Transport, if set, makes the POSTs (tests). The default has explicit
	// connect, TLS and idle timeouts, uses the environment's proxy
	// (HTTPS_PROXY, …), and is guarded unless AllowPrivate; a Transport of
	// one's own cannot be guarded, so it needs AllowPrivate. Redirects are
	// never followed either way: a 3xx is a failed attempt.
	Transport http.RoundTripper
	// Retention is how long a delivered or failed delivery is kept, with
	// its attempts, counted from when it was delivered or failed (30 days;
	// negative keeps them forever). Run purges older ones every hour, 200
	// at a time. Pending deliveries are never purged.
	Retention time.Duration
	// Observe, if set, is told the result of every claimed delivery (a
	// Webhook result constant) and how long its POST took, for metrics. It
	// must not block.
	Observe func(result string, took time.Duration)
	// Recorded, if set, says through which stream sequence every wallet
	// event has been recorded (Consumer.Recorded: its consumer's ack
	// floor). A delivery of a later event waits until then, so that an
	// earlier one recorded late (redelivered after a notifier died, or
	// after a failed batch) still goes first. Without it, deliveries go in
	// the order of the rows recorded so far: right for one recorder that
	// records in stream order (tests).
	Recorded func(context.Context) (uint64, error)
}

// WebhookSender POSTs the recorded webhook deliveries to the merchants'
// endpoints, signed (SignWebhook), in order per merchant: a merchant's next
// delivery is not sent before the previous one is delivered or failed.
// Different merchants go in parallel, bounded. Any number of WebhookSenders,
// in one process or several, may run on one database.
type WebhookSender struct {
	store        *Store
	client       *http.Client
	log          *slog.Logger
	observe      func(string, time.Duration)
	concurrency  int
	backoffMin   time.Duration
	backoffMax   time.Duration
	retryFor     time.Duration
	lease        time.Duration
	timeout      time.Duration
	pollInterval time.Duration
	wake         wakeup
	// guarded makes post refuse a URL whose host is a refused literal
	// address or a localhost name (refuseHost) before it connects: through
	// a proxy, nothing else would.
	guarded bool
	// retention is how long finished deliveries are kept (never purged
	// when negative); purgeEvery and purgeRows are webhookPurgeInterval and
	// webhookPurgeRows, and now the clock of the purge: tests change them
	// before Run.
	retention  time.Duration
	purgeEvery time.Duration
	purgeRows  int
	now        func() time.Time
	// recorded is Recorded; through its last answer, at throughAt.
	recorded  func(context.Context) (uint64, error)
	throughMu sync.Mutex
	through   uint64
	throughAt time.Time
	failing   bool // Recorded's last answer was an error (logged once)
}

// recordedRecheck is how often the sender asks again how far events are
// recorded while a delivery waits for it: the wait is one batch's acks.
const recordedRecheck = 50 * time.Millisecond

// NewWebhookSender checks cfg and returns a WebhookSender. It fails without
// a Store, for a Lease not longer than the Timeout, a BackoffMax below
// BackoffMin, or a Transport without AllowPrivate.
func NewWebhookSender(cfg WebhookSenderConfig) (*WebhookSender, error) {
	if cfg.Store == nil {
		return nil, errors.New("notify: a webhook sender needs a store")
	}
	if cfg.Transport != nil && !cfg.AllowPrivate {
		return nil, errors.New("notify: a webhook sender's own Transport bypasses the address guard: set AllowPrivate with it")
	}
	s := &WebhookSender{store: cfg.Store, log: cfg.Logger, observe: cfg.Observe, concurrency: cfg.Concurrency,
		backoffMin: cfg.BackoffMin, backoffMax: cfg.BackoffMax, retryFor: cfg.RetryFor, lease: cfg.Lease,
		timeout: cfg.Timeout, pollInterval: cfg.PollInterval, wake: newWakeup(), guarded: !cfg.AllowPrivate,
		retention: cfg.Retention, purgeEvery: webhookPurgeInterval, purgeRows: webhookPurgeRows, now: time.Now,
		recorded: cfg.Recorded}
	if s.retention == 0 {
		s.retention = webhookRetentionDefault
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.timeout <= 0 {
		s.timeout = webhookTimeoutDefault
	}
	if s.concurrency <= 0 {
		s.concurrency = webhookConcurrencyDefault
	}
	if s.backoffMin <= 0 {
		s.backoffMin = webhookBackoffMinDefault
	}
	if s.backoffMax <= 0 {
		s.backoffMax = max(webhookBackoffMaxDefault, s.backoffMin)
	}
	if s.backoffMax < s.backoffMin {
		return nil, fmt.Errorf("notify: webhook backoff max %v below min %v", s.backoffMax, s.backoffMin)
	}
	if s.retryFor <= 0 {
		s.retryFor = notify.WebhookRetryForMin
	}
	if s.lease <= 0 {
		s.lease = max(webhookLeaseMin, 3*s.timeout)
	}
	if s.lease <= s.timeout {
		return nil, fmt.Errorf("notify: webhook lease %v must exceed the timeout %v", s.lease, s.timeout)
	}
	if s.pollInterval <= 0 {
		s.pollInterval = pollIntervalDefault
	}
	transport := cfg.Transport
	if transport == nil {
		transport = s.transport(http.ProxyFromEnvironment)
	}
	s.client = &http.Client{
		Transport: transport,
		Timeout:   s.timeout,
		// A redirect is not followed: the receiver must give the URL that
		// answers, and following one would send the body where the
		// merchant did not register.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s, nil
}

// transport is the default Transport, through proxy, guarded unless
// AllowPrivate.
func (s *WebhookSender) transport(proxy func(*http.Request) (*url.URL, error)) *http.Transport {
	t := &http.Transport{
		Proxy:                 proxy,
		DialContext:           (&net.Dialer{Timeout: webhookDialTimeout, KeepAlive: guardKeepAlive}).DialContext,
		TLSHandshakeTimeout:   webhookTLSTimeout,
		ResponseHeaderTimeout: s.timeout,
		MaxIdleConns:          4 * s.concurrency,
		MaxIdleConnsPerHost:   webhookIdleConnsPerHost,
		IdleConnTimeout:       webhookIdleConnTimeout,
		ForceAttemptHTTP2:     true,
	}
	if s.guarded {
		g := newDialGuard(proxy)
		t.Proxy, t.DialContext = g.proxyFor, g.dial
	}
	return t
}

// Wake tells the sender that something was recorded. It never blocks.
func (s *WebhookSender) Wake() { s.wake.notify() }

// Run sends until ctx ends, then waits for the POSTs in flight (each
// bounded by Timeout) and records their outcomes. It also purges, at start
// and every hour, the deliveries finished longer than Retention ago. It
// returns nil then; database failures are logged and retried. Call it once.
func (s *WebhookSender) Run(ctx context.Context) error {
	s.store.hookWakers.add(s)
	defer s.store.hookWakers.remove(s)
	if s.retention > 0 {
		purged := make(chan struct{})
		defer func() { <-purged }()
		go func() {
			defer close(purged)
			s.purgeLoop(ctx)
		}()
	}
	// A claim takes the slots free at the time, without waiting for more:
	// a POST takes far longer than the claim's commit.
	l := claimLoop[claimedDelivery]{
		name: "webhook sender", log: s.log, rows: s.concurrency,
		pollInterval: s.pollInterval, wake: s.wake,
		lease: s.lease, claim: s.claim, nextDue: s.nextDue,
		handle: func(ctx context.Context, r *claimedDelivery) {
			s.deliver(ctx, r)
			// The merchant's next delivery may be claimed now.
			s.Wake()
		},
	}
	l.run(ctx)
	return nil
}

// claim claims up to n deliveries of events recorded through the last
// answer of Recorded.
func (s *WebhookSender) claim(ctx context.Context, n int, lease time.Duration) ([]claimedDelivery, error) {
	return s.store.claimWebhooks(ctx, n, lease, s.recordedThrough(ctx))
}

// nextDue is the store's next due delivery, or a recheck of Recorded soon
// while a due delivery waits for it.
func (s *WebhookSender) nextDue(ctx context.Context) (time.Time, error) {
	if s.recorded != nil {
		waiting, err := s.store.webhooksBeyond(ctx, s.recordedThrough(ctx))
		if err != nil {
			return time.Time{}, err
		}
		if waiting {
			return time.Now().Add(recordedRecheck), nil
		}
	}
	return s.store.nextWebhookDue(ctx)
}

// recordedThrough is how far events are recorded: every sequence without
// Recorded; else its answer, asked again when older than recordedRecheck.
// It only grows: while Recorded fails (NATS away) the last answer holds.
func (s *WebhookSender) recordedThrough(ctx context.Context) uint64 {
	if s.recorded == nil {
		return math.MaxUint64
	}
	s.throughMu.Lock()
	defer s.throughMu.Unlock()
	if time.Since(s.throughAt) < recordedRecheck {
		return s.through
	}
	through, err := s.recorded(ctx)
	s.throughAt = time.Now()
	if err != nil {
		if !s.failing {
			s.log.Warn("webhook sender: cannot learn how far events are recorded; deliveries of later ones wait", "err", err, "through", s.through)
		}
		s.failing = true
		return s.through
	}
	s.through, s.failing = max(s.through, through), false
	return s.through
}

// purgeLoop purges now and every purgeEvery until ctx ends.
func (s *WebhookSender) purgeLoop(ctx context.Context) {
	t := time.NewTicker(s.purgeEvery)
	defer t.Stop()
	for {
		s.purge(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// purge deletes the deliveries finished before now less the retention,
// with their attempts, purgeRows at a time, each batch in a transaction of
// its own so that other writers get in between. Several senders on one
// database may purge at once: on PostgreSQL each skips the rows another
// holds. A failure is logged; the next purge takes up the rest.
func (s *WebhookSender) purge(ctx context.Context) {
	before := s.now().Add(-s.retention).UTC()
	total := 0
	for ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, senderDBTimeout)
		n, err := s.store.purgeWebhooks(dctx, before, s.purgeRows)
		cancel()
		total += n
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("webhook purge", "err", err, "retry_in", s.purgeEvery)
			}
			break
		}
		if n < s.purgeRows {
			break
		}
	}
	if total > 0 {
		s.log.Info("webhook deliveries purged", "deliveries", total, "finished_before", before)
	}
}

// deliver POSTs one claimed delivery and records the outcome.
func (s *WebhookSender) deliver(ctx context.Context, r *claimedDelivery) {
	o := webhookOutcome{row: r}
	var took time.Duration
	if r.endpoint.URL == "" {
		o.status, o.result = hookFailed, WebhookFailed
	} else {
		// The POST is not cancelled with ctx, so that stopping records
		// what the receiver answered; Timeout bounds it.
		a := s.post(context.WithoutCancel(ctx), r)
		took = time.Duration(a.DurationUS) * time.Microsecond
		o.attempt = a
		now := time.Now()
		first := a.At
		if r.FirstAttemptAt != nil {
			first = *r.FirstAttemptAt
		}
		switch {
		case a.Status >= 200 && a.Status < 300:
			o.status, o.result = hookDelivered, WebhookDelivered
		case !a.At.Before(first.Add(s.retryFor)):
			// This attempt began RetryFor after the first: the last one.
			o.status, o.result = hookFailed, WebhookFailed
		default:
			o.status, o.result = hookPending, WebhookRetry
			o.next = now.Add(retryJitter(retryDoubled(s.backoffMin, s.backoffMax, r.Retries+1)))
		}
	}
	var lost bool
	err := writeOutcome(r.NextAttemptAt, func(ctx context.Context) (err error) {
		lost, err = s.store.applyWebhook(ctx, o)
		return err
	})
	switch {
	case err != nil:
		s.log.Error("webhook outcome not recorded: the delivery is sent again when its lease ends",
			"delivery", r.ID, "err", err)
		o.result = WebhookLost
	case lost:
		s.log.Info("webhook delivery taken over by another sender", "delivery", r.ID, "result", o.result)
		o.result = WebhookLost
	}
	if s.observe != nil {
		s.observe(o.result, took)
	}
}

// post makes one attempt and returns it as recorded.
func (s *WebhookSender) post(ctx context.Context, r *claimedDelivery) *webhookAttempt {
	start := time.Now()
	a := &webhookAttempt{DeliveryID: r.ID, At: start.UTC()}
	body := []byte(r.Payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint.URL, bytes.NewReader(body))
	if err != nil {
		a.Error = notify.Clip("bad webhook url: "+err.Error(), errorBytesMax)
		return a
	}
	if s.guarded {
		// Through a proxy the dial guard sees only the proxy: the URL's
		// host as written is checked here (a name is the proxy's to check).
		if err := notify.RefuseHost(req.URL.Hostname()); err != nil {
			a.Error = notify.Clip(err.Error(), errorBytesMax)
			return a
		}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Kibubu-Webhooks/1")
	req.Header.Set(notify.HeaderEventID, r.EventID)
	req.Header.Set(notify.HeaderEventType, r.Type)
	req.Header.Set(notify.HeaderDeliveryID, r.ID)
	req.Header.Set(notify.HeaderSignature, notify.SignWebhook([]byte(r.endpoint.Secret), start, body))
	resp, err := s.client.Do(req)
	if err != nil {
		a.DurationUS = time.Since(start).Microseconds()
		a.Error = notify.Clip(postError(err, s.timeout), errorBytesMax)
		return a
	}
	_, rerr := io.Copy(io.Discard, io.LimitReader(resp.Body, webhookResponseBytesMax))
	resp.Body.Close()
	a.DurationUS = time.Since(start).Microseconds()
	a.Status = resp.StatusCode
	switch {
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		a.Error = "HTTP " + strconv.Itoa(resp.StatusCode)
		if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode < 400 {
			a.Error = notify.Clip(a.Error+": redirects are not followed (to "+loc+")", errorBytesMax)
		}
	case rerr != nil && !errors.Is(rerr, io.EOF):
		// The status is the answer: a body cut short does not undo a 2xx.
		s.log.Debug("webhook answer body", "delivery", r.ID, "err", rerr)
	}
	return a
}

// postError words a failed POST for the attempt's record.
func postError(err error, timeout time.Duration) string {
	var rf *notify.Refusal
	if errors.As(err, &rf) {
		return rf.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "no answer within " + timeout.String()
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}
