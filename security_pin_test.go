package main

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kibubu/kibubu/deploy/natsserver"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// TestSecurityOperatorPrintsStartKey: kibubu agent add and kibubu pin reset
// print the one-time start key the account's first PIN needs; the key reset
// printed works and the one before it does not.
func TestSecurityOperatorPrintsStartKey(t *testing.T) {
	embeddedOnly(t)
	cfg := testConfig(t, "")
	startMain(t, &Main{Config: cfg})
	keyRE := regexp.MustCompile(`(?m)^start key (\d{6}): give it only to the account's owner`)
	out, err := cli(t, "agent", "add", "--data", cfg.Data, "--phone", "0712000001", "--name", "Duka")
	if err != nil {
		t.Fatal(err)
	}
	first := keyRE.FindStringSubmatch(out)
	if first == nil {
		t.Fatalf("agent add printed %q, want a start key", out)
	}
	out, err = cli(t, "pin", "reset", "--data", cfg.Data, "--reason", "owner came in with ID", "0712000001")
	if err != nil {
		t.Fatal(err)
	}
	second := keyRE.FindStringSubmatch(out)
	if second == nil || second[1] == first[1] {
		t.Fatalf("pin reset printed %q, want a new start key", out)
	}

	info, _ := natsserver.ReadInfo(cfg.Data)
	nc, err := nats.Connect(info.URL, nats.UserInfo(info.User, info.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := natsapi.NewClient(nc, 5*time.Second)
	ctx := context.Background()
	if _, err := c.SetPIN(ctx, "0712000001", "2468"); wallet.ErrorCode(err) != wallet.CodeStartKeyRequired {
		t.Fatalf("a first PIN without the key: got %v, want %s", err, wallet.CodeStartKeyRequired)
	}
	if _, err := c.SetPINWithStartKey(ctx, "0712000001", first[1], "2468"); wallet.ErrorCode(err) != wallet.CodeStartKeyInvalid {
		t.Fatalf("the key agent add printed, after the reset: got %v, want %s", err, wallet.CodeStartKeyInvalid)
	}
	if _, err := c.SetPINWithStartKey(ctx, "0712000001", second[1], "2468"); err != nil {
		t.Fatalf("the key pin reset printed: %v", err)
	}
	if out, err := cli(t, "account", "show", "--data", cfg.Data, "0712000001"); err != nil || !regexp.MustCompile(`pin +set\n`).MatchString(out) {
		t.Fatalf("account show printed %q, %v; want the PIN set", out, err)
	}
}
