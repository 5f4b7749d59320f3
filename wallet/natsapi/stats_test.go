package natsapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

// wrongPINDelay is how long the test double that observes wrong PINs
// takes: the writer calls it before it answers pin_invalid, so the
// balance endpoint's processing time must cover at least this much.
const wrongPINDelay = 50 * time.Millisecond

// TestServiceStats starts the wallet (walletd.Start, through wallettest),
// asks for an unknown account (not_found) and a balance with the wrong PIN
// (pin_invalid), and reads the service's STATS as `nats micro stats
// wallet` does: each endpoint's data counts the refusal, and its
// processing time covers the handler's work and the writer's answer, not
// only the dispatch micro itself times.
func TestServiceStats(t *testing.T) {
	w := wallettest.Start(t, func(c *wallet.Config) {
		c.ObservePIN = func(channel, result string) { time.Sleep(wrongPINDelay) }
	})
	ctx := context.Background()
	phone := w.Customer("Amina", "2580", 0)
	if _, err := w.Client.Lookup(ctx, "0799999999"); wallet.ErrorCode(err) != wallet.CodeNotFound {
		t.Fatalf("lookup of an unknown phone: got %v, want not_found", err)
	}
	if _, err := w.Client.Balance(ctx, phone, "1111"); wallet.ErrorCode(err) != wallet.CodePINInvalid {
		t.Fatalf("balance with a wrong PIN: got %v, want pin_invalid", err)
	}

	stats := serviceStats(t, w.Conn, w.Prefix)
	tests := []struct {
		subject       string
		wantErrors    int
		wantLastError wallet.Code
		wantTimeMin   time.Duration
	}{
		{natsapi.SubjectLookup, 1, wallet.CodeNotFound, 0},
		{natsapi.SubjectBalance, 1, wallet.CodePINInvalid, wrongPINDelay},
	}
	for _, tt := range tests {
		t.Run(tt.subject, func(t *testing.T) {
			e := stats[natsrpc.Subject(w.Prefix, tt.subject)]
			if e == nil {
				t.Fatalf("no stats for %s", tt.subject)
			}
			var got natsrpc.AnswerStats
			if err := json.Unmarshal(e.Data, &got); err != nil {
				t.Fatalf("data %s: %v", e.Data, err)
			}
			if got.NumAnswers != 1 || got.NumErrors != tt.wantErrors || !strings.HasPrefix(got.LastError, string(tt.wantLastError)+":") {
				t.Errorf("got %d answers, %d errors, last %q; want 1, %d, %s", got.NumAnswers, got.NumErrors, got.LastError, tt.wantErrors, tt.wantLastError)
			}
			if got.ProcessingTime < tt.wantTimeMin || got.ProcessingTime < e.ProcessingTime || got.ProcessingTime <= 0 {
				t.Errorf("got processing time %v (micro's own %v); want at least %v and micro's", got.ProcessingTime, e.ProcessingTime, tt.wantTimeMin)
			}
			if e.NumRequests != 1 || e.NumErrors > got.NumErrors {
				t.Errorf("got micro's %d requests, %d errors; want 1 request and at most the answered errors", e.NumRequests, e.NumErrors)
			}
		})
	}
}

// serviceStats asks $SRV.STATS.wallet, as `nats micro stats wallet` does,
// and returns the endpoints of the wallet serving prefix by subject: the
// server may hold other tests' wallets.
func serviceStats(t *testing.T, nc *nats.Conn, prefix string) map[string]*micro.EndpointStats {
	t.Helper()
	subject, err := micro.ControlSubject(micro.StatsVerb, "wallet", "")
	if err != nil {
		t.Fatal(err)
	}
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("no stats of the wallet under %s: %v", prefix, err)
		}
		var s micro.Stats
		if err := json.Unmarshal(m.Data, &s); err != nil {
			t.Fatal(err)
		}
		bySubject := map[string]*micro.EndpointStats{}
		for _, e := range s.Endpoints {
			bySubject[e.Subject] = e
		}
		if bySubject[natsrpc.Subject(prefix, natsapi.SubjectLookup)] != nil {
			return bySubject
		}
	}
}
