package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/notify"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	notifystore "github.com/kibubu/kibubu/notify/store"
	"github.com/kibubu/kibubu/notify/twiliotest"
	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/store"
)

// The fault test's shape.
const (
	ussdClients    = 12 // phones running send-money sessions, one each
	smsClients     = 2  // phones paying by SMS keyword
	requestClients = 2  // phones approving merchants' payment requests
	// customers is every phone of the load, and one with the tab.
	customers = ussdClients + 2*smsClients + requestClients + 1
	// fundingMinor funds each customer: far more than a minute's sends,
	// under the balance limit.
	fundingMinor = 50_000_00
	// warmup is load before the first fault; between faults the load
	// runs healthy for calm, so that each fault hits live traffic.
	warmup = 5 * time.Second
	calm   = 9 * time.Second
	// downFor is how long a killed NATS node or the stopped PostgreSQL
	// stays down.
	downFor = 3 * time.Second
	// failoverGrace bounds how long after a fault's recovery a hop may
	// still fail: past it, a failure is a defect.
	failoverGrace = 7 * time.Second
	// settleWait bounds the wait for receipts and webhooks at the end.
	settleWait = 90 * time.Second
)

// fault is one fault: inject kills or stops a part, recover brings it
// back and waits until it is ready.
type fault struct {
	name    string
	inject  func()
	recover func()
	// window: from before the injection to the end of recovery.
	from, to time.Time
	// errors counts the failed tries in the window; cost is how long
	// after the injection the last one came.
	errors int
	cost   time.Duration
}

// TestFleetSurvivesFaults runs the fleet of deploy/ on loopback — three
// clustered NATS nodes with deploy/nats/nats.conf (TLS, one nkey user per
// role) and streams and buckets in three copies, its own PostgreSQL, and
// compose.yaml's Kibubu services (the migration, two wallets, two gateways
// and a notifier) as child processes with their command and environment —
// under a minute of load (USSD sessions whose hops alternate between the
// gateways, SMS keyword payments, merchant payment requests and tab
// charges), and kills or stops one part at a time mid-load. Afterwards the
// ledger checks, no acknowledged transfer is lost or doubled, every
// receipt reached Twilio once, every merchant event reached the merchant
// signed and in order, and every failed hop fell in a fault's failover
// window.
func TestFleetSurvivesFaults(t *testing.T) {
	// It needs the machine's PostgreSQL binaries, as the PostgreSQL pass
	// of the tests (.ci/run's second) does, and a few minutes of two
	// cores: it runs in that pass only.
	if os.Getenv("KIBUBU_TEST_POSTGRES") == "" || testing.Short() {
		t.Skip("the fleet fault test runs with KIBUBU_TEST_POSTGRES set (it starts a PostgreSQL of its own with the machine's binaries), not in -short mode")
	}
	f := startFleet(t)
	ctx := context.Background()
	l := seed(t, f)
	defer l.receiver.srv.Close()

	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	run := func(fn func()) {
		wg.Add(1)
		go func() { defer wg.Done(); fn() }()
	}
	for w := range ussdClients {
		run(func() { l.runUSSD(loadCtx, w, ussdClients) })
	}
	for i := range smsClients {
		from := ussdClients + 2*i
		run(func() { l.runSMS(loadCtx, from, from+1) })
	}
	for i := range requestClients {
		run(func() { l.runRequests(loadCtx, ussdClients+2*smsClients+i) })
	}
	run(func() { l.runCharges(loadCtx) })

	start := time.Now()
	faults := f.faults(t)
	time.Sleep(warmup)
	for _, fl := range faults {
		before := l.hops.Load()
		fl.from = time.Now()
		fl.inject()
		fl.recover()
		fl.to = time.Now()
		t.Logf("%s: injected at %s, recovered in %.1fs", fl.name, fl.from.Format(time.TimeOnly), fl.to.Sub(fl.from).Seconds())
		time.Sleep(calm)
		if l.hops.Load() == before {
			t.Fatalf("%s: no hop answered since", fl.name)
		}
	}
	stopLoad()
	wg.Wait()
	elapsed := time.Since(start)
	f.excuseLostAnswers(faults)

	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.errs {
		t.Errorf("load: %s", e)
	}
	if err := f.ledgerCheck(ctx); err != nil {
		t.Error(err)
	}
	res := check(t, f, l)

	// Every failure must fall in a fault's window: the try failed after
	// the fault and began before the window closed (a try begun in it
	// may take its whole timeout to fail). The window's length is what
	// the fault cost.
	var outside int
	for _, e := range l.failures {
		var in *fault
		for _, fl := range faults {
			if !e.at.Before(fl.from) && !e.started.After(fl.to.Add(failoverGrace)) {
				in = fl
			}
		}
		if in == nil {
			outside++
			if outside <= 20 {
				t.Errorf("a failure outside every failover window, at %s: %s", e.at.Format(time.TimeOnly), e.what)
			}
			continue
		}
		in.errors++
		in.cost = max(in.cost, e.at.Sub(in.from))
	}
	// What failed, by kind: the ids and numbers taken out.
	kinds := map[string]int{}
	for _, e := range l.failures {
		kinds[failureKind(e.what)]++
	}
	for k, n := range kinds {
		t.Logf("%5d× %s", n, k)
	}
	var failoverMax time.Duration
	for _, fl := range faults {
		failoverMax = max(failoverMax, fl.cost)
		t.Logf("fault %-22s down+recovery %.1fs, failed tries %d, last failure %.1fs after the fault", fl.name,
			fl.to.Sub(fl.from).Seconds(), fl.errors, fl.cost.Seconds())
	}
	fmt.Printf("fleet_hops_per_s=%d faults=%d acked=%d lost=%d duplicated=%d receipts_missing=%d receipts_doubled=%d failover_errors=%d max_failover_s=%.1f\n",
		int64(math.Round(float64(l.hops.Load())/elapsed.Seconds())), len(faults), res.acked, res.lost, res.duplicated,
		res.receiptsMissing, res.receiptsDoubled, len(l.failures), failoverMax.Seconds())
}

