package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// TestSecurityCustomerOpenStartKey (issue 11, High 2: the first PIN) opens
// customers as an operator, on wallet.v1.customer.open and with `kibubu
// customer open`, and dials first as a gateway would: the first PIN needs
// the start key the operator got (printed, and sent by SMS to the phone),
// so a stranger who dials first cannot choose it.
func TestSecurityCustomerOpenStartKey(t *testing.T) {
	for _, db := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return storetest.Postgres(t) }},
	} {
		t.Run(db.name, func(t *testing.T) { testCustomerOpenStartKey(t, db.dsn(t)) })
	}
}

func testCustomerOpenStartKey(t *testing.T, dsn string) {
	cfg := testConfig(t, dsn)
	m := startMain(t, &Main{Config: cfg})
	ctx := context.Background()
	op, gw := embeddedUsers(t, m, cfg.Data)
	opClient := natsapi.NewClient(op, 0, testOperator)
	gwClient := natsapi.NewClient(gw, 0)

	// firstDial sets the first PIN of phone as whoever dials first does: a
	// stranger without the key is refused, the holder of key is not.
	firstDial := func(t *testing.T, phone, key string) {
		t.Helper()
		if _, err := gwClient.SetPIN(ctx, phone, "2468"); wallet.ErrorCode(err) != wallet.CodeStartKeyRequired {
			t.Fatalf("the first dial without the start key: %v, want %s", err, wallet.CodeStartKeyRequired)
		}
		if p, err := gwClient.Lookup(ctx, phone); err != nil || p.HasPIN || !p.NeedsStartKey {
			t.Fatalf("after the refusal: %+v, %v; want no PIN and the start key needed", p, err)
		}
		if _, err := gwClient.SetPINWithStartKey(ctx, phone, key, "3907"); err != nil {
			t.Fatalf("the first PIN with the start key: %v", err)
		}
		if _, err := gwClient.Balance(ctx, phone, "3907"); err != nil {
			t.Fatalf("the PIN set with the key: %v", err)
		}
	}

	for _, c := range []struct {
		name  string
		phone string
		open  func(phone string) (*wallet.Account, error)
		tier  wallet.Tier
	}{
		{"full tier on customer.open", "0712500001", func(phone string) (*wallet.Account, error) {
			return opClient.Register(ctx, natsapi.RegisterRequest{Phone: phone, Name: "Chebet Full", Tier: wallet.TierFull})
		}, wallet.TierFull},
		{"basic tier on customer.open", "0712500002", func(phone string) (*wallet.Account, error) {
			return opClient.OpenCustomer(ctx, natsapi.RegisterRequest{Phone: phone, Name: "Chebet Basic"})
		}, wallet.TierBasic},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := c.open(c.phone)
			if err != nil {
				t.Fatal(err)
			}
			if a.Tier != c.tier || len(a.StartKey) != wallet.StartKeyDigits || !a.NeedsStartKey || a.HasPIN {
				t.Fatalf("opened %+v; want tier %d, a %d-digit start key and no PIN", a, c.tier, wallet.StartKeyDigits)
			}
			firstDial(t, a.Phone, a.StartKey)
		})
	}

	t.Run("kibubu customer open", func(t *testing.T) {
		out, err := cli(t, "customer", "open", "--data", cfg.Data, "--phone", "0712500003", "--name", "Daudi Kamau", "--tier", "full")
		if err != nil {
			t.Fatal(err)
		}
		key := regexp.MustCompile(`(?m)^start key (\d{6}): give it only to the account's owner`).FindStringSubmatch(out)
		if !strings.Contains(out, "customer +254712500003 opened: Daudi Kamau, tier full") || key == nil {
			t.Fatalf("customer open printed %q, want the account and its start key", out)
		}
		// The key was sent to the phone by SMS, through the notice path an
		// agent's takes (whose stored text is removed once sent).
		where := []string{"--data", cfg.Data}
		if cfg.DB != "" {
			where = []string{"--db", cfg.DB}
		}
		deadline := time.Now().Add(smsWait)
		for {
			sms, err := cli(t, append([]string{"sms", "outbox", "--phone", "0712500003"}, where...)...)
			if err != nil {
				t.Fatal(err)
			}
			if regexp.MustCompile(`\+254712500003 +sent +outbox .*\[start key SMS`).MatchString(sms) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("outbox of +254712500003:\n%s\nwant the start key SMS, sent", sms)
			}
			time.Sleep(50 * time.Millisecond)
		}
		firstDial(t, "0712500003", key[1])
	})
}
