package simulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kibubu/kibubu/gateway"
	"github.com/kibubu/kibubu/gateway/aggregator"
	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/notify"
	notifystore "github.com/kibubu/kibubu/notify/store"
	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// testSecret is the Africa's Talking adapter's secret in these tests: the
// simulator must send it.
const testSecret = "0123456789abcdef0123456789abcdef"

// menu is a USSD engine behind the real Africa's Talking adapter: a
// welcome menu, a PIN prompt, then an END screen; "boom" fails the hop.
type menu struct {
	mu   sync.Mutex
	hops []sessions.Hop
}

func (m *menu) Hop(ctx context.Context, h sessions.Hop) (sessions.Screen, error) {
	m.mu.Lock()
	m.hops = append(m.hops, h)
	m.mu.Unlock()
	inputs := strings.Split(h.History, "*")
	switch {
	case h.History == "":
		return sessions.Screen{Text: "Welcome to Kibubu\n1 Balance\n5 Change PIN"}, nil
	case inputs[len(inputs)-1] == "boom":
		return sessions.Screen{}, errors.New("the engine failed")
	case len(inputs) == 1:
		return sessions.Screen{Text: "Enter your PIN:\n0 Back"}, nil
	}
	return sessions.Screen{Text: "Your balance is KES 10.00.", End: true}, nil
}

func (m *menu) End(context.Context, sessions.End) {}

// histories is every hop's History, in order.
func (m *menu) histories() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, h := range m.hops {
		out = append(out, h.History)
	}
	return out
}

var testCatalog = func() *locales.Catalog {
	c, err := locales.New()
	if err != nil {
		panic(err)
	}
	return c
}()

// stack is the simulator mounted beside the real Africa's Talking adapter.
type stack struct {
	url  string
	menu *menu
	log  string // the file of everything the server logs
	sms  *notifystore.Store
}

// newStack serves the simulator and the adapter; with inbox, the inbox
// reads a real outbox (SQLite, or PostgreSQL with KIBUBU_TEST_POSTGRES).
func newStack(t testing.TB, inbox bool) *stack {
	t.Helper()
	st := &stack{menu: &menu{}, log: filepath.Join(t.TempDir(), "log")}
	// An *os.File takes concurrent writes.
	f, err := os.Create(st.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	log := slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := gateway.New(log)
	gateway.MountUSSD(e, st.menu, map[string]gateway.USSDAuth{"africastalking": {Secret: testSecret}}, log)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	st.url = srv.URL
	cfg := Config{Server: srv.URL, USSDSecret: testSecret, Locales: testCatalog, Region: "KE", LocalHostsOnly: true}
	if inbox {
		ctx := context.Background()
		db, err := store.Connect(ctx, storetest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if sqlDB, err := db.DB(); err == nil {
				sqlDB.Close()
			}
		})
		if st.sms, err = notifystore.Open(ctx, db); err != nil {
			t.Fatal(err)
		}
		cfg.Inbox = st.sms
	}
	if err := Mount(e, cfg); err != nil {
		t.Fatal(err)
	}
	return st
}

// noRedirect is a client that shows a redirect instead of following it.
var noRedirect = &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}}

