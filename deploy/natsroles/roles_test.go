package natsroles

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// The committed deploy/nats/users.conf is what the code generates: a
// change to a role's permissions (here or in the subjects it is built
// from) without `go generate ./deploy/natsroles` fails here.
func TestUsersConfIsGenerated(t *testing.T) {
	committed, err := os.ReadFile(filepath.Join("..", "nats", "users.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if want := UsersConf(""); !bytes.Equal(committed, want) {
		t.Fatalf("deploy/nats/users.conf differs from natsroles.UsersConf(\"\"): run `go generate ./deploy/natsroles` and commit it\n--- generated:\n%s", want)
	}
}

// nats-server reads the generated users back as exactly the permissions
// the code defines, role by role, with and without a --nats-prefix.
func TestUsersConfParsesToPermissions(t *testing.T) {
	for _, prefix := range []string{"", "acme"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			keys := map[string]Role{}
			for _, r := range Roles {
				kp, err := nkeys.CreateUser()
				if err != nil {
					t.Fatal(err)
				}
				pub, _ := kp.PublicKey()
				keys[pub] = r
				t.Setenv(NKeyVar(r), pub)
			}
			path := filepath.Join(t.TempDir(), "users.conf")
			if err := os.WriteFile(path, UsersConf(prefix), 0o600); err != nil {
				t.Fatal(err)
			}
			opts, err := server.ProcessConfigFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(opts.Nkeys) != len(Roles) || len(opts.Users) != 0 {
				t.Fatalf("want %d nkey users and no others, got %d nkey users and %d others", len(Roles), len(opts.Nkeys), len(opts.Users))
			}
			for _, u := range opts.Nkeys {
				r, ok := keys[u.Nkey]
				if !ok {
					t.Fatalf("user %s is none of the roles' keys", u.Nkey)
				}
				delete(keys, u.Nkey)
				if got, want := normal(u.Permissions), normal(Permissions(r, prefix)); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: parsed %+v, defined %+v", r, got, want)
				}
			}
		})
	}
}

// normal makes an absent allow or deny list and an empty one alike, as
// nats-server treats them.
func normal(p *server.Permissions) server.Permissions {
	out := server.Permissions{Response: p.Response}
	for _, sp := range []struct{ in, out **server.SubjectPermission }{{&p.Publish, &out.Publish}, {&p.Subscribe, &out.Subscribe}} {
		if *sp.in == nil {
			continue
		}
		c := server.SubjectPermission{Allow: (*sp.in).Allow, Deny: (*sp.in).Deny}
		if len(c.Allow) == 0 {
			c.Allow = nil
		}
		if len(c.Deny) == 0 {
			c.Deny = nil
		}
		*sp.out = &c
	}
	return out
}

// Every role is least privilege in the ways that matter most: only the
// wallet serves wallet requests or creates streams, only the operator asks
// operator subjects, and nobody but the wallet publishes wallet events.
func TestRolesSeparateDuties(t *testing.T) {
	tests := []struct {
		role               Role
		subject            string
		publish, subscribe bool
	}{
		{Wallet, "wallet.v1.transfer", false, true},
		{Wallet, "wallet.events.transfer.p2p", true, false},
		{Wallet, "$JS.API.STREAM.CREATE.WALLET_EVENTS", true, false},
		{Wallet, "$JS.API.STREAM.DELETE.WALLET_EVENTS", false, false},
		{Gateway, "wallet.v1.transfer", true, false},
		{Gateway, "wallet.v1.float.issue", false, false},
		{Gateway, "wallet.v1.pin.reset", false, false},
		{Gateway, "wallet.events.transfer.p2p", false, false},
		{Gateway, "$JS.API.STREAM.CREATE.KV_USSD_SESSIONS", false, false},
		{Gateway, "$JS.API.STREAM.UPDATE.NOTIFY", false, false},
		{Gateway, "$KV.USSD_SESSIONS.abc", true, false},
		// Reads of its own buckets, direct or from a replicated stream's
		// leader (natsrpc.ReadFromLeader), and of no other stream.
		{Gateway, "$JS.API.DIRECT.GET.KV_USSD_SESSIONS.$KV.USSD_SESSIONS.abc", true, false},
		{Gateway, "$JS.API.STREAM.MSG.GET.KV_USSD_SESSIONS", true, false},
		{Gateway, "$JS.API.STREAM.MSG.GET.KV_MERCHANT_IDEMPOTENCY", true, false},
		{Gateway, "$JS.API.STREAM.MSG.GET.WALLET_EVENTS", false, false},
		{Gateway, "$JS.API.STREAM.MSG.GET.NOTIFY", false, false},
		{Notify, "wallet.v1.transfer", false, false},
		{Notify, "wallet.v1.tariff", true, false},
		{Notify, "$JS.API.CONSUMER.CREATE.NOTIFY.notify", true, false},
		{Notify, "$JS.API.STREAM.UPDATE.NOTIFY", false, false},
		{Notify, "$JS.API.CONSUMER.DELETE.NOTIFY.notify", false, false},
		{Notify, "notify.webhooks.v1.set", false, true},
		{Operator, "wallet.v1.float.issue", true, false},
		{Operator, "wallet.v1.pin.reset", true, false},
		{Operator, "wallet.events.transfer.p2p", false, false},
		{Operator, "$JS.API.STREAM.DELETE.WALLET_EVENTS", false, false},
		{Operator, "wallet.v1.transfer", true, false},
	}
	for _, tc := range tests {
		p := Permissions(tc.role, "")
		if got := allowed(p.Publish, tc.subject); got != tc.publish {
			t.Errorf("%s publish %s: %v, want %v", tc.role, tc.subject, got, tc.publish)
		}
		if got := allowed(p.Subscribe, tc.subject); got != tc.subscribe {
			t.Errorf("%s subscribe %s: %v, want %v", tc.role, tc.subject, got, tc.subscribe)
		}
	}
}

// allowed applies a subject permission as nats-server does: allowed by
// some allow entry and denied by no deny entry.
func allowed(p *server.SubjectPermission, subject string) bool {
	if p == nil {
		return true
	}
	ok := false
	for _, a := range p.Allow {
		if server.SubjectMatchesFilter(subject, a) {
			ok = true
		}
	}
	for _, d := range p.Deny {
		if server.SubjectMatchesFilter(subject, d) {
			return false
		}
	}
	return ok
}
