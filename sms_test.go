package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kibubu/kibubu/gateway"
	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/notify/notifyd"
	notifystore "github.com/kibubu/kibubu/notify/store"
	"github.com/kibubu/kibubu/notify/twiliotest"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/store"
)

// smsWait bounds waiting for the notifier in these tests.
const smsWait = 30 * time.Second

// TestSMSTour is the README's SMS tour on the embedded default: with no
// Twilio credentials, keyword replies and receipts land in the outbox,
// which `kibubu sms outbox` shows.
func TestSMSTour(t *testing.T) {
	embeddedOnly(t)
	cfg := testConfig(t, "")
	m := startMain(t, &Main{Config: cfg})
	ctx := context.Background()
	c := natsapi.NewClient(m.Conn(), 0, testOperator)
	alice, bob := "+254712000101", "+254712000102"
	for _, p := range []string{alice, bob} {
		a, err := c.Register(ctx, natsapi.RegisterRequest{Phone: p, Name: "Person " + p[len(p)-3:], Tier: wallet.TierFull})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.SetPINWithStartKey(ctx, p, a.StartKey, "2468"); err != nil {
			t.Fatal(err)
		}
	}
	agent, err := c.AddAgent(ctx, "+254712000109", "Tour Agent")
	if err != nil {
		t.Fatal(err)
	}
	c.SetPINWithStartKey(ctx, agent.Phone, agent.StartKey, "1357")
	if _, err := c.IssueFloat(ctx, agent.Number, 1_000_000, "TOUR"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Transfer(ctx, wallet.TransferRequest{Key: "tour-deposit", Kind: wallet.TransferDeposit, From: agent.Phone, To: alice, Amount: 500_000, PIN: "1357"}); err != nil {
		t.Fatal(err)
	}
	send := func(phone string, text ...string) string {
		t.Helper()
		out, err := cli(t, append([]string{"sms", "send", "--data", cfg.Data, "--phone", phone}, text...)...)
		if err != nil {
			t.Fatalf("sms send %q: %v", text, err)
		}
		return strings.TrimSpace(out)
	}
	steps := []struct {
		phone string
		text  []string
		want  string
	}{
		{alice, []string{"HELP"}, "Kibubu SMS: BAL, SEND phone amount"},
		{alice, []string{"send", "0712000102", "150"}, "Send KES 150.00 to Person 102 +254712000102? Fee KES 7.00. Reply with your PIN within 5 minutes"},
		{alice, []string{"2468"}, "Confirmed. KES 150.00 sent to Person 102 +254712000102"},
		{alice, []string{"FOO"}, "Unknown command. Send HELP for the list of commands."},
	}
	for _, s := range steps {
		got := send(s.phone, s.text...)
		if !strings.Contains(got, s.want) {
			t.Errorf("%s %q:\ngot  %q\nwant %q…", s.phone, s.text, got, s.want)
		}
	}
	if b, err := c.Lookup(ctx, bob); err != nil || b == nil {
		t.Fatal(err)
	}
	// The receipts of the send reach both parties' outboxes.
	deadline := time.Now().Add(smsWait)
	for _, want := range []struct{ phone, text string }{
		{alice, "sent to Person 102 +254712000102"},
		{bob, "You have received KES 150.00 from Person 101 +254712000101"},
	} {
		for {
			out, err := cli(t, "sms", "outbox", "--data", cfg.Data, "--phone", want.phone)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out, want.text) {
				if !strings.Contains(out, " sent ") || !strings.Contains(out, "outbox") {
					t.Errorf("outbox of %s: %s; want the receipt sent to the outbox", want.phone, out)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("outbox of %s:\n%s\nwant a receipt containing %q", want.phone, out, want.text)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Replaying the whole day records nothing new: every receipt is there.
	out, err := cli(t, "notify", "replay", "--data", cfg.Data, "--since", "1h")
	if err != nil || !strings.Contains(out, ", 0 recorded now") {
		t.Errorf("notify replay: %q, %v; want nothing recorded", out, err)
	}
}

// TestSMSThroughTwilio runs kibubu serve with Twilio configured, against a
// fake Twilio, behind a proxy standing for the public URL: receipts go to
// Twilio with a status callback, whose delivery reports come back signed
// and are recorded; an outage loses nothing; an inbound SMS signed for the
// public URL is answered in TwiML, and a forged one is refused.
func TestSMSThroughTwilio(t *testing.T) {
	fake := twiliotest.New(twiliotest.Config{})
	defer fake.Close()
	var target atomic.Value // the server's URL, once it listens
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := url.Parse(target.Load().(string))
		httputil.NewSingleHostReverseProxy(u).ServeHTTP(w, r)
	}))
	defer proxy.Close()

	cfg := testConfig(t, "")
	cfg.TwilioSID, cfg.TwilioToken, cfg.TwilioFrom, cfg.TwilioAPIURL = fake.AccountSID, fake.AuthToken, "KIBUBU", fake.URL
	cfg.PublicURL = proxy.URL
	cfg.SMSTimeout = time.Second // so a send in doubt is checked at Twilio after a 3 s lease
	m := startMain(t, &Main{Config: cfg})
	target.Store("http://" + m.HTTPAddr())
	ctx, cancel := context.WithTimeout(context.Background(), smsWait)
	defer cancel()

	c := natsapi.NewClient(m.Conn(), 0, testOperator)
	jane := "+254722000201"
	// Self-registered: she only receives, and gets no start key to count.
	if _, err := c.Register(ctx, natsapi.RegisterRequest{Phone: jane, Name: "Jane Doe", Language: "sw"}); err != nil {
		t.Fatal(err)
	}
	agent, err := c.AddAgent(ctx, "+254722000209", "Duka Agent")
	if err != nil {
		t.Fatal(err)
	}
	c.SetPINWithStartKey(ctx, agent.Phone, agent.StartKey, "1357")
	fake.SetOutage(http.StatusInternalServerError)
	if _, err := c.IssueFloat(ctx, agent.Number, 1_000_000, "EQ-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Transfer(ctx, wallet.TransferRequest{Key: "tw-deposit", Kind: wallet.TransferDeposit, From: agent.Phone, To: jane, Amount: 50_000, PIN: "1357"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the notifier meets the outage
	fake.SetOutage(0)
	msgs, err := fake.Wait(ctx, 4) // the agent's start key; float to the agent; deposit to the agent and to Jane
	if err != nil {
		t.Fatal(err)
	}
	var toJane twiliotest.Message
	startKeys := 0
	for _, msg := range msgs {
		if msg.StatusCallback != proxy.URL+gateway.TwilioStatusPath || msg.From != "KIBUBU" {
			t.Errorf("message %+v: want from KIBUBU with the status callback %s", msg, proxy.URL+gateway.TwilioStatusPath)
		}
		if msg.To == jane {
			toJane = msg
		}
		if msg.To == agent.Phone && strings.Contains(msg.Body, agent.StartKey) {
			startKeys++
		}
	}
	if startKeys != 1 {
		t.Errorf("the agent got %d SMS with its start key, want 1", startKeys)
	}
	if !strings.Contains(toJane.Body, "Imethibitishwa") && !strings.Contains(toJane.Body, "KES 500.00") {
		t.Errorf("Jane's receipt %q: want her deposit, in Kiswahili", toJane.Body)
	}
	t.Logf("after the outage: %d messages at Twilio", len(msgs))
	if err := fake.Deliver(ctx, toJane.SID, "delivered", 0); err != nil {
		t.Fatal(err)
	}
	db, err := store.Connect(ctx, m.Config.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer closeGorm(db)
	st, err := notifystore.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	for {
		rows, err := st.List(context.Background(), notifystore.Filter{Phone: jane})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 1 && rows[0].Status == notify.StatusDelivered && rows[0].ProviderID == toJane.SID {
			break
		}
		if ctx.Err() != nil || len(rows) > 1 {
			t.Fatalf("Jane's SMS: %+v; want one, delivered", rows)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(fake.Messages()); n != 4 {
		t.Errorf("Twilio has %d messages after the outage, want 4", n)
	}
	// The start key's text is not kept once Twilio has it.
	for {
		rows, err := st.List(context.Background(), notifystore.Filter{Phone: agent.Phone})
		if err != nil {
			t.Fatal(err)
		}
		kept := false
		for _, r := range rows {
			kept = kept || strings.Contains(r.Text, agent.StartKey)
		}
		if !kept {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the agent's SMS %+v: the start key is still stored", rows)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A permanent refusal (21211) is failed at once, shown with its reason,
	// and sent again once an operator asks.
	fake.FailNext(1, http.StatusBadRequest, twiliotest.CodeInvalidTo)
	if _, err := c.IssueFloat(ctx, agent.Number, 1_000, "EQ-2"); err != nil {
		t.Fatal(err)
	}
	var failed notify.Stored
	for {
		rows, err := st.List(context.Background(), notifystore.Filter{Phone: agent.Phone, Status: notify.StatusFailed})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 1 {
			failed = rows[0]
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the refused receipt: %+v; want it failed", rows)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := cli(t, "sms", "outbox", "--db", m.Config.DB, "--status", "failed"); err != nil || !strings.Contains(out, agent.Phone) || !strings.Contains(out, "21211") {
		t.Errorf("sms outbox --status failed: %q, %v; want the agent's receipt with Twilio's code", out, err)
	}
	if out, err := cli(t, "sms", "retry", "--db", m.Config.DB, fmt.Sprint(failed.ID), fmt.Sprint(failed.ID+1000)); err != nil || !strings.HasPrefix(out, "1 of 2 queued") {
		t.Errorf("sms retry: %q, %v; want 1 of 2 queued", out, err)
	}
	if _, err := fake.Wait(ctx, 4); err != nil {
		t.Fatal(err)
	}

	inbound := url.Values{"MessageSid": {"SM00000000000000000000000000000001"}, "AccountSid": {fake.AccountSID},
		"From": {jane}, "To": {"+15005550006"}, "Body": {"MSAADA"}, "NumSegments": {"1"}}
	post := func(sig string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, proxy.URL+"/sms/twilio", strings.NewReader(inbound.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(twiliotest.Signature(fake.AuthToken, proxy.URL+"/sms/twilio", inbound)); code != http.StatusOK || !strings.Contains(body, "<Message>") {
		t.Errorf("signed inbound SMS: %d %s; want 200 and a TwiML reply", code, body)
	}
	if code, _ := post(twiliotest.Signature(fake.AuthToken, "http://"+m.HTTPAddr()+"/sms/twilio", inbound)); code != http.StatusForbidden {
		t.Errorf("inbound SMS signed for the private address: %d, want 403", code)
	}
}

// BenchmarkReceiptsEndToEnd measures receipts per second from the wallet
// through kibubu serve: b.N sends between 200 funded phones from 32
// clients, each giving two receipts, the event relay, the durable consumer
// and the sender, rates lifted. It runs twice: into the outbox (no Twilio
// credentials, the embedded default; a receipt counts once the sender has
// marked it sent, read from /metrics), and to a fake Twilio over loopback
// HTTP (counted by the fake). The baseline, measured in the same run, is
// the rate the same sends were posted at: receipts keep up with the wallet
// when x_transfers (receipts/s ÷ 2 × transfers/s) is 1 or more.
func BenchmarkReceiptsEndToEnd(b *testing.B) {
	for _, provider := range []string{notify.ProviderOutbox, notify.ProviderTwilio} {
		b.Run(provider, func(b *testing.B) { benchReceipts(b, provider) })
	}
}

func benchReceipts(b *testing.B, provider string) {
	const phones, clients = 200, 32
	cfg := DefaultConfig()
	cfg.Data, cfg.HTTP = b.TempDir(), "127.0.0.1:0"
	cfg.SMSRate, cfg.SMSPhoneRate = notifyd.SMSRateMax, notifyd.SMSPhoneRateMax
	ctx := context.Background()
	var sent func(ctx context.Context, n int) error // waits until n receipts are sent
	if provider == notify.ProviderTwilio {
		fake := twiliotest.New(twiliotest.Config{})
		defer fake.Close()
		cfg.TwilioSID, cfg.TwilioToken, cfg.TwilioFrom, cfg.TwilioAPIURL = fake.AccountSID, fake.AuthToken, "KIBUBU", fake.URL
		sent = func(ctx context.Context, n int) error { _, err := fake.Wait(ctx, n); return err }
	}
	m := &Main{Config: cfg, Log: slog.New(slog.DiscardHandler)}
	if err := m.Run(ctx); err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	if sent == nil {
		sent = func(ctx context.Context, n int) error {
			return waitOutboxSent(ctx, "http://"+m.HTTPAddr()+"/metrics", n)
		}
	}
	c := natsapi.NewClient(m.Conn(), 0, testOperator)
	agent, err := c.AddAgent(ctx, "+254700900000", "Bench Agent")
	if err != nil {
		b.Fatal(err)
	}
	c.SetPINWithStartKey(ctx, agent.Phone, agent.StartKey, "1357")
	if _, err := c.IssueFloat(ctx, agent.Number, 1_000_000_000, "BENCH"); err != nil {
		b.Fatal(err)
	}
	ps := make([]string, phones)
	for i := range ps {
		ps[i] = fmt.Sprintf("+2547009%05d", i+1)
		// Self-registered: the first PIN needs no start key (nor its SMS).
		if _, err := c.Register(ctx, natsapi.RegisterRequest{Phone: ps[i], Name: fmt.Sprint("Bench ", i)}); err != nil {
			b.Fatal(err)
		}
		if _, err := c.SetPIN(ctx, ps[i], "2580"); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Transfer(ctx, wallet.TransferRequest{Key: "bench-fund-" + ps[i], Kind: wallet.TransferDeposit, From: agent.Phone, To: ps[i], Amount: 1_000_000, PIN: "1357"}); err != nil {
			b.Fatal(err)
		}
	}
	seeded := 1 + 2*phones
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := sent(wctx, seeded); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				from := int(i) % phones
				if _, err := c.Transfer(ctx, wallet.TransferRequest{Key: fmt.Sprint("bench-", i), Kind: wallet.TransferSend,
					From: ps[from], To: ps[(from+1)%phones], Amount: 100, PIN: "2580"}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	posted := time.Since(start)
	if err := sent(wctx, seeded+2*b.N); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	b.StopTimer()
	receipts, transfers := float64(2*b.N)/took.Seconds(), float64(b.N)/posted.Seconds()
	b.ReportMetric(receipts, "receipts/s")
	b.ReportMetric(transfers, "transfers/s")
	b.ReportMetric(receipts/(2*transfers), "x_transfers")
	b.ReportMetric(0, "ns/op")
}

// outboxSentPoll paces waitOutboxSent's reads of /metrics: each costs the
// server a rendering of every metric, which a shorter pace would make a
// load of its own.
const outboxSentPoll = 25 * time.Millisecond

// waitOutboxSent waits until the counter of SMS sent into the outbox, read
// from the /metrics at url, reaches n. It reads the counter rather than the
// table so as not to take the database from the notifier it measures.
func waitOutboxSent(ctx context.Context, url string, n int) error {
	const series = `kibubu_sms_sends_total{provider="` + notify.ProviderOutbox + `",result="` + notifystore.ResultSent + `"} `
	for {
		got := 0.0
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept-Encoding", "identity") // gzip would cost the server more than the read
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, series); ok {
				if _, err := fmt.Sscan(v, &got); err != nil {
					return fmt.Errorf("%s: %w", line, err)
				}
			}
		}
		if got >= float64(n) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%.0f of %d receipts sent into the outbox: %w", got, n, ctx.Err())
		case <-time.After(outboxSentPoll):
		}
	}
}

// TestParseSince reads notify replay's --since in each of its forms, and
// refuses the rest.
