package ops

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kibubu/kibubu/gateway/ops/chart"
	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

//go:embed templates static
var files embed.FS

// Wallet is what the back-office asks the wallet; *natsapi.Client is one.
type Wallet interface {
	SignIn(ctx context.Context, email, password, code string) (*natsapi.SignInReply, error)
	SignOut(ctx context.Context, token string) error
	Session(ctx context.Context, token string) (*wallet.OperatorSession, error)
	Search(ctx context.Context, query string, page int) (*wallet.SearchResult, error)
	AccountStatement(ctx context.Context, q natsapi.OpsStatementRequest) (*wallet.AccountView, error)
	TransferDetail(ctx context.Context, ref string) (*wallet.TransferView, error)
	SetStatus(ctx context.Context, numberOrPhone string, st wallet.Status) (*wallet.Account, error)
	ResetPIN(ctx context.Context, phone string) (*wallet.Account, error)
	Propose(ctx context.Context, q natsapi.ProposalRequest) (*wallet.Proposal, error)
	Proposals(ctx context.Context, states []wallet.ProposalState, limit int) ([]wallet.Proposal, error)
	Decide(ctx context.Context, q natsapi.ProposalDecision, approve bool) (*wallet.Proposal, error)
	Reversals(ctx context.Context, states []wallet.ReversalState, limit int) ([]wallet.Reversal, error)
	DecideReversal(ctx context.Context, id int64, approve bool) (*wallet.Reversal, error)
	Note(ctx context.Context, q natsapi.OpsNote) error
	AuditLog(ctx context.Context, q natsapi.AuditRequest) ([]wallet.AuditRecord, error)
	Operators(ctx context.Context) ([]wallet.Operator, error)
	DisableOperator(ctx context.Context, email string) (*wallet.Operator, error)
	Dashboard(ctx context.Context, days int) (*wallet.Dashboard, error)
	AgentsReport(ctx context.Context, q wallet.AgentQuery) (*wallet.AgentPage, error)
	Reconcile(ctx context.Context, q natsapi.ReconcileRequest) (*wallet.Reconciliation, error)
}

var _ Wallet = (*natsapi.Client)(nil)

