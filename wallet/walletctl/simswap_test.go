package walletctl_test

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/simswap"
	"github.com/kibubu/kibubu/wallet/simswap/camaratest"
	"github.com/kibubu/kibubu/wallet/walletctl"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

// TestAccountClearSIMSwap: over NATS, a swapped SIM's large send is
// refused and holds the account; clear-simswap refuses an account that is
// not held, clears a held one (audited with the operator's reason), and
// the send then goes; an unfreeze refuses the held account.
func TestAccountClearSIMSwap(t *testing.T) {
	net := camaratest.New(nil)
	t.Cleanup(net.Close)
	checker, err := simswap.New(simswap.Config{CacheTTL: -1, Networks: []simswap.Network{{Name: "fake", BaseURL: net.URL,
		TokenURL: net.TokenURL(), ClientID: net.ClientID, ClientSecret: net.ClientSecret, Prefixes: []string{"+2547"}}}},
		simswap.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	w := wallettest.Start(t, func(c *wallet.Config) { c.SIMSwap, c.SIMSwapAbove = checker, 1000_00 })
	ctx := context.Background()
	victim, friend := w.Customer("Victim Test", "2580", 5000_00), w.Customer("Friend Test", "2580", 0)
	net.SetSwap(victim, time.Now().Add(-time.Hour))
	send := func(key string) error {
		_, err := w.Client.Transfer(ctx, wallet.TransferRequest{Key: key, Kind: wallet.TransferSend, From: victim, To: friend, Amount: 2000_00, PIN: "2580"})
		return err
	}
	if err := send("swapped-1"); wallet.ErrorCode(err) != wallet.CodeSIMSwapHold {
		t.Fatalf("send on a swapped SIM: got %v; want %s", err, wallet.CodeSIMSwapHold)
	}

	clear := func(phone string) (string, error) {
		var out strings.Builder
		o := &walletctl.Conn{Out: &out, Dial: func() (*natsapi.Client, error) { return w.Client, nil }}
		octx := natsapi.WithOperator(ctx, natsapi.Operator{Actor: "wanjiru", Reason: "ID checked at the shop"})
		err := walletctl.AccountClearSIMSwap(flag.NewFlagSet("clear-simswap", flag.ContinueOnError))(octx, o, []string{phone})
		return out.String(), err
	}
	if _, err := clear(friend); err == nil || !strings.Contains(err.Error(), "not held for a SIM swap") {
		t.Errorf("clear an account not held: got %v; want a refusal", err)
	}
	// An unfreeze does not clear a hold (and records nothing).
	var unfrozen strings.Builder
	o := &walletctl.Conn{Out: &unfrozen, Dial: func() (*natsapi.Client, error) { return w.Client, nil }}
	octx := natsapi.WithOperator(ctx, natsapi.Operator{Actor: "wanjiru", Reason: "customer called"})
	err = walletctl.AccountStatus(wallet.StatusActive)(flag.NewFlagSet("unfreeze", flag.ContinueOnError))(octx, o, []string{victim})
	if err == nil || !strings.Contains(err.Error(), "clear-simswap") {
		t.Errorf("unfreeze a held account: got %q, %v; want a refusal naming clear-simswap", unfrozen.String(), err)
	}
	out, err := clear(victim)
	if err != nil || !strings.Contains(out, "SIM-swap hold cleared") {
		t.Fatalf("clear: got %q, %v", out, err)
	}
	if err := send("swapped-1"); err != nil {
		t.Fatalf("send after the clearance: %v", err)
	}
	recs, err := w.Service.AuditLog(ctx, wallet.AuditQuery{Targets: []string{victim}, Limit: wallet.AuditPageMax})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		if r.Action != "customer.open" { // the account's opening, by the test harness
			got = append(got, r.Actor+" "+r.Action+" "+r.Outcome+" "+r.Reason)
		}
	}
	want := []string{
		"wallet:simswap account.simswap_hold ok ",
		"wanjiru account.status requested ID checked at the shop",
		"wallet:simswap account.simswap_clear ok ",
		"wanjiru account.status ok ID checked at the shop",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got audit records\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
