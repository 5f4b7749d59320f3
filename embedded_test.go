package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/deploy/natsserver"
	"github.com/kibubu/kibubu/gateway"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// refusedTimeout bounds a request the server drops for want of permission:
// no reply ever comes, so it ends with the client's timeout.
const refusedTimeout = time.Second

// violations collects a connection's asynchronous errors, where the server
// reports a permission violation.
type violations chan string

func (v violations) option() nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case v <- err.Error():
		default:
		}
	})
}

// await waits for the server to report a violation of op ("publish to" or
// "subscription to") on subject.
func (v violations) await(t *testing.T, op, subject string) {
	t.Helper()
	want := strings.ToLower(fmt.Sprintf("%s %q", op, subject))
	timeout := time.After(5 * time.Second)
	for {
		select {
		case e := <-v:
			if strings.Contains(strings.ToLower(e), want) {
				return
			}
		case <-timeout:
			t.Errorf("no permissions violation for %s: want the server to refuse it", want)
			return
		}
	}
}

// prefixed is subject under the deployment's prefix.
func prefixed(prefix, subject string) string {
	if prefix == "" {
		return subject
	}
	return prefix + "." + subject
}

// TestEmbeddedNATSUsers checks the embedded NATS's two users over real
// connections: the gateway user may call the wallet's non-operator subjects
// and keep sessions in its bucket, and nothing else (every operator subject
// refused, no float issued); the operator user still may do everything;
// and Main's own gateway connection is the gateway user.
func TestEmbeddedNATSUsers(t *testing.T) {
	embeddedOnly(t)
	for _, prefix := range []string{"", "staging"} {
		t.Run("prefix "+prefix, func(t *testing.T) {
			c := testConfig(t, "")
			c.NATSPrefix = prefix
			m := startMain(t, &Main{Config: c})
			ctx := context.Background()

			info, err := natsserver.ReadInfo(c.Data)
			if err != nil {
				t.Fatal(err)
			}
			if info.User != natsserver.OperatorUser || info.GatewayUser != natsserver.GatewayUser || !generated(info.GatewayPassword) || info.GatewayPassword == info.Password {
				t.Fatalf("nats.json users %q and %q, gateway password %d characters: want %s and %s with a password of their own",
					info.User, info.GatewayUser, len(info.GatewayPassword), natsserver.OperatorUser, natsserver.GatewayUser)
			}

			// Main's in-process connections: the wallet's as the operator,
			// the USSD gateway's as the gateway user.
			connz, err := m.nats.Connz(&server.ConnzOptions{Username: true})
			if err != nil {
				t.Fatal(err)
			}
			users := map[string]string{}
			for _, ci := range connz.Conns {
				users[ci.Name] = ci.AuthorizedUser
			}
			if got := users["kibubu serve"]; got != natsserver.OperatorUser {
				t.Errorf("connection kibubu serve is user %q, want %s (connections: %v)", got, natsserver.OperatorUser, users)
			}
			if got := users["kibubu serve gateway"]; got != natsserver.GatewayUser {
				t.Errorf("connection kibubu serve gateway is user %q, want %s (connections: %v)", got, natsserver.GatewayUser, users)
			}

			op, err := nats.Connect(m.NATSURL(), nats.UserInfo(info.User, info.Password))
			if err != nil {
				t.Fatalf("connect as %s: %v", info.User, err)
			}
			defer op.Close()
			opClient := natsapi.NewClient(op, 0, natsapi.WithPrefix(prefix), testOperator)
			agent, err := opClient.AddAgent(ctx, "0712000001", "Duka")
			if err != nil {
				t.Fatalf("operator agent add: %v", err)
			}

			refused := make(violations, 64)
			gw, err := nats.Connect(m.NATSURL(), nats.UserInfo(info.GatewayUser, info.GatewayPassword), refused.option())
			if err != nil {
				t.Fatalf("connect as %s: %v", info.GatewayUser, err)
			}
			defer gw.Close()
			gwClient := natsapi.NewClient(gw, 0, natsapi.WithPrefix(prefix))

			// What a USSD session needs from the wallet.
			if tr, err := gwClient.Tariff(ctx); err != nil || tr.Currency.Code != c.Currency {
				t.Errorf("gateway tariff = %v, %v; want the %s tariff", tr, err, c.Currency)
			}
			if p, err := gwClient.Lookup(ctx, agent.Number); err != nil || p.Name != "Duka" {
				t.Errorf("gateway lookup %s = %v, %v; want Duka", agent.Number, p, err)
			}
			if _, err := gwClient.Register(ctx, natsapi.RegisterRequest{Phone: "0712000002", Name: "Wanjiru"}); err != nil {
				t.Errorf("gateway customer register: %v", err)
			}

			testGatewayBucket(t, gw, prefix)

			// Every operator subject is refused; through the client, a
			// float issue fails and issues nothing.
			refusedClient := natsapi.NewClient(gw, refusedTimeout, natsapi.WithPrefix(prefix))
			if _, err := refusedClient.IssueFloat(ctx, agent.Number, 100_000, "GW-1"); wallet.ErrorCode(err) != wallet.CodeUnavailable {
				t.Errorf("gateway float issue: %v, want %s (no wallet ever sees it)", err, wallet.CodeUnavailable)
			}
			refused.await(t, "publish to", prefixed(prefix, natsapi.SubjectFloat))
			if _, err := refusedClient.Show(ctx, agent.Number); wallet.ErrorCode(err) != wallet.CodeUnavailable {
				t.Errorf("gateway account show: %v, want %s", err, wallet.CodeUnavailable)
			}
			refused.await(t, "publish to", prefixed(prefix, natsapi.SubjectShow))
			for _, s := range natsapi.OperatorSubjects {
				s = prefixed(prefix, s)
				if err := gw.Publish(s, []byte(`{}`)); err != nil {
					t.Fatal(err)
				}
				refused.await(t, "publish to", s)
			}
			// TestSecurityOperatorKeyScopes: creating an operator key over
			// NATS is an operator subject; through the operator REST API's
			// subject a gateway passes on, only an operator key holding
			// keys:operator:create may (the default operator key does not).
			if _, err := merchantapi.NewClient(refusedClient).CreateAPIKey(ctx, merchantapi.APIKeyRequest{Operator: true}); wallet.ErrorCode(err) != wallet.CodeUnavailable {
				t.Errorf("gateway operator key create: %v, want %s (no wallet ever sees it)", err, wallet.CodeUnavailable)
			}
			refused.await(t, "publish to", prefixed(prefix, merchantapi.SubjectAPIKeyCreate))
			opKey, err := merchantapi.NewClient(opClient).CreateAPIKey(ctx, merchantapi.APIKeyRequest{Operator: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, scopes := range [][]merchant.Scope{{merchant.ScopeKeysRead}, {merchant.ScopeKeysOperatorCreate}} {
				if _, err := merchantapi.NewClient(gwClient).OperatorCreateAPIKey(ctx, opKey.Secret, merchantapi.APIKeyRequest{Operator: true, Scopes: scopes}); wallet.ErrorCode(err) != wallet.CodeForbidden {
					t.Errorf("gateway operator key create %v with a default operator key: %v, want %s", scopes, err, wallet.CodeForbidden)
				}
			}
			// Nor may it publish wallet events, reach the event stream or
			// remove its own bucket.
			eventStream := natsapi.StreamName
			if prefix != "" {
				eventStream += "_" + prefix
			}
			for _, s := range []string{
				prefixed(prefix, wallet.EventSubjectPrefix+"X1"),
				"$JS.API.STREAM.INFO." + eventStream,
				"$JS.API.STREAM.NAMES",
				"$JS.API.STREAM.DELETE.KV_" + bucketName(prefix),
				"$JS.API.STREAM.PURGE.KV_" + bucketName(prefix),
				"$JS.API.STREAM.MSG.GET." + eventStream,
				"$JS.API.STREAM.MSG.DELETE.KV_" + bucketName(prefix),
				"$JS.API.CONSUMER.CREATE.KV_" + bucketName(prefix),
				"$JS.API.DIRECT.GET.KV_" + bucketName(prefix),
				"$JS.API.DIRECT.GET." + eventStream + ".x",
				"$JS.API.STREAM.CREATE.KV_OTHER",
				"$KV.OTHER.x",
				"_INBOX.someone",
				"$SRV.PING",
			} {
				if err := gw.Publish(s, nil); err != nil {
					t.Fatal(err)
				}
				refused.await(t, "publish to", s)
			}
			// Nor serve (and so read) a wallet request: a PIN verification
			// carries a PIN.
			for _, s := range []string{prefixed(prefix, natsapi.SubjectPINVerify), ">"} {
				if _, err := gw.SubscribeSync(s); err != nil {
					t.Fatal(err)
				}
				refused.await(t, "subscription to", s)
			}

			// The operator user still may do everything, and the refused
			// float issue never reached the wallet.
			if a, err := opClient.Show(ctx, agent.Number); err != nil || a.Balance != 0 {
				t.Errorf("operator account show after the refused float issue = %v, %v; want balance 0", a, err)
			}
			r, err := opClient.IssueFloat(ctx, agent.Number, 100_000, "GW-1")
			if err != nil || r.Replayed || r.Balance != 100_000 {
				t.Errorf("operator float issue with the refused ref = %+v, %v; want a first issue, balance 100000", r, err)
			}
			if rep, err := opClient.Check(ctx); err != nil {
				t.Errorf("operator ledger check: %v (%+v)", err, rep)
			}
			if _, err := op.SubscribeSync(prefixed(prefix, natsapi.SubjectPINVerify) + ".x"); err != nil {
				t.Errorf("operator subscribe: %v", err)
			}
			if err := op.Flush(); err != nil || op.LastError() != nil {
				t.Errorf("operator connection: %v, %v; want no error", err, op.LastError())
			}
		})
	}
}

// bucketName is the session bucket's name under prefix, as
// sessions.EnsureBucket names it.
func bucketName(prefix string) string {
	if prefix == "" {
		return sessions.BucketName
	}
	return sessions.BucketName + "_" + prefix
}

// testGatewayBucket uses the session bucket as the session engine does,
// over nc: bind to it (the wallet made it), create a key, read it, and
// update it under compare-and-set.
func testGatewayBucket(t *testing.T, nc *nats.Conn, prefix string) {
	t.Helper()
	ctx := context.Background()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := sessions.OpenBucket(ctx, js, prefix, time.Minute)
	if err != nil {
		t.Fatalf("gateway open bucket: %v", err)
	}
	if kv.Bucket() != bucketName(prefix) {
		t.Errorf("bucket %s, want %s", kv.Bucket(), bucketName(prefix))
	}
	rev, err := kv.Create(ctx, "africastalking.c2Vzc2lvbg", []byte(`{"path":["root"]}`))
	if err != nil {
		t.Fatalf("gateway kv create: %v", err)
	}
	if _, err := kv.Create(ctx, "africastalking.c2Vzc2lvbg", []byte(`{}`)); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Errorf("gateway kv create again: %v, want %v", err, jetstream.ErrKeyExists)
	}
	rev2, err := kv.Update(ctx, "africastalking.c2Vzc2lvbg", []byte(`{"path":["root","send"]}`), rev)
	if err != nil {
		t.Fatalf("gateway kv update: %v", err)
	}
	if _, err := kv.Update(ctx, "africastalking.c2Vzc2lvbg", []byte(`{}`), rev); err == nil {
		t.Errorf("gateway kv update of a stale revision succeeded")
	}
	e, err := kv.Get(ctx, "africastalking.c2Vzc2lvbg")
	if err != nil || e.Revision() != rev2 || string(e.Value()) != `{"path":["root","send"]}` {
		t.Errorf("gateway kv get = %v, %v; want revision %d", e, err, rev2)
	}
	if _, err := kv.Get(ctx, "africastalking.bm9uZQ"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("gateway kv get of a missing key: %v, want %v", err, jetstream.ErrKeyNotFound)
	}
}

// generated reports whether p looks like a generated NATS password.
func generated(p string) bool {
	b, err := base64.RawURLEncoding.DecodeString(p)
	return err == nil && len(b) == natsserver.PasswordBytes
}

// TestNATSInfoUpgrade starts on a data dir whose nats.json predates the
// gateway user: the operator password is kept, a gateway password is
// generated and written, and both survive the next restart. A nats.json
// others could read gets new passwords.
func TestNATSInfoUpgrade(t *testing.T) {
	embeddedOnly(t)
	for _, tc := range []struct {
		name string
		mode os.FileMode
		keep bool
	}{
		{"private", 0o600, true},
		{"readable by others", 0o644, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t, "")
			path := filepath.Join(c.Data, natsserver.InfoFile)
			const oldPassword = "b2xkLXBhc3N3b3JkLW9mLWEtZm9ybWVy" // 24 bytes, as generated
			if !generated(oldPassword) {
				t.Fatalf("the old password %q is not shaped as a generated one", oldPassword)
			}
			old := fmt.Sprintf(`{"url": "nats://127.0.0.1:1", "user": "kibubu", "password": %q}`, oldPassword)
			if err := os.WriteFile(path, []byte(old), tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil { // past the umask
				t.Fatal(err)
			}
			m := startMain(t, &Main{Config: c})
			info, err := natsserver.ReadInfo(c.Data)
			if err != nil {
				t.Fatal(err)
			}
			if kept := info.Password == oldPassword; kept != tc.keep {
				t.Errorf("operator password kept: %v, want %v", kept, tc.keep)
			}
			if info.GatewayUser != natsserver.GatewayUser || !generated(info.GatewayPassword) {
				t.Errorf("upgraded nats.json gateway user %q, password %q: want %s and a generated password", info.GatewayUser, info.GatewayPassword, natsserver.GatewayUser)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("upgraded nats.json: mode %v (%v), want 0600", fi.Mode().Perm(), err)
			}
			var raw map[string]any
			if b, err := os.ReadFile(path); err != nil || json.Unmarshal(b, &raw) != nil || raw["gateway_password"] != info.GatewayPassword {
				t.Errorf("nats.json on disk %v (%v): want gateway_password in it", raw, err)
			}
			for _, u := range [][2]string{{info.User, info.Password}, {info.GatewayUser, info.GatewayPassword}} {
				nc, err := nats.Connect(m.NATSURL(), nats.UserInfo(u[0], u[1]))
				if err != nil {
					t.Errorf("connect as %s with the upgraded nats.json: %v", u[0], err)
					continue
				}
				nc.Close()
			}
			if out, err := cli(t, "ledger", "check", "--data", c.Data); err != nil || !strings.Contains(out, "ledger ok") {
				t.Errorf("ledger check through the upgraded nats.json = %q, %v", out, err)
			}

			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			startMain(t, &Main{Config: c})
			again, err := natsserver.ReadInfo(c.Data)
			if err != nil {
				t.Fatal(err)
			}
			if again.Password != info.Password || again.GatewayPassword != info.GatewayPassword {
				t.Errorf("after a restart the passwords changed: want both kept")
			}
		})
	}
}

