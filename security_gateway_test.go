package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/deploy/natsserver"
	"github.com/kibubu/kibubu/gateway"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// embeddedUsers connects to m's embedded NATS (data dir data) as its
// operator user and as its gateway user (with gwOpts, e.g. a violations
// recorder); both close when the test ends.
func embeddedUsers(t *testing.T, m *Main, data string, gwOpts ...nats.Option) (op, gw *nats.Conn) {
	t.Helper()
	info, err := natsserver.ReadInfo(data)
	if err != nil {
		t.Fatal(err)
	}
	op, err = nats.Connect(m.NATSURL(), nats.UserInfo(info.User, info.Password))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(op.Close)
	gw, err = nats.Connect(m.NATSURL(), append([]nats.Option{nats.UserInfo(info.GatewayUser, info.GatewayPassword)}, gwOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Close)
	return op, gw
}

// TestSecurityGatewayCredentials (issue 11, finding 5: the gateway's NATS
// user can do more than a gateway needs) connects as the embedded NATS's
// gateway user and tries what a gateway must not: create or change a
// stream or bucket, register a full-tier account, and post under a key of
// the wallet's own. Each is refused (a permission violation, or the
// wallet's refusal); what a gateway does need still works.
func TestSecurityGatewayCredentials(t *testing.T) {
	embeddedOnly(t)
	c := testConfig(t, "")
	m := startMain(t, &Main{Config: c})
	ctx := context.Background()
	refused := make(violations, 64)
	op, gw := embeddedUsers(t, m, c.Data, refused.option())
	opClient := natsapi.NewClient(op, 0, testOperator)
	gwClient := natsapi.NewClient(gw, 0)
	js, err := jetstream.New(gw)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("streams and buckets are the wallet's", func(t *testing.T) {
		// Binding works: the wallet made them all before it served.
		if _, err := sessions.OpenBucket(ctx, js, "", c.SessionTTL); err != nil {
			t.Errorf("gateway binds the session bucket: %v", err)
		}
		if _, err := gateway.OpenIdempotencyBucket(ctx, js, ""); err != nil {
			t.Errorf("gateway binds the idempotency bucket: %v", err)
		}
		// Creating or changing one is refused.
		short, cancel := context.WithTimeout(ctx, refusedTimeout)
		defer cancel()
		if _, err := sessions.EnsureBucket(short, js, "", time.Hour, 1); err == nil {
			t.Errorf("gateway updated the session bucket")
		}
		for _, stream := range []string{"KV_" + sessions.BucketName, "KV_" + gateway.IdempotencyBucket, notifyapi.StreamName(""), natsapi.StreamName, "KV_NEW"} {
			for _, op := range []string{"CREATE", "UPDATE"} {
				s := "$JS.API.STREAM." + op + "." + stream
				if err := gw.Publish(s, []byte(`{}`)); err != nil {
					t.Fatal(err)
				}
				refused.await(t, "publish to", s)
			}
		}
	})

	t.Run("registration is the basic tier", func(t *testing.T) {
		a, err := gwClient.Register(ctx, natsapi.RegisterRequest{Phone: "0712300001", Name: "Amina"})
		if err != nil || a.Tier != wallet.TierBasic {
			t.Errorf("gateway self-registration = %+v, %v; want tier %d", a, err, wallet.TierBasic)
		}
		var got wallet.Account
		err = natsrpc.Request(ctx, gw, "the wallet", natsapi.SubjectRegister, natsapi.DefaultTimeout,
			json.RawMessage(`{"phone":"0712300002","name":"Baraka","tier":2}`), &got)
		if wallet.ErrorCode(err) != wallet.CodeInvalid {
			t.Errorf("gateway registration at tier 2 = %+v, %v; want %s", got, err, wallet.CodeInvalid)
		}
		refusedClient := natsapi.NewClient(gw, refusedTimeout)
		if _, err := refusedClient.Register(ctx, natsapi.RegisterRequest{Phone: "0712300003", Name: "Chebet", Tier: wallet.TierFull}); wallet.ErrorCode(err) != wallet.CodeUnavailable {
			t.Errorf("gateway full-tier opening: %v, want %s (no wallet sees it)", err, wallet.CodeUnavailable)
		}
		refused.await(t, "publish to", natsapi.SubjectCustomerOpen)
		if _, err := opClient.Lookup(ctx, "0712300002"); wallet.ErrorCode(err) != wallet.CodeNotFound {
			t.Errorf("the refused registration opened an account: %v", err)
		}
		if a, err := opClient.Register(ctx, natsapi.RegisterRequest{Phone: "0712300003", Name: "Chebet", Tier: wallet.TierFull}); err != nil || a.Tier != wallet.TierFull {
			t.Errorf("operator full-tier opening = %+v, %v", a, err)
		}
	})

	t.Run("keys are in the gateway's namespace", func(t *testing.T) {
		agent, err := opClient.AddAgent(ctx, "0712300010", "Duka")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := opClient.SetPINWithStartKey(ctx, agent.Phone, agent.StartKey, "1357"); err != nil {
			t.Fatal(err)
		}
		if _, err := opClient.IssueFloat(ctx, agent.Number, 100_000, "GW-A"); err != nil {
			t.Fatal(err)
		}
		cust, err := gwClient.Register(ctx, natsapi.RegisterRequest{Phone: "0712300011", Name: "Dalia"})
		if err != nil {
			t.Fatal(err)
		}
		// The gateway takes the key of the operator's next float issue.
		if _, err := gwClient.Transfer(ctx, wallet.TransferRequest{Key: "float:GW-B", Kind: wallet.TransferDeposit, From: agent.Phone, To: cust.Phone, Amount: 1_000, PIN: "1357"}); err != nil {
			t.Fatalf("gateway deposit: %v", err)
		}
		before, err := opClient.Show(ctx, agent.Number)
		if err != nil {
			t.Fatal(err)
		}
		r, err := opClient.IssueFloat(ctx, agent.Number, 50_000, "GW-B")
		if err != nil || r.Replayed || r.Transfer.Kind != wallet.TransferFloat || r.Balance != before.Balance+50_000 {
			t.Errorf("operator float issue GW-B after the gateway used its key = %+v, %v; want a first issue, balance %d", r, err, before.Balance+50_000)
		}
	})
}
