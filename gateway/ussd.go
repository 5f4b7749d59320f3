package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/kibubu/kibubu/gateway/aggregator"
	"github.com/kibubu/kibubu/sessions"
)

// USSD is the session engine the adapters drive (sessions.Engine implements it).
type USSD interface {
	Hop(ctx context.Context, h sessions.Hop) (sessions.Screen, error)
	End(ctx context.Context, e sessions.End)
}

var _ USSD = (*sessions.Engine)(nil)

// The aggregator names: the keys of MountUSSD's auth map and of
// ParseUSSDAuth's spec, and sessions.Hop.Aggregator.
const (
	aggregatorAfricasTalking = "africastalking"
	aggregatorHubtel         = "hubtel"
	aggregatorNalo           = "nalo"
)

// aggregators lists every adapter, for validation and error messages.
var aggregators = []string{aggregatorAfricasTalking, aggregatorHubtel, aggregatorNalo}

// Aggregators returns the names of the USSD aggregators MountUSSD mounts,
// as ParseUSSDAuth takes them.
func Aggregators() []string { return slices.Clone(aggregators) }

const (
	// ussdBodyBytesMax bounds a USSD callback body, below the server-wide
	// RequestBodyBytesMax. The largest legitimate one is Africa's Talking's:
	// its text (and the end callback's input) repeats every input of the
	// session, and a session lasts at most 180 s, so about 20 inputs of at
	// most 182 characters, under 4 KB even with '*' percent-encoded. Hubtel
	// and Nalo bodies are a few hundred bytes. Twice the worst case still
	// keeps a flood of junk cheap to refuse.
	ussdBodyBytesMax = 8 << 10
	// hopTimeout bounds one engine call. Aggregators give up after about
	// 10 s (Africa's Talking: answer within 15 s, connect within 10 s), so a
	// later answer is never shown; stopping then also keeps the handler
	// inside the server's writeTimeout.
	hopTimeout = 10 * time.Second
	// endTimeout bounds recording an end-of-session notice: bookkeeping that
	// must not hold an aggregator's connection.
	endTimeout = 5 * time.Second
	// sessionIDBytesMax bounds a session id. Africa's Talking's are about
	// 40 characters, Hubtel's 32 hex digits, Nalo's about 17 digits; the
	// engine refuses longer ones too, as the id is part of its keys.
	sessionIDBytesMax = 64
	// phoneBytesMax bounds a phone number as sent: E.164 is at most 15
	// digits; the rest is room for a '+' and stray formatting.
	phoneBytesMax = 32
	// serviceCodeBytesMax bounds a dialled code (*384*1234#) or a Hubtel
	// service id (32 hex digits).
	serviceCodeBytesMax = 64
	// languageBytesMax bounds the Accept-Language hint; a longer header is
	// dropped, not refused, since it is only a hint.
	languageBytesMax = 128
	// ussdSecretHeader carries an aggregator's shared secret; the query
	// parameter ussdSecretParam is the alternative for aggregators that
	// only let you configure a URL.
	ussdSecretHeader = aggregator.USSDSecretHeader
	ussdSecretParam  = "secret"
)

// USSDAuth is how one aggregator's requests prove where they come from.
// The zero value accepts every request (for simulators); set at least one
// field in production.
type USSDAuth struct {
	// Secret, when not empty, must arrive in the X-USSD-Secret header or,
	// when that header is absent, in the query parameter "secret".
	Secret string
	// AllowIPs, when not empty, lists the networks the aggregator calls
	// from. The peer is the TCP peer (the request's RemoteAddr), never
	// X-Forwarded-For, so the list only works when the aggregator reaches
	// this process directly or through a proxy that keeps the source address.
	AllowIPs []netip.Prefix
}

