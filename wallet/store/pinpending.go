package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/kibubu/kibubu/wallet"
)

// pendingPINModels are the tables of new PINs waiting for their
// confirmation (wallet.PendingPINStore).
var pendingPINModels = []any{&pendingPINRow{}, &lockRow{}}

// pendingPINRow is one new PIN chosen and not yet confirmed: its peppered
// hash, never the PIN. Times are Unix milliseconds, compared as numbers on
// both databases.
type pendingPINRow struct {
	ID        uint64 `gorm:"primaryKey;autoIncrement"`
	TokenHash []byte `gorm:"not null;uniqueIndex:idx_pending_pins_token"`
	Phone     string `gorm:"size:20;not null;index:idx_pending_pins_phone,priority:1"`
	Purpose   string `gorm:"size:16;not null"`
	Proof     string `gorm:"size:64;not null;default:''"`
	Name      string `gorm:"size:64;not null;default:''"`
	Language  string `gorm:"size:8;not null;default:''"`
	PinHash   []byte `gorm:"not null"`
	PinSalt   []byte `gorm:"not null"`
	Created   int64  `gorm:"not null;index:idx_pending_pins_phone,priority:2"`
	Expires   int64  `gorm:"not null;index"`
}

func (pendingPINRow) TableName() string { return "pending_pins" }

// AddPendingPIN inserts p after sweeping expired records and making room
// under the phone's bound. Additions for one phone take its lock row (the
// prompt limits' table, under "pin:<phone>") first, so that in PostgreSQL
// they count one after another; SQLite has one writer at a time anyway.
func (s *Store) AddPendingPIN(ctx context.Context, p *wallet.PendingPIN, now time.Time, perPhoneMax int) error {
	row := &pendingPINRow{TokenHash: p.TokenHash, Phone: p.Phone, Purpose: string(p.Purpose), Proof: p.Proof,
		Name: p.Name, Language: p.Language, PinHash: p.PINHash, PinSalt: p.PINSalt,
		Created: p.Created.UnixMilli(), Expires: p.Expires.UnixMilli()}
	err := s.gormTx(ctx, retryable, func(tx *gorm.DB) error {
		if err := Lock(tx, "pin:"+p.Phone); err != nil {
			return fmt.Errorf("lock pending PINs: %w", err)
		}
		if err := tx.Where("expires <= ?", now.UnixMilli()).Delete(&pendingPINRow{}).Error; err != nil {
			return fmt.Errorf("sweep pending PINs: %w", err)
		}
		var live []pendingPINRow
		if err := tx.Select("id").Where("phone = ?", p.Phone).Order("created DESC, id DESC").Find(&live).Error; err != nil {
			return fmt.Errorf("count pending PINs: %w", err)
		}
		if keep := max(perPhoneMax-1, 0); len(live) > keep {
			ids := make([]uint64, 0, len(live)-keep)
			for _, r := range live[keep:] {
				ids = append(ids, r.ID)
			}
			if err := tx.Where("id IN ?", ids).Delete(&pendingPINRow{}).Error; err != nil {
				return fmt.Errorf("replace pending PINs: %w", err)
			}
		}
		row.ID = 0
		return tx.Create(row).Error
	})
	if err != nil {
		return fmt.Errorf("add pending PIN: %w", err)
	}
	return nil
}

// TakePendingPIN deletes and returns the record with tokenHash and phone.
// Only the call whose delete removed the row returns it: a concurrent one
// finds none.
func (s *Store) TakePendingPIN(ctx context.Context, tokenHash []byte, phone string) (*wallet.PendingPIN, error) {
	var out *wallet.PendingPIN
	err := s.gormTx(ctx, retryable, func(tx *gorm.DB) error {
		out = nil
		r, err := first[pendingPINRow](tx, "token_hash = ? AND phone = ?", tokenHash, phone)
		if err != nil || r == nil {
			return err
		}
		del := tx.Where("id = ?", r.ID).Delete(&pendingPINRow{})
		if del.Error != nil {
			return del.Error
		}
		if del.RowsAffected == 1 {
			out = &wallet.PendingPIN{TokenHash: r.TokenHash, Phone: r.Phone, Purpose: wallet.PendingPurpose(r.Purpose),
				Proof: r.Proof, Name: r.Name, Language: r.Language, PINHash: r.PinHash, PINSalt: r.PinSalt,
				Created: time.UnixMilli(r.Created).UTC(), Expires: time.UnixMilli(r.Expires).UTC()}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("take pending PIN: %w", err)
	}
	if out == nil {
		return nil, wallet.Errorf(wallet.CodeNotFound, "no such pending PIN")
	}
	return out, nil
}
