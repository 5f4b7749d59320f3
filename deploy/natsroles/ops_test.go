package natsroles

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/kibubu/kibubu/deploy/natsserver"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// TestGatewayCannotReachTheBackOffice connects to a real NATS server as
// each role and publishes to every back-office subject (wallet.v1.ops.*,
// and the notifier's notify.ops.v1.*): the gateway is refused each one; the
// operator, whose credentials `kibubu ops` runs with, is allowed.
func TestGatewayCannotReachTheBackOffice(t *testing.T) {
	var opsSubjects []string
	for _, s := range natsapi.OperatorSubjects {
		if strings.HasPrefix(s, natsapi.SubjectPrefix+".ops.") {
			opsSubjects = append(opsSubjects, s)
		}
	}
	opsSubjects = append(opsSubjects, notifyapi.OpsOperatorSubjects...)
	if len(opsSubjects) < 15 {
		t.Fatalf("only %d back-office subjects among the operator subjects: %v", len(opsSubjects), opsSubjects)
	}
	users := []*server.User{
		{Username: "gateway", Password: "gateway-secret", Permissions: Permissions(Gateway, "")},
		{Username: "operator", Password: "operator-secret", Permissions: Permissions(Operator, "")},
	}
	ns, err := natsserver.Start(natsserver.Options{Listen: "127.0.0.1:0", StoreDir: t.TempDir(), Users: users})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	for _, tc := range []struct {
		user    string
		refused bool
	}{{"gateway", true}, {"operator", false}} {
		var mu sync.Mutex
		refused := map[string]bool{}
		// A subject neither role may publish to: its violation comes back
		// after those of the subjects published before it (the client
		// delivers errors in order), so once it is seen, all are.
		const sentinel = "kibubu.test.sentinel"
		done := make(chan struct{})
		nc, err := nats.Connect(ns.ClientURL(), nats.UserInfo(tc.user, tc.user+"-secret"),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
				mu.Lock()
				defer mu.Unlock()
				for _, s := range opsSubjects {
					if strings.Contains(err.Error(), `"`+s+`"`) {
						refused[s] = true
					}
				}
				if strings.Contains(err.Error(), sentinel) {
					close(done)
				}
			}))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range opsSubjects {
			if err := nc.Publish(s, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
		}
		if err := nc.Publish(sentinel, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the server never refused %s", tc.user, sentinel)
		}
		nc.Close()
		mu.Lock()
		for _, s := range opsSubjects {
			if refused[s] != tc.refused {
				t.Errorf("%s publishing to %s: refused %v, want %v", tc.user, s, refused[s], tc.refused)
			}
		}
		mu.Unlock()
	}
}
