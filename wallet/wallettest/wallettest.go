// Package wallettest runs a real wallet for the tests of the packages that
// call it over NATS (sessions, gateway, the kibubu command): the wallet
// service on SQLite (or PostgreSQL when KIBUBU_TEST_POSTGRES is set), served
// on a test NATS (natstest) under a fresh prefix, with its event relay, as
// kibubu serve runs them.
package wallettest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsapi/natstest"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/store/storetest"
	"github.com/kibubu/kibubu/wallet/walletd"
)

// Pepper is the test wallet's PIN pepper.
var Pepper = []byte("0123456789abcdef0123456789abcdef")

// Wallet is a running test wallet.
type Wallet struct {
	t       testing.TB
	NATS    *natstest.Server
	Conn    *nats.Conn
	JS      jetstream.JetStream
	Client  *natsapi.Client
	Service *wallet.Service
	Store   *store.Store
	// Merchants is the merchant services (StartMerchants); nil after Start.
	Merchants *merchant.Service
	Prefix    string // the subject prefix; pass natsapi.WithPrefix(Prefix) to other clients
}

// Start runs a wallet (KES, region KE, 4-digit PINs) until the test ends.
// cfg, when given, adjusts the wallet's configuration; its Logger, if set,
// also receives the NATS service's and the relay's logs (default: none).
func Start(t testing.TB, cfg ...func(*wallet.Config)) *Wallet {
	t.Helper()
	return start(t, nil, cfg)
}

// StartMerchants runs a wallet as Start does, with its merchant services
// (package wallet/merchant, configured by mc; a nil Logger is the
// wallet's) serving their subjects.
func StartMerchants(t testing.TB, mc merchant.Config, cfg ...func(*wallet.Config)) *Wallet {
	t.Helper()
	return start(t, &mc, cfg)
}

func start(t testing.TB, mc *merchant.Config, cfg []func(*wallet.Config)) *Wallet {
	t.Helper()
	ctx := context.Background()
	ns := natstest.Start(t)
	nc := ns.Connect()
	st, err := store.Open(ctx, storetest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	kes, _ := wallet.LookupCurrency("KES")
	c := wallet.Config{Currency: kes, Region: "KE", Pepper: Pepper, PasswordCost: wallet.TestPasswordCost, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, f := range cfg {
		f(&c)
	}
	w, err := walletd.Start(ctx, walletd.Options{Store: st, Conn: nc, Prefix: ns.Prefix, Wallet: c, Log: c.Logger, Merchant: mc})
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Close()
		js.DeleteStream(context.Background(), natsapi.EventStream(ns.Prefix))
	})
	opt := natsapi.WithPrefix(ns.Prefix)
	return &Wallet{t: t, NATS: ns, Conn: nc, JS: js, Client: natsapi.NewClient(nc, 0, opt, natsapi.AsOperator(natsapi.Operator{Actor: "test"})), Service: w.Service, Store: st, Merchants: w.Merchant, Prefix: ns.Prefix}
}

var phones atomic.Int64

// NewPhone returns a Kenyan phone number no other call in this process
// returned.
func NewPhone() string { return fmt.Sprintf("+2547%08d", 30000000+phones.Add(1)) }

func (w *Wallet) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// Customer opens a fully registered customer with PIN pin, set with the
// start key the operator's opening issued, holding balance (minor units)
// deposited by a fresh agent, and returns its phone.
func (w *Wallet) Customer(name, pin string, balance int64) string {
	w.t.Helper()
	ctx := context.Background()
	p := NewPhone()
	a, err := w.Client.Register(ctx, natsapi.RegisterRequest{Phone: p, Name: name, Tier: wallet.TierFull})
	w.must(err)
	_, err = w.Client.SetPINWithStartKey(ctx, p, a.StartKey, pin)
	w.must(err)
	if balance > 0 {
		agent, _ := w.Agent("Float Agent", "1357", balance)
		_, err = w.Client.Transfer(ctx, wallet.TransferRequest{Key: "seed:" + p, Kind: wallet.TransferDeposit,
			From: agent, To: p, Amount: balance, PIN: "1357"})
		w.must(err)
	}
	return p
}

// Agent opens an agent with PIN pin (none if empty) and float (minor
// units), and returns its phone and agent number.
func (w *Wallet) Agent(name, pin string, float int64) (phone, number string) {
	w.t.Helper()
	ctx := context.Background()
	phone = NewPhone()
	a, err := w.Client.AddAgent(ctx, phone, name)
	w.must(err)
	if pin != "" {
		_, err = w.Client.SetPINWithStartKey(ctx, phone, a.StartKey, pin)
		w.must(err)
	}
	if float > 0 {
		_, err = w.Client.IssueFloat(ctx, a.Number, float, "BANK-"+a.Number)
		w.must(err)
	}
	return phone, a.Number
}

// Merchant opens a till (or a paybill) and returns its number.
func (w *Wallet) Merchant(name string, paybill bool) string {
	w.t.Helper()
	a, err := w.Client.AddMerchant(context.Background(), NewPhone(), name, paybill)
	w.must(err)
	return a.Number
}

// Balance returns the balance of the account with the given number or phone.
func (w *Wallet) Balance(numberOrPhone string) int64 {
	w.t.Helper()
	a, err := w.Client.Show(context.Background(), numberOrPhone)
	w.must(err)
	return a.Balance
}
