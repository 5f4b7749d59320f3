package natsapi

import (
	"context"

	"github.com/nats-io/nats.go"
)

// The headers that name who performs an operator action and why. Every
// request a Client sends carries them when its context holds an Operator
// (WithOperator); the wallet writes them to the audit log for every operator
// subject and refuses an operator request without an actor.
const (
	HeaderActor  = "Kibubu-Actor"
	HeaderReason = "Kibubu-Reason"
)

// Operator is the person (or key) behind an operator action, and the reason
// they gave: the "who" and "why" of an audit record.
type Operator struct {
	Actor  string
	Reason string
}

type operatorKey struct{}

// WithOperator returns ctx carrying op: the Client's requests made with it
// name op in their headers.
func WithOperator(ctx context.Context, op Operator) context.Context {
	return context.WithValue(ctx, operatorKey{}, op)
}

// OperatorFrom returns the Operator ctx carries, if any.
func OperatorFrom(ctx context.Context) (Operator, bool) {
	op, ok := ctx.Value(operatorKey{}).(Operator)
	return op, ok
}

// operatorHeader returns the headers naming ctx's Operator, or nil.
func operatorHeader(ctx context.Context) nats.Header {
	op, ok := OperatorFrom(ctx)
	if !ok {
		return nil
	}
	h := nats.Header{}
	h.Set(HeaderActor, op.Actor)
	if op.Reason != "" {
		h.Set(HeaderReason, op.Reason)
	}
	return h
}

// AsOperator makes a Client's requests name op as their operator when their
// context names none (WithOperator): for tools and tests that act as one
// operator throughout.
func AsOperator(op Operator) Option { return func(o *options) { o.operator = &op } }
