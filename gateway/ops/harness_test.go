package ops

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/locales"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	notifystore "github.com/kibubu/kibubu/notify/store"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

// clock is the wallet's clock, which the tests move (session expiry,
// lockout, one TOTP code per 30-second step).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const password = "correct horse battery"

// env is a wallet on SQLite (or PostgreSQL) and NATS, and the back-office
// serving it over HTTP on a loopback port.
type env struct {
	t       testing.TB
	w       *wallettest.Wallet
	client  *natsapi.Client
	clk     *clock
	srv     *httptest.Server
	handler http.Handler                   // the back-office, mounted under Prefix
	ops     map[wallet.OperatorRole]string // the email of an operator per role
	totp    map[string]string              // email → TOTP secret
	notify  *notifystore.Store             // the notifier's tables (SMS, webhooks)
	opsSvc  micro.Service                  // the notifier's operator service
}

// newEnv starts it; opts change the wallet's configuration.
func newEnv(t testing.TB, opts ...func(*wallet.Config)) *env {
	t.Helper()
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	// With the merchant services (the merchants pages), without their
	// prompt limits: the tests and the benchmark make many payment
	// requests to few customers.
	noLimit := merchant.PromptLimit{Max: -1}
	w := wallettest.StartMerchants(t, merchant.Config{PromptsPerPhone: noLimit, PromptsPerPair: noLimit, PromptsPerMerchant: noLimit},
		func(c *wallet.Config) {
			c.Now = clk.Now
			for _, o := range opts {
				o(c)
			}
		})
	// A client naming no operator: every audited request the pages make
	// must name the signed-in one, or the wallet refuses it.
	client := natsapi.NewClient(w.Conn, 0, natsapi.WithPrefix(w.Prefix))
	cat, err := locales.New()
	if err != nil {
		t.Fatal(err)
	}
	kes, _ := wallet.LookupCurrency("KES")
	// The notifier's operator service on the wallet's database (sms.go).
	nst, err := notifystore.Open(context.Background(), w.Store.Gorm())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := notifyapi.ServeOps(w.Conn, nst, w.Prefix, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Stop() })
	s, err := New(Config{Wallet: client, Catalog: cat, Currency: kes, Region: "KE", Notifier: notifyapi.NewOpsClient(w.Conn, 0, w.Prefix)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(Prefix+"/", s)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &env{t: t, w: w, client: client, clk: clk, srv: srv, handler: mux, ops: map[wallet.OperatorRole]string{}, totp: map[string]string{},
		notify: nst, opsSvc: svc}
	for _, role := range wallet.OperatorRoles {
		e.ops[role] = e.addOperator(string(role)+"@example.org", role)
	}
	return e
}

// addOperator adds an operator as `kibubu operator add` does.
func (e *env) addOperator(email string, role wallet.OperatorRole) string {
	e.t.Helper()
	n, err := e.client.AddOperator(natsapi.WithOperator(context.Background(), natsapi.Operator{Actor: "setup"}), email, role, password)
	if err != nil {
		e.t.Fatal(err)
	}
	e.totp[email] = n.TOTPSecret
	return email
}

// code is the operator's TOTP code now, after moving the clock to the next
// 30-second step (a code works once).
func (e *env) code(email string) string {
	e.t.Helper()
	if e.totp[email] == "" {
		return ""
	}
	e.clk.Add(30 * time.Second)
	c, err := wallet.TOTPCode(e.totp[email], e.clk.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// browser is an HTTP client with its own cookies that does not follow
// redirects, so tests see each answer.
type browser struct {
	e *env
	c *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is an answer: its status, Location and body.
type page struct {
	status   int
	location string
	body     string
}

func (b *browser) do(req *http.Request) page {
	b.e.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return page{status: res.StatusCode, location: res.Header.Get("Location"), body: html.UnescapeString(string(body))}
}

func (b *browser) get(path string) page {
	b.e.t.Helper()
	req, _ := http.NewRequest("GET", b.e.srv.URL+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) page {
	b.e.t.Helper()
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token of the form on p.
func (p page) csrf(t testing.TB) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token on the page (status %d):\n%s", p.status, p.body)
	}
	return m[1]
}

// signIn signs b in as email with the given password and code.
func (b *browser) signIn(email, password, code string) page {
	b.e.t.Helper()
	form := b.get(Prefix + "/signin")
	return b.post(Prefix+"/signin", url.Values{"csrf": {form.csrf(b.e.t)}, "email": {email}, "password": {password}, "code": {code}})
}

// as returns a browser signed in as the operator with role.
func (e *env) as(role wallet.OperatorRole) *browser {
	e.t.Helper()
	b := e.browser()
	email := e.ops[role]
	if p := b.signIn(email, password, e.code(email)); p.status != http.StatusSeeOther || p.location != Prefix+"/" {
		e.t.Fatalf("sign in as %s: %d %s\n%s", role, p.status, p.location, p.body)
	}
	return b
}

// text is message id in English, as the pages show it.
func text(t *testing.T, id string) string {
	t.Helper()
	cat, err := locales.New()
	if err != nil {
		t.Fatal(err)
	}
	return cat.Render("en", id, nil)
}

// statementOf asks for the last statement line of an account.
func statementOf(number string) natsapi.OpsStatementRequest {
	return natsapi.OpsStatementRequest{Number: number, Limit: 1}
}

// sessionCookie returns the session cookie of a browser signed in as role.
func (e *env) sessionCookie(role wallet.OperatorRole) *http.Cookie {
	e.t.Helper()
	b := e.as(role)
	u, _ := url.Parse(e.srv.URL + Prefix + "/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c
		}
	}
	e.t.Fatal("no session cookie")
	return nil
}
