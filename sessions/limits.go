package sessions

import (
	"fmt"
	"time"
)

// The bounds of an engine's timing settings, beside their defaults
// (DefaultTTL, DefaultWalletTimeout); the command checks its flags with
// CheckTTL and CheckWalletTimeout.
const (
	// TTLMin and TTLMax bound a session's TTL: a person needs about 30 s
	// per screen, and aggregators close a session after 180 s, so state
	// kept much longer only answers hops that will never come.
	TTLMin = 30 * time.Second
	TTLMax = 10 * time.Minute
	// WalletTimeoutMax bounds the wallet timeout: the answer must still
	// reach the aggregator within its 15 s, after the session store's
	// round trips.
	WalletTimeoutMax = 10 * time.Second
)

// CheckTTL reports why ttl cannot be a session's TTL.
func CheckTTL(ttl time.Duration) error {
	if ttl < TTLMin || ttl > TTLMax {
		return fmt.Errorf("must be %s to %s", TTLMin, TTLMax)
	}
	return nil
}

// CheckWalletTimeout reports why d cannot bound a hop's wallet call.
func CheckWalletTimeout(d time.Duration) error {
	if d <= 0 || d > WalletTimeoutMax {
		return fmt.Errorf("must be more than 0 and at most %s, inside the aggregator's 15 s", WalletTimeoutMax)
	}
	return nil
}