// excuseLostAnswers drops, from the NATS nodes' permission violations, a
// service's answers to _INBOX subjects that a node refused while a NATS
// node was down or coming back (the NATS faults' windows). A responder
// may publish to a request's reply subject once, as its role's
// allow_responses says; the grant is the node's record of the request it
// delivered, and a node that dies takes its records with it, so an answer
// sent afterwards, over the reconnected connection or for a requester
// whose route is gone, is refused. The caller gets no answer, times out
// and retries with the same key: a failover error the load counts. Any
// other violation, or one outside those windows (an answer sent twice),
// still fails the test.
func (f *fleet) excuseLostAnswers(faults []*fault) {
	for _, n := range f.nats {
		n.violations.excuse(func(at time.Time, line string) bool {
			if !strings.Contains(line, `Publish Violation - Subject "_INBOX.`) {
				return false
			}
			for _, fl := range faults {
				if (fl.name == "nats node" || fl.name == "stream leader") && !at.Before(fl.from) && !at.After(fl.to.Add(failoverGrace)) {
					return true
				}
			}
			return false
		})
	}
}

// faults are the six faults, in the order they are injected.
func (f *fleet) faults(t *testing.T) []*fault {
	var down *natsNode
	var leaders string
	return []*fault{
		{name: "nats node", inject: func() {
			// A node that leads neither the event stream nor the sessions.
			lead := f.leaders(t)
			down = f.nats[0]
			for _, n := range f.nats {
				if !slices.Contains(lead, n.name) {
					down = n
				}
			}
			down.kill()
			time.Sleep(downFor)
		}, recover: func() { down.start(t); down.waitReady(t) }},
		{name: "stream leader", inject: func() {
			lead := f.leaders(t)
			leaders = strings.Join(lead, ",")
			for _, n := range f.nats {
				if n.name == lead[0] {
					down = n
				}
			}
			down.kill()
			time.Sleep(downFor)
		}, recover: func() {
			t.Logf("leaders (wallet events, sessions) were %s: killed %s", leaders, down.name)
			down.start(t)
			down.waitReady(t)
		}},
		{name: "wallet", inject: func() { f.wallets[0].kill() }, recover: func() { f.wallets[0].restart(t) }},
		{name: "gateway", inject: func() { f.gateways[1].kill() }, recover: func() { f.gateways[1].restart(t) }},
		{name: "notifier", inject: func() { f.notifier.kill() }, recover: func() { f.notifier.restart(t) }},
		{name: "postgres", inject: func() {
			f.pg.signal(syscall.SIGINT) // a fast shutdown: sessions cut, transactions rolled back
			time.Sleep(downFor)
		}, recover: func() {
			f.pg.start(t)
			f.pg.waitReady(t)
			for _, w := range f.wallets {
				httpReady(t, w.name, w.base)
			}
		}},
	}
}

