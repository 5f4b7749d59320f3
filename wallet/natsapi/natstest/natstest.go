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
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Env names the environment variable holding the NATS URL tests run against.
const Env = "KIBUBU_TEST_NATS"

// readyTimeout bounds the in-process server's start.
const readyTimeout = 10 * time.Second

// Server is where a test's NATS connections go.
type Server struct {
	t      testing.TB
	url    string
	ns     *server.Server // nil for an external server
	Prefix string         // a fresh subject prefix for this test
}

// Start returns the test's NATS server: external when KIBUBU_TEST_NATS is
// set, else a new in-process one shut down when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	s := &Server{t: t, Prefix: "t" + hex.EncodeToString(b[:])}
	if url := os.Getenv(Env); url != "" {
		s.url = url
		return s
	}
	ns, err := server.NewServer(&server.Options{DontListen: true, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(readyTimeout) {
		t.Fatal("nats server did not start")
	}
	t.Cleanup(ns.Shutdown)
	s.ns = ns
	return s
}

// Connect returns a new connection, closed when the test ends.
func (s *Server) Connect() *nats.Conn {
	s.t.Helper()
	var nc *nats.Conn
	var err error
	if s.ns != nil {
		nc, err = nats.Connect("", nats.InProcessServer(s.ns))
	} else {
		nc, err = nats.Connect(s.url)
	}
	if err != nil {
		s.t.Fatalf("nats connect: %v", err)
	}
	s.t.Cleanup(nc.Close)
	return nc
}
