// Package bench drives load against Kibubu and measures it: Transfers
// (kibubu bench) sends money through a wallet's NATS service and compares
// the rate with the database's own limit; USSD (kibubu bench ussd) runs
// send-money sessions over HTTP as an aggregator does; Merchant (kibubu
// bench merchant) calls the merchant API. The load loops, their latency
// histograms and their result lines live here, beside one another, and so
// do the commands' flags, defaults and bounds (Command); the root command
// only starts the server an HTTP load runs against (Serve).
//
// It measures and checks; it must not hold a rule of the ledger, a
// protocol's details or a way to start a part of its own: it uses the
// ledger's (wallet, wallet/store BulkRows), the aggregator client
// (gateway/aggregator) and the parts' starts (natsserver, walletd).
package bench

import (
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// Target is a running server an HTTP load (USSD, Merchant) runs against:
// kibubu serve on a temporary data dir.
type Target struct {
	Addr     string     // the HTTP listener's host:port
	Conn     *nats.Conn // an operator's NATS connection, to set the load up
	Currency wallet.Currency
}

// client is the operator's wallet client for setting a load up.
func (t Target) client() *natsapi.Client {
	return natsapi.NewClient(t.Conn, benchAdminTimeout, benchOperator)
}

// LoadConfig is an HTTP load's size: the flags --phones, --clients and
// --duration of kibubu bench ussd and kibubu bench merchant.
type LoadConfig struct {
	Phones   int           // registered, funded phones
	Clients  int           // concurrent clients
	Duration time.Duration // how long the load (each phase) runs
}

func milliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
