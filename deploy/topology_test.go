package deploy_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kibubu/kibubu/notify/twiliotest"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// fleet is the running topology: 3 NATS nodes, PostgreSQL, wallets,
// gateways and a notifier, a fake Twilio, and an operator's NATS client.
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
	// smsSecret is the Africa's Talking SMS webhook's secret, in hex.
	smsSecret string
	nc        *nats.Conn
	op        *natsapi.Client
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
	f.nats = startNATS(t, natsBin)
	var urls []string
	for _, n := range f.nats {
		urls = append(urls, n.url())
	}
	f.natsURLs = strings.Join(urls, ",")

	// The secrets every process of a role shares.
	secrets := t.TempDir()
	pepper, _ := writeSecret(t, secrets, "pepper", 32)
	sessionKey, _ := writeSecret(t, secrets, "session.key", 32)
	smsSecretFile, smsSecret := writeSecret(t, secrets, "sms.secret", 32)
	f.smsSecret = hex.EncodeToString(smsSecret)
	f.twilio = twiliotest.New(twiliotest.Config{})
	t.Cleanup(f.twilio.Close)

	kibubu := func(role string, i int, args ...string) *service {
		port := freePort(t)
		s := &service{base: fmt.Sprintf("http://127.0.0.1:%d", port)}
		s.proc = proc{name: fmt.Sprintf("%s-%d", role, i), bin: f.bin, args: append([]string{role,
			"--nats", f.natsURLs, "--http", "127.0.0.1:" + strconv.Itoa(port), "--data", t.TempDir(), "--log-level", "warn"}, args...)}
		t.Cleanup(s.kill)
		return s
	}
	// Every migration once, under its lock, before any wallet or
	// notifier starts; they are told not to migrate (FLEET-CONTRACT.md).
	if out, err := execCommand(context.Background(), f.bin, "migrate", "--db", f.dsn).CombinedOutput(); err != nil {
		t.Fatalf("kibubu migrate: %v\n%s", err, out)
	}
	for i := range wallets {
		w := kibubu("wallet", i+1, "--migrate=false", "--db", f.dsn, "--stream-replicas", strconv.Itoa(streamCopies), "--pepper-file", pepper,
			// The load prompts a few customers as fast as it can: the
			// limits that protect customers from prompt-bombing would
			// only measure themselves (as in kibubu bench merchant).
			"--prompts-per-phone", "-1", "--prompts-per-pair", "-1", "--prompts-per-merchant", "-1")
		f.wallets = append(f.wallets, w)
		// One at a time: two wallets creating the streams at once on a
		// fresh cluster time out (see the fleet-fault note).
		w.restart(t)
	}
	for i := range gateways {
		g := kibubu("gateway", i+1, "--session-key-file", sessionKey, "--sms-secret-file", smsSecretFile)
		f.gateways = append(f.gateways, g)
		g.start(t)
	}
	f.notifier = kibubu("notify", 1, "--migrate=false", "--db", f.dsn, "--stream-replicas", strconv.Itoa(streamCopies), "--webhook-allow-private",
		"--sms-rate", "1000", "--sms-rate-per-phone", "600", "--sms-timeout", "2s")
	f.notifier.env = []string{"TWILIO_ACCOUNT_SID=" + f.twilio.AccountSID, "TWILIO_AUTH_TOKEN=" + f.twilio.AuthToken,
		"TWILIO_FROM=KIBUBU", "KIBUBU_TWILIO_API_URL=" + f.twilio.URL}
	f.notifier.start(t)
	for _, s := range append(append([]*service{}, f.wallets...), f.gateways...) {
		httpReady(t, s.name, s.base)
	}
	httpReady(t, f.notifier.name, f.notifier.base)

	nc, err := nats.Connect(f.natsURLs, nats.Name("fleet test operator"), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	f.nc = nc
	f.op = natsapi.NewClient(nc, 5*time.Second, natsapi.AsOperator(natsapi.Operator{Actor: "fleet-test"}))
	return f
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
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("kibubu ledger check: %v\n%s", err, out)
	}
	return nil
}
