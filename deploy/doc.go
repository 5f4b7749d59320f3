// Package deploy holds no code: this directory is Kibubu's deployment
// files (Dockerfile, compose.yaml, the NATS cluster's configuration, the
// Kubernetes manifests), and the code that runs a deployment's parts of
// NATS and its load is in its subpackages: natsserver (starting a NATS
// server in process: kibubu serve's embedded one, the tests' and the
// benchmarks'), natsconn (connecting to a NATS cluster), natsroles (each
// process's permissions, from which nats/users.conf is generated) and
// bench (the load the kibubu bench commands drive). Its tests parse every one of them with the
// libraries the tools use and check what matters: probes, resources,
// non-root, pinned images, secrets by reference, one pepper for every
// wallet, and only flags the binary accepts.
//
// The fleet fault test (TestFleetSurvivesFaults, with KIBUBU_TEST_POSTGRES
// set) runs these files rather than a description of them: each of
// compose.yaml's Kibubu services (with compose.twilio.yaml) as a local
// process of the built binary with that service's command and
// environment, only addresses, secret paths and the data dir rewritten for
// loopback, against 3 nats-server nodes run with deploy/nats/nats.conf
// (TLS on client and route connections with a CA the test makes, one nkey
// user per role with natsroles' permissions) and a PostgreSQL of its own.
// A permission violation in any node's log fails it.
package deploy
