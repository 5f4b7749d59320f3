package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
)

const (
	// natsReconnectBufBytes bounds what a connection holds, while it
	// reconnects, of what it publishes: past it a publish fails at once
	// (and the caller answers "try again") instead of the process growing
	// through a long outage. 8 MiB is about a minute of a busy gateway's
	// requests.
	natsReconnectBufBytes = 8 << 20
	// natsReconnectWait and the jitters pace reconnecting to a cluster that
	// lost a node or restarts: the jitter spreads a fleet's reconnects so
	// they do not arrive at the surviving nodes at once. TLS handshakes
	// cost more, so they are spread wider.
	natsReconnectWait      = time.Second
	natsReconnectJitter    = 500 * time.Millisecond
	natsReconnectJitterTLS = 2 * time.Second
)

// checkNATSFiles checks the external NATS's credentials and TLS files:
// each names a readable file, they need --nats, and one way of
// authenticating is given at most.
func (c *Config) checkNATSFiles() error {
	files := []struct{ flag, path string }{
		{"nats-creds", c.NATSCreds}, {"nats-nkey", c.NATSNKey},
		{"nats-tls-ca", c.NATSTLSCA}, {"nats-tls-cert", c.NATSTLSCert}, {"nats-tls-key", c.NATSTLSKey},
	}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		if c.NATS == "" {
			return fmt.Errorf("--%s is for an external NATS: give --nats too", f.flag)
		}
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("--%s: %w", f.flag, err)
		}
	}
	if c.NATSCreds != "" && c.NATSNKey != "" {
		return errors.New("give one of --nats-creds and --nats-nkey, not both")
	}
	if (c.NATSTLSCert == "") != (c.NATSTLSKey == "") {
		return errors.New("--nats-tls-cert and --nats-tls-key go together: give both or neither")
	}
	return nil
}

// natsAuthOptions are the options that authenticate to the external NATS
// and secure the connection: credentials or an nkey, and TLS. A URL may
// also carry user:password.
func (c *Config) natsAuthOptions() ([]nats.Option, error) {
	var opts []nats.Option
	if c.NATSCreds != "" {
		opts = append(opts, nats.UserCredentials(c.NATSCreds))
	}
	if c.NATSNKey != "" {
		o, err := nats.NkeyOptionFromSeed(c.NATSNKey)
		if err != nil {
			return nil, fmt.Errorf("--nats-nkey: %w", err)
		}
		opts = append(opts, o)
	}
	if c.NATSTLSCA != "" {
		opts = append(opts, nats.RootCAs(c.NATSTLSCA))
	}
	if c.NATSTLSCert != "" {
		opts = append(opts, nats.ClientCert(c.NATSTLSCert, c.NATSTLSKey))
	}
	return opts, nil
}

// natsReconnectOptions make a long-lived connection outlive NATS restarts
// and rolling upgrades: it reconnects for ever, with jitter, holding at
// most natsReconnectBufBytes of publishes meanwhile; /readyz reports the
// outage.
func natsReconnectOptions() []nats.Option {
	return []nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(natsReconnectWait),
		nats.ReconnectJitter(natsReconnectJitter, natsReconnectJitterTLS),
		nats.ReconnectBufSize(natsReconnectBufBytes),
	}
}
