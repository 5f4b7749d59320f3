package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"
)

const (
	// natsInfoFile, in the data dir, holds the embedded NATS's client URL
	// and credentials, so operator commands find the running server.
	natsInfoFile = "nats.json"
	// natsUser is the one user of the embedded NATS.
	natsUser = "kibubu"
	// natsPasswordBytes of randomness: 192 bits, beyond any online guessing.
	natsPasswordBytes = 24
	// natsReadyTimeout bounds the embedded server's start; it takes
	// milliseconds, longer than this means a JetStream store to recover or
	// a stuck disk.
	natsReadyTimeout = 30 * time.Second
	// natsConnectTimeout bounds dialing a NATS server.
	natsConnectTimeout = 5 * time.Second
	// natsDrainTimeout bounds draining a connection at shutdown: replies in
	// flight are sent, then it closes.
	natsDrainTimeout = 10 * time.Second
)

// natsInfo is the content of natsInfoFile.
type natsInfo struct {
	URL      string `json:"url"`
	User     string `json:"user"`
	Password string `json:"password"`
	Prefix   string `json:"prefix,omitempty"` // --nats-prefix
}

// embeddedNATS is a NATS server in this process: JetStream on, its store
// in the data dir, listening on loopback for operator commands, with one
// generated user.
type embeddedNATS struct {
	srv  *server.Server
	info natsInfo
}

// startEmbeddedNATS starts the server on listen (a loopback host:port;
// port 0 picks a free one), writes its URL and credentials to
// <dataDir>/nats.json (mode 0600), and waits until it accepts clients.
func startEmbeddedNATS(dataDir, listen, prefix string, log *slog.Logger) (*embeddedNATS, error) {
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: port %q: %w", portText, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT // nats-server reads 0 as its default, 4222
	}
	infoPath := filepath.Join(dataDir, natsInfoFile)
	password, err := natsPassword(infoPath)
	if err != nil {
		return nil, err
	}
	// The server keeps only a bcrypt hash of the password (and so does not
	// warn about a plaintext one). MinCost: the password is 192 random bits,
	// so no cost makes guessing it any harder, and every client connect pays it.
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	opts := &server.Options{
		ServerName: "kibubu",
		Host:       host,
		Port:       port,
		Users:      []*server.User{{Username: natsUser, Password: string(hash)}},
		JetStream:  true,
		StoreDir:   filepath.Join(dataDir, "jetstream"),
		NoSigs:     true, // this process handles signals and shuts the server down in order
		// Never Debug or Trace: a traced server logs message payloads, and
		// a PIN verification carries a PIN.
		Debug:                  false,
		Trace:                  false,
		DisableJetStreamBanner: true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	logs := &natsLog{log: log.With("component", "nats"), fatal: make(chan string, 1)}
	srv.SetLoggerV2(logs, false, false, false)
	srv.Start()
	ready := make(chan bool, 1)
	go func() { ready <- srv.ReadyForConnections(natsReadyTimeout) }()
	select {
	case ok := <-ready:
		if !ok {
			srv.Shutdown()
			return nil, fmt.Errorf("embedded NATS on %s did not start within %s", listen, natsReadyTimeout)
		}
	case msg := <-logs.fatal:
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("embedded NATS (--nats-listen %s): %s", listen, msg)
	}
	logs.started.Store(true)
	e := &embeddedNATS{srv: srv, info: natsInfo{URL: srv.ClientURL(), User: natsUser, Password: password, Prefix: prefix}}
	if err := writeNATSInfo(infoPath, e.info); err != nil {
		e.shutdown()
		return nil, err
	}
	return e, nil
}

// connect opens an in-process connection: no socket, but the same
// authentication as any client.
func (e *embeddedNATS) connect(name string, closed chan<- struct{}) (*nats.Conn, error) {
	nc, err := nats.Connect(e.info.URL, nats.InProcessServer(e.srv), nats.UserInfo(e.info.User, e.info.Password),
		nats.Name(name), nats.DrainTimeout(natsDrainTimeout), closedHandler(closed))
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	return nc, nil
}

func (e *embeddedNATS) shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// closedHandler closes ch, if any, when the connection is closed for good.
func closedHandler(ch chan<- struct{}) nats.Option {
	return func(o *nats.Options) error {
		if ch != nil {
			var once sync.Once
			o.ClosedCB = func(*nats.Conn) { once.Do(func() { close(ch) }) }
		}
		return nil
	}
}

// natsPassword returns the password in the existing info file, so
// long-lived clients keep working across restarts, or a new one when there
// is none or the file was readable by others (the password may have leaked).
func natsPassword(path string) (string, error) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 == 0 {
		if b, err := os.ReadFile(path); err == nil {
			var old natsInfo
			if json.Unmarshal(b, &old) == nil && len(old.Password) == base64.RawURLEncoding.EncodedLen(natsPasswordBytes) {
				return old.Password, nil
			}
		}
	}
	p := make([]byte, natsPasswordBytes)
	rand.Read(p) // never fails (crypto/rand panics rather than return short)
	return base64.RawURLEncoding.EncodeToString(p), nil
}

// writeNATSInfo writes info to path, mode 0600, atomically: an operator
// command reading it never sees half a file.
func writeNATSInfo(path string, info natsInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), natsInfoFile+".*") // created 0600
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// readNATSInfo reads the info file a running server wrote.
func readNATSInfo(dataDir string) (natsInfo, error) {
	path := filepath.Join(dataDir, natsInfoFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return natsInfo{}, fmt.Errorf("no server found: %s does not exist (start one with `kibubu serve --data %s`, or pass --nats)", path, dataDir)
	}
	if err != nil {
		return natsInfo{}, fmt.Errorf("no server found: %w", err)
	}
	var info natsInfo
	if err := json.Unmarshal(b, &info); err != nil || info.URL == "" {
		return natsInfo{}, fmt.Errorf("no server found: %s is not what `kibubu serve` writes", path)
	}
	return info, nil
}

// natsLog sends the embedded server's log to slog: its notices at debug,
// warnings and errors at their levels. Its first fatal error (such as its
// port in use) goes to fatal, for the start to report: the server calls
// Fatalf and stops instead of exiting the process.
type natsLog struct {
	log     *slog.Logger
	fatal   chan string
	started atomic.Bool // after the start, fatal errors are logged
}

var _ server.Logger = (*natsLog)(nil)

func (l *natsLog) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLog) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLog) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLog) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *natsLog) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *natsLog) Fatalf(format string, v ...any) {
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
