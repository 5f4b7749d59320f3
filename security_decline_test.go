package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// TestSecurityDeclineNeedsPIN (issue 11, finding 5: the gateway's NATS
// user can decline approvals without a PIN) connects as the embedded
// NATS's gateway user and declines a customer's payment request and tab as
// a gateway would, with raw requests on the decline subject: without a
// PIN, with a wrong one (sent twice under one attempt key: it counts
// once), and for a frozen account with the right one. Each is refused and
// leaves the approval pending for the merchant; the right PIN declines it.
func TestSecurityDeclineNeedsPIN(t *testing.T) {
	for _, db := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return storetest.Postgres(t) }},
	} {
		t.Run(db.name, func(t *testing.T) { testDeclineNeedsPIN(t, db.dsn(t)) })
	}
}

func testDeclineNeedsPIN(t *testing.T, dsn string) {
	c := testConfig(t, dsn)
	m := startMain(t, &Main{Config: c})
	ctx := context.Background()
	op, gw := embeddedUsers(t, m, c.Data)
	opClient := natsapi.NewClient(op, 0, testOperator)
	gwClient := natsapi.NewClient(gw, 0)

	till, err := opClient.AddMerchant(ctx, "0712400001", "Duka la Juma", false)
	if err != nil {
		t.Fatal(err)
	}
	key, err := merchantapi.NewClient(opClient).CreateAPIKey(ctx, merchantapi.APIKeyRequest{Merchant: till.Number, Scopes: merchant.MerchantScopes})
	if err != nil {
		t.Fatal(err)
	}
	cust, err := gwClient.Register(ctx, natsapi.RegisterRequest{Phone: "0722400002", Name: "Amina Otieno"})
	if err != nil {
		t.Fatal(err)
	}
	const pin = "4826"
	if _, err := gwClient.SetPIN(ctx, cust.Phone, pin); err != nil {
		t.Fatal(err)
	}
	request := func(ref string) string {
		t.Helper()
		pr, err := merchantapi.NewClient(gwClient).CreatePaymentRequest(ctx, merchantapi.PaymentRequestCreate{Auth: key.Secret, Idempotency: ref,
			Phone: cust.Phone, Amount: 150_00, Reference: ref})
		if err != nil {
			t.Fatal(err)
		}
		return pr.ID
	}
	tab, err := merchantapi.NewClient(gwClient).OpenTab(ctx, merchantapi.TabOpenRequest{Auth: key.Secret, Idempotency: "tab-1", Phone: cust.Phone,
		Cap: 1_000_000, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// status is what the merchant sees of approval id.
	status := func(id string) string {
		t.Helper()
		if id == tab.ID {
			got, err := merchantapi.NewClient(gwClient).Tab(ctx, key.Secret, id)
			if err != nil {
				t.Fatal(err)
			}
			return string(got.Status)
		}
		got, err := merchantapi.NewClient(gwClient).PaymentRequest(ctx, key.Secret, id)
		if err != nil {
			t.Fatal(err)
		}
		return string(got.Status)
	}
	decline := func(body map[string]string) error {
		var got merchant.Approval
		raw, _ := json.Marshal(body)
		return natsrpc.Request(ctx, gw, "the wallet", merchantapi.SubjectDecline, natsapi.DefaultTimeout, json.RawMessage(raw), &got)
	}

	pr, frozen := request("INV-1"), request("INV-2")
	for _, c := range []struct {
		name      string
		id        string
		body      map[string]string
		want      wallet.Code
		triesLeft int // for a wrong PIN
	}{
		{"request, no PIN", pr, map[string]string{}, wallet.CodeInvalid, 0},
		{"request, empty PIN", pr, map[string]string{"pin": ""}, wallet.CodeInvalid, 0},
		{"request, wrong PIN", pr, map[string]string{"pin": "9999", "source": "ussd:test:1", "attempt": "hop-1"}, wallet.CodePINInvalid, 2},
		{"request, wrong PIN retried", pr, map[string]string{"pin": "9999", "source": "ussd:test:1", "attempt": "hop-1"}, wallet.CodePINInvalid, 2},
		{"tab, no PIN", tab.ID, map[string]string{}, wallet.CodeInvalid, 0},
		{"tab, wrong PIN", tab.ID, map[string]string{"pin": "9999", "source": "ussd:test:1", "attempt": "hop-2"}, wallet.CodePINInvalid, 1},
		{"tab, right PIN", tab.ID, map[string]string{"pin": pin}, "", 0},
		{"request, right PIN", pr, map[string]string{"pin": pin}, "", 0},
		{"request, declined again", pr, map[string]string{"pin": pin}, wallet.CodeInvalidState, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.body["phone"], c.body["id"] = cust.Phone, c.id
			err := decline(c.body)
			if got := wallet.ErrorCode(err); got != c.want {
				t.Fatalf("gateway decline = %v, want %q", err, c.want)
			}
			want := "pending"
			switch c.want {
			case wallet.CodePINInvalid:
				var we *wallet.Error
				if e, ok := err.(*wallet.Error); ok {
					we = e
				}
				if we == nil || we.TriesLeft == nil || *we.TriesLeft != c.triesLeft {
					t.Errorf("wrong PIN error %#v, want %d tries left", err, c.triesLeft)
				}
			case "", wallet.CodeInvalidState:
				want = "declined"
			}
			if got := status(c.id); got != want {
				t.Errorf("the merchant sees %s, want %s", got, want)
			}
		})
	}

	t.Run("frozen account", func(t *testing.T) {
		if _, err := opClient.SetStatus(ctx, cust.Phone, wallet.StatusFrozen); err != nil {
			t.Fatal(err)
		}
		err := decline(map[string]string{"phone": cust.Phone, "id": frozen, "pin": pin})
		if got := wallet.ErrorCode(err); got != wallet.CodeAccountFrozen {
			t.Errorf("decline from a frozen account = %v, want %s", err, wallet.CodeAccountFrozen)
		}
		if got := status(frozen); got != "pending" {
			t.Errorf("the merchant sees %s, want pending", got)
		}
	})
}
