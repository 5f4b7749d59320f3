// Package natsapi serves the wallet over NATS and is its client.
//
// The service is a nats.go micro service named "wallet" in the queue group
// "wallet", so several wallet processes share the load. Every endpoint takes
// and returns JSON; a refused request answers with the micro error headers
// (Nats-Service-Error-Code is the wallet.Code) and the *wallet.Error as the
// body. See the package README for every subject with an example.
//
// It owns the ledger's subjects, requests and replies. Each endpoint is
// declared once (endpoints.go: a natsrpc.Endpoint with its subject,
// request, reply, who may call it and its bounds), and everything else is
// derived from the declaration: the Client's methods call it
// (Endpoint.Call), Serve answers it (Endpoint.Handle, in the file of its
// subject: server.go, reversal.go, ops.go, report.go, …), and
// OperatorSubjects and AuditReadOnlySubjects are read from the
// declarations (Routes), so the NATS permissions (deploy/natsroles) and the
// audit log follow them. Adding an endpoint is a declaration, its handler
// and its client method. Transfers alone are answered from the writer's
// goroutine once their batch commits, not from a handler's own.
//
// The plumbing it shares with the notifier's service (answering, calling,
// the subject prefix, outages, the shape of a declaration) is
// wallet/natsrpc's. It must not know the merchant services: their
// endpoints (wallet/merchant/merchantapi) are added to the same service
// through WithEndpoints, called through Client.Call, and audited as their
// declarations (natsrpc.Route) say.
package natsapi
