package store

import (
	"context"
	"fmt"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/wallet"
)

// The back-office's questions about SMS (notify/natsapi's operator
// service): one SMS by id, and the retry of a failed one.

// SMS returns the recorded SMS id, or a CodeNotFound *wallet.Error.
func (s *Store) SMS(ctx context.Context, id int64) (*notify.Stored, error) {
	var rows []smsRow
	if err := s.db.WithContext(ctx).Where("id = ?", id).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("sms %d: %w", id, err)
	}
	if len(rows) == 0 {
		return nil, wallet.Errorf(wallet.CodeNotFound, "no SMS %d", id)
	}
	st := rows[0].stored()
	return &st, nil
}

// Retry makes the failed SMS id pending again (Requeue) and returns it.
// Only a failed SMS is sent again: any other is refused with
// CodeInvalidState and left alone, so a retry of one already sent, or
// already retried, sends nothing twice. An SMS that carried a start key is
// refused too: its text is gone once it failed (RedactedText), and a PIN
// reset issues a new key.
func (s *Store) Retry(ctx context.Context, id int64) (*notify.Stored, error) {
	m, err := s.SMS(ctx, id)
	if err != nil {
		return nil, err
	}
	if notify.IsSecret(m.Key) {
		return nil, wallet.Errorf(wallet.CodeInvalidState, "SMS %d carried a start key and is not sent again: reset the PIN for a new one", id)
	}
	n, err := s.Requeue(ctx, id)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		if m, err = s.SMS(ctx, id); err != nil {
			return nil, err
		}
		return nil, wallet.Errorf(wallet.CodeInvalidState, "SMS %d is %s, not failed: only a failed SMS is sent again", id, m.Status)
	}
	return s.SMS(ctx, id)
}