// press posts a handset's key and returns the status and Location.
func (st *stack) press(t *testing.T, phone, typed, key string) (int, string) {
	t.Helper()
	form := url.Values{"phone": {phone}, "phones": {phone}, "typed": {typed}, "key": {key}, "lang": {"en"}}
	resp, err := noRedirect.PostForm(st.url+Path+"/hop", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// get returns a page's status, headers and body.
func (st *stack) get(t *testing.T, path string) (int, http.Header, string) {
	t.Helper()
	resp, err := noRedirect.Get(st.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

var tagRE = regexp.MustCompile(`<[^>]*>`)

// text is a page's text, tags dropped and spaces collapsed, entities left.
func text(html string) string {
	return strings.Join(strings.Fields(tagRE.ReplaceAllString(html, " ")), " ")
}

func en(id string, data map[string]any) string { return testCatalog.Render("en", id, data) }

// TestHandset presses the keys of one handset through the real Africa's
// Talking adapter and checks what the page shows and what the adapter got.
func TestHandset(t *testing.T) {
	const phone = "0712000001"
	long := strings.Repeat("9", aggregator.InputRunesMax+1)
	type press struct{ typed, key string }
	cases := []struct {
		name    string
		presses []press
		display string   // the page shows it in the phone's display
		notice  string   // and this notice ("" none)
		masked  bool     // the typed field is a password field
		hops    []string // the History of each hop the adapter got
	}{
		{"dial", []press{{"*334#", "call"}}, "Welcome to Kibubu 1 Balance 5 Change PIN", "", false, []string{""}},
		{"menu to PIN prompt, masked", []press{{"*334#", "call"}, {"1", "call"}}, "Enter your PIN:", "", true, []string{"", "1"}},
		{"whole session", []press{{"*334#", "call"}, {" 1 ", "call"}, {"4321", "call"}},
			"Your balance is KES 10.00. " + en("simulator.ended", nil), "", false, []string{"", "1", "1*4321"}},
		{"not a code", []press{{"12", "call"}}, en("simulator.idle", nil), en("simulator.error.code", nil), false, nil},
		{"empty reply", []press{{"*334#", "call"}, {"  ", "call"}}, "Welcome", en("simulator.error.empty", nil), false, []string{""}},
		{"over-long reply", []press{{"*334#", "call"}, {long, "call"}}, "Welcome",
			en("simulator.error.long", map[string]any{"Number": aggregator.InputRunesMax}), false, []string{""}},
		{"control characters", []press{{"*334#", "call"}, {"1\x1b[2J", "call"}}, "Welcome", en("simulator.error.chars", nil), false, []string{""}},
		{"reply after the END", []press{{"*334#", "call"}, {"1", "call"}, {"4321", "call"}, {"5", "call"}},
			"Your balance is KES 10.00.", en("simulator.error.no_session", nil), false, []string{"", "1", "1*4321"}},
		{"End hangs up", []press{{"*334#", "call"}, {"", "end"}, {"1", "call"}}, en("simulator.idle", nil), en("simulator.error.code", nil), false, []string{""}},
		{"adapter fails", []press{{"*334#", "call"}, {"boom", "call"}, {"1", "call"}}, en("simulator.idle", nil),
			en("simulator.error.code", nil), false, []string{"", "boom"}},
		{"adapter fails, shown", []press{{"*334#", "call"}, {"boom", "call"}}, en("simulator.idle", nil), en("simulator.error.refused", nil), false, []string{"", "boom"}},
		{"dial again after the END", []press{{"*334#", "call"}, {"1", "call"}, {"4321", "call"}, {"*334#", "call"}},
			"Welcome", "", false, []string{"", "1", "1*4321", ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := newStack(t, false)
			for _, p := range c.presses {
				status, loc := st.press(t, phone, p.typed, p.key)
				if want := Path + "?lang=en&phone=%2B254712000001#p254712000001"; status != http.StatusSeeOther || loc != want {
					t.Fatalf("press %q %s: %d %q, want 303 %q", p.typed, p.key, status, loc, want)
				}
			}
			status, h, body := st.get(t, Path+"?phone="+phone+"&lang=en")
			if status != http.StatusOK {
				t.Fatalf("page: %d %s", status, body)
			}
			page := text(body)
			if !strings.Contains(page, strings.Join(strings.Fields(c.display), " ")) {
				t.Errorf("page shows %q, want the display %q", page, c.display)
			}
			notice := regexp.MustCompile(`<p class="notice" role="alert">([^<]*)</p>`).FindStringSubmatch(body)
			switch {
			case c.notice == "" && notice != nil:
				t.Errorf("page shows the notice %q, want none", notice[1])
			case c.notice != "" && (notice == nil || notice[1] != html.EscapeString(c.notice)):
				t.Errorf("page shows the notice %q, want %q", notice, c.notice)
			}
			if got := strings.Contains(body, `type="password"`); got != c.masked {
				t.Errorf("typed field masked %v, want %v", got, c.masked)
			}
			if got := st.menu.histories(); !slices.Equal(got, c.hops) {
				t.Errorf("adapter got histories %q, want %q", got, c.hops)
			}
			for _, hop := range st.menu.hops {
				if hop.Phone != "+254712000001" || hop.SessionID != st.menu.hops[0].SessionID && hop.History != "" {
					t.Errorf("hop %+v: want the phone in E.164 and one session id until a new dial", hop)
				}
			}
			if h.Get("Content-Security-Policy") != contentSecurityPolicy || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("headers %v: want the CSP and nosniff", h)
			}
			// A notice is shown once.
			if _, _, again := st.get(t, Path+"?phone="+phone+"&lang=en"); c.notice != "" && strings.Contains(again, `class="notice"`) {
				t.Error("the notice shows again on a reload")
			}
			if logged, err := os.ReadFile(st.log); err != nil || len(logged) == 0 || bytes.Contains(logged, []byte("4321")) {
				t.Errorf("the log (%v) is empty or has the PIN typed:\n%s", err, logged)
			}
		})
	}
}

// TestPage checks the phones a page shows, from its query.
func TestPage(t *testing.T) {
	st := newStack(t, false)
	cases := []struct {
		query  string
		phones []string // the handsets shown, in order
		notice string
	}{
		{"", nil, ""},
		{"?phone=0712000001&phone=%2B254722000001", []string{"p254712000001", "p254722000001"}, ""},
		{"?phone=0712000001&phone=254712000001", []string{"p254712000001"}, ""},
		{"?phone=07x&phone=0712000001", []string{"p254712000001"}, en("simulator.error.phone", map[string]any{"Phone": "07x"})},
		{"?phone=0712000001&phone=0712000002&phone=0712000003&phone=0712000004&phone=0712000005&phone=0712000006&phone=0712000007",
			[]string{"p254712000001", "p254712000002", "p254712000003", "p254712000004", "p254712000005", "p254712000006"},
			en("simulator.error.phones_max", map[string]any{"Number": phonesPerPageMax})},
	}
	sectionRE := regexp.MustCompile(`<section class="phone" id="([^"]+)">`)
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			status, _, body := st.get(t, Path+c.query)
			if status != http.StatusOK {
				t.Fatalf("%d %s", status, body)
			}
			var got []string
			for _, m := range sectionRE.FindAllStringSubmatch(body, -1) {
				got = append(got, m[1])
			}
			if !slices.Equal(got, c.phones) {
				t.Errorf("phones %q, want %q", got, c.phones)
			}
			if c.notice != "" && !strings.Contains(body, html.EscapeString(c.notice)) {
				t.Errorf("page lacks the notice %q:\n%s", c.notice, body)
			}
		})
	}
	for _, lang := range testCatalog.Languages() {
		_, _, body := st.get(t, Path+"?phone=0712000001&lang="+lang)
		if want := html.EscapeString(testCatalog.Render(lang, "simulator.title", nil)); !strings.Contains(body, "<h1>"+want+"</h1>") {
			t.Errorf("page in %s lacks its title %q", lang, want)
		}
	}
}

