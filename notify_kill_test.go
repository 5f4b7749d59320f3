package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kibubu/kibubu/notify"
	notifystore "github.com/kibubu/kibubu/notify/store"
	"github.com/kibubu/kibubu/notify/twiliotest"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsapi/natstest"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// Bounds of the notifier's crash test.
const (
	notifyKillRounds  = 3
	notifyKillPeople  = 10
	notifyKillSends   = 120
	notifyKillTwilio  = 40 * time.Millisecond // the fake's pace, so kills land between Twilio's answer and the update
	notifyKillTimeout = 90 * time.Second      // for everything to be sent at the end
)

// TestNotifierSurvivesKill9 runs `kibubu notify` as a child process against
// a fake Twilio and a wallet posting transfers, and kills it with SIGKILL
// several times while it sends, some of Twilio's answers lost on the way
// back as well. After the last restart every receipt of every transfer has
// reached Twilio exactly once: none lost, none doubled, each recorded with
// the message id Twilio gave it.
func TestNotifierSurvivesKill9(t *testing.T) {
	bin, err := buildKibubu()
	if err != nil {
		t.Fatal(err)
	}
	ns := natstest.StartTCP(t)
	dsn := storetest.DSN(t)
	wc := testConfig(t, dsn)
	wc.NATS, wc.NATSPrefix = ns.URL(), ns.Prefix
	startMain(t, &Main{Config: wc, Role: RoleWallet})

	fake := twiliotest.New(twiliotest.Config{})
	defer fake.Close()
	fake.SetDelay(notifyKillTwilio)
	var log strings.Builder
	p := &walletProcess{t: t, bin: bin, log: &log, args: []string{"notify", "--nats", ns.URL(), "--nats-prefix", ns.Prefix,
		"--db", dsn, "--data", t.TempDir(), "--http", "127.0.0.1:0", "--log-level", "warn",
		"--sms-timeout", "1s", "--sms-rate", "1000", "--sms-rate-per-phone", "600"}}
	env := append(os.Environ(), "TWILIO_ACCOUNT_SID="+fake.AccountSID, "TWILIO_AUTH_TOKEN="+fake.AuthToken,
		"TWILIO_FROM=KIBUBU", "KIBUBU_TWILIO_API_URL="+fake.URL)
	start := func() {
		t.Helper()
		p.cmd = exec.Command(p.bin, p.args...)
		p.cmd.Env = env
		p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		if t.Failed() {
			t.Logf("notifier output:\n%s", log.String())
		}
	}()
	start()
	defer func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	}()

	ctx := context.Background()
	c := natsapi.NewClient(ns.Connect(), 0, natsapi.WithPrefix(ns.Prefix), testOperator)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	agent, err := c.AddAgent(ctx, "+254700300001", "Kill Test Agent")
	must(agent, err)
	must(c.SetPINWithStartKey(ctx, agent.Phone, agent.StartKey, "1357"))
	must(c.IssueFloat(ctx, agent.Number, 100_000_000, "KILL-FLOAT"))
	receipts := 2 // the agent's start key SMS, and the float's receipt to the agent
	phones := make([]string, notifyKillPeople)
	for i := range phones {
		phones[i] = fmt.Sprintf("+2547004%05d", i)
		// Self-registered: the first PIN needs no start key, so the only
		// start key SMS is the agent's.
		must(c.Register(ctx, natsapi.RegisterRequest{Phone: phones[i], Name: fmt.Sprint("Person ", i)}))
		must(c.SetPIN(ctx, phones[i], "2580"))
		must(c.Transfer(ctx, wallet.TransferRequest{Key: "nk-fund-" + phones[i], Kind: wallet.TransferDeposit, From: agent.Phone, To: phones[i], Amount: 1_000_000, PIN: "1357"}))
		receipts += 2
	}
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		rng := rand.New(rand.NewPCG(7, 7))
		for i := range notifyKillSends {
			from := rng.IntN(notifyKillPeople)
			to := (from + 1 + rng.IntN(notifyKillPeople-1)) % notifyKillPeople
			if _, err := c.Transfer(ctx, wallet.TransferRequest{Key: fmt.Sprint("nk-", i), Kind: wallet.TransferSend,
				From: phones[from], To: phones[to], Amount: int64(100 + rng.IntN(10_000)), PIN: "2580"}); err != nil {
				t.Errorf("send %d: %v", i, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	receipts += 2 * notifyKillSends

	for round := range notifyKillRounds {
		// Kill once Twilio has more, with an answer or two lost first.
		wctx, cancel := context.WithTimeout(ctx, notifyKillTimeout)
		_, err := fake.Wait(wctx, (round+1)*receipts/(notifyKillRounds+2))
		cancel()
		if err != nil {
			t.Fatalf("round %d: %v", round+1, err)
		}
		fake.DropNext(2)
		time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.cmd.Wait()
		t.Logf("round %d: killed the notifier with %d messages at Twilio", round+1, len(fake.Messages()))
		start()
	}
	<-sent

	wctx, cancel := context.WithTimeout(ctx, notifyKillTimeout)
	defer cancel()
	msgs, err := fake.Wait(wctx, receipts)
	if err != nil {
		t.Fatal(err)
	}
	// Let anything in doubt settle: the last claims are reconciled, not resent.
	db, err := store.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer closeGorm(db)
	st, err := notifystore.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	var rows []notify.Stored
	for {
		rows, err = st.List(ctx, notifystore.Filter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		settled := len(rows) == receipts
		for _, r := range rows {
			if r.Status != notify.StatusQueued {
				settled = false
			}
		}
		if settled {
			break
		}
		if wctx.Err() != nil {
			t.Fatalf("%d receipts recorded, want %d, not all queued at Twilio: %+v", len(rows), receipts, statusCounts(rows))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM the notifier exited with %v, want 0", err)
	}
	msgs = fake.Messages()
	bySID := map[string]twiliotest.Message{}
	bodies := map[string]int{}
	for _, m := range msgs {
		bySID[m.SID] = m
		bodies[m.To+" "+m.Body]++
	}
	for k, n := range bodies {
		if n != 1 {
			t.Errorf("Twilio got %d times: %s", n, k)
		}
	}
	if len(msgs) != receipts {
		t.Errorf("Twilio got %d messages, want %d receipts", len(msgs), receipts)
	}
	for _, r := range rows {
		m, ok := bySID[r.ProviderID]
		if strings.HasPrefix(r.Key, "secret:") { // the start key: its stored text is removed once sent
			if !ok || m.To != agent.Phone || !strings.Contains(m.Body, agent.StartKey) || strings.Contains(r.Text, agent.StartKey) {
				t.Errorf("start key SMS %s recorded as %q (%q), which Twilio has as %+v", r.Key, r.ProviderID, r.Text, m)
			}
			continue
		}
		if !ok || m.To != r.To || m.Body != r.Text {
			t.Errorf("receipt %s recorded as Twilio's %q, which Twilio has as %+v", r.Key, r.ProviderID, m)
		}
	}
}

func statusCounts(rows []notify.Stored) map[string]int {
	n := map[string]int{}
	for _, r := range rows {
		n[r.Status]++
	}
	return n
}
