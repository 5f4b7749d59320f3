package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/kibubu/kibubu/deploy/natsserver"
	"github.com/kibubu/kibubu/internal/cmdline"
)

// testPKI is a throwaway CA with a server certificate for 127.0.0.1 and a
// client certificate, written as PEM files in a test directory.
type testPKI struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kibubu test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	p := testPKI{CA: filepath.Join(dir, "ca.pem")}
	writePEM(t, p.CA, "CERTIFICATE", caDER)
	issue := func(name string, serial int64, usage x509.ExtKeyUsage, ips []net.IP) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		cert, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
		writePEM(t, cert, "CERTIFICATE", der)
		writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
		return cert, keyFile
	}
	p.ServerCert, p.ServerKey = issue("server", 2, x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.ClientCert, p.ClientKey = issue("client", 3, x509.ExtKeyUsageClientAuth, nil)
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startSecureNATS starts an in-process NATS with JetStream that requires
// TLS with a client certificate signed by pki's CA, and an nkey user; it
// returns its URL and the user's seed file.
func startSecureNATS(t *testing.T, pki testPKI) (url, seedFile string) {
	t.Helper()
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	seedFile = filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CaFile: pki.CA, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := natsserver.Start(natsserver.Options{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Configure: func(o *server.Options) {
		o.TLS, o.TLSVerify, o.TLSConfig, o.TLSTimeout = true, true, tc, 2
		o.Nkeys = []*server.NkeyUser{{Nkey: pub}}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	return "tls://" + ns.Addr().String(), seedFile
}

// TestNATSTLSAndNKey runs a wallet against a NATS that requires TLS with
// a client certificate and an nkey: it serves with --nats-tls-ca,
// --nats-tls-cert, --nats-tls-key and --nats-nkey, and fails clearly
// without one of them. The server is also the second of a URL list whose
// first member is down.
func TestNATSTLSAndNKey(t *testing.T) {
	pki := newTestPKI(t)
	url, seed := startSecureNATS(t, pki)
	down := "tls://127.0.0.1:1"
	tests := []struct {
		name    string
		set     func(c *Config)
		wantErr string // "" for a wallet that serves
	}{
		{"all given", func(c *Config) {}, ""},
		{"no nkey", func(c *Config) { c.NATSNKey = "" }, "authorization"},
		{"no client certificate", func(c *Config) { c.NATSTLSCert, c.NATSTLSKey = "", "" }, "--nats"},
		{"no CA", func(c *Config) { c.NATSTLSCA = "" }, "certificate"},
		{"a certificate without its key", func(c *Config) { c.NATSTLSKey = "" }, "--nats-tls-cert and --nats-tls-key go together"},
		{"creds and nkey", func(c *Config) { c.NATSCreds = seed }, "give one of --nats-creds and --nats-nkey"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t, "")
			c.NATS = down + "," + url
			if tc.wantErr != "" {
				// nats.go tries the list in random order and reports the
				// last server's error: with the dead one last, that is
				// "no servers available", not the secure one's refusal.
				c.NATS = url
			}
			c.NATSNKey, c.NATSTLSCA, c.NATSTLSCert, c.NATSTLSKey = seed, pki.CA, pki.ClientCert, pki.ClientKey
			tc.set(&c)
			if tc.wantErr == "" {
				m := startMain(t, &Main{Config: c, Role: RoleWallet})
				if code, body := get(t, "http://"+m.HTTPAddr()+"/readyz"); code != 200 {
					t.Errorf("/readyz = %d %s, want 200", code, body)
				}
				if got := m.Conn().ConnectedUrl(); got != url {
					t.Errorf("connected to %s, want %s", got, url)
				}
				if !m.Conn().TLSRequired() {
					t.Error("the connection is not TLS")
				}
				return
			}
			m := &Main{Config: c, Role: RoleWallet, Log: slog.New(slog.DiscardHandler)}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := m.Run(ctx)
			m.Close()
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.wantErr)) {
				t.Errorf("Run = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestEnvFile checks KIBUBU_<FLAG>_FILE and TWILIO_*_FILE: the file's
// trimmed content is the value (Docker and Kubernetes secrets), and the
// variable and its _FILE together are refused.
func TestEnvFile(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	natsURL := file("nats", "nats://user:secret@nats-1:4222,nats://user:secret@nats-2:4222\n")
	token := file("token", "  twilio-token\n")
	tests := []struct {
		name       string
		env        map[string]string
		wantNATS   string
		wantToken  string
		wantSID    string
		wantErr    string
		twilioOnly bool
	}{
		{name: "flag from a file", env: map[string]string{"KIBUBU_NATS_FILE": natsURL},
			wantNATS: "nats://user:secret@nats-1:4222,nats://user:secret@nats-2:4222"},
		{name: "flag from the variable", env: map[string]string{"KIBUBU_NATS": "nats://a:4222"}, wantNATS: "nats://a:4222"},
		{name: "both", env: map[string]string{"KIBUBU_NATS": "nats://a:4222", "KIBUBU_NATS_FILE": natsURL},
			wantErr: "KIBUBU_NATS and KIBUBU_NATS_FILE are both set"},
		{name: "missing file", env: map[string]string{"KIBUBU_NATS_FILE": filepath.Join(dir, "absent")},
			wantErr: "KIBUBU_NATS_FILE: open"},
		{name: "twilio token from a file", env: map[string]string{"TWILIO_AUTH_TOKEN_FILE": token, "TWILIO_ACCOUNT_SID": "AC1"},
			wantToken: "twilio-token", wantSID: "AC1"},
		{name: "twilio token twice", env: map[string]string{"TWILIO_AUTH_TOKEN_FILE": token, "TWILIO_AUTH_TOKEN": "x"},
			wantErr: "TWILIO_AUTH_TOKEN and TWILIO_AUTH_TOKEN_FILE are both set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			c := DefaultConfig()
			fs := newTestFlagSet(&c)
			if err := fs.Parse(nil); err != nil {
				t.Fatal(err)
			}
			err := cmdline.ApplyEnv(fs, lookup)
			if err == nil {
				err = c.readTwilioEnv(lookup)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.NATS != tc.wantNATS || c.TwilioToken != tc.wantToken || c.TwilioSID != tc.wantSID {
				t.Errorf("got nats %q, token %q, sid %q, %v; want %q, %q, %q", c.NATS, c.TwilioToken, c.TwilioSID, err, tc.wantNATS, tc.wantToken, tc.wantSID)
			}
		})
	}
}
