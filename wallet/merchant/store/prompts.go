package store

import (
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	walletstore "github.com/kibubu/kibubu/wallet/store"
)

// The prompt limits (merchant.PromptGate) are counted in the database, so
// that they hold however many wallet processes share it: every new payment
// request and tab writes a promptRow in its creating transaction, and the
// count of a phone's or a merchant's rows within the window decides. To
// keep two processes from both counting four of five and both inserting
// the fifth and sixth, a creation first bumps a promptLockRow for the
// merchant and one for the phone (in that order, always): the upsert holds
// the row lock in PostgreSQL until the transaction ends, so creations for
// one phone or one merchant are counted one after another (and READ
// COMMITTED counts with a fresh snapshot once the lock is held); SQLite has
// one writer at a time anyway. A refused creation rolls back with nothing
// written.
var promptModels = []any{&promptRow{}}

// promptRow is one prompt: a payment request or tab created. Rows older
// than the longest window are pruned, per phone, as new prompts are made.
type promptRow struct {
	ID       uint64    `gorm:"primaryKey;autoIncrement"`
	Merchant string    `gorm:"size:32;not null;index:idx_prompts_merchant,priority:1;index:idx_prompts_pair,priority:1"`
	Phone    string    `gorm:"size:20;not null;index:idx_prompts_phone,priority:1;index:idx_prompts_pair,priority:2"`
	Created  time.Time `gorm:"not null;index:idx_prompts_merchant,priority:2;index:idx_prompts_phone,priority:2;index:idx_prompts_pair,priority:3"`
}

func (promptRow) TableName() string { return "prompts" }

// admitPrompt counts a prompt from payee (a merchant) to phone against gate inside
// tx and records it, or returns a CodeRateLimited *wallet.Error.
func admitPrompt(tx *gorm.DB, gate merchant.PromptGate, payee, phone string) error {
	if gate.Phone.Max <= 0 && gate.Pair.Max <= 0 && gate.Merchant.Max <= 0 {
		return nil
	}
	for _, name := range []string{"merchant:" + payee, "phone:" + phone} {
		if err := walletstore.Lock(tx, name); err != nil {
			return fmt.Errorf("lock prompts: %w", err)
		}
	}
	now := gate.Now.UTC()
	checks := []struct {
		lim   merchant.PromptLimit
		where string
		args  []any
		who   string
	}{
		{gate.Pair, "merchant = ? AND phone = ?", []any{payee, phone}, "from this merchant to this customer"},
		{gate.Phone, "phone = ?", []any{phone}, "to this customer"},
		{gate.Merchant, "merchant = ?", []any{payee}, "from this merchant"},
	}
	var longest time.Duration
	for _, c := range checks {
		if c.lim.Max <= 0 {
			continue
		}
		longest = max(longest, c.lim.Window)
		// A prompt counts while it is younger than the window: made after
		// now - window.
		in := tx.Model(&promptRow{}).Where(c.where+" AND created > ?", append(c.args, now.Add(-c.lim.Window))...)
		var n int64
		if err := in.Count(&n).Error; err != nil {
			return fmt.Errorf("count prompts: %w", err)
		}
		if n < int64(c.lim.Max) {
			continue
		}
		// The oldest of the last Max prompts frees a place when it leaves
		// the window.
		var freed []promptRow
		if err := tx.Where(c.where+" AND created > ?", append(c.args, now.Add(-c.lim.Window))...).
			Order("created DESC, id DESC").Offset(c.lim.Max - 1).Limit(1).Find(&freed).Error; err != nil {
			return fmt.Errorf("count prompts: %w", err)
		}
		wait := time.Second
		if len(freed) == 1 {
			wait = max(wait, freed[0].Created.Add(c.lim.Window).Sub(now))
		}
		secs := int64((wait + time.Second - 1) / time.Second)
		return &wallet.Error{Code: wallet.CodeRateLimited, RetryAfter: secs,
			Message: fmt.Sprintf("too many payment requests and tabs %s just now (at most %d in %s); try again in %d s",
				c.who, c.lim.Max, c.lim.Window, secs)}
	}
	if err := tx.Create(&promptRow{Merchant: payee, Phone: phone, Created: now}).Error; err != nil {
		return fmt.Errorf("record prompt: %w", err)
	}
	if longest > 0 {
		if err := tx.Where("phone = ? AND created <= ?", phone, now.Add(-longest)).Delete(&promptRow{}).Error; err != nil {
			return fmt.Errorf("prune prompts: %w", err)
		}
	}
	return nil
}
