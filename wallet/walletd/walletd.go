// Package walletd starts the wallet process's parts as one: the ledger's
// group-commit writer on its store, the event relay publishing the outbox
// to JetStream, the merchant services, and the NATS service answering
// both. kibubu wallet and kibubu serve, the benchmarks and every test
// harness that needs a real wallet start it here, so that adding a part to
// the wallet process is a change in this one place.
//
// Options.Validate holds the bounds a deployment's wallet settings keep
// to (the command's --pin-tries, --start-key-ttl, …, and the merchant
// services' through merchant.Config.Validate); the command names the
// flags.
//
// It only assembles and orders: the money rules stay in package wallet
// and wallet/merchant, the storage in wallet/store and
// wallet/merchant/store, the transport in
// wallet/natsapi and wallet/merchant/merchantapi. It must not
// know about HTTP, USSD sessions or the notifier.
package walletd

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

	"github.com/kibubu/kibubu/internal/cmdline"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
	merchantstore "github.com/kibubu/kibubu/wallet/merchant/store"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/store"
)

// Options say what to start.
type Options struct {
	// Store is the wallet's database, open and migrated. Start takes it
	// over: Close closes it, and so does a Start that fails.
	Store *store.Store
	// Conn is the NATS connection the service answers on and the relay
	// publishes through; the caller closes it, after Close.
	Conn *nats.Conn
	// Prefix is the subject prefix (natsapi.WithPrefix).
	Prefix string
	// Replicas of the event stream, which Start creates or updates: 1 on a
	// single server (default), 3 on a production cluster.
	Replicas int
	// Wallet configures the ledger. Committed is set by Start (it wakes
	// the relay); a nil Logger is Log's.
	Wallet wallet.Config
	// Tariff, when its File is set, is recorded in the audit log as loaded
	// by Actor before the wallet serves (only when it changed).
	Tariff wallet.TariffLoad
	Actor  string
	// Merchant, when set, starts the merchant services on their store
	// (wallet/merchant/store, on Store's database) and serves their
	// subjects (merchantapi); a nil Logger is Log's.
	Merchant *merchant.Config
	// NoMigrate: the merchant tables must have been migrated (`kibubu
	// migrate`), as the wallet's were for store.OpenMigrated; Start fails
	// with an error wrapping store.ErrNotMigrated if not. Without it Start
	// migrates them, as store.Open does the wallet's.
	NoMigrate bool
	// Log receives the parts' logs, each with its component; nil: none.
	Log *slog.Logger
	// Failed, if set, is told when a part stops on its own (the writer,
	// the relay or the merchant services failing); the process should
	// then Close.
	Failed func(error)
}

// The bounds a deployment's wallet settings keep to (Validate), narrower
// than what wallet.New takes: tests use a second's objection window.
const (
	// PINTriesMax caps Wallet.PINTriesMax: each allowed wrong try is one
	// more guess of a 4-digit PIN's 10,000 values before the lockout.
	PINTriesMax = 10
	// StartKeyTTLMin and StartKeyTTLMax bound Wallet.StartKeyTTL: an SMS
	// can take minutes to arrive, and a key that lives for weeks in an
	// inbox is a PIN waiting for whoever reads it first.
	StartKeyTTLMin = 10 * time.Minute
	StartKeyTTLMax = 30 * 24 * time.Hour
	// ObjectionWindowMin is Wallet.ObjectionWindow's floor (its ceiling is
	// wallet.ObjectionWindowMax): a recipient needs at least an hour to see
	// an SMS and answer it.
	ObjectionWindowMin = time.Hour
)

// Validate checks the settings a deployment gives (the command's flags,
// each given a value): the wallet's within the bounds above, the merchant
// services' (merchant.Config.Validate) for the wallet's currency. A
// refused one is a *cmdline.SettingError naming its field, which the
// command names by its flag. Start does not call it.
func (o *Options) Validate() error {
	w := o.Wallet
	switch {
	case w.PINLength < wallet.PINLengthMin || w.PINLength > wallet.PINLengthMax:
		return cmdline.Settingf("PINLength", w.PINLength, "must be %d to %d", wallet.PINLengthMin, wallet.PINLengthMax)
	case w.PINTriesMax < 1 || w.PINTriesMax > PINTriesMax:
		return cmdline.Settingf("PINTriesMax", w.PINTriesMax, "must be 1 to %d", PINTriesMax)
	case w.StartKeyTTL < StartKeyTTLMin || w.StartKeyTTL > StartKeyTTLMax:
		return cmdline.Settingf("StartKeyTTL", w.StartKeyTTL, "must be %s to %s", StartKeyTTLMin, StartKeyTTLMax)
	case w.ObjectionWindow < ObjectionWindowMin || w.ObjectionWindow > wallet.ObjectionWindowMax:
		return cmdline.Settingf("ObjectionWindow", w.ObjectionWindow, "must be %s to %s", ObjectionWindowMin, wallet.ObjectionWindowMax)
	}
	if o.Merchant != nil {
		return o.Merchant.Validate(w.Currency)
	}
	return nil
}

