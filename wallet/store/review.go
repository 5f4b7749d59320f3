package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

// reviewModels are the review queue's tables (wallet.ReviewStore).
var reviewModels = []any{&reviewRow{}}

// reviewRow is one decision of a fraud rule that fired: a held transfer
// (its request as JSON, never a PIN) waiting for an operator or decided, or
// a block. Times are Unix milliseconds; 0 is not yet.
type reviewRow struct {
	ID       int64  `gorm:"primaryKey;autoIncrement"`
	Key      string `gorm:"size:128;not null;index"`
	Status   string `gorm:"size:16;not null;index:idx_reviews_status,priority:1"`
	Rule     string `gorm:"size:64;not null"`
	Outcome  string `gorm:"size:8;not null"`
	Saw      string `gorm:"size:256;not null;default:''"`
	Request  []byte `gorm:"not null"`
	Account  int64  `gorm:"not null;index"`
	Created  int64  `gorm:"not null"`
	Decided  int64  `gorm:"not null;default:0"`
	Operator string `gorm:"size:64;not null;default:''"`
	Reason   string `gorm:"size:256;not null;default:''"`
	Ref      string `gorm:"size:16;not null;default:''"`
	Error    string `gorm:"size:32;not null;default:''"`
}

func (reviewRow) TableName() string { return "reviews" }

var _ wallet.ReviewStore = (*Store)(nil)

func reviewRowOf(r *wallet.Review) (*reviewRow, error) {
	req, err := json.Marshal(r.Request)
	if err != nil {
		return nil, err
	}
	row := &reviewRow{ID: r.ID, Key: r.Key, Status: string(r.Status), Rule: r.Rule, Outcome: string(r.Outcome),
		Saw: r.Saw, Request: req, Account: r.Account, Created: r.Created.UnixMilli(), Operator: r.Operator,
		Reason: r.Reason, Ref: r.Ref, Error: string(r.Error)}
	if !r.Decided.IsZero() {
		row.Decided = r.Decided.UnixMilli()
	}
	return row, nil
}

func (row *reviewRow) review() (wallet.Review, error) {
	r := wallet.Review{ID: row.ID, Key: row.Key, Status: wallet.ReviewStatus(row.Status), Rule: row.Rule,
		Outcome: wallet.RuleOutcome(row.Outcome), Saw: row.Saw, Account: row.Account,
		Created: time.UnixMilli(row.Created).UTC(), Operator: row.Operator, Reason: row.Reason, Ref: row.Ref,
		Error: wallet.Code(row.Error)}
	if row.Decided != 0 {
		r.Decided = time.UnixMilli(row.Decided).UTC()
	}
	if err := json.Unmarshal(row.Request, &r.Request); err != nil {
		return r, fmt.Errorf("review %d: request: %w", row.ID, err)
	}
	return r, nil
}

// AddReview records r and sets its ID.
func (s *Store) AddReview(ctx context.Context, r *wallet.Review) error {
	row, err := reviewRowOf(r)
	if err != nil {
		return fmt.Errorf("add review: %w", err)
	}
	row.ID = 0
	if err := s.gdb.WithContext(ctx).Create(row).Error; err != nil {
		return fmt.Errorf("add review: %w", err)
	}
	r.ID = row.ID
	return nil
}

// ReviewByID returns a review; CodeNotFound when there is none.
func (s *Store) ReviewByID(ctx context.Context, id int64) (*wallet.Review, error) {
	var rows []reviewRow
	if err := s.gdb.WithContext(ctx).Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("review %d: %w", id, err)
	}
	if len(rows) == 0 {
		return nil, wallet.Errorf(wallet.CodeNotFound, "no review %d", id)
	}
	r, err := rows[0].review()
	return &r, err
}

// Reviews returns up to limit reviews with status ("" for any) and ids
// above after, oldest first.
func (s *Store) Reviews(ctx context.Context, status wallet.ReviewStatus, after int64, limit int) ([]wallet.Review, error) {
	q := s.gdb.WithContext(ctx).Where("id > ?", after)
	if status != "" {
		q = q.Where("status = ?", string(status))
	}
	var rows []reviewRow
	if err := q.Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("reviews: %w", err)
	}
	out := make([]wallet.Review, 0, len(rows))
	for i := range rows {
		r, err := rows[i].review()
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// UpdateReview saves r's status and decision if its stored status is
// from: of two operators deciding at once, one wins and the other gets
// CodeInvalidState.
func (s *Store) UpdateReview(ctx context.Context, r *wallet.Review, from wallet.ReviewStatus) error {
	row, err := reviewRowOf(r)
	if err != nil {
		return fmt.Errorf("update review %d: %w", r.ID, err)
	}
	res := s.gdb.WithContext(ctx).Model(&reviewRow{}).Where("id = ? AND status = ?", r.ID, string(from)).
		Updates(map[string]any{"status": row.Status, "decided": row.Decided, "operator": row.Operator,
			"reason": row.Reason, "ref": row.Ref, "error": row.Error})
	if res.Error != nil {
		return fmt.Errorf("update review %d: %w", r.ID, res.Error)
	}
	if res.RowsAffected != 1 {
		return wallet.Errorf(wallet.CodeInvalidState, "review %d is no longer %s", r.ID, from)
	}
	return nil
}
