package smsctl

import (
	"testing"
	"time"
)

func TestParseSince(t *testing.T) {
	nairobi, err := time.LoadLocation("Africa/Nairobi")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time // zero: refused
	}{
		{"2026-11-21T08:00:00+03:00", time.Date(2026, 11, 21, 5, 0, 0, 0, time.UTC)},
		{"2026-11-21T08:00:00Z", time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)},
		{"2026-11-21", time.Date(2026, 11, 20, 21, 0, 0, 0, time.UTC)}, // midnight in Nairobi
		{" 6h ", now.Add(-6 * time.Hour)},
		{"90m", now.Add(-90 * time.Minute)},
		{"", time.Time{}},
		{"-1h", time.Time{}},
		{"0s", time.Time{}},
		{"yesterday", time.Time{}},
		{"21/11/2026", time.Time{}},
	}
	for _, tt := range tests {
		got, err := parseSince(tt.in, now, nairobi)
		if tt.want.IsZero() {
			if err == nil {
				t.Errorf("parseSince(%q) = %s, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseSince(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}
