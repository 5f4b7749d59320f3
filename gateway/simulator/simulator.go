package simulator

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kibubu/kibubu/gateway/aggregator"
	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/notify"
	notifystore "github.com/kibubu/kibubu/notify/store"
	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet"
)

// Path is where Mount serves the page.
const Path = "/simulator"

const (
	// phonesPerPageMax bounds the handsets on one page: an agent and a
	// customer, and a few more for a trainer's demo, fit side by side.
	phonesPerPageMax = 6
	// inboxRowsMax is how many SMS an inbox shows, newest first.
	inboxRowsMax = 20
	// inboxTimeout bounds reading one inbox from the outbox.
	inboxTimeout = 5 * time.Second
	// formBytesMax bounds a handset's form: a phone number, what was typed
	// (182 characters at most), the page's phones and its language.
	formBytesMax = 4 << 10
)

// contentSecurityPolicy allows the page its own stylesheet, script and
// requests, and nothing else: no inline script or style, no other origin,
// no framing, forms posted only here.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Inbox reads the SMS recorded for a phone, newest first: the notifier's
// outbox (*notifystore.Store).
type Inbox interface {
	List(ctx context.Context, f notifystore.Filter) ([]notify.Stored, error)
}

var _ Inbox = (*notifystore.Store)(nil)

// Config is what the simulator needs.
type Config struct {
	// Server is this server's base URL (http://127.0.0.1:8080): each hop
	// goes to its own Africa's Talking adapter, with USSDSecret when the
	// adapter requires one.
	Server, USSDSecret string
	// Inbox is the notifier's outbox; nil where this process has none (a
	// gateway), and the page says so.
	Inbox Inbox
	// Locales words the page; Region reads the numbers typed; Location
	// (default time.Local) is the time zone the inbox shows times in, the
	// wallet's, as its receipts do.
	Locales  *locales.Catalog
	Region   string
	Location *time.Location
	// LocalHostsOnly refuses requests whose Host is not a loopback name
	// (localhost, 127.0.0.1, [::1]): on a loopback listener, a page of
	// another site whose name was made to resolve to 127.0.0.1 (DNS
	// rebinding) cannot reach the simulator.
	LocalHostsOnly bool
}

// Mount serves the simulator on e under Path:
//
//	GET  /simulator           the handsets of ?phone=… (several), in ?lang=
//	POST /simulator/hop       a handset's Call or End key; answered 303 to the page
//	GET  /simulator/inbox     one phone's SMS inbox, the fragment the script polls
//	GET  /simulator/static/…  the stylesheet and the script
//
// It returns an error for a Config without the server's URL or the
// locales, or with a region the phone number metadata does not know.
func Mount(e *echo.Echo, cfg Config) error {
	if cfg.Server == "" || cfg.Locales == nil {
		return errors.New("simulator: Mount needs the server's URL and the locales")
	}
	// Any number tells an unknown region (CodeInvalid) from a bad number.
	if _, err := wallet.NormalizePhone("0", cfg.Region); wallet.ErrorCode(err) == wallet.CodeInvalid {
		return fmt.Errorf("simulator: %w", err)
	}
	t, err := template.New("").Funcs(template.FuncMap{
		"t":         func(lang, id string) string { return cfg.Locales.Render(lang, id, nil) },
		"phoneArgs": func(p pageData, ph phoneData) phoneArgs { return phoneArgs{Page: p, Phone: ph} },
		"keys":      func() []string { return keypad },
		"inputMax":  func() int { return aggregator.InputRunesMax },
	}).ParseFS(templateFiles, "templates/*.html")
	if err != nil {
		return err
	}
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return err
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	s := &server{cfg: cfg, tmpl: t, phones: newPhones(), ussd: &aggregator.Client{Base: cfg.Server, USSDSecret: cfg.USSDSecret,
		HTTP: &http.Client{Timeout: hopTimeout}, UserAgent: "kibubu-simulator"}}
	g := e.Group(Path, s.guard)
	g.GET("", s.page)
	g.POST("/hop", s.hop)
	g.GET("/inbox", s.inbox)
	g.GET("/static/*", echo.WrapHandler(http.StripPrefix(Path+"/static/", http.FileServerFS(static))))
	return nil
}

type server struct {
	cfg    Config
	tmpl   *template.Template
	phones *phones
	ussd   *aggregator.Client
}

// crossOrigin refuses a POST another site's page makes the browser send.
var crossOrigin = http.NewCrossOriginProtection()

// guard sets the security headers of every answer and refuses requests
// from other sites, and other host names when LocalHostsOnly.
func (s *server) guard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		req := c.Request()
		if s.cfg.LocalHostsOnly && !loopbackHost(req.Host) {
			return echo.NewHTTPError(http.StatusForbidden, "the simulator answers only to localhost, 127.0.0.1 and [::1] here")
		}
		if err := crossOrigin.Check(req); err != nil {
			return echo.NewHTTPError(http.StatusForbidden, err.Error())
		}
		return next(c)
	}
}

// loopbackHost reports whether a Host header names this machine's loopback.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	ip := net.ParseIP(host)
	return strings.EqualFold(host, "localhost") || ip != nil && ip.IsLoopback()
}

// pageData is the page's template data.
type pageData struct {
	Lang   string
	Langs  []langLink
	Phones []phoneData
	Notice string
	Hidden []string // the phones, for the add form
}

// langLink is the page in another language.
type langLink struct{ Code, URL string }

// phoneArgs is the phone template's data: the page's and the phone's.
type phoneArgs struct {
	Page  pageData
	Phone phoneData
}

