// Package natsserver starts the NATS server Kibubu runs in its own process:
// kibubu serve's embedded NATS, the benchmarks' and the tests'. It owns how
// such a server is configured and started (JetStream on, its store in a
// directory, never tracing payloads, ready before it is returned) and how
// a client connects to it in process, and kibubu serve's embedded server
// (StartEmbedded: its two generated users and the nats.json through which
// operator commands find it). It knows nothing of wallets or subjects;
// callers choose the users' permissions (deploy/natsroles).
package natsserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// readyTimeout bounds a start: a server takes milliseconds, longer than
// this means a JetStream store to recover or a stuck disk.
const readyTimeout = 30 * time.Second

// Options say how to start a server. The zero value, with a StoreDir, is
// a server reachable only from this process, with no users and no log.
type Options struct {
	// Name is the server's name (default: nats-server's generated one).
	Name string
	// Listen is the host:port clients dial; port 0 picks a free one.
	// Empty: no listener, in-process connections only.
	Listen string
	// StoreDir holds the JetStream store.
	StoreDir string
	// Users, when set, are the only clients allowed in.
	Users []*server.User
	// MaxPayload is the largest message (default nats-server's, 1 MB).
	MaxPayload int32
	// Log receives the server's notices at debug, and its warnings and
	// errors at their levels; nil: the server logs nothing.
	Log *slog.Logger
}

// Server is a running server: nats-server's own, with Close.
type Server struct {
	*server.Server
}

// Start starts a server with JetStream and returns once it accepts
// clients. A server that fails to start (a port in use) is an error naming
// why, not a process exit: the server reports its fatal errors to this
// package instead of exiting.
func Start(o Options) (*Server, error) {
	opts := &server.Options{
		ServerName: o.Name,
		DontListen: o.Listen == "",
		Users:      o.Users,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		MaxPayload: o.MaxPayload,
		NoSigs:     true, // the process handles signals and shuts the server down in order
		// Never Debug or Trace: a traced server logs message payloads, and
		// a PIN verification carries a PIN.
		Debug:                  false,
		Trace:                  false,
		DisableJetStreamBanner: true,
	}
	if o.Listen != "" {
		host, portText, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats server: %w", err)
		}
		port, err := strconv.Atoi(portText)
		if err != nil {
			return nil, fmt.Errorf("nats server: port %q: %w", portText, err)
		}
		if port == 0 {
			port = server.RANDOM_PORT // nats-server reads 0 as its default, 4222
		}
		opts.Host, opts.Port = host, port
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	// The logger is set even with no Log: it is how a fatal error reaches
	// Start instead of a silent wait for readiness.
	logs := &logger{log: o.Log, fatal: make(chan string, 1)}
	if logs.log == nil {
		logs.log = slog.New(slog.DiscardHandler)
	}
	srv.SetLoggerV2(logs, false, false, false)
	srv.Start()
	ready := make(chan bool, 1)
	go func() { ready <- srv.ReadyForConnections(readyTimeout) }()
	select {
	case ok := <-ready:
		if !ok {
			srv.Shutdown()
			return nil, fmt.Errorf("nats server did not start within %s", readyTimeout)
		}
	case msg := <-logs.fatal:
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, errors.New(msg)
	}
	logs.started.Store(true)
	return &Server{srv}, nil
}

// Connect opens an in-process connection: no socket, but the same
// authentication as any client (give nats.UserInfo when there are Users).
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	nc, err := nats.Connect(s.ClientURL(), append([]nats.Option{nats.InProcessServer(s.Server)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	return nc, nil
}

// Close shuts the server down and waits until it has stopped.
func (s *Server) Close() {
	s.Shutdown()
	s.WaitForShutdown()
}

// logger sends the server's log to slog. Its first fatal error (such as
// its port in use) goes to fatal, for Start to report: the server calls
// Fatalf and stops instead of exiting the process.
type logger struct {
	log     *slog.Logger
	fatal   chan string
	started atomic.Bool // after the start, fatal errors are logged
}

var _ server.Logger = (*logger)(nil)

func (l *logger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *logger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *logger) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *logger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *logger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *logger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if l.started.Load() {
		l.log.Error(msg)
		return
	}
	select {
	case l.fatal <- msg:
	default:
		l.log.Error(msg)
	}
}
