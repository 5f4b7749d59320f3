package twilio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kibubu/kibubu/notify"

	twiliogo "github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"
)

const (
	// DefaultTimeout bounds one call to Twilio's API (the command's
	// --sms-timeout), which answers in well under a second; twilio-go's own
	// default is the same.
	DefaultTimeout = 10 * time.Second
	// twilioDialTimeout and twilioTLSTimeout bound connecting, within the
	// call's timeout, so a dead address fails fast and retries.
	twilioDialTimeout = 5 * time.Second
	twilioTLSTimeout  = 5 * time.Second
	// twilioIdleConnsMax keeps enough connections open for the Sender's
	// concurrency; Go's default of 2 per host would reconnect constantly.
	twilioIdleConnsMax = 32
	twilioIdleTimeout  = 90 * time.Second
	// ListPageSize and twilioListMax bound a reconciliation's look
	// at a phone's messages sent since a claim.
	ListPageSize  = 50
	twilioListMax = 200
	// twilioScanMax bounds the look at a phone's latest messages, which
	// holds those still queued (no date sent). A busy agent's phone can get
	// more than a page of receipts between a claim and its reconciliation
	// (a lease later), so Find pages back to the claim; when even this many
	// do not reach back that far it says so rather than "not there", since
	// sending again could deliver the message twice.
	twilioScanMax = 1000
	// twilioTrialPrefix is what Twilio puts before the body of a message
	// sent from a trial account.
	twilioTrialPrefix = "Sent from your Twilio trial account - "
)

// Config configures the Twilio provider.
type Config struct {
	AccountSID string // AC…; with an API key, the account it belongs to
	AuthToken  string
	// From is the sender (a Twilio number or an alphanumeric sender ID);
	// MessagingServiceSID (MG…) lets Twilio pick one from a pool instead.
	// One of the two is required; From wins when both are set.
	From                string
	MessagingServiceSID string
	// StatusCallback is the public URL Twilio posts delivery reports to;
	// empty for none.
	StatusCallback string
	// APIURL replaces https://api.twilio.com, scheme, host and a path
	// prefix, for a local fake Twilio (twiliotest) or an egress proxy.
	APIURL  string
	Timeout time.Duration // one API call at most (10 s)
}

// Provider sends SMS through Twilio's Messages API with twilio-go.
type Provider struct {
	rest     *twiliogo.RestClient
	from     string
	service  string
	callback string
	timeout  time.Duration
}

var (
	_ notify.Provider = (*Provider)(nil)
	_ notify.Finder   = (*Provider)(nil)
)

