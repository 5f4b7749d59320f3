package walletctl

import (
	"testing"
	"time"
)

// TestParseExpiry reads --expires.
func TestParseExpiry(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time // zero: an error
	}{
		{"90d", now.Add(90 * 24 * time.Hour)},
		{"36h", now.Add(36 * time.Hour)},
		{"2027-01-31", time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)},
		{"2027-01-31T08:00:00+03:00", time.Date(2027, 1, 31, 5, 0, 0, 0, time.UTC)},
		{"2026-12-01", time.Time{}}, // past
		{"0d", time.Time{}},
		{"-5h", time.Time{}},
		{"4000d", time.Time{}},
		{"soon", time.Time{}},
		{"", time.Time{}},
	}
	for _, tt := range tests {
		got, err := parseExpiry(tt.in, now)
		if tt.want.IsZero() != (err != nil) || !got.Equal(tt.want) {
			t.Errorf("parseExpiry(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}
