package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// objects is one kustomize build, decoded strictly into the API types.
type objects struct {
	deployments []appsv1.Deployment
	jobs        []batchv1.Job
	services    []corev1.Service
	configMaps  []corev1.ConfigMap
	pdbs        []policyv1.PodDisruptionBudget
	hpas        []autoscalingv2.HorizontalPodAutoscaler
	ingresses   []networkingv1.Ingress
}

// decodeStrict decodes one manifest into the API type of its kind; a field
// the type does not have (a typo, a wrong level) is an error.
func decodeStrict(doc []byte, into *objects) error {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return err
	}
	strict := func(v any) error { return yaml.UnmarshalStrict(doc, v) }
	switch meta.APIVersion + " " + meta.Kind {
	case "apps/v1 Deployment":
		var o appsv1.Deployment
		if err := strict(&o); err != nil {
			return err
		}
		into.deployments = append(into.deployments, o)
	case "batch/v1 Job":
		var o batchv1.Job
		if err := strict(&o); err != nil {
			return err
		}
		into.jobs = append(into.jobs, o)
	case "v1 Service":
		var o corev1.Service
		if err := strict(&o); err != nil {
			return err
		}
		into.services = append(into.services, o)
	case "v1 ConfigMap":
		var o corev1.ConfigMap
		if err := strict(&o); err != nil {
			return err
		}
		into.configMaps = append(into.configMaps, o)
	case "policy/v1 PodDisruptionBudget":
		var o policyv1.PodDisruptionBudget
		if err := strict(&o); err != nil {
			return err
		}
		into.pdbs = append(into.pdbs, o)
	case "autoscaling/v2 HorizontalPodAutoscaler":
		var o autoscalingv2.HorizontalPodAutoscaler
		if err := strict(&o); err != nil {
			return err
		}
		into.hpas = append(into.hpas, o)
	case "networking.k8s.io/v1 Ingress":
		var o networkingv1.Ingress
		if err := strict(&o); err != nil {
			return err
		}
		into.ingresses = append(into.ingresses, o)
	case "v1 Secret":
		return fmt.Errorf("a Secret in the manifests: secrets are created apart (README) and only referenced")
	default:
		return fmt.Errorf("unexpected %s %s", meta.APIVersion, meta.Kind)
	}
	return nil
}

// build runs kustomize on dir, as `kubectl apply -k` does.
func build(t *testing.T, dir string) *objects {
	t.Helper()
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	o := &objects{}
	for _, r := range rm.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		if err := decodeStrict(doc, o); err != nil {
			t.Errorf("%s: %s %s: %v", dir, r.GetKind(), r.GetName(), err)
		}
	}
	return o
}

