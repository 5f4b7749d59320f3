// Package simulatortest drives the phone simulator's page (/simulator) in a
// real headless Chromium (gateway/internal/browsertest), for tests that
// start the whole program, which live outside gateway/: a Page adds phones
// with the page's own form, and each Handset types on its keypad, presses
// Call, reads its display and waits for its SMS inbox.
package simulatortest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kibubu/kibubu/gateway/internal/browsertest"
	"github.com/kibubu/kibubu/gateway/simulator"
)

// inboxWait bounds waiting for an SMS to show in an inbox: a receipt goes
// through the event stream and the notifier, and the page refreshes its
// inboxes every few seconds.
const inboxWait = time.Minute

// keypadKeys are the keys the page's keypad has.
const keypadKeys = "0123456789*#"

// Page is the simulator's page in a browser tab.
type Page struct {
	t   *testing.T
	ctx context.Context
}

// Open starts a browser for t and opens the simulator of the server at base
// (http://127.0.0.1:8080).
func Open(t *testing.T, base string) *Page {
	t.Helper()
	p := &Page{t: t, ctx: browsertest.New(t)}
	if err := chromedp.Do(p.ctx, chromedp.Navigate(strings.TrimRight(base, "/")+simulator.Path)); err != nil {
		t.Fatalf("open the simulator: %v", err)
	}
	return p
}

// AddPhone adds a phone with the page's form, as typed.
func (p *Page) AddPhone(number string) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.SendKeys(chromedp.CSS("#add-phone"), number)); err != nil {
		p.t.Fatalf("type %s into the add form: %v", number, err)
	}
	if _, err := chromedp.RunResponse(p.ctx, chromedp.Click(chromedp.CSS("#add"))); err != nil {
		p.t.Fatalf("add %s: %v", number, err)
	}
}

// Screenshot saves the page under the test's artifact directory (see
// browsertest.Screenshot) and returns the file's path.
func (p *Page) Screenshot(name string) string {
	p.t.Helper()
	return browsertest.Screenshot(p.t, p.ctx, name)
}

// Phone is the handset of the page showing the E.164 number.
func (p *Page) Phone(number string) *Handset {
	return &Handset{t: p.t, ctx: p.ctx, sel: "#p" + strings.TrimPrefix(number, "+")}
}

// Handset drives one phone of the page.
type Handset struct {
	t   *testing.T
	ctx context.Context
	sel string // the phone's element: "#p254712000001"
}

// Press types typed (on the on-screen keypad when it has every key, else
// on the keyboard), presses Call, waits for the page the hop answers and
// returns what the display shows.
func (h *Handset) Press(typed string) string {
	h.t.Helper()
	field := chromedp.CSS(h.sel + ` input[name="typed"]`)
	steps := []chromedp.Action[chromedp.Void]{chromedp.Clear(field)}
	if strings.Trim(typed, keypadKeys) == "" {
		for _, k := range typed {
			steps = append(steps, chromedp.Click(chromedp.CSS(fmt.Sprintf(`%s button[data-key="%c"]`, h.sel, k))))
		}
	} else {
		steps = append(steps, chromedp.SendKeys(field, typed))
	}
	if err := chromedp.Do(h.ctx, steps...); err != nil {
		h.t.Fatalf("%s: type %q: %v", h.sel, typed, err)
	}
	if _, err := chromedp.RunResponse(h.ctx, chromedp.Click(chromedp.CSS(h.sel+" button.call"))); err != nil {
		h.t.Fatalf("%s: Call after %q: %v", h.sel, typed, err)
	}
	return h.Display()
}

// Display is the text of the phone's display, its spaces collapsed.
func (h *Handset) Display() string {
	h.t.Helper()
	s, err := chromedp.Run(h.ctx, chromedp.Text(chromedp.CSS(h.sel+" .display")))
	if err != nil {
		h.t.Fatalf("%s: display: %v", h.sel, err)
	}
	return strings.Join(strings.Fields(s), " ")
}

// Session presses each input in turn and fails the test unless the display
// then shows want (compared with spaces collapsed).
func (h *Handset) Session(want string, inputs ...string) {
	h.t.Helper()
	want = strings.Join(strings.Fields(want), " ")
	var got string
	for _, in := range inputs {
		got = h.Press(in)
	}
	if !strings.Contains(got, want) {
		h.t.Fatalf("%s after %q shows %q, want %q", h.sel, inputs, got, want)
	}
}

// Masked reports whether what is typed shows masked (a password field).
func (h *Handset) Masked() bool {
	h.t.Helper()
	typ, err := chromedp.Run(h.ctx, chromedp.JavascriptAttribute[string](chromedp.CSS(h.sel+` input[name="typed"]`), "type"))
	if err != nil {
		h.t.Fatalf("%s: field type: %v", h.sel, err)
	}
	return typ == "password"
}

// InboxShows waits until the phone's SMS inbox, which the page's script
// refreshes, shows every one of texts, and fails the test if it does not
// within a minute.
func (h *Handset) InboxShows(texts ...string) {
	h.t.Helper()
	q, _ := json.Marshal(h.sel + " .messages")
	want, _ := json.Marshal(texts)
	expr := fmt.Sprintf(`(() => { const b = document.querySelector(%s); const s = b ? b.textContent.replace(/\s+/g, " ") : "";
		return %s.every(w => s.includes(w)); })()`, q, want)
	if _, err := chromedp.Run(h.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(inboxWait))); err != nil {
		got, _ := chromedp.Run(h.ctx, chromedp.Text(chromedp.CSS(h.sel+" .messages")))
		h.t.Fatalf("%s: inbox shows %q, want %q: %v", h.sel, got, texts, err)
	}
}
