package wallet

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
)

// refAlphabet is Crockford's base32: no I, L, O or U, so a receipt read aloud
// or typed back into a phone is not misread.
const refAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// refLength characters of 5 bits each: a transfer id has 50 bits.
const refLength = 10

// newTransferID returns a random transfer id whose Ref starts with a letter,
// as M-Pesa receipts do. Ids are random rather than sequential so several
// wallet processes can assign them without coordination; the database's
// primary key catches the (about 1 in 10^14 per pair) collision, and the batch
// is retried with fresh ids.
func newTransferID() int64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("wallet: no randomness for a transfer id: " + err.Error())
	}
	low := binary.BigEndian.Uint64(b[:]) & (1<<45 - 1)
	first := 10 + uint64(b[0])%22 // a letter: alphabet positions 10..31
	return int64(first<<45 | low)
}

// Ref is the human transaction id of a transfer id, e.g. QK7M2X9A1B.
func Ref(id int64) string {
	var out [refLength]byte
	for i := refLength - 1; i >= 0; i-- {
		out[i] = refAlphabet[id&31]
		id >>= 5
	}
	return string(out[:])
}

// ParseRef returns the transfer id of a human transaction id, accepting lower
// case and the look-alikes Crockford allows (O for 0, I and L for 1).
func ParseRef(s string) (int64, bool) {
	if len(s) != refLength {
		return 0, false
	}
	var id int64
	for _, c := range strings.ToUpper(s) {
		switch c {
		case 'O':
			c = '0'
		case 'I', 'L':
			c = '1'
		}
		i := strings.IndexRune(refAlphabet, c)
		if i < 0 {
			return 0, false
		}
		id = id<<5 | int64(i)
	}
	return id, true
}
