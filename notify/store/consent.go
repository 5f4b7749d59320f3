package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kibubu/kibubu/notify"
)

// consent is a phone's latest STOP or START.
type consent struct {
	Phone      string    `gorm:"primaryKey;size:20"`
	Promotions bool      `gorm:"not null"`
	At         time.Time `gorm:"not null"`
}

func (consent) TableName() string { return "sms_consents" }

// Consents keeps each phone's choice about promotional SMS. A phone that
// never sent STOP gets them (the carriers' START undoes a STOP; Kibubu
// sends nothing promotional yet, and a campaign sender must also honour the
// law of its market, e.g. Kenya's opt-in and hours).
type Consents struct {
	db *gorm.DB
}

// OpenConsents migrates notify's tables on db (Migrate) and returns the
// Consents on them.
func OpenConsents(ctx context.Context, db *gorm.DB) (*Consents, error) {
	if err := Migrate(ctx, db); err != nil {
		return nil, err
	}
	return NewConsents(db), nil
}

// NewConsents returns the Consents on db without migrating (see New).
func NewConsents(db *gorm.DB) *Consents { return &Consents{db: db} }

// Set records c unless a later choice of the same phone is already
// recorded: consents may arrive out of order from several gateways.
func (s *Consents) Set(ctx context.Context, c notify.Consent) error {
	row := consent{Phone: c.Phone, Promotions: c.Promotions, At: c.At.UTC()}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "phone"}},
		DoUpdates: clause.AssignmentColumns([]string{"promotions", "at"}),
		Where:     clause.Where{Exprs: []clause.Expression{clause.Expr{SQL: "sms_consents.at < excluded.at"}}},
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("record consent: %w", err)
	}
	return nil
}

// Promotions reports whether phone may get promotional SMS.
func (s *Consents) Promotions(ctx context.Context, phone string) (bool, error) {
	var rows []consent
	if err := s.db.WithContext(ctx).Where("phone = ?", phone).Limit(1).Find(&rows).Error; err != nil {
		return false, fmt.Errorf("read consent: %w", err)
	}
	return len(rows) == 0 || rows[0].Promotions, nil
}
