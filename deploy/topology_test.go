package deploy_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/kibubu/kibubu/deploy"
	"github.com/kibubu/kibubu/deploy/natsroles"
	"github.com/kibubu/kibubu/notify/twiliotest"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// fleet is the running topology: 3 NATS nodes, PostgreSQL, and compose.yaml's
// Kibubu services (wallets, gateways, a notifier) as local processes, a fake
// Twilio, and an operator's NATS client.
type fleet struct {
	t        *testing.T
	bin      string
	nats     []*natsNode
	natsURLs string
	pg       *postgres
	dsn      string
	wallets  []*service
	gateways []*service
	notifier *service
	twilio   *twiliotest.Server
	// secrets maps each of compose.yaml's secrets (its name under
	// `secrets:`) to the file the test wrote for it.
	secrets    map[string]string
	secretsDir string
	// smsSecret is the Africa's Talking SMS webhook's secret, in hex.
	smsSecret string
	// ussdSecret is Africa's Talking's USSD secret (the ussd-auth secret).
	ussdSecret string
	// nc is the operator's connection (the operator role's user), and op
	// its wallet client.
	nc *nats.Conn
	op *natsapi.Client
	// gatewayNC is a connection as the gateway role, and streamsNC as the
	// test's own user (testUser).
	gatewayNC, streamsNC *nats.Conn
}

// service is a kibubu process with its HTTP base URL.
type service struct {
	proc
	base string
}

func (s *service) restart(t *testing.T) {
	s.start(t)
	httpReady(t, s.name, s.base)
}

// composeFiles are the compose files the fleet runs, as an operator would
// run them: the test checks every receipt reached (a fake) Twilio, so with
// Twilio's override.
var composeFiles = []string{"compose.yaml", "compose.twilio.yaml"}

// secretsMount is where compose mounts a service's secrets.
const secretsMount = "/run/secrets/"

// testOverrides are the flags the test adds to a role's command from
// compose.yaml, for what the load needs and a deployment must not have.
// Flags on the command line win over compose's KIBUBU_* variables.
var testOverrides = map[string][]string{
	// The load prompts a few customers as fast as it can: the limits that
	// protect customers from prompt-bombing would only measure themselves
	// (as in kibubu bench merchant).
	"wallet": {"--prompts-per-phone", "-1", "--prompts-per-pair", "-1", "--prompts-per-merchant", "-1"},
	// The merchant's webhook receiver is on loopback, which a deployment
	// refuses; the load sends more SMS receipts to fewer phones than the
	// deployment's rates allow, and the fake Twilio answers at once.
	"notify": {"--webhook-allow-private", "--sms-rate", "1000", "--sms-rate-per-phone", "600", "--sms-timeout", "2s"},
}

// testUser is the fleet test's own NATS user, not a deployment's: it reads
// the streams' leaders and moves the session bucket's leader to the event
// stream's (the "stream leader" fault), which no role may.
const testUser = `    # the fleet test only: read the streams' leaders, move one (its stream leader fault)
    {
      nkey: %s
      permissions: {
        publish: { allow: ["$JS.API.STREAM.INFO.>", "$JS.API.STREAM.LEADER.STEPDOWN.>"] }
        subscribe: { allow: ["_INBOX.>"] }
      }
    }
`

