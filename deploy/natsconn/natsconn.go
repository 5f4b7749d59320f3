// Package natsconn is how a Kibubu process connects to the deployment's
// NATS (a cluster, not the embedded server): the URLs, the credentials or
// nkey, TLS, the subject prefix, and the reconnect and drain policy of a
// long-lived connection. It owns their validation, so kibubu serve, the
// wallet, gateway and notify roles and the operator commands check them
// alike. The root command maps its flags onto Config; the server side is
// deploy/natsserver's, the permissions deploy/natsroles'.
package natsconn

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kibubu/kibubu/internal/cmdline"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

const (
	// ConnectTimeout bounds dialing a NATS server.
	ConnectTimeout = 5 * time.Second
	// DrainTimeout bounds draining a connection at shutdown: replies in
	// flight are sent, then it closes.
	DrainTimeout = 10 * time.Second
	// reconnectBufBytes bounds what a connection holds, while it
	// reconnects, of what it publishes: past it a publish fails at once
	// (and the caller answers "try again") instead of the process growing
	// through a long outage. 8 MiB is about a minute of a busy gateway's
	// requests.
	reconnectBufBytes = 8 << 20
	// reconnectWait and the jitters pace reconnecting to a cluster that
	// lost a node or restarts: the jitter spreads a fleet's reconnects so
	// they do not arrive at the surviving nodes at once. TLS handshakes
	// cost more, so they are spread wider.
	reconnectWait      = time.Second
	reconnectJitter    = 500 * time.Millisecond
	reconnectJitterTLS = 2 * time.Second
)

// Config names an external NATS and how to authenticate to it. Its
// errors name the command's flags (--nats, --nats-creds, …).
type Config struct {
	URL     string // comma-separated server URLs; may embed user:password; empty: none (the embedded server)
	Creds   string // credentials file
	NKey    string // nkey seed file (instead of Creds)
	TLSCA   string // PEM file of the CAs that sign the servers' certificates
	TLSCert string // PEM client certificate (with TLSKey)
	TLSKey  string // PEM private key of TLSCert
	Prefix  string // the deployment's subject prefix (natsrpc)
}

// Validate checks the URLs, that each file is readable and needs a URL,
// that one way of authenticating is given at most, and the prefix.
func (c Config) Validate() error {
	if c.URL != "" {
		if err := checkURLs(c.URL); err != nil {
			return fmt.Errorf("--nats: %w", err)
		}
	}
	if err := c.checkFiles(); err != nil {
		return err
	}
	return CheckPrefix(c.Prefix)
}

// CheckPrefix checks --nats-prefix.
func CheckPrefix(prefix string) error {
	if !natsrpc.ValidPrefix(prefix) {
		return fmt.Errorf("--nats-prefix %q: use at most 32 letters, digits, - and _", prefix)
	}
	return nil
}

// checkURLs checks a comma-separated list of NATS server URLs.
func checkURLs(list string) error {
	for _, s := range strings.Split(list, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil {
			return errors.New("not a URL (want nats://host:4222)")
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("%q: want a nats://, tls://, ws:// or wss:// URL", u.Redacted())
		}
		if u.Host == "" {
			return fmt.Errorf("%q: no host", u.Redacted())
		}
	}
	return nil
}

// checkFiles checks the credentials and TLS files: each names a readable
// file, they need a URL, and one way of authenticating is given at most.
func (c Config) checkFiles() error {
	files := []struct{ flag, path string }{
		{"nats-creds", c.Creds}, {"nats-nkey", c.NKey},
		{"nats-tls-ca", c.TLSCA}, {"nats-tls-cert", c.TLSCert}, {"nats-tls-key", c.TLSKey},
	}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		if c.URL == "" {
			return fmt.Errorf("--%s is for an external NATS: give --nats too", f.flag)
		}
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("--%s: %w", f.flag, err)
		}
	}
	if c.Creds != "" && c.NKey != "" {
		return errors.New("give one of --nats-creds and --nats-nkey, not both")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--nats-tls-cert and --nats-tls-key go together: give both or neither")
	}
	return nil
}

// AuthOptions are the options that authenticate to the NATS and secure
// the connection: credentials or an nkey, and TLS. A URL may also carry
// user:password.
func (c Config) AuthOptions() ([]nats.Option, error) {
	var opts []nats.Option
	if c.Creds != "" {
		opts = append(opts, nats.UserCredentials(c.Creds))
	}
	if c.NKey != "" {
		o, err := nats.NkeyOptionFromSeed(c.NKey)
		if err != nil {
			return nil, fmt.Errorf("--nats-nkey: %w", err)
		}
		opts = append(opts, o)
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	return opts, nil
}

// Connect dials the NATS as a long-lived connection named name: it
// outlives NATS restarts and rolling upgrades, reconnecting for ever with
// jitter and holding at most reconnectBufBytes of publishes meanwhile
// (/readyz reports the outage), and logs its disconnects and reconnects.
// closed, if set, is closed when the connection is closed for good.
func (c Config) Connect(name string, closed chan<- struct{}, log *slog.Logger) (*nats.Conn, error) {
	auth, err := c.AuthOptions()
	if err != nil {
		return nil, err
	}
	opts := []nats.Option{nats.Name(name), nats.Timeout(ConnectTimeout), nats.DrainTimeout(DrainTimeout),
		ClosedHandler(closed),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", cmdline.Redact(nc.ConnectedUrl())) }),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.ReconnectJitter(reconnectJitter, reconnectJitterTLS),
		nats.ReconnectBufSize(reconnectBufBytes),
	}
	nc, err := nats.Connect(c.URL, append(opts, auth...)...)
	if err != nil {
		return nil, fmt.Errorf("--nats %s: %w", cmdline.Redact(c.URL), err)
	}
	return nc, nil
}

// ClosedHandler closes ch, if any, when the connection is closed for good.
func ClosedHandler(ch chan<- struct{}) nats.Option {
	return func(o *nats.Options) error {
		if ch != nil {
			var once sync.Once
			o.ClosedCB = func(*nats.Conn) { once.Do(func() { close(ch) }) }
		}
		return nil
	}
}

// Drain drains nc and waits until it is closed (done, from ClosedHandler,
// is closed), closing it after DrainTimeout.
func Drain(nc *nats.Conn, done <-chan struct{}) error {
	if err := nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		nc.Close()
	}
	select {
	case <-done:
		return nil
	case <-time.After(DrainTimeout + time.Second):
		nc.Close()
		return errors.New("nats: drain did not finish in time")
	}
}
