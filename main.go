// Command kibubu is Kibubu's one binary: it serves the wallet (with NATS
// and HTTP) and holds the operator commands that talk to a running server.
// It only wires; the money rules live in package wallet.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gorm.io/gorm"

	"github.com/kibubu/kibubu/deploy/bench"
	"github.com/kibubu/kibubu/deploy/natsconn"
	"github.com/kibubu/kibubu/deploy/natsroles"
	"github.com/kibubu/kibubu/deploy/natsserver"
	"github.com/kibubu/kibubu/gateway"
	"github.com/kibubu/kibubu/gateway/aggregator"
	"github.com/kibubu/kibubu/gateway/ops"
	"github.com/kibubu/kibubu/gateway/simulator"
	"github.com/kibubu/kibubu/internal/cmdline"
	"github.com/kibubu/kibubu/locales"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	"github.com/kibubu/kibubu/notify/notifyd"
	"github.com/kibubu/kibubu/notify/smsctl"
	notifystore "github.com/kibubu/kibubu/notify/store"
	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/rules"
	"github.com/kibubu/kibubu/wallet/simswap"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/walletctl"
	"github.com/kibubu/kibubu/wallet/walletd"
)

const (
	// httpShutdownTimeout bounds waiting for HTTP requests in flight at
	// shutdown; it stays well under Kubernetes' 30 s termination grace so
	// the wallet's own drain still fits.
	httpShutdownTimeout = 10 * time.Second
	// sessionsCloseTimeout bounds waiting at shutdown for the goroutines
	// resolving pending USSD money steps.
	sessionsCloseTimeout = 5 * time.Second
	// shutdownLingerMax and shutdownLingerShare bound how long a process
	// keeps serving after SIGTERM with /readyz at 503, before it closes its
	// listener: Kubernetes removes a terminating pod from its Services'
	// endpoints within a few seconds, and a connection refused meanwhile
	// would be a failed hop. At most a fifth of the grace goes to it.
	shutdownLingerMax   = 5 * time.Second
	shutdownLingerShare = 5
	// startTimeout bounds the start: opening and migrating the database,
	// starting or reaching NATS, creating the event stream.
	startTimeout = time.Minute
)

// Role says which parts a Main runs.
type Role string

const (
	// RoleServe runs everything in one process; NATS is embedded unless
	// Config.NATS names an external one.
	RoleServe Role = "serve"
	// RoleWallet runs only the wallet service, its event relay and the
	// health endpoints, against an external NATS: the production shape.
	RoleWallet Role = "wallet"
	// RoleGateway runs only the HTTP gateway (the USSD and SMS adapters
	// and the session engine) against an external NATS; any number serve
	// one wallet.
	RoleGateway Role = "gateway"
	// RoleNotify runs only the notifier (SMS receipts and messages, sent
	// through Twilio or the outbox) against an external NATS and the
	// wallet's database; any number may run.
	RoleNotify Role = "notify"
	// RoleOps runs only the operator back-office (/ops) and the health
	// endpoints against an external NATS, with the operator's credentials.
	RoleOps Role = "ops"
)

// Main is the running program: tests start it on port 0 with a temporary
// data dir exactly as the command does.
type Main struct {
	Config Config
	Role   Role         // default RoleServe
	Log    *slog.Logger // default slog.Default()

	lock      *os.File // the data dir lock, when this process owns the data dir
	draining  atomic.Bool
	closeOnce sync.Once
	closeErr  error
	failed    chan error // a part stopped on its own

	httpLn  net.Listener
	httpSrv *http.Server
	nats    *natsserver.Embedded
	nc      *nats.Conn
	ncDone  chan struct{} // closed when nc is closed
	natsURL string
	store   *store.Store
	// storeGiven: the wallet (walletd) owns store and closes it.
	storeGiven bool
	wallet     *walletd.Wallet
	sessions   *sessions.Engine

	// gatewayNC is the USSD gateway part's connection: on the embedded
	// NATS a second one, as the gateway user with only its permissions;
	// on an external NATS nc itself (its credentials are the deployment's).
	gatewayNC     *nats.Conn
	gatewayNCDone chan struct{} // closed when gatewayNC, if not nc, is closed

	notifier    *notifyd.Notifier // once started
	notifyDB    *gorm.DB          // the notifier's own pool, when no wallet runs here
	httpStopped chan struct{}
	// The /metrics listener, when apart from the HTTP one.
	metricsLn      net.Listener
	metricsSrv     *http.Server
	metricsStopped chan struct{}
}

