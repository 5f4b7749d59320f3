package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // --tz must work on machines (and images) without zoneinfo

	"github.com/nyaruka/phonenumbers"

	"github.com/kibubu/kibubu/deploy/natsconn"
	"github.com/kibubu/kibubu/gateway"
	"github.com/kibubu/kibubu/gateway/aggregator"
	"github.com/kibubu/kibubu/internal/cmdline"
	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/notify/twilio"
	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/rules"
	"github.com/kibubu/kibubu/wallet/simswap"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/walletctl"
	"github.com/kibubu/kibubu/wallet/walletd"
)

const (
	// streamReplicasMax is JetStream's own ceiling on stream replicas.
	streamReplicasMax = 5
)

// Config is the command's configuration, from flags and KIBUBU_* variables.
// Paths left empty default under Data; validate fills them in.
type Config struct {
	Data           string // data directory: SQLite database, PIN pepper, embedded NATS store and credentials
	HTTP           string // HTTP listen address, host:port
	DB             string // SQLite file path, or a postgres:// URL
	NATS           string // external NATS URL(s); empty: run NATS embedded
	NATSCreds      string // NATS credentials file for the external NATS
	NATSNKey       string // NATS nkey seed file for the external NATS
	NATSTLSCA      string // PEM file of the CAs that sign the external NATS's certificates
	NATSTLSCert    string // PEM client certificate for the external NATS (with NATSTLSKey)
	NATSTLSKey     string // PEM private key of NATSTLSCert
	NATSListen     string // where the embedded NATS listens; loopback only
	NATSPrefix     string // subject prefix, so deployments can share a NATS cluster
	StreamReplicas int    // replicas of every stream and bucket the wallet creates on an external NATS cluster
	Currency       string // ISO 4217 code
	Region         string // ISO 3166 region for phone numbers without a country code
	Tariff         string // tariff TOML file; empty: the built-in tariff
	PepperFile     string // the secret PIN pepper; generated if absent
	PINLength      int
	PINTries       int
	TZ             string        // IANA time zone in which days (daily limits) start
	LogLevel       string        // debug, info, warn or error
	SessionKeyFile string        // the secret naming USSD sessions in logs; generated if absent
	SessionTTL     time.Duration // how long a USSD session's state outlives its last hop
	WalletTimeout  time.Duration // how long a USSD hop waits for the wallet before "we will send an SMS"
	USSDAuth       string        // per-aggregator shared secrets and IP allow-lists (gateway.ParseUSSDAuth)
	// USSDAllowUnauthenticated lets a server on a non-loopback address
	// accept USSD hops without aggregator authentication (development
	// only; warned at every start). Without it such a server refuses to
	// start.
	USSDAllowUnauthenticated bool
	// Simulator serves the phone simulator (/simulator) although --http is
	// not loopback, for training environments; on loopback it is on anyway.
	Simulator bool
	// MetricsListen is where /metrics is served, on a listener of its own;
	// empty: on the HTTP listener when that is loopback, else on
	// metricsListenDefault.
	MetricsListen string
	// Migrate applies the database migrations at start (wallet, notify);
	// false leaves them to `kibubu migrate`, and the start fails unless
	// they are done.
	Migrate bool
	// ShutdownGrace bounds the shutdown after SIGTERM: /readyz turns 503 at
	// once, new work is refused, work in flight finishes, then the process
	// exits; inside Kubernetes' 30 s termination grace period by default.
	ShutdownGrace time.Duration
	// WebhookAllowPrivate turns off the merchant webhook address guard:
	// merchants may register, and deliveries go to, loopback, private and
	// link-local addresses (a developer's receiver).
	WebhookAllowPrivate bool

	// SMS. The Twilio credentials come from TWILIO_* variables only (serve
	// reads them), never from flags, which other users can see in ps.
	PublicURL     string        // public base URL: Twilio signs webhooks against it, status callbacks point to it
	SMSSecretFile string        // the Africa's Talking SMS webhook's shared secret; generated if absent
	TwilioAPIURL  string        // Twilio's API base URL, overridden for a fake Twilio or an egress proxy
	TwilioSID     string        // TWILIO_ACCOUNT_SID
	TwilioToken   string        // TWILIO_AUTH_TOKEN
	TwilioFrom    string        // TWILIO_FROM: the sender number or alphanumeric id
	TwilioService string        // TWILIO_MESSAGING_SERVICE_SID, instead of TWILIO_FROM
	SMSRate       float64       // SMS sent per second, overall
	SMSPhoneRate  int           // SMS sent per minute to one phone
	SMSAttempts   int           // tries of one SMS before it is marked failed
	SMSTimeout    time.Duration // one call to Twilio

	// Merchants (issue 5).
	RequestTTL       time.Duration // how long a payment request waits for the customer
	StartKeyTTL      time.Duration // how long a start key (the first PIN of an operator-opened or reset account) stays valid
	TabSettle        string        // a tab settles once this much (major units) has accrued
	TabSettleEvery   time.Duration // a tab settles what accrued at least this often
	WebhookTimeout   time.Duration // one webhook POST
	WebhookRetryFor  time.Duration // how long a webhook delivery is retried before it is failed
	WebhookRetention time.Duration // how long a finished webhook delivery is kept
	// ReversalObjection is how long the recipient of a reversal request may
	// object before it completes (issue 11).
	ReversalObjection time.Duration
	// Payment requests and tabs prompting customers (issue 11): at most so
	// many in 10 minutes to one phone, and from one merchant to one phone,
	// and in a minute from one merchant; -1 is no limit.
	PromptsPerPhone, PromptsPerPair, PromptsPerMerchant int
	// SIMSwapConfig names the SIM-swap gate's TOML file (issue 16,
	// simswap.Config); empty: the gate is off.
	SIMSwapConfig string
	// Rules names the fraud rules' TOML file, or rules.DefaultName (issue
	// 16, rules.Config); empty: the rules are off.
	Rules string

	// Resolved by validate.
	tabSettle int64 // TabSettle in minor units
	currency  wallet.Currency
	tariff    wallet.Tariff
	// tariffLoad names the tariff for the audit log.
	tariffLoad wallet.TariffLoad
	location   *time.Location
	logLevel   slog.Level
	ussdAuth   map[string]gateway.USSDAuth
	// simSwap is SIMSwapConfig loaded, nil when off; simSwapAbove its
	// amount in minor units.
	simSwap      *simswap.Config
	simSwapAbove int64
	rules        *rules.Config // Rules loaded, nil when off
}