// TestRefused checks the requests the simulator refuses: from another
// site, to another host name, and malformed handset forms.
func TestRefused(t *testing.T) {
	st := newStack(t, false)
	form := url.Values{"phone": {"0712000001"}, "typed": {"*334#"}, "key": {"call"}}.Encode()
	cases := []struct {
		name    string
		method  string
		path    string
		body    string
		headers map[string]string
		status  int
	}{
		{"another site's form", "POST", "/hop", form, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"another origin", "POST", "/hop", form, map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"a rebound host name", "GET", "", "", map[string]string{"Host": "evil.example"}, http.StatusForbidden},
		{"a rebound host name, posting", "POST", "/hop", form, map[string]string{"Host": "evil.example:80", "Sec-Fetch-Site": "same-origin"}, http.StatusForbidden},
		{"not a phone", "POST", "/hop", url.Values{"phone": {"abc"}, "key": {"call"}}.Encode(), nil, http.StatusBadRequest},
		{"no key", "POST", "/hop", url.Values{"phone": {"0712000001"}}.Encode(), nil, http.StatusBadRequest},
		{"a huge form", "POST", "/hop", "typed=" + strings.Repeat("1", formBytesMax), nil, http.StatusBadRequest},
		{"an inbox of no phone", "GET", "/inbox?phone=", "", nil, http.StatusBadRequest},
		{"the same site's form", "POST", "/hop", form, map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusSeeOther},
		{"localhost", "GET", "", "", map[string]string{"Host": "localhost"}, http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, st.url+Path+c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if c.method == "POST" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			for k, v := range c.headers {
				if k == "Host" {
					req.Host = v
				} else {
					req.Header.Set(k, v)
				}
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.status)
			}
		})
	}
	if got := st.menu.histories(); len(got) != 1 {
		t.Errorf("the adapter got %d hops, want only the same site's", len(got))
	}
}

// TestInbox checks a phone's inbox against a real outbox.
func TestInbox(t *testing.T) {
	st := newStack(t, true)
	ctx := context.Background()
	var out []notify.Outgoing
	for i := range inboxRowsMax + 2 {
		out = append(out, notify.Outgoing{Key: fmt.Sprintf("test:%d", i), Kind: notify.KindMessage, To: "+254712000001", Language: "en",
			Text: fmt.Sprintf("Message %d <b>", i)})
	}
	out = append(out, notify.Outgoing{Key: "test:other", Kind: notify.KindMessage, To: "+254722000001", Language: "en", Text: "Not yours"})
	if _, err := st.sms.Record(ctx, out); err != nil {
		t.Fatal(err)
	}
	status, _, body := st.get(t, Path+"/inbox?phone=0712000001&lang=en")
	if status != http.StatusOK {
		t.Fatalf("%d %s", status, body)
	}
	items := strings.Count(body, "<li>")
	if items != inboxRowsMax || strings.Contains(body, "Not yours") || strings.Contains(body, "<b>") ||
		!strings.Contains(body, fmt.Sprintf("Message %d &lt;b&gt;", inboxRowsMax+1)) || strings.Contains(body, "Message 1 &lt;") {
		t.Errorf("inbox has %d messages, want the newest %d of this phone only, escaped:\n%s", items, inboxRowsMax, body)
	}
	_, _, body = st.get(t, Path+"/inbox?phone=0733000001&lang=fr")
	if want := html.EscapeString(testCatalog.Render("fr", "simulator.inbox_empty", nil)); !strings.Contains(body, want) {
		t.Errorf("empty inbox shows %q, want %q", body, want)
	}

	gw := newStack(t, false)
	_, _, body = gw.get(t, Path+"?phone=0712000001&lang=en")
	if want := html.EscapeString(en("simulator.inbox_unavailable", nil)); !strings.Contains(body, want) {
		t.Errorf("a process without the notifier shows %q, want %q", text(body), want)
	}
}

