package notify

import (
	"encoding/json"
	"fmt"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// OutgoingWebhook is a webhook delivery to record: one event for one merchant.
type OutgoingWebhook struct {
	Merchant string // till or paybill number
	Event    string // the event id, unique per merchant
	Type     merchant.EventType
	Payload  []byte // the JSON body to POST: a merchant.Event
	// Seq orders the merchant's deliveries: the stream sequence of the
	// message the event came in, so that the deliveries follow the stream
	// whichever notifier records them.
	Seq uint64
}

// Limits of what a recorded delivery holds; an event past them is a bug in
// its producer, dropped with a log line rather than failing its batch.
const (
	merchantBytesMax    = 32
	eventIDBytesMax     = 96
	eventTypeBytesMax   = 64
	webhookPayloadMax   = 1 << 20 // a merchant.Event is a few hundred bytes; NATS's default message limit
	transferEventPrefix = "evt_"
)

// validate reports why w cannot be recorded.
func (w OutgoingWebhook) Validate() error {
	switch {
	case w.Merchant == "" || len(w.Merchant) > merchantBytesMax:
		return fmt.Errorf("notify: webhook merchant %.40q: want 1 to %d bytes", w.Merchant, merchantBytesMax)
	case w.Event == "" || len(w.Event) > eventIDBytesMax:
		return fmt.Errorf("notify: webhook event id %.40q: want 1 to %d bytes", w.Event, eventIDBytesMax)
	case w.Type == "" || len(w.Type) > eventTypeBytesMax:
		return fmt.Errorf("notify: webhook %s: type %.40q: want 1 to %d bytes", w.Event, w.Type, eventTypeBytesMax)
	case len(w.Payload) == 0 || len(w.Payload) > webhookPayloadMax:
		return fmt.Errorf("notify: webhook %s: payload of %d bytes, want 1 to %d", w.Event, len(w.Payload), webhookPayloadMax)
	}
	return nil
}

// MerchantWebhook is the webhook delivery of a merchant event from the
// wallet's outbox: ev's Event with its data turned into the object's view
// in cur (merchant.ViewEventData), the JSON the REST API answers for the
// same object. The customer's phone and language, which ride along for the
// SMS prompt, are not sent to the merchant. An event of a type this
// notifier does not know (from a newer wallet) goes as the wallet wrote it.
// A known event whose data is not its object is an error: the producer's bug.
func MerchantWebhook(cur wallet.Currency, ev merchant.OutboxEvent, seq uint64) (OutgoingWebhook, error) {
	out := ev.Event
	if _, known := merchant.EventView(ev.Type); known {
		data, err := merchant.ViewEventData(cur, ev.Type, ev.Data)
		if err != nil {
			return OutgoingWebhook{}, fmt.Errorf("notify: merchant event %s: %w", ev.ID, err)
		}
		out.Data = data
	}
	body, err := json.Marshal(out)
	if err != nil {
		return OutgoingWebhook{}, fmt.Errorf("notify: merchant event %s: %w", ev.ID, err)
	}
	w := OutgoingWebhook{Merchant: ev.Merchant, Event: ev.ID, Type: ev.Type, Payload: body, Seq: seq}
	return w, w.Validate()
}

// TransferEvents returns the merchant events a wallet transfer makes, one
// per merchant it concerns, in the order of the event's parties:
//
//   - payment.received to each till or paybill credited principal by a
//     till or pay-bill payment or a tab's settlement (each payee of a split);
//   - refund.completed to the merchant a refund is from;
//   - payout.paid to the merchant a payout is from.
//
// Each event's ID is "evt_<transfer ref>_<merchant number>", the same
// however often the transfer's event is delivered, and its Data the
// transfer as that merchant sees it, amounts in cur: the
// merchant.TransactionView that GET /v1/transactions/{id} answers that
// merchant (merchant.TransactionOf: its principal, the fees it paid, the
// change to its balance, the counterparty), refunded nothing yet. Other
// kinds make none.
func TransferEvents(cur wallet.Currency, ev wallet.Event) []merchant.Event {
	t := ev.Transfer
	var out []merchant.Event
	for _, p := range ev.Parties {
		if p.Kind != wallet.KindTill && p.Kind != wallet.KindPaybill {
			continue
		}
		var typ merchant.EventType
		switch t.Kind {
		case wallet.TransferTill, wallet.TransferPaybill, wallet.TransferSettle:
			if principalCredits(t)[p.ID] > 0 {
				typ = merchant.EventPaymentReceived
			}
		case wallet.TransferRefund:
			if p.ID == t.Source {
				typ = merchant.EventRefund
			}
		case wallet.TransferPayout:
			if p.ID == t.Source {
				typ = merchant.EventPayoutPaid
			}
		}
		if typ == "" {
			continue
		}
		tx := merchant.TransactionOf(ev, p)
		data, err := json.Marshal(merchant.ViewTransaction(cur, &tx))
		if err != nil {
			panic("notify: a transaction view: " + err.Error()) // plain fields: cannot fail
		}
		out = append(out, merchant.Event{ID: TransferEventID(t.Ref, p.Number), Type: typ,
			Merchant: p.Number, Created: t.Created.UTC(), Data: data})
	}
	return out
}

// TransferEventID is the id of the event a transfer (its Ref) makes for
// the merchant whose account number is merchant: its deliveries are found
// by it.
func TransferEventID(ref, merchant string) string { return transferEventPrefix + ref + "_" + merchant }

// TransferWebhooks is TransferEvents as deliveries to record.
func TransferWebhooks(cur wallet.Currency, ev wallet.Event, seq uint64) []OutgoingWebhook {
	evs := TransferEvents(cur, ev)
	out := make([]OutgoingWebhook, 0, len(evs))
	for _, e := range evs {
		body, err := json.Marshal(e)
		if err != nil {
			panic("notify: a merchant event: " + err.Error())
		}
		out = append(out, OutgoingWebhook{Merchant: e.Merchant, Event: e.ID, Type: e.Type, Payload: body, Seq: seq})
	}
	return out
}
