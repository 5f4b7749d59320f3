package natsrpc_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi/natstest"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

type echoRequest struct {
	Text string `json:"text"`
}

type echoReply struct {
	Upper string `json:"upper"`
}

// The test service's endpoints, declared once each.
var (
	echoEndpoint  = natsrpc.Endpoint[echoRequest, echoReply]{Subject: "test.v1.echo"}
	shortEndpoint = natsrpc.Endpoint[echoRequest, echoReply]{Subject: "test.v1.short", RequestBytesMax: 32}
	adminEndpoint = natsrpc.Endpoint[echoRequest, echoReply]{Subject: "test.v1.admin", Operator: true}
	peekEndpoint  = natsrpc.Endpoint[echoRequest, echoReply]{Subject: "test.v1.peek", Operator: true, ReadOnly: true}
)

func registerEcho(m natsrpc.Mux) {
	upper := func(_ context.Context, q echoRequest) (*echoReply, error) {
		if q.Text == "" {
			return nil, wallet.Errorf(wallet.CodeInvalid, "text is required")
		}
		return &echoReply{Upper: strings.ToUpper(q.Text)}, nil
	}
	echoEndpoint.Handle(m, upper)
	shortEndpoint.Handle(m, upper)
	adminEndpoint.Handle(m, upper)
	peekEndpoint.Handle(m, upper)
}

// testMux serves routes on a micro service through a Responder, as the
// wallet's service does.
type testMux struct {
	t      *testing.T
	svc    micro.Service
	rs     *natsrpc.Responder
	prefix string
}

func (m testMux) Add(r natsrpc.Route, h func(context.Context, micro.Request) (any, error)) {
	subject := natsrpc.Subject(m.prefix, r.Subject)
	name := strings.ReplaceAll(r.Subject, ".", "-")
	if err := m.svc.AddEndpoint(name, m.rs.Handle(subject, m.rs.Async(5*time.Second, h)), micro.WithEndpointSubject(subject)); err != nil {
		m.t.Fatal(err)
	}
}

// startTestService starts a micro service answering through a Responder
// on an embedded NATS, and returns the Mux that adds to it and a client.
func startTestService(t *testing.T) (testMux, testCaller) {
	ns := natstest.Start(t)
	nc := ns.Connect()
	rs := natsrpc.NewResponder(nc, slog.New(slog.DiscardHandler), 4)
	svc, err := micro.AddService(nc, micro.Config{Name: "test", Version: "1.0.0", StatsHandler: rs.EndpointStats})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop() })
	return testMux{t: t, svc: svc, rs: rs, prefix: ns.Prefix}, testCaller{nc: nc, prefix: ns.Prefix}
}

// testCaller is a client: it puts the prefix on the subject.
type testCaller struct {
	nc     *nats.Conn
	prefix string
}

func (c testCaller) Call(ctx context.Context, subject string, req, reply any) error {
	return natsrpc.Request(ctx, c.nc, "the test service", natsrpc.Subject(c.prefix, subject), 5*time.Second, req, reply)
}

// TestEndpoint: an endpoint declared once is called by its Call and served
// by its Handle, with the request bound and the refusals the Responder
// answers with, under the deployment's prefix.
func TestEndpoint(t *testing.T) {
	m, c := startTestService(t)
	registerEcho(m)
	tests := []struct {
		name     string
		endpoint natsrpc.Endpoint[echoRequest, echoReply]
		text     string
		want     string
		code     wallet.Code
	}{
		{"answered", echoEndpoint, "jambo", "JAMBO", ""},
		{"refused by the handler", echoEndpoint, "", "", wallet.CodeInvalid},
		{"within its own bound", shortEndpoint, "habari", "HABARI", ""},
		{"past its own bound", shortEndpoint, strings.Repeat("x", 40), "", wallet.CodeInvalid},
		{"an operator's", adminEndpoint, "sawa", "SAWA", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.endpoint.Call(context.Background(), c, echoRequest{Text: tc.text})
			if code := wallet.ErrorCode(err); code != tc.code || (err == nil && got.Upper != tc.want) {
				t.Errorf("got %+v, %v; want %q, code %q", got, err, tc.want, tc.code)
			}
		})
	}
}

// TestRoutes: what a service's registration declares, read without
// serving it: its routes in order with their types, and its operator
// subjects.
func TestRoutes(t *testing.T) {
	routes := natsrpc.Routes(registerEcho)
	var subjects []string
	for _, r := range routes {
		subjects = append(subjects, r.Subject)
		req, reply := r.Types()
		if _, ok := req.(*echoRequest); !ok {
			t.Errorf("%s: request %T, want *echoRequest", r.Subject, req)
		}
		if _, ok := reply.(*echoReply); !ok {
			t.Errorf("%s: reply %T, want *echoReply", r.Subject, reply)
		}
	}
	if want := []string{echoEndpoint.Subject, shortEndpoint.Subject, adminEndpoint.Subject, peekEndpoint.Subject}; !slices.Equal(subjects, want) {
		t.Errorf("routes %v, want %v", subjects, want)
	}
	if got, want := natsrpc.OperatorSubjects(routes), []string{adminEndpoint.Subject, peekEndpoint.Subject}; !slices.Equal(got, want) {
		t.Errorf("operator subjects %v, want %v", got, want)
	}
	if r := (natsrpc.Route{Subject: "x"}); func() bool { q, p := r.Types(); return q != nil || p != nil }() {
		t.Errorf("a Route not made by an Endpoint has types")
	}
}

// TestEndpointWithoutRequest: an endpoint whose request is struct{} takes
// none, so whatever is sent (nothing, JSON, not JSON) is answered, as the
// wallet's tariff always was.
func TestEndpointWithoutRequest(t *testing.T) {
	m, c := startTestService(t)
	hello := natsrpc.Endpoint[struct{}, echoReply]{Subject: "test.v1.hello"}
	hello.Handle(m, func(context.Context, struct{}) (*echoReply, error) {
		return &echoReply{Upper: "HELLO"}, nil
	})
	for _, data := range []string{"", "{}", "not json", strings.Repeat("x", natsrpc.RequestBytesMax+1)} {
		msg, err := c.nc.Request(natsrpc.Subject(c.prefix, hello.Subject), []byte(data), 5*time.Second)
		if err != nil {
			t.Fatalf("%.10q: %v", data, err)
		}
		if got, want := string(msg.Data), `{"upper":"HELLO"}`; got != want || msg.Header.Get(micro.ErrorCodeHeader) != "" {
			t.Errorf("%.10q: got %s (error %q), want %s", data, got, msg.Header.Get(micro.ErrorHeader), want)
		}
	}
	got, err := hello.Call(context.Background(), c, struct{}{})
	if err != nil || got.Upper != "HELLO" {
		t.Errorf("Call: got %+v, %v; want HELLO", got, err)
	}
}
