package locales

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestGSM7Table checks the alphabet's layout against code points of 3GPP TS
// 23.038 (as in Unicode's GSM0338.TXT mapping).
func TestGSM7Table(t *testing.T) {
	basic := []rune(gsm7Basic)
	if len(basic) != 128 {
		t.Fatalf("the default alphabet has %d characters, want 128", len(basic))
	}
	for code, want := range map[int]rune{
		0x00: '@', 0x01: '£', 0x02: '$', 0x03: '¥', 0x04: 'è', 0x05: 'é', 0x06: 'ù', 0x07: 'ì',
		0x08: 'ò', 0x09: 'Ç', 0x0A: '\n', 0x0B: 'Ø', 0x0D: '\r', 0x0F: 'å', 0x10: 'Δ', 0x11: '_',
		0x1A: 'Ξ', 0x1B: '\x1b', 0x1C: 'Æ', 0x1E: 'ß', 0x1F: 'É', 0x20: ' ', 0x24: '¤', 0x40: '¡',
		0x41: 'A', 0x5B: 'Ä', 0x5F: '§', 0x60: '¿', 0x61: 'a', 0x7B: 'ä', 0x7E: 'ü', 0x7F: 'à',
	} {
		if basic[code] != want {
			t.Errorf("code 0x%02X is %q, want %q", code, basic[code], want)
		}
	}
	if got := len(septetWidth); got != 127+10 {
		t.Errorf("%d GSM-7 characters, want 127 + 10 in the extension table", got)
	}
}

func TestSeptets(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		gsm7 bool
	}{
		{"", 0, true},
		{"Hello", 5, true},
		{"@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ", 29, true},
		{" !\"#¤%&'()*+,-./0123456789:;<=>?¡§¿ÄÖÑÜäöñüà", 44, true},
		{"a\nb\rc", 5, true},
		{"€", 2, true},
		{"^{}\\[~]|€\f", 20, true},
		{"KES 1,250.00", 12, true},
		{"Envoyer 1 250,00 KES à Awa Traoré ?", 35, true},
		{"Dépôt", 4, false}, // ô is not GSM-7
		{"français", 7, false},
		{"FRANÇAIS", 8, true},
		{"Aïssata", 6, false},
		{"être", 3, false},
		{"`", 0, false},
		{"\t", 0, false},
		{"\x1b", 0, false}, // the escape itself is not a character
		{"1\u00a0250", 4, false},
		{"1\u202f250", 4, false},
		{"😀", 0, false},
		{"\xff", 0, false}, // invalid UTF-8
	}
	for _, tt := range tests {
		n, ok := Septets(tt.s)
		if n != tt.n || ok != tt.gsm7 {
			t.Errorf("Septets(%q) = %d, %v; want %d, %v", tt.s, n, ok, tt.n, tt.gsm7)
		}
		if IsGSM7(tt.s) != tt.gsm7 {
			t.Errorf("IsGSM7(%q) = %v, want %v", tt.s, !tt.gsm7, tt.gsm7)
		}
	}
}

func TestSegments(t *testing.T) {
	tests := []struct {
		name  string
		s     string
		enc   string
		parts int
	}{
		{"empty", "", GSM7, 0},
		{"one char", "a", GSM7, 1},
		{"160 septets", strings.Repeat("a", 160), GSM7, 1},
		{"161 septets", strings.Repeat("a", 161), GSM7, 2},
		{"306 septets", strings.Repeat("a", 306), GSM7, 2},
		{"307 septets", strings.Repeat("a", 307), GSM7, 3},
		{"459 septets", strings.Repeat("a", 459), GSM7, 3},
		{"80 euros are 160 septets", strings.Repeat("€", 80), GSM7, 1},
		{"81 euros are 162 septets", strings.Repeat("€", 81), GSM7, 2},
		// 152 septets then an escape pair: it does not fit the first part's
		// 153rd septet, so it moves to the second part whole.
		{"escape pair at a part boundary", strings.Repeat("a", 152) + "€" + strings.Repeat("a", 152), GSM7, 3},
		{"escape pair filling a part", strings.Repeat("a", 151) + "€" + strings.Repeat("a", 153), GSM7, 2},
		{"70 UCS-2", strings.Repeat("ô", 70), UCS2, 1},
		{"71 UCS-2", strings.Repeat("ô", 71), UCS2, 2},
		{"134 UCS-2", strings.Repeat("ô", 134), UCS2, 2},
		{"135 UCS-2", strings.Repeat("ô", 135), UCS2, 3},
		{"one non-GSM char makes it UCS-2", strings.Repeat("a", 69) + "ç", UCS2, 1},
		{"and shrinks what fits", strings.Repeat("a", 70) + "ç", UCS2, 2},
		{"35 emoji are 70 units", strings.Repeat("😀", 35), UCS2, 1},
		{"36 emoji are 72 units", strings.Repeat("😀", 36), UCS2, 2},
		// 66 units then a surrogate pair: the pair moves to the next part.
		{"surrogate pair at a part boundary", strings.Repeat("ô", 66) + "😀" + strings.Repeat("ô", 66), UCS2, 3},
		{"Swahili receipt", "QK7M2X9A1B Imethibitishwa. KES 1,250.00 imetumwa kwa AMINA ODHIAMBO 0712345678. Ada: KES 13.00. Salio jipya: KES 8,750.00.", GSM7, 1},
	}
	for _, tt := range tests {
		enc, parts := Segments(tt.s)
		if enc != tt.enc || parts != tt.parts {
			t.Errorf("%s: Segments = %s, %d; want %s, %d", tt.name, enc, parts, tt.enc, tt.parts)
		}
		if got, want := FitsScreen(tt.s), tt.parts <= 1; got != want {
			t.Errorf("%s: FitsScreen = %v, want %v", tt.name, got, want)
		}
	}
}