// Run validates the configuration, starts every part and returns once all
// serve. ctx bounds the start only: the parts run until Close. When Run
// fails, everything it started is stopped again.
func (m *Main) Run(ctx context.Context) (err error) {
	if m.Role == "" {
		m.Role = RoleServe
	}
	if m.Log == nil {
		m.Log = slog.Default()
	}
	m.failed = make(chan error, 4)
	c := &m.Config
	if err := c.validate(); err != nil {
		return err
	}
	if m.Role != RoleServe && c.NATS == "" {
		return fmt.Errorf("%s needs an external NATS: give --nats (or KIBUBU_NATS)", m.Role)
	}
	if m.Role == RoleServe || m.Role == RoleGateway {
		if err := c.checkUSSDOpen(); err != nil {
			return err
		}
	}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()

	if err := os.MkdirAll(c.Data, 0o700); err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	// The embedded NATS store and a SQLite database belong to one process;
	// wallets on an external NATS and PostgreSQL, and gateways, may share a
	// data dir (and its pepper or session key).
	if c.NATS == "" || ((m.Role == RoleServe || m.Role == RoleWallet) && !store.IsPostgres(c.DB)) {
		if m.lock, err = lockDataDir(c.Data); err != nil {
			return err
		}
	}
	// Listen first: a port in use is the commonest mistake, and it should
	// fail before the database is touched.
	if m.httpLn, err = net.Listen("tcp", c.HTTP); err != nil {
		return fmt.Errorf("--http %s: %w", c.HTTP, err)
	}
	checks := gateway.Checks{}
	metrics := gateway.NewMetrics()
	switch m.Role {
	case RoleServe, RoleWallet:
		open := store.Open
		if !c.Migrate {
			open = store.OpenMigrated
		}
		if m.store, err = open(ctx, c.DB); err != nil {
			return dbError(c.DB, err)
		}
		if m.lock != nil && !store.IsPostgres(c.DB) {
			// This process alone writes the SQLite database (the data dir
			// is locked): the batch writer may keep its accounts in memory.
			m.store.CacheAccounts(true)
		}
		checks["database"] = m.store.Ping
	case RoleNotify:
		// The notifier keeps its own tables beside the wallet's.
		if m.notifyDB, err = store.Connect(ctx, c.DB); err != nil {
			return dbError(c.DB, err)
		}
		migrate := notifystore.Migrate
		if !c.Migrate {
			migrate = notifystore.CheckMigrated
		}
		if err := migrate(ctx, m.notifyDB); err != nil {
			return dbError(c.DB, err)
		}
		sqlDB, _ := m.notifyDB.DB()
		checks["database"] = sqlDB.PingContext
	}
	if err := m.connectNATS(); err != nil {
		return err
	}
	conns := []*nats.Conn{m.nc}
	if m.gatewayNC != m.nc {
		conns = append(conns, m.gatewayNC)
	}
	checks["nats"] = func(ctx context.Context) error {
		for _, nc := range conns {
			if s := nc.Status(); s != nats.CONNECTED {
				return fmt.Errorf("nats connection %s is %s", nc.Opts.Name, s)
			}
			if err := nc.FlushWithContext(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	js, err := jetstream.New(m.nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	replicas := c.StreamReplicas
	if m.nats != nil {
		replicas = 1 // one embedded server holds one copy
	}
	e := gateway.New(m.Log.With("component", "http"))
	switch m.Role {
	case RoleServe, RoleWallet:
		if err := m.startWallet(ctx, js, replicas, metrics); err != nil {
			return err
		}
	}
	switch m.Role {
	case RoleServe:
		if err := m.startNotify(ctx, m.store.Gorm(), c.currency, metrics); err != nil {
			return err
		}
	case RoleNotify:
		tr, err := waitForWallet(ctx, natsapi.NewClient(m.nc, 0, natsapi.WithPrefix(c.NATSPrefix)), m.Log)
		if err != nil {
			return err
		}
		if err := m.startNotify(ctx, m.notifyDB, tr.Currency, metrics); err != nil {
			return err
		}
	}
	if m.Role == RoleServe || m.Role == RoleGateway {
		gatewayJS, err := jetstream.New(m.gatewayNC)
		if err != nil {
			return fmt.Errorf("jetstream: %w", err)
		}
		if err := m.startSessions(ctx, gatewayJS, replicas, e, metrics); err != nil {
			return err
		}
	}
	if m.notifier != nil {
		checks["notify"] = m.notifier.Ready
	}
	checks["shutdown"] = func(context.Context) error {
		if m.draining.Load() {
			return errShuttingDown
		}
		return nil
	}
	if m.Role == RoleServe || m.Role == RoleOps {
		if err := m.mountOps(ctx, e); err != nil {
			return err
		}
	}
	gateway.MountHealth(e, checks, m.Log.With("component", "http"))
	if err := m.serveMetrics(e, metrics); err != nil {
		return err
	}
	m.httpSrv = gateway.NewServer(e, m.Log.With("component", "http"))
	m.httpStopped = make(chan struct{})
	go func() {
		defer close(m.httpStopped)
		if err := m.httpSrv.Serve(m.httpLn); !errors.Is(err, http.ErrServerClosed) {
			m.fail(fmt.Errorf("http: %w", err))
		}
	}()
	if m.Role == RoleServe {
		// kibubu dial finds the server through the data dir.
		if err := aggregator.WriteServerURL(c.Data, m.HTTPAddr()); err != nil {
			return err
		}
	}
	return nil
}

// mountOps mounts the back-office (/ops) on e, asking the wallet over nc.
func (m *Main) mountOps(ctx context.Context, e *echo.Echo) error {
	client := natsapi.NewClient(m.nc, 0, natsapi.WithPrefix(m.Config.NATSPrefix))
	cur := m.Config.currency
	if m.Role == RoleOps {
		tr, err := waitForWallet(ctx, client, m.Log)
		if err != nil {
			return err
		}
		cur = tr.Currency
	}
	cat, err := locales.New()
	if err != nil {
		return err
	}
	// The notifier's pages (SMS, webhooks, failure rates) ask its operator
	// service on the same connection; a notifier that does not answer
	// leaves the rest of the back-office up.
	notifier := notifyapi.NewOpsClient(m.nc, 0, m.Config.NATSPrefix)
	s, err := ops.New(ops.Config{Wallet: client, Catalog: cat, Currency: cur, Log: m.Log.With("component", "ops"),
		Notifier: notifier, Region: m.Config.Region})
	if err != nil {
		return err
	}
	ops.Mount(e, s)
	return nil
}

// startWallet starts the wallet process's parts (walletd): the writer, its
// NATS service, the merchant services and the event relay.
func (m *Main) startWallet(ctx context.Context, js jetstream.JetStream, replicas int, metrics *gateway.Metrics) error {
	c := &m.Config
	pepper, err := loadPepper(c.PepperFile, m.Log)
	if err != nil {
		return err
	}
	// The PIN notices (a start key's SMS) go to the notifier's stream,
	// which createStreams makes sure exists, so one issued before the
	// notifier first runs waits there.
	if err := m.createStreams(ctx, js, replicas); err != nil {
		return err
	}
	cat, err := locales.New()
	if err != nil {
		return err
	}
	notices := notifyapi.PINNotices(notifyapi.NewClient(js, c.NATSPrefix), cat, c.location, m.Log.With("component", "pin-notices"))
	var simSwap wallet.SIMSwapChecker // nil: the gate is off
	if c.simSwap != nil {
		ch, err := simswap.New(*c.simSwap, simswap.Options{Logger: m.Log.With("component", "simswap")})
		if err != nil {
			return err
		}
		metrics.Register(ch.Metrics().Collectors()...)
		simSwap = ch
		m.Log.Info("SIM-swap check on", "networks", len(c.simSwap.Networks), "above", c.currency.Format(c.simSwapAbove), "max_age", time.Duration(c.simSwap.MaxAge))
	}
	var ruleChecker wallet.RuleChecker // nil: the rules are off
	if c.rules != nil {
		rm := rules.NewMetrics()
		metrics.Register(rm.Collectors()...)
		ruleChecker = rules.New(c.rules, rm)
		m.Log.Info("fraud rules on", "rules", len(c.rules.Rules), "from", c.Rules)
	}
	m.storeGiven = true // walletd closes it
	o := c.walletSettings()
	o.Store, o.Conn, o.Prefix, o.Replicas = m.store, m.nc, c.NATSPrefix, replicas
	o.Wallet.Region, o.Wallet.Tariff, o.Wallet.Pepper, o.Wallet.Location = c.Region, c.tariff, pepper, c.location
	o.Wallet.Observe, o.Wallet.ObservePIN, o.Wallet.Notify = metrics.ObserveBatch, metrics.ObservePIN, notices
	o.Wallet.SIMSwap, o.Wallet.SIMSwapAbove = simSwap, c.simSwapAbove
	o.Wallet.Rules = ruleChecker
	o.Tariff, o.Actor = c.tariffLoad, walletActor()
	o.Log, o.Failed = m.Log, m.fail
	o.NoMigrate = !c.Migrate
	m.wallet, err = walletd.Start(ctx, o)
	if errors.Is(err, store.ErrNotMigrated) {
		return dbError(c.DB, err)
	}
	return err
}

// walletSettings is the wallet process's settings the flags give
// (validate checks them with walletd.Options.Validate).
func (c *Config) walletSettings() walletd.Options {
	return walletd.Options{
		Wallet: wallet.Config{
			Currency: c.currency, PINLength: c.PINLength, PINTriesMax: c.PINTries, StartKeyTTL: c.StartKeyTTL,
			ObjectionWindow: c.ReversalObjection,
		},
		Merchant: &merchant.Config{
			RequestTTL: c.RequestTTL, SettleThreshold: c.tabSettle, SettleEvery: c.TabSettleEvery,
			PromptsPerPhone: merchant.PromptLimit{Max: c.PromptsPerPhone}, PromptsPerPair: merchant.PromptLimit{Max: c.PromptsPerPair},
			PromptsPerMerchant: merchant.PromptLimit{Max: c.PromptsPerMerchant},
		},
	}
}

// createStreams creates (or updates) the JetStream stream and buckets the
// deployment's other parts use: the notifier's stream, the USSD session
// bucket and the merchant API's idempotency bucket (walletd creates the
// wallet's event stream, after these). The wallet
// does it, before it serves, so that gateways and notifiers, whose NATS
// users may not create or change streams, only bind to them.
func (m *Main) createStreams(ctx context.Context, js jetstream.JetStream, replicas int) error {
	c := &m.Config
	if _, err := notifyapi.EnsureStream(ctx, js, replicas, c.NATSPrefix); err != nil {
		return err
	}
	if _, err := sessions.EnsureBucket(ctx, js, c.NATSPrefix, c.SessionTTL, replicas); err != nil {
		return err
	}
	_, err := gateway.EnsureIdempotencyBucket(ctx, js, c.NATSPrefix, replicas)
	return err
}

// jetStreamRetryInterval paces a gateway's or notifier's start while the
// streams and buckets it binds to do not exist yet.
const jetStreamRetryInterval = time.Second

// awaitJetStream binds with bind, retrying while what it binds to (what:
// "stream X", "bucket Y") does not exist yet, with a log line each time,
// until ctx ends.
func awaitJetStream[T any](ctx context.Context, log *slog.Logger, what string, bind func(context.Context) (T, error)) (T, error) {
	for {
		v, err := bind(ctx)
		if err == nil || !errors.Is(err, jetstream.ErrStreamNotFound) && !errors.Is(err, jetstream.ErrBucketNotFound) {
			return v, err
		}
		log.Info("waiting for a wallet to create "+what+" on NATS (wallets create the streams and buckets; gateways and notifiers bind to them)", "err", err)
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("%s does not exist: start a wallet on this NATS first: %w", what, err)
		case <-time.After(jetStreamRetryInterval):
		}
	}
}

// startSessions starts the USSD session engine on the session bucket and
// mounts the aggregator adapters on e. It uses the gateway connection only,
// and js must be on it. A gateway learns the currency and PIN length from
// the wallet, waiting for one to answer within the start.
func (m *Main) startSessions(ctx context.Context, js jetstream.JetStream, replicas int, e *echo.Echo, metrics *gateway.Metrics) error {
	c := &m.Config
	key, err := loadSessionKey(c.SessionKeyFile, m.Log)
	if err != nil {
		return err
	}
	client := natsapi.NewClient(m.gatewayNC, 0, natsapi.WithPrefix(c.NATSPrefix))
	cur, pinLength := c.currency, c.PINLength
	if m.Role == RoleGateway {
		tr, err := waitForWallet(ctx, client, m.Log)
		if err != nil {
			return err
		}
		cur, pinLength = tr.Currency, tr.PINLength
	}
	kv, err := awaitJetStream(ctx, m.Log, "bucket "+sessions.BucketName, func(ctx context.Context) (jetstream.KeyValue, error) {
		return sessions.OpenBucket(ctx, js, c.NATSPrefix, c.SessionTTL)
	})
	if err != nil {
		return err
	}
	idem, err := awaitJetStream(ctx, m.Log, "bucket "+gateway.IdempotencyBucket, func(ctx context.Context) (jetstream.KeyValue, error) {
		return gateway.OpenIdempotencyBucket(ctx, js, c.NATSPrefix)
	})
	if err != nil {
		return err
	}
	cat, err := locales.New()
	if err != nil {
		return err
	}
	// The notifier's stream takes SMS replies and late outcomes: the wallet
	// created it (createStreams) before it answered waitForWallet.
	outbox := notifyapi.NewClient(js, c.NATSPrefix)
	log := m.Log.With("component", "sessions")
	m.sessions, err = sessions.New(sessions.Config{
		Wallet: sessions.WalletClient(client), Bucket: kv, Locales: cat, Currency: cur, Region: c.Region, PINLength: pinLength,
		Key: key, Location: c.location, WalletTimeout: c.WalletTimeout, Outbox: outbox, Log: log,
	})
	if err != nil {
		return err
	}
	if open := c.openAggregators(); len(open) > 0 && !loopbackListen(c.HTTP) {
		// Only with --ussd-allow-unauthenticated (validate refuses it
		// otherwise): said at every start.
		m.Log.Warn("the USSD endpoints accept requests from anyone (--ussd-allow-unauthenticated): development only; give --ussd-auth a secret or an IP allow-list per aggregator",
			"aggregators", strings.Join(open, ","))
	}
	gateway.MountUSSD(e, metrics.ObserveUSSD(m.sessions), c.ussdAuth, m.Log.With("component", "ussd"))
	if err := m.mountSMS(e, metrics, outbox); err != nil {
		return err
	}
	if err := m.mountSimulator(e, cat); err != nil {
		return err
	}
	// The merchant API: the wallet authenticates every key itself; the
	// gateway keeps the idempotency records in its bucket.
	return gateway.MountMerchantAPI(e, client, notifyapi.NewWebhookClient(m.gatewayNC, 0, c.NATSPrefix), gateway.MerchantConfig{
		Currency: cur, Location: c.location, JS: js, Prefix: c.NATSPrefix, Replicas: replicas, Bucket: idem,
	}, m.Log.With("component", "merchant-api"))
}

// mountSMS mounts the SMS webhooks: Africa's Talking's always (behind the
// generated or given secret), Twilio's when its auth token and the public
// URL it signs against are both known.
func (m *Main) mountSMS(e *echo.Echo, metrics *gateway.Metrics, out *notifyapi.Client) error {
	c := &m.Config
	secret, err := loadSMSSecret(c.SMSSecretFile, m.Log)
	if err != nil {
		return err
	}
	cfg := gateway.SMSConfig{PublicURL: c.PublicURL, AfricasTalkingSecret: secret, Region: c.Region, Observe: metrics.ObserveSMS}
	switch {
	case c.TwilioToken != "" && c.PublicURL != "":
		cfg.TwilioAuthToken = c.TwilioToken
	case c.TwilioToken != "":
		m.Log.Warn("Twilio's SMS webhooks are off: give --public-url, the URL Twilio signs them against")
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	gateway.MountSMS(e, m.sessions, out, cfg, m.Log.With("component", "sms"))
	return nil
}

// mountSimulator mounts the phone simulator when --http is loopback or
// --simulator says so. Its hops go to this server's own Africa's Talking
// adapter, with the adapter's secret; its SMS inboxes read the notifier's
// outbox where this process has it (kibubu serve).
func (m *Main) mountSimulator(e *echo.Echo, cat *locales.Catalog) error {
	c := &m.Config
	local := loopbackListen(c.HTTP)
	if !local && !c.Simulator {
		return nil
	}
	if !local {
		m.Log.Warn("the phone simulator (/simulator) is served on a non-loopback address (--simulator): anyone who reaches it dials as any phone; training only")
	}
	cfg := simulator.Config{
		// The simulator speaks Africa's Talking's protocol, as kibubu dial.
		Server: aggregator.ServerURL(m.HTTPAddr()), USSDSecret: c.ussdAuth["africastalking"].Secret,
		Locales: cat, Region: c.Region, Location: c.location, LocalHostsOnly: local,
	}
	if m.store != nil {
		cfg.Inbox = notifystore.New(m.store.Gorm())
	}
	return simulator.Mount(e, cfg)
}

// walletRetryInterval paces a gateway's start while no wallet answers.
const walletRetryInterval = time.Second

// waitForWallet asks the wallet for its settings until one answers or ctx ends.
func waitForWallet(ctx context.Context, client *natsapi.Client, log *slog.Logger) (*natsapi.TariffReply, error) {
	for {
		tr, err := client.Tariff(ctx)
		if err == nil {
			return tr, nil
		}
		if wallet.ErrorCode(err) != wallet.CodeUnavailable {
			return nil, fmt.Errorf("wallet settings: %w", err)
		}
		log.Info("waiting for a wallet to answer on NATS")
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no wallet answered on NATS during the start: %w", err)
		case <-time.After(walletRetryInterval):
		}
	}
}

// serveMetrics mounts /metrics on e when the HTTP listener is loopback and
// no --metrics-listen is given (development: one port); otherwise it serves
// it on a listener of its own, loopback by default, so that whoever reaches
// the public port does not read the server's counters.
func (m *Main) serveMetrics(e *echo.Echo, metrics *gateway.Metrics) error {
	addr := m.Config.metricsListen()
	if addr == "" {
		gateway.MountMetrics(e, metrics)
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--metrics-listen %s: %w", addr, err)
	}
	log := m.Log.With("component", "metrics")
	me := gateway.New(log)
	gateway.MountMetrics(me, metrics)
	m.metricsLn, m.metricsSrv = ln, gateway.NewServer(me, log)
	m.metricsStopped = make(chan struct{})
	go func() {
		defer close(m.metricsStopped)
		if err := m.metricsSrv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			m.fail(fmt.Errorf("metrics http: %w", err))
		}
	}()
	if !loopbackListen(addr) {
		log.Warn("/metrics is served on a non-loopback address: anyone who reaches it reads the server's counters", "addr", addr)
	}
	return nil
}

// MetricsAddr is the address /metrics is served on apart from the HTTP
// listener, or "" when it is served on that listener.
func (m *Main) MetricsAddr() string {
	if m.metricsLn == nil {
		return ""
	}
	return m.metricsLn.Addr().String()
}

// loopbackListen reports whether addr listens on loopback only.
func loopbackListen(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// connectNATS starts the embedded server and connects to it as the
// operator user and, for the gateway part, as the gateway user; or it dials
// the external one, once for both.
func (m *Main) connectNATS() error {
	c := &m.Config
	m.ncDone = make(chan struct{})
	name := "kibubu " + string(m.Role)
	var err error
	if c.NATS != "" {
		m.nc, err = c.natsConn().Connect(name, m.ncDone, m.Log)
		m.gatewayNC, m.natsURL = m.nc, c.NATS
		return err
	}
	if m.nats, err = natsserver.StartEmbedded(c.Data, c.NATSListen, c.NATSPrefix, natsroles.Permissions(natsroles.Gateway, c.NATSPrefix), m.Log); err != nil {
		return err
	}
	m.natsURL = m.nats.Info.URL
	if m.nc, err = m.nats.ConnectOperator(nats.Name(name), nats.DrainTimeout(natsconn.DrainTimeout), natsconn.ClosedHandler(m.ncDone)); err != nil {
		return err
	}
	m.gatewayNCDone = make(chan struct{})
	m.gatewayNC, err = m.nats.ConnectGateway(nats.Name(name+" gateway"), nats.DrainTimeout(natsconn.DrainTimeout), natsconn.ClosedHandler(m.gatewayNCDone))
	return err
}

// fail reports that a part stopped on its own.
func (m *Main) fail(err error) {
	select {
	case m.failed <- err:
	default:
	}
}

// Failed delivers the error of a part that stopped on its own (HTTP
// serving, the wallet writer); the process should then Close and exit.
func (m *Main) Failed() <-chan error { return m.failed }

// HTTPAddr is the address HTTP serves on (the real port when --http had
// port 0); empty before Run.
func (m *Main) HTTPAddr() string {
	if m.httpLn == nil {
		return ""
	}
	return m.httpLn.Addr().String()
}

// NATSURL is the NATS server's client URL: the embedded server's, or --nats.
func (m *Main) NATSURL() string { return m.natsURL }

// Conn is the process's own NATS connection.
func (m *Main) Conn() *nats.Conn { return m.nc }

// errShuttingDown is the readiness check's error once Drain was called.
var errShuttingDown = errors.New("shutting down")

// Drain begins a graceful shutdown: /readyz answers 503 at once, so load
// balancers and Kubernetes stop sending work, and a gateway answers a new
// USSD session's first hop with an END screen asking to dial again, while
// it answers the hops of sessions under way. Close finishes the shutdown.
func (m *Main) Drain() {
	m.draining.Store(true)
	if m.sessions != nil {
		m.sessions.Drain()
	}
}

// Close shuts down in order, so nothing is half-written: it stops taking
// HTTP requests and NATS requests, lets the wallet writer commit every
// batch it accepted, stops the relay (unpublished events stay in the
// outbox for the next start), drains NATS, stops the embedded server and
// closes the database. It is safe to call more than once, and after a
// failed Run.
func (m *Main) Close() error {
	m.closeOnce.Do(func() { m.closeErr = m.close() })
	return m.closeErr
}

func (m *Main) close() error {
	var errs []error
	m.Drain()
	// The HTTP requests and USSD money steps in flight get the shutdown
	// grace; the wallet's own drain is bounded on its own.
	grace := m.Config.ShutdownGrace
	if grace <= 0 {
		grace = shutdownGraceDefault
	}
	graceCtx, cancelGrace := context.WithTimeout(context.Background(), grace)
	defer cancelGrace()
	if m.httpSrv != nil {
		ctx, cancel := context.WithTimeout(graceCtx, httpShutdownTimeout)
		if err := m.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
		cancel()
		<-m.httpStopped
	} else if m.httpLn != nil {
		m.httpLn.Close()
	}
	if m.metricsSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
		if err := m.metricsSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("metrics http shutdown: %w", err))
		}
		cancel()
		<-m.metricsStopped
	}
	if m.sessions != nil {
		// Pending money steps are already in the wallet's queue or will be
		// retried by nobody: either way at most once.
		ctx, cancel := context.WithTimeout(graceCtx, sessionsCloseTimeout)
		m.sessions.Close(ctx)
		cancel()
	}
	// The notifier stops before NATS and the database: what it recorded
	// but did not send is sent at the next start.
	m.stopNotifier()
	if m.gatewayNC != nil && m.gatewayNC != m.nc {
		// The gateway's own connection goes first, while the wallet still
		// answers what it sent.
		if err := natsconn.Drain(m.gatewayNC, m.gatewayNCDone); err != nil {
			errs = append(errs, fmt.Errorf("gateway %w", err))
		}
	}
	if m.wallet != nil {
		// Every accepted command committed or refused, charges committed,
		// events published or left in the outbox; the database closed.
		if err := m.wallet.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if m.nc != nil {
		if err := natsconn.Drain(m.nc, m.ncDone); err != nil {
			errs = append(errs, err)
		}
	}
	if m.nats != nil {
		m.nats.Close()
	}
	if m.store != nil && !m.storeGiven {
		if err := m.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close database: %w", err))
		}
	}
	if m.notifyDB != nil {
		closeGorm(m.notifyDB)
	}
	if m.lock != nil {
		m.lock.Close() // releases the lock
	}
	return errors.Join(errs...)
}

