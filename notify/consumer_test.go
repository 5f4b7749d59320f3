package notify

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

// consumerFixture is a real wallet (its relay publishing events) and the
// notifier's consumers recording into the wallet's database.
type consumerFixture struct {
	t        *testing.T
	w        *wallettest.Wallet
	st       *Store
	consents *Consents
	client   *Client
	stop     func()
}

func newConsumerFixture(t *testing.T) *consumerFixture {
	t.Helper()
	ctx := context.Background()
	w := wallettest.Start(t)
	st, err := OpenStore(ctx, w.Store.Gorm())
	if err != nil {
		t.Fatal(err)
	}
	consents, err := OpenConsents(ctx, w.Store.Gorm())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureStream(ctx, w.JS, 1, w.Prefix); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.JS.DeleteStream(context.Background(), StreamName(w.Prefix)) })
	f := &consumerFixture{t: t, w: w, st: st, consents: consents, client: NewClient(w.JS, w.Prefix)}
	f.start()
	t.Cleanup(func() { f.stop() })
	return f
}

// start runs a Consumer until stop.
func (f *consumerFixture) start() {
	f.t.Helper()
	c, err := NewConsumer(ConsumerConfig{JS: f.w.JS, Prefix: f.w.Prefix, Store: f.st, Consents: f.consents,
		Locales: catalog(f.t), Currency: kes, Location: nairobi, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	f.stop = func() { cancel(); <-done }
}

// rows waits until the store holds n rows matching filter, and returns them.
func (f *consumerFixture) rows(filter Filter, n int) []Stored {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rows, err := f.st.List(context.Background(), filter)
		if err != nil {
			f.t.Fatal(err)
		}
		if len(rows) >= n || time.Now().After(deadline) {
			if len(rows) != n {
				f.t.Fatalf("%+v: %d rows, want %d: %+v", filter, len(rows), n, rows)
			}
			return rows
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConsumer records the receipts of a real wallet's events, the
// messages and consents handed over by Client, once each however often
// they are delivered, and replays receipts from the wallet's database.
func TestConsumer(t *testing.T) {
	f := newConsumerFixture(t)
	ctx := context.Background()
	w := f.w
	alice := w.Customer("Alice Wanjiru", "2580", 100_000)
	bob := w.Customer("Bob Otieno", "2580", 0)
	r, err := w.Client.Transfer(ctx, wallet.TransferRequest{Key: "consumer-send", Kind: wallet.TransferSend, From: alice, To: bob, Amount: 10_000, PIN: "2580"})
	if err != nil {
		t.Fatal(err)
	}
	got := f.rows(Filter{Transfer: r.Transfer.ID}, 2)
	for _, row := range got {
		if row.Kind != KindReceipt || (row.To != alice && row.To != bob) || row.Encoding == "" || row.Parts != 1 {
			t.Errorf("receipt %+v: want a one-part receipt to Alice or Bob", row)
		}
	}

	// The event published again (a relay that crashed before deleting it,
	// outside the stream's dedupe window) and a consumer restarted: nothing
	// new is recorded.
	f.stop()
	var ev wallet.Event
	events, err := w.Client.Events(ctx, natsapi.EventsRequest{Since: r.Transfer.Created.Add(-time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Events {
		if e.Transfer.ID == r.Transfer.ID {
			ev = e
		}
	}
	data, _ := json.Marshal(ev)
	msg := &nats.Msg{Subject: w.Prefix + "." + wallet.EventSubjectPrefix + "send", Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, "again-"+r.Transfer.Ref)
	if _, err := w.JS.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	// An event of a kind this notifier does not know is left for a newer one.
	future := wallet.Event{Transfer: wallet.Transfer{ID: 99, Ref: wallet.Ref(99), Kind: "teleport"}}
	data, _ = json.Marshal(future)
	if _, err := w.JS.Publish(ctx, w.Prefix+"."+wallet.EventSubjectPrefix+"teleport", data); err != nil {
		t.Fatal(err)
	}
	f.start()

	// Messages, once each under their key; reports; consents.
	for range 2 {
		if err := f.client.Send(ctx, Message{Key: "reply:test:1", To: alice, Language: "sw", Text: "Habari"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.client.Consent(ctx, bob, false); err != nil {
		t.Fatal(err)
	}
	msgs := f.rows(Filter{Kind: KindMessage}, 1)
	if m := msgs[0]; m.Key != "reply:test:1" || m.To != alice || m.Text != "Habari" || m.Language != "sw" || m.Status != StatusPending {
		t.Errorf("message %+v", m)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		on, err := f.consents.Promotions(ctx, bob)
		if err != nil {
			t.Fatal(err)
		}
		if !on {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Bob's STOP not recorded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if on, _ := f.consents.Promotions(ctx, alice); !on {
		t.Error("Alice, who never sent STOP, may not get promotions")
	}
	// An older START arriving after the STOP does not undo it.
	if err := f.consents.Set(ctx, Consent{Phone: bob, Promotions: true, At: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if on, _ := f.consents.Promotions(ctx, bob); on {
		t.Error("an older START overrode a later STOP")
	}
	// The events consumer has had everything: the send again recorded
	// nothing new, and the unknown kind is left unacknowledged.
	cons, err := w.JS.Consumer(ctx, natsapi.EventStream(w.Prefix), Durable)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := w.JS.Stream(ctx, natsapi.EventStream(w.Prefix))
	if err != nil {
		t.Fatal(err)
	}
	for {
		ci, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		si, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ci.Delivered.Stream >= si.State.LastSeq && ci.NumAckPending <= 1 {
			if ci.AckFloor.Stream >= si.State.LastSeq {
				t.Errorf("the event of an unknown kind was acknowledged: %+v", ci.AckFloor)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events consumer at %+v, stream at %d", ci.Delivered, si.State.LastSeq)
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.rows(Filter{Transfer: r.Transfer.ID}, 2)

	// Replay re-derives everything since before the send: nothing new,
	// then, with the rows gone (a lost stream), the same receipts again.
	cat := catalog(t)
	since := r.Transfer.Created.Add(-time.Minute)
	res, err := Replay(ctx, w.Client, f.st, cat, kes, nairobi, since)
	if err != nil {
		t.Fatal(err)
	}
	if res.Recorded != 0 || res.Receipts < 2 {
		t.Errorf("replay over a complete table: %+v, want the receipts found and none recorded", res)
	}
	if err := f.st.db.Where("transfer_id = ?", r.Transfer.ID).Delete(&smsRow{}).Error; err != nil {
		t.Fatal(err)
	}
	res, err = Replay(ctx, w.Client, f.st, cat, kes, nairobi, since)
	if err != nil {
		t.Fatal(err)
	}
	if res.Recorded != 2 {
		t.Errorf("replay after losing a transfer's receipts: %+v, want 2 recorded", res)
	}
	again := f.rows(Filter{Transfer: r.Transfer.ID}, 2)
	for i := range again {
		if again[i].Text != got[i].Text || again[i].Key != got[i].Key {
			t.Errorf("replayed receipt %q, want the original %q", again[i].Text, got[i].Text)
		}
	}
}
