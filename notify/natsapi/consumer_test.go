package natsapi

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/notify/store"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	walletapi "github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

// consumerFixture is a real wallet (its relay publishing events) and the
// notifier's consumers recording into the wallet's database.
type consumerFixture struct {
	t        *testing.T
	w        *wallettest.Wallet
	st       *store.Store
	consents *store.Consents
	client   *Client
	stop     func()
}

func newConsumerFixture(t *testing.T) *consumerFixture {
	t.Helper()
	ctx := context.Background()
	w := wallettest.Start(t)
	st, err := store.Open(ctx, w.Store.Gorm())
	if err != nil {
		t.Fatal(err)
	}
	consents, err := store.OpenConsents(ctx, w.Store.Gorm())
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
func (f *consumerFixture) rows(filter store.Filter, n int) []notify.Stored {
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
	got := f.rows(store.Filter{Transfer: r.Transfer.ID}, 2)
	for _, row := range got {
		if row.Kind != notify.KindReceipt || (row.To != alice && row.To != bob) || row.Encoding == "" || row.Parts != 1 {
			t.Errorf("receipt %+v: want a one-part receipt to Alice or Bob", row)
		}
	}

	// The event published again (a relay that crashed before deleting it,
	// outside the stream's dedupe window) and a consumer restarted: nothing
	// new is recorded.
	f.stop()
	var ev wallet.Event
	events, err := w.Client.Events(ctx, walletapi.EventsRequest{Since: r.Transfer.Created.Add(-time.Second)})
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
		if err := f.client.Send(ctx, notify.Message{Key: "reply:test:1", To: alice, Language: "sw", Text: "Habari"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.client.Consent(ctx, bob, false); err != nil {
		t.Fatal(err)
	}
	msgs := f.rows(store.Filter{Kind: notify.KindMessage}, 1)
	if m := msgs[0]; m.Key != "reply:test:1" || m.To != alice || m.Text != "Habari" || m.Language != "sw" || m.Status != notify.StatusPending {
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
	if err := f.consents.Set(ctx, notify.Consent{Phone: bob, Promotions: true, At: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if on, _ := f.consents.Promotions(ctx, bob); on {
		t.Error("an older START overrode a later STOP")
	}
	// The events consumer has had everything: the send again recorded
	// nothing new, and the unknown kind is left unacknowledged.
	cons, err := w.JS.Consumer(ctx, walletapi.EventStream(w.Prefix), Durable)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := w.JS.Stream(ctx, walletapi.EventStream(w.Prefix))
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
	f.rows(store.Filter{Transfer: r.Transfer.ID}, 2)

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
	if err := w.Store.Gorm().Exec("DELETE FROM sms_messages WHERE transfer_id = ?", r.Transfer.ID).Error; err != nil {
		t.Fatal(err)
	}
	res, err = Replay(ctx, w.Client, f.st, cat, kes, nairobi, since)
	if err != nil {
		t.Fatal(err)
	}
	if res.Recorded != 2 {
		t.Errorf("replay after losing a transfer's receipts: %+v, want 2 recorded", res)
	}
	again := f.rows(store.Filter{Transfer: r.Transfer.ID}, 2)
	for i := range again {
		if again[i].Text != got[i].Text || again[i].Key != got[i].Key {
			t.Errorf("replayed receipt %q, want the original %q", again[i].Text, got[i].Text)
		}
	}
}

// publishMerchant publishes ev on the wallet's event stream as the relay
// does (subject wallet.events.merchant.<type>, Nats-Msg-Id msgID).
func (f *consumerFixture) publishMerchant(ev merchant.OutboxEvent, msgID string) {
	f.t.Helper()
	data, err := json.Marshal(ev)
	if err != nil {
		f.t.Fatal(err)
	}
	f.publish(f.w.Prefix+"."+merchant.Subject(ev.Type), data, msgID)
}

func (f *consumerFixture) publish(subject string, data []byte, msgID string) {
	f.t.Helper()
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	if _, err := f.w.JS.PublishMsg(context.Background(), msg); err != nil {
		f.t.Fatal(err)
	}
}

// deliveries waits until the store holds n deliveries for merchant, and
// returns them oldest first.
func (f *consumerFixture) deliveries(merchant string, n int) []notify.Delivery {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, _, err := f.st.Deliveries(context.Background(), store.DeliveryFilter{Merchant: merchant, Limit: notify.DeliveriesMax})
		if err != nil {
			f.t.Fatal(err)
		}
		if len(ds) >= n || time.Now().After(deadline) {
			if len(ds) != n {
				f.t.Fatalf("%s: %d deliveries, want %d: %+v", merchant, len(ds), n, ds)
			}
			slices.Reverse(ds)
			return ds
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// drained waits until the events consumer has acknowledged everything on
// the stream.
func (f *consumerFixture) drained() {
	f.t.Helper()
	ctx := context.Background()
	cons, err := f.w.JS.Consumer(ctx, walletapi.EventStream(f.w.Prefix), Durable)
	if err != nil {
		f.t.Fatal(err)
	}
	stream, err := f.w.JS.Stream(ctx, walletapi.EventStream(f.w.Prefix))
	if err != nil {
		f.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ci, err := cons.Info(ctx)
		if err != nil {
			f.t.Fatal(err)
		}
		si, err := stream.Info(ctx)
		if err != nil {
			f.t.Fatal(err)
		}
		if ci.AckFloor.Stream >= si.State.LastSeq && ci.NumAckPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("events consumer acknowledged up to %d, stream at %d, %d pending", ci.AckFloor.Stream, si.State.LastSeq, ci.NumAckPending)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConsumerMerchant records, from a real wallet's stream, the merchant
// services' events (a webhook delivery for a merchant with an endpoint;
// the customer's prompt for a payment request or a tab) and the webhooks
// of transfers (a till payment, and a split settlement's payees, each
// with its own share), once each, and acknowledges every merchant event,
// whatever its type.
func TestConsumerMerchant(t *testing.T) {
	f := newConsumerFixture(t)
	ctx := context.Background()
	w := f.w
	alice := w.Customer("Alice Wanjiru", "2580", 100_000)
	shop := w.Merchant("Duka la Awa", false)
	site := w.Merchant("Habari Daily", false)
	network := w.Merchant("Ads Network", true)
	quiet := w.Merchant("No Hooks Shop", false)
	for _, m := range []string{shop, site, network} {
		if _, err := f.st.SetWebhook(ctx, m, "https://"+m+".example/hooks", false); err != nil {
			t.Fatal(err)
		}
	}
	created := time.Date(2026, 11, 21, 11, 0, 0, 0, time.UTC)
	event := func(id string, typ merchant.EventType, payee string, obj any, phone, lang string) merchant.OutboxEvent {
		data, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		return merchant.OutboxEvent{Event: merchant.Event{ID: id, Type: typ, Merchant: payee, Created: created, Data: data},
			Phone: phone, Language: lang}
	}
	request := merchant.PaymentRequest{ID: "pr_1", Merchant: shop, MerchantName: "Duka la Awa", Phone: alice, Amount: 150_00,
		Reference: "INV-1", Status: merchant.RequestPending, Created: created, Expires: created.Add(2 * time.Minute)}
	tab := merchant.Tab{ID: "tab_1", Merchant: quiet, MerchantName: "No Hooks Shop", Phone: alice, Cap: kes.Micro(20_00),
		Status: merchant.TabPending, Created: created, Expires: created.Add(30 * 24 * time.Hour)}
	evs := []merchant.OutboxEvent{
		event("evt_req_created", merchant.EventRequestCreated, shop, request, alice, "sw"),
		event("evt_tab_created", merchant.EventTabCreated, quiet, tab, alice, "fr"),
		event("evt_payout_failed", merchant.EventPayoutFailed, shop, merchant.Payout{ID: "po_1", Merchant: shop}, "", ""),
		event("evt_future", "loyalty.points", shop, map[string]int{"points": 3}, "", ""),
	}
	for _, ev := range evs {
		f.publishMerchant(ev, ev.ID)
	}
	// Unreadable merchant events are dropped (terminated), not retried.
	f.publish(w.Prefix+"."+wallet.MerchantEventSubjectPrefix+"tab.created", []byte("{"), "garbage-1")
	f.publish(w.Prefix+"."+wallet.MerchantEventSubjectPrefix+"tab.created", []byte(`{"id":"","type":"tab.created"}`), "garbage-2")
	// The relay publishing one again, past the stream's dedupe window.
	f.publishMerchant(evs[0], "again-"+evs[0].ID)

	pay, err := w.Client.Transfer(ctx, wallet.TransferRequest{Key: "merchant-till", Kind: wallet.TransferTill, From: alice, To: shop, Amount: 300_00, PIN: "2580"})
	if err != nil {
		t.Fatal(err)
	}
	settle, err := w.Service.Transfer(ctx, wallet.TransferRequest{Key: "merchant-settle", Kind: wallet.TransferSettle, From: alice,
		To: site, Amount: 10_00, Reference: "tab_2", Splits: []wallet.Share{{To: site, Weight: 70}, {To: network, Weight: 30}}})
	if err != nil {
		t.Fatal(err)
	}

	f.drained()
	got := f.deliveries(shop, 4) // the merchant events, then the till payment's
	for i, want := range []struct {
		event string
		typ   merchant.EventType
	}{
		{"evt_req_created", merchant.EventRequestCreated},
		{"evt_payout_failed", merchant.EventPayoutFailed},
		{"evt_future", "loyalty.points"},
	} {
		if got[i].Event != want.event || got[i].Type != want.typ || got[i].URL != "https://"+shop+".example/hooks" {
			t.Errorf("shop delivery %d: %+v, want %s", i, got[i], want.event)
		}
	}
	if d := got[3]; d.Event != "evt_"+pay.Transfer.Ref+"_"+shop || d.Type != merchant.EventPaymentReceived {
		t.Errorf("the till payment's delivery: %+v", d)
	}
	if ds, _, _ := f.st.Deliveries(ctx, store.DeliveryFilter{Merchant: quiet}); len(ds) != 0 {
		t.Errorf("a merchant without an endpoint got deliveries: %+v", ds)
	}
	// The body is the event without the customer's phone and language.
	var body map[string]json.RawMessage
	var rows []deliveryRow
	if err := f.w.Store.Gorm().Where("event_id = ?", "evt_req_created").Find(&rows).Error; err != nil || len(rows) != 1 {
		t.Fatalf("%v, %d rows", err, len(rows))
	}
	if err := json.Unmarshal([]byte(rows[0].Payload), &body); err != nil || body["phone"] != nil || body["language"] != nil ||
		string(body["id"]) != `"evt_req_created"` || body["data"] == nil {
		t.Errorf("payload %s: want the event alone", rows[0].Payload)
	}
	// Its data is the request as the REST API shows it.
	if want, _ := json.Marshal(merchant.ViewPaymentRequest(kes, &request)); string(body["data"]) != string(want) {
		t.Errorf("data %s, want the request's view %s", body["data"], want)
	}
	// An event of a type this notifier does not know goes as it came.
	if err := f.w.Store.Gorm().Where("event_id = ?", "evt_future").Find(&rows).Error; err != nil || len(rows) != 1 {
		t.Fatalf("%v, %d rows", err, len(rows))
	}
	if err := json.Unmarshal([]byte(rows[0].Payload), &body); err != nil || string(body["data"]) != `{"points":3}` {
		t.Errorf("payload %s: want the unknown event's data as it came", rows[0].Payload)
	}

	// Each payee of the split settlement, with its share.
	shares := map[string]int64{}
	for _, m := range []string{site, network} {
		d := f.deliveries(m, 1)[0]
		if d.Event != "evt_"+settle.Transfer.Ref+"_"+m || d.Type != merchant.EventPaymentReceived {
			t.Errorf("%s: %+v", m, d)
		}
		if err := f.w.Store.Gorm().Where("id = ?", d.ID).Find(&rows).Error; err != nil {
			t.Fatal(err)
		}
		var ev merchant.Event
		var tx merchant.TransactionView
		if err := json.Unmarshal([]byte(rows[0].Payload), &ev); err != nil || json.Unmarshal(ev.Data, &tx) != nil {
			t.Fatalf("payload %s", rows[0].Payload)
		}
		if tx.ID != settle.Transfer.Ref || tx.Kind != string(wallet.TransferSettle) || tx.Direction != "in" || tx.Counterparty != alice ||
			tx.Reference != "tab_2" || tx.Currency != "KES" {
			t.Errorf("%s: %+v", m, tx)
		}
		amount, err := kes.ParseAmount(tx.Amount)
		if err != nil {
			t.Fatalf("%s: amount %q: %v", m, tx.Amount, err)
		}
		shares[m] = amount
	}
	fee := settle.Transfer.Fee
	if shares[site]+shares[network] != 10_00-fee || shares[site] < shares[network] {
		t.Errorf("shares %v with a fee of %d: want 10.00 less the fee, 70:30", shares, fee)
	}

	// The prompts: the request's to Alice in Swahili, the tab's in French,
	// once each.
	prompts := f.rows(store.Filter{Kind: notify.KindMessage}, 2)
	byKey := map[string]notify.Stored{}
	for _, p := range prompts {
		byKey[p.Key] = p
	}
	if p := byKey["prompt:evt_req_created"]; p.To != alice || p.Language != "sw" ||
		p.Text != "Duka la Awa anakuomba ulipe KES 150.00 kwa INV-1. Jibu kwa PIN kulipa au HAPANA na PIN kukataa, au piga *334# uchague 6 Idhini. Inaisha 14:02." {
		t.Errorf("the request's prompt: %+v", p)
	}
	if p := byKey["prompt:evt_tab_created"]; p.To != alice || p.Language != "fr" || !strings.Contains(p.Text, "ardoise de 20,00 KES au plus jusqu'à 21/12/26 14:00") {
		t.Errorf("the tab's prompt: %+v", p)
	}
	// Alice's receipt of the settlement.
	if r := f.rows(store.Filter{Transfer: settle.Transfer.ID}, 1)[0]; r.To != alice || !strings.Contains(r.Text, "KES 10.00 paid to Habari Daily for your tab") {
		t.Errorf("the settlement's receipt: %+v", r)
	}
}

// TestConsumerServiceCode checks the prompts' USSD code: too long is
// refused, and the default is the sessions' default, read from its source
// (sessions imports this package).
func TestConsumerServiceCode(t *testing.T) {
	if _, err := NewConsumer(ConsumerConfig{JS: struct{ jetstream.JetStream }{}, Store: &store.Store{}, Consents: &store.Consents{},
		Locales: catalog(t), Currency: kes, ServiceCode: "*384*1234567890#"}); err == nil {
		t.Error("a service code of 16 characters was accepted")
	}
	f, err := parser.ParseFile(token.NewFileSet(), "../../sessions/sms.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var theirs string
	ast.Inspect(f, func(n ast.Node) bool {
		if v, ok := n.(*ast.ValueSpec); ok && len(v.Names) == 1 && v.Names[0].Name == "DefaultServiceCode" && len(v.Values) == 1 {
			if lit, ok := v.Values[0].(*ast.BasicLit); ok {
				theirs, _ = strconv.Unquote(lit.Value)
			}
		}
		return true
	})
	if theirs != DefaultServiceCode {
		t.Errorf("DefaultServiceCode %q, sessions.DefaultServiceCode %q", DefaultServiceCode, theirs)
	}
}