// startFleet builds the binaries and starts every part, each ready.
func startFleet(t *testing.T) *fleet {
	t.Helper()
	binDir := t.TempDir()
	f := &fleet{t: t}
	// Registered first, so it runs last, after the test's checks: on a
	// failure, each part's recent output.
	t.Cleanup(func() {
		if t.Failed() {
			f.logs()
		}
	})
	// The NATS server of the module version the binary embeds, not the
	// machine's package: go.mod's requirement decides which.
	natsBin := build(t, binDir, "nats-server", "github.com/nats-io/nats-server/v2")
	f.bin = build(t, binDir, "kibubu", "github.com/kibubu/kibubu")

	f.pg = startPostgres(t)
	f.dsn = f.pg.url(pgDatabase)
	f.twilio = twiliotest.New(twiliotest.Config{})
	t.Cleanup(f.twilio.Close)
	f.writeSecrets(t)

	// The cluster with the deployment's security: TLS on client and route
	// connections, one nkey user per role with natsroles' permissions.
	tlsDir := t.TempDir()
	writeTLS(t, tlsDir)
	f.secrets["nats-ca"] = writeFile(t, f.secretsDir, "nats-ca", readFile(t, filepath.Join(tlsDir, "ca.crt")))
	var users []string
	for _, r := range natsroles.Roles {
		users = append(users, natsroles.NKeyVar(r)+"="+f.writeNKey(t, "nats-"+string(r)+".nk"))
	}
	f.nats = startNATS(t, natsBin, tlsDir, users, fmt.Sprintf(testUser, f.writeNKey(t, "fleet-test.nk")))
	var urls []string
	for _, n := range f.nats {
		urls = append(urls, n.url())
	}
	f.natsURLs = strings.Join(urls, ",")

	// compose.yaml's Kibubu services, with the variables compose.twilio.yaml
	// asks of the operator. The public URL (the proxy's, which the test
	// does not run) is on loopback, as for a local run: no status callback
	// is sent in the test, and the notifier accepts the merchant receiver's
	// http URL, where a deployment's public URL makes it require https.
	p := deploy.LoadCompose(t, []string{"TWILIO_ACCOUNT_SID=" + f.twilio.AccountSID, "TWILIO_FROM=KIBUBU",
		"KIBUBU_PUBLIC_URL=http://127.0.0.1"}, composeFiles...)
	roles := map[string][]*service{}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		if s.Build == nil {
			continue // NATS, PostgreSQL, the proxy: the test runs its own
		}
		svc := f.service(t, s)
		roles[svc.args[0]] = append(roles[svc.args[0]], svc)
	}
	if got := slices.Sorted(maps.Keys(roles)); !slices.Equal(got, []string{"gateway", "migrate", "notify", "ops", "wallet"}) {
		t.Fatalf("compose.yaml's Kibubu services run %v, want migrate, wallet, gateway, notify and ops: the fleet test maps only these", got)
	}
	// The back-office (ops) is not started: the faults are injected under
	// the customers' load, which it takes no part in.
	if len(roles["migrate"]) != 1 || len(roles["notify"]) != 1 || len(roles["wallet"]) < 2 || len(roles["gateway"]) < 2 {
		t.Fatalf("compose.yaml has %d migrate, %d wallet, %d gateway and %d notify services; the fault test needs one migration, one notifier and at least two of each of the others",
			len(roles["migrate"]), len(roles["wallet"]), len(roles["gateway"]), len(roles["notify"]))
	}

	// Every migration once, under its lock, before any wallet or
	// notifier starts; they are told not to migrate (FLEET-CONTRACT.md).
	m := roles["migrate"][0]
	cmd := execCommand(context.Background(), m.bin, m.args...)
	cmd.Env = append(cmd.Environ(), m.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kibubu %s (%s): %v\n%s", strings.Join(m.args, " "), m.name, err, out)
	}
	f.wallets, f.gateways, f.notifier = roles["wallet"], roles["gateway"], roles["notify"][0]
	for _, w := range f.wallets {
		// One at a time: two wallets creating the streams at once on a
		// fresh cluster time out (see the fleet-fault note).
		w.restart(t)
	}
	for _, g := range f.gateways {
		g.start(t)
	}
	f.notifier.start(t)
	for _, s := range append(append([]*service{}, f.wallets...), f.gateways...) {
		httpReady(t, s.name, s.base)
	}
	httpReady(t, f.notifier.name, f.notifier.base)

	f.nc = f.connect(t, "fleet test operator", "nats-operator.nk")
	f.op = natsapi.NewClient(f.nc, 5*time.Second, natsapi.AsOperator(natsapi.Operator{Actor: "fleet-test"}))
	// The merchant webhook requests, which a deployment's gateways send.
	f.gatewayNC = f.connect(t, "fleet test merchant webhooks", "nats-gateway.nk")
	f.streamsNC = f.connect(t, "fleet test stream leaders", "fleet-test.nk")
	return f
}

