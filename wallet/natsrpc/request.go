package natsrpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
)

type headerKey struct{}

// WithHeader returns ctx carrying h: Request sends it with the request (the
// wallet's client names an operator in it).
func WithHeader(ctx context.Context, h nats.Header) context.Context {
	return context.WithValue(ctx, headerKey{}, h)
}

// Request sends req as JSON to subject on nc, with the header ctx carries
// (WithHeader), and decodes the answer into reply: the client side of a
// Responder's service (the wallet's, the notifier's webhooks). A refusal
// comes back as the *wallet.Error the service answered; no answer in time
// (within timeout when ctx has no deadline) or no service listening as
// CodeUnavailable, saying that service (a name such as "the wallet") did
// not answer; an answer it cannot read as CodeInternal.
func Request(ctx context.Context, nc *nats.Conn, service, subject string, timeout time.Duration, req, reply any) error {
	data, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode %s: %w", subject, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	h, _ := ctx.Value(headerKey{}).(nats.Header)
	msg, err := nc.RequestMsgWithContext(ctx, &nats.Msg{Subject: subject, Data: data, Header: h})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.Canceled) {
			return &wallet.Error{Code: wallet.CodeUnavailable, Message: service + " did not answer: " + err.Error()}
		}
		return &wallet.Error{Code: wallet.CodeUnavailable, Message: err.Error()}
	}
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		var we wallet.Error
		if json.Unmarshal(msg.Data, &we) != nil || we.Code == "" {
			we = wallet.Error{Code: wallet.Code(code), Message: msg.Header.Get(micro.ErrorHeader)}
		}
		return &we
	}
	if err := json.Unmarshal(msg.Data, reply); err != nil {
		return &wallet.Error{Code: wallet.CodeInternal, Message: "unreadable reply on " + subject}
	}
	return nil
}

// Decode reads a request's JSON into v. Data larger than bytesMax, or not
// JSON, is a CodeInvalid *wallet.Error: the caller's mistake, answered as
// such.
func Decode(data []byte, bytesMax int, v any) error {
	if len(data) > bytesMax {
		return wallet.Errorf(wallet.CodeInvalid, "request larger than %d bytes", bytesMax)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return wallet.Errorf(wallet.CodeInvalid, "malformed JSON request")
	}
	return nil
}
