package main

import (
	"context"
	"net"
	"net/url"
	"time"

	"gorm.io/gorm"

	"github.com/kibubu/kibubu/gateway"
	"github.com/kibubu/kibubu/notify/notifyd"
	"github.com/kibubu/kibubu/notify/twilio"
	"github.com/kibubu/kibubu/wallet"
)

// notifyCloseTimeout bounds waiting at shutdown for the sender's calls in
// flight; one not recorded is reconciled at the next start.
const notifyCloseTimeout = 15 * time.Second

// startNotify starts the notifier on db (notifyd): through Twilio when
// TWILIO_ACCOUNT_SID is set and to the local outbox otherwise.
func (m *Main) startNotify(ctx context.Context, db *gorm.DB, cur wallet.Currency, metrics *gateway.Metrics) error {
	c := &m.Config
	// The address guard (no loopback, private, link-local or CGNAT target,
	// checked at dial time) is on unless --webhook-allow-private turns it
	// off for a developer's receiver. A server with a public URL also
	// requires https.
	if c.WebhookAllowPrivate {
		m.Log.Warn("merchants' webhooks may go to loopback, private and link-local addresses (--webhook-allow-private): development only")
	}
	tc, err := c.twilioConfig()
	if err != nil {
		return err
	}
	nc := c.notifyConfig()
	nc.Prefix, nc.Currency, nc.Location, nc.Twilio = c.NATSPrefix, cur, c.location, tc
	// kibubu notify migrated (or checked) its tables in Run; serve
	// migrates them here, beside the wallet's.
	nc.Migrate = m.Role == RoleServe
	n, err := notifyd.Start(ctx, nc, notifyd.Deps{
		DB: db, Conn: m.nc, Log: m.Log, Failed: m.fail,
		ObserveSMS: metrics.ObserveSMSSend, ObserveWebhook: metrics.ObserveWebhook,
	})
	if err != nil {
		return err
	}
	m.notifier = n
	return nil
}

// notifyConfig is the notifier's settings the flags give (validate checks
// them with notifyd.Config.ValidateGiven).
func (c *Config) notifyConfig() notifyd.Config {
	return notifyd.Config{
		SMSRate: c.SMSRate, SMSPhoneRate: c.SMSPhoneRate, SMSAttempts: c.SMSAttempts, SMSTimeout: c.SMSTimeout,
		WebhookTimeout: c.WebhookTimeout, WebhookRetryFor: c.WebhookRetryFor, WebhookRetention: c.WebhookRetention,
		WebhookAllowPrivate: c.WebhookAllowPrivate, WebhookRequireHTTPS: !loopbackURL(c.PublicURL),
	}
}

// twilioConfig is Twilio's settings when configured, else nil: the local
// outbox.
func (c *Config) twilioConfig() (*twilio.Config, error) {
	tc := c.twilioSettings()
	if !tc.Configured() {
		return nil, nil
	}
	if err := tc.RequireSender(); err != nil {
		return nil, err
	}
	if c.PublicURL != "" {
		tc.StatusCallback = c.PublicURL + gateway.TwilioStatusPath
	}
	return &tc, nil
}

// stopNotifier stops the notifier, waiting for the sender's calls in
// flight at most notifyCloseTimeout.
func (m *Main) stopNotifier() {
	if m.notifier == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), notifyCloseTimeout)
	defer cancel()
	if err := m.notifier.Close(ctx); err != nil {
		m.Log.Warn("stop the notifier", "err", err)
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
