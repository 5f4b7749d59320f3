package natsapi

import (
	"context"
	"testing"
	"time"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/notify/store"
)

// TestReplyBinding runs gateway Replies through the consumer: one is sent
// only to the phone of the Inbound it names, once per Inbound, while the
// Inbound is at most replyWindow old.
func TestReplyBinding(t *testing.T) {
	f := newConsumerFixture(t)
	ctx := context.Background()
	cat := catalog(t)
	const alice, bob = "+254711000001", "+254711000002"
	balance := locales.NewWords("sms.balance", map[string]any{"Balance": "KES 1,250.00"})
	help := locales.NewWords("sms.help", nil)
	for _, in := range []notify.Inbound{{ID: "at:1", Phone: alice}, {ID: "at:2", Phone: alice}} {
		if err := f.client.Inbound(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	// The same id again, for another phone, does not take it over.
	if err := f.client.publish(ctx, SubjectInbound, "inbound:at:1:again", notify.Inbound{ID: "at:1", Phone: bob}); err != nil {
		t.Fatal(err)
	}
	// An Inbound the stream took longer ago than replyWindow.
	if err := f.st.RecordInbound(ctx, notify.Inbound{ID: "at:old", Phone: alice}, time.Now().Add(-notify.ReplyWindow-time.Minute)); err != nil {
		t.Fatal(err)
	}
	for i, r := range []notify.Reply{
		{Inbound: "at:1", To: alice, Language: "en", Words: balance},
		{Inbound: "at:1", To: alice, Language: "en", Words: help}, // a second reply to at:1
		{Inbound: "at:1", To: bob, Language: "en", Words: balance},
		{Inbound: "at:2", To: bob, Language: "en", Words: balance},
		{Inbound: "at:old", To: alice, Language: "en", Words: balance},
	} {
		// Published under ids of their own, past the stream's dedupe.
		if err := f.client.publish(ctx, SubjectReply, "test:"+string(rune('a'+i)), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.client.Reply(ctx, notify.Reply{Inbound: "at:2", To: alice, Language: "fr", Words: help}); err != nil {
		t.Fatal(err)
	}
	got := f.rows(store.Filter{Kind: notify.KindMessage}, 2)
	want := map[string]string{
		"reply:at:1": cat.Render("en", "sms.balance", map[string]any{"Balance": "KES 1,250.00"}),
		"reply:at:2": cat.Render("fr", "sms.help", nil),
	}
	for _, row := range got {
		if row.To != alice || row.Text != want[row.Key] {
			t.Errorf("sent %s to %s: %q; want %q to %s", row.Key, row.To, row.Text, want[row.Key], alice)
		}
	}
	// Everything was taken (no Reply is left to be offered again) and
	// nothing more was sent.
	cons, err := f.w.JS.Consumer(ctx, StreamName(f.w.Prefix), Durable)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ci, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ci.NumPending == 0 && ci.NumAckPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pending, %d unacknowledged", ci.NumPending, ci.NumAckPending)
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.rows(store.Filter{Kind: notify.KindMessage}, 2)
}