// MountUSSD mounts one adapter per aggregator, each translating its
// aggregator's requests to u.Hop and u.End and the Screen back:
//
//	POST /ussd/africastalking         Africa's Talking hop (form) → "CON …" / "END …"
//	POST /ussd/africastalking/events  Africa's Talking end-of-session callback → 200
//	POST /ussd/hubtel                 Hubtel Programmable Services (JSON)
//	POST /ussd/nalo                   Nalo (JSON)
//
// auth maps an aggregator name ("africastalking", "hubtel", "nalo") to its
// authentication. An empty auth accepts every request for every aggregator
// (development, simulators; warning about it is the caller's choice). A
// non-empty auth is a complete list: an aggregator absent from it is
// disabled, its routes answering 403 with a logged warning, so configuring
// one aggregator never leaves another open by omission.
//
// A request that fails authentication gets 403, a malformed one 400 (413
// when its body is over ussdBodyBytesMax), and neither reaches the engine.
// A Hop error wrapping sessions.ErrBadHop gets 400, any other Hop error 500.
// Each engine call is bounded by hopTimeout (End by endTimeout) under the
// request's context. No adapter logs a body or an input.
//
// It panics on an unknown aggregator name or an invalid prefix in auth, or
// a nil u or log: those are wiring mistakes.
func MountUSSD(e *echo.Echo, u USSD, auth map[string]USSDAuth, log *slog.Logger) {
	if u == nil || log == nil {
		panic("gateway: MountUSSD needs a USSD engine and a logger")
	}
	for name, a := range auth {
		if !isAggregator(name) {
			panic(fmt.Sprintf("gateway: MountUSSD: unknown aggregator %q (want one of %s)", name, strings.Join(aggregators, ", ")))
		}
		for _, p := range a.AllowIPs {
			if !p.IsValid() {
				panic(fmt.Sprintf("gateway: MountUSSD: %s has an invalid allowed prefix", name))
			}
		}
	}
	guard := func(name string) echo.MiddlewareFunc {
		a, ok := auth[name]
		switch {
		case len(auth) == 0:
			ok = true
		case !ok:
			log.Info("ussd aggregator disabled: no auth entry", "aggregator", name)
		case a.Secret == "" && len(a.AllowIPs) == 0:
			log.Warn("ussd aggregator accepts unauthenticated requests", "aggregator", name)
		}
		return ussdGuard(name, a, ok, log)
	}
	h := ussdHandlers{u: u}
	mountAfricasTalking(e, h, guard(aggregatorAfricasTalking))
	mountHubtel(e, h, guard(aggregatorHubtel))
	mountNalo(e, h, guard(aggregatorNalo))
}

func isAggregator(name string) bool {
	for _, a := range aggregators {
		if a == name {
			return true
		}
	}
	return false
}

// ussdGuard refuses, with 403, requests for a disabled aggregator or that
// fail its auth. The reason goes to log (never the secret), not to the caller.
func ussdGuard(name string, a USSDAuth, enabled bool, log *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			peer, peerOK := peerAddr(req.RemoteAddr)
			reason := ""
			switch {
			case !enabled:
				reason = "aggregator not enabled"
			case len(a.AllowIPs) > 0 && (!peerOK || !allowed(a.AllowIPs, peer)):
				reason = "peer not in allow-list"
			case a.Secret != "":
				got := req.Header.Get(ussdSecretHeader)
				if got == "" {
					got = c.QueryParam(ussdSecretParam)
				}
				switch {
				case got == "":
					reason = "secret missing"
				case !secretEqual(got, a.Secret):
					reason = "secret wrong"
				}
			}
			if reason == "" {
				return next(c)
			}
			remote := "unknown"
			if peerOK {
				remote = peer.String()
			}
			log.Warn("ussd request refused", "aggregator", name, "reason", reason, "remote_ip", remote,
				"path", req.URL.Path, "request_id", c.Response().Header().Get(echo.HeaderXRequestID))
			// Answered here rather than returned, so the refusal is logged
			// once, with its reason, and the caller learns nothing more.
			return c.JSON(http.StatusForbidden, map[string]string{"message": http.StatusText(http.StatusForbidden)})
		}
	}
}

// peerAddr parses a RemoteAddr ("ip:port", or a bare IP from some test
// harnesses), with IPv4-mapped IPv6 unmapped so it matches IPv4 prefixes.
func peerAddr(remote string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(remote); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}

func allowed(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// secretEqual compares in constant time; hashing first hides the length too.
func secretEqual(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// ussdHandlers holds what every adapter needs: the engine.
type ussdHandlers struct {
	u USSD
}

// hop runs one engine call bounded by hopTimeout and translates its error
// for HTTP: ErrBadHop is 400, anything else 500 (the engine answers every
// expected outcome, outages included, with a Screen).
func (h ussdHandlers) hop(c echo.Context, hop sessions.Hop) (sessions.Screen, error) {
	ctx, cancel := context.WithTimeout(c.Request().Context(), hopTimeout)
	defer cancel()
	screen, err := h.u.Hop(ctx, hop)
	if err != nil {
		if errors.Is(err, sessions.ErrBadHop) {
			return sessions.Screen{}, echo.NewHTTPError(http.StatusBadRequest, "bad hop").SetInternal(err)
		}
		return sessions.Screen{}, echo.NewHTTPError(http.StatusInternalServerError).SetInternal(err)
	}
	return screen, nil
}

// end records an end-of-session notice, bounded by endTimeout.
func (h ussdHandlers) end(c echo.Context, e sessions.End) {
	ctx, cancel := context.WithTimeout(c.Request().Context(), endTimeout)
	defer cancel()
	h.u.End(ctx, e)
}

// readUSSDBody reads a request body of at most ussdBodyBytesMax: 413 when
// it is longer, 400 when it cannot be read.
func readUSSDBody(req *http.Request) ([]byte, error) {
	if req.ContentLength > ussdBodyBytesMax {
		return nil, echo.ErrStatusRequestEntityTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, ussdBodyBytesMax+1))
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) { // the server-wide body limit
			return nil, he
		}
		return nil, echo.NewHTTPError(http.StatusBadRequest, "unreadable body")
	}
	if len(b) > ussdBodyBytesMax {
		return nil, echo.ErrStatusRequestEntityTooLarge
	}
	return b, nil
}

