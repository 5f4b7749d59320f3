package wallet

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// pinSaltBytes is the per-account salt length: enough that two accounts with
// the same PIN never share a hash.
const pinSaltBytes = 16

// PepperBytes is the length of the secret pepper.
const PepperBytes = 32

// A PIN's length and tries: one source for the wallet, the session engine
// and the command's --pin-length and --pin-tries.
const (
	// DefaultPINLength is the digits of a PIN: four, as M-Pesa's, which
	// every customer already knows how to type on a keypad.
	DefaultPINLength = 4
	// PINLengthMin and PINLengthMax bound a wallet's PIN length: fewer than
	// four digits is guessed within the lockout too often (the tries in
	// 10^length), and more than eight is not remembered, so it is written
	// down on the phone's back.
	PINLengthMin = 4
	PINLengthMax = 8
	// DefaultPINTries is the wrong PINs in a row that lock an account:
	// three, as a bank card's, so a thief has 3 guesses in 10,000.
	DefaultPINTries = 3
)

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

// CheckPIN returns the error SetPIN and ChangePIN would give pin as a new
// PIN of the given length, or nil: a menu re-prompts with it before asking
// for the PIN a second time.
func CheckPIN(pin string, length int) error {
	if err := checkPINFormat(pin, length); err != nil {
		return err
	}
	return nil
}

// PINProofTTL bounds a PIN proof's life: a USSD PIN change (current PIN,
// new PIN, the new PIN again) takes a minute or two, and a session lasts 180 s.
const PINProofTTL = 5 * time.Minute

// pinProofMACBytes is the proof's MAC length: 128 bits cannot be guessed
// within its life.
const pinProofMACBytes = 16

// pinProof returns a proof that the PIN of a was verified, valid until exp:
// the expiry and a MAC under the pepper of the account id, the expiry and
// the current PIN hash, so it dies with the PIN it proves.
func pinProof(pepper []byte, a *AccountRecord, exp time.Time) string {
	var b [8 + pinProofMACBytes]byte
	binary.BigEndian.PutUint64(b[:8], uint64(exp.Unix()))
	copy(b[8:], pinProofMAC(pepper, a, b[:8]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func pinProofMAC(pepper []byte, a *AccountRecord, exp []byte) []byte {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte("kibubu pin proof\x00"))
	var id [8]byte
	binary.BigEndian.PutUint64(id[:], uint64(a.ID))
	m.Write(id[:])
	m.Write(exp)
	m.Write(a.PINHash)
	return m.Sum(nil)[:pinProofMACBytes]
}

// pinProofValid reports whether proof is a live proof of a's current PIN.
func pinProofValid(pepper []byte, a *AccountRecord, proof string, now time.Time) bool {
	b, err := base64.RawURLEncoding.DecodeString(proof)
	if err != nil || len(b) != 8+pinProofMACBytes || len(a.PINHash) == 0 {
		return false
	}
	if !hmac.Equal(b[8:], pinProofMAC(pepper, a, b[:8])) {
		return false
	}
	return now.Unix() < int64(binary.BigEndian.Uint64(b[:8]))
}