// closeGorm closes db's pool.
func closeGorm(db *gorm.DB) {
	if sqlDB, err := db.DB(); err == nil {
		sqlDB.Close()
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, stop, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err == nil {
		return
	}
	var u *cmdline.UsageError
	if errors.As(err, &u) {
		fmt.Fprintf(os.Stderr, "kibubu: %s\n", cmdline.OneLine(u.Msg))
		if u.Usage != "" {
			fmt.Fprint(os.Stderr, u.Usage)
		}
		os.Exit(2)
	}
	fmt.Fprintf(os.Stderr, "kibubu: %s\n", cmdline.OneLine(err.Error()))
	os.Exit(1)
}

const usage = `Kibubu: mobile money for feature phones.

Usage:
  kibubu [serve] [flags]       run everything in one process (embedded NATS, SQLite, HTTP)
  kibubu wallet --nats URL     run only the wallet service against an external NATS
  kibubu gateway --nats URL    run only the HTTP gateway (USSD, SMS) against an external NATS
  kibubu notify --nats URL     run only the notifier (SMS receipts through Twilio or the outbox)
  kibubu ops --nats URL        run only the operator back-office (/ops) with the operator's NATS credentials
  kibubu migrate [--db DB]     apply the database migrations once, under a lock (then wallet/notify --migrate=false)
  kibubu notify replay --since T   record the receipts of transfers since T that the notifier missed
  kibubu dial [flags] *334#    a phone in the terminal: dial the USSD menu of a running server
  kibubu sms send [flags] TEXT  a phone in the terminal: text the SMS keyword service, print the reply
  kibubu sms outbox [--phone P] [--status S]   list the SMS recorded to send (the outbox, without Twilio)
  kibubu sms retry ID…         send failed SMS again
  kibubu bench [flags]         measure transfers per second
  kibubu bench ussd [flags]    measure USSD hops per second
  kibubu bench merchant [flags]   measure tab charges and payment requests over the merchant API

Operator commands (they find the server through <data>/nats.json, or --nats):
  kibubu agent add --phone P --name N                   open an agent; prints the agent number
  kibubu customer open --phone P --name N [--tier T]    open a customer (full tier after an ID check); prints the start key
  kibubu float issue --agent A --amount X --ref R       issue e-float to an agent against cash banked
  kibubu merchant add --phone P --name N [--paybill]    open a till (or paybill); prints its number
  kibubu apikey create --merchant TILL --scopes S,… | --operator [--expires D]   an API key, shown once
  kibubu apikey list [--merchant TILL] | revoke ID --reason R   list API keys / revoke one
  kibubu account show|freeze|unfreeze NUMBER|PHONE [--reason R]   show an account, or freeze / reactivate it
  kibubu pin reset PHONE --reason R                     clear a PIN and unlock the account
  kibubu tariff show                                    print the fee and commission bands and tier limits
  kibubu ledger check                                   verify every ledger invariant and the audit chain
  kibubu audit list [--since T] [--account A]           print the audit log of operator actions and verify it
  kibubu review list [--status S] | approve|reject ID --reason R   transfers the fraud rules held: list, release, refuse
  kibubu rules show [--rules FILE]                      print the effective fraud rules (default: the built-in ones)
  kibubu operator add --email E --role R | list | disable EMAIL --reason R   back-office (/ops) operators
  (each operator command names its operator: --as NAME, default $KIBUBU_OPERATOR or your user name)

Run 'kibubu COMMAND -h' for a command's flags. Every flag --x-y can also be
set with the environment variable KIBUBU_X_Y; the flag wins.
`

// run runs the command line args. stop, if set, restores default signal
// handling once a server begins to shut down, so a second Ctrl-C kills.
func run(ctx context.Context, stop func(), args []string, stdout, stderr io.Writer) error {
	err := dispatch(ctx, stop, args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) { // help was asked for and printed
		return nil
	}
	return err
}

func dispatch(ctx context.Context, stop func(), args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		switch {
		case args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help":
			fmt.Fprint(stdout, usage)
			return nil
		case !strings.HasPrefix(args[0], "-"):
			cmd, args = args[0], args[1:]
		}
	}
	switch cmd {
	case "serve":
		return serve(ctx, stop, RoleServe, args, stdout, stderr)
	case "wallet":
		return serve(ctx, stop, RoleWallet, args, stdout, stderr)
	case "gateway":
		return serve(ctx, stop, RoleGateway, args, stdout, stderr)
	case "notify":
		if len(args) > 0 && args[0] == "replay" {
			return smsctl.Replay(ctx, args[1:], stdout, smsDefaults(), operatorServer)
		}
		return serve(ctx, stop, RoleNotify, args, stdout, stderr)
	case "ops":
		return serve(ctx, stop, RoleOps, args, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args, stdout)
	case "sms":
		return smsctl.Run(ctx, args, stdout, smsDefaults())
	case "dial":
		return aggregator.Dial(ctx, args, DefaultConfig().Data, os.Stdin, stdout)
	case "rules":
		return rules.Command(args, stdout)
	case "bench":
		return bench.Command(ctx, args, os.Stdout, os.Stderr, startLoadBench)
	}
	if _, ok := walletctl.Groups[cmd]; ok {
		return walletctl.Run(ctx, cmd, args, stdout, operatorServer)
	}
	return &cmdline.UsageError{Msg: fmt.Sprintf("unknown command %q", cmd), Usage: usage}
}

