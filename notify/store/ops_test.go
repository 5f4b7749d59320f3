package store

import (
	"context"
	"testing"
	"time"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/wallet"
)

// TestRetry: only a failed SMS is made pending again, once; a sent, a
// pending (already retried), a start-key and an unknown SMS are refused
// with their reason and left as they were.
func TestRetry(t *testing.T) {
	ctx := context.Background()
	st := smsStore(t, smsDB(t))
	now := time.Now().UTC()
	add := func(key, status string) int64 {
		t.Helper()
		r := smsRow{Key: key, Kind: notify.KindMessage, Phone: "+254712000001", Text: "hi", Encoding: "gsm7", Parts: 1,
			Status: status, Attempts: 5, LastError: "provider down", NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
		if err := st.db.WithContext(ctx).Create(&r).Error; err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	failed := add("k-failed", notify.StatusFailed)
	sent := add("k-sent", notify.StatusSent)
	secret := add("secret:pin:reset:1:1", notify.StatusFailed)
	for _, tc := range []struct {
		name   string
		id     int64
		code   wallet.Code
		status string // the SMS's status afterwards
	}{
		{"failed", failed, "", notify.StatusPending},
		{"the same again: already pending", failed, wallet.CodeInvalidState, notify.StatusPending},
		{"sent", sent, wallet.CodeInvalidState, notify.StatusSent},
		{"a start key", secret, wallet.CodeInvalidState, notify.StatusFailed},
		{"unknown", 999_999, wallet.CodeNotFound, ""},
	} {
		m, err := st.Retry(ctx, tc.id)
		if got := wallet.ErrorCode(err); got != tc.code {
			t.Errorf("%s: code %q (%v), want %q", tc.name, got, err, tc.code)
		}
		if err == nil && (m.Status != notify.StatusPending || m.Attempts != 0) {
			t.Errorf("%s: got %s after %d attempts, want pending after 0", tc.name, m.Status, m.Attempts)
		}
		if tc.status == "" {
			continue
		}
		if m, err := st.SMS(ctx, tc.id); err != nil || m.Status != tc.status {
			t.Errorf("%s: afterwards %v %v, want %s", tc.name, m, err, tc.status)
		}
	}
	if _, err := st.SMS(ctx, 0); wallet.ErrorCode(err) != wallet.CodeNotFound {
		t.Errorf("sms 0: %v", err)
	}
}
