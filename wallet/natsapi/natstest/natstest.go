// Package natstest gives tests a NATS connection with JetStream: an
// in-process server in the test's temporary directory, or, when
// KIBUBU_TEST_NATS is set, that server. Every test also gets a fresh subject
// prefix (natsapi.WithPrefix), so tests sharing one server never answer each
// other's requests or read each other's events.
package natstest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/kibubu/kibubu/deploy/natsserver"
)

// Env names the environment variable holding the NATS URL tests run against.
const Env = "KIBUBU_TEST_NATS"

// Server is where a test's NATS connections go.
type Server struct {
	t      testing.TB
	url    string
	ns     *natsserver.Server // nil for an external server
	Prefix string             // a fresh subject prefix for this test
}

// Start returns the test's NATS server: external when KIBUBU_TEST_NATS is
// set, else a new in-process one, reachable only from this process, shut
// down when the test ends.
func Start(t testing.TB) *Server { t.Helper(); return start(t, false) }

// StartTCP is Start with the in-process server listening on an ephemeral
// loopback port, for tests that run other processes against it (URL).
func StartTCP(t testing.TB) *Server { t.Helper(); return start(t, true) }

// URL is the server's client URL; empty for a server Start made.
func (s *Server) URL() string { return s.url }

func start(t testing.TB, listen bool) *Server {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	s := &Server{t: t, Prefix: "t" + hex.EncodeToString(b[:])}
	if url := os.Getenv(Env); url != "" {
		s.url = url
		return s
	}
	opts := natsserver.Options{StoreDir: t.TempDir()}
	if listen {
		opts.Listen = "127.0.0.1:0"
	}
	ns, err := natsserver.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	s.ns = ns
	if listen {
		s.url = ns.ClientURL()
	}
	return s
}

// Connect returns a new connection, closed when the test ends.
func (s *Server) Connect() *nats.Conn {
	s.t.Helper()
	var nc *nats.Conn
	var err error
	if s.ns != nil && s.url == "" {
		nc, err = s.ns.Connect()
	} else {
		nc, err = nats.Connect(s.url)
	}
	if err != nil {
		s.t.Fatalf("nats connect: %v", err)
	}
	s.t.Cleanup(nc.Close)
	return nc
}