// DefaultConfig returns the built-in defaults: everything in ./data, HTTP
// on loopback port 8080, NATS embedded on an ephemeral loopback port.
func DefaultConfig() Config {
	return Config{
		Data:               "./data",
		HTTP:               "127.0.0.1:8080",
		NATSListen:         "127.0.0.1:0", // not 4222: the machine's own nats-server may hold it
		StreamReplicas:     1,
		Migrate:            true,
		ShutdownGrace:      shutdownGraceDefault,
		Currency:           "KES",
		Region:             "KE",
		PINLength:          wallet.DefaultPINLength,
		PINTries:           wallet.DefaultPINTries,
		TZ:                 "Africa/Nairobi",
		LogLevel:           "info",
		SessionTTL:         sessions.DefaultTTL,
		WalletTimeout:      sessions.DefaultWalletTimeout,
		SMSRate:            notify.DefaultSMSRate,
		SMSPhoneRate:       notify.DefaultSMSPhoneRate,
		SMSAttempts:        notify.DefaultSMSAttempts,
		SMSTimeout:         twilio.DefaultTimeout,
		RequestTTL:         merchant.DefaultRequestTTL,
		StartKeyTTL:        wallet.DefaultStartKeyTTL,
		TabSettle:          strconv.Itoa(merchant.DefaultSettleMajor),
		TabSettleEvery:     merchant.DefaultSettleEvery,
		WebhookTimeout:     notify.DefaultWebhookTimeout,
		WebhookRetryFor:    notify.DefaultWebhookRetryFor,
		WebhookRetention:   notify.DefaultWebhookRetention,
		ReversalObjection:  wallet.DefaultObjectionWindow,
		PromptsPerPhone:    merchant.DefaultPromptsPerPhone,
		PromptsPerPair:     merchant.DefaultPromptsPerPair,
		PromptsPerMerchant: merchant.DefaultPromptsPerMerchant,
	}
}

