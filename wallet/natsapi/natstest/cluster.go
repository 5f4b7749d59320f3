package natstest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/kibubu/kibubu/deploy/natsserver"
)

// clusterReadyTimeout bounds a cluster's start: routes connect and the
// JetStream meta group elects a leader in a second or two on loopback.
const clusterReadyTimeout = 30 * time.Second

// Cluster is a JetStream cluster of in-process servers on loopback
// (deploy/natsserver's StartCluster), each listening for clients and
// routes on ephemeral ports, so that streams can have several replicas as
// in production. A node can be stopped and started again on the same
// ports and store.
type Cluster struct {
	t     testing.TB
	nodes []*natsserver.Server
	opts  []natsserver.Options
}

// ClusterOptions are what StartClusterWith sets on every node; the zero
// value is StartCluster's.
type ClusterOptions struct {
	// Users are the users clients must sign in as (deploy/natsroles'
	// roles, say); none lets any client in with every permission.
	Users []*server.User
	// PayloadMax is the largest message a client may publish; 0 is the
	// server's default.
	PayloadMax int32
	// Logger receives every node's log (a permission violation is an
	// error there); nil logs nowhere.
	Logger server.Logger
}

// StartCluster starts n clustered servers with JetStream, shut down when
// the test ends, and waits until JetStream has a leader and every node is
// current.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	return StartClusterWith(t, n, ClusterOptions{})
}

// StartClusterWith is StartCluster with users, a payload limit and a
// logger on every node.
func StartClusterWith(t testing.TB, n int, co ClusterOptions) *Cluster {
	t.Helper()
	c := &Cluster{t: t, opts: make([]natsserver.Options, n)}
	// A JetStream cluster needs its routes configured from the start, so
	// the nodes' ports are picked first (free ephemeral ports), and kept
	// for a restart.
	ports := freePorts(t, 2*n)
	clientPorts, routePorts := ports[:n], ports[n:]
	routes := make([]string, n)
	for i, p := range routePorts {
		routes[i] = fmt.Sprintf("127.0.0.1:%d", p)
	}
	for i := range n {
		c.opts[i] = natsserver.Options{
			Name: fmt.Sprintf("n%d", i+1), Listen: fmt.Sprintf("127.0.0.1:%d", clientPorts[i]),
			StoreDir: t.TempDir(), Users: co.Users, PayloadMax: co.PayloadMax, Logger: co.Logger,
			Cluster: &natsserver.ClusterOptions{Name: "kibubu-test", Listen: routes[i], Routes: routes},
		}
	}
	nodes, err := natsserver.StartCluster(c.opts)
	if err != nil {
		t.Fatal(err)
	}
	c.nodes = nodes
	t.Cleanup(func() {
		for _, ns := range c.nodes {
			if ns != nil {
				ns.Close()
			}
		}
	})
	c.WaitReady()
	return c
}

// freePorts returns n free loopback TCP ports.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		defer ln.Close()
	}
	return ports
}

// WaitReady waits until JetStream has a meta leader and every running node
// is current with it.
func (c *Cluster) WaitReady() {
	c.t.Helper()
	deadline := time.Now().Add(clusterReadyTimeout)
	for {
		leader, current := false, true
		for _, ns := range c.nodes {
			if ns == nil {
				continue
			}
			leader = leader || ns.JetStreamIsLeader()
			current = current && ns.JetStreamIsCurrent()
		}
		if leader && current {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the JetStream cluster has no leader after %s", clusterReadyTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URLs is the comma-separated list of the nodes' client URLs, as --nats
// takes it.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.opts))
	for i, o := range c.opts {
		urls[i] = "nats://" + o.Listen
	}
	return strings.Join(urls, ",")
}

// Node is the i-th running server (0-based), nil while stopped.
func (c *Cluster) Node(i int) *server.Server {
	if c.nodes[i] == nil {
		return nil
	}
	return c.nodes[i].Server
}

// Stop shuts node i down.
func (c *Cluster) Stop(i int) {
	c.nodes[i].Close()
	c.nodes[i] = nil
}

// Restart starts node i again on its ports and store.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	ns, err := natsserver.Start(c.opts[i])
	if err != nil {
		c.t.Fatalf("nats server %s did not start again: %v", c.opts[i].Name, err)
	}
	c.nodes[i] = ns
}
