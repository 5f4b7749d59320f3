package simswap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/kibubu/kibubu/wallet"
)

// The API's paths under a network's base URL.
const (
	CheckPath        = "/sim-swap/v2/check"
	RetrieveDatePath = "/sim-swap/v2/retrieve-date"
)

// The outcomes a check is counted under (the metric's outcome label).
const (
	OutcomeSwapped    = "swapped"
	OutcomeNotSwapped = "not_swapped"
	OutcomeCached     = "cached"      // answered from the cache, no call
	OutcomeError      = "error"       // no answer, and the action fails closed
	OutcomeErrorOpen  = "error_open"  // no answer, and the action was allowed (fail open)
	OutcomeNotCovered = "not_covered" // no network serves the number: not checked
)

// ErrNoAnswer wraps every failure to get an answer from a network.
var ErrNoAnswer = errors.New("no SIM-swap answer")

// Checker asks the configured networks; it is a wallet.SIMSwapChecker,
// safe for concurrent use.
type Checker struct {
	cfg      Config
	networks []*network
	cache    *cache
	metrics  *Metrics
	log      *slog.Logger
	now      func() time.Time
}

var _ wallet.SIMSwapChecker = (*Checker)(nil)

// Options are a Checker's collaborators; all are optional.
type Options struct {
	Logger  *slog.Logger
	Metrics *Metrics         // default NewMetrics(); register its collectors
	Now     func() time.Time // default time.Now
	// Transport carries the calls; default a clone of
	// http.DefaultTransport. Tests pass one to reach a fake.
	Transport http.RoundTripper
}

// network is one network's client: its token, refreshed when it expires
// or when the API refuses it.
type network struct {
	Network
	http  *http.Client
	oauth clientcredentials.Config
	// lock guards token, and is held while one is fetched (so concurrent
	// checks fetch one, not one each), taken with the check's context so a
	// slow token endpoint holds no check past its timeout.
	lock  chan struct{}
	token *oauth2.Token
}

