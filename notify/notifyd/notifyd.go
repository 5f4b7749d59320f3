// Package notifyd starts the notifier's parts as one: its tables, the
// consumers of the wallet's event stream and of the notifier's own stream,
// the SMS sender (through Twilio, or into the local outbox), the merchants'
// webhook sender, and the NATS service that answers the merchant API's
// webhook requests. kibubu notify and kibubu serve, and every test harness
// that needs a whole notifier, start it here, so that adding a part to the
// notifier is a change in this one place.
//
// Its Config owns the notifier's settings' bounds (Validate, and
// ValidateGiven for a command's flags): the command names the flags, the
// bounds are written here once.
//
// It only assembles, validates its settings and orders start and stop:
// receipts and webhook rules stay in package notify, the tables in
// notify/store, the NATS consumers and service in notify/natsapi, Twilio in
// notify/twilio. It must not know about HTTP routes, USSD sessions or the
// wallet's tables.
package notifyd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"gorm.io/gorm"

	"github.com/kibubu/kibubu/internal/cmdline"
	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/notify"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	notifystore "github.com/kibubu/kibubu/notify/store"
	"github.com/kibubu/kibubu/notify/twilio"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// The settings' bounds: beyond them a value is a typo (a rate no provider
// takes, ten a second to one handset, days of retries, a call that holds
// its lease for minutes). The defaults are the parts' own: notify's
// DefaultSMSRate, DefaultSMSPhoneRate, DefaultSMSAttempts,
// DefaultTwilioTimeout, DefaultWebhookTimeout, DefaultWebhookRetryFor and
// DefaultWebhookRetention, which a zero Config field means.
const (
	SMSRateMax      = 10000.0 // SMS a second, overall
	SMSPhoneRateMax = 600     // SMS a minute to one phone
	SMSAttemptsMax  = 50      // attempts of one SMS
	SMSTimeoutMax   = time.Minute
	// WebhookTimeoutMax bounds one POST: a receiver should answer 2xx at
	// once and work later.
	WebhookTimeoutMax = time.Minute
	// WebhookRetentionMin and WebhookRetentionMax bound how long a finished
	// delivery is kept: a day for a merchant to look, ten years at most.
	WebhookRetentionMin = 24 * time.Hour
	WebhookRetentionMax = 10 * 365 * 24 * time.Hour
)

const (
	// smsLeaseFactor sets how long a sender holds a claimed SMS before
	// another may take it over: several provider timeouts, so a slow call
	// is never taken for a dead sender.
	smsLeaseFactor = 3
	// smsPhoneBurstMax bounds the SMS one phone may get at once before the
	// per-minute pace applies: enough for a burst of receipts at an agent's
	// counter.
	smsPhoneBurstMax = 10
	// bindWait bounds how long Start waits for the consumers to bind to
	// their streams; until they do, Ready says so.
	bindWait = 5 * time.Second
)

// Config is the notifier's settings, what the command reads from its
// flags. A zero field takes the part's default.
type Config struct {
	Prefix      string          // the NATS subject prefix the wallet and gateways use
	Currency    wallet.Currency // required: the receipts' and webhooks' currency
	Location    *time.Location  // where receipts' dates are read; default UTC
	ServiceCode string          // the USSD code prompts name; default notifyapi.DefaultServiceCode
	// Migrate applies the notifier's migrations at start; without it Start
	// checks they were applied.
	Migrate bool

	// Twilio, when set, is the SMS provider (its Timeout is SMSTimeout);
	// without it SMS go to the local outbox (the database).
	Twilio       *twilio.Config
	SMSRate      float64       // SMS sent a second, overall
	SMSPhoneRate int           // SMS sent a minute to one phone; more wait
	SMSAttempts  int           // attempts of one SMS before it is failed
	SMSTimeout   time.Duration // one call to the provider; a claim's lease is three

	WebhookTimeout   time.Duration // one POST to a merchant
	WebhookRetryFor  time.Duration // how long a delivery is retried before it is failed
	WebhookRetention time.Duration // how long a delivered or failed delivery is kept
	// WebhookAllowPrivate turns the address guard off, in the sender and
	// in the service: development and tests, whose receivers are on
	// loopback. Production leaves it false.
	WebhookAllowPrivate bool
	// WebhookRequireHTTPS refuses http URLs: a server with a public URL.
	WebhookRequireHTTPS bool
	// WebhookBackoffMin and WebhookBackoffMax bound the wait after a failed
	// POST, and PollInterval the senders' wait for rows another process
	// recorded: tests shorten them.
	WebhookBackoffMin, WebhookBackoffMax time.Duration
	PollInterval                         time.Duration
}

