package deploy

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/kibubu/kibubu/deploy/natsroles"
)

// nats.conf is what nats-server 2.15.2 (the module the binary embeds)
// accepts, with the example's TLS files and nkeys, and has what the issue
// asks: routes between 3 nodes, JetStream on disk, max_payload for bulk
// payout files, a chosen sync_interval, TLS for clients and routes, one
// nkey user per role with that role's permissions.
func TestNATSConf(t *testing.T) {
	dir := t.TempDir()
	conf, err := os.ReadFile("nats/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	example, _ := filepath.Abs("secrets.example")
	conf = []byte(strings.ReplaceAll(string(conf), "/etc/nats/tls/", example+"/"))
	if err := os.WriteFile(filepath.Join(dir, "nats.conf"), conf, 0o600); err != nil {
		t.Fatal(err)
	}
	users, err := os.ReadFile("nats/users.conf")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "users.conf"), users, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NATS_SERVER_NAME", "nats-1")
	keys := nkeyEnv(t)
	for k, v := range keys {
		t.Setenv(k, v)
	}
	o, err := server.ProcessConfigFile(filepath.Join(dir, "nats.conf"))
	if err != nil {
		t.Fatalf("nats-server rejects deploy/nats/nats.conf: %v", err)
	}
	if o.ServerName != "nats-1" {
		t.Errorf("server_name %q: want it from NATS_SERVER_NAME", o.ServerName)
	}
	if len(o.Routes) != 3 || o.Cluster.Port == 0 || o.Cluster.Name == "" {
		t.Errorf("want a named cluster with routes to 3 nodes, got %d routes", len(o.Routes))
	}
	for _, r := range o.Routes {
		if !strings.HasPrefix(r.Host, "nats-") {
			t.Errorf("route %s is not one of compose.yaml's nats-N services", r)
		}
	}
	if !o.JetStream || o.StoreDir == "" {
		t.Error("JetStream must be on, with a store dir")
	}
	if o.MaxPayload < 4<<20 {
		t.Errorf("max_payload %d: a 2 MB bulk payout file is 2.7 MB as base64 JSON; want 4MB", o.MaxPayload)
	}
	if o.SyncInterval <= 0 || o.SyncInterval > time.Minute {
		t.Errorf("sync_interval %s: choose one (nats.conf says why)", o.SyncInterval)
	}
	if o.TLSConfig == nil || o.Cluster.TLSConfig == nil {
		t.Error("TLS for clients and for routes")
	} else if o.Cluster.TLSConfig.ClientAuth.String() != "RequireAndVerifyClientCert" {
		t.Errorf("routes: %s, want verified certificates both ways", o.Cluster.TLSConfig.ClientAuth)
	}
	if o.Debug || o.Trace {
		t.Error("never debug or trace: a traced server logs payloads, and a PIN verification carries a PIN")
	}
	// One nkey user per role, with its permissions; each example seed is
	// the key nats-users.env gives the server.
	if len(o.Nkeys) != len(natsroles.Roles) || len(o.Users) != 0 {
		t.Fatalf("want %d nkey users and no others, got %d and %d", len(natsroles.Roles), len(o.Nkeys), len(o.Users))
	}
	for _, r := range natsroles.Roles {
		pub := keys[natsroles.NKeyVar(r)]
		found := false
		for _, u := range o.Nkeys {
			if u.Nkey == pub {
				found = true
				if u.Permissions == nil || u.Permissions.Publish == nil {
					t.Errorf("%s: no publish permissions: it could publish anything", r)
				}
			}
		}
		if !found {
			t.Errorf("%s: no user with the public key of %s", r, natsroles.NKeyVar(r))
		}
		seed, err := os.ReadFile(filepath.Join("secrets.example", "nats-"+string(r)+".nk"))
		if err != nil {
			t.Fatal(err)
		}
		kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(seed))))
		if err != nil {
			t.Fatalf("secrets.example/nats-%s.nk: %v", r, err)
		}
		if got, _ := kp.PublicKey(); got != pub {
			t.Errorf("secrets.example/nats-%s.nk is the seed of %s, but nats-users.env gives %s", r, got, pub)
		}
	}
}

// The example server certificate is signed by the example CA for every
// name a client or a route dials in compose.yaml.
func TestNATSExampleCertificate(t *testing.T) {
	read := func(name string) *x509.Certificate {
		b, err := os.ReadFile(filepath.Join("secrets.example", name))
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			t.Fatalf("%s: no PEM", name)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca, srv := read("ca.crt"), read("server.crt")
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	for _, name := range []string{"nats-1", "nats-2", "nats-3"} {
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := srv.Verify(x509.VerifyOptions{DNSName: name, Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("server.crt for %s (%v): %v", name, usage, err)
			}
		}
	}
}
