package deploy

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/nats-io/nkeys"
	corev1 "k8s.io/api/core/v1"

	"github.com/kibubu/kibubu/deploy/natsroles"
)

// natsUser is the NATS user each Kibubu role connects as: the back-office
// (kibubu ops) as the operator, never as a gateway (whose user cannot reach
// operator subjects, and must not be able to).
var natsUser = map[string]natsroles.Role{
	"wallet": natsroles.Wallet, "migrate": natsroles.Wallet, "gateway": natsroles.Gateway,
	"notify": natsroles.Notify, "ops": natsroles.Operator,
}

// TestComposeNATSUsers checks that each Kibubu service's nkey seed (from
// secrets.example, as the README's first step copies them) is the seed of
// its role's NATS user in nats-users.env: the ops service is the operator.
// The ops service is published on the host's loopback only.
func TestComposeNATSUsers(t *testing.T) {
	p := loadCompose(t, nil, "compose.yaml")
	users := nkeyEnv(t)
	seen := map[string]bool{}
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		if s.Build == nil || len(s.Command) == 0 {
			continue
		}
		role := s.Command[0]
		v := s.Environment["KIBUBU_NATS_NKEY"]
		if v == nil {
			if role != "migrate" { // migrate reaches only the database
				t.Errorf("%s: no KIBUBU_NATS_NKEY", name)
			}
			continue
		}
		i := slices.IndexFunc(s.Secrets, func(sec types.ServiceSecretConfig) bool { return secretPath(sec) == *v })
		if i < 0 {
			t.Errorf("%s: KIBUBU_NATS_NKEY=%s is none of its secrets", name, *v)
			continue
		}
		file := p.Secrets[s.Secrets[i].Source].File
		got := seedPublicKey(t, file)
		want := users[natsroles.NKeyVar(natsUser[role])]
		if got != want {
			t.Errorf("%s (kibubu %s): its nkey %s is the public key %s, want the %s user's %s", name, role, file, got, natsUser[role], want)
		}
		seen[role] = true
	}
	if !seen["ops"] || !seen["gateway"] {
		t.Fatalf("checked the roles %v: want ops and gateway among them", seen)
	}
	ops := p.Services["ops"]
	if len(ops.Ports) == 0 {
		t.Error("ops: publishes no port: operators could not reach it")
	}
	for _, port := range ops.Ports {
		if port.HostIP != "127.0.0.1" {
			t.Errorf("ops: port %s published on %q: want 127.0.0.1 (not public by default)", port.Published, port.HostIP)
		}
	}
	for name, s := range p.Services {
		if name == "proxy" {
			continue
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s: publishes %s publicly: only the proxy faces the network", name, port.Published)
			}
		}
	}
}

// seedPublicKey is the public key of the nkey seed in file.
func seedPublicKey(t *testing.T, file string) string {
	t.Helper()
	seed, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(seed))))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// k8sNKeySecret is the Secret each role's Deployment takes its nkey seed
// from (README "Run as a fleet" creates each from that role's seed).
var k8sNKeySecret = map[string]string{"wallet": "kibubu-wallet", "gateway": "kibubu-gateway", "notify": "kibubu-notify", "ops": "kibubu-operator"}

// TestK8sOps checks the back-office's Deployment in the example overlay:
// the operator's nkey Secret (each role's seed from its own Secret), a
// ClusterIP Service only, and no Ingress in front of it.
func TestK8sOps(t *testing.T) {
	o := build(t, "k8s/overlays/example")
	var ops int
	for _, d := range o.deployments {
		c := mainContainer(t, d.Name, d.Spec.Template.Spec)
		if c == nil {
			continue
		}
		role := c.Args[0]
		if role == "ops" {
			ops++
		}
		var nkey string
		for _, e := range c.Env {
			if e.Name == "KIBUBU_NATS_NKEY" {
				nkey = e.Value
			}
		}
		if got := nkeySecret(d.Spec.Template.Spec, nkey); got != k8sNKeySecret[role] {
			t.Errorf("Deployment %s (kibubu %s): KIBUBU_NATS_NKEY %s comes from Secret %q, want %q", d.Name, role, nkey, got, k8sNKeySecret[role])
		}
	}
	if ops != 1 {
		t.Fatalf("%d ops Deployments, want 1", ops)
	}
	for _, s := range o.services {
		if s.Spec.Selector["app.kubernetes.io/component"] != "ops" {
			continue
		}
		if s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("Service %s: type %s: the back-office is not exposed outside the cluster by default", s.Name, s.Spec.Type)
		}
		for _, in := range o.ingresses {
			for _, r := range in.Spec.Rules {
				for _, p := range r.HTTP.Paths {
					if p.Backend.Service != nil && p.Backend.Service.Name == s.Name {
						t.Errorf("Ingress %s exposes the back-office's Service %s", in.Name, s.Name)
					}
				}
			}
		}
	}
}

// nkeySecret is the Secret the file path (under the container's secrets
// directory, copied there by the init container) comes from in spec's
// projected secrets-in volume.
func nkeySecret(spec corev1.PodSpec, path string) string {
	name := path[strings.LastIndex(path, "/")+1:]
	for _, v := range spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if src.Secret == nil {
				continue
			}
			for _, it := range src.Secret.Items {
				if it.Path == name {
					return src.Secret.Name
				}
			}
		}
	}
	return ""
}
