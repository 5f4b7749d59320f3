package locales

import (
	"strings"
	"unicode"
	"unicode/utf16"

	"golang.org/x/text/unicode/norm"
)

// The encodings an SMS or a USSD screen is sent in.
const (
	GSM7 = "GSM-7" // the GSM 03.38 default alphabet, 7 bits a character
	UCS2 = "UCS-2" // UTF-16, 16 bits a unit, for any text GSM-7 cannot carry
)

// Sizes of one SMS, and of each part of a split one (the rest of a part's
// 140 bytes is the concatenation header). A USSD screen is planned to the
// same single-message sizes (FIELD-NOTES: 160 GSM-7 characters; about half
// in UCS-2).
const (
	smsSeptets     = 160 // GSM-7, one message
	smsPartSeptets = 153 // GSM-7, each part of a split message
	smsUnits       = 70  // UCS-2, one message
	smsPartUnits   = 67  // UCS-2, each part of a split message
)

// gsm7Basic is the GSM 03.38 (3GPP TS 23.038) default alphabet in code
// order, 0x00 to 0x7F. 0x1B is the escape to the extension table, not a
// character. 0x09 is Ç (some older handsets draw it as ç).
const gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅå" +
	"Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ" +
	" !\"#¤%&'()*+,-./" +
	"0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNO" +
	"PQRSTUVWXYZÄÖÑÜ§" +
	"¿abcdefghijklmno" +
	"pqrstuvwxyzäöñüà"

// gsm7Extension is the default extension table: each character is sent as
// the escape 0x1B and a code, so it costs two septets.
const gsm7Extension = "\f^{}\\[~]|€"

// septetWidth maps each GSM-7 rune to the septets it costs (1 or 2).
var septetWidth = func() map[rune]int {
	m := make(map[rune]int, 138)
	for _, r := range gsm7Basic {
		if r != '\x1b' {
			m[r] = 1
		}
	}
	for _, r := range gsm7Extension {
		m[r] = 2
	}
	return m
}()

// IsGSM7 reports whether s can be sent in the GSM-7 default alphabet and its
// extension table, without falling back to UCS-2.
func IsGSM7(s string) bool {
	_, ok := Septets(s)
	return ok
}

// Septets returns the number of septets s takes in GSM-7, counting an
// extension-table character (^ { } \ [ ~ ] | € and form feed) as 2, and
// whether s is GSM-7 at all. When ok is false, n counts only the runes that
// are; use Segments for the size of such a text.
func Septets(s string) (n int, ok bool) {
	ok = true
	for _, r := range s {
		w := septetWidth[r]
		if w == 0 {
			ok = false
		}
		n += w
	}
	return n, ok
}

// Segments returns the encoding s must be sent in (GSM7 when every rune is in
// the GSM-7 alphabet, else UCS2) and the number of SMS parts it takes: one up
// to 160 septets (70 UCS-2 units), else parts of 153 septets (67 units). An
// escape pair or a surrogate pair is never split across parts, so a part may
// hold one less. The empty string is GSM7 and 0 parts.
func Segments(s string) (encoding string, parts int) {
	if s == "" {
		return GSM7, 0
	}
	if n, ok := Septets(s); ok {
		if n <= smsSeptets {
			return GSM7, 1
		}
		return GSM7, pack(s, smsPartSeptets, func(r rune) int { return septetWidth[r] })
	}
	if utf16Len(s) <= smsUnits {
		return UCS2, 1
	}
	return UCS2, pack(s, smsPartUnits, utf16.RuneLen)
}

// FitsScreen reports whether s fits one USSD screen (and one SMS): 160
// GSM-7 septets, or 70 UCS-2 units for a text outside GSM-7.
func FitsScreen(s string) bool {
	_, parts := Segments(s)
	return parts <= 1
}

// pack counts the parts of at most size units that s fills, never splitting
// a rune of width(r) units across two parts.
func pack(s string, size int, width func(rune) int) int {
	parts, used := 1, 0
	for _, r := range s {
		w := max(width(r), 1) // utf16.RuneLen is -1 only for a rune range never yields
		if used+w > size {
			parts++
			used = 0
		}
		used += w
	}
	return parts
}

// utf16Len is the number of UTF-16 units s takes: 2 for a rune outside the
// Basic Multilingual Plane (most emoji), 1 for any other.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += max(utf16.RuneLen(r), 1)
	}
	return n
}

// gsm7Substitutes replaces common typography that has no GSM-7 form and no
// decomposition to one.
var gsm7Substitutes = map[rune]string{
	'‘': "'", '’': "'", '‚': "'", '‛': "'", '′': "'", '`': "'", '´': "'",
	'“': `"`, '”': `"`, '„': `"`, '″': `"`, '«': `"`, '»': `"`,
	'‐': "-", '‑': "-", '‒': "-", '–': "-", '—': "-", '−': "-",
	'…': "...", '•': "-", '\t': " ",
	'œ': "oe", 'Œ': "OE",
}

// ToGSM7 returns s with every rune outside GSM-7 replaced, for data shown in
// a screen or SMS (a name from an import, a merchant's name): a letter with
// a diacritic GSM-7 lacks loses it (ï → i, ê → e, ç → c, Ō → O), curly quotes
// and dashes become ASCII, and anything else becomes '?'. GSM-7 text is
// returned unchanged. Without this, one such character makes the whole
// screen UCS-2, where half as much fits.
func ToGSM7(s string) string {
	if IsGSM7(s) {
		return s
	}
	s = norm.NFC.String(s) // e + U+0301 → é, which GSM-7 has
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if septetWidth[r] > 0 {
			b.WriteRune(r)
			continue
		}
		if rep, ok := gsm7Substitutes[r]; ok {
			b.WriteString(rep)
			continue
		}
		if unicode.Is(unicode.Mn, r) {
			continue // a combining mark NFC could not attach: drop it, keep its letter
		}
		kept := false
		for _, d := range norm.NFKD.String(string(r)) {
			if septetWidth[d] > 0 {
				b.WriteRune(d)
				kept = true
			}
		}
		if !kept {
			b.WriteByte('?')
		}
	}
	return b.String()
}