const (
	// shutdownGraceDefault leaves 5 s of Kubernetes' default 30 s
	// termination grace period for the orchestrator's own steps.
	shutdownGraceDefault = 25 * time.Second
	// shutdownGraceMin and shutdownGraceMax bound --shutdown-grace: a hop
	// in flight needs the wallet's timeout plus a round trip; beyond ten
	// minutes a rolling upgrade waits on stragglers for nothing.
	shutdownGraceMin = time.Second
	shutdownGraceMax = 10 * time.Minute
)

// metricsListenDefault is where a server whose HTTP listener faces a
// network serves /metrics: loopback, so that only a scraper on the same
// host (or a sidecar) reads it; 9464 is the usual Prometheus exporter port.
const metricsListenDefault = "127.0.0.1:9464"

// connFlags registers the flags every command that talks to NATS needs.
func (c *Config) connFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Data, "data", c.Data, "data `dir`ectory (the server writes nats.json, its NATS address and credentials, here)")
	fs.StringVar(&c.NATS, "nats", c.NATS, "external NATS `url`, may embed user:password (default: run NATS embedded / find it through <data>/nats.json)")
	fs.StringVar(&c.NATSCreds, "nats-creds", c.NATSCreds, "NATS credentials `file` for the external NATS")
	fs.StringVar(&c.NATSNKey, "nats-nkey", c.NATSNKey, "NATS nkey seed `file` for the external NATS (instead of --nats-creds)")
	fs.StringVar(&c.NATSTLSCA, "nats-tls-ca", c.NATSTLSCA, "PEM `file` of the CAs that sign the external NATS's certificates (default: the system's)")
	fs.StringVar(&c.NATSTLSCert, "nats-tls-cert", c.NATSTLSCert, "PEM client certificate `file` for the external NATS, with --nats-tls-key")
	fs.StringVar(&c.NATSTLSKey, "nats-tls-key", c.NATSTLSKey, "PEM private key `file` of --nats-tls-cert")
	fs.StringVar(&c.NATSPrefix, "nats-prefix", c.NATSPrefix, "`prefix` of every wallet subject and of the event stream, so deployments can share one NATS (letters, digits, - and _)")
}

// operatorServer registers connFlags on an operator command's flags and
// maps them onto the server it talks to.
func operatorServer(fs *flag.FlagSet) func() walletctl.Server {
	c := DefaultConfig()
	c.connFlags(fs)
	return func() walletctl.Server { return walletctl.Server{Data: c.Data, NATS: c.natsConn()} }
}