const (
	// Prefix is where the back-office is mounted.
	Prefix = "/ops"
	// sessionCookie holds the session token; preCookie the sign-in form's
	// CSRF token, before there is a session; langCookie the chosen language.
	sessionCookie = "kibubu_ops"
	preCookie     = "kibubu_ops_pre"
	langCookie    = "kibubu_ops_lang"
	// formBytesMax bounds a form: the largest is a reason and a few fields.
	formBytesMax = 16 << 10
	// uploadBytesMax bounds the one upload, the reconciliation's bank
	// statement: the file the wallet takes and the multipart form around it.
	uploadBytesMax = wallet.BankStatementBytesMax + formBytesMax
	// ReasonBytesMax bounds an operator's reason: what the audit log keeps.
	ReasonBytesMax = wallet.AuditReasonBytesMax
	// statementLinesShown bounds the statement on an account page.
	statementLinesShown = 100
	// auditPageShown is how many audit records a page shows, newest first.
	auditPageShown = 100
	// csp allows nothing but this origin: no script at all, no inline style,
	// no frames, forms posting only here.
	csp = "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

// read is every role that reads accounts and transactions.
var read = []wallet.OperatorRole{wallet.RoleSupport, wallet.RoleMaker, wallet.RoleChecker, wallet.RoleFinance, wallet.RoleAuditor}

// route is one page or action and the roles allowed it.
type route struct {
	method, path string // a http.ServeMux pattern under Prefix
	roles        []wallet.OperatorRole
	handle       handler
}

// handler serves a route for a signed-in operator the route allows.
type handler func(s *Server, w http.ResponseWriter, r *http.Request, v *view)

// routes is the route × role matrix, enforced for every route by
// Server.guard. Sign-in, sign-out, the language and the stylesheet are
// the only routes outside it.
var routes = []route{
	{"GET", "/{$}", wallet.OperatorRoles, (*Server).home},
	{"GET", "/search", read, (*Server).search},
	{"GET", "/account/{number}", read, (*Server).account},
	{"POST", "/account/{number}/freeze", []wallet.OperatorRole{wallet.RoleSupport}, setStatus(wallet.StatusFrozen)},
	{"POST", "/account/{number}/unfreeze", []wallet.OperatorRole{wallet.RoleSupport}, setStatus(wallet.StatusActive)},
	{"POST", "/account/{number}/pin-reset", []wallet.OperatorRole{wallet.RoleSupport}, (*Server).pinReset},
	{"POST", "/account/{number}/tier", []wallet.OperatorRole{wallet.RoleMaker}, (*Server).proposeTier},
	{"GET", "/transfer/{ref}", read, (*Server).transfer},
	{"GET", "/proposals", []wallet.OperatorRole{wallet.RoleMaker, wallet.RoleChecker, wallet.RoleFinance, wallet.RoleAuditor}, (*Server).proposals},
	{"POST", "/proposals", []wallet.OperatorRole{wallet.RoleMaker}, (*Server).propose},
	{"POST", "/proposals/{id}/approve", []wallet.OperatorRole{wallet.RoleChecker}, decide(true)},
	{"POST", "/proposals/{id}/reject", []wallet.OperatorRole{wallet.RoleChecker}, decide(false)},
	{"GET", "/reversals", []wallet.OperatorRole{wallet.RoleSupport, wallet.RoleChecker, wallet.RoleAuditor}, (*Server).reversals},
	{"POST", "/reversals/{id}/approve", []wallet.OperatorRole{wallet.RoleChecker}, decideReversal(true)},
	{"POST", "/reversals/{id}/reject", []wallet.OperatorRole{wallet.RoleChecker}, decideReversal(false)},
	{"GET", "/audit", []wallet.OperatorRole{wallet.RoleAuditor, wallet.RoleAdmin}, (*Server).audit},
	{"GET", "/operators", []wallet.OperatorRole{wallet.RoleAdmin}, (*Server).operators},
	{"GET", "/dashboard", []wallet.OperatorRole{wallet.RoleFinance, wallet.RoleAuditor, wallet.RoleAdmin}, (*Server).dashboard},
	{"POST", "/operators/{email}/disable", []wallet.OperatorRole{wallet.RoleAdmin}, (*Server).disableOperator},
	{"GET", "/agents", []wallet.OperatorRole{wallet.RoleSupport, wallet.RoleFinance, wallet.RoleAuditor}, (*Server).agents},
	{"GET", "/reconcile", []wallet.OperatorRole{wallet.RoleFinance}, (*Server).reconcilePage},
	{"POST", "/reconcile", []wallet.OperatorRole{wallet.RoleFinance}, (*Server).reconcile},
	{"GET", "/merchants", merchantsRead, (*Server).merchantList},
	{"GET", "/merchants/{number}", merchantsRead, (*Server).merchantPage},
	{"GET", "/merchants/{number}/tabs/{id}", merchantsRead, (*Server).tabPage},
	{"POST", "/merchants/{number}/keys", merchantKeys, (*Server).createKey},
	{"POST", "/merchants/{number}/keys/{id}/revoke", merchantKeys, (*Server).revokeKey},
	{"GET", "/sms", read, (*Server).sms},
	{"POST", "/sms/{id}/retry", []wallet.OperatorRole{wallet.RoleSupport}, (*Server).smsRetry},
	{"GET", "/merchants/{number}/webhooks", merchantsRead, (*Server).webhooks},
	{"POST", "/merchants/{number}/webhooks/{delivery}/resend", []wallet.OperatorRole{wallet.RoleSupport}, (*Server).webhookResend},
	// Clearing a SIM-swap hold lets large payments and a PIN reset go
	// again: support's, who verify the holder (see clearSIMSwap).
	{"POST", "/account/{number}/clear-simswap", []wallet.OperatorRole{wallet.RoleSupport}, (*Server).clearSIMSwap},
}

// navigation is the menu: each entry shows to the roles its route allows.
var navigation = []struct{ path, label string }{
	{"/", "ops.nav.home"}, {"/dashboard", "ops.nav.dashboard"}, {"/search", "ops.nav.search"}, {"/proposals", "ops.nav.proposals"},
	{"/reversals", "ops.nav.reversals"}, {"/agents", "ops.nav.agents"}, {"/reconcile", "ops.nav.reconcile"}, {"/audit", "ops.nav.audit"}, {"/operators", "ops.nav.operators"},
	{"/merchants", "ops.nav.merchants"},
	{"/sms", "ops.nav.sms"},
}

// Config configures a Server.
type Config struct {
	Wallet   Wallet
	Catalog  *locales.Catalog
	Currency wallet.Currency
	Log      *slog.Logger
	// Merchants calls the merchant services' endpoints (the merchants
	// pages); nil is Wallet when that is a *natsapi.Client.
	Merchants natsrpc.Caller
	// Notifier answers the SMS and webhook pages and the dashboard's
	// failure rates; without it (or when it does not answer) those say so.
	Notifier Notifier
	// Region reads a phone number written without its country code (the
	// SMS outbox's filter), as the wallet's --region.
	Region string
}

// Server serves the back-office under Prefix.
type Server struct {
	cfg   Config
	log   *slog.Logger
	mux   *http.ServeMux
	pages map[string]*template.Template
	// csrfKey keys the CSRF tokens derived from session tokens: random per
	// process, so a token from one process's page fails on another's
	// (the form is refused and reloaded, nothing more).
	csrfKey []byte
}

// New returns the back-office's handler.
func New(cfg Config) (*Server, error) {
	if cfg.Wallet == nil || cfg.Catalog == nil {
		return nil, errors.New("ops: a wallet and a catalog are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if c, ok := cfg.Wallet.(natsrpc.Caller); ok && cfg.Merchants == nil {
		cfg.Merchants = c
	}
	if cfg.Merchants == nil {
		return nil, errors.New("ops: a caller for the merchant services is required")
	}
	s := &Server{cfg: cfg, log: cfg.Log, mux: http.NewServeMux(), pages: map[string]*template.Template{}, csrfKey: make([]byte, 32)}
	rand.Read(s.csrfKey)
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if name == "templates/layout.html" {
			continue
		}
		t, err := template.New("layout.html").ParseFS(files, "templates/layout.html", name)
		if err != nil {
			return nil, fmt.Errorf("ops: %s: %w", name, err)
		}
		s.pages[strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")] = t
	}
	static, _ := fs.Sub(files, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /static/chart.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		io.WriteString(w, chart.CSS)
	})
	s.mux.HandleFunc("GET /signin", s.signInPage)
	s.mux.HandleFunc("POST /signin", s.signIn)
	s.mux.HandleFunc("POST /signout", s.signOut)
	s.mux.HandleFunc("GET /lang/{code}", s.setLanguage)
	for _, rt := range routes {
		s.mux.Handle(rt.method+" "+rt.path, s.guard(rt))
	}
	return s, nil
}

// ServeHTTP serves a request for Prefix or below.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	limit := int64(formBytesMax)
	if r.URL.Path == Prefix+"/reconcile" {
		limit = uploadBytesMax
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	http.StripPrefix(Prefix, s.mux).ServeHTTP(w, r)
}

// view is what every page's template sees.
type view struct {
	s        *Server
	Lang     string
	Op       *wallet.Operator // nil before sign-in
	CSRF     string
	Path     string
	Error    string // a refusal, in words
	Detail   string // the wallet's own message, beside Error
	Notice   string
	Data     any
	Langs    []string
	status   int
	token    string
	approved bool
}

// T is message id in the page's language.
func (v *view) T(id string) string { return v.s.cfg.Catalog.Render(v.Lang, id, nil) }

// Money formats minor units in the wallet's currency.
func (v *view) Money(minor int64) string { return locales.FormatMoney(v.Lang, v.s.cfg.Currency, minor) }

// Time formats t for a table.
func (v *view) Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// URL is path under Prefix.
func (v *view) URL(path string) string { return Prefix + path }

// Nav is the menu entries the operator's role may open.
func (v *view) Nav() []struct{ Path, Label string } {
	var out []struct{ Path, Label string }
	if v.Op == nil {
		return out
	}
	for _, n := range navigation {
		if allowed(v.Op.Role, "GET", n.path) {
			out = append(out, struct{ Path, Label string }{Prefix + n.path, v.T(n.label)})
		}
	}
	return out
}

// Can reports whether the operator's role may use method on path.
func (v *view) Can(method, path string) bool { return v.Op != nil && allowed(v.Op.Role, method, path) }

// allowed reports whether role may use the route that serves method and path.
func allowed(role wallet.OperatorRole, method, path string) bool {
	for _, rt := range routes {
		if rt.method == method && matches(rt.path, path) {
			return slices.Contains(rt.roles, role)
		}
	}
	return false
}

// matches reports whether path fits pattern ({x} matching one segment).
func matches(pattern, path string) bool {
	pattern = strings.TrimSuffix(pattern, "{$}")
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if !strings.HasPrefix(ps[i], "{") && ps[i] != xs[i] {
			return false
		}
	}
	return true
}

