package natsrpc

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/nats-io/nats.go/micro"
)

// RequestBytesMax bounds a request's JSON unless its Route says otherwise:
// the largest ordinary request is a few hundred bytes.
const RequestBytesMax = 8 << 10

// Route is what a service needs to know of an endpoint besides its types:
// where it answers and who may call it.
type Route struct {
	// Subject is the endpoint's subject without the deployment's prefix
	// ("wallet.v1.merchant.request.get").
	Subject string
	// Operator: only operator NATS credentials may call it. deploy/natsroles
	// denies it to gateways (OperatorSubjects), and the service audits a
	// call unless ReadOnly.
	Operator bool
	// ReadOnly: it changes nothing, so an operator's call is not audited.
	ReadOnly bool
	// OperatorKey: a gateway calls it for the operator REST API with an
	// operator API key in the request's auth field; the service audits the
	// call with that key as its actor.
	OperatorKey bool
	// RequestBytesMax bounds the request's JSON; 0 is RequestBytesMax.
	RequestBytesMax int
	// Timeout bounds the service's work on one request; 0 is the
	// service's own bound (the wallet's ledger check and reports take
	// longer than a read).
	Timeout time.Duration

	types func() (req, reply any) // set by Endpoint.Route
}

// Types returns a new request and a new reply of the endpoint r was
// declared by (Endpoint.Route), as pointers, for what checks every
// endpoint (a README's examples); nil, nil for a Route not made so.
func (r Route) Types() (req, reply any) {
	if r.types == nil {
		return nil, nil
	}
	return r.types()
}

// Endpoint declares one endpoint once: its Route, the request it takes and
// the reply it answers. Its client side is Call, its server side Handle; a
// service's operator subjects are derived from its declarations
// (OperatorSubjects), so no list is typed twice.
type Endpoint[Req, Rep any] Route

// Route returns e's Route.
func (e Endpoint[Req, Rep]) Route() Route {
	r := Route(e)
	r.types = func() (any, any) { return new(Req), new(Rep) }
	return r
}

// Caller sends a request to a subject (without the deployment's prefix)
// and decodes its answer into reply: a service's client, which adds the
// prefix and the headers its context asks for (natsapi.Client). Its errors
// are *wallet.Error, as Request's.
type Caller interface {
	Call(ctx context.Context, subject string, req, reply any) error
}

// Call calls e through c.
func (e Endpoint[Req, Rep]) Call(ctx context.Context, c Caller, req Req) (*Rep, error) {
	var r Rep
	return &r, c.Call(ctx, e.Subject, req, &r)
}

// Mux is a service's set of endpoints (the wallet's NATS service). Add
// serves r with h, which runs on a goroutine of its own with the service's
// time bound; what it returns is the answer (Responder.Respond).
type Mux interface {
	Add(r Route, h func(ctx context.Context, req micro.Request) (any, error))
}

// Handle serves e on m with h: the request decoded (larger than the
// Route's bound, or not JSON, is refused as invalid), and h's reply or
// refusal answered. An endpoint whose request is struct{} takes none:
// what is sent is not read (`nats req wallet.v1.tariff ”` is answered).
func (e Endpoint[Req, Rep]) Handle(m Mux, h func(context.Context, Req) (*Rep, error)) {
	bytesMax := cmp.Or(e.RequestBytesMax, RequestBytesMax)
	m.Add(e.Route(), func(ctx context.Context, r micro.Request) (any, error) {
		var q Req
		if _, none := any(q).(struct{}); !none {
			if err := Decode(r.Data(), bytesMax, &q); err != nil {
				return nil, err
			}
		}
		return h(ctx, q)
	})
}

// Routes returns the routes register adds, in order, without serving
// them: what a service's declarations say of it (OperatorSubjects, the
// NATS permissions, a README listing every subject).
func Routes(register func(Mux)) []Route {
	var rec recorder
	register(&rec)
	return rec
}

type recorder []Route

func (r *recorder) Add(rt Route, _ func(context.Context, micro.Request) (any, error)) {
	*r = append(*r, rt)
}

// OperatorSubjects returns the subjects of routes that only operators may
// call, sorted.
func OperatorSubjects(routes []Route) []string {
	var out []string
	for _, r := range routes {
		if r.Operator {
			out = append(out, r.Subject)
		}
	}
	slices.Sort(out)
	return out
}
