package locales

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct{ accept, want string }{
		{"en", "en"},
		{"sw", "sw"},
		{"fr", "fr"},
		{"SW", "sw"},
		{"sw-KE", "sw"},
		{"sw-TZ", "sw"},
		{"sw_KE", "sw"},
		{"sw-CD", "sw"},
		{"fr-CI", "fr"},
		{"fr-SN", "fr"},
		{"en-KE", "en"},
		{"en-GB", "en"},
		{" fr ", "fr"},
		// Unsupported languages fall back to English, never to a "close"
		// language: x/text alone answers fr for rw, ln, wo and mg.
		{"rw", "en"},
		{"lg", "en"},
		{"ln", "en"},
		{"wo", "en"},
		{"mg", "en"},
		{"ha", "en"},
		{"ki", "en"},
		{"xx", "en"},
		{"", "en"},
		{"und", "en"},
		{"und-KE", "en"}, // no language stated, only a region
		{"*", "en"},
		{"kiswahili", "en"}, // codes, not names,
		{"swahili", "en"},
		{"french", "fr"}, // but for the few legacy names x/text reads in Accept-Language
		{"english", "en"},
		{"sw-", "en"},
		// Accept-Language lists: the first supported language the user accepts.
		{"rw, sw", "sw"},
		{"rw, fr;q=0.5", "fr"},
		{"rw, sw;q=0.5, fr;q=0.4", "sw"},
		{"sw;q=0.1, fr", "fr"},
		{"fr;q=0, sw", "sw"},
		{"fr;q=0", "en"},
		{strings.Repeat("sw,", 100) + "sw", "en"}, // longer than acceptBytesMax
	}
	for _, tt := range tests {
		if got := Match(tt.accept); got != tt.want {
			t.Errorf("Match(%q) = %q, want %q", tt.accept, got, tt.want)
		}
	}
}