// lifecycleFlags registers the flags of a server's start and stop: every
// role's --shutdown-grace, and --migrate for those that own tables.
func (c *Config) lifecycleFlags(fs *flag.FlagSet, role Role) {
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", c.ShutdownGrace, "how long the shutdown after SIGTERM may take: /readyz turns 503 at once, new work is refused, work in flight finishes (keep it under the orchestrator's grace period)")
	if role == RoleWallet || role == RoleNotify {
		fs.BoolVar(&c.Migrate, "migrate", c.Migrate, "apply the database migrations at start; with --migrate=false the start fails unless `kibubu migrate` has applied them")
	}
}

// serverFlags registers the flags of kibubu serve and kibubu wallet.
func (c *Config) serverFlags(fs *flag.FlagSet) {
	c.connFlags(fs)
	c.httpFlags(fs)
	fs.StringVar(&c.DB, "db", c.DB, "SQLite database `path`, or a postgres:// URL (default "+cmdline.DBDefault+")")
	fs.StringVar(&c.NATSListen, "nats-listen", c.NATSListen, "loopback `address` the embedded NATS listens on; port 0 picks a free port")
	fs.IntVar(&c.StreamReplicas, "stream-replicas", c.StreamReplicas, "`replicas` of every stream and bucket the wallet creates: its events, the notifier's stream, the USSD sessions, the merchant idempotency records (3 on a NATS cluster; 1 embedded)")
	fs.StringVar(&c.Currency, "currency", c.Currency, "ISO 4217 currency `code`")
	fs.StringVar(&c.Tariff, "tariff", c.Tariff, "tariff TOML `file` (default the built-in, M-Pesa-shaped tariff)")
	fs.StringVar(&c.PepperFile, "pepper-file", c.PepperFile, "secret PIN pepper `file`, 32 bytes, mode 0600; generated if absent (default <data>/pepper)")
	fs.IntVar(&c.PINLength, "pin-length", c.PINLength, fmt.Sprintf("PIN `digits`, %d to %d", wallet.PINLengthMin, wallet.PINLengthMax))
	fs.IntVar(&c.PINTries, "pin-tries", c.PINTries, fmt.Sprintf("wrong PINs in a row before an account locks, 1 to %d", walletd.PINTriesMax))
	fs.StringVar(&c.TZ, "tz", c.TZ, "IANA time `zone` in which days, and so daily limits, start")
	fs.DurationVar(&c.RequestTTL, "request-ttl", c.RequestTTL, "how long a merchant's payment request waits for the customer's approval")
	fs.DurationVar(&c.StartKeyTTL, "start-key-ttl", c.StartKeyTTL, "how long the start key of an agent, an imported customer or a PIN reset stays valid, 10m to 30 days")
	fs.DurationVar(&c.ReversalObjection, "reversal-objection", c.ReversalObjection, "how long the recipient of a reversal request may object before it completes, 1h to 168h")
	fs.StringVar(&c.TabSettle, "tab-settle", c.TabSettle, "`amount` in major units at which a tab's charges settle into the ledger before the day is out")
	fs.DurationVar(&c.TabSettleEvery, "tab-settle-every", c.TabSettleEvery, "a tab settles what it accrued at least this often")
	fs.IntVar(&c.PromptsPerPhone, "prompts-per-phone", c.PromptsPerPhone, "payment requests and tabs one phone may be sent in 10 minutes, from all merchants (-1: no limit)")
	fs.IntVar(&c.PromptsPerPair, "prompts-per-pair", c.PromptsPerPair, "payment requests and tabs one merchant may send one phone in 10 minutes (-1: no limit)")
	fs.IntVar(&c.PromptsPerMerchant, "prompts-per-merchant", c.PromptsPerMerchant, "payment requests and tabs one merchant may send in a minute (-1: no limit)")
	fs.StringVar(&c.SIMSwapConfig, "simswap-config", c.SIMSwapConfig, "SIM-swap gate TOML `file`: the networks' CAMARA SIM Swap APIs, the amount above which transfers are checked, max age, timeout, policies (default: none, the gate is off)")
	fs.StringVar(&c.Rules, "rules", c.Rules, rules.FlagUsage)
	c.ussdFlags(fs)
}

// httpFlags registers the flags of every command that serves HTTP.
func (c *Config) httpFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.HTTP, "http", c.HTTP, "HTTP listen `address`: USSD aggregators, SMS webhooks, the merchant API and health (and metrics when it is loopback)")
	fs.StringVar(&c.MetricsListen, "metrics-listen", c.MetricsListen, "listen `address` of /metrics, apart from --http (default: on --http when that is loopback, else "+metricsListenDefault+")")
	fs.StringVar(&c.Region, "region", c.Region, "ISO 3166 `region` for phone numbers written without a country code")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log `level`: debug, info, warn or error")
}

// ussdFlags registers the USSD gateway's flags (kibubu serve and kibubu gateway).
func (c *Config) ussdFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.SessionKeyFile, "session-key-file", c.SessionKeyFile, "secret `file`, 32 bytes, mode 0600, keying the names of USSD sessions in logs (never a PIN); every gateway needs the same one; generated if absent (default <data>/session.key)")
	fs.DurationVar(&c.SessionTTL, "session-ttl", c.SessionTTL, "how long a USSD session's state outlives its last hop")
	fs.DurationVar(&c.WalletTimeout, "wallet-timeout", c.WalletTimeout, "how long a USSD hop waits for the wallet before ending with \"we will send you an SMS\"")
	fs.StringVar(&c.USSDAuth, "ussd-auth", c.USSDAuth, "per-aggregator `spec` of shared secrets and IP allow-lists, e.g. africastalking:secret=S,allow=196.201.214.0/24; required when --http is not loopback (default: none)")
	fs.BoolVar(&c.USSDAllowUnauthenticated, "ussd-allow-unauthenticated", c.USSDAllowUnauthenticated, "development only: accept USSD requests without --ussd-auth although --http is not loopback (warned at every start)")
	fs.BoolVar(&c.Simulator, "simulator", c.Simulator, "training only: serve the phone simulator (/simulator) although --http is not loopback, to anyone who reaches it (on when --http is loopback)")
}

