package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsapi/natstest"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// Bounds of the crash test: long enough that kills land mid-batch, short
// enough for CI.
const (
	killRounds      = 3
	killLoadClients = 12
	killPeople      = 20
	readyTimeout    = 30 * time.Second
	attemptsMax     = 300 // retries of one key while the wallet is down
	killProgress    = 200 // transfers acknowledged between a restart and the next kill
	clientTimeout   = time.Second
)

// buildKibubu builds the command once per test binary run.
var buildKibubu = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "kibubu-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "kibubu")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// walletProcess is `kibubu wallet` run as a child process.
type walletProcess struct {
	t    *testing.T
	bin  string
	args []string
	cmd  *exec.Cmd
	log  *strings.Builder
}

func (p *walletProcess) start() {
	p.t.Helper()
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
}

// TestWalletSurvivesKill9 runs the built binary as `kibubu wallet`, drives
// transfers at it through NATS from many clients, and kills it with SIGKILL
// several times mid-load. Clients retry unanswered commands with the same
// key, as the gateway does. After each restart `kibubu ledger check`
// passes; at the end every acknowledged transfer is stored exactly once
// under its key, nothing unacknowledged is stored, and SIGTERM stops the
// wallet cleanly.
func TestWalletSurvivesKill9(t *testing.T) {
	bin, err := buildKibubu()
	if err != nil {
		t.Fatal(err)
	}
	ns := natstest.StartTCP(t)
	dsn := storetest.DSN(t)
	var log strings.Builder
	p := &walletProcess{t: t, bin: bin, log: &log, args: []string{"wallet", "--nats", ns.URL(), "--nats-prefix", ns.Prefix,
		"--db", dsn, "--data", t.TempDir(), "--http", "127.0.0.1:0", "--log-level", "warn"}}
	defer func() {
		if t.Failed() {
			t.Logf("wallet output:\n%s", log.String())
		}
	}()
	p.start()
	defer func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	}()
	opt := natsapi.WithPrefix(ns.Prefix)
	c := natsapi.NewClient(ns.Connect(), clientTimeout, opt, testOperator)
	ctx := context.Background()
	ready := func() {
		t.Helper()
		deadline := time.Now().Add(readyTimeout)
		for {
			if _, err := c.Tariff(ctx); err == nil {
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("wallet not ready: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	ready()

	agent, err := c.AddAgent(ctx, "+254700200001", "Kill Test Agent")
	if err != nil {
		t.Fatal(err)
	}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.SetPINWithStartKey(ctx, agent.Phone, agent.StartKey, "1357"))
	must(c.IssueFloat(ctx, agent.Number, 100_000_000, "KILL-FLOAT"))
	phones := make([]string, killPeople)
	for i := range phones {
		phones[i] = fmt.Sprintf("+2547001%05d", i)
		a, err := c.Register(ctx, natsapi.RegisterRequest{Phone: phones[i], Name: fmt.Sprint("Person ", i), Tier: wallet.TierFull})
		must(a, err)
		must(c.SetPINWithStartKey(ctx, phones[i], a.StartKey, "2580"))
		must(c.Transfer(ctx, wallet.TransferRequest{Key: "kill-fund-" + phones[i], Kind: wallet.TransferDeposit, From: agent.Phone, To: phones[i], Amount: 1_000_000, PIN: "1357"}))
	}

	var mu sync.Mutex
	acked := map[string]string{} // key → transaction id
	refused := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for n := range killLoadClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(n), 99))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				from, to := rng.IntN(killPeople), rng.IntN(killPeople)
				if from == to {
					continue
				}
				req := wallet.TransferRequest{Key: fmt.Sprintf("kill-%d-%d", n, i), Kind: wallet.TransferSend,
					From: phones[from], To: phones[to], Amount: int64(1 + rng.IntN(300_000)), PIN: "2580"}
				for attempt := 1; ; attempt++ {
					r, err := c.Transfer(ctx, req)
					code := wallet.ErrorCode(err)
					mu.Lock()
					switch code {
					case "":
						acked[req.Key] = r.Transfer.Ref
					case wallet.CodeInsufficientFunds:
						refused[req.Key] = true
					}
					mu.Unlock()
					if code != wallet.CodeUnavailable {
						if code != "" && code != wallet.CodeInsufficientFunds {
							t.Errorf("%s: %v", req.Key, err)
						}
						break
					}
					if attempt == attemptsMax {
						t.Errorf("%s: still unavailable after %d attempts", req.Key, attempt)
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}

	check := func() {
		t.Helper()
		out, err := exec.Command(bin, "ledger", "check", "--nats", ns.URL(), "--nats-prefix", ns.Prefix).CombinedOutput()
		if err != nil {
			t.Fatalf("kibubu ledger check: %v\n%s", err, out)
		}
	}
	ackedCount := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	// progress waits until the load has moved on since the last restart
	// (clients whose request died with the wallet wait out their timeout
	// first), so that every kill lands in the middle of live traffic.
	progress := func(from int) {
		t.Helper()
		deadline := time.Now().Add(readyTimeout)
		for ackedCount() < from+killProgress {
			if time.Now().After(deadline) {
				t.Fatalf("no progress after a restart: %d acknowledged", ackedCount())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for round := range killRounds {
		progress(ackedCount())
		time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond)
		before := ackedCount()
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.cmd.Wait()
		p.start()
		ready()
		check()
		t.Logf("round %d: killed after %d acknowledged transfers; restarted; ledger check passed", round+1, before)
	}
	progress(ackedCount())
	close(stop)
	wg.Wait()

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM the wallet exited with %v, want 0", err)
	}

	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var rows []struct {
		IdemKey string
		ID      int64
	}
	if err := st.Gorm().Table("transfers").Select("idem_key, id").Where("idem_key LIKE ? AND idem_key NOT LIKE ?", natsapi.ExternalKeyPrefix+"kill-%", natsapi.ExternalKeyPrefix+"kill-fund-%").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{}
	for _, r := range rows {
		r.IdemKey = strings.TrimPrefix(r.IdemKey, natsapi.ExternalKeyPrefix) // the key the client sent
		stored[r.IdemKey]++
		if ref, ok := acked[r.IdemKey]; !ok {
			t.Errorf("transfer %s under %s is stored but was never acknowledged", wallet.Ref(r.ID), r.IdemKey)
		} else if ref != wallet.Ref(r.ID) {
			t.Errorf("%s stored as %s, acknowledged as %s", r.IdemKey, wallet.Ref(r.ID), ref)
		}
	}
	for key := range acked {
		if stored[key] != 1 {
			t.Errorf("acknowledged %s stored %d times", key, stored[key])
		}
	}
	for key := range refused {
		if stored[key] != 0 {
			t.Errorf("refused %s stored", key)
		}
	}
	rep, err := st.Check(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("final check: %v %+v", err, rep)
	}
	if len(acked) < 100 {
		t.Errorf("only %d transfers acknowledged: the load did not run", len(acked))
	}
	t.Logf("%d acknowledged, %d refused, %d kills; every acknowledged transfer stored once", len(acked), len(refused), killRounds)
}
