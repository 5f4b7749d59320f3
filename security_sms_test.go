package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/notify"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	"github.com/kibubu/kibubu/notify/smsctl"
	notifystore "github.com/kibubu/kibubu/notify/store"
)

// TestSecuritySMSGatewayWords (issue 11, finding 5: the gateway's NATS user
// can send free-text SMS to any phone) connects as the embedded NATS's
// gateway user and tries to have the notifier send what a gateway must
// not: free text, a reply to a phone that did not write in, a reply naming
// no inbound message, a receipt's or a start key's words, a link in an
// argument. Each is refused, by the NATS server or by the notifier, and
// none reaches the outbox; the replies a gateway does send (a keyword's
// reply, a late USSD outcome) arrive with the catalogue's text.
func TestSecuritySMSGatewayWords(t *testing.T) {
	embeddedOnly(t)
	c := testConfig(t, "")
	m := startMain(t, &Main{Config: c})
	ctx := context.Background()
	refused := make(violations, 64)
	_, gw := embeddedUsers(t, m, c.Data, refused.option())
	gwJS, err := jetstream.New(gw)
	if err != nil {
		t.Fatal(err)
	}
	out := notifyapi.NewClient(gwJS, "")
	cat, err := locales.New()
	if err != nil {
		t.Fatal(err)
	}
	const (
		alice   = "+254712000201" // writes in
		bob     = "+254712000202" // does not
		mallory = "+254712000203"
	)
	phishing := "Your account is locked. Visit http://kibubu-verify.example to unlock it."

	// Free text is the wallet's: the gateway may not publish it at all.
	free, _ := json.Marshal(notify.Message{Key: "reply:africastalking:free", To: bob, Language: "en", Text: phishing})
	if err := gw.Publish(notifyapi.SubjectSend, free); err != nil {
		t.Fatal(err)
	}
	refused.await(t, "publish to", notifyapi.SubjectSend)

	// A reply the notifier refuses, published as a gateway may.
	publish := func(subject string, v any) {
		t.Helper()
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gwJS.Publish(ctx, subject, data); err != nil {
			t.Fatalf("gateway publish on %s: %v", subject, err)
		}
	}
	balance := locales.NewWords("sms.balance", map[string]any{"Balance": "KES 1,250.00"})
	if err := out.Inbound(ctx, notify.Inbound{ID: "africastalking:alice-1", Phone: alice}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []notify.Reply{
		// To a phone that did not write in, naming another's message.
		{Inbound: "africastalking:alice-1", To: bob, Language: "en", Words: balance},
		// Naming no message at all.
		{Inbound: "africastalking:nobody", To: mallory, Language: "en", Words: balance},
		// Words only the wallet's events and notices may say.
		{Inbound: "africastalking:alice-1", To: alice, Language: "en",
			Words: locales.NewWords("sms.pin.start_key", map[string]any{"Key": "123456", "Expires": "31/12/26 23:59"})},
		// A link in an argument.
		{Inbound: "africastalking:alice-1", To: alice, Language: "en",
			Words: locales.NewWords("sms.balance", map[string]any{"Balance": "bit.ly/x"})},
	} {
		publish(notifyapi.SubjectReply, r)
	}

	// What a gateway does send: a keyword's reply over Africa's Talking,
	// and a late USSD outcome to the phone whose step went pending.
	if err := out.Reply(ctx, notify.Reply{Inbound: "africastalking:alice-1", To: alice, Language: "sw", Words: balance}); err != nil {
		t.Fatal(err)
	}
	late := locales.NewWords("error.insufficient_funds.balance", map[string]any{"Balance": "KES 1,000.00"})
	if err := out.Inbound(ctx, notify.Inbound{ID: "ussd:africastalking:n0nce:3", Phone: alice}); err != nil {
		t.Fatal(err)
	}
	if err := out.Reply(ctx, notify.Reply{Inbound: "ussd:africastalking:n0nce:3", To: alice, Language: "en", Words: late}); err != nil {
		t.Fatal(err)
	}

	// Once the notifier has taken everything (the reply naming no message
	// is offered again a few times first), the outbox holds what it sent.
	cons, err := jetstream.New(m.Conn())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(smsWait)
	for {
		ci, err := mustConsumer(t, cons, ctx).Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ci.NumPending == 0 && ci.NumAckPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the notifier left %d messages pending, %d unacknowledged", ci.NumPending, ci.NumAckPending)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, closeStore, err := smsctl.OpenStore(ctx, c.Data, c.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	sent, err := st.List(ctx, notifystore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"reply:africastalking:alice-1":      cat.Render("sw", "sms.balance", map[string]any{"Balance": "KES 1,250.00"}),
		"reply:ussd:africastalking:n0nce:3": cat.Render("en", "error.insufficient_funds.balance", map[string]any{"Balance": "KES 1,000.00"}),
	}
	for _, s := range sent {
		switch {
		case s.To != alice, strings.Contains(s.Text, "http"), want[s.Key] == "":
			t.Errorf("the notifier sent %s to %s: %q", s.Key, s.To, s.Text)
		case s.Text != want[s.Key]:
			t.Errorf("%s: got %q, want %q", s.Key, s.Text, want[s.Key])
		}
		delete(want, s.Key)
	}
	for key, text := range want {
		t.Errorf("%s never sent: want %q", key, text)
	}
}

func mustConsumer(t *testing.T, js jetstream.JetStream, ctx context.Context) jetstream.Consumer {
	t.Helper()
	cons, err := js.Consumer(ctx, notifyapi.StreamName(""), notifyapi.Durable)
	if err != nil {
		t.Fatal(err)
	}
	return cons
}
