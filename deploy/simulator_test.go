package deploy

import (
	"net"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// kibubuProcess is one Kibubu process a manifest runs: its arguments and
// environment.
type kibubuProcess struct {
	where string
	args  []string
	env   map[string]string
}

// simulatorOn says whether the process serves the phone simulator
// (/simulator), and why: with --simulator (or KIBUBU_SIMULATOR), or because
// it serves USSD (serve, gateway) with its HTTP listener on loopback, where
// the simulator is on by default.
func simulatorOn(p kibubuProcess) (bool, string) {
	for _, a := range p.args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "simulator" {
			continue
		}
		if on, err := strconv.ParseBool(value); !hasValue || err != nil || on {
			return true, "the argument " + a
		}
	}
	if v, ok := p.env["KIBUBU_SIMULATOR"]; ok {
		if on, err := strconv.ParseBool(v); err != nil || on {
			return true, "KIBUBU_SIMULATOR=" + v
		}
	}
	role := "serve"
	if len(p.args) > 0 && !strings.HasPrefix(p.args[0], "-") {
		role = p.args[0]
	}
	if role != "serve" && role != "gateway" {
		return false, ""
	}
	addr, ok := p.env["KIBUBU_HTTP"]
	for i, a := range p.args {
		switch {
		case a == "--http" || a == "-http":
			if i+1 < len(p.args) {
				addr, ok = p.args[i+1], true
			}
		case strings.HasPrefix(a, "--http=") || strings.HasPrefix(a, "-http="):
			_, addr, _ = strings.Cut(a, "=")
			ok = true
		}
	}
	if !ok {
		return true, "no --http or KIBUBU_HTTP: the default listens on loopback"
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || host == "localhost" || ip != nil && ip.IsLoopback() {
		return true, "--http " + addr + " is loopback"
	}
	return false, ""
}

// TestSimulatorOffInProduction checks that no production manifest (compose,
// with and without its Twilio override, and the Kubernetes example overlay)
// serves the phone simulator: it lets anyone who reaches it dial as any
// phone.
func TestSimulatorOffInProduction(t *testing.T) {
	var procs []kibubuProcess
	gateways := 0
	twilioEnv := []string{"TWILIO_ACCOUNT_SID=ACexample", "TWILIO_FROM=+254700000000", "KIBUBU_PUBLIC_URL=https://pay.example.com"}
	for _, files := range [][]string{{"compose.yaml"}, {"compose.yaml", "compose.twilio.yaml"}} {
		p := loadCompose(t, twilioEnv, files...)
		for _, name := range p.ServiceNames() {
			s := p.Services[name]
			if s.Build == nil {
				continue // not a Kibubu process
			}
			env := map[string]string{}
			for k, v := range s.Environment {
				if v != nil {
					env[k] = *v
				}
			}
			procs = append(procs, kibubuProcess{where: strings.Join(files, "+") + " " + name, args: s.Command, env: env})
		}
	}
	for _, dir := range []string{"k8s/overlays/example", "k8s/overlays/example/migrate"} {
		o := build(t, dir)
		cms := map[string]map[string]string{}
		for _, cm := range o.configMaps {
			cms[cm.Name] = cm.Data
		}
		var specs []corev1.PodSpec
		var names []string
		for _, d := range o.deployments {
			specs, names = append(specs, d.Spec.Template.Spec), append(names, d.Name)
		}
		for _, j := range o.jobs {
			specs, names = append(specs, j.Spec.Template.Spec), append(names, j.Name)
		}
		for i, spec := range specs {
			for _, c := range spec.Containers {
				env := map[string]string{}
				for _, from := range c.EnvFrom {
					if from.ConfigMapRef != nil {
						for k, v := range cms[from.ConfigMapRef.Name] {
							env[from.Prefix+k] = v
						}
					}
				}
				for _, e := range c.Env {
					env[e.Name] = e.Value
				}
				procs = append(procs, kibubuProcess{where: dir + " " + names[i] + "/" + c.Name, args: append(c.Command, c.Args...), env: env})
			}
		}
	}
	for _, p := range procs {
		if len(p.args) > 0 && p.args[0] == "gateway" {
			gateways++
		}
		if on, why := simulatorOn(p); on {
			t.Errorf("%s serves the phone simulator (%s): %q %v", p.where, why, p.args, p.env)
		}
	}
	if gateways < 3 {
		t.Fatalf("found %d gateway processes in compose and Kubernetes, want at least 3: is the check still reading the manifests?", gateways)
	}
}

// TestSimulatorOnFindsIt checks the check itself.
func TestSimulatorOnFindsIt(t *testing.T) {
	net := map[string]string{"KIBUBU_HTTP": "0.0.0.0:8080"}
	cases := []struct {
		p  kibubuProcess
		on bool
	}{
		{kibubuProcess{args: []string{"gateway"}, env: net}, false},
		{kibubuProcess{args: []string{"gateway", "--simulator"}, env: net}, true},
		{kibubuProcess{args: []string{"gateway", "-simulator=true"}, env: net}, true},
		{kibubuProcess{args: []string{"gateway", "--simulator=false"}, env: net}, false},
		{kibubuProcess{args: []string{"gateway"}, env: map[string]string{"KIBUBU_HTTP": "0.0.0.0:8080", "KIBUBU_SIMULATOR": "1"}}, true},
		{kibubuProcess{args: []string{"gateway"}, env: map[string]string{"KIBUBU_HTTP": "0.0.0.0:8080", "KIBUBU_SIMULATOR": "false"}}, false},
		{kibubuProcess{args: []string{"gateway"}}, true},
		{kibubuProcess{args: []string{"serve", "--http", "127.0.0.1:8080"}, env: net}, true},
		{kibubuProcess{args: []string{"gateway", "--http=[::1]:8080"}}, true},
		{kibubuProcess{args: []string{"wallet"}}, false},
		{kibubuProcess{args: []string{"notify"}}, false},
		{kibubuProcess{args: nil, env: map[string]string{"KIBUBU_HTTP": "localhost:8080"}}, true},
	}
	for _, c := range cases {
		if got, why := simulatorOn(c.p); got != c.on {
			t.Errorf("simulatorOn(%q, %v) = %v (%s), want %v", c.p.args, c.p.env, got, why, c.on)
		}
	}
}