// badRequest answers a decoding error with 400. Decoding errors name
// fields, never their values, so the message is safe to send and log.
func badRequest(err error) error {
	return echo.NewHTTPError(http.StatusBadRequest, err.Error())
}

// checkMediaType reports whether contentType is want, parameters aside.
func checkMediaType(contentType, want string) error {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != want {
		return fmt.Errorf("content type must be %s", want)
	}
	return nil
}

// checkField validates a required identifying field: present, at most max
// bytes, and printable ASCII without spaces, as ids and phone numbers are.
func checkField(name, v string, max int) error {
	if v == "" {
		return fmt.Errorf("missing %s", name)
	}
	if len(v) > max {
		return fmt.Errorf("%s longer than %d bytes", name, max)
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] > '~' {
			return fmt.Errorf("malformed %s", name)
		}
	}
	return nil
}

// checkText validates a free-text field (an input, a service code): valid
// UTF-8 and at most max bytes (0: bounded by the body only).
func checkText(name, v string, max int) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s is not UTF-8", name)
	}
	if max > 0 && len(v) > max {
		return fmt.Errorf("%s longer than %d bytes", name, max)
	}
	return nil
}

// languageHint returns an Accept-Language value fit to pass on as a hint,
// or "" when it is too long or not UTF-8.
func languageHint(v string) string {
	v = strings.TrimSpace(v)
	if len(v) > languageBytesMax || !utf8.ValidString(v) {
		return ""
	}
	return v
}

const (
	// authSpecBytesMax bounds ParseUSSDAuth's input: a flag value for three
	// aggregators; anything longer is a mistake.
	authSpecBytesMax = 4 << 10
	// allowPrefixesMax bounds one aggregator's allow-list: aggregators
	// publish a handful of networks.
	allowPrefixesMax = 64
	// secretBytesMin and secretBytesMax bound a shared secret: 16 random
	// characters are beyond guessing at any request rate; 256 is far beyond
	// any generator's output.
	secretBytesMin = 16
	secretBytesMax = 256
)

// ParseUSSDAuth parses a flag value describing each aggregator's USSDAuth:
//
//	spec   = entry *( ";" entry )
//	entry  = name [ ":" option *( "," option ) ]
//	name   = "africastalking" | "hubtel" | "nalo"
//	option = "secret=" secret | "allow=" addr *( "+" addr )
//	addr   = an IP prefix in CIDR form (196.201.214.0/24, 2001:db8::/32)
//	         or one IP address (10.0.0.1, meaning /32 or /128)
//	secret = 16 to 256 characters from A-Z a-z 0-9 - . _ ~
//
// for example
//
//	africastalking:secret=Zx81…,allow=196.201.214.0/24+10.0.0.1;hubtel:allow=52.50.116.54;nalo
//
// Spaces around names, options and addresses are ignored. An entry with no
// options ("nalo") enables the aggregator without authentication. Once any
// aggregator is named, one not named is disabled; an empty spec gives an
// empty map, which leaves every aggregator open (see MountUSSD). Each aggregator, and each option within an entry, may appear
// once; a prefix must have no host bits set. Errors name the entry and the
// option but never repeat a secret.
func ParseUSSDAuth(spec string) (map[string]USSDAuth, error) {
	if len(spec) > authSpecBytesMax {
		return nil, fmt.Errorf("ussd auth: spec longer than %d bytes", authSpecBytesMax)
	}
	out := map[string]USSDAuth{}
	if strings.TrimSpace(spec) == "" {
		return out, nil
	}
	for i, entry := range strings.Split(spec, ";") {
		name, opts, hasOpts := strings.Cut(entry, ":")
		name = strings.TrimSpace(name)
		if !isAggregator(name) {
			if isLowerWord(name) {
				return nil, fmt.Errorf("ussd auth: entry %d: unknown aggregator %q (want one of %s)", i+1, name, strings.Join(aggregators, ", "))
			}
			return nil, fmt.Errorf("ussd auth: entry %d: missing or malformed aggregator name (want one of %s, then ':')", i+1, strings.Join(aggregators, ", "))
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("ussd auth: %s given twice", name)
		}
		var a USSDAuth
		if hasOpts && strings.TrimSpace(opts) != "" {
			var err error
			if a, err = parseAuthOptions(opts); err != nil {
				return nil, fmt.Errorf("ussd auth: %s: %w", name, err)
			}
		}
		out[name] = a
	}
	return out, nil
}

