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
	"net/url"
	"strconv"
	"sync"
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
	// PayloadMax is the largest message (default nats-server's, 1 MB).
	PayloadMax int32
	// Log receives the server's notices at debug, and its warnings and
	// errors at their levels; nil: the server logs nothing.
	Log *slog.Logger
	// Logger, when set, also receives the server's log as nats-server
	// writes it (a test watching for permission violations).
	Logger server.Logger
	// Cluster, when set, makes the server a node of a JetStream cluster
	// (StartCluster starts its nodes together).
	Cluster *ClusterOptions
	// Configure, when set, adjusts nats-server's options last, for what
	// these do not name (a test's TLS and NKey users). It must not turn
	// tracing on.
	Configure func(*server.Options)
}

// ClusterOptions make a server a node of a cluster.
type ClusterOptions struct {
	Name   string   // the cluster's name, the same on every node
	Listen string   // host:port this node takes routes on
	Routes []string // every node's route host:port (its own is ignored)
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
		MaxPayload: o.PayloadMax,
		NoSigs:     true, // the process handles signals and shuts the server down in order
		// Never Debug or Trace: a traced server logs message payloads, and
		// a PIN verification carries a PIN.
		Debug:                  false,
		Trace:                  false,
		DisableJetStreamBanner: true,
	}
	if o.Listen != "" {
		host, port, err := splitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats server: %w", err)
		}
		opts.Host, opts.Port = host, port
	}
	if c := o.Cluster; c != nil {
		host, port, err := splitHostPort(c.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats server: cluster: %w", err)
		}
		opts.Cluster = server.ClusterOpts{Name: c.Name, Host: host, Port: port}
		for _, r := range c.Routes {
			opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats", Host: r})
		}
	}
	if o.Configure != nil {
		o.Configure(opts)
	}
	opts.Debug, opts.Trace, opts.TraceVerbose = false, false, false
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	// The logger is set even with no Log: it is how a fatal error reaches
	// Start instead of a silent wait for readiness.
	logs := &logger{log: o.Log, next: o.Logger, fatal: make(chan string, 1)}
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

// StartCluster starts the nodes of a cluster together (a node is ready
// only once JetStream has a quorum, so not before its peers run) and
// returns them once every one accepts clients, in the order of nodes. If
// one fails, those started are closed.
func StartCluster(nodes []Options) ([]*Server, error) {
	servers := make([]*Server, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, o := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			servers[i], errs[i] = Start(o)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, s := range servers {
			if s != nil {
				s.Close()
			}
		}
		return nil, err
	}
	return servers, nil
}

// splitHostPort splits host:port; port 0 is a free port (nats-server
// reads 0 as its default, 4222, so it becomes RANDOM_PORT).
func splitHostPort(hostPort string) (string, int, error) {
	host, portText, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", portText, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
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
	next    server.Logger // nil, or Options.Logger
	fatal   chan string
	started atomic.Bool // after the start, fatal errors are logged
}

var _ server.Logger = (*logger)(nil)

func (l *logger) Noticef(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...))
	if l.next != nil {
		l.next.Noticef(format, v...)
	}
}

func (l *logger) Debugf(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...))
	if l.next != nil {
		l.next.Debugf(format, v...)
	}
}

func (l *logger) Tracef(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...))
	if l.next != nil {
		l.next.Tracef(format, v...)
	}
}

func (l *logger) Warnf(format string, v ...any) {
	l.log.Warn(fmt.Sprintf(format, v...))
	if l.next != nil {
		l.next.Warnf(format, v...)
	}
}

func (l *logger) Errorf(format string, v ...any) {
	l.log.Error(fmt.Sprintf(format, v...))
	if l.next != nil {
		l.next.Errorf(format, v...)
	}
}

func (l *logger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if l.next != nil {
		l.next.Fatalf(format, v...)
	}
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
