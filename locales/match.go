package locales

import (
	"slices"

	"golang.org/x/text/language"
)

// codes are the supported languages, the default first; tags are the same
// languages for golang.org/x/text. New loads active.<code>.toml for each.
var (
	codes   = []string{"en", "sw", "fr"}
	tags    = []language.Tag{language.English, language.Swahili, language.French}
	matcher = language.NewMatcher(tags)
)

// acceptBytesMax bounds what Match parses: a stated preference is a code or
// a short Accept-Language list, and the bound keeps a hostile string cheap.
const acceptBytesMax = 256

// Match returns the supported language code (en, sw or fr) for a user's
// stated preference: a language tag such as "sw", "sw-KE", "fr-CI" or
// "SW_ke", or an Accept-Language list such as "rw, sw;q=0.8". Regional
// variants and scripts match their language. Anything else — an unsupported
// language, a malformed tag, a language name like "kiswahili", "" — gives
// Default (en).
//
// Only tags whose base language is supported take part in the match:
// golang.org/x/text's matcher would otherwise answer French, with high
// confidence, for languages people in some regions also read (rw, ln, wo,
// mg), and English for others (lg, ha, zu). A Kinyarwanda speaker is not
// thereby a French speaker; English is the honest fallback.
func Match(accept string) string {
	if len(accept) > acceptBytesMax {
		return Default
	}
	desired, _, err := language.ParseAcceptLanguage(accept)
	if err != nil {
		return Default
	}
	kept := desired[:0]
	for _, t := range desired {
		if base, conf := t.Base(); conf == language.Exact && supportedBase(base) {
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 {
		return Default
	}
	_, i, conf := matcher.Match(kept...)
	if conf == language.No {
		return Default
	}
	return codes[i]
}

// supportedBase reports whether b is the base language of a supported tag.
func supportedBase(b language.Base) bool {
	return slices.ContainsFunc(tags, func(t language.Tag) bool {
		tb, _ := t.Base()
		return tb == b
	})
}
