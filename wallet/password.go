package wallet

import (
	"bytes"
	"crypto/subtle"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// PasswordCost is the argon2id cost of an operator's password hash: passes
// over the memory, and the memory in KiB (one lane). Each stored hash
// records the cost it was made with, so a wallet configured with another
// cost still checks the passwords hashed before the change.
type PasswordCost struct {
	Time      uint32
	MemoryKiB uint32
}

var (
	// DefaultPasswordCost is OWASP's recommended minimum for argon2id.
	DefaultPasswordCost = PasswordCost{Time: passwordTime, MemoryKiB: passwordMemoryKiB}
	// TestPasswordCost is argon2id's cheapest, for tests, which exercise
	// sign-in rather than its cost: under the race detector the default
	// takes about half a second a hash. Never for a real wallet.
	TestPasswordCost = PasswordCost{Time: 1, MemoryKiB: passwordMemoryKiBMin}
)

const (
	// argon2 needs 8 KiB of memory per lane.
	passwordMemoryKiBMin = 8
	// The bounds of a cost read back from a stored hash: the database is
	// trusted, but a sign-in must stay bounded work whatever a row says.
	passwordTimeMax      = 16
	passwordMemoryKiBMax = 1 << 20
	// passwordHashPrefix starts a hash that records its cost:
	// "argon2id,t=2,m=19456:" and then the hash itself. A hash without it is
	// one made before costs were recorded, with DefaultPasswordCost.
	passwordHashPrefix = "argon2id,"
)

// validate returns an error unless c is a cost argon2id accepts within the
// bounds a stored hash may name.
func (c PasswordCost) validate() error {
	if c.Time < 1 || c.Time > passwordTimeMax || c.MemoryKiB < passwordMemoryKiBMin || c.MemoryKiB > passwordMemoryKiBMax {
		return fmt.Errorf("argon2id cost t=%d m=%d KiB is outside t 1–%d, m %d–%d KiB", c.Time, c.MemoryKiB, passwordTimeMax, passwordMemoryKiBMin, passwordMemoryKiBMax)
	}
	return nil
}

// hash returns password's hash with salt at cost c, recording the cost.
func (c PasswordCost) hash(password string, salt []byte) []byte {
	key := argon2.IDKey([]byte(password), salt, c.Time, c.MemoryKiB, passwordThreads, passwordHashBytes)
	return append(fmt.Appendf(nil, "%st=%d,m=%d:", passwordHashPrefix, c.Time, c.MemoryKiB), key...)
}

// checkPassword reports whether password hashes, with salt, to stored, at
// the cost stored records. A stored hash it cannot read matches nothing.
func checkPassword(password string, salt, stored []byte) bool {
	cost, key := DefaultPasswordCost, stored
	if bytes.HasPrefix(stored, []byte(passwordHashPrefix)) {
		i := bytes.IndexByte(stored, ':')
		if i < 0 {
			return false
		}
		if _, err := fmt.Sscanf(string(stored[len(passwordHashPrefix):i]), "t=%d,m=%d", &cost.Time, &cost.MemoryKiB); err != nil || cost.validate() != nil {
			return false
		}
		key = stored[i+1:]
	}
	if len(key) != passwordHashBytes {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, cost.Time, cost.MemoryKiB, passwordThreads, passwordHashBytes)
	return subtle.ConstantTimeCompare(got, key) == 1
}
