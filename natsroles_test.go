package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/kibubu/kibubu/deploy/natsroles"
	"github.com/kibubu/kibubu/deploy/natsserver"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsapi/natstest"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// TestFleetRolesOnTheirNATSUsers runs the fleet's shape in one process: a
// wallet, a gateway and a notifier, each connected to NATS as its own
// role's user with exactly natsroles' permissions (what deploy/nats/users.conf
// gives each on the cluster), and the operator commands' client as the
// operator user. The wallet creates every stream and bucket, an operator
// opens an agent and customers, a USSD send-money session runs through the
// gateway, and the notifier records both receipts: all of it without a
// single permission violation on the server. A role missing a subject it
// needs fails here, before a cluster deployment would.
//
// It runs on one server with one replica of everything, and on a 3-node
// cluster with three: there the buckets' reads go to their leaders
// (natsrpc.ReadFromLeader), which the gateway's user must be allowed.
func TestFleetRolesOnTheirNATSUsers(t *testing.T) {
	users := make([]*server.User, 0, len(natsroles.Roles))
	for _, r := range natsroles.Roles {
		users = append(users, &server.User{Username: string(r), Password: string(r) + "-password", Permissions: natsroles.Permissions(r, "")})
	}
	tests := []struct {
		name     string
		replicas int
		start    func(t *testing.T, logs *violationLog) (urls string)
	}{
		{"one server", 1, func(t *testing.T, logs *violationLog) string {
			srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
				StoreDir: t.TempDir(), MaxPayload: natsserver.EmbeddedMaxPayload, NoSigs: true, Users: users})
			if err != nil {
				t.Fatal(err)
			}
			srv.SetLoggerV2(logs, false, false, false)
			go srv.Start()
			if !srv.ReadyForConnections(10 * time.Second) {
				t.Fatal("nats server did not start")
			}
			t.Cleanup(srv.Shutdown)
			return srv.ClientURL()
		}},
		{"3-node cluster", fleetReplicas, func(t *testing.T, logs *violationLog) string {
			c := natstest.StartClusterWith(t, fleetReplicas, natstest.ClusterOptions{Users: users, MaxPayload: natsserver.EmbeddedMaxPayload, Logger: logs})
			return c.URLs()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs := &violationLog{}
			runRolesOnTheirUsers(t, logs, tc.start(t, logs), tc.replicas)
		})
	}
}