// language is the request's language: the chosen one, else the browser's.
func language(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil && slices.Contains(pageLanguages, c.Value) {
		return c.Value
	}
	return locales.Match(r.Header.Get("Accept-Language"))
}

// pageLanguages are the languages the pages offer.
var pageLanguages = []string{"en", "fr", "sw"}

func (s *Server) newView(r *http.Request) *view {
	return &view{s: s, Lang: language(r), Path: r.URL.Path, Langs: pageLanguages, status: http.StatusOK}
}

// render writes page with v.
func (s *Server) render(w http.ResponseWriter, page string, v *view) {
	t := s.pages[page]
	if t == nil {
		panic("ops: no page " + page)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		s.log.Error("render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(v.status)
	w.Write(b.Bytes())
}

// secure reports whether cookies must be Secure: always, except for plain
// http to a loopback host (a developer's `go run .`), where a browser would
// drop a Secure cookie. Behind a TLS proxy the host is the public name, so
// the cookie is Secure.
func secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, ageMax int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: Prefix, MaxAge: ageMax, Secure: secure(r),
		HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// csrf is the CSRF token of the session token opens: derived, so nothing
// more is stored, and useless without the cookie it is derived from.
func (s *Server) csrf(token string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// guard enforces rt: a session (else the sign-in page), the role (else
// 403), and on a POST the CSRF token (else 403); then it runs rt's handler
// with the wallet's requests naming the operator.
func (s *Server) guard(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := s.newView(r)
		c, err := r.Cookie(sessionCookie)
		if err != nil {
			http.Redirect(w, r, Prefix+"/signin", http.StatusSeeOther)
			return
		}
		sess, err := s.cfg.Wallet.Session(r.Context(), c.Value)
		if wallet.ErrorCode(err) == wallet.CodeUnauthenticated {
			s.setCookie(w, r, sessionCookie, "", -1)
			http.Redirect(w, r, Prefix+"/signin?expired=1", http.StatusSeeOther)
			return
		}
		if err != nil {
			s.fail(w, r, v, err)
			return
		}
		v.Op, v.token, v.CSRF = &sess.Operator, c.Value, s.csrf(c.Value)
		if !slices.Contains(rt.roles, sess.Operator.Role) {
			v.status, v.Error = http.StatusForbidden, v.T("ops.forbidden.role")
			s.render(w, "forbidden", v)
			return
		}
		if r.Method == http.MethodPost && tooLarge(r) {
			v.status, v.Error = http.StatusRequestEntityTooLarge, v.T("ops.error.too_large")
			s.render(w, "error", v)
			return
		}
		if r.Method == http.MethodPost && !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(v.CSRF)) {
			v.status, v.Error = http.StatusForbidden, v.T("ops.forbidden.csrf")
			s.render(w, "forbidden", v)
			return
		}
		ctx := natsapi.WithOperator(r.Context(), natsapi.Operator{Actor: sess.Operator.Email, Reason: strings.TrimSpace(r.PostFormValue("reason"))})
		rt.handle(s, w, r.WithContext(ctx), v)
	})
}

