package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/simswap/camaratest"
)

// simSwapFile writes a --simswap-config file for the fake network net,
// covering every Kenyan mobile number, checking transfers above KSh 1,000,
// failing closed, without a cache (the test swaps a SIM checked a moment
// before).
func simSwapFile(t *testing.T, net *camaratest.Server) string {
	t.Helper()
	path, err := net.WriteConfig(t.TempDir(), "+2547", "1000", "cache_ttl = \"-1s\"\n[policy]\ntransfer = \"closed\"")
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSIMSwapOverUSSD: kibubu serve with --simswap-config; a swapped SIM
// cannot send above the amount over USSD (the screen says why, in the
// user's language) or SMS, nor change its PIN, but can send below it; an
// operator cannot reset its PIN; clear-simswap lets the large send through.
func TestSIMSwapOverUSSD(t *testing.T) {
	net := camaratest.New(nil)
	t.Cleanup(net.Close)
	cfg := testConfig(t, "")
	cfg.SIMSwapConfig = simSwapFile(t, net)
	m := startMain(t, &Main{Config: cfg})
	c := natsapi.NewClient(m.Conn(), 0, testOperator)
	ctx := context.Background()
	floatAgent(t, c)
	jane, bob := "+254722000001", "+254733000001"
	registered(t, c, jane, 5000_00)
	registered(t, c, bob, 0)
	net.SetSwap(jane, time.Now().Add(-time.Hour))

	out := dial(t, cfg.Data, "0722000001", "sw", "1", "0733000001", "2000", "1", "3907")
	if want := render("sw", "error.sim_swap_hold", nil); !shows(out, want) {
		t.Fatalf("large send on a swapped SIM: want %q on the screen:\n%s", want, out)
	}
	out = dial(t, cfg.Data, "0722000001", "sw", "1", "0733000001", "500", "1", "3907")
	if a, err := c.Show(ctx, bob); err != nil || a.Balance != 500_00 {
		t.Fatalf("small send on a swapped SIM: bob %+v, %v; want KSh 500\n%s", a, err, out)
	}
	out = dial(t, cfg.Data, "0722000001", "sw", "5", "3", "3907", "9146")
	if want := render("sw", "error.sim_swap_hold", nil); !shows(out, want) {
		t.Fatalf("PIN change on a swapped SIM: want %q on the screen:\n%s", want, out)
	}
	// Over SMS, the same refusal; and an operator cannot reset the PIN
	// (its start key would go to the new SIM) until the hold is cleared.
	if _, err := cli(t, "sms", "send", "--data", cfg.Data, "--phone", jane, "send", "0733000001", "2000"); err != nil {
		t.Fatal(err)
	}
	reply, err := cli(t, "sms", "send", "--data", cfg.Data, "--phone", jane, "3907")
	if err != nil || !shows(reply, render("en", "error.sim_swap_hold", nil)) && !shows(reply, render("sw", "error.sim_swap_hold", nil)) {
		t.Fatalf("large send by SMS on a swapped SIM: got %q, %v; want the SIM-swap refusal", reply, err)
	}
	if _, err := c.ResetPIN(ctx, jane); wallet.ErrorCode(err) != wallet.CodeSIMSwapHold {
		t.Fatalf("pin reset of a held account: got %v; want %s", err, wallet.CodeSIMSwapHold)
	}
	if _, err := cli(t, "account", "clear-simswap", "--data", cfg.Data, "--reason", "ID checked", jane); err != nil {
		t.Fatal(err)
	}
	out = dial(t, cfg.Data, "0722000001", "sw", "1", "0733000001", "2000", "1", "3907")
	if a, err := c.Show(ctx, bob); err != nil || a.Balance != 2500_00 {
		t.Fatalf("large send after the clearance: bob %+v, %v; want KSh 2,500\n%s", a, err, out)
	}
	if a, err := c.Show(ctx, jane); err != nil || a.Status != wallet.StatusActive {
		t.Fatalf("jane %+v, %v; want active", a, err)
	}
}

// TestSIMSwapConfigErrors: a bad --simswap-config stops the start with a
// message naming the flag and the setting.
func TestSIMSwapConfigErrors(t *testing.T) {
	net := camaratest.New(nil)
	t.Cleanup(net.Close)
	good := simSwapFile(t, net)
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, from, to, want string }{
		{"above not an amount", `above = "1000"`, `above = "lots"`, `--simswap-config ` + "%s" + `: above "lots"`},
		{"no network", `[[network]]`, `[[networks]]`, `unknown setting "networks`},
		{"missing file", "", "", "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "")
			cfg.SIMSwapConfig = filepath.Join(t.TempDir(), "simswap.toml")
			if tc.from != "" {
				if err := os.WriteFile(cfg.SIMSwapConfig, []byte(strings.Replace(string(b), tc.from, tc.to, 1)), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			want := tc.want
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, cfg.SIMSwapConfig)
			}
			if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "--simswap-config") {
				t.Errorf("got %v; want an error from --simswap-config with %q", err, want)
			}
		})
	}
}
