package store

import (
	"context"
	"fmt"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

// reversalRow is a reversal request (wallet.Reversal). Original is unique: a
// transfer has at most one request, even with several wallet processes
// taking one at once. idx_reversals_due serves the sweeper (by state, then
// deadline or last update).
type reversalRow struct {
	ID          int64     `gorm:"primaryKey;autoIncrement"`
	Original    int64     `gorm:"not null;uniqueIndex"`
	OriginalRef string    `gorm:"size:16;not null"`
	Kind        string    `gorm:"size:16;not null"`
	Sender      int64     `gorm:"not null"`
	Recipient   int64     `gorm:"not null"`
	Amount      int64     `gorm:"not null"`
	Held        int64     `gorm:"not null;default:0"`
	State       string    `gorm:"size:12;not null;index:idx_reversals_due,priority:1"`
	Deadline    time.Time `gorm:"index:idx_reversals_due,priority:2"`
	Reason      string    `gorm:"size:200;not null;default:''"`
	Actor       string    `gorm:"size:64;not null;default:''"`
	CreatedAt   time.Time `gorm:"not null"`
	UpdatedAt   time.Time `gorm:"not null;autoUpdateTime:false"`
}

func (reversalRow) TableName() string { return "reversal_requests" }

func (r *reversalRow) reversal() wallet.Reversal {
	return wallet.Reversal{ID: r.ID, Original: r.Original, OriginalRef: r.OriginalRef, Kind: wallet.TransferKind(r.Kind),
		Sender: r.Sender, Recipient: r.Recipient, Amount: r.Amount, Held: r.Held, State: wallet.ReversalState(r.State),
		Deadline: r.Deadline.UTC(), Reason: r.Reason, Actor: r.Actor, Created: r.CreatedAt.UTC(), Updated: r.UpdatedAt.UTC()}
}

// CreateReversal inserts r, setting its ID.
func (s *Store) CreateReversal(ctx context.Context, r *wallet.Reversal) error {
	row := &reversalRow{Original: r.Original, OriginalRef: r.OriginalRef, Kind: string(r.Kind), Sender: r.Sender,
		Recipient: r.Recipient, Amount: r.Amount, Held: r.Held, State: string(r.State), Deadline: r.Deadline.UTC(),
		Reason: r.Reason, Actor: r.Actor, CreatedAt: r.Created.UTC(), UpdatedAt: r.Updated.UTC()}
	if err := s.gdb.WithContext(ctx).Create(row).Error; err != nil {
		if isUnique(err) {
			return wallet.Errorf(wallet.CodeExists, "%s already has a reversal request", r.OriginalRef)
		}
		return fmt.Errorf("create reversal: %w", err)
	}
	r.ID = row.ID
	return nil
}

func (s *Store) reversalWhere(ctx context.Context, query string, arg any) (*wallet.Reversal, error) {
	var rows []reversalRow
	if err := s.gdb.WithContext(ctx).Where(query, arg).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("find reversal: %w", err)
	}
	if len(rows) == 0 {
		return nil, wallet.Errorf(wallet.CodeNotFound, "no such reversal request")
	}
	r := rows[0].reversal()
	return &r, nil
}

// Reversal returns request id.
func (s *Store) Reversal(ctx context.Context, id int64) (*wallet.Reversal, error) {
	return s.reversalWhere(ctx, "id = ?", id)
}

// ReversalByOriginal returns the request to reverse transfer original.
func (s *Store) ReversalByOriginal(ctx context.Context, original int64) (*wallet.Reversal, error) {
	return s.reversalWhere(ctx, "original = ?", original)
}

// UpdateReversal writes r's state and what goes with it if the stored
// state is still from.
func (s *Store) UpdateReversal(ctx context.Context, r *wallet.Reversal, from wallet.ReversalState) (bool, error) {
	res := s.gdb.WithContext(ctx).Model(&reversalRow{}).Where("id = ? AND state = ?", r.ID, string(from)).
		Updates(map[string]any{"state": string(r.State), "held": r.Held, "deadline": r.Deadline.UTC(),
			"reason": r.Reason, "actor": r.Actor, "updated_at": r.Updated.UTC()})
	if res.Error != nil {
		return false, fmt.Errorf("update reversal: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// Reversals lists requests in states (all when none), oldest first.
func (s *Store) Reversals(ctx context.Context, states []wallet.ReversalState, limit int) ([]wallet.Reversal, error) {
	q := s.gdb.WithContext(ctx).Order("id").Limit(limit)
	if len(states) > 0 {
		ss := make([]string, len(states))
		for i, st := range states {
			ss[i] = string(st)
		}
		q = q.Where("state IN ?", ss)
	}
	var rows []reversalRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list reversals: %w", err)
	}
	return reversals(rows), nil
}

// DueReversals lists the requests the sweeper must advance.
func (s *Store) DueReversals(ctx context.Context, now, leased time.Time, limit int) ([]wallet.Reversal, error) {
	var rows []reversalRow
	err := s.gdb.WithContext(ctx).Where("(state = ? AND deadline <= ?) OR (state IN ? AND updated_at <= ?)",
		string(wallet.ReversalHeld), now.UTC(),
		[]string{string(wallet.ReversalRequested), string(wallet.ReversalCompleting), string(wallet.ReversalRejecting)}, leased.UTC()).
		Order("id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("due reversals: %w", err)
	}
	return reversals(rows), nil
}

func reversals(rows []reversalRow) []wallet.Reversal {
	out := make([]wallet.Reversal, len(rows))
	for i := range rows {
		out[i] = rows[i].reversal()
	}
	return out
}
