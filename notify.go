package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"gorm.io/gorm"

	"github.com/kibubu/kibubu/gateway"
	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

const (
	// smsLeaseFactor sets how long a sender holds a claimed SMS before
	// another may take it over: several provider timeouts, so a slow call
	// is never taken for a dead sender.
	smsLeaseFactor = 3
	// notifyCloseTimeout bounds waiting at shutdown for the sender's calls
	// in flight; one not recorded is reconciled at the next start.
	notifyCloseTimeout = 15 * time.Second
)

// startNotify starts the notifier on db: its tables, the consumers of the
// wallet's events and of its own stream, and the sender, through Twilio
// when TWILIO_ACCOUNT_SID is set and to the local outbox otherwise.
func (m *Main) startNotify(ctx context.Context, js jetstream.JetStream, replicas int, db *gorm.DB, cur wallet.Currency, metrics *gateway.Metrics) error {
	c := &m.Config
	log := m.Log.With("component", "notify")
	// kibubu notify migrated (or checked) its tables in Run; serve
	// migrates them here, beside the wallet's.
	if m.Role == RoleServe {
		if err := notify.Migrate(ctx, db); err != nil {
			return err
		}
	}
	st, consents := notify.NewStore(db), notify.NewConsents(db)
	provider, err := c.smsProvider()
	if err != nil {
		return err
	}
	sender, err := notify.NewSender(notify.SenderConfig{
		Store: st, Provider: provider, Logger: log,
		RatePerSecond: c.SMSRate, Burst: max(1, int(c.SMSRate)),
		PhoneRatePerSecond: float64(c.SMSPhoneRate) / 60, PhoneBurst: min(c.SMSPhoneRate, smsPhoneBurstMax),
		AttemptsMax: c.SMSAttempts, Lease: smsLeaseFactor * c.SMSTimeout,
		Observe: metrics.ObserveSMSSend,
	})
	if err != nil {
		return err
	}
	cat, err := locales.New()
	if err != nil {
		return err
	}
	consumer, err := notify.NewConsumer(notify.ConsumerConfig{
		JS: js, Prefix: c.NATSPrefix, Store: st, Consents: consents, Locales: cat,
		Currency: cur, Location: c.location, Wake: sender.Wake, Log: log,
	})
	if err != nil {
		return err
	}
	// The address guard (no loopback, private, link-local or CGNAT target,
	// checked at dial time) is on unless --webhook-allow-private turns it
	// off for a developer's receiver. A server with a public URL also
	// requires https.
	if c.WebhookAllowPrivate {
		m.Log.Warn("merchants' webhooks may go to loopback, private and link-local addresses (--webhook-allow-private): development only")
	}
	hooks, err := notify.NewWebhookSender(notify.WebhookSenderConfig{
		Store: st, Logger: m.Log.With("component", "webhooks"), Timeout: c.WebhookTimeout,
		RetryFor: c.WebhookRetryFor, Retention: c.WebhookRetention, Observe: metrics.ObserveWebhook, AllowPrivate: c.WebhookAllowPrivate,
		// In stream order per merchant, however late an event is recorded.
		Recorded: consumer.Recorded,
	})
	if err != nil {
		return err
	}
	// The merchant API's webhook requests; the wallet checks each key.
	var opts []notify.WebhookOption
	if !loopbackURL(c.PublicURL) {
		opts = append(opts, notify.RequireHTTPS())
	}
	if c.WebhookAllowPrivate {
		opts = append(opts, notify.AllowPrivate())
	}
	if m.webhookSvc, err = notify.ServeWebhooks(m.nc, st, merchantapi.NewClient(natsapi.NewClient(m.nc, 0, natsapi.WithPrefix(c.NATSPrefix))),
		c.NATSPrefix, m.Log.With("component", "webhooks"), opts...); err != nil {
		return err
	}
	var nctx context.Context
	nctx, m.stopNotify = context.WithCancel(context.Background())
	m.notifyDone = make(chan struct{})
	done := make(chan struct{}, 3)
	go func() {
		defer func() { done <- struct{}{} }()
		if err := consumer.Run(nctx); err != nil {
			m.fail(fmt.Errorf("notify consumer: %w", err))
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		if err := sender.Run(nctx); err != nil {
			m.fail(fmt.Errorf("sms sender: %w", err))
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		if err := hooks.Run(nctx); err != nil {
			m.fail(fmt.Errorf("webhook sender: %w", err))
		}
	}()
	go func() { <-done; <-done; <-done; close(m.notifyDone) }()
	// The wallet creates both streams (createStreams); the consumer binds
	// to them, retrying while they are missing or cannot be placed, and
	// /readyz says unavailable until it consumes. A start waits for that a
	// little, so a healthy one is ready when it returns.
	m.notifyReady = consumer.Ready
	select {
	case <-consumer.Running():
	case <-ctx.Done():
	case <-time.After(notifyBindWait):
		log.Warn("the notifier is waiting for its streams; /readyz says unavailable until it consumes them")
	}
	log.Info("notifier sending", "provider", provider.Name())
	return nil
}

// notifyBindWait bounds how long a start waits for the notify consumer to
// bind to its streams before it serves (and /readyz reports the wait).
const notifyBindWait = 5 * time.Second

// smsPhoneBurstMax bounds the SMS one phone may get at once before the
// per-minute pace applies: enough for a burst of receipts at an agent's
// counter.
const smsPhoneBurstMax = 10

// smsProvider is Twilio when configured, else the local outbox.
func (c *Config) smsProvider() (notify.Provider, error) {
	if !c.twilio() {
		return notify.Outbox{}, nil
	}
	if c.TwilioFrom == "" && c.TwilioService == "" {
		return nil, fmt.Errorf("sending through Twilio needs %s or %s", envTwilioFrom, envTwilioService)
	}
	callback := ""
	if c.PublicURL != "" {
		callback = c.PublicURL + gateway.TwilioStatusPath
	}
	return notify.NewTwilio(notify.TwilioConfig{
		AccountSID: c.TwilioSID, AuthToken: c.TwilioToken, From: c.TwilioFrom, MessagingServiceSID: c.TwilioService,
		StatusCallback: callback, APIURL: c.TwilioAPIURL, Timeout: c.SMSTimeout,
	})
}

// stopNotifier stops the consumers and the sender, waiting for the
// sender's calls in flight at most notifyCloseTimeout.
func (m *Main) stopNotifier() {
	if m.webhookSvc != nil {
		if err := m.webhookSvc.Stop(); err != nil {
			m.Log.Warn("stop the webhook service", "err", err)
		}
	}
	if m.stopNotify == nil {
		return
	}
	m.stopNotify()
	select {
	case <-m.notifyDone:
	case <-time.After(notifyCloseTimeout):
		m.Log.Warn("the notifier did not stop in time; SMS in flight are checked with the provider at the next start")
	}
}

// loopbackURL reports whether the public URL is unset or on this machine:
// then merchants' webhook URLs may be plain http (a developer's receiver);
// a server with a public URL requires https.
func loopbackURL(raw string) bool {
	if raw == "" {
		return true
	}
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