// Wallet is a running wallet process.
type Wallet struct {
	Service  *wallet.Service
	Merchant *merchant.Service // nil without Options.Merchant
	Store    *store.Store
	Stream   jetstream.Stream // the event stream

	svc micro.Service
	// Each part stops in its turn: the merchant services post through the
	// wallet, so they stop first; the relay last, so what the writer
	// committed is published or left in the outbox for the next start.
	stopMerchant, stopWallet, stopRelay func()
	closed                              bool // the store
}

// Start starts the wallet's parts and returns once its NATS service
// answers. ctx bounds the start only: the parts run until Close.
func Start(ctx context.Context, o Options) (_ *Wallet, err error) {
	if o.Store == nil || o.Conn == nil {
		return nil, errors.New("walletd: a store and a NATS connection are required")
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	failed := o.Failed
	if failed == nil {
		failed = func(error) {}
	}
	w := &Wallet{Store: o.Store}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	prefix := natsapi.WithPrefix(o.Prefix)
	js, err := jetstream.New(o.Conn)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if w.Stream, err = natsapi.EnsureStream(ctx, js, max(o.Replicas, 1), prefix); err != nil {
		return nil, err
	}
	relay := natsapi.NewRelay(o.Store, js, log.With("component", "relay"), prefix)
	cfg := o.Wallet
	cfg.Committed = relay.Wake
	if cfg.Logger == nil {
		cfg.Logger = log.With("component", "wallet")
	}
	if w.Service, err = wallet.New(ctx, o.Store, cfg); err != nil {
		return nil, err
	}
	if o.Tariff.File != "" {
		if _, err := w.Service.AuditTariff(ctx, o.Actor, o.Tariff); err != nil {
			return nil, fmt.Errorf("audit the tariff: %w", err)
		}
	}
	w.stopWallet = run(w.Service.Run, "wallet writer", failed)
	opts := []natsapi.Option{prefix}
	if o.Merchant != nil {
		mc := *o.Merchant
		if mc.Logger == nil {
			mc.Logger = log.With("component", "merchant")
		}
		open := merchantstore.Open
		if o.NoMigrate {
			open = merchantstore.OpenMigrated
		}
		ms, err := open(ctx, o.Store)
		if err != nil {
			return nil, err
		}
		if w.Merchant, err = merchant.New(ctx, w.Service, ms, mc); err != nil {
			return nil, err
		}
		w.stopMerchant = run(w.Merchant.Run, "merchant services", failed)
		opts = append(opts, merchantapi.Options(w.Merchant, o.Conn)...)
	}
	if w.svc, err = natsapi.Serve(o.Conn, w.Service, log.With("component", "natsapi"), opts...); err != nil {
		return nil, err
	}
	w.stopRelay = run(relay.Run, "event relay", failed)
	return w, nil
}

// run runs part until the returned stop is called; stop waits for it.
func run(part func(context.Context) error, name string, failed func(error)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := part(ctx); err != nil {
			failed(fmt.Errorf("%s: %w", name, err))
		}
	}()
	return func() { cancel(); <-done }
}

// StopRelay stops publishing events; what the writer commits from now on
// stays in the outbox for the next start. The benchmark measures the
// storage limit without it. Close calls it too.
func (w *Wallet) StopRelay() {
	if w.stopRelay != nil {
		w.stopRelay()
		w.stopRelay = nil
	}
}

// Close shuts down in order, so nothing is half-written: it stops taking
// NATS requests, stops the merchant services (charges committed,
// settlements posted or left for the next start), lets the writer commit
// every batch it accepted, stops the relay, and closes the store. It is
// not safe to call concurrently with itself.
func (w *Wallet) Close() error {
	var errs []error
	if w.svc != nil {
		if err := w.svc.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stop wallet service: %w", err))
		}
		w.svc = nil
	}
	for _, stop := range []*func(){&w.stopMerchant, &w.stopWallet, &w.stopRelay} {
		if *stop != nil {
			(*stop)()
			*stop = nil
		}
	}
	if w.Store != nil && !w.closed {
		w.closed = true
		if err := w.Store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close database: %w", err))
		}
	}
	return errors.Join(errs...)
}