// TestGatewayOnExternalNATS serves on the NATS named by KIBUBU_TEST_NATS:
// there are no embedded users, and the gateway part shares the process's
// one connection (its credentials are the deployment's).
func TestGatewayOnExternalNATS(t *testing.T) {
	url := os.Getenv("KIBUBU_TEST_NATS")
	if url == "" {
		t.Skip("KIBUBU_TEST_NATS is not set")
	}
	c := testConfig(t, "")
	c.NATS = url
	c.NATSPrefix = fmt.Sprintf("t%d", time.Now().UnixNano()) // private subjects, stream and bucket on a shared server
	m := startMain(t, &Main{Config: c})
	ctx := context.Background()
	if m.nats != nil || m.gatewayNC != m.nc || m.gatewayNCDone != nil {
		t.Fatalf("on an external NATS: embedded %v, gateway connection shared %v; want no embedded NATS and one connection", m.nats != nil, m.gatewayNC == m.nc)
	}
	if _, err := natsapi.NewClient(m.gatewayNC, 0, natsapi.WithPrefix(c.NATSPrefix)).Tariff(ctx); err != nil {
		t.Errorf("tariff on the gateway connection: %v", err)
	}
	js, err := jetstream.New(m.nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.KeyValue(ctx, bucketName(c.NATSPrefix)); err != nil {
		t.Errorf("session bucket %s: %v", bucketName(c.NATSPrefix), err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// Leave the shared server as it was.
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	js.DeleteKeyValue(ctx, bucketName(c.NATSPrefix))
	js.DeleteKeyValue(ctx, gateway.IdempotencyBucket+"_"+c.NATSPrefix)
	js.DeleteStream(ctx, natsapi.StreamName+"_"+c.NATSPrefix)
	js.DeleteStream(ctx, notifyapi.StreamName(c.NATSPrefix))
}

// TestReadyzReportsGatewayNATSDown checks that /readyz fails, naming NATS,
// once the gateway's own connection is gone, though the wallet's serves.
func TestReadyzReportsGatewayNATSDown(t *testing.T) {
	m := startMain(t, &Main{Config: testConfig(t, "")})
	if m.gatewayNC == m.nc {
		t.Fatal("the embedded NATS gave the gateway no connection of its own")
	}
	m.gatewayNC.Close()
	code, body := get(t, "http://"+m.HTTPAddr()+"/readyz")
	if code != http.StatusServiceUnavailable || body != `{"status":"unavailable","failed":["nats"]}` {
		t.Errorf("GET /readyz with the gateway's NATS connection closed = %d %s, want 503 naming nats", code, body)
	}
}