// keypad is a handset's keys, in their order on it.
var keypad = []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"}

type phoneData struct {
	Phone     string // E.164
	Anchor    string
	Screen    string
	Open      bool // a session is open
	Ended     bool // the screen ended its session
	Masked    bool // the screen asks for a secret: the field is a password field
	Typed     string
	Notice    string
	RemoveURL string
	Inbox     inboxData
}

type inboxData struct {
	Lang        string
	URL         string
	Unavailable bool
	Failed      bool
	Messages    []smsData
}

type smsData struct {
	At, Text, Status string
}

// language is the page's: ?lang= when it names a supported one, else the
// browser's preference.
func (s *server) language(c echo.Context) string {
	if l := c.QueryParam("lang"); slices.Contains(s.cfg.Locales.Languages(), l) {
		return l
	}
	if l := c.FormValue("lang"); slices.Contains(s.cfg.Locales.Languages(), l) {
		return l
	}
	return locales.Match(c.Request().Header.Get("Accept-Language"))
}

// numbers normalises the phones raw names, dropping repeats; the first
// that is not a phone number, or past phonesPerPageMax, is the notice.
func (s *server) numbers(lang string, raw []string) (numbers []string, bad string) {
	for _, r := range raw {
		if strings.TrimSpace(r) == "" {
			continue
		}
		n, err := wallet.NormalizePhone(r, s.cfg.Region)
		switch {
		case err != nil:
			if bad == "" {
				bad = s.cfg.Locales.Render(lang, "simulator.error.phone", map[string]any{"Phone": r})
			}
		case slices.Contains(numbers, n):
		case len(numbers) == phonesPerPageMax:
			if bad == "" {
				bad = s.cfg.Locales.Render(lang, "simulator.error.phones_max", map[string]any{"Number": phonesPerPageMax})
			}
		default:
			numbers = append(numbers, n)
		}
	}
	return numbers, bad
}

func (s *server) page(c echo.Context) error {
	lang := s.language(c)
	numbers, bad := s.numbers(lang, c.QueryParams()["phone"])
	d := pageData{Lang: lang, Notice: bad, Hidden: numbers}
	for _, l := range s.cfg.Locales.Languages() {
		d.Langs = append(d.Langs, langLink{Code: l, URL: Path + "?" + pageQuery(numbers, l)})
	}
	for _, n := range numbers {
		v := s.phones.view(n)
		p := phoneData{Phone: n, Anchor: anchor(n), Screen: v.screen, Open: v.open, Ended: v.ended,
			Masked:    v.open && asksSecret(v.screen),
			RemoveURL: Path + "?" + pageQuery(slices.DeleteFunc(slices.Clone(numbers), func(m string) bool { return m == n }), lang),
			Inbox:     s.readInbox(c.Request().Context(), n, lang)}
		if !v.open {
			p.Typed = sessions.DefaultServiceCode
		}
		if v.notice.id != "" {
			p.Notice = s.cfg.Locales.Render(lang, v.notice.id, v.notice.data)
		}
		d.Phones = append(d.Phones, p)
	}
	return s.render(c, "page", d)
}

// anchor is a phone's element id: its digits.
func anchor(number string) string { return "p" + strings.TrimPrefix(number, "+") }

func (s *server) hop(c echo.Context) error {
	req := c.Request()
	req.Body = http.MaxBytesReader(c.Response(), req.Body, formBytesMax)
	if err := req.ParseForm(); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "a handset's form is a few fields")
	}
	lang := s.language(c)
	numbers, _ := s.numbers(lang, req.PostForm["phones"])
	number, err := wallet.NormalizePhone(req.PostFormValue("phone"), s.cfg.Region)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "phone: not a phone number")
	}
	if !slices.Contains(numbers, number) {
		numbers = append(numbers, number)
	}
	switch req.PostFormValue("key") {
	case "call":
		s.phones.call(req.Context(), s.ussd, number, req.PostFormValue("typed"), lang)
	case "end":
		s.phones.hangUp(number)
	default:
		return echo.NewHTTPError(http.StatusBadRequest, `key: want "call" or "end"`)
	}
	return c.Redirect(http.StatusSeeOther, Path+"?"+pageQuery(numbers, lang)+"#"+anchor(number))
}

func (s *server) inbox(c echo.Context) error {
	lang := s.language(c)
	number, err := wallet.NormalizePhone(c.QueryParam("phone"), s.cfg.Region)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "phone: not a phone number")
	}
	return s.render(c, "inbox", s.readInbox(c.Request().Context(), number, lang))
}

// readInbox reads number's SMS from the outbox.
func (s *server) readInbox(ctx context.Context, number, lang string) inboxData {
	d := inboxData{Lang: lang, URL: Path + "/inbox?" + pageQuery([]string{number}, lang)}
	if s.cfg.Inbox == nil {
		d.Unavailable = true
		return d
	}
	ctx, cancel := context.WithTimeout(ctx, inboxTimeout)
	defer cancel()
	rows, err := s.cfg.Inbox.List(ctx, notifystore.Filter{Phone: number, Limit: inboxRowsMax})
	if err != nil {
		d.Failed = true
		return d
	}
	for _, r := range rows {
		d.Messages = append(d.Messages, smsData{At: r.Created.In(s.cfg.Location).Format("02/01 15:04:05"), Text: r.Text, Status: r.Status})
	}
	return d
}

func (s *server) render(c echo.Context, name string, d any) error {
	var b strings.Builder
	if err := s.tmpl.ExecuteTemplate(&b, name, d); err != nil {
		return err
	}
	return c.HTML(http.StatusOK, b.String())
}