// gatewayFlags registers kibubu gateway's flags.
func (c *Config) gatewayFlags(fs *flag.FlagSet) {
	c.connFlags(fs)
	c.httpFlags(fs)
	c.ussdFlags(fs)
	c.smsInFlags(fs)
}

// notifyFlags registers kibubu notify's flags.
func (c *Config) notifyFlags(fs *flag.FlagSet) {
	c.connFlags(fs)
	c.httpFlags(fs)
	fs.StringVar(&c.DB, "db", c.DB, "the wallet's database: SQLite `path` or postgres:// URL; the notifier keeps its tables there (default "+cmdline.DBDefault+")")
	fs.StringVar(&c.TZ, "tz", c.TZ, "IANA time `zone` of the dates in receipts")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "public base `url` of the gateways, for Twilio's status callbacks to <url>/sms/twilio/status (default: none)")
	fs.IntVar(&c.StreamReplicas, "stream-replicas", c.StreamReplicas, "unused, kept for old command lines: the notifier creates no stream; the wallet's --stream-replicas sets every stream's `replicas`")
	c.smsOutFlags(fs)
}

// smsInFlags registers the flags of the SMS webhooks (kibubu serve and
// kibubu gateway).
func (c *Config) smsInFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "public base `url` of this server, e.g. https://pay.example.com: Twilio signs its webhooks against it, and SMS status callbacks point to it (default: no Twilio webhooks, no status callbacks)")
	fs.StringVar(&c.SMSSecretFile, "sms-secret-file", c.SMSSecretFile, "secret `file` authenticating Africa's Talking's SMS webhook (send its hex as X-SMS-Secret or ?secret=); generated if absent (default <data>/sms.secret)")
}

// smsOutFlags registers the SMS sender's flags (kibubu serve and kibubu notify).
func (c *Config) smsOutFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.TwilioAPIURL, "twilio-api-url", c.TwilioAPIURL, "Twilio's API base `url`, for a local fake Twilio or an egress proxy (default https://api.twilio.com)")
	fs.Float64Var(&c.SMSRate, "sms-rate", c.SMSRate, "SMS sent per `second`, overall")
	fs.IntVar(&c.SMSPhoneRate, "sms-rate-per-phone", c.SMSPhoneRate, "SMS sent per `minute` to one phone; more wait, none is dropped")
	fs.IntVar(&c.SMSAttempts, "sms-attempts", c.SMSAttempts, "`tries` of one SMS, with backoff, before it is marked failed")
	fs.DurationVar(&c.SMSTimeout, "sms-timeout", c.SMSTimeout, "how long one call to Twilio may take")
	fs.BoolVar(&c.WebhookAllowPrivate, "webhook-allow-private", c.WebhookAllowPrivate, "development only: let merchants' webhooks go to loopback, private and link-local addresses (the address guard is on without it)")
	fs.DurationVar(&c.WebhookTimeout, "webhook-timeout", c.WebhookTimeout, "how long a merchant's webhook endpoint may take to answer one delivery")
	fs.DurationVar(&c.WebhookRetryFor, "webhook-retry-for", c.WebhookRetryFor, "how long a webhook delivery is retried, with backoff, before it is marked failed (at least 24h)")
	fs.DurationVar(&c.WebhookRetention, "webhook-retention", c.WebhookRetention, "how long a delivered or failed webhook delivery, with its attempts, is kept for GET /v1/webhooks/deliveries")
}

// readTwilioEnv fills the Twilio credentials from the TWILIO_* variables,
// or from the files their TWILIO_*_FILE variables name (twilio.ReadEnv).
func (c *Config) readTwilioEnv(lookup func(string) (string, bool)) error {
	tc := c.twilioSettings()
	if err := tc.ReadEnv(lookup); err != nil {
		return err
	}
	c.TwilioSID, c.TwilioToken, c.TwilioFrom, c.TwilioService = tc.AccountSID, tc.AuthToken, tc.From, tc.MessagingServiceSID
	return nil
}

