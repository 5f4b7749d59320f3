package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// inboundRow is a row of sms_inbound: an Inbound a gateway recorded, with
// the time the stream took it. A Reply is checked against it.
type inboundRow struct {
	ID    string    `gorm:"primaryKey;size:128"`
	Phone string    `gorm:"size:20;not null"`
	At    time.Time `gorm:"not null;index"`
}

func (inboundRow) TableName() string { return "sms_inbound" }

// recordInbound records in, taken by the stream at at, unless its id is
// recorded already (the first phone named with an id keeps it), and drops
// the Inbounds older than inboundKeep.
func (s *Store) recordInbound(ctx context.Context, in Inbound, at time.Time) error {
	release := s.writing()
	defer release()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("at < ?", at.Add(-inboundKeep)).Delete(&inboundRow{}).Error; err != nil {
			return err
		}
		return tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&inboundRow{ID: in.ID, Phone: in.Phone, At: at.UTC()}).Error
	})
	if err != nil {
		return fmt.Errorf("record inbound: %w", err)
	}
	return nil
}

// inbound returns the Inbound recorded with id, and whether there is one.
func (s *Store) inbound(ctx context.Context, id string) (inboundRow, bool, error) {
	var r inboundRow
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&r).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return inboundRow{}, false, nil
	case err != nil:
		return inboundRow{}, false, fmt.Errorf("inbound: %w", err)
	}
	return r, true, nil
}
