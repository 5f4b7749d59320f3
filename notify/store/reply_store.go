package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kibubu/kibubu/notify"
)

// Inbound is a row of sms_inbound: an Inbound a gateway recorded, with
// the time the stream took it. A Reply is checked against it.
type Inbound struct {
	ID    string    `gorm:"primaryKey;size:128"`
	Phone string    `gorm:"size:20;not null"`
	At    time.Time `gorm:"not null;index"`
}

func (Inbound) TableName() string { return "sms_inbound" }

// RecordInbound records in, taken by the stream at at, unless its id is
// recorded already (the first phone named with an id keeps it), and drops
// the Inbounds older than inboundKeep.
func (s *Store) RecordInbound(ctx context.Context, in notify.Inbound, at time.Time) error {
	release := s.writing()
	defer release()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("at < ?", at.Add(-notify.InboundKeep)).Delete(&Inbound{}).Error; err != nil {
			return err
		}
		return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&Inbound{ID: in.ID, Phone: in.Phone, At: at.UTC()}).Error
	})
	if err != nil {
		return fmt.Errorf("record inbound: %w", err)
	}
	return nil
}

// Inbound returns the Inbound recorded with id, and whether there is one.
func (s *Store) Inbound(ctx context.Context, id string) (Inbound, bool, error) {
	var r Inbound
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&r).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return Inbound{}, false, nil
	case err != nil:
		return Inbound{}, false, fmt.Errorf("inbound: %w", err)
	}
	return r, true, nil
}