// tooLarge parses r's form (multipart or not) and reports whether its body
// went over the route's bound (ServeHTTP's MaxBytesReader).
func tooLarge(r *http.Request) bool {
	var err error
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		err = r.ParseMultipartForm(uploadBytesMax)
	} else {
		err = r.ParseForm()
	}
	var big *http.MaxBytesError
	return errors.As(err, &big)
}

// fail renders err: a wallet refusal as a page with the reason, anything
// else as an internal error (logged).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, v *view, err error) {
	var we *wallet.Error
	if !errors.As(err, &we) || we.Code == wallet.CodeInternal || we.Code == wallet.CodeUnavailable {
		s.log.Error("ops", "path", r.URL.Path, "err", err)
	}
	v.status = statusOf(wallet.ErrorCode(err))
	if v.status == http.StatusNotFound {
		v.Error = v.T("ops.notfound")
	} else {
		v.Error = v.T("ops.error.wallet")
	}
	v.Detail = errMessage(err)
	s.render(w, "error", v)
}

// statusOf is the HTTP status of a wallet error code.
func statusOf(c wallet.Code) int {
	switch c {
	case wallet.CodeNotFound:
		return http.StatusNotFound
	case wallet.CodeForbidden:
		return http.StatusForbidden
	case wallet.CodeUnavailable, wallet.CodeInternal, "":
		return http.StatusServiceUnavailable
	case wallet.CodeInvalidState, wallet.CodeExists, wallet.CodeConflict:
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

// errMessage is a wallet error's message, without its code.
func errMessage(err error) string {
	var we *wallet.Error
	if errors.As(err, &we) {
		return we.Message
	}
	return "internal error"
}
