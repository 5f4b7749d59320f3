package wallet

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
)

// pinSaltBytes is the per-account salt length: enough that two accounts with
// the same PIN never share a hash.
const pinSaltBytes = 16

// PepperBytes is the length of the secret pepper.
const PepperBytes = 32

// hashPIN returns HMAC-SHA256(pepper, salt || pin).
//
// Why not a slow hash: a PIN has 10^4 (or 10^6) values, so no work factor a
// wallet can afford per request stops an offline search of a stolen row; the
// secret pepper, kept outside the database, does. Online guessing is stopped
// by the lockout after a few wrong tries. HMAC-SHA256 costs about a
// microsecond, so PIN checks do not limit the wallet's throughput.
func hashPIN(pepper, salt []byte, pin string) []byte {
	m := hmac.New(sha256.New, pepper)
	m.Write(salt)
	m.Write([]byte(pin))
	return m.Sum(nil)
}

// newPINHash returns a fresh salt and the hash of pin under it.
func newPINHash(pepper []byte, pin string) (hash, salt []byte) {
	salt = make([]byte, pinSaltBytes)
	if _, err := rand.Read(salt); err != nil {
		panic("wallet: no randomness for a PIN salt: " + err.Error())
	}
	return hashPIN(pepper, salt, pin), salt
}

// pinMatches compares in constant time.
func pinMatches(pepper []byte, r *AccountRecord, pin string) bool {
	return hmac.Equal(hashPIN(pepper, r.PINSalt, pin), r.PINHash)
}

// checkPINFormat refuses a PIN that is not exactly length digits, or that is
// one a thief tries first (all one digit, or a run like 1234 or 9876).
func checkPINFormat(pin string, length int) *Error {
	if len(pin) != length {
		return Errorf(CodeInvalid, "a PIN has %d digits", length)
	}
	same, up, down := true, true, true
	for i := 0; i < len(pin); i++ {
		if pin[i] < '0' || pin[i] > '9' {
			return Errorf(CodeInvalid, "a PIN has only digits")
		}
		if i > 0 {
			same = same && pin[i] == pin[i-1]
			up = up && pin[i] == pin[i-1]+1
			down = down && pin[i]+1 == pin[i-1]
		}
	}
	if same || up || down {
		return Errorf(CodeInvalid, "that PIN is too easy to guess")
	}
	return nil
}