// New checks cfg and returns the provider. It fails for credentials
// twilio-go would refuse on every request (they must be letters and
// digits), without a sender, or for a URL that is not absolute.
func New(cfg Config) (*Provider, error) {
	if !twilioCredential(cfg.AccountSID) || !twilioCredential(cfg.AuthToken) {
		return nil, errors.New("notify: twilio account sid and auth token must be letters and digits")
	}
	if cfg.From == "" && cfg.MessagingServiceSID == "" {
		return nil, errors.New("notify: twilio needs a from number or a messaging service sid")
	}
	if cfg.StatusCallback != "" {
		if _, err := absoluteURL(cfg.StatusCallback); err != nil {
			return nil, fmt.Errorf("notify: twilio status callback: %w", err)
		}
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: twilioDialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   twilioTLSTimeout,
		ResponseHeaderTimeout: timeout,
		IdleConnTimeout:       twilioIdleTimeout,
		MaxIdleConnsPerHost:   twilioIdleConnsMax,
		ForceAttemptHTTP2:     true,
	}
	var rt http.RoundTripper = tr
	if cfg.APIURL != "" {
		u, err := absoluteURL(cfg.APIURL)
		if err != nil {
			return nil, fmt.Errorf("notify: twilio api url: %w", err)
		}
		rt = &rewriteHost{base: u, next: tr}
	}
	hc := &http.Client{Transport: rt, Timeout: timeout,
		// As twilio-go's own client: an API answer is never a redirect to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	c := &client.Client{Credentials: client.NewCredentials(cfg.AccountSID, cfg.AuthToken), HTTPClient: hc}
	c.SetAccountSid(cfg.AccountSID)
	return &Provider{rest: twiliogo.NewRestClientWithParams(twiliogo.ClientParams{Client: c}), from: cfg.From,
		service: cfg.MessagingServiceSID, callback: cfg.StatusCallback, timeout: timeout}, nil
}

// Name is ProviderTwilio.
func (t *Provider) Name() string { return notify.ProviderTwilio }

// Timeout is the longest one API call takes; the Sender's lease must exceed it.
func (t *Provider) Timeout() time.Duration { return t.timeout }

// Send creates the message at Twilio. twilio-go takes no context: the call
// is bounded by Timeout, and ctx is only checked before it.
func (t *Provider) Send(ctx context.Context, m notify.Stored) (notify.Accepted, error) {
	if err := ctx.Err(); err != nil {
		return notify.Accepted{}, &notify.SendError{Err: err}
	}
	p := &api.CreateMessageParams{}
	p.SetTo(m.To)
	p.SetBody(m.Text)
	if t.from != "" {
		p.SetFrom(t.from)
	} else {
		p.SetMessagingServiceSid(t.service)
	}
	if t.callback != "" {
		p.SetStatusCallback(t.callback)
	}
	msg, err := t.rest.Api.CreateMessage(p)
	if err != nil {
		return notify.Accepted{}, twilioError(err)
	}
	if msg.Sid == nil || *msg.Sid == "" {
		return notify.Accepted{}, &notify.SendError{MaybeSent: true, Err: errors.New("twilio: an answer without a message sid")}
	}
	status := ""
	if msg.Status != nil {
		status = *msg.Status
	}
	return notify.Accepted{ID: *msg.Sid, Status: notify.ProviderStatus(status)}, nil
}

// Find returns Twilio's outgoing messages to m.To with m's exact text created
// since the given time, newest first. It lists twice: messages sent since
// then (the DateSent filter), and the phone's latest messages back to since,
// which also hold those still queued (Twilio gives them no date_sent yet).
// It fails, rather than find nothing, when the phone got more messages since
// then than it looks through.
func (t *Provider) Find(ctx context.Context, m notify.Stored, since time.Time) ([]notify.Accepted, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sent := &api.ListMessageParams{}
	sent.SetTo(m.To)
	sent.SetDateSentAfter(since.UTC())
	sent.SetPageSize(ListPageSize)
	sent.SetLimit(twilioListMax)
	msgs, err := t.rest.Api.ListMessage(sent)
	if err != nil {
		return nil, fmt.Errorf("twilio list: %w", err)
	}
	latest := &api.ListMessageParams{}
	latest.SetTo(m.To)
	latest.SetPageSize(ListPageSize)
	latest.SetLimit(twilioScanMax)
	more, err := t.rest.Api.ListMessage(latest)
	if err != nil {
		return nil, fmt.Errorf("twilio list: %w", err)
	}
	if len(more) >= twilioScanMax {
		// Newest first: the oldest listed must predate since, or the
		// message may be further back than was looked.
		created, err := time.Parse(time.RFC1123Z, twilioString(more[len(more)-1].DateCreated))
		if err != nil || !created.Before(since) {
			return nil, fmt.Errorf("twilio list: %d messages to the phone since %s, more than are looked through", len(more), since.UTC().Format(time.RFC3339))
		}
	}
	type match struct {
		notify.Accepted
		created time.Time
	}
	var found []match
	seen := map[string]bool{}
	for _, msg := range append(msgs, more...) {
		sid, body, dir := twilioString(msg.Sid), twilioString(msg.Body), twilioString(msg.Direction)
		if sid == "" || seen[sid] || !strings.HasPrefix(dir, "outbound") {
			continue
		}
		if body != m.Text && body != twilioTrialPrefix+m.Text {
			continue
		}
		created, err := time.Parse(time.RFC1123Z, twilioString(msg.DateCreated))
		if err != nil || created.Before(since) {
			continue
		}
		seen[sid] = true
		found = append(found, match{notify.Accepted{ID: sid, Status: twilioString(msg.Status)}, created})
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].created.After(found[j].created) })
	out := make([]notify.Accepted, len(found))
	for i, f := range found {
		out[i] = f.Accepted
	}
	return out, nil
}

// twilioError classifies a twilio-go error. Twilio refuses a bad request
// with a 4xx and a code (21211 invalid number, 21610 the recipient sent
// STOP, 21408 region not enabled): permanent. 429 (too many requests) and
// the 4xx of a misconfiguration the operator will fix (401 credentials,
// 403, 404 account, 408) are retried, as is 503, which Twilio answers before
// taking anything. Any other 5xx, a timeout or a connection lost with the
// request sent may have created the message: retried after a look at
// Twilio. A connection never made sent nothing.
func twilioError(err error) error {
	var re *client.TwilioRestError
	if errors.As(err, &re) {
		se := &notify.SendError{Err: fmt.Errorf("twilio: %d %s", re.Status, re.Message)}
		if re.Code != 0 {
			se.Code = strconv.Itoa(re.Code)
		}
		switch {
		case re.Status == http.StatusTooManyRequests, re.Status == http.StatusUnauthorized,
			re.Status == http.StatusForbidden, re.Status == http.StatusNotFound,
			re.Status == http.StatusRequestTimeout, re.Status == http.StatusServiceUnavailable:
		case re.Status >= 400 && re.Status < 500:
			se.Permanent = true
		default:
			se.MaybeSent = true
		}
		return se
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return &notify.SendError{Err: fmt.Errorf("twilio: %w", err)}
	}
	return &notify.SendError{MaybeSent: true, Err: fmt.Errorf("twilio: %w", err)}
}

// rewriteHost sends Twilio's requests to base instead: its scheme and host,
// and its path in front of Twilio's.
type rewriteHost struct {
	base *url.URL
	next http.RoundTripper
}

// RoundTrip sends a copy of req to base.
func (rw *rewriteHost) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.URL.Scheme = rw.base.Scheme
	r.URL.Host = rw.base.Host
	r.URL.Path = strings.TrimSuffix(rw.base.Path, "/") + req.URL.Path
	if req.URL.RawPath != "" {
		r.URL.RawPath = strings.TrimSuffix(rw.base.EscapedPath(), "/") + req.URL.RawPath
	}
	r.Host = ""
	return rw.next.RoundTrip(r)
}

func absoluteURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute http(s) url", s)
	}
	return u, nil
}

func twilioCredential(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return true
}

func twilioString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