// smsDefaults are the SMS commands' defaults, the server's.
func smsDefaults() smsctl.Defaults {
	c := DefaultConfig()
	return smsctl.Defaults{Data: c.Data, Region: c.Region, TZ: c.TZ}
}

// serve runs the server until ctx ends (SIGINT, SIGTERM) or a part fails.
func serve(ctx context.Context, stop func(), role Role, args []string, stdout, stderr io.Writer) error {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet(string(role), flag.ContinueOnError)
	synopsis := "kibubu serve [flags]\n\nRuns everything in one process: NATS (embedded unless --nats), the wallet, its event relay, the USSD gateway and HTTP.\n"
	switch role {
	case RoleWallet:
		cfg.serverFlags(fs)
		synopsis = "kibubu wallet --nats URL [flags]\n\nRuns the wallet service, its event relay and the health endpoints against an external NATS.\n"
	case RoleGateway:
		cfg.gatewayFlags(fs)
		synopsis = "kibubu gateway --nats URL [flags]\n\nRuns the HTTP gateway (USSD aggregators, SMS webhooks, health, metrics) against an external NATS and a running wallet.\n"
	case RoleOps:
		cfg.connFlags(fs)
		cfg.httpFlags(fs)
		synopsis = "kibubu ops --nats URL [flags]\n\nServes the operator back-office (/ops) against an external NATS, with the operator's NATS credentials.\n"
	case RoleNotify:
		cfg.notifyFlags(fs)
		synopsis = "kibubu notify --nats URL --db DB [flags]\n\nRuns the notifier: SMS receipts of the wallet's events and the gateways' SMS, sent through Twilio\n(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID) or to the outbox in DB.\n"
	default:
		cfg.serverFlags(fs)
		cfg.smsInFlags(fs)
		cfg.smsOutFlags(fs)
	}
	cfg.lifecycleFlags(fs, role)
	if err := cmdline.ParseCommand(fs, args, synopsis, stdout); err != nil {
		return err
	}
	if role != RoleWallet {
		if err := cfg.readTwilioEnv(os.LookupEnv); err != nil {
			return err
		}
	}
	level := slog.LevelInfo
	level.UnmarshalText([]byte(cfg.LogLevel)) // validated by Run
	log := newLogger(stderr, level)
	m := &Main{Config: cfg, Role: role, Log: log}
	if err := m.Run(ctx); err != nil {
		return err
	}
	log.Info("kibubu serving", "role", role, "http", m.HTTPAddr(), "nats", cmdline.Redact(m.NATSURL()), "db", cmdline.Redact(m.Config.DB),
		"currency", m.Config.currency.Code, "data", m.Config.Data)
	var err error
	select {
	case <-ctx.Done():
	case err = <-m.Failed(): // returned, and so printed, below
	}
	log.Info("shutting down", "grace", cfg.ShutdownGrace)
	if stop != nil {
		stop()
	}
	deadline := time.Now().Add(cfg.ShutdownGrace)
	if err == nil {
		// /readyz is 503 from now; load balancers and Kubernetes take a
		// moment to notice it, and meanwhile the listener stays open:
		// sessions under way go on here, new ones are asked to dial again.
		m.Drain()
		time.Sleep(min(cfg.ShutdownGrace/shutdownLingerShare, shutdownLingerMax))
	}
	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	select {
	case cerr := <-closed:
		err = errors.Join(err, cerr)
	case <-time.After(time.Until(deadline)):
		// Past the grace the orchestrator kills anyway. What was not
		// answered is retried by its client under the same idempotency
		// key; what was committed stays, and events wait in the outbox.
		err = errors.Join(err, fmt.Errorf("the shutdown took longer than --shutdown-grace %s: exiting with work in flight", cfg.ShutdownGrace))
	}
	if err == nil {
		log.Info("stopped")
	}
	return err
}

// The back-office's operator users: gateway/ops manages them and imports
// walletctl, so walletctl cannot name them in its own table.
func init() {
	walletctl.Groups["operator"] = map[string]walletctl.Command{
		"add": {Synopsis: "--email E --role R [--password-file F]", Setup: ops.OperatorAdd(os.Stdin), Reason: walletctl.ReasonOptional,
			Summary: "Add a back-office (/ops) operator with role R (" + ops.RoleList() + "). The password is read from F,\n" +
				"else from the first line of stdin. Roles that move money get a TOTP secret, printed once."},
		"list":    {Summary: "List the back-office operators: role, TOTP, locked or disabled, last sign-in.", Setup: ops.OperatorList},
		"disable": {Synopsis: "EMAIL --reason R", NArgs: 1, Summary: "Disable an operator and end their sessions.", Setup: ops.OperatorDisable, Reason: walletctl.ReasonRequired},
	}
}
