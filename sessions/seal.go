package sessions

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// KeyBytes is the length of the session key (Config.Key), which names
// sessions in logs.
const KeyBytes = 32

// seal returns a keyed hash of s in scope: the name logs give a session
// (logID), so that a log reader cannot take the aggregator's session id and
// forge its hops, while every gateway sharing the key names it alike. It
// is never applied to a PIN or any input that may hold one: the state keeps
// a new PIN's wallet token instead (choosePIN), since every gateway holds
// the key and 10,000 PINs are tried against a keyed hash in milliseconds.
func seal(key []byte, scope, s string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(scope))
	m.Write([]byte{0})
	m.Write([]byte(s))
	return base64.RawStdEncoding.EncodeToString(m.Sum(nil))
}