// runRolesOnTheirUsers is TestFleetRolesOnTheirNATSUsers on the servers at
// urls (a comma-separated list), whose users are natsroles' roles, with
// replicas copies of every stream and bucket.
func runRolesOnTheirUsers(t *testing.T, logs *violationLog, urls string, replicas int) {
	as := func(r natsroles.Role) string {
		list := strings.Split(urls, ",")
		for i, s := range list {
			u, _ := url.Parse(s)
			u.User = url.UserPassword(string(r), string(r)+"-password")
			list[i] = u.String()
		}
		return strings.Join(list, ",")
	}
	dsn := storetest.DSN(t)

	wc := testConfig(t, dsn)
	wc.NATS, wc.StreamReplicas = as(natsroles.Wallet), replicas
	startMain(t, &Main{Config: wc, Role: RoleWallet})
	gc := testConfig(t, "")
	gc.NATS = as(natsroles.Gateway)
	g := startMain(t, &Main{Config: gc, Role: RoleGateway})
	nc := testConfig(t, dsn)
	nc.NATS = as(natsroles.Notify)
	nc.WebhookAllowPrivate = true // the receiver below is on loopback
	startMain(t, &Main{Config: nc, Role: RoleNotify})

	op, err := nats.Connect(as(natsroles.Operator))
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	c := natsapi.NewClient(op, 0, testOperator)
	ctx := context.Background()
	agent, err := c.AddAgent(ctx, "0712000001", "Duka")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetPINWithStartKey(ctx, agent.Phone, agent.StartKey, "2468"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.IssueFloat(ctx, agent.Number, 500_000, "ROLES-1"); err != nil {
		t.Fatal(err)
	}
	alice, bob := "+254721008801", "+254731008801"
	registered(t, c, alice, 100_000)
	registered(t, c, bob, 0)
	a := newAggregator(t, "africastalking", "http://"+g.HTTPAddr(), alice)
	if s, end := a.say("", "1", "0"+bob[4:], "10", "1", "3907"); !end || !strings.Contains(s, "sent to Customer") {
		t.Fatalf("send through the gateway ended %q (end %v)", s, end)
	}
	if b, err := c.Show(ctx, bob); err != nil || b.Balance != 1_000 {
		t.Errorf("bob: %+v, %v; want 1000", b, err)
	}
	// The notifier consumed the wallet's events: both sides' receipts.
	for _, phone := range []string{alice, bob} {
		waitOutboxDB(t, dsn, phone, "10.00")
	}
	// The back-office (kibubu ops, the operator user) reads them from the
	// notifier's operator service.
	if p, err := notifyapi.NewOpsClient(op, 0, "").SMS(ctx, notifyapi.OpsSMSListRequest{Phone: bob}); err != nil || len(p.SMS) == 0 {
		t.Errorf("the notifier's operator service, as the operator user: %+v, %v", p, err)
	}

	// The merchant API: a webhook endpoint set through the gateway (the
	// notifier's service, which checks the key with the wallet), a payment
	// request under an Idempotency-Key (the gateway's bucket) and replayed,
	// and its event delivered by the notifier from the wallet's stream.
	op1 := func(args ...string) string {
		t.Helper()
		out, err := cli(t, append(args, "--nats", as(natsroles.Operator))...)
		if err != nil {
			t.Fatalf("kibubu %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	till := regexp.MustCompile(`^till (\d+) opened`).FindStringSubmatch(op1("merchant", "add", "--phone", "0700000019", "--name", "Roles Shop"))
	if till == nil {
		t.Fatal("merchant add printed no till number")
	}
	keyOut := strings.Split(op1("apikey", "create", "--merchant", till[1], "--scopes", "all"), "\n")
	if len(keyOut) < 2 || !strings.HasPrefix(keyOut[1], "kbk_") {
		t.Fatalf("apikey create printed %q", keyOut)
	}
	api := &merchantAPI{t: t, base: "http://" + g.HTTPAddr(), key: keyOut[1]}
	hooks := &hookReceiver{t: t, seen: map[string]bool{}}
	receiver := httptest.NewServer(hooks)
	defer receiver.Close()
	ep := api.must(http.StatusOK, http.MethodPut, "/v1/webhooks", `{"url":"`+receiver.URL+`/kibubu"}`, "")
	hooks.mu.Lock()
	hooks.secret = []byte(ep["secret"].(string))
	hooks.mu.Unlock()
	body := `{"phone":"` + alice + `","amount":"15.00","reference":"ROLES-1"}`
	first := api.must(http.StatusCreated, http.MethodPost, "/v1/payment-requests", body, "roles-1")
	if again := api.must(http.StatusCreated, http.MethodPost, "/v1/payment-requests", body, "roles-1"); again["id"] != first["id"] {
		t.Errorf("the replay under the same Idempotency-Key made another request: %v, first %v", again["id"], first["id"])
	}
	deadline := time.Now().Add(smsWait)
	for len(hooks.received()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no webhook delivered for the payment request")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v := logs.violations(); len(v) > 0 {
		t.Errorf("permission violations on the roles' users:\n%s", strings.Join(v, "\n"))
	}
}

// waitOutboxDB waits until phone's outbox in the database dsn holds an SMS
// containing text.
func waitOutboxDB(t *testing.T, dsn, phone, text string) {
	t.Helper()
	deadline := time.Now().Add(smsWait)
	for {
		out, err := cli(t, "sms", "outbox", "--db", dsn, "--phone", phone)
		if err == nil && strings.Contains(out, text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SMS %q for %s: %s %v", text, phone, out, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// violationLog keeps the server's permission violations.
type violationLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *violationLog) violations() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seen...)
}

func (l *violationLog) Errorf(format string, v ...any) {
	if msg := fmt.Sprintf(format, v...); strings.Contains(msg, "Violation") {
		l.mu.Lock()
		l.seen = append(l.seen, msg)
		l.mu.Unlock()
	}
}
func (l *violationLog) Noticef(string, ...any) {}
func (l *violationLog) Warnf(string, ...any)   {}
func (l *violationLog) Fatalf(string, ...any)  {}
func (l *violationLog) Debugf(string, ...any)  {}
func (l *violationLog) Tracef(string, ...any)  {}