func TestToGSM7(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Amina Odhiambo", "Amina Odhiambo"},
		{"Awa Traoré", "Awa Traoré"}, // é is GSM-7: kept
		{"Aïssata Koné", "Aissata Koné"},
		{"François", "Francois"},
		{"FRANÇOIS", "FRANÇOIS"},
		{"Jérôme Bâ", "Jérome Ba"},
		{"Zoë Müller", "Zoe Müller"}, // ü is GSM-7, ë is not
		{"Cafe\u0301", "Café"},       // decomposed é composes to GSM-7 é
		{"N’Golo “Kanté”", "N'Golo \"Kanté\""},
		{"Mama Mboga – Duka", "Mama Mboga - Duka"},
		{"Cœur", "Coeur"},
		{"1\u00a0250\u202fXOF", "1 250 XOF"},
		{"ﬁne", "fine"},
		{"Şükrü", "Sükrü"},
		{"王芳", "??"},
		{"😀 shop", "? shop"},
		{"\xff", "?"},
		{"", ""},
	}
	for _, tt := range tests {
		got := ToGSM7(tt.in)
		if got != tt.want {
			t.Errorf("ToGSM7(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if !IsGSM7(got) {
			t.Errorf("ToGSM7(%q) = %q is not GSM-7", tt.in, got)
		}
	}
}

// FuzzSegments checks Segments against a direct count: never a panic, GSM-7
// exactly when every rune is, one part exactly when the text fits, and parts
// that could hold the text but not with one part fewer.
func FuzzSegments(f *testing.F) {
	for _, s := range []string{"", "hello", strings.Repeat("€", 81), strings.Repeat("ô", 71), "😀", "\xff\x1b", strings.Repeat("a", 152) + "€"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc, parts := Segments(s)
		n, gsm := Septets(s)
		if gsm != (enc == GSM7) {
			t.Fatalf("Segments(%q) = %s but Septets ok = %v", s, enc, gsm)
		}
		if IsGSM7(ToGSM7(s)) == false {
			t.Fatalf("ToGSM7(%q) = %q is not GSM-7", s, ToGSM7(s))
		}
		size, single := smsPartUnits, smsUnits
		total := utf16Len(s)
		if gsm {
			size, single, total = smsPartSeptets, smsSeptets, n
		}
		switch {
		case s == "":
			if parts != 0 {
				t.Fatalf("Segments(\"\") = %d parts", parts)
			}
		case total <= single:
			if parts != 1 {
				t.Fatalf("Segments(%q) = %d parts for %d units", s, parts, total)
			}
		default:
			// Packing loses at most one unit a part (a split pair moves whole).
			if parts*size < total || (parts-1)*(size-1) >= total {
				t.Fatalf("Segments(%q) = %d parts of %d for %d units", s, parts, size, total)
			}
		}
		if utf8.ValidString(s) && gsm && n != len([]rune(s))+strings.Count(s, "€")+strings.Count(s, "^")+strings.Count(s, "{")+strings.Count(s, "}")+strings.Count(s, "\\")+strings.Count(s, "[")+strings.Count(s, "~")+strings.Count(s, "]")+strings.Count(s, "|")+strings.Count(s, "\f") {
			t.Fatalf("Septets(%q) = %d", s, n)
		}
	})
}