// TestSessionLifetime checks that a reply after Africa's Talking's session
// lifetime is not sent.
func TestSessionLifetime(t *testing.T) {
	st := newStack(t, false)
	ps := newPhones()
	now := time.Now()
	ps.now = func() time.Time { return now }
	c := &aggregator.Client{Base: st.url, USSDSecret: testSecret}
	ps.call(context.Background(), c, "+254712000001", "*334#", "en")
	now = now.Add(sessionLifetime + time.Second)
	ps.call(context.Background(), c, "+254712000001", "1", "en")
	v := ps.view("+254712000001")
	if v.open || v.notice.id != "simulator.error.expired" || len(st.menu.histories()) != 1 {
		t.Errorf("view %+v after %d hops, want the session expired and one hop", v, len(st.menu.histories()))
	}
}

// TestAsksSecret checks the prompts whose answer is masked, in every
// language, against menus that only name a PIN.
func TestAsksSecret(t *testing.T) {
	cases := []struct {
		id     string
		data   map[string]any
		secret bool
	}{
		{"ussd.pin.enter", nil, true},
		{"ussd.pin.start_key", map[string]any{"Name": "Duka", "Digits": 6}, true},
		{"ussd.pin.new", map[string]any{"Digits": 4}, true},
		{"ussd.pin.confirm", nil, true},
		{"ussd.main.unregistered", nil, false},
		{"ussd.register.done", map[string]any{"Name": "Jane Doe"}, false},
	}
	for _, lang := range testCatalog.Languages() {
		for _, c := range cases {
			screen := testCatalog.Render(lang, c.id, c.data) + "\n" + testCatalog.Render(lang, "ussd.nav.back", nil)
			if got := asksSecret(screen); got != c.secret {
				t.Errorf("%s %s: asksSecret(%q) = %v, want %v", lang, c.id, screen, got, c.secret)
			}
		}
	}
	if asksSecret("Kibubu Agent\n1 Deposit\n5 Change PIN") {
		t.Error("a menu naming a PIN is taken for a prompt")
	}
}

// FuzzHop posts a handset's form with any phone and anything typed: the
// simulator answers 303 or 400, never fails, and every input the adapter
// gets is one a handset could send.
func FuzzHop(f *testing.F) {
	f.Add("0712000001", "*334#", "call")
	f.Add("0712000001", "1*2", "call")
	f.Add("+254712000001", "\x00", "call")
	f.Add("07", "", "end")
	f.Add("0712000001", strings.Repeat("é", 200), "call")
	st := newStack(f, false)
	f.Fuzz(func(t *testing.T, phone, typed, key string) {
		form := url.Values{"phone": {phone}, "typed": {typed}, "key": {key}}
		resp, err := noRedirect.PostForm(st.url+Path+"/hop", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("phone %q typed %q key %q: %d", phone, typed, key, resp.StatusCode)
		}
		st.menu.mu.Lock()
		defer st.menu.mu.Unlock()
		for _, h := range st.menu.hops {
			if h.History == "" {
				continue
			}
			inputs := strings.Split(h.History, "*")
			last := inputs[len(inputs)-1]
			if checkReply(last) != "" && !strings.Contains(typed, "*") {
				t.Fatalf("the adapter got the input %q, which no handset sends", last)
			}
		}
	})
}

// TestMountRefuses checks the configurations Mount refuses.
func TestMountRefuses(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
	}{
		{"no server", Config{Locales: testCatalog, Region: "KE"}},
		{"no locales", Config{Server: "http://127.0.0.1:1", Region: "KE"}},
		{"unknown region", Config{Server: "http://127.0.0.1:1", Locales: testCatalog, Region: "ZZ"}},
	}
	for _, c := range cases {
		if err := Mount(gateway.New(slog.New(slog.DiscardHandler)), c.cfg); err == nil {
			t.Errorf("%s: Mount accepted %+v", c.name, c.cfg)
		}
	}
	if err := Mount(gateway.New(slog.New(slog.DiscardHandler)), Config{Server: "http://127.0.0.1:1", Locales: testCatalog, Region: "KE"}); err != nil {
		t.Errorf("Mount refused a whole configuration: %v", err)
	}
}