// leaders returns the servers leading the wallet event stream and the
// session bucket, after asking the bucket's leader to move to the event
// stream's, so that one kill takes both.
func (f *fleet) leaders(t *testing.T) []string {
	t.Helper()
	js, err := jetstream.New(f.streamsNC)
	if err != nil {
		t.Fatal(err)
	}
	leader := func(stream string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return "" // no leader, or the answer is late while one is elected
		}
		info, err := s.Info(ctx)
		if err != nil || info.Cluster == nil {
			return ""
		}
		// The configured copies: the peers listed move while a restarted
		// node catches up (a fourth shows for a moment).
		if n := info.Config.Replicas; n != streamCopies {
			t.Errorf("stream %s has %d copies, want %d", stream, n, streamCopies)
		}
		return info.Cluster.Leader
	}
	events, kv := natsapi.EventStream(""), "KV_"+sessions.BucketName
	var lead string
	waitFor(t, "a leader of "+events, func() error {
		if lead = leader(events); lead == "" {
			return fmt.Errorf("no leader")
		}
		return nil
	})
	if leader(kv) != lead {
		req, _ := json.Marshal(map[string]any{"placement": map[string]string{"preferred": lead}})
		f.streamsNC.Request("$JS.API.STREAM.LEADER.STEPDOWN."+kv, req, 5*time.Second)
		deadline := time.Now().Add(10 * time.Second)
		for leader(kv) != lead && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
	}
	return []string{lead, leader(kv)}
}

// seed registers the customers, funds them, opens the merchants with
// their API keys and webhooks, and opens the tab.
func seed(t *testing.T, f *fleet) *loader {
	t.Helper()
	ctx := context.Background()
	c := f.op
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// The wallets answer once the cluster has settled.
	waitFor(t, "wallet answers", func() error { _, err := c.Tariff(ctx); return err })
	l := &loader{f: f, receiver: newReceiver(), hc: &http.Client{Timeout: hopTimeout}}
	agent, err := c.AddAgent(ctx, "+254799100001", "Fleet Agent")
	must(agent, err)
	l.agent = agent.Phone
	must(c.SetPINWithStartKey(ctx, agent.Phone, agent.StartKey, agentPIN))
	must(c.IssueFloat(ctx, agent.Number, fundingMinor*customers, "FLEET-FLOAT"))
	for i := range customers {
		p := fmt.Sprintf("+2547995%05d", i)
		l.phones = append(l.phones, p)
		// A full-tier account is the operator's opening: its first PIN
		// needs the start key the opening returns.
		acct, err := c.Register(ctx, natsapi.RegisterRequest{Phone: p, Name: fmt.Sprint("Fleet Customer ", i), Tier: wallet.TierFull})
		must(acct, err)
		must(c.SetPINWithStartKey(ctx, p, acct.StartKey, customerPIN))
		must(c.Transfer(ctx, wallet.TransferRequest{Key: "fleet-fund-" + p, Kind: wallet.TransferDeposit, From: agent.Phone, To: p,
			Amount: fundingMinor, PIN: agentPIN}))
	}
	hooks := notifyapi.NewWebhookClient(f.gatewayNC, 5*time.Second, "")
	till := func(phone, name string) (number, key string) {
		m, err := c.AddMerchant(ctx, phone, name, false)
		must(m, err)
		k, err := merchantapi.NewClient(c).CreateAPIKey(ctx, merchantapi.APIKeyRequest{Merchant: m.Number, Scopes: merchant.MerchantScopes})
		must(k, err)
		var ep *notify.Endpoint
		waitFor(t, "the notifier's webhook service", func() error {
			ep, err = hooks.SetWebhook(ctx, notify.WebhookSetRequest{Auth: k.Secret, URL: l.receiver.url(m.Number)})
			return err
		})
		l.receiver.setSecret(m.Number, ep.Secret)
		return m.Number, k.Secret
	}
	l.prTill, l.prKey = till("+254799200001", "Fleet Shop")
	l.tabTill, l.tabKey = till("+254799200002", "Fleet Arcade")
	var tab struct{ ID string }
	if _, err := l.api(ctx, 0, l.tabKey, http.MethodPost, "/v1/tabs", "fleet-tab",
		map[string]any{"phone": l.phones[customers-1], "cap": "100000", "expires_at": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)}, &tab); err != nil {
		t.Fatal(err)
	}
	must(merchantapi.NewClient(c).Approve(ctx, l.phones[customers-1], tab.ID, customerPIN))
	l.tab = tab.ID
	return l
}