// connect connects to the cluster as the user of the nkey seed in the
// secret file name, trusting the test's CA, as the processes do.
func (f *fleet) connect(t *testing.T, name, seed string) *nats.Conn {
	t.Helper()
	nkey, err := nats.NkeyOptionFromSeed(f.secrets[seed])
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(f.natsURLs, nats.Name(name), nkey, nats.RootCAs(f.secrets["nats-ca"]), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// writeNKey writes a new user nkey's seed to the secret file name and
// returns its public key.
func (f *fleet) writeNKey(t *testing.T, name string) string {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	f.secrets[name] = writeFile(t, f.secretsDir, name, seed)
	return pub
}

// writeSecrets writes a file for each secret of compose.yaml the Kibubu
// services mount, named as compose.yaml names it, into a new directory.
func (f *fleet) writeSecrets(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	f.secretsDir, f.secrets = dir, map[string]string{}
	random := func(name string, size int) []byte {
		path, b := writeSecret(t, dir, name, size)
		f.secrets[name] = path
		return b
	}
	text := func(name, content string) {
		f.secrets[name] = writeFile(t, dir, name, []byte(content))
	}
	random("pepper", 32)
	random("session.key", 32)
	f.smsSecret = hex.EncodeToString(random("sms.secret", 32))
	f.ussdSecret = hex.EncodeToString(random("ussd-secret", 16))
	text("ussd-auth", "africastalking:secret="+f.ussdSecret)
	text("db-url", f.dsn)
	text("twilio-auth-token", f.twilio.AuthToken)
}

// service maps one of compose.yaml's Kibubu services to a local process of
// the built binary: its command and environment, with only what must
// differ on loopback rewritten (addresses, the secrets' paths, the data
// dir) and the role's testOverrides added. A service the test cannot map
// (a secret it does not write, a variable naming a file it does not know)
// fails the test: compose.yaml changed shape, and the test must follow.
func (f *fleet) service(t *testing.T, s types.ServiceConfig) *service {
	t.Helper()
	if len(s.Command) == 0 {
		t.Fatalf("compose.yaml: %s has no command: the fleet test runs `kibubu <command>`", s.Name)
	}
	mounts := map[string]string{} // a secret's path in the container → the test's file
	for _, sec := range s.Secrets {
		file, ok := f.secrets[sec.Source]
		if !ok {
			t.Fatalf("compose.yaml: %s mounts the secret %q, which the fleet test does not write (add it to writeSecrets)", s.Name, sec.Source)
		}
		mounts[deploy.SecretPath(sec)] = file
	}
	local := func(what, v string) string {
		if file, ok := mounts[v]; ok {
			return file
		}
		if strings.HasPrefix(v, secretsMount) {
			t.Fatalf("compose.yaml: %s: %s is %s, not one of the service's secrets", s.Name, what, v)
		}
		if strings.HasPrefix(v, "/") {
			t.Fatalf("compose.yaml: %s: %s names the file %s, which the fleet test cannot map to a local one", s.Name, what, v)
		}
		return v
	}
	port := freePort(t)
	svc := &service{base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	svc.name, svc.bin = s.Name, f.bin
	for _, a := range s.Command {
		svc.args = append(svc.args, local("its command", a))
	}
	svc.args = append(svc.args, testOverrides[s.Command[0]]...)
	for _, k := range slices.Sorted(maps.Keys(s.Environment)) {
		v := s.Environment[k]
		if v == nil {
			continue
		}
		switch k {
		case "KIBUBU_DATA":
			svc.env = append(svc.env, k+"="+t.TempDir())
		case "KIBUBU_HTTP": // an ephemeral loopback port
			svc.env = append(svc.env, k+"=127.0.0.1:"+strconv.Itoa(port))
		case "KIBUBU_NATS": // the test's cluster
			svc.env = append(svc.env, k+"="+f.natsURLs)
		default:
			svc.env = append(svc.env, k+"="+local(k, *v))
		}
	}
	if s.Command[0] == "notify" {
		// The fake Twilio: a deployment talks to Twilio's API.
		svc.env = append(svc.env, "KIBUBU_TWILIO_API_URL="+f.twilio.URL)
	}
	t.Cleanup(svc.kill)
	return svc
}

// logs writes every part's recent output to the test log.
func (f *fleet) logs() {
	var parts []*proc
	if f.pg != nil {
		parts = append(parts, &f.pg.proc)
	}
	for _, n := range f.nats {
		parts = append(parts, &n.proc)
	}
	for _, s := range append(append([]*service{}, f.wallets...), f.gateways...) {
		parts = append(parts, &s.proc)
	}
	if f.notifier != nil {
		parts = append(parts, &f.notifier.proc)
	}
	for _, p := range parts {
		f.t.Logf("=== %s\n%s", p.name, p.out.String())
	}
}

// ledgerCheck runs `kibubu ledger check` against the fleet.
func (f *fleet) ledgerCheck(ctx context.Context) error {
	cmd := execCommand(ctx, f.bin, "ledger", "check", "--nats", f.natsURLs)
	// As the operator, as a person would run it.
	cmd.Env = append(cmd.Environ(), "KIBUBU_NATS_NKEY="+f.secrets["nats-operator.nk"], "KIBUBU_NATS_TLS_CA="+f.secrets["nats-ca"])
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("kibubu ledger check: %v\n%s", err, out)
	}
	return nil
}