// Validate checks the settings; a zero field takes its part's default. A
// setting beyond its bounds is a *cmdline.SettingError naming the field,
// which a command names by its flag (cmdline.Flagged).
func (c *Config) Validate() error { return c.validate(false) }

// ValidateGiven is Validate for settings that were each given a value (a
// command's flags, their defaults filled in): a zero is then a value, and
// refused where the field's bounds exclude it (--sms-rate 0 sends nothing,
// it does not mean the default).
func (c *Config) ValidateGiven() error { return c.validate(true) }

func (c *Config) validate(given bool) error {
	if err := c.checkBounds(given); err != nil {
		return fmt.Errorf("notifyd: %w", err)
	}
	switch {
	case c.Currency.Code == "":
		return errors.New("notifyd: the currency is required")
	case c.WebhookBackoffMin < 0 || c.WebhookBackoffMax < 0 || c.PollInterval < 0:
		return errors.New("notifyd: negative backoff or poll interval")
	case c.Twilio != nil && c.Twilio.From == "" && c.Twilio.MessagingServiceSID == "":
		return errors.New("notifyd: sending through Twilio needs a From number or a messaging service")
	}
	return nil
}

// checkBounds checks each bounded setting; zero passes unless given.
func (c *Config) checkBounds(given bool) error {
	set := func(zero bool) bool { return given || !zero }
	switch {
	case set(c.SMSRate == 0) && !(c.SMSRate > 0 && c.SMSRate <= SMSRateMax):
		return cmdline.Settingf("SMSRate", c.SMSRate, "must be more than 0 and at most %g per second", SMSRateMax)
	case set(c.SMSPhoneRate == 0) && (c.SMSPhoneRate < 1 || c.SMSPhoneRate > SMSPhoneRateMax):
		return cmdline.Settingf("SMSPhoneRate", c.SMSPhoneRate, "must be 1 to %d per minute", SMSPhoneRateMax)
	case set(c.SMSAttempts == 0) && (c.SMSAttempts < 1 || c.SMSAttempts > SMSAttemptsMax):
		return cmdline.Settingf("SMSAttempts", c.SMSAttempts, "must be 1 to %d", SMSAttemptsMax)
	case set(c.SMSTimeout == 0) && (c.SMSTimeout <= 0 || c.SMSTimeout > SMSTimeoutMax):
		return cmdline.Settingf("SMSTimeout", c.SMSTimeout, "must be more than 0 and at most %s", SMSTimeoutMax)
	case set(c.WebhookTimeout == 0) && (c.WebhookTimeout <= 0 || c.WebhookTimeout > WebhookTimeoutMax):
		return cmdline.Settingf("WebhookTimeout", c.WebhookTimeout, "must be more than 0 and at most %s", cmdline.ShortDuration(WebhookTimeoutMax))
	case set(c.WebhookRetryFor == 0) && (c.WebhookRetryFor < notify.WebhookRetryForMin || c.WebhookRetryFor > notify.WebhookRetryForMax):
		return cmdline.Settingf("WebhookRetryFor", c.WebhookRetryFor, "must be %s to %s (%d days)", notify.WebhookRetryForMin,
			cmdline.ShortDuration(notify.WebhookRetryForMax), notify.WebhookRetryForMax/(24*time.Hour))
	case set(c.WebhookRetention == 0) && (c.WebhookRetention < WebhookRetentionMin || c.WebhookRetention > WebhookRetentionMax):
		return cmdline.Settingf("WebhookRetention", c.WebhookRetention, "must be %s to %s (%d years)",
			cmdline.ShortDuration(WebhookRetentionMin), cmdline.ShortDuration(WebhookRetentionMax), WebhookRetentionMax/(365*24*time.Hour))
	}
	return nil
}

// Deps are what the notifier runs on, which the caller owns.
type Deps struct {
	// DB holds the notifier's tables (beside the wallet's in kibubu
	// serve). The caller closes it, after Close.
	DB *gorm.DB
	// Conn is the NATS connection the consumers and the service use; the
	// caller closes it, after Close.
	Conn *nats.Conn
	// Auth tells whom a merchant's API key speaks for; default the wallet's
	// client on Conn (the wallet checks each key).
	Auth notifyapi.Authenticator
	// Locales has every word the notifier sends; default locales.New().
	Locales *locales.Catalog
	// Log receives the parts' logs, each with its component; nil: none.
	Log *slog.Logger
	// ObserveSMS and ObserveWebhook, if set, are told each send's outcome
	// (gateway.Metrics); they must not block.
	ObserveSMS     func(provider, result string, took time.Duration)
	ObserveWebhook func(result string, took time.Duration)
	// Failed, if set, is told when a part stops on its own (a consumer or
	// a sender failing); the process should then Close.
	Failed func(error)
}

