package sessions

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// KeyBytes is the length of the secret that seals a new PIN between the hop
// that chose it and the hop that confirms it.
const KeyBytes = 32

// seal returns a keyed hash of pin (or any input that may hold one) bound to the session, so the state can
// hold "the PIN chosen" without holding the PIN: reading the bucket without
// the key tells nothing, and the seal of one session is useless in another.
// Every gateway serving a session must share the key.
func seal(key []byte, sessionKey, pin string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(sessionKey))
	m.Write([]byte{0})
	m.Write([]byte(pin))
	return base64.RawStdEncoding.EncodeToString(m.Sum(nil))
}

// sealMatches reports whether pin is the PIN sealed in s, in constant time.
func sealMatches(key []byte, sessionKey, pin, s string) bool {
	return hmac.Equal([]byte(seal(key, sessionKey, pin)), []byte(s))
}
