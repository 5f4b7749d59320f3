package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"github.com/kibubu/kibubu/deploy/natsroles"
	"github.com/kibubu/kibubu/deploy/natsserver"
)

const (
	// natsInfoFile, in the data dir, holds the embedded NATS's client URL
	// and credentials, so operator commands find the running server.
	natsInfoFile = "nats.json"
	// natsUser is the embedded NATS's operator user, with every permission:
	// the wallet service, its event relay and the operator commands use it.
	natsUser = "kibubu"
	// natsGatewayUser is the embedded NATS's user for the USSD gateway (the
	// session engine's wallet client and its bucket), with only the
	// permissions gatewayPermissions lists: a bug or a hole in the part
	// facing the aggregators cannot issue float or reset a PIN.
	natsGatewayUser = "gateway"
	// natsMaxPayload is the embedded NATS's largest message.
	natsMaxPayload = 4 << 20
	// natsPasswordBytes of randomness: 192 bits, beyond any online guessing.
	natsPasswordBytes = 24
	// natsConnectTimeout bounds dialing a NATS server.
	natsConnectTimeout = 5 * time.Second
	// natsDrainTimeout bounds draining a connection at shutdown: replies in
	// flight are sent, then it closes.
	natsDrainTimeout = 10 * time.Second
)

// natsInfo is the content of natsInfoFile. User and Password are the
// operator's (operator commands read them); the gateway's are kept so that
// its password, like the operator's, survives a restart.
type natsInfo struct {
	URL             string `json:"url"`
	User            string `json:"user"`
	Password        string `json:"password"`
	GatewayUser     string `json:"gateway_user"`
	GatewayPassword string `json:"gateway_password"`
	Prefix          string `json:"prefix,omitempty"` // --nats-prefix
}

// embeddedNATS is a NATS server in this process: JetStream on, its store
// in the data dir, listening on loopback for operator commands, with two
// generated users: natsUser and natsGatewayUser.
type embeddedNATS struct {
	srv  *natsserver.Server
	info natsInfo
}

// startEmbeddedNATS starts the server on listen (a loopback host:port;
// port 0 picks a free one), writes its URL and credentials to
// <dataDir>/nats.json (mode 0600), and waits until it accepts clients.
func startEmbeddedNATS(dataDir, listen, prefix string, log *slog.Logger) (*embeddedNATS, error) {
	infoPath := filepath.Join(dataDir, natsInfoFile)
	info := natsPasswords(infoPath)
	info.User, info.GatewayUser, info.Prefix = natsUser, natsGatewayUser, prefix
	// The server keeps only a bcrypt hash of each password (and so does not
	// warn about a plaintext one). MinCost: a password is 192 random bits,
	// so no cost makes guessing it any harder, and every client connect pays it.
	hash, err := bcrypt.GenerateFromPassword([]byte(info.Password), bcrypt.MinCost)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	gatewayHash, err := bcrypt.GenerateFromPassword([]byte(info.GatewayPassword), bcrypt.MinCost)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	srv, err := natsserver.Start(natsserver.Options{
		Name:   "kibubu",
		Listen: listen,
		Users: []*server.User{
			{Username: natsUser, Password: string(hash)}, // no Permissions: every one
			{Username: natsGatewayUser, Password: string(gatewayHash), Permissions: gatewayPermissions(prefix)},
		},
		StoreDir: filepath.Join(dataDir, "jetstream"),
		// A bulk payout file travels in one request: 2 MB of CSV is about
		// 2.7 MB as base64 in JSON, over NATS's 1 MB default. A NATS
		// cluster needs max_payload: 4MB for the same (the gateway otherwise
		// takes smaller files only).
		MaxPayload: natsMaxPayload,
		Log:        log.With("component", "nats"),
	})
	if err != nil {
		return nil, fmt.Errorf("embedded NATS (--nats-listen %s): %w", listen, err)
	}
	info.URL = srv.ClientURL()
	e := &embeddedNATS{srv: srv, info: info}
	if err := writeNATSInfo(infoPath, e.info); err != nil {
		e.shutdown()
		return nil, err
	}
	return e, nil
}

// connect opens an in-process connection as the operator user: no
// socket, but the same authentication as any client.
func (e *embeddedNATS) connect(name string, closed chan<- struct{}) (*nats.Conn, error) {
	return e.connectAs(e.info.User, e.info.Password, name, closed)
}

// connectGateway opens an in-process connection as the gateway user, with
// only the permissions gatewayPermissions lists.
func (e *embeddedNATS) connectGateway(name string, closed chan<- struct{}) (*nats.Conn, error) {
	return e.connectAs(e.info.GatewayUser, e.info.GatewayPassword, name, closed)
}

func (e *embeddedNATS) connectAs(user, password, name string, closed chan<- struct{}) (*nats.Conn, error) {
	nc, err := e.srv.Connect(nats.UserInfo(user, password), nats.Name(name), nats.DrainTimeout(natsDrainTimeout), closedHandler(closed))
	if err != nil {
		return nil, fmt.Errorf("embedded NATS as %s: %w", user, err)
	}
	return nc, nil
}

// gatewayPermissions are the gateway user's: natsroles.Gateway's, the
// same a NATS cluster's gateway user has (deploy/nats/users.conf), so the
// two cannot drift. prefix is --nats-prefix.
func gatewayPermissions(prefix string) *server.Permissions {
	return natsroles.Permissions(natsroles.Gateway, prefix)
}

func (e *embeddedNATS) shutdown() { e.srv.Close() }

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

// natsPasswords returns the info with the operator and gateway passwords
// of the existing info file, so long-lived clients keep working across
// restarts. It generates a password the file lacks (a file written before
// the gateway user), and both when there is no file or it was readable by
// others (the passwords may have leaked).
func natsPasswords(path string) natsInfo {
	var old natsInfo
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 == 0 {
		if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &old) != nil {
			old = natsInfo{}
		}
	}
	return natsInfo{Password: keepPassword(old.Password), GatewayPassword: keepPassword(old.GatewayPassword)}
}

// keepPassword returns p if it is a generated password, else a new one.
func keepPassword(p string) string {
	if len(p) == base64.RawURLEncoding.EncodedLen(natsPasswordBytes) {
		return p
	}
	b := make([]byte, natsPasswordBytes)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return base64.RawURLEncoding.EncodeToString(b)
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
