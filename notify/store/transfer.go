package store

import (
	"context"
	"fmt"

	"github.com/kibubu/kibubu/notify"
)

// What the back-office reads about one transfer (its page): the receipts
// recorded for its parties and its merchant events' webhook deliveries.
// Both are found by their unique keys (sms_messages.key, the
// (merchant, event_id) of webhook_deliveries): sms_messages.transfer_id
// has no index, and a query by it would read the outbox.

// TransferKeysMax bounds the keys one question names: a transfer's
// parties are a handful (source, target, fee, commission, a requester).
const TransferKeysMax = 16

// Receipts returns the SMS recorded under keys (notify.ReceiptKey), in id
// order; a key with none is left out. More than TransferKeysMax keys is a
// bug in the caller.
func (s *Store) Receipts(ctx context.Context, keys []string) ([]notify.Stored, error) {
	if len(keys) > TransferKeysMax {
		return nil, fmt.Errorf("receipts: %d keys, at most %d", len(keys), TransferKeysMax)
	}
	out := []notify.Stored{}
	if len(keys) == 0 {
		return out, nil
	}
	var rows []smsRow
	if err := s.db.WithContext(ctx).Where(`"key" IN ?`, keys).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("receipts: %w", err)
	}
	for i := range rows {
		out = append(out, rows[i].stored())
	}
	return out, nil
}

// EventDelivery names a merchant's delivery of one event.
type EventDelivery struct {
	Merchant string
	Event    string
}

// MerchantDelivery is a delivery and the merchant it is for.
type MerchantDelivery struct {
	Merchant string          `json:"merchant"`
	Delivery notify.Delivery `json:"delivery"`
}

// EventDeliveries returns the deliveries of the given events, with their
// attempts, in the order asked; an event with none is left out. More than
// TransferKeysMax events is a bug in the caller.
func (s *Store) EventDeliveries(ctx context.Context, events []EventDelivery) ([]MerchantDelivery, error) {
	if len(events) > TransferKeysMax {
		return nil, fmt.Errorf("event deliveries: %d events, at most %d", len(events), TransferKeysMax)
	}
	out := []MerchantDelivery{}
	if len(events) == 0 {
		return out, nil
	}
	merchants, ids := make([]string, len(events)), make([]string, len(events))
	for i, e := range events {
		merchants[i], ids[i] = e.Merchant, e.Event
	}
	var found []webhookDelivery
	if err := s.db.WithContext(ctx).Where("merchant IN ? AND event_id IN ?", merchants, ids).Find(&found).Error; err != nil {
		return nil, fmt.Errorf("event deliveries: %w", err)
	}
	var rows []webhookDelivery
	for _, e := range events {
		for _, r := range found {
			if r.Merchant == e.Merchant && r.EventID == e.Event {
				rows = append(rows, r)
			}
		}
	}
	ds, err := s.withAttempts(ctx, rows)
	if err != nil {
		return nil, err
	}
	for i, d := range ds {
		out = append(out, MerchantDelivery{Merchant: rows[i].Merchant, Delivery: d})
	}
	return out, nil
}
