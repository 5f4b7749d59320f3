package main

import (
	"net/http"
	"testing"

	"github.com/kibubu/kibubu/gateway/aggregator"
	"github.com/kibubu/kibubu/gateway/simulator/simulatortest"
	"github.com/kibubu/kibubu/wallet"
)

// TestSimulatorInBrowser drives the phone simulator in a real headless
// Chromium against the whole program: an agent opened by an operator sets
// its PIN with the start key agent add printed, a customer registers, the
// agent deposits cash for her, she sends money to a second customer, and
// each phone's SMS inbox shows its receipts. The screenshots are kept with
// `go test -artifacts -outputdir DIR`.
func TestSimulatorInBrowser(t *testing.T) {
	embeddedOnly(t)
	cfg, m, agent, startKey := serveWithAgent(t)
	if _, err := cli(t, "float", "issue", "--data", cfg.Data, "--agent", agent, "--amount", "50000", "--ref", "BANK-1"); err != nil {
		t.Fatal(err)
	}
	page := simulatortest.Open(t, aggregator.ServerURL(m.HTTPAddr()))
	page.Screenshot("simulator-empty")
	for _, p := range []string{"0712000001", "0722000001", "0733000001"} {
		page.AddPhone(p)
	}
	duka, jane, bob := page.Phone("+254712000001"), page.Phone("+254722000001"), page.Phone("+254733000001")

	// The start key's SMS is blanked once sent; the float receipt stays.
	duka.InboxShows("float issued to you")
	duka.Session(render("en", "ussd.pin.start_key", map[string]any{"Name": "Duka", "Digits": wallet.StartKeyDigits}), "*334#")
	if !duka.Masked() {
		t.Fatal("the start key's field is not masked")
	}
	duka.Session(render("en", "ussd.pin.set", nil), startKey, "2468", "2468")

	jane.Session(render("en", "ussd.main.unregistered", nil), "*334#")
	if jane.Masked() {
		t.Fatal("a menu's field is masked")
	}
	jane.Session(render("en", "ussd.register.done", map[string]any{"Name": "Jane Doe"}), "1", "Jane", "Doe", "3907", "3907")
	bob.Session(render("en", "ussd.register.done", map[string]any{"Name": "Bob Otieno"}), "*334#", "1", "Bob", "Otieno", "4826", "4826")

	duka.Session(render("en", "ussd.pin.enter", nil), "*334#", "1", "0722000001", "1000", "1")
	if !duka.Masked() {
		t.Fatal("the agent's PIN field is not masked")
	}
	page.Screenshot("simulator-pin")
	duka.Session("deposited to Jane Doe", "2468")
	jane.Session(render("en", "ussd.pin.enter", nil), "*334#", "1", "0733000001", "250", "1")
	jane.Session("Bob Otieno", "3907")

	jane.InboxShows("deposited by agent", "sent to Bob Otieno")
	bob.InboxShows("You have received", "from Jane Doe")
	duka.InboxShows("deposited to Jane Doe")
	page.Screenshot("simulator")
}

// TestSimulatorMounted checks where the command serves the simulator: on a
// loopback listener by default, not on one facing the network, unless
// --simulator says so (a training environment).
func TestSimulatorMounted(t *testing.T) {
	embeddedOnly(t)
	cases := []struct {
		name   string
		args   []string
		status int
	}{
		{"loopback", []string{"--http", "127.0.0.1:0"}, http.StatusOK},
		{"every interface", []string{"--http", "0.0.0.0:0", "--ussd-allow-unauthenticated"}, http.StatusNotFound},
		{"every interface, --simulator", []string{"--http", "0.0.0.0:0", "--ussd-allow-unauthenticated", "--simulator"}, http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, "")
			if err := newTestFlagSet(&cfg).Parse(c.args); err != nil {
				t.Fatal(err)
			}
			m := startMain(t, &Main{Config: cfg})
			if status, body := get(t, aggregator.ServerURL(m.HTTPAddr())+"/simulator?phone=0712000001"); status != c.status {
				t.Fatalf("GET /simulator: %d %s, want %d", status, body, c.status)
			}
		})
	}
}