var _ notifyapi.Authenticator = (*merchantapi.Client)(nil)

// Notifier is a running notifier.
type Notifier struct {
	Store    *notifystore.Store
	Consents *notifystore.Consents
	Consumer *notifyapi.Consumer
	Sender   *notifystore.Sender
	Webhooks *notifystore.WebhookSender
	Provider notify.Provider

	svc    micro.Service // the merchants' webhooks
	opsSvc micro.Service // the back-office's questions (notify.ops.v1.*)
	stop   context.CancelFunc
	done   chan struct{}
}

// Start migrates (or checks) the notifier's tables and starts its parts;
// it returns once the consumers consume both streams, or after a few
// seconds without them (Ready tells; they keep retrying). ctx bounds the
// start only: the parts run until Close.
func Start(ctx context.Context, cfg Config, deps Deps) (_ *Notifier, err error) {
	if deps.DB == nil || deps.Conn == nil {
		return nil, errors.New("notifyd: a database and a NATS connection are required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	failed := deps.Failed
	if failed == nil {
		failed = func(error) {}
	}
	if cfg.Migrate {
		err = notifystore.Migrate(ctx, deps.DB)
	} else {
		err = notifystore.CheckMigrated(ctx, deps.DB)
	}
	if err != nil {
		return nil, err
	}
	cat := deps.Locales
	if cat == nil {
		if cat, err = locales.New(); err != nil {
			return nil, err
		}
	}
	auth := deps.Auth
	if auth == nil {
		auth = merchantapi.NewClient(natsapi.NewClient(deps.Conn, 0, natsapi.WithPrefix(cfg.Prefix)))
	}
	js, err := jetstream.New(deps.Conn)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	n := &Notifier{Store: notifystore.New(deps.DB), Consents: notifystore.NewConsents(deps.DB)}
	if n.Provider, err = provider(cfg); err != nil {
		return nil, err
	}
	nlog := log.With("component", "notify")
	burst := 0 // the sender's default with its default rate
	if cfg.SMSRate > 0 {
		burst = max(1, int(cfg.SMSRate)) // a second's worth
	}
	n.Sender, err = notifystore.NewSender(notifystore.SenderConfig{
		Store: n.Store, Provider: n.Provider, Logger: nlog,
		RatePerSecond: cfg.SMSRate, Burst: burst,
		PhoneRatePerSecond: float64(cfg.SMSPhoneRate) / 60, PhoneBurst: min(cfg.SMSPhoneRate, smsPhoneBurstMax),
		AttemptsMax: cfg.SMSAttempts, Lease: smsLeaseFactor * cfg.SMSTimeout, PollInterval: cfg.PollInterval,
		Observe: deps.ObserveSMS,
	})
	if err != nil {
		return nil, err
	}
	n.Consumer, err = notifyapi.NewConsumer(notifyapi.ConsumerConfig{
		JS: js, Prefix: cfg.Prefix, Store: n.Store, Consents: n.Consents, Locales: cat,
		Currency: cfg.Currency, Location: cfg.Location, ServiceCode: cfg.ServiceCode, Wake: n.Sender.Wake, Log: nlog,
	})
	if err != nil {
		return nil, err
	}
	hlog := log.With("component", "webhooks")
	n.Webhooks, err = notifystore.NewWebhookSender(notifystore.WebhookSenderConfig{
		Store: n.Store, Logger: hlog, Timeout: cfg.WebhookTimeout, RetryFor: cfg.WebhookRetryFor,
		Retention: cfg.WebhookRetention, BackoffMin: cfg.WebhookBackoffMin, BackoffMax: cfg.WebhookBackoffMax,
		PollInterval: cfg.PollInterval, Observe: deps.ObserveWebhook, AllowPrivate: cfg.WebhookAllowPrivate,
		// In stream order per merchant, however late an event is recorded.
		Recorded: n.Consumer.Recorded,
	})
	if err != nil {
		return nil, err
	}
	var opts []notify.WebhookOption
	if cfg.WebhookRequireHTTPS {
		opts = append(opts, notify.RequireHTTPS())
	}
	if cfg.WebhookAllowPrivate {
		opts = append(opts, notify.AllowPrivate())
	}
	if n.svc, err = notifyapi.ServeWebhooks(deps.Conn, n.Store, auth, cfg.Prefix, hlog, opts...); err != nil {
		return nil, err
	}
	// The back-office's questions (notify.ops.v1.*), beside the webhooks.
	if n.opsSvc, err = notifyapi.ServeOps(deps.Conn, n.Store, cfg.Prefix, hlog); err != nil {
		n.svc.Stop()
		n.svc = nil
		return nil, err
	}
	n.run(failed, func(ctx context.Context) error {
		n.warmFailureRates(ctx, cfg.Location, nlog)
		return nil
	})
	// The wallet creates both streams; the consumer binds to them,
	// retrying while they are missing or cannot be placed. A start waits
	// for that a little, so a healthy one is ready when it returns.
	select {
	case <-n.Consumer.Running():
	case <-ctx.Done():
	case <-time.After(bindWait):
		nlog.Warn("the notifier is waiting for its streams; it is not ready until it consumes them")
	}
	nlog.Info("notifier sending", "provider", n.Provider.Name())
	return n, nil
}

// provider is Twilio when configured, else the local outbox.
func provider(cfg Config) (notify.Provider, error) {
	if cfg.Twilio == nil {
		return notify.Outbox{}, nil
	}
	tc := *cfg.Twilio
	if cfg.SMSTimeout > 0 {
		tc.Timeout = cfg.SMSTimeout
	}
	return twilio.New(tc)
}

// run runs the consumers and both senders until Close, and warm (the
// failure chart's count ahead) once.
func (n *Notifier) run(failed func(error), warm func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	n.stop, n.done = cancel, make(chan struct{})
	parts := []struct {
		name string
		run  func(context.Context) error
	}{{"notify consumer", n.Consumer.Run}, {"sms sender", n.Sender.Run}, {"webhook sender", n.Webhooks.Run}, {"failure chart count", warm}}
	stopped := make(chan struct{}, len(parts))
	for _, p := range parts {
		go func() {
			defer func() { stopped <- struct{}{} }()
			if err := p.run(ctx); err != nil {
				failed(fmt.Errorf("%s: %w", p.name, err))
			}
		}()
	}
	go func() {
		for range parts {
			<-stopped
		}
		close(n.done)
	}()
}

// warmFailureRates counts the days of the back-office dashboard's failure
// chart once at start (its days as the wallet's dashboard draws them, in
// loc), so that the days it keeps (notify/store's closed days) are counted
// before the first operator asks: with two million SMS that count takes
// most of a second, the later ones read only the live days. A failure
// here only leaves the first chart slower.
func (n *Notifier) warmFailureRates(ctx context.Context, loc *time.Location, log *slog.Logger) {
	if loc == nil {
		loc = time.UTC
	}
	ctx, cancel := context.WithTimeout(ctx, failureWarmWait)
	defer cancel()
	days := wallet.DashboardDaysDefault
	y, m, d := time.Now().In(loc).Date()
	bounds := make([]time.Time, days+1)
	for i := range bounds {
		bounds[i] = time.Date(y, m, d-days+1+i, 0, 0, 0, 0, loc)
	}
	if _, err := n.Store.FailureRates(ctx, bounds); err != nil && ctx.Err() == nil {
		log.Warn("could not count the failure chart's days ahead; the first dashboard counts them", "err", err)
	}
}

// failureWarmWait bounds the start's count of the failure chart's days:
// long enough for millions of SMS, short enough not to hold a connection
// for long if the database is slow.
const failureWarmWait = time.Minute

// Ready says whether the consumers consume both streams (for /readyz).
func (n *Notifier) Ready(ctx context.Context) error { return n.Consumer.Ready(ctx) }

// ErrCloseTimeout is Close's answer when ctx ends before the senders'
// calls in flight do; an SMS not recorded as sent is checked with the
// provider at the next start.
var ErrCloseTimeout = errors.New("notifyd: the notifier did not stop in time; SMS in flight are checked with the provider at the next start")

// Close stops taking webhook requests, stops the consumers and the senders,
// and waits for the calls in flight until ctx ends. The caller then closes
// the connection and the database. It is not safe to call concurrently
// with itself.
func (n *Notifier) Close(ctx context.Context) error {
	var errs []error
	if n.svc != nil {
		if err := n.svc.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop the webhook service: %w", err))
		}
		n.svc = nil
	}
	if n.opsSvc != nil {
		if err := n.opsSvc.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop the operator service: %w", err))
		}
		n.opsSvc = nil
	}
	if n.stop != nil {
		n.stop()
		n.stop = nil
		select {
		case <-n.done:
		case <-ctx.Done():
			errs = append(errs, ErrCloseTimeout)
		}
	}
	return errors.Join(errs...)
}