// twilioSettings is the Twilio settings as given, for notify/twilio to
// read and check.
func (c *Config) twilioSettings() twilio.Config {
	return twilio.Config{AccountSID: c.TwilioSID, AuthToken: c.TwilioToken, From: c.TwilioFrom,
		MessagingServiceSID: c.TwilioService, APIURL: c.TwilioAPIURL, Timeout: c.SMSTimeout}
}

// validateSMS checks the SMS settings.
func (c *Config) validateSMS() error {
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("--public-url %q: want an absolute http(s) URL without query, such as https://pay.example.com", c.PublicURL)
		}
		c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	}
	if c.SMSSecretFile == "" {
		c.SMSSecretFile = filepath.Join(c.Data, aggregator.SMSSecretFile)
	}
	// Twilio's settings are checked by notify/twilio; the messages name
	// the TWILIO_* variables, and the flag of its API URL.
	tc := c.twilioSettings()
	if err := cmdline.Flagged(tc.ValidateGiven(), map[string]cmdline.Flag{"APIURL": {Name: "twilio-api-url"}}); err != nil {
		return err
	}
	// The sender's bounds are the notifier's (notifyd.Config); the
	// messages name the flags.
	nc := c.notifyConfig()
	nc.Currency = c.currency
	return cmdline.Flagged(nc.ValidateGiven(), map[string]cmdline.Flag{
		"SMSRate": {Name: "sms-rate"}, "SMSPhoneRate": {Name: "sms-rate-per-phone"}, "SMSAttempts": {Name: "sms-attempts"},
		"SMSTimeout": {Name: "sms-timeout"}, "WebhookTimeout": {Name: "webhook-timeout"},
		"WebhookRetryFor": {Name: "webhook-retry-for"}, "WebhookRetention": {Name: "webhook-retention"},
	})
}

// loadSMSSecret reads the Africa's Talking SMS webhook secret, generating
// it if the file is absent; the secret is the hex of its bytes, so it can
// ride in a URL's query.
func loadSMSSecret(path string, log *slog.Logger) (string, error) {
	b, err := loadSecret(path, "SMS secret", smsSecretBytes, log,
		"generated a new SMS webhook secret; give Africa's Talking its hex as ?secret= in the callback URL")
	return hex.EncodeToString(b), err
}

// smsSecretBytes is the generated SMS webhook secret's size: 256 bits.
const smsSecretBytes = 32

