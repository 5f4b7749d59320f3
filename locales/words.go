package locales

import (
	"fmt"
	"strings"

	"github.com/kibubu/kibubu/wallet"
)

// Words is a catalogue message not yet rendered: its id and its arguments.
// It is how a text crosses from a process that composes it to one that
// sends it (sessions to the notifier), so that the sender renders only the
// catalogue's words, never a text of the composer's making. Render turns it
// into the text Render(lang, ID, data) gives.
type Words struct {
	ID   string         `json:"id"`
	Args map[string]Arg `json:"args,omitempty"`
}

// Arg is one argument of Words: exactly one of its fields is set.
type Arg struct {
	// Text is a short value already written out: a number, a phone, a
	// name, an amount, a date, a reference.
	Text string `json:"t,omitempty"`
	// Num is a number, the only kind of value that selects a plural form
	// (the argument named Count).
	Num *int64 `json:"n,omitempty"`
	// Words is a catalogue message in the argument's place.
	Words *Words `json:"w,omitempty"`
	// Lines are catalogue messages, one per line.
	Lines []Words `json:"l,omitempty"`
}

// NewWords returns Words for Render(lang, id, data) where each value of
// data is a string, an int or int64, a Words, or a []Words (lines). Any
// other value is a bug in the caller: it panics.
func NewWords(id string, data map[string]any) Words {
	w := Words{ID: id}
	if len(data) == 0 {
		return w
	}
	w.Args = make(map[string]Arg, len(data))
	for k, v := range data {
		switch v := v.(type) {
		case string:
			w.Args[k] = Arg{Text: v}
		case int:
			n := int64(v)
			w.Args[k] = Arg{Num: &n}
		case int64:
			w.Args[k] = Arg{Num: &v}
		case Words:
			w.Args[k] = Arg{Words: &v}
		case []Words:
			w.Args[k] = Arg{Lines: v}
		default:
			panic(fmt.Sprintf("locales: words %s: argument %s of type %T", id, k, v))
		}
	}
	return w
}

// RenderWords renders w in lang: each Words argument rendered in its place,
// Lines joined by line breaks. Its errors are Text's.
func (c *Catalog) RenderWords(lang string, w Words) (string, error) {
	var data map[string]any
	if len(w.Args) > 0 {
		data = make(map[string]any, len(w.Args))
	}
	for k, a := range w.Args {
		switch {
		case a.Words != nil:
			s, err := c.RenderWords(lang, *a.Words)
			if err != nil {
				return "", err
			}
			data[k] = s
		case a.Lines != nil:
			lines := make([]string, len(a.Lines))
			for i, l := range a.Lines {
				s, err := c.RenderWords(lang, l)
				if err != nil {
					return "", err
				}
				lines[i] = s
			}
			data[k] = strings.Join(lines, "\n")
		case a.Num != nil:
			data[k] = int(*a.Num)
		default:
			data[k] = a.Text
		}
	}
	return c.Text(lang, w.ID, data)
}

// Say is RenderWords for words the caller's tests have rendered: it panics
// on an error, as Render does.
func (c *Catalog) Say(lang string, w Words) string {
	s, err := c.RenderWords(lang, w)
	if err != nil {
		panic(err)
	}
	return s
}

// ErrorWords is RenderError's message as Words: the text RenderError gives.
func (c *Catalog) ErrorWords(lang string, cur wallet.Currency, err error) Words {
	lang = resolve(lang)
	id, data := c.errorMessage(lang, cur, err)
	return NewWords(id, data)
}