// New returns a Checker for cfg, which it validates (Config.Validate).
func New(cfg Config, o Options) (*Checker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("simswap: %w", err)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Transport == nil {
		o.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	c := &Checker{cfg: cfg, metrics: o.Metrics, log: o.Logger, now: o.Now}
	if ttl := time.Duration(cfg.CacheTTL); ttl > 0 {
		c.cache = newCache(cfg.CacheEntries, ttl)
	}
	for _, n := range cfg.Networks {
		// The client's Timeout is a backstop; each check's context carries
		// the real bound (Config.Timeout), the token included.
		hc := &http.Client{Transport: o.Transport, Timeout: time.Duration(cfg.Timeout),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		c.networks = append(c.networks, &network{Network: n, http: hc, lock: make(chan struct{}, 1), oauth: clientcredentials.Config{
			ClientID: n.ClientID, ClientSecret: n.ClientSecret, TokenURL: n.TokenURL, Scopes: n.Scopes,
		}})
	}
	return c, nil
}

// Metrics returns the Checker's metrics.
func (c *Checker) Metrics() *Metrics { return c.metrics }

// network returns the network serving phone: the longest prefix wins.
func (c *Checker) network(phone string) *network {
	var best *network
	bestLen := 0
	for _, n := range c.networks {
		for _, p := range n.Prefixes {
			if len(p) > bestLen && strings.HasPrefix(phone, p) {
				best, bestLen = n, len(p)
			}
		}
	}
	return best
}

// SIMSwapped implements wallet.SIMSwapChecker: with after zero, a CAMARA
// check with maxAge; otherwise a retrieve-date, swapped if the latest
// change is within maxAge and after after.
func (c *Checker) SIMSwapped(ctx context.Context, phone string, after time.Time, action wallet.SIMSwapAction) (bool, error) {
	n := c.network(phone)
	if n == nil {
		c.metrics.outcomes.WithLabelValues("", string(action), OutcomeNotCovered).Inc()
		return false, nil
	}
	swapped, cached, err := c.ask(ctx, n, phone, after)
	outcome := OutcomeNotSwapped
	switch {
	case err != nil && c.cfg.Policy[action] == FailOpen:
		c.metrics.outcomes.WithLabelValues(n.Name, string(action), OutcomeErrorOpen).Inc()
		c.log.Warn("SIM-swap check failed; action allowed (fail open)", "network", n.Name, "action", action, "err", err)
		return false, nil
	case err != nil:
		c.metrics.outcomes.WithLabelValues(n.Name, string(action), OutcomeError).Inc()
		return false, err
	case cached:
		outcome = OutcomeCached
	case swapped:
		outcome = OutcomeSwapped
	}
	c.metrics.outcomes.WithLabelValues(n.Name, string(action), outcome).Inc()
	return swapped, nil
}

// ask answers SIMSwapped's question from the cache or the network, within
// the timeout.
func (c *Checker) ask(ctx context.Context, n *network, phone string, after time.Time) (swapped, cached bool, err error) {
	ageMax := time.Duration(c.cfg.MaxAge)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(c.cfg.Timeout))
	defer cancel()
	if after.IsZero() {
		key := "check " + phone
		if v, ok := c.cache.get(key, c.now()); ok {
			return v.swapped, true, nil
		}
		body, err := json.Marshal(map[string]any{"phoneNumber": phone, "maxAge": int(ageMax / time.Hour)})
		if err != nil {
			panic(err)
		}
		b, err := c.call(ctx, n, CheckPath, body)
		if err == nil {
			swapped, err = ParseCheck(b)
		}
		if err != nil {
			return false, false, fmt.Errorf("%w from %s: %w", ErrNoAnswer, n.Name, err)
		}
		c.cache.put(key, answer{swapped: swapped}, c.now())
		return swapped, false, nil
	}
	key := "date " + phone
	v, cached := c.cache.get(key, c.now())
	if !cached {
		if v.latest, err = c.latest(ctx, n, phone); err != nil {
			return false, false, err
		}
		c.cache.put(key, v, c.now())
	}
	t := v.latest
	return !t.IsZero() && t.After(after) && c.now().Sub(t) < ageMax, cached, nil
}

// latest asks n for phone's latest SIM change.
func (c *Checker) latest(ctx context.Context, n *network, phone string) (time.Time, error) {
	body, err := json.Marshal(map[string]any{"phoneNumber": phone})
	if err != nil {
		panic(err)
	}
	b, err := c.call(ctx, n, RetrieveDatePath, body)
	var t time.Time
	if err == nil {
		t, err = ParseRetrieveDate(b)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("%w from %s: %w", ErrNoAnswer, n.Name, err)
	}
	return t, nil
}

// call POSTs body to n's path with a token and returns the 200 answer's
// body. An answer of 401 (the network no longer takes the token: revoked,
// or expired earlier than it said) fetches a new token and tries once more.
func (c *Checker) call(ctx context.Context, n *network, path string, body []byte) ([]byte, error) {
	start := time.Now() // the real clock, whatever Options.Now is
	defer func() { c.metrics.latency.WithLabelValues(n.Name, path).Observe(time.Since(start).Seconds()) }()
	for try := 0; ; try++ {
		tok, err := n.tokenFor(ctx, try > 0)
		if err != nil {
			c.metrics.calls.WithLabelValues(n.Name, "token", "error").Inc()
			return nil, fmt.Errorf("token: %w", err)
		}
		status, b, err := n.post(ctx, path, tok, body)
		if err != nil {
			c.metrics.calls.WithLabelValues(n.Name, path, "error").Inc()
			return nil, err
		}
		c.metrics.calls.WithLabelValues(n.Name, path, statusClass(status)).Inc()
		switch {
		case status == http.StatusOK:
			return b, nil
		case status == http.StatusUnauthorized && try == 0:
			continue
		default:
			return nil, parseError(status, b)
		}
	}
}

// tokenFor returns n's token, fetching a new one when there is none, it
// has expired, or fresh is set (the API refused it).
func (n *network) tokenFor(ctx context.Context, fresh bool) (*oauth2.Token, error) {
	select {
	case n.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-n.lock }()
	if !fresh && n.token.Valid() {
		return n.token, nil
	}
	t, err := n.oauth.Token(context.WithValue(ctx, oauth2.HTTPClient, n.http))
	if err != nil {
		return nil, err
	}
	n.token = t
	return t, nil
}

// post sends one request and reads at most responseBytesMax of the answer.
func (n *network) post(ctx context.Context, path string, tok *oauth2.Token, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(n.BaseURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	tok.SetAuthHeader(req)
	resp, err := n.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, responseBytesMax+1))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// statusClass is an HTTP status's class for a metric label: 2xx, 4xx…
func statusClass(status int) string {
	return fmt.Sprintf("%dxx", status/100)
}