// validate checks every value and resolves the derived ones. Its errors
// name the flag and say what is wrong.
func (c *Config) validate() error {
	if c.Data == "" {
		return errors.New("--data: a data directory is required")
	}
	if err := checkHostPort(c.HTTP); err != nil {
		return fmt.Errorf("--http %q: %w", c.HTTP, err)
	}
	if c.MetricsListen != "" {
		if err := checkHostPort(c.MetricsListen); err != nil {
			return fmt.Errorf("--metrics-listen %q: %w", c.MetricsListen, err)
		}
	}
	c.DB = cmdline.DB(c.Data, c.DB)
	if store.IsPostgres(c.DB) {
		if _, err := url.Parse(c.DB); err != nil {
			return fmt.Errorf("--db: not a PostgreSQL URL: %w", err)
		}
	}
	if err := c.natsConn().Validate(); err != nil {
		return err
	}
	if err := checkLoopback(c.NATSListen); err != nil {
		return fmt.Errorf("--nats-listen %q: %w", c.NATSListen, err)
	}
	if c.ShutdownGrace < shutdownGraceMin || c.ShutdownGrace > shutdownGraceMax {
		return fmt.Errorf("--shutdown-grace %s: must be %s to %s", c.ShutdownGrace, shutdownGraceMin, shutdownGraceMax)
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > streamReplicasMax {
		return fmt.Errorf("--stream-replicas %d: must be 1 to %d", c.StreamReplicas, streamReplicasMax)
	}
	cur, err := wallet.LookupCurrency(c.Currency)
	if err != nil {
		return fmt.Errorf("--currency: %s", walletctl.Message(err))
	}
	c.currency = cur
	if !phonenumbers.GetSupportedRegions()[strings.ToUpper(c.Region)] {
		return fmt.Errorf("--region %q: not a region with phone numbers (want an ISO 3166 code such as KE)", c.Region)
	}
	c.Region = strings.ToUpper(c.Region)
	c.tariff = wallet.DefaultTariff(cur)
	if c.Tariff != "" {
		if c.tariff, err = wallet.LoadTariff(c.Tariff, cur); err != nil {
			return fmt.Errorf("--tariff: %s", walletctl.Message(err))
		}
	}
	if c.tariffLoad, err = tariffLoad(c.Tariff, c.tariff); err != nil {
		return fmt.Errorf("--tariff: %w", err)
	}
	if c.PepperFile == "" {
		c.PepperFile = filepath.Join(c.Data, "pepper")
	}
	if c.location, err = time.LoadLocation(c.TZ); err != nil || c.TZ == "" {
		return fmt.Errorf("--tz %q: not an IANA time zone (such as Africa/Nairobi)", c.TZ)
	}
	if err := c.logLevel.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.SessionKeyFile == "" {
		c.SessionKeyFile = filepath.Join(c.Data, "session.key")
	}
	if err := sessions.CheckTTL(c.SessionTTL); err != nil {
		return fmt.Errorf("--session-ttl %s: %w", c.SessionTTL, err)
	}
	if err := sessions.CheckWalletTimeout(c.WalletTimeout); err != nil {
		return fmt.Errorf("--wallet-timeout %s: %w", c.WalletTimeout, err)
	}
	if c.ussdAuth, err = gateway.ParseUSSDAuth(c.USSDAuth); err != nil {
		return fmt.Errorf("--ussd-auth: %w", err)
	}
	if c.tabSettle, err = c.currency.ParseAmount(c.TabSettle); err != nil {
		return fmt.Errorf("--tab-settle %q: %s", c.TabSettle, walletctl.Message(err))
	}
	// The wallet's and the merchant services' bounds are walletd's and
	// merchant's; the messages name the flags.
	o := c.walletSettings()
	if err := cmdline.Flagged(o.Validate(), map[string]cmdline.Flag{
		"PINLength": {Name: "pin-length"}, "PINTriesMax": {Name: "pin-tries"}, "StartKeyTTL": {Name: "start-key-ttl"},
		"ObjectionWindow": {Name: "reversal-objection"}, "RequestTTL": {Name: "request-ttl"},
		"SettleThreshold": {Name: "tab-settle", Value: strconv.Quote(c.TabSettle)}, "SettleEvery": {Name: "tab-settle-every"},
		"PromptsPerPhone": {Name: "prompts-per-phone"}, "PromptsPerPair": {Name: "prompts-per-pair"}, "PromptsPerMerchant": {Name: "prompts-per-merchant"},
	}); err != nil {
		return err
	}
	if c.SIMSwapConfig != "" {
		if c.simSwap, err = simswap.Load(c.SIMSwapConfig); err != nil {
			return fmt.Errorf("--simswap-config: %w", err)
		}
		if c.simSwap.Above != "" && c.simSwap.Above != "0" {
			if c.simSwapAbove, err = c.currency.ParseAmount(c.simSwap.Above); err != nil {
				return fmt.Errorf("--simswap-config %s: above %q: %s", c.SIMSwapConfig, c.simSwap.Above, walletctl.Message(err))
			}
		}
	}
	if c.Rules != "" {
		if c.rules, err = rules.Open(c.Rules); err != nil {
			return fmt.Errorf("--rules: %w", err)
		}
	}
	return c.validateSMS()
}

// checkUSSDOpen refuses a server that serves USSD (serve, gateway) on a
// non-loopback --http while an aggregator takes hops from anyone, unless
// --ussd-allow-unauthenticated.
func (c *Config) checkUSSDOpen() error {
	if open := c.openAggregators(); len(open) > 0 && !loopbackListen(c.HTTP) && !c.USSDAllowUnauthenticated {
		return fmt.Errorf("--ussd-auth: --http %s faces a network, and USSD hops for %s would be taken from anyone: "+
			"give each aggregator a secret or an IP allow-list, or --ussd-allow-unauthenticated for a development server",
			c.HTTP, strings.Join(open, ", "))
	}
	return nil
}

// openAggregators lists the USSD aggregators whose hops need no
// authentication: every one without --ussd-auth, else those given with
// neither a secret nor an allow-list (one not given is disabled).
func (c *Config) openAggregators() []string {
	if len(c.ussdAuth) == 0 {
		return gateway.Aggregators()
	}
	var open []string
	for name, a := range c.ussdAuth {
		if a.Secret == "" && len(a.AllowIPs) == 0 {
			open = append(open, name)
		}
	}
	slices.Sort(open)
	return open
}

// natsConn maps the NATS flags onto the connection's configuration.
func (c *Config) natsConn() natsconn.Config {
	return natsconn.Config{URL: c.NATS, Creds: c.NATSCreds, NKey: c.NATSNKey, TLSCA: c.NATSTLSCA, TLSCert: c.NATSTLSCert, TLSKey: c.NATSTLSKey, Prefix: c.NATSPrefix}
}

// metricsListen is where /metrics is served apart from the HTTP listener,
// or "" for on it (a loopback HTTP listener and no --metrics-listen).
func (c *Config) metricsListen() string {
	switch {
	case c.MetricsListen != "":
		return c.MetricsListen
	case loopbackListen(c.HTTP):
		return ""
	}
	return metricsListenDefault
}

// checkHostPort accepts host:port with a numeric port; an empty host means
// every interface.
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port, such as 127.0.0.1:8080")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// checkLoopback accepts only a loopback host:port: the embedded NATS trusts
// its generated password and has no TLS, so it must not face a network.
func checkLoopback(addr string) error {
	if err := checkHostPort(addr); err != nil {
		return err
	}
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return errors.New("the embedded NATS listens only on a loopback address such as 127.0.0.1 (run your own NATS cluster and use --nats to serve a network)")
	}
	return nil
}

