package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/gateway"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsapi/natstest"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// fleetReplicas is the replica count of a production NATS cluster.
const fleetReplicas = 3

// fleet is a 3-node JetStream cluster and one database, on which tests
// start the roles as separate Mains, as `kibubu wallet|gateway|notify`
// processes would run.
type fleet struct {
	cluster *natstest.Cluster
	dsn     string
	prefix  string
	js      jetstream.JetStream // the test's own view of the cluster
}

func newFleet(t *testing.T) *fleet {
	t.Helper()
	f := &fleet{cluster: natstest.StartCluster(t, fleetReplicas), dsn: storetest.DSN(t)}
	var b [4]byte
	rand.Read(b[:])
	f.prefix = "f" + hex.EncodeToString(b[:])
	nc, err := nats.Connect(f.cluster.URLs())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if f.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	return f
}

// config is a role's configuration on the fleet: the cluster's URL list,
// the fleet's database and prefix.
func (f *fleet) config(t *testing.T) Config {
	c := testConfig(t, f.dsn)
	c.NATS, c.NATSPrefix = f.cluster.URLs(), f.prefix
	return c
}

// streams names every stream and bucket of the fleet, each with the
// stream that holds it.
func (f *fleet) streams() map[string]string {
	return map[string]string{
		"wallet events":        natsapi.EventStream(f.prefix),
		"notify":               notifyapi.StreamName(f.prefix),
		"USSD sessions":        "KV_" + bucketName(f.prefix),
		"merchant idempotency": "KV_" + gateway.IdempotencyBucket + "_" + f.prefix,
	}
}

// replicas returns the replica count of every stream and bucket.
func (f *fleet) replicas(t *testing.T) map[string]int {
	t.Helper()
	got := map[string]int{}
	for what, name := range f.streams() {
		st, err := f.js.Stream(context.Background(), name)
		if err != nil {
			t.Errorf("%s (stream %s): %v", what, name, err)
			continue
		}
		got[what] = st.CachedInfo().Config.Replicas
	}
	return got
}

// TestFleetStreamsReplicated is issue 12's first two fixes: a wallet with
// --stream-replicas 3 creates every stream and bucket with 3 replicas (the
// USSD session and merchant idempotency buckets had one copy, and losing
// its node stopped USSD on every gateway), and a gateway or a notifier
// starting afterwards never changes them (each gateway start shrank NOTIFY
// back to one copy).
func TestFleetStreamsReplicated(t *testing.T) {
	f := newFleet(t)
	c := f.config(t)
	c.StreamReplicas = fleetReplicas
	startMain(t, &Main{Config: c, Role: RoleWallet})
	check := func(after string) {
		t.Helper()
		for what, n := range f.replicas(t) {
			if n != fleetReplicas {
				t.Errorf("after %s: %s has %d replicas, want %d", after, what, n, fleetReplicas)
			}
		}
	}
	check("the wallet started")
	for _, role := range []Role{RoleGateway, RoleNotify} {
		// Their replica setting, if any, is the default: they must not
		// use it.
		startMain(t, &Main{Config: f.config(t), Role: role})
		check("a " + string(role) + " started")
	}
}

// TestFleetNotifyWaitsForItsStream is issue 12's third fix: a notifier
// whose stream cannot be bound yet (here it is missing; on a cluster it
// was "insufficient resources" while NOTIFY was being scaled) waits and
// retries instead of exiting, /readyz says unavailable meanwhile, and it
// consumes, ready, once the stream is there.
func TestFleetNotifyWaitsForItsStream(t *testing.T) {
	f := newFleet(t)
	c := f.config(t)
	c.StreamReplicas = fleetReplicas
	startMain(t, &Main{Config: c, Role: RoleWallet})
	ctx := context.Background()
	if err := f.js.DeleteStream(ctx, notifyapi.StreamName(f.prefix)); err != nil {
		t.Fatal(err)
	}
	m := startMain(t, &Main{Config: f.config(t), Role: RoleNotify})
	readyz := "http://" + m.HTTPAddr() + "/readyz"
	if code, body := get(t, readyz); code != http.StatusServiceUnavailable || body != `{"status":"unavailable","failed":["notify"]}` {
		t.Errorf("/readyz with the notifier's stream missing = %d %s, want 503 naming notify", code, body)
	}
	select {
	case err := <-m.Failed():
		t.Fatalf("the notifier stopped while its stream was missing: %v", err)
	default:
	}
	// The wallet's next start creates it again.
	if _, err := notifyapi.EnsureStream(ctx, f.js, fleetReplicas, f.prefix); err != nil {
		t.Fatal(err)
	}
	awaitReady(t, readyz)
	for _, stream := range []string{notifyapi.StreamName(f.prefix), natsapi.EventStream(f.prefix)} {
		if _, err := f.js.Consumer(ctx, stream, notifyapi.Durable); err != nil {
			t.Errorf("the notifier's consumer on %s: %v", stream, err)
		}
	}
}

// readyWait bounds waiting for /readyz to turn 200 after a dependency came
// back: the notifier's bind backoff is at most 10 s, NATS reconnects in
// about a second.
const readyWait = 30 * time.Second

// awaitReady polls url until it answers 200, failing the test after
// readyWait.
func awaitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(readyWait)
	for {
		code, body := get(t, url)
		if code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d %s after %s, want 200", url, code, body, readyWait)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
