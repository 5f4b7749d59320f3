package deploy

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// k8s/nats/values.yaml uses only keys the NATS chart has: its values.yaml
// (chart 2.14.2, Apache-2.0, copied in testdata) is the schema. Where the
// chart's default is an empty map (merge, env, data, …) anything goes, as
// in the chart. Then what Kibubu needs: 3 replicas, JetStream on disk,
// TLS for clients and routes, the generated users, the embedded version.
func TestNATSHelmValues(t *testing.T) {
	var chart, ours map[string]any
	for path, into := range map[string]*map[string]any{"testdata/nats-chart-values.yaml": &chart, "k8s/nats/values.yaml": &ours} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, into); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	for _, err := range unknownKeys("", ours, chart) {
		t.Error(err)
	}
	get := func(path string) any {
		var v any = ours
		for _, k := range strings.Split(path, ".") {
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		}
		return v
	}
	want := map[string]any{
		"config.cluster.enabled":               true,
		"config.cluster.replicas":              float64(3),
		"config.cluster.tls.enabled":           true,
		"config.cluster.tls.merge.verify":      true,
		"config.nats.tls.enabled":              true,
		"config.jetstream.enabled":             true,
		"config.jetstream.fileStore.enabled":   true,
		"config.merge.max_payload":             "<< 4MB >>",
		"config.merge.00$include":              "users.conf",
		"config.jetstream.merge.sync_interval": "<< 10s >>",
		"tlsCA.enabled":                        true,
	}
	for path, w := range want {
		if got := get(path); got != w {
			t.Errorf("%s = %v, want %v", path, got, w)
		}
	}
	if tag, _ := get("container.image.tag").(string); !strings.HasPrefix(tag, natsServerVersion(t)+"-") {
		t.Errorf("container.image.tag %q: want nats-server %s, the version the binary embeds", tag, natsServerVersion(t))
	}
	for _, role := range []string{"WALLET", "GATEWAY", "NOTIFY", "OPERATOR"} {
		if get("container.env.KIBUBU_NATS_"+role+"_NKEY.valueFrom.secretKeyRef.name") == nil {
			t.Errorf("container.env: KIBUBU_NATS_%s_NKEY must come from a Secret (users.conf reads it)", role)
		}
	}
}

// unknownKeys lists the keys of ours that chart does not have.
func unknownKeys(at string, ours, chart map[string]any) []error {
	var errs []error
	keys := make([]string, 0, len(ours))
	for k := range ours {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		path := strings.TrimPrefix(at+"."+k, ".")
		cv, ok := chart[k]
		if !ok {
			errs = append(errs, fmt.Errorf("k8s/nats/values.yaml: %s is not a value of the NATS chart", path))
			continue
		}
		om, oIsMap := ours[k].(map[string]any)
		cm, cIsMap := cv.(map[string]any)
		switch {
		case oIsMap && cIsMap && len(cm) > 0:
			errs = append(errs, unknownKeys(path, om, cm)...)
		case oIsMap && cv != nil && !cIsMap:
			errs = append(errs, fmt.Errorf("k8s/nats/values.yaml: %s is a map; the chart has a %T", path, cv))
		}
	}
	return errs
}

// The test of the test: a misspelt or misplaced key is found.
func TestUnknownKeysFindsStrays(t *testing.T) {
	chart := map[string]any{"config": map[string]any{"cluster": map[string]any{"enabled": false, "replicas": 3}, "merge": map[string]any{}}}
	ours := map[string]any{"config": map[string]any{"cluster": map[string]any{"enable": true}, "merge": map[string]any{"anything": 1}, "jetstrem": map[string]any{}}}
	errs := unknownKeys("", ours, chart)
	if len(errs) != 2 {
		t.Fatalf("want config.cluster.enable and config.jetstrem, got %v", errs)
	}
}
