package sessions

import (
	"testing"
	"time"
)

func TestTimingBounds(t *testing.T) {
	tests := []struct {
		name  string
		check func(time.Duration) error
		d     time.Duration
		ok    bool
	}{
		{"ttl default", CheckTTL, DefaultTTL, true},
		{"ttl min", CheckTTL, TTLMin, true},
		{"ttl below", CheckTTL, TTLMin - time.Second, false},
		{"ttl above", CheckTTL, TTLMax + time.Second, false},
		{"wallet default", CheckWalletTimeout, DefaultWalletTimeout, true},
		{"wallet zero", CheckWalletTimeout, 0, false},
		{"wallet max", CheckWalletTimeout, WalletTimeoutMax, true},
		{"wallet above", CheckWalletTimeout, WalletTimeoutMax + time.Millisecond, false},
	}
	for _, tc := range tests {
		if err := tc.check(tc.d); (err == nil) != tc.ok {
			t.Errorf("%s: %s gave %v, want ok %v", tc.name, tc.d, err, tc.ok)
		}
	}
}
