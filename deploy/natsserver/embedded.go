package natsserver

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"
)

// kibubu serve's embedded NATS: a Server with two generated users, whose
// URL and credentials it writes to InfoFile in the data dir so that
// operator commands find it.
const (
	// InfoFile, in the data dir, holds the embedded NATS's client URL
	// and credentials, so operator commands find the running server.
	InfoFile = "nats.json"
	// OperatorUser is the embedded NATS's operator user, with every
	// permission: the wallet service, its event relay and the operator
	// commands use it.
	OperatorUser = "kibubu"
	// GatewayUser is the embedded NATS's user for the USSD gateway (the
	// session engine's wallet client and its bucket), with only the
	// permissions StartEmbedded is given: a bug or a hole in the part
	// facing the aggregators cannot issue float or reset a PIN.
	GatewayUser = "gateway"
	// EmbeddedPayloadMax is the embedded NATS's largest message. A bulk
	// payout file travels in one request: 2 MB of CSV is about 2.7 MB as
	// base64 in JSON, over NATS's 1 MB default. A NATS cluster needs
	// max_payload: 4MB for the same (the gateway otherwise takes smaller
	// files only).
	EmbeddedPayloadMax = 4 << 20
	// PasswordBytes of randomness: 192 bits, beyond any online guessing.
	PasswordBytes = 24
)

// Info is the content of InfoFile. User and Password are the operator's
// (operator commands read them); the gateway's are kept so that its
// password, like the operator's, survives a restart.
type Info struct {
	URL             string `json:"url"`
	User            string `json:"user"`
	Password        string `json:"password"`
	GatewayUser     string `json:"gateway_user"`
	GatewayPassword string `json:"gateway_password"`
	Prefix          string `json:"prefix,omitempty"` // --nats-prefix
}

// Embedded is kibubu serve's NATS server: JetStream on, its store in the
// data dir, listening on loopback for operator commands, with the users
// OperatorUser and GatewayUser.
type Embedded struct {
	*Server
	Info Info
}

// StartEmbedded starts the server on listen (a loopback host:port; port 0
// picks a free one) with its store under dataDir, writes its URL and
// credentials to <dataDir>/nats.json (mode 0600), and returns once it
// accepts clients. prefix is --nats-prefix, recorded for operator
// commands; gateway is the gateway user's permissions (the caller's
// choice: deploy/natsroles' Gateway role under prefix).
func StartEmbedded(dataDir, listen, prefix string, gateway *server.Permissions, log *slog.Logger) (*Embedded, error) {
	infoPath := filepath.Join(dataDir, InfoFile)
	info := keptPasswords(infoPath)
	info.User, info.GatewayUser, info.Prefix = OperatorUser, GatewayUser, prefix
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
	srv, err := Start(Options{
		Name:   "kibubu",
		Listen: listen,
		Users: []*server.User{
			{Username: OperatorUser, Password: string(hash)}, // no Permissions: every one
			{Username: GatewayUser, Password: string(gatewayHash), Permissions: gateway},
		},
		StoreDir:   filepath.Join(dataDir, "jetstream"),
		PayloadMax: EmbeddedPayloadMax,
		Log:        log.With("component", "nats"),
	})
	if err != nil {
		return nil, fmt.Errorf("embedded NATS (--nats-listen %s): %w", listen, err)
	}
	info.URL = srv.ClientURL()
	e := &Embedded{Server: srv, Info: info}
	if err := writeInfo(infoPath, e.Info); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// ConnectOperator opens an in-process connection as the operator user.
func (e *Embedded) ConnectOperator(opts ...nats.Option) (*nats.Conn, error) {
	return e.connectAs(e.Info.User, e.Info.Password, opts)
}

// ConnectGateway opens an in-process connection as the gateway user, with
// only its permissions.
func (e *Embedded) ConnectGateway(opts ...nats.Option) (*nats.Conn, error) {
	return e.connectAs(e.Info.GatewayUser, e.Info.GatewayPassword, opts)
}

func (e *Embedded) connectAs(user, password string, opts []nats.Option) (*nats.Conn, error) {
	nc, err := e.Connect(append([]nats.Option{nats.UserInfo(user, password)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS as %s: %w", user, err)
	}
	return nc, nil
}

// keptPasswords returns the info with the operator and gateway passwords
// of the existing info file, so long-lived clients keep working across
// restarts. It generates a password the file lacks (a file written before
// the gateway user), and both when there is no file or it was readable by
// others (the passwords may have leaked).
func keptPasswords(path string) Info {
	var old Info
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 == 0 {
		if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &old) != nil {
			old = Info{}
		}
	}
	return Info{Password: keepPassword(old.Password), GatewayPassword: keepPassword(old.GatewayPassword)}
}

// keepPassword returns p if it is a generated password, else a new one.
func keepPassword(p string) string {
	if len(p) == base64.RawURLEncoding.EncodedLen(PasswordBytes) {
		return p
	}
	b := make([]byte, PasswordBytes)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return base64.RawURLEncoding.EncodeToString(b)
}

// writeInfo writes info to path, mode 0600, atomically: an operator
// command reading it never sees half a file.
func writeInfo(path string, info Info) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), InfoFile+".*") // created 0600
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

// ReadInfo reads the info file a running kibubu serve wrote in dataDir.
func ReadInfo(dataDir string) (Info, error) {
	path := filepath.Join(dataDir, InfoFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Info{}, fmt.Errorf("no server found: %s does not exist (start one with `kibubu serve --data %s`, or pass --nats)", path, dataDir)
	}
	if err != nil {
		return Info{}, fmt.Errorf("no server found: %w", err)
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil || info.URL == "" {
		return Info{}, fmt.Errorf("no server found: %s is not what `kibubu serve` writes", path)
	}
	return info, nil
}
