package store

import (
	"encoding/json"
	"fmt"

	"gorm.io/gorm"

	"github.com/kibubu/kibubu/wallet/merchant"
	walletstore "github.com/kibubu/kibubu/wallet/store"
)

// insertEvents writes merchant events to the outbox in tx, the transaction
// that makes the change they report, so that the relay publishes each once
// (Nats-Msg-Id = the event id) if and only if the change committed.
func insertEvents(tx *gorm.DB, evs []merchant.OutboxEvent) error {
	if len(evs) == 0 {
		return nil
	}
	rows := make([]walletstore.Event, len(evs))
	for i, e := range evs {
		payload, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("merchant event: %w", err)
		}
		rows[i] = walletstore.Event{Subject: merchant.Subject(e.Type), Payload: payload, MsgID: e.ID}
	}
	if err := walletstore.AddEvents(tx, rows); err != nil {
		return fmt.Errorf("merchant events: %w", err)
	}
	return nil
}
