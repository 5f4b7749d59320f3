package merchant

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"strings"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

// idEncoding is lowercase base32 without padding: ids are case-insensitive
// safe, URL-safe and sort by time (the first 8 bytes are the time).
var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newID returns a new object id: prefix, "_", then 26 characters encoding
// the time in nanoseconds and 8 random bytes. Ids made later sort later (to
// the nanosecond, within one process), which the list cursors rely on.
func newID(prefix string, now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	if _, err := rand.Read(b[8:]); err != nil {
		panic("merchant: no randomness: " + err.Error())
	}
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}

// validID reports whether id could be one of newID's with prefix: a cheap
// check before a database read, so that junk is not looked up.
func validID(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"_")
	if !ok || len(rest) != 26 {
		return false
	}
	_, err := idEncoding.DecodeString(rest)
	return err == nil
}

// newEvent returns the outbox form of an event of type typ about obj for
// merchant; phone and lang are the customer's, for an SMS prompt (else empty).
func newEvent(typ EventType, merchant string, obj any, now time.Time, phone, lang string) OutboxEvent {
	data, err := json.Marshal(obj)
	if err != nil {
		panic("merchant: event payload: " + err.Error())
	}
	return OutboxEvent{
		Event: Event{ID: newID("evt", now), Type: typ, Merchant: merchant, Created: now.UTC(), Data: data},
		Phone: phone, Language: lang,
	}
}

// Subject is the outbox subject of an event of type typ.
func Subject(typ EventType) string { return wallet.MerchantEventSubjectPrefix + string(typ) }