// results are the figures of the fault test's line.
type results struct {
	acked, lost, duplicated          int
	receiptsMissing, receiptsDoubled int
}

// check compares what the clients were told with the database, Twilio
// and the merchant's receiver.
func check(t *testing.T, f *fleet, l *loader) results {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	account := map[string]int64{}
	rows, _ := conn.Query(ctx, "SELECT id, phone FROM accounts")
	for rows.Next() {
		var id int64
		var phone string
		rows.Scan(&id, &phone)
		if phone != "" {
			account[phone] = id
		}
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	till := map[string]int64{}
	rows, _ = conn.Query(ctx, "SELECT id, number FROM accounts")
	for rows.Next() {
		var id int64
		var number string
		rows.Scan(&id, &number)
		till[number] = id
	}
	type flow struct{ source, target, amount int64 }
	stored := map[flow][]int64{}
	rows, _ = conn.Query(ctx, "SELECT id, source, target, amount FROM transfers")
	for rows.Next() {
		var id int64
		var fl flow
		rows.Scan(&id, &fl.source, &fl.target, &fl.amount)
		stored[fl] = append(stored[fl], id)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}

	var res results
	// Every transfer of the load that is stored must have its receipt to
	// the sender; filled below, checked against Twilio after.
	var wantReceipts []struct {
		id    int64
		phone string
	}
	expect := func(what string, ids []int64, acked, phone string) {
		switch {
		case acked != "" && len(ids) == 0:
			res.lost++
			t.Errorf("%s: acknowledged as %s, not stored", what, acked)
		case len(ids) > 1:
			res.duplicated++
			t.Errorf("%s: stored %d times: %v", what, len(ids), ids)
		case acked != "" && wallet.Ref(ids[0]) != acked:
			res.lost++
			t.Errorf("%s: acknowledged as %s, stored as %s", what, acked, wallet.Ref(ids[0]))
		}
		if acked != "" {
			res.acked++
		}
		if len(ids) == 1 {
			wantReceipts = append(wantReceipts, struct {
				id    int64
				phone string
			}{ids[0], phone})
		}
	}
	var unknown int
	for _, s := range l.sessions {
		if s.acked == "" {
			unknown++
		}
		expect("session "+s.id, stored[flow{account[s.from], account[s.to], s.amount}], s.acked, s.from)
	}
	for _, p := range l.sms {
		expect(fmt.Sprintf("SMS SEND %s %s %d", p.from, p.to, p.amount), stored[flow{account[p.from], account[p.to], p.amount}], "", p.from)
	}
	for _, r := range l.requests {
		ack := ""
		if r.paid {
			ack = r.ref
		}
		expect("payment request "+r.id, stored[flow{account[r.phone], till[l.prTill], r.amount}], ack, r.phone)
	}
	t.Logf("%d USSD sessions (%d not told the outcome), %d SMS payments, %d payment requests, %d tab charges",
		len(l.sessions), unknown, len(l.sms), len(l.requests), len(l.charges))

	// Receipts: wait until the notifier has handed every SMS it recorded
	// to Twilio, then each must be there exactly once.
	db, err := store.Connect(ctx, f.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if s, err := db.DB(); err == nil {
			s.Close()
		}
	}()
	st, err := notifystore.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	var sms []notify.Stored
	deadline := time.Now().Add(settleWait)
	for {
		sms = listAll(t, st)
		var waiting int
		for _, r := range sms {
			if r.ProviderID == "" && r.Status != notify.StatusFailed {
				waiting++
			}
		}
		var missing int
		byTransfer := map[int64][]notify.Stored{}
		for _, r := range sms {
			byTransfer[r.Transfer] = append(byTransfer[r.Transfer], r)
		}
		for _, w := range wantReceipts {
			if !slices.ContainsFunc(byTransfer[w.id], func(r notify.Stored) bool { return r.To == w.phone }) {
				missing++
			}
		}
		if waiting == 0 && missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			res.receiptsMissing += waiting + missing
			t.Errorf("after %s: %d SMS not handed to Twilio, %d stored transfers without their receipt", settleWait, waiting, missing)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	msgs := f.twilio.Messages()
	bySID := map[string]twiliotest.Message{}
	bodies := map[string]int{}
	for _, m := range msgs {
		bySID[m.SID] = m
		if bodies[m.To+" "+m.Body]++; bodies[m.To+" "+m.Body] == 2 {
			res.receiptsDoubled++
			t.Errorf("Twilio got more than once: %s %q", m.To, m.Body)
		}
	}
	seen := map[string]bool{}
	for _, r := range sms {
		if r.Status == notify.StatusFailed {
			res.receiptsMissing++
			t.Errorf("SMS %s to %s failed: %s", r.Key, r.To, r.LastError)
			continue
		}
		m, ok := bySID[r.ProviderID]
		if !ok || m.To != r.To {
			res.receiptsMissing++
			t.Errorf("SMS %s recorded as Twilio's %q, which Twilio has as %+v", r.Key, r.ProviderID, m)
		}
		seen[r.ProviderID] = true
	}
	for _, m := range msgs {
		if !seen[m.SID] {
			res.receiptsDoubled++
			t.Errorf("Twilio got %s %q, which the notifier did not record", m.To, m.Body)
		}
	}
	// A session not told its outcome: its receipt says which. Stored, the
	// sender's receipt names the transfer; not stored, no receipt does.
	for _, s := range l.sessions {
		if s.acked != "" {
			continue
		}
		ids := stored[flow{account[s.from], account[s.to], s.amount}]
		for _, m := range msgs {
			if m.To == s.from && len(ids) == 1 && strings.Contains(m.Body, wallet.Ref(ids[0])) {
				ids = nil
			}
		}
		if len(ids) == 1 {
			t.Errorf("session %s, not told, is stored as %s, and no SMS to %s says so", s.id, wallet.Ref(ids[0]), s.from)
		}
	}

	checkWebhooks(t, conn, l)
	return res
}

// listAll reads every recorded SMS.
func listAll(t *testing.T, st *notifystore.Store) []notify.Stored {
	t.Helper()
	var all []notify.Stored
	f := notifystore.Filter{Limit: 1000}
	for {
		page, err := st.List(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < f.Limit {
			return all
		}
		f.Before = page[len(page)-1].ID
	}
}

// checkWebhooks waits until every merchant event the notifier recorded
// was delivered, then checks that the receiver got each, signed, first in
// the order the notifier recorded them per merchant, and that every
// payment request the load made and paid has its events.
func checkWebhooks(t *testing.T, conn *pgx.Conn, l *loader) {
	t.Helper()
	ctx := context.Background()
	type delivery struct{ merchant, event, typ, status string }
	var want []delivery
	deadline := time.Now().Add(settleWait)
	for {
		want = want[:0]
		rows, err := conn.Query(ctx, "SELECT merchant, event_id, type, status FROM webhook_deliveries ORDER BY merchant, seq")
		if err != nil {
			t.Fatal(err)
		}
		pending := 0
		for rows.Next() {
			var d delivery
			rows.Scan(&d.merchant, &d.event, &d.typ, &d.status)
			want = append(want, d)
			if d.status != "delivered" {
				pending++
			}
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			statuses := map[string]int{}
			for _, d := range want {
				statuses[d.status]++
			}
			t.Errorf("after %s, %d webhook deliveries are not delivered: %v", settleWait, pending, statuses)
			stalled(t, conn)
			if os.Getenv("KIBUBU_TEST_FLEET_LOGS") != "" {
				l.f.notifier.signal(syscall.SIGQUIT) // its goroutines, into its log
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	r := l.receiver
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.bad {
		t.Errorf("webhook receiver: %s", b)
	}
	first := map[string][]string{} // merchant → event ids in order of first arrival
	got := map[string]bool{}
	for m, evs := range r.got {
		for _, e := range evs {
			if !got[e.id] {
				got[e.id] = true
				first[m] = append(first[m], e.id)
			}
		}
	}
	recorded := map[string][]string{}
	for _, d := range want {
		recorded[d.merchant] = append(recorded[d.merchant], d.event)
	}
	for m, ids := range recorded {
		if !slices.Equal(first[m], ids) {
			i := 0
			for i < min(len(ids), len(first[m])) && ids[i] == first[m][i] {
				i++
			}
			t.Errorf("merchant %s: the receiver got %d events, the notifier recorded %d; they differ from the %dth on: got %v, recorded %v",
				m, len(first[m]), len(ids), i+1, first[m][i:min(i+5, len(first[m]))], ids[i:min(i+5, len(ids))])
		}
	}
	var missing []string
	for _, pr := range l.requests {
		if pr.paid && !got["evt_"+pr.ref+"_"+l.prTill] {
			missing = append(missing, pr.ref)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d payment requests paid, and their payment.received event never reached the merchant: %v", len(missing), missing[:min(len(missing), 10)])
	}
	if len(recorded[l.prTill]) == 0 || len(recorded[l.tabTill]) == 0 {
		t.Errorf("merchant events recorded: %d and %d, want some for each merchant", len(recorded[l.prTill]), len(recorded[l.tabTill]))
	}
}

// stalled logs, for each merchant with deliveries not delivered, its first
// one, the rows the sender's claim would find in its way (the claim's own
// conditions: a live lease, or an earlier pending or sending delivery) and
// the row locks held on the table: what a stalled queue needs to be
// explained.
func stalled(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	var now time.Time
	if err := conn.QueryRow(ctx, "SELECT now()").Scan(&now); err != nil {
		t.Error(err)
		return
	}
	type row struct {
		merchant, id, status, claim, lastError string
		seq                                    int64
		attempts                               int
		next, created                          time.Time
	}
	scan := func(q string, args ...any) []row {
		rows, err := conn.Query(ctx, q, args...)
		if err != nil {
			t.Error(err)
			return nil
		}
		var out []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.merchant, &r.id, &r.seq, &r.status, &r.claim, &r.lastError, &r.attempts, &r.next, &r.created); err != nil {
				t.Error(err)
			}
			out = append(out, r)
		}
		return out
	}
	const cols = "merchant, id, seq, status, claim, last_error, attempts, next_attempt_at, created_at"
	firsts := scan(`SELECT DISTINCT ON (merchant) ` + cols + ` FROM webhook_deliveries
		WHERE status <> 'delivered' ORDER BY merchant, seq, id`)
	for _, f := range firsts {
		t.Errorf("merchant %s: first not delivered %s seq %d %s claim %q attempts %d last error %q next attempt %s created %s (now %s)",
			f.merchant, f.id, f.seq, f.status, f.claim, f.attempts, f.lastError, f.next.Format(time.StampMicro), f.created.Format(time.StampMicro), now.Format(time.StampMicro))
		for _, b := range scan(`SELECT `+cols+` FROM webhook_deliveries e
			WHERE e.merchant = $1 AND e.id <> $2 AND e.status IN ('pending', 'sending')
			AND ((e.status = 'sending' AND e.next_attempt_at > now()) OR e.seq < $3 OR (e.seq = $3 AND e.id < $2))
			ORDER BY seq, id LIMIT 5`, f.merchant, f.id, f.seq) {
			t.Errorf("  in its way: %s seq %d %s claim %q attempts %d next attempt %s", b.id, b.seq, b.status, b.claim, b.attempts, b.next.Format(time.StampMicro))
		}
	}
	plan, err := conn.Query(ctx, `EXPLAIN (ANALYZE, BUFFERS) SELECT d.id FROM webhook_deliveries d
		WHERE d.status IN ('pending', 'sending') AND d.next_attempt_at <= now()
		AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
			WHERE e.merchant = d.merchant AND e.id <> d.id AND e.status IN ('pending', 'sending')
			AND ((e.status = 'sending' AND e.next_attempt_at > now()) OR e.seq < d.seq OR (e.seq = d.seq AND e.id < d.id)))
		ORDER BY d.next_attempt_at LIMIT 16 FOR UPDATE OF d SKIP LOCKED`)
	if err != nil {
		t.Error(err)
		return
	}
	for plan.Next() {
		var line string
		plan.Scan(&line)
		t.Errorf("  claim plan: %s", line)
	}
	rows, err := conn.Query(ctx, `SELECT l.pid, l.mode, l.granted, a.state, a.xact_start, left(a.query, 120)
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.relation = 'webhook_deliveries'::regclass`)
	if err != nil {
		t.Error(err)
		return
	}
	for rows.Next() {
		var pid int
		var mode, state, query string
		var granted bool
		var xact *time.Time
		rows.Scan(&pid, &mode, &granted, &state, &xact, &query)
		t.Errorf("  lock on webhook_deliveries: pid %d %s granted %v, %s since %v: %s", pid, mode, granted, state, xact, query)
	}
}

var execCommand = exec.CommandContext

// failureKind is a failure's description without its ids and numbers.
func failureKind(what string) string {
	var b strings.Builder
	for _, r := range what {
		if r >= '0' && r <= '9' {
			if !strings.HasSuffix(b.String(), "#") {
				b.WriteByte('#')
			}
			continue
		}
		b.WriteRune(r)
	}
	s := b.String()
	if len(s) > 160 {
		s = s[:160]
	}
	return s
}
