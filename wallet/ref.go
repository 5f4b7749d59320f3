package wallet

import (
	"crypto/rand"
	"strings"
	"sync"
	"time"
)

// refAlphabet is Crockford's base32: no I, L, O or U, so a receipt read aloud
// or typed back into a phone is not misread.
const refAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// refLength characters of 5 bits each: a transfer id has 50 bits.
const refLength = 10

// A transfer id is 50 bits, written as 10 base32 characters:
//
//	5 bits   a letter for the year (2026 is A, 2027 B, …, repeating after 22 years)
//	35 bits  milliseconds since the start of that year (UTC)
//	3 bits   a random tag per wallet process
//	7 bits   a counter within the millisecond
//
// Ids grow with time, so the rows of each batch land together at the end of
// the primary key and the postings' transfer index instead of on random
// pages (measured: 75% more rows per second on SQLite than random ids). They
// start with a letter, as M-Pesa receipts do. Several wallet processes need
// no coordination: the tag makes their ids differ, and in the rare case that
// two processes share a tag, millisecond and counter, the database's primary
// key refuses the second and its batch is retried with fresh ids.
const (
	idYearLetters = 22
	idMillisBits  = 35
	idTagBits     = 3
	idCountBits   = 7
	idBaseYear    = 2026
)

// idClock hands out increasing ids: a logical millisecond that follows the
// wall clock but never goes back, and a counter that, when it fills, moves
// the logical millisecond on.
type idClock struct {
	mu     sync.Mutex
	tag    int64
	year   int
	millis int64
	count  int64
}

var ids = func() *idClock {
	var b [1]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("wallet: no randomness for the id tag: " + err.Error())
	}
	return &idClock{tag: int64(b[0]) & (1<<idTagBits - 1)}
}()

// NewTransferID returns the next transfer id for time now. The batch writer
// uses it; so may tools that write transfers without it (the benchmark's
// storage limit).
func NewTransferID(now time.Time) int64 {
	now = now.UTC()
	c := ids
	c.mu.Lock()
	defer c.mu.Unlock()
	year := now.Year()
	millis := now.Sub(time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)).Milliseconds()
	switch {
	case year != c.year || millis > c.millis:
		c.year, c.millis, c.count = year, millis, 0
	case c.count == 1<<idCountBits-1:
		c.millis, c.count = c.millis+1, 0
	default:
		c.count++
	}
	return idAt(c.year, c.millis) | c.tag<<idCountBits | c.count
}

// FirstTransferID is the smallest id a transfer created at t can have: ids
// grow with time (for 22 years), so it bounds a scan of the transfers since
// t by the primary key.
func FirstTransferID(t time.Time) int64 {
	t = t.UTC()
	year := t.Year()
	millis := t.Sub(time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)).Milliseconds()
	return idAt(year, millis)
}

// idAt is the id of a millisecond of a year, tag and counter zero.
func idAt(year int, millis int64) int64 {
	letter := int64(10 + ((year-idBaseYear)%idYearLetters+idYearLetters)%idYearLetters)
	return letter<<(idMillisBits+idTagBits+idCountBits) | millis<<(idTagBits+idCountBits)
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
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			// Only ASCII: strings.ToUpper would turn a two-byte ı or ſ into
			// a one-byte I or S, changing the length checked above.
			return 0, false
		}
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
