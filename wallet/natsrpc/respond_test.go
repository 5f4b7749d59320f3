package natsrpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi/natstest"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// echo is the request and reply of the test service.
type echo struct {
	Text string `json:"text"`
}

// TestRequestReadsResponder runs a micro service answering through a
// Responder and calls it with Request: a reply, each kind of refusal, and
// no service at all, as every client of the wallet's and the notifier's
// services sees them.
func TestRequestReadsResponder(t *testing.T) {
	ns := natstest.Start(t)
	nc := ns.Connect()
	rs := natsrpc.NewResponder(nc, slog.New(slog.DiscardHandler), 2)
	svc, err := micro.AddService(nc, micro.Config{Name: "echo", Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop() })
	subject := ns.Prefix + ".echo"
	err = svc.AddEndpoint("echo", rs.Async(time.Second, func(ctx context.Context, r micro.Request) (any, error) {
		var q echo
		if err := natsrpc.Decode(r.Data(), 64, &q); err != nil {
			return nil, err
		}
		switch q.Text {
		case "refuse":
			return nil, wallet.Errorf(wallet.CodeConflict, "refused")
		case "break":
			return nil, errors.New("database on fire")
		case "unencodable":
			return func() {}, nil
		case "not an echo":
			return []int{1}, nil
		case "slow":
			<-ctx.Done()
			return nil, wallet.Errorf(wallet.CodeUnavailable, "ran out of time")
		}
		return echo{Text: strings.ToUpper(q.Text)}, nil
	}), micro.WithEndpointSubject(subject))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		subject  string
		req      any
		wantCode wallet.Code
		want     string // the reply's text, or what the error's message contains
	}{
		{"answered", subject, echo{Text: "jambo"}, "", "JAMBO"},
		{"a refusal keeps its code and message", subject, echo{Text: "refuse"}, wallet.CodeConflict, "refused"},
		{"another error is internal", subject, echo{Text: "break"}, wallet.CodeInternal, "internal error"},
		{"a reply that cannot be encoded", subject, echo{Text: "unencodable"}, wallet.CodeInternal, "cannot encode the reply"},
		{"a reply that cannot be read", subject, echo{Text: "not an echo"}, wallet.CodeInternal, "unreadable reply on " + subject},
		{"malformed JSON", subject, "not an object", wallet.CodeInvalid, "malformed JSON request"},
		{"too large", subject, echo{Text: strings.Repeat("a", 64)}, wallet.CodeInvalid, "larger than 64 bytes"},
		{"the handler's time ran out", subject, echo{Text: "slow"}, wallet.CodeUnavailable, "ran out of time"},
		{"no service", ns.Prefix + ".nobody", echo{Text: "jambo"}, wallet.CodeUnavailable, "the echo service did not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got echo
			err := natsrpc.Request(context.Background(), nc, "the echo service", tt.subject, 5*time.Second, tt.req, &got)
			if tt.wantCode == "" {
				if err != nil || got.Text != tt.want {
					t.Fatalf("got %+v, %v; want %q", got, err, tt.want)
				}
				return
			}
			var we *wallet.Error
			if !errors.As(err, &we) || we.Code != tt.wantCode || !strings.Contains(we.Message, tt.want) {
				t.Fatalf("got error %#v; want code %s with %q", err, tt.wantCode, tt.want)
			}
		})
	}
}

// TestRequestTimeout shows that Request waits at most its timeout when ctx
// has no deadline: a service that never answers is CodeUnavailable.
func TestRequestTimeout(t *testing.T) {
	ns := natstest.Start(t)
	nc := ns.Connect()
	subject := ns.Prefix + ".silent"
	sub, err := nc.SubscribeSync(subject) // takes the request, never answers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	start := time.Now()
	err = natsrpc.Request(context.Background(), nc, "the silent service", subject, 100*time.Millisecond, echo{}, &echo{})
	took := time.Since(start)
	if wallet.ErrorCode(err) != wallet.CodeUnavailable || !strings.Contains(err.Error(), "the silent service did not answer") {
		t.Fatalf("got %v; want unavailable", err)
	}
	if took > 5*time.Second {
		t.Errorf("took %v, want about the 100ms timeout", took)
	}
}

// FuzzDecode feeds Decode arbitrary request bodies: it decodes them or
// refuses them with CodeInvalid, never panics, and never decodes a body
// over its bound.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"text":"jambo"}`, `{}`, `null`, `[1,2]`, `"x"`, `{"text":1}`, `{`, ``, "\xff"} {
		f.Add([]byte(s))
	}
	const bytesMax = 256
	f.Fuzz(func(t *testing.T, data []byte) {
		var q echo
		err := natsrpc.Decode(data, bytesMax, &q)
		if err == nil {
			if len(data) > bytesMax || !json.Valid(data) {
				t.Fatalf("decoded %q", data)
			}
			return
		}
		if wallet.ErrorCode(err) != wallet.CodeInvalid {
			t.Fatalf("error %v, want code invalid", err)
		}
	})
}