// loadPepper reads the PIN pepper, generating it if the file is absent. A
// leaked pepper makes every stored PIN hash searchable in milliseconds.
func loadPepper(path string, log *slog.Logger) ([]byte, error) {
	return loadSecret(path, "pepper", wallet.PepperBytes, log,
		"generated a new PIN pepper; keep it with the database: PINs set under another pepper no longer verify")
}

// loadSessionKey reads the key that names USSD sessions in logs (a keyed
// hash of the session, so a log line gives no aggregator session id to
// forge hops with), generating it if the file is absent.
func loadSessionKey(path string, log *slog.Logger) ([]byte, error) {
	return loadSecret(path, "session key", sessions.KeyBytes, log,
		"generated a new USSD session key; give every gateway the same file, so that their logs name a session alike")
}

// loadSecret reads a secret of size random bytes, generating it (and
// logging generated) if the file is absent. It refuses a file others may
// read or of the wrong length.
func loadSecret(path, what string, size int, log *slog.Logger, generated string) ([]byte, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return generateSecret(path, what, size, log, generated)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s %s is not a regular file", what, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s %s has mode %04o: it must not be readable by group or others (chmod 600 %s)", what, path, perm, path)
	}
	p, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(p) != size {
		return nil, fmt.Errorf("%s %s is %d bytes; it must be exactly %d random bytes", what, path, len(p), size)
	}
	return p, nil
}

func generateSecret(path, what string, size int, log *slog.Logger, generated string) ([]byte, error) {
	p := make([]byte, size)
	rand.Read(p) // never fails (crypto/rand panics rather than return short)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	// O_EXCL: never overwrite a secret another process just wrote.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadSecret(path, what, size, log, generated)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	_, err = f.Write(p)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	log.Warn(generated, "file", path)
	return p, nil
}

// lockFile, in the data dir, is held locked by the process serving from it.
const lockFile = "kibubu.lock"

// lockDataDir takes an exclusive lock on the data dir, so that a second
// server started on it by mistake stops with a clear message instead of
// sharing the embedded JetStream store and the SQLite database (both are
// one process's). The lock goes with the process, even on kill -9.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("--data %s: another kibubu is already serving from this directory (%s is locked)", dir, path)
		}
		return nil, fmt.Errorf("--data: lock %s: %w", path, err)
	}
	return f, nil
}

// newLogger returns the process logger: text on w at level.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