// parseAuthOptions parses "secret=…,allow=…" for one aggregator.
func parseAuthOptions(opts string) (USSDAuth, error) {
	var a USSDAuth
	seen := map[string]bool{}
	for i, opt := range strings.Split(opts, ",") {
		key, value, ok := strings.Cut(opt, "=")
		key = strings.TrimSpace(key)
		if !ok {
			// Not echoed: it may be a secret without its "secret=".
			return USSDAuth{}, fmt.Errorf("option %d has no '=' (want secret=… or allow=…)", i+1)
		}
		if seen[key] {
			return USSDAuth{}, fmt.Errorf("%s given twice (join addresses with '+')", key)
		}
		seen[key] = true
		value = strings.TrimSpace(value)
		switch key {
		case "secret":
			if err := checkSecret(value); err != nil {
				return USSDAuth{}, err
			}
			a.Secret = value
		case "allow":
			prefixes, err := parseAllow(value)
			if err != nil {
				return USSDAuth{}, err
			}
			a.AllowIPs = prefixes
		default:
			if isLowerWord(key) {
				return USSDAuth{}, fmt.Errorf("unknown option %q (want secret or allow)", key)
			}
			return USSDAuth{}, fmt.Errorf("option %d: unknown option (want secret or allow)", i+1)
		}
	}
	return a, nil
}

func checkSecret(s string) error {
	if len(s) < secretBytesMin || len(s) > secretBytesMax {
		return fmt.Errorf("secret must be %d to %d characters", secretBytesMin, secretBytesMax)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			// URL-safe, so it goes in a query string as it is.
			return errors.New("secret may only hold A-Z a-z 0-9 - . _ ~")
		}
	}
	return nil
}

func parseAllow(v string) ([]netip.Prefix, error) {
	if v == "" {
		return nil, errors.New("allow needs at least one address")
	}
	items := strings.Split(v, "+")
	if len(items) > allowPrefixesMax {
		return nil, fmt.Errorf("allow lists more than %d addresses", allowPrefixesMax)
	}
	prefixes := make([]netip.Prefix, 0, len(items))
	for _, item := range items {
		item = strings.TrimSpace(item)
		p, err := parseAllowItem(item)
		if err != nil {
			return nil, err
		}
		prefixes = append(prefixes, p)
	}
	return prefixes, nil
}

func parseAllowItem(item string) (netip.Prefix, error) {
	// Quoted through quoteAddr: an address is not secret, but a bounded
	// quote keeps a pasted blob out of the message.
	if strings.Contains(item, "/") {
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("allow: %s is not an IP prefix (want e.g. 196.201.214.0/24)", quoteAddr(item))
		}
		if p.Addr().Is4In6() {
			return netip.Prefix{}, fmt.Errorf("allow: %s: write IPv4-mapped prefixes in IPv4 form", quoteAddr(item))
		}
		if p != p.Masked() {
			return netip.Prefix{}, fmt.Errorf("allow: %s has host bits set (did you mean %s?)", quoteAddr(item), p.Masked())
		}
		return p, nil
	}
	a, err := netip.ParseAddr(item)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("allow: %s is not an IP address or prefix", quoteAddr(item))
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// quoteAddr quotes at most the first 64 bytes of s.
func quoteAddr(s string) string {
	const quotedMax = 64
	if len(s) > quotedMax {
		return fmt.Sprintf("%q…", s[:quotedMax])
	}
	return fmt.Sprintf("%q", s)
}

// isLowerWord reports whether s is a run of lower-case letters shorter
// than any secret: the shape of a name or option key, and never a valid
// secret, so safe to repeat in an error.
func isLowerWord(s string) bool {
	if s == "" || len(s) >= secretBytesMin {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}
