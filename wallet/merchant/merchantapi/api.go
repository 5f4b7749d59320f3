// Package merchantapi serves the merchant services (package
// wallet/merchant) over NATS, and is their client.
//
// Its endpoints are answered by the wallet's own micro service ("wallet",
// queue group "wallet"), which the wallet process starts with
// natsapi.WithEndpoints(Register): the subjects stay under
// natsapi.SubjectPrefix, the answers and refusals are the wallet's
// (natsrpc), and an operator's call is audited by the wallet's audit log.
//
// Each endpoint is declared once, in the file of its area (keys.go,
// requests.go, transactions.go, payouts.go, tabs.go, approvals.go): its
// subject, request and reply types, who may call it (a natsrpc.Endpoint),
// and, in the same file, the merchant.Service method that answers it (the
// area's register function, which Register calls). Adding an endpoint is a
// change to that one file. Its client side is the
// declaration's Call; Client's methods are shorthands for the callers
// that want them. The operator subjects (OperatorSubjects) are derived
// from the declarations.
//
// It must not hold merchant rules (those are package merchant's) or
// storage (wallet/merchant/store's).
package merchantapi

import (
	"context"

	"github.com/nats-io/nats.go"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// The merchant subjects (each area's file declares its own) are served by
// the wallet's micro service when the wallet runs its merchant services
// (package wallet/merchant). Every request a merchant makes carries its API
// key (Auth), which the wallet itself authenticates and scopes: a gateway
// cannot act for a merchant without the merchant's key. Money commands
// carry the client's idempotency key.

// ObjectRequest names one of the merchant's objects by id. Idempotency is
// set on the commands (tab close).
type ObjectRequest struct {
	Auth        string `json:"auth"`
	ID          string `json:"id"`
	Idempotency string `json:"idempotency,omitempty"`
}

func (q ObjectRequest) auth() string { return q.Auth }

// Register serves every endpoint on m, answered by c. payloadMax tells the
// NATS connection's max_payload (0: unknown), which bounds a batch of
// charges so that its reply can be sent. A merchant's request carries its
// API key, which c authenticates and scopes before anything else; the
// apikey endpoints are for operator NATS credentials and take none.
func Register(m natsrpc.Mux, c *merchant.Service, payloadMax func() int64) {
	for _, register := range []func(natsrpc.Mux, *merchant.Service, func() int64){
		registerKeys, registerRequests, registerTransactions, registerPayouts, registerTabs, registerApprovals, registerOps,
	} {
		register(m, c, payloadMax)
	}
}

// Routes are every endpoint's route, as Register adds them.
var Routes = natsrpc.Routes(func(m natsrpc.Mux) { Register(m, nil, nil) })

// OperatorSubjects are the merchant subjects only operators may call: a
// deployment gives gateway credentials no permission to publish to them
// (deploy/natsroles, with natsapi.OperatorSubjects).
var OperatorSubjects = natsrpc.OperatorSubjects(Routes)

// authed is a merchant's request: it carries the merchant's API key.
type authed interface{ auth() string }

// authorized serves e on m: the request's API key authorized for scope,
// and h run for the key's principal.
func authorized[Req authed, Rep any](m natsrpc.Mux, c *merchant.Service, e natsrpc.Endpoint[Req, Rep], scope merchant.Scope,
	h func(context.Context, merchant.Principal, Req) (*Rep, error)) {
	e.Handle(m, func(ctx context.Context, q Req) (*Rep, error) {
		p, err := c.Authorize(ctx, q.auth(), scope)
		if err != nil {
			return nil, err
		}
		return h(ctx, p, q)
	})
}

// KeyActor returns, for natsapi.WithKeyActor, who an operator API key is
// in the audit log: its id, authenticated by c; a key that is not an
// operator's is refused.
func KeyActor(c *merchant.Service) func(ctx context.Context, key string) (string, error) {
	return func(ctx context.Context, key string) (string, error) {
		p, err := c.Authenticate(ctx, key)
		if err != nil {
			return "", err
		}
		if !p.Operator {
			return "", wallet.Errorf(wallet.CodeForbidden, "this needs an operator API key")
		}
		return p.KeyID, nil
	}
}

// Options are the natsapi.Serve options that serve c's endpoints beside
// the wallet's, on nc (the connection Serve answers on): Register, and
// KeyActor for the audit records of the operator REST API's key calls.
func Options(c *merchant.Service, nc *nats.Conn) []natsapi.Option {
	return []natsapi.Option{
		natsapi.WithEndpoints(func(m natsrpc.Mux) { Register(m, c, nc.MaxPayload) }),
		natsapi.WithKeyActor(KeyActor(c)),
	}
}