// Every file of the base decodes strictly as it is written, before
// kustomize (which keeps unknown fields) sees it.
func TestK8sFilesDecodeStrictly(t *testing.T) {
	files, err := filepath.Glob("k8s/base/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("k8s/base/migrate/*.yaml")
	patches, _ := filepath.Glob("k8s/overlays/example/*.yaml")
	for _, f := range append(append(files, more...), patches...) {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(b, []byte("\n---\n")) {
			if err := decodeStrict(doc, &objects{}); err != nil {
				t.Errorf("%s, document %d: %v", f, i+1, err)
			}
		}
	}
}

func TestK8sExampleOverlay(t *testing.T) {
	o := build(t, "k8s/overlays/example")
	cms := map[string]map[string]string{}
	for _, cm := range o.configMaps {
		cms[cm.Name] = cm.Data
	}
	byRole := map[string][]appsv1.Deployment{}
	for _, d := range o.deployments {
		where := "Deployment " + d.Name
		c := mainContainer(t, where, d.Spec.Template.Spec)
		if c == nil {
			continue
		}
		role := c.Args[0]
		byRole[role] = append(byRole[role], d)
		checkPod(t, where, d.Spec.Template.Spec, cms, true)
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("%s: its selector does not select its own pods", where)
		}
		// A PodDisruptionBudget keeps a drain from taking them all at once.
		if !slices.ContainsFunc(o.pdbs, func(p policyv1.PodDisruptionBudget) bool {
			s, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
			return err == nil && s.Matches(labels.Set(d.Spec.Template.Labels))
		}) {
			t.Errorf("%s: no PodDisruptionBudget selects its pods", where)
		}
		if d.Spec.Template.Spec.TerminationGracePeriodSeconds == nil || *d.Spec.Template.Spec.TerminationGracePeriodSeconds < 30 {
			t.Errorf("%s: terminationGracePeriodSeconds must leave --shutdown-grace (25s) room", where)
		}
	}
	for role, n := range map[string]int32{"wallet": 2, "gateway": 2, "notify": 1, "ops": 1} {
		ds := byRole[role]
		if len(ds) == 0 {
			t.Errorf("no %s Deployment", role)
			continue
		}
		for _, d := range ds {
			if d.Spec.Replicas == nil || *d.Spec.Replicas < n {
				t.Errorf("Deployment %s: want at least %d replicas", d.Name, n)
			}
		}
	}
	for _, d := range append(byRole["wallet"], byRole["notify"]...) {
		if args := mainContainer(t, d.Name, d.Spec.Template.Spec).Args; !slices.Contains(args, "--migrate=false") {
			t.Errorf("Deployment %s: %v: want --migrate=false, the migration Job migrates", d.Name, args)
		}
	}
	for _, d := range byRole["wallet"] {
		if args := mainContainer(t, d.Name, d.Spec.Template.Spec).Args; !slices.Contains(args, "--stream-replicas=3") {
			t.Errorf("Deployment %s: %v: want --stream-replicas=3 on a 3-node NATS", d.Name, args)
		}
	}
	// One pepper for every wallet, one session key for every gateway.
	samePodSecret(t, byRole["wallet"], "KIBUBU_PEPPER_FILE")
	samePodSecret(t, byRole["gateway"], "KIBUBU_SESSION_KEY_FILE")
	samePodSecret(t, byRole["gateway"], "KIBUBU_SMS_SECRET_FILE")

	// The gateways scale on their own, from 2.
	if len(o.hpas) != 1 || o.hpas[0].Spec.ScaleTargetRef.Kind != "Deployment" || len(byRole["gateway"]) == 0 ||
		o.hpas[0].Spec.ScaleTargetRef.Name != byRole["gateway"][0].Name {
		t.Errorf("want one HorizontalPodAutoscaler, of the gateway Deployment")
	} else if m := o.hpas[0].Spec.MinReplicas; m == nil || *m < 2 {
		t.Errorf("HorizontalPodAutoscaler %s: minReplicas must be at least 2", o.hpas[0].Name)
	}
	// Every Service selects a Deployment's pods, on ports they have.
	for _, s := range o.services {
		ok := false
		for _, d := range o.deployments {
			if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
				ok = true
				for _, p := range s.Spec.Ports {
					if !hasPort(d.Spec.Template.Spec, p.TargetPort.String()) {
						t.Errorf("Service %s: port %s targets %s, which %s does not have", s.Name, p.Name, p.TargetPort.String(), d.Name)
					}
				}
			}
		}
		if !ok {
			t.Errorf("Service %s selects no Deployment's pods", s.Name)
		}
	}
	// The Ingress sends to the gateways' Service, over TLS.
	if len(o.ingresses) != 1 {
		t.Fatalf("%d Ingresses, want 1", len(o.ingresses))
	}
	in := o.ingresses[0]
	if len(in.Spec.TLS) == 0 {
		t.Errorf("Ingress %s: no TLS", in.Name)
	}
	for _, r := range in.Spec.Rules {
		for _, p := range r.HTTP.Paths {
			svc := p.Backend.Service
			i := slices.IndexFunc(o.services, func(s corev1.Service) bool { return s.Name == svc.Name })
			if i < 0 {
				t.Errorf("Ingress %s: no Service %s", in.Name, svc.Name)
				continue
			}
			s := o.services[i]
			if !slices.ContainsFunc(o.deployments, func(d appsv1.Deployment) bool {
				return labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) && mainContainer(t, d.Name, d.Spec.Template.Spec).Args[0] == "gateway"
			}) {
				t.Errorf("Ingress %s: Service %s is not the gateways'", in.Name, svc.Name)
			}
			if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == svc.Port.Name }) {
				t.Errorf("Ingress %s: Service %s has no port %q", in.Name, svc.Name, svc.Port.Name)
			}
		}
	}
}

// The migration step runs `kibubu migrate` alone, before the services.
func TestK8sMigrationJob(t *testing.T) {
	o := build(t, "k8s/overlays/example/migrate")
	if len(o.jobs) != 1 || len(o.deployments) != 0 {
		t.Fatalf("want the Job only, got %d Jobs and %d Deployments", len(o.jobs), len(o.deployments))
	}
	j := o.jobs[0]
	c := mainContainer(t, "Job "+j.Name, j.Spec.Template.Spec)
	if c == nil || !slices.Equal(c.Args, []string{"migrate"}) {
		t.Fatalf("Job %s: want args [migrate]", j.Name)
	}
	checkPod(t, "Job "+j.Name, j.Spec.Template.Spec, nil, false)
	if j.Spec.BackoffLimit == nil || *j.Spec.BackoffLimit < 1 {
		t.Errorf("Job %s: retry a migration that met a database still starting", j.Name)
	}
	if j.Namespace != "kibubu" {
		t.Errorf("Job %s: namespace %q, want the services' (kibubu)", j.Name, j.Namespace)
	}
}

// mainContainer is the pod's one container (Kibubu runs no sidecars).
func mainContainer(t *testing.T, where string, spec corev1.PodSpec) *corev1.Container {
	t.Helper()
	if len(spec.Containers) != 1 {
		t.Errorf("%s: %d containers, want 1", where, len(spec.Containers))
		return nil
	}
	c := &spec.Containers[0]
	if len(c.Args) == 0 {
		t.Errorf("%s: no args: the first is the role", where)
		return nil
	}
	return c
}

func hasPort(spec corev1.PodSpec, port string) bool {
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if p.Name == port || strconv.Itoa(int(p.ContainerPort)) == port {
				return true
			}
		}
	}
	return false
}

// checkPod checks what every Kibubu pod needs: pinned images, non-root, a
// read-only root filesystem, resources with GOMEMLIMIT, flags and variables
// the binary knows, secrets by reference and, for a server (probes), the
// health endpoints on its HTTP port.
func checkPod(t *testing.T, where string, spec corev1.PodSpec, cms map[string]map[string]string, server bool) {
	t.Helper()
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: the pod must run as a non-root user (runAsNonRoot, runAsUser)", where)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: Kibubu never calls the Kubernetes API: automountServiceAccountToken: false", where)
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		cw := where + " container " + c.Name
		if !pinnedTag.MatchString(c.Image) {
			t.Errorf("%s: image %q is not pinned to an exact version", cw, c.Image)
		}
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: readOnlyRootFilesystem must be true", cw)
		}
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation must be false", cw)
		}
		if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("%s: drop ALL capabilities", cw)
		}
		if sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			t.Errorf("%s: runs as root", cw)
		}
		limit, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok {
			t.Errorf("%s: no memory limit", cw)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[r]; !ok {
				t.Errorf("%s: no %s request", cw, r)
			}
		}
		// Secrets are never literals: a variable that says it holds one
		// names a file from a Secret, or takes its value from a Secret.
		for _, e := range c.Env {
			if looksSecret(e.Name) && e.ValueFrom == nil {
				if _, _, ok := secretOfPath(spec, c, e.Value); !ok {
					t.Errorf("%s: %s=%q is neither a file from a Secret nor from a secretKeyRef", cw, e.Name, e.Value)
				}
			}
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef == nil {
				t.Errorf("%s: %s: only secretKeyRef is expected", cw, e.Name)
			}
		}
		if c.Name == spec.Containers[0].Name {
			env := map[string]string{}
			var names []string
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef == nil {
					t.Errorf("%s: envFrom only from the ConfigMap", cw)
					continue
				}
				data, ok := cms[ef.ConfigMapRef.Name]
				if !ok {
					t.Errorf("%s: envFrom ConfigMap %s is not in the manifests", cw, ef.ConfigMapRef.Name)
				}
				for k, v := range data {
					env[k] = v
					names = append(names, k)
				}
			}
			for _, e := range c.Env {
				env[e.Name] = e.Value
				names = append(names, e.Name)
			}
			slices.Sort(names)
			checkCommand(t, cw, c.Args, slices.Compact(names))
			if ok {
				if v, set := env["GOMEMLIMIT"]; !set {
					t.Errorf("%s: GOMEMLIMIT is not set: the Go heap grows to the OOM killer", cw)
				} else if memBytes(t, v) >= limit.Value() {
					t.Errorf("%s: GOMEMLIMIT %s is not below the memory limit %s", cw, v, limit.String())
				}
			}
			if server {
				checkProbes(t, cw, c, env["KIBUBU_HTTP"])
			}
		}
	}
}

func checkProbes(t *testing.T, where string, c corev1.Container, httpAddr string) {
	t.Helper()
	_, port, _ := strings.Cut(httpAddr, ":")
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s: the %s probe must GET %s", where, p.name, p.path)
			continue
		}
		pp := p.probe.HTTPGet.Port.String()
		ok := false
		for _, cp := range c.Ports {
			if (cp.Name == pp || strconv.Itoa(int(cp.ContainerPort)) == pp) && strconv.Itoa(int(cp.ContainerPort)) == port {
				ok = true
			}
		}
		if !ok {
			t.Errorf("%s: the %s probe's port %s is not --http's port %q", where, p.name, pp, port)
		}
	}
}

// secretOfPath finds the Secret and key a file path in container c comes
// from: a Secret volume, a projected volume of Secrets, or a memory
// emptyDir an init container fills from one of those.
func secretOfPath(spec corev1.PodSpec, c corev1.Container, path string) (secret, key string, ok bool) {
	for _, m := range c.VolumeMounts {
		file, found := strings.CutPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !found {
			continue
		}
		v := volume(spec, m.Name)
		if v == nil {
			return "", "", false
		}
		if v.EmptyDir != nil {
			// Filled by an init container copying from a Secret mount.
			for _, ic := range spec.InitContainers {
				if !slices.ContainsFunc(ic.VolumeMounts, func(im corev1.VolumeMount) bool { return im.Name == m.Name }) {
					continue
				}
				for _, im := range ic.VolumeMounts {
					if im.Name != m.Name {
						if s, k, ok := secretOfPath(spec, ic, strings.TrimSuffix(im.MountPath, "/")+"/"+file); ok {
							return s, k, true
						}
					}
				}
			}
			return "", "", false
		}
		return secretItem(v, file)
	}
	return "", "", false
}

func volume(spec corev1.PodSpec, name string) *corev1.Volume {
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == name {
			return &spec.Volumes[i]
		}
	}
	return nil
}

func secretItem(v *corev1.Volume, file string) (string, string, bool) {
	var sources []corev1.SecretProjection
	switch {
	case v.Secret != nil:
		sources = []corev1.SecretProjection{{LocalObjectReference: corev1.LocalObjectReference{Name: v.Secret.SecretName}, Items: v.Secret.Items}}
	case v.Projected != nil:
		for _, s := range v.Projected.Sources {
			if s.Secret == nil {
				return "", "", false // only Secrets in a secrets volume
			}
			sources = append(sources, *s.Secret)
		}
	}
	for _, s := range sources {
		for _, it := range s.Items {
			if it.Path == file {
				return s.Name, it.Key, true
			}
		}
	}
	return "", "", false
}

// samePodSecret checks that every Deployment's container reads variable
// from the same key of the same Secret.
func samePodSecret(t *testing.T, ds []appsv1.Deployment, variable string) {
	t.Helper()
	seen := map[string]bool{}
	for _, d := range ds {
		spec := d.Spec.Template.Spec
		c := spec.Containers[0]
		i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == variable })
		if i < 0 {
			t.Errorf("Deployment %s: %s is not set", d.Name, variable)
			continue
		}
		s, k, ok := secretOfPath(spec, c, c.Env[i].Value)
		if !ok {
			t.Errorf("Deployment %s: %s=%s is not a file from a Secret", d.Name, variable, c.Env[i].Value)
			continue
		}
		seen[s+"/"+k] = true
	}
	if len(seen) != 1 {
		t.Errorf("%s comes from %d Secret keys across the Deployments, want one shared by all", variable, len(seen))
	}
}

// memBytes parses a GOMEMLIMIT value: bytes, or a number with B, KiB,
// MiB, GiB or TiB, as the Go runtime reads it.
func memBytes(t *testing.T, s string) int64 {
	t.Helper()
	m := regexp.MustCompile(`^(\d+)(B|KiB|MiB|GiB|TiB)?$`).FindStringSubmatch(s)
	if m == nil {
		t.Errorf("GOMEMLIMIT %q: not a size the Go runtime reads (such as 460MiB)", s)
		return 1 << 62
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	shift := map[string]uint{"": 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30, "TiB": 40}[m[2]]
	return n << shift
}
