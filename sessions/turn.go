package sessions

import (
	"context"
	"strings"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
)

// turn is one hop being handled: the session's new state, being changed.
type turn struct {
	e   *Engine
	st  *state
	key string // the session's bucket key
	ctx context.Context
}

// handle applies input at the current node. It reports whether the
// session keeps the input anyway (a navigation input, a menu choice, a
// value a screen took), so that the history may keep it as typed; a PIN,
// anything a node acts on itself and any input refused are not.
func (t *turn) handle(input string) (kept bool) {
	st := t.st
	n := nodes[st.node()]
	switch {
	case input == navHome && len(st.Path) > 1:
		st.Path, st.Vals, st.Pending, st.Proof, st.Approvals = st.Path[:1], nil, "", "", nil
		t.show("")
		return true
	case input == navBack && n.nav && len(st.Path) > 1:
		st.Path = st.Path[:len(st.Path)-1]
		t.show("")
		return true
	case input == navMore && st.Page+1 < t.pages():
		st.Page++
		t.show(st.Err)
		return true
	}
	st.Page = 0
	switch {
	case n.choices != nil:
		next, ok := n.choices[input]
		switch {
		case !ok:
			t.show(t.line("ussd.invalid.choice"))
		case next == cancel:
			t.finish(t.endScreen("ussd.cancelled", nil))
		default:
			t.enter(next)
		}
		return ok
	case n.read != nil:
		if invalid := n.read(t, input); invalid != "" {
			t.show(t.line(invalid))
			return false
		}
		t.enter(n.next)
		return true
	default:
		n.act(t, input)
		return false
	}
}

// scope is the session's part of its money steps' idempotency keys: the
// aggregator and the session's nonce. A state saved before nonces (a
// rolling upgrade) uses its bucket key, as then.
func (t *turn) scope() string {
	if t.st.Nonce == "" {
		return t.key
	}
	aggregator, _, _ := strings.Cut(t.key, ".")
	return aggregator + "." + t.st.Nonce
}

// enter moves the session to node name and shows it, unless its enter hook
// ends the session.
func (t *turn) enter(name string) {
	t.st.Path = append(t.st.Path, name)
	t.st.Page = 0
	if n := nodes[name]; n.enter != nil {
		if s := n.enter(t); s != nil {
			t.finish(*s)
			return
		}
	}
	t.show("")
}

// back returns to node name, an earlier node of the path, and shows it with
// the re-prompt line invalid.
func (t *turn) back(name, invalid string) {
	for len(t.st.Path) > 1 && t.st.node() != name {
		t.st.Path = t.st.Path[:len(t.st.Path)-1]
	}
	t.show(invalid)
}

// finish ends the session with s.
func (t *turn) finish(s Screen) { t.e.finish(t.st, s) }

// show renders the current node, with errLine above it when not empty.
func (t *turn) show(errLine string) {
	t.st.Err = errLine
	pages := t.compose(errLine)
	if t.st.Page >= len(pages) {
		t.st.Page = len(pages) - 1
	}
	t.st.Screen = Screen{Text: pages[t.st.Page]}
}

// pages counts the pages of the screen shown, its re-prompt line included.
func (t *turn) pages() int { return len(t.compose(t.st.Err)) }

// compose renders the current node as one or more pages, each within
// one USSD screen: the prompt's lines, then 98 More on every page but the
// last, and the navigation lines on the last.
func (t *turn) compose(errLine string) []string {
	n := nodes[t.st.node()]
	var body string
	if n.text != nil {
		body = n.text(t)
	} else {
		var data map[string]any
		if n.data != nil {
			data = n.data(t)
		}
		body = t.text(n.prompt, data)
	}
	lines := strings.Split(body, "\n")
	if errLine != "" {
		lines = append([]string{errLine}, lines...)
	}
	var nav []string
	if n.nav {
		nav = []string{t.text("ussd.nav.back", nil), t.text("ussd.nav.home", nil)}
	}
	if whole := strings.Join(append(lines[:len(lines):len(lines)], nav...), "\n"); locales.FitsScreen(whole) {
		return []string{whole}
	}
	more := t.text("ussd.nav.more", nil)
	fits := func(lines ...string) bool { return locales.FitsScreen(strings.Join(lines, "\n")) }
	var pages []string
	var page []string
	for _, l := range lines {
		if len(page) > 0 && !fits(append(page[:len(page):len(page)], l, more)...) {
			pages = append(pages, strings.Join(append(page, more), "\n"))
			page = nil
		}
		page = append(page, l)
	}
	// The last page carries the navigation, longer than 98 More: move its
	// last lines to a page of their own until it fits.
	var rest []string
	for len(page) > 1 && !fits(append(page[:len(page):len(page)], nav...)...) {
		page, rest = page[:len(page)-1], append([]string{page[len(page)-1]}, rest...)
	}
	if len(rest) > 0 {
		pages = append(pages, strings.Join(append(page, more), "\n"))
		page = rest
	}
	return append(pages, strings.Join(append(page, nav...), "\n"))
}

// text renders a message in the session's language.
func (t *turn) text(id string, data map[string]any) string {
	return t.e.cfg.Locales.Render(t.st.Lang, id, data)
}

// line renders a re-prompt line (ussd.invalid.*), which may name the PIN
// length.
func (t *turn) line(id string) string {
	return t.text(id, map[string]any{"Digits": t.e.cfg.PINLength})
}

// endScreen renders an END screen in the session's language.
func (t *turn) endScreen(id string, data map[string]any) Screen {
	return t.e.end(t.st.Lang, id, data)
}

// wallet returns a context bounding one wallet call.
func (t *turn) wallet() (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.ctx, t.e.cfg.WalletTimeout)
}

// refused handles a wallet refusal: a wrong PIN re-asks it with the tries
// left; a not_found becomes notFound's screen when the flow knows what was
// looked up; anything else ends the session with the error in words.
func (t *turn) refused(err error, notFound string, data map[string]any) {
	switch wallet.ErrorCode(err) {
	case wallet.CodePINInvalid:
		t.show(t.e.cfg.Locales.RenderError(t.st.Lang, t.e.cfg.Currency, err))
		return
	case wallet.CodeNotFound:
		if notFound != "" {
			t.finish(t.endScreen(notFound, data))
			return
		}
	case wallet.CodeInternal:
		t.e.log.Error("wallet call failed", "node", t.st.node(), "err", err)
	}
	t.finish(t.refusal(err))
}

// refusal is the END screen for a wallet error.
func (t *turn) refusal(err error) Screen {
	return Screen{Text: t.e.cfg.Locales.RenderError(t.st.Lang, t.e.cfg.Currency, err), End: true}
}

func (t *turn) val(k string) string { return t.st.Vals[k] }

func (t *turn) set(k, v string) {
	if t.st.Vals == nil {
		t.st.Vals = make(map[string]string)
	}
	t.st.Vals[k] = v
}
