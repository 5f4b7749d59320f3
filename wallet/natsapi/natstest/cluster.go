package natstest

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// clusterReadyTimeout bounds a cluster's start: routes connect and the
// JetStream meta group elects a leader in a second or two on loopback.
const clusterReadyTimeout = 30 * time.Second

// Cluster is a JetStream cluster of in-process servers on loopback, each
// listening for clients and routes on ephemeral ports, so that streams can
// have several replicas as in production. A node can be stopped and started
// again on the same ports and store.
type Cluster struct {
	t      testing.TB
	nodes  []*server.Server
	opts   []*server.Options
	logger server.Logger
}

// ClusterOptions are what StartClusterWith sets on every node; the zero
// value is StartCluster's.
type ClusterOptions struct {
	// Users are the users clients must sign in as (deploy/natsroles'
	// roles, say); none lets any client in with every permission.
	Users []*server.User
	// MaxPayload is the largest message a client may publish; 0 is the
	// server's default.
	MaxPayload int32
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
	c := &Cluster{t: t, nodes: make([]*server.Server, n), opts: make([]*server.Options, n), logger: co.Logger}
	// A JetStream cluster needs its routes configured from the start, so
	// the nodes' route ports are picked first (free ephemeral ports).
	ports := freePorts(t, 2*n)
	clientPorts, routePorts := ports[:n], ports[n:]
	routes := make([]*url.URL, n)
	for i, p := range routePorts {
		routes[i] = &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)}
	}
	for i := range n {
		c.opts[i] = &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: clientPorts[i],
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: co.Logger == nil,
			Users: co.Users, MaxPayload: co.MaxPayload,
			Cluster: server.ClusterOpts{Name: "kibubu-test", Host: "127.0.0.1", Port: routePorts[i]},
			Routes:  routes, // its own address among them is ignored
		}
		c.nodes[i] = c.launch(c.opts[i].Clone())
	}
	t.Cleanup(func() {
		for _, ns := range c.nodes {
			if ns != nil {
				ns.Shutdown()
			}
		}
	})
	for _, ns := range c.nodes {
		if !ns.ReadyForConnections(clusterReadyTimeout) {
			t.Fatalf("nats server %s did not start", ns.Name())
		}
	}
	c.WaitReady()
	return c
}

// launch starts a node; it is ready for connections only once JetStream
// has a quorum, so not before its peers run.
func (c *Cluster) launch(o *server.Options) *server.Server {
	c.t.Helper()
	ns, err := server.NewServer(o)
	if err != nil {
		c.t.Fatalf("nats server %s: %v", o.ServerName, err)
	}
	if c.logger != nil {
		ns.SetLoggerV2(c.logger, false, false, false)
	}
	go ns.Start()
	return ns
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
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", o.Port)
	}
	return strings.Join(urls, ",")
}

// Node is the i-th running server (0-based), nil while stopped.
func (c *Cluster) Node(i int) *server.Server { return c.nodes[i] }

// Stop shuts node i down.
func (c *Cluster) Stop(i int) {
	c.nodes[i].Shutdown()
	c.nodes[i].WaitForShutdown()
	c.nodes[i] = nil
}

// Restart starts node i again on its ports and store.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.nodes[i] = c.launch(c.opts[i].Clone())
	if !c.nodes[i].ReadyForConnections(clusterReadyTimeout) {
		c.t.Fatalf("nats server %s did not start again", c.opts[i].ServerName)
	}
}
