package natsrpc_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi/natstest"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// handlerDelay is how long each test handler works before it refuses.
const handlerDelay = 20 * time.Millisecond

// TestResponderStats: a refusal answered while micro's handler runs is
// micro's own (its num_errors counts it, its processing time covers the
// work), and the Responder's statistics (the endpoint's data) count every
// answer, from the handler's call to the answer, whether it came before
// the handler returned or later from another goroutine (an Async handler,
// the wallet's writer).
func TestResponderStats(t *testing.T) {
	ns := natstest.Start(t)
	nc := ns.Connect()
	rs := natsrpc.NewResponder(nc, slog.New(slog.DiscardHandler), 2)
	svc, err := micro.AddService(nc, micro.Config{Name: "stats", Version: "1.0.0", StatsHandler: rs.EndpointStats})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop() })
	refuse := func() error { time.Sleep(handlerDelay); return wallet.Errorf(wallet.CodeNotFound, "no such thing") }
	endpoints := map[string]micro.HandlerFunc{
		"now": func(r micro.Request) { rs.Respond(r, nil, refuse()) },
		"later": rs.Async(time.Second, func(context.Context, micro.Request) (any, error) {
			return nil, refuse()
		}),
	}
	for name, h := range endpoints {
		subject := natsrpc.Subject(ns.Prefix, name)
		if err := svc.AddEndpoint(name, rs.Handle(subject, h), micro.WithEndpointSubject(subject)); err != nil {
			t.Fatal(err)
		}
		if err := natsrpc.Request(context.Background(), nc, "the stats service", subject, 5*time.Second, struct{}{}, &struct{}{}); wallet.ErrorCode(err) != wallet.CodeNotFound {
			t.Fatalf("%s: got %v, want not_found", name, err)
		}
	}
	stats := map[string]*micro.EndpointStats{}
	for _, e := range svc.Stats().Endpoints {
		stats[e.Name] = e
	}
	for _, name := range []string{"now", "later"} {
		t.Run(name, func(t *testing.T) {
			var got natsrpc.AnswerStats
			if err := json.Unmarshal(stats[name].Data, &got); err != nil {
				t.Fatal(err)
			}
			if got.NumAnswers != 1 || got.NumErrors != 1 || got.LastError != "not_found:no such thing" || got.ProcessingTime < handlerDelay {
				t.Errorf("got %+v; want 1 answer, 1 error (not_found), at least %v", got, handlerDelay)
			}
		})
	}
	if now := stats["now"]; now.NumErrors != 1 || now.LastError != "not_found:no such thing" || now.ProcessingTime < handlerDelay {
		t.Errorf("got micro's own %d errors (%q) in %v; want 1 (not_found) in at least %v", now.NumErrors, now.LastError, now.ProcessingTime, handlerDelay)
	}
}
