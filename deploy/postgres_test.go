package deploy

import (
	"os"
	"regexp"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// cnpgCluster is the part of CloudNativePG's Cluster (postgresql.cnpg.io/v1,
// api/v1/cluster_types.go at v1.30.0) that k8s/postgres/cluster.yaml uses,
// with the same JSON names: decoded strictly, a field CloudNativePG does
// not have, or has elsewhere, fails. Copying the field names only, not the
// operator's module, keeps controller-runtime out of go.mod.
type cnpgCluster struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Instances int    `json:"instances"`
		ImageName string `json:"imageName"`
		Bootstrap struct {
			InitDB struct {
				Database string `json:"database"`
				Owner    string `json:"owner"`
			} `json:"initdb"`
		} `json:"bootstrap"`
		EnableSuperuserAccess *bool `json:"enableSuperuserAccess"`
		PostgreSQL            struct {
			Synchronous *struct {
				Method         string `json:"method"`
				Number         int    `json:"number"`
				DataDurability string `json:"dataDurability"`
			} `json:"synchronous"`
			Parameters map[string]string `json:"parameters"`
		} `json:"postgresql"`
		Storage struct {
			Size string `json:"size"`
		} `json:"storage"`
		WalStorage *struct {
			Size string `json:"size"`
		} `json:"walStorage"`
		Resources corev1.ResourceRequirements `json:"resources"`
		Affinity  struct {
			EnablePodAntiAffinity *bool  `json:"enablePodAntiAffinity"`
			TopologyKey           string `json:"topologyKey"`
			PodAntiAffinityType   string `json:"podAntiAffinityType"`
		} `json:"affinity"`
		PrimaryUpdateStrategy string `json:"primaryUpdateStrategy"`
		PrimaryUpdateMethod   string `json:"primaryUpdateMethod"`
		Monitoring            *struct {
			EnablePodMonitor bool `json:"enablePodMonitor"`
		} `json:"monitoring"`
	} `json:"spec"`
}

func TestCNPGCluster(t *testing.T) {
	b, err := os.ReadFile("k8s/postgres/cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c cnpgCluster
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		t.Fatalf("k8s/postgres/cluster.yaml: %v", err)
	}
	if c.APIVersion != "postgresql.cnpg.io/v1" || c.Kind != "Cluster" {
		t.Fatalf("%s %s, want postgresql.cnpg.io/v1 Cluster", c.APIVersion, c.Kind)
	}
	s := c.Spec
	if s.Instances < 3 {
		t.Errorf("instances %d: a primary and two standbys", s.Instances)
	}
	if !regexp.MustCompile(`:\d+\.\d+`).MatchString(s.ImageName) {
		t.Errorf("imageName %q: pin PostgreSQL's version", s.ImageName)
	}
	// The wallets read kibubu-pg-app: CloudNativePG names it <cluster>-app.
	if c.Metadata.Name != "kibubu-pg" || s.Bootstrap.InitDB.Database == "" || s.Bootstrap.InitDB.Owner == "" {
		t.Errorf("the Cluster must be kibubu-pg with an application database and owner: the manifests read the Secret kibubu-pg-app")
	}
	if sy := s.PostgreSQL.Synchronous; sy == nil || sy.Number < 1 || (sy.Method != "any" && sy.Method != "first") || sy.DataDurability != "required" {
		t.Error("synchronous replication to at least one standby, data durability required: a committed transfer survives the primary")
	}
	if s.EnableSuperuserAccess == nil || *s.EnableSuperuserAccess {
		t.Error("enableSuperuserAccess: false; Kibubu needs only its database's owner")
	}
	if _, ok := s.Resources.Limits[corev1.ResourceMemory]; !ok {
		t.Error("no memory limit")
	}
}
