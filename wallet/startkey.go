package wallet

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"math/big"
	"time"
)

// The start key: a one-time numeric code that lets the owner of an account
// opened by an operator (an agent, an imported customer), or of any account
// after a PIN reset, set its first PIN. Without it, whoever dialled first
// from (or spoofed) the account's phone would choose the PIN. It goes to the
// account's phone by SMS and is printed for the operator to hand over in
// person; the wallet keeps only its keyed hash and expiry, like a PIN's.

// StartKeyDigits is the length of a start key: 10^6 values against the
// lockout's few tries, and short enough to copy from an SMS onto a keypad.
const StartKeyDigits = 6

// DefaultStartKeyTTL is how long a start key stays valid by default: a day
// covers an SMS that arrives late and an agent handed the key at a branch who
// dials after closing, while a key left unused in an SMS inbox (or the
// notifier's outbox) stops being worth anything by the next day. An operator
// issues a new one with a PIN reset.
const DefaultStartKeyTTL = 24 * time.Hour

// newStartKey returns a fresh random start key.
func newStartKey() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic("wallet: no randomness for a start key: " + err.Error())
	}
	b := []byte("000000")
	for i, v := len(b)-1, n.Int64(); i >= 0; i, v = i-1, v/10 {
		b[i] = byte('0' + v%10)
	}
	return string(b)
}

// startKeyHash returns HMAC-SHA256(pepper, domain || salt || key): keyed like
// a PIN hash, and domain-separated so a start key's hash never equals a PIN's.
func startKeyHash(pepper, salt []byte, key string) []byte {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte("kibubu start key\x00"))
	m.Write(salt)
	m.Write([]byte(key))
	return m.Sum(nil)
}

// issueStartKey gives r a new start key valid until now+ttl, replacing any
// earlier one (which stops working) and clearing its PIN, and returns it.
// The salt is the account's PIN salt: an account with a start key has no
// PIN, and setting the PIN draws a new salt.
func issueStartKey(pepper []byte, r *AccountRecord, now time.Time, ttl time.Duration) string {
	key := newStartKey()
	r.PINSalt = make([]byte, pinSaltBytes)
	if _, err := rand.Read(r.PINSalt); err != nil {
		panic("wallet: no randomness for a start key salt: " + err.Error())
	}
	r.PINHash = nil
	r.StartKeyHash = startKeyHash(pepper, r.PINSalt, key)
	r.StartKeyExpires = now.Add(ttl).UTC()
	return key
}

// startKeyMatches compares in constant time.
func startKeyMatches(pepper []byte, r *AccountRecord, key string) bool {
	return len(r.StartKeyHash) > 0 && hmac.Equal(startKeyHash(pepper, r.PINSalt, key), r.StartKeyHash)
}

// startKeyProof returns a proof that the start key of a was verified, valid
// until exp: the USSD menu asks for the start key on one screen and the new
// PIN on the next two, and keeps this proof between them, never the key. It
// commits to the start key's hash, so it dies with the key (a new key, or
// the PIN set).
func startKeyProof(pepper []byte, a *AccountRecord, exp time.Time) string {
	var b [8 + pinProofMACBytes]byte
	binary.BigEndian.PutUint64(b[:8], uint64(exp.Unix()))
	copy(b[8:], secretProofMAC(pepper, "kibubu start key proof\x00", a.ID, b[:8], a.StartKeyHash))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// startKeyProofValid reports whether proof is a live proof of a's current
// start key.
func startKeyProofValid(pepper []byte, a *AccountRecord, proof string, now time.Time) bool {
	b, err := base64.RawURLEncoding.DecodeString(proof)
	if err != nil || len(b) != 8+pinProofMACBytes || len(a.StartKeyHash) == 0 {
		return false
	}
	if !hmac.Equal(b[8:], secretProofMAC(pepper, "kibubu start key proof\x00", a.ID, b[:8], a.StartKeyHash)) {
		return false
	}
	return now.Unix() < int64(binary.BigEndian.Uint64(b[:8]))
}

func secretProofMAC(pepper []byte, domain string, id int64, exp, secret []byte) []byte {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte(domain))
	var idb [8]byte
	binary.BigEndian.PutUint64(idb[:], uint64(id))
	m.Write(idb[:])
	m.Write(exp)
	m.Write(secret)
	return m.Sum(nil)[:pinProofMACBytes]
}
