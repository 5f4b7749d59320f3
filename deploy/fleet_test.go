package deploy_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kibubu/kibubu/deploy/natsroles"
)

// The fleet the fault test runs: what deploy/ describes, on loopback with
// ephemeral ports, every part a child process the test may kill.
const (
	natsNodes    = 3
	streamCopies = 3
	// startWait bounds a part's start: a wallet that waits for a NATS
	// leader election, a gateway that waits for a wallet.
	startWait = 60 * time.Second
	// logTailBytes is how much of a part's output is kept for a failure's log.
	logTailBytes = 16 << 10
	// pgDatabase is the fleet's database in the test's own PostgreSQL.
	pgDatabase = "kibubu"
)

// proc is one part of the fleet run as a child process; start and kill
// may be called again and again, on the same ports.
type proc struct {
	name string
	bin  string
	args []string
	env  []string
	cred *syscall.Credential // run as this user (PostgreSQL refuses root)
	out  tailBuffer
	// watch, when set, also gets every byte of the output.
	watch io.Writer

	mu  sync.Mutex
	cmd *exec.Cmd
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	var out io.Writer = &p.out
	if p.watch != nil {
		out = io.MultiWriter(out, p.watch)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if dir := os.Getenv("KIBUBU_TEST_FLEET_LOGS"); dir != "" {
		// Every line of every part, for a failure the tail does not
		// explain (a goroutine dump, say).
		f, err := os.OpenFile(filepath.Join(dir, p.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		w := io.MultiWriter(out, f)
		cmd.Stdout, cmd.Stderr = w, w
	}
	// Its own process group: a Ctrl-C at the terminal reaches the test,
	// which stops the fleet, not each part at random. Pdeathsig: a test
	// killed outright (go test's -timeout) leaves no part running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: p.cred, Pdeathsig: syscall.SIGKILL}
	fmt.Fprintf(&p.out, "--- %s start %s\n", time.Now().Format(time.TimeOnly), p.name)
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	p.cmd = cmd
}

// signal sends sig and waits for the process to exit.
func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	fmt.Fprintf(&p.out, "--- %s %s %s\n", time.Now().Format(time.TimeOnly), sig, p.name)
	p.cmd.Process.Signal(sig)
	p.cmd.Wait()
	p.cmd = nil
}

func (p *proc) kill() { p.signal(syscall.SIGKILL) }

// tailBuffer keeps the last logTailBytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > logTailBytes {
		b.buf = append([]byte(nil), b.buf[len(b.buf)-logTailBytes:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// freePort returns a loopback port free at the time of asking.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// build builds a command into dir: pkg is a package path or directory.
func build(t *testing.T, dir, name, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	// Without -race: the children are the system under test, the race
	// detector would only make them slow; the test process has it.
	cmd := exec.Command("go", "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// waitFor polls ok until it is true or startWait has passed.
func waitFor(t *testing.T, what string, ok func() error) {
	t.Helper()
	deadline := time.Now().Add(startWait)
	for {
		err := ok()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// postgres is a PostgreSQL server of the test's own, in a temporary
// directory, run as the postgres user (initdb and postgres refuse root).
type postgres struct {
	proc
	port int
}

// pgBinDir finds the machine's PostgreSQL binaries.
func pgBinDir(t *testing.T) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- { // the newest version
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	t.Fatal("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
	return ""
}

// startPostgres creates a cluster in a new temporary directory and starts it.
func startPostgres(t *testing.T) *postgres {
	t.Helper()
	bin := pgBinDir(t)
	dir, err := os.MkdirTemp("", "kibubu-fleet-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, and PostgreSQL refuses root: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	pg := &postgres{port: freePort(t)}
	pg.proc = proc{name: "postgres", bin: filepath.Join(bin, "postgres"), cred: cred,
		args: []string{"-D", data, "-p", strconv.Itoa(pg.port), "-h", "127.0.0.1", "-k", dir,
			"-c", "max_connections=200", "-c", "fsync=off"}}
	pg.start(t)
	t.Cleanup(func() { pg.signal(syscall.SIGINT) })
	pg.waitReady(t)
	conn, err := pgx.Connect(context.Background(), pg.url("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE DATABASE "+pgDatabase); err != nil {
		t.Fatal(err)
	}
	return pg
}

func (pg *postgres) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.port, db)
}

func (pg *postgres) waitReady(t *testing.T) {
	t.Helper()
	waitFor(t, "postgres ready", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, pg.url("postgres"))
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
}

// natsNode is one nats-server of the cluster.
type natsNode struct {
	proc
	name            string
	port, routePort int
	monitorPort     int
	// violations are the permission violations the node logged: the
	// roles' permissions must be enough for everything the fleet does.
	violations *violationLog
}

func (n *natsNode) url() string { return fmt.Sprintf("tls://127.0.0.1:%d", n.port) }

// startNATS starts a JetStream cluster of natsNodes nodes from bin, each
// with deploy/nats/nats.conf (TLS on client and route connections, the
// roles' users), its TLS files in tlsDir, and users.conf rendered by
// natsroles as deploy/nats/users.conf is, plus extraUser. users are the
// roles' public nkeys as users.conf reads them from the environment
// (KIBUBU_NATS_<ROLE>_NKEY=…, compose's env_file secrets/nats-users.env).
func startNATS(t *testing.T, bin, tlsDir string, users []string, extraUser string) []*natsNode {
	t.Helper()
	nodes := make([]*natsNode, natsNodes)
	for i := range nodes {
		nodes[i] = &natsNode{name: fmt.Sprintf("n%d", i+1), port: freePort(t), routePort: freePort(t), monitorPort: freePort(t),
			violations: &violationLog{}}
	}
	for i, n := range nodes {
		var routes []string
		for j, o := range nodes {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", o.routePort))
			}
		}
		// The flags override nats.conf's ports and routes, as its header
		// says, for loopback; the rest is the deployment's.
		conf := writeNATSConf(t, tlsDir, t.TempDir(), extraUser)
		n.proc = proc{name: "nats " + n.name, bin: bin, watch: n.violations, env: append([]string{"NATS_SERVER_NAME=" + n.name}, users...),
			args: []string{"-c", conf, "-a", "127.0.0.1", "-p", strconv.Itoa(n.port), "-m", strconv.Itoa(n.monitorPort),
				"--cluster", fmt.Sprintf("nats://127.0.0.1:%d", n.routePort), "--routes", strings.Join(routes, ",")}}
		n.start(t)
		t.Cleanup(n.kill)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			if v := n.violations.String(); v != "" {
				t.Errorf("nats %s logged permission violations: a role's permissions (natsroles) miss what the fleet does, or a part does what its role must not:\n%s", n.name, v)
			}
		}
	})
	for _, n := range nodes {
		n.waitReady(t)
	}
	return nodes
}

// writeNATSConf writes deploy/nats/nats.conf with the paths compose
// mounts moved to local ones (the TLS files to tlsDir, the node's volume
// to dataDir), and the users.conf it includes, into a new directory, and
// returns the config's path. (nats-server refuses a store dir given both
// by flag and in the file.)
func writeNATSConf(t *testing.T, tlsDir, dataDir, extraUser string) string {
	t.Helper()
	b, err := os.ReadFile("nats/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	// Where compose mounts the TLS files and the node's volume.
	const tlsMount, dataMount = "/etc/nats/tls/", `"/data/`
	conf := strings.ReplaceAll(string(b), tlsMount, tlsDir+"/")
	conf = strings.ReplaceAll(conf, dataMount, `"`+dataDir+"/")
	if strings.Contains(conf, "/etc/nats") || strings.Contains(conf, dataMount) ||
		!strings.Contains(string(b), tlsMount) || !strings.Contains(string(b), dataMount) {
		t.Fatalf("deploy/nats/nats.conf: the fleet test maps only the TLS files under %s and the store under /data/ to local files", tlsMount)
	}
	users := string(natsroles.UsersConf(""))
	const usersEnd = "  ]\n}\n" // the end of the users list
	if !strings.HasSuffix(users, usersEnd) {
		t.Fatalf("natsroles.UsersConf does not end its users list with %q: the fleet test cannot add its user", usersEnd)
	}
	users = strings.TrimSuffix(users, usersEnd) + extraUser + usersEnd
	dir := t.TempDir()
	writeFile(t, dir, "users.conf", []byte(users))
	return writeFile(t, dir, "nats.conf", []byte(conf))
}

// violationLog keeps the lines of a nats-server's output that report a
// permission violation, however the output is cut into writes.
type violationLog struct {
	mu    sync.Mutex
	line  []byte // the line being written
	lines []string
	at    []time.Time // when each of lines was written
}

// excuse drops the violations for which ok says yes, given when each was
// logged and its line.
func (v *violationLog) excuse(ok func(at time.Time, line string) bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	var lines []string
	var at []time.Time
	for i, l := range v.lines {
		if !ok(v.at[i], l) {
			lines, at = append(lines, l), append(at, v.at[i])
		}
	}
	v.lines, v.at = lines, at
}

// permissionViolations are what nats-server logs when a client publishes
// or subscribes beyond its user's permissions (2.15 logs "Publish
// Violation - Subject …" and "Subscription Violation - …"; it tells the
// client "Permissions Violation for …").
var permissionViolations = [][]byte{[]byte("Publish Violation"), []byte("Subscription Violation"), []byte("Permissions Violation")}

// violationsKept bounds the lines kept: the first few tell the story.
const violationsKept = 20

func (v *violationLog) Write(p []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, c := range p {
		if c != '\n' {
			if len(v.line) < logTailBytes {
				v.line = append(v.line, c)
			}
			continue
		}
		for _, pv := range permissionViolations {
			if bytes.Contains(v.line, pv) && len(v.lines) < violationsKept {
				v.lines, v.at = append(v.lines, string(v.line)), append(v.at, time.Now())
				break
			}
		}
		v.line = v.line[:0]
	}
	return len(p), nil
}

func (v *violationLog) String() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return strings.Join(v.lines, "\n")
}

// writeTLS writes a CA and a server certificate it signs for 127.0.0.1,
// for client and route connections, into dir as deploy/nats/nats.conf
// names them (as deploy/new-secrets.sh makes them for compose): ca.crt,
// server.crt, server.key.
func writeTLS(t *testing.T, dir string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, serverKey := newKey(), newKey()
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kibubu fleet test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	// Client auth too: a node presents it on the routes it dials, and the
	// cluster verifies route certificates (verify: true).
	server := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nats"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	serverDER, err := x509.CreateCertificate(rand.Reader, server, ca, serverKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(serverKey)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "ca.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	writeFile(t, dir, "server.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: serverDER}))
	writeFile(t, dir, "server.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

// waitReady waits until the node is healthy: JetStream has a meta leader,
// and every stream and consumer it holds has caught up.
func (n *natsNode) waitReady(t *testing.T) {
	t.Helper()
	waitFor(t, n.name+" healthy", func() error {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", n.monitorPort))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthz %s", resp.Status)
		}
		return nil
	})
}

// writeSecret writes size random bytes to dir/name, mode 0600.
func writeSecret(t *testing.T, dir, name string, size int) (string, []byte) {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	return writeFile(t, dir, name, b), b
}

// writeFile writes b to dir/name, mode 0600 (Kibubu refuses a secret file
// group or others may read), and returns its path.
func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// httpReady waits until GET base/readyz answers 200.
func httpReady(t *testing.T, what, base string) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	waitFor(t, what+" ready", func() error {
		resp, err := c.Get(base + "/readyz")
		if err != nil {
			return err
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %s: %s", resp.Status, b.String())
		}
		return nil
	})
}

// readFile returns the content of path.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
