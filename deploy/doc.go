// Package deploy holds no code: this directory is Kibubu's deployment
// files (Dockerfile, compose.yaml, the NATS cluster's configuration, the
// Kubernetes manifests). Its tests parse every one of them with the
// libraries the tools use and check what matters: probes, resources,
// non-root, pinned images, secrets by reference, one pepper for every
// wallet, and only flags the binary accepts.
package deploy
