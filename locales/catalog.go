package locales

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/kibubu/kibubu/wallet"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"github.com/nicksnyder/go-i18n/v2/i18n/template"
	"golang.org/x/text/language"
)

// Each language's messages may be split over several files, one per area:
// active.<code>.toml, and <area>.<code>.toml for the merchant features.
//
//go:embed *.toml
var files embed.FS

// Default is the language every message file is checked against and the one
// used for a language Kibubu does not speak.
const Default = "en"

// The data limits the screens are tested with (see the package doc).
const (
	// NameCharsMax is the longest name a screen shows: longer registered
	// names (the wallet allows 64 bytes) must be clipped by the caller.
	NameCharsMax = 30
	// AccountCharsMax is the longest pay-bill account reference a screen
	// shows; the menu should refuse longer input.
	AccountCharsMax = 20
)

// countKey is the template data key whose value selects a plural form.
const countKey = "Count"

// strict executes templates with missingkey=error, so a screen rendered
// without one of its values is an error instead of "<no value>" on a phone.
// It has no Funcs, so go-i18n parses each template once and caches it.
var strict = &template.TextParser{Option: "missingkey=error"}

// Catalog holds the messages of every supported language. It is built once
// by New and safe for concurrent use.
type Catalog struct {
	localizers map[string]*i18n.Localizer          // by language code
	messages   map[string]map[string]*i18n.Message // language code → id → message
	ids        []string                            // sorted, the same in every language
}

// New loads the embedded message files. It returns an error if a file is
// missing or malformed, or if a language lacks an id the default language
// has or has one it lacks: both are bugs in the files, caught at start.
func New() (*Catalog, error) {
	b := i18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	c := &Catalog{
		localizers: make(map[string]*i18n.Localizer, len(codes)),
		messages:   make(map[string]map[string]*i18n.Message, len(codes)),
	}
	for _, code := range codes {
		names, err := fs.Glob(files, "*."+code+".toml")
		if err == nil && len(names) == 0 {
			err = errors.New("no message file")
		}
		if err != nil {
			return nil, fmt.Errorf("locales: load %s: %w", code, err)
		}
		byID := map[string]*i18n.Message{}
		for _, name := range names {
			f, err := b.LoadMessageFileFS(files, name)
			if err != nil {
				return nil, fmt.Errorf("locales: load %s: %w", name, err)
			}
			for _, m := range f.Messages {
				if byID[m.ID] != nil {
					return nil, fmt.Errorf("locales: %s: %s is defined twice", name, m.ID)
				}
				byID[m.ID] = m
			}
		}
		c.messages[code] = byID
		// One exact tag per localizer: go-i18n matches a localizer's tags
		// against the bundle, and that match is what turns rw into fr.
		c.localizers[code] = i18n.NewLocalizer(b, code)
	}
	for id := range c.messages[Default] {
		c.ids = append(c.ids, id)
	}
	slices.Sort(c.ids)
	var problems []string
	for _, code := range codes {
		for _, id := range c.ids {
			if c.messages[code][id] == nil {
				problems = append(problems, code+" lacks "+id)
			}
		}
		for id := range c.messages[code] {
			if c.messages[Default][id] == nil {
				problems = append(problems, code+" has "+id+", which "+Default+" lacks")
			}
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return nil, fmt.Errorf("locales: message files differ: %s", strings.Join(problems, "; "))
	}
	return c, nil
}

// Languages returns the codes of the supported languages, the default first:
// en, sw, fr.
func (c *Catalog) Languages() []string { return slices.Clone(codes) }

// IDs returns every message id, sorted. Each exists in every language.
func (c *Catalog) IDs() []string { return slices.Clone(c.ids) }

// resolve returns the supported language for lang: lang itself when it is a
// supported code, else what Match makes of it (English when nothing fits).
func resolve(lang string) string {
	if slices.Contains(codes, lang) {
		return lang
	}
	return Match(lang)
}

// Text renders message id in lang (a supported code; anything else is
// matched, and falls back to English) with data as its template data. When
// data has a "Count" and the message has plural forms, Count selects the
// form. It returns an error for an unknown id, a template value missing from
// data, or a Count that is not a number: each is a bug in the caller.
func (c *Catalog) Text(lang, id string, data map[string]any) (string, error) {
	lang = resolve(lang)
	m := c.messages[lang][id]
	if m == nil {
		return "", fmt.Errorf("locales: no message %q", id)
	}
	cfg := &i18n.LocalizeConfig{MessageID: id, TemplateData: data, TemplateParser: strict}
	if n, ok := data[countKey]; ok && plural(m) {
		cfg.PluralCount = n
	}
	s, err := c.localizers[lang].Localize(cfg)
	if err != nil {
		return "", fmt.Errorf("locales: render %s in %s: %w", id, lang, err)
	}
	return s, nil
}

// Render is Text for ids and data the caller's tests have rendered: a
// missing id or value is a bug, so Render panics on one, as
// regexp.MustCompile does, rather than show a phone a broken screen.
func (c *Catalog) Render(lang, id string, data map[string]any) string {
	s, err := c.Text(lang, id, data)
	if err != nil {
		panic(err)
	}
	return s
}

// plural reports whether m has a plural form other than "other".
func plural(m *i18n.Message) bool {
	return m.Zero != "" || m.One != "" || m.Two != "" || m.Few != "" || m.Many != ""
}

// RenderError renders err for a person in lang: a *wallet.Error (wrapped or
// not) by its code, with the detail it carries: the balance (formatted in
// cur) for insufficient_funds, the tries left for pin_invalid, which limit for
// limit_exceeded. A code or detail this catalog has no message for falls back
// to the code's general message, and anything that is not a wallet error to
// error.internal. It returns "" for a nil err. This is the one place wallet
// codes become words, for USSD screens and SMS replies alike.
func (c *Catalog) RenderError(lang string, cur wallet.Currency, err error) string {
	if err == nil {
		return ""
	}
	lang = resolve(lang)
	id, data := c.errorMessage(lang, cur, err)
	return c.Render(lang, id, data)
}

// errorMessage returns the message id and template data for err.
func (c *Catalog) errorMessage(lang string, cur wallet.Currency, err error) (string, map[string]any) {
	var we *wallet.Error
	if !errors.As(err, &we) {
		return "error.internal", nil
	}
	id := "error." + string(we.Code)
	if c.messages[Default][id] == nil {
		return "error.internal", nil
	}
	switch we.Code {
	case wallet.CodeInsufficientFunds:
		if we.Balance != nil {
			return id + ".balance", map[string]any{"Balance": FormatMoney(lang, cur, *we.Balance)}
		}
	case wallet.CodePINInvalid, wallet.CodeStartKeyInvalid:
		if we.TriesLeft != nil {
			return id + ".tries_left", map[string]any{countKey: *we.TriesLeft}
		}
	case wallet.CodeLimitExceeded:
		if detail := id + "." + string(we.Limit); we.Limit != "" && c.messages[Default][detail] != nil {
			return detail, nil
		}
	}
	return id, nil
}
