package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nyaruka/phonenumbers"
	"github.com/twilio/twilio-go/client"

	"github.com/kibubu/kibubu/gateway/aggregator"
	"github.com/kibubu/kibubu/notify"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	"github.com/kibubu/kibubu/sessions"
)

// SMS webhooks (sms.go, sms_twilio.go, sms_africastalking.go).
//
// Each provider's adapter only translates its webhook to a sessions.SMS for
// the engine (keyword commands, their state and their replies belong to
// sessions) or to a notify.Report for the notifier, and the answer back. A
// provider is mounted only when SMSConfig holds its credential, so a
// provider left unconfigured has no route at all (404) rather than an open
// one; MountSMS lists the routes.
//
// Authentication comes first and a request that fails it touches nothing:
// Twilio's requests carry X-Twilio-Signature, an HMAC of the public URL and
// every form field under the account's auth token; Africa's Talking's
// carry the configured shared secret (X-SMS-Secret, or ?secret=). A forged
// request gets 403 with the reason logged (never the secret, signature or
// body).
//
// Retries are safe, so a failure asks for one: the engine answers a
// provider's message id once (a second delivery gets the first reply and
// executes nothing again), and the notifier sends a Message key once. An
// engine or notifier failure therefore answers 503, never a silent 200.
//
// Bodies may carry a PIN ("SEND 0712345678 500 1234"): no adapter logs a
// body, a field value or a query string, and errors name fields, never
// their values.

// SMSEngine answers inbound SMS; *sessions.Engine implements it. SMS returns
// an error wrapping sessions.ErrBadSMS for an unusable message (answered
// 400) and any other error when it could not answer now (answered 503 so
// the provider may retry: the engine dedupes by Provider and ID).
type SMSEngine interface {
	SMS(ctx context.Context, m sessions.SMS) (sessions.SMSReply, error)
}

var _ SMSEngine = (*sessions.Engine)(nil)

// SMSOut hands replies and delivery reports to the notifier;
// *notifyapi.Client implements it. A reply is an Inbound (the message being
// answered, and its phone) and then a Reply to it in the catalogue's words:
// the notifier sends one Reply per Inbound, so a retried webhook sends no
// second reply, and only to the phone that wrote in (notify.Reply).
type SMSOut interface {
	Inbound(ctx context.Context, in notify.Inbound) error
	Reply(ctx context.Context, r notify.Reply) error
	Report(ctx context.Context, r notify.Report) error
}

var _ SMSOut = (*notifyapi.Client)(nil)

// SMSConfig says which SMS providers' webhooks MountSMS mounts and how each
// proves its requests. The zero value mounts none.
type SMSConfig struct {
	// PublicURL is the scheme, host and any path prefix at which Twilio
	// reaches this server, e.g. https://pay.example.com, or
	// https://example.com/kibubu when a proxy strips /kibubu. Twilio signs
	// the URL it was given, which is PublicURL followed by the request's
	// path and query as they arrive. It is configured, never guessed from
	// Host or X-Forwarded-* headers: behind a TLS-terminating proxy the
	// listen address differs, and those headers are the caller's to forge.
	// Required with TwilioAuthToken; a trailing '/' is ignored.
	PublicURL string
	// TwilioAuthToken is the Twilio account's auth token, the key of
	// X-Twilio-Signature. Empty: no /sms/twilio routes.
	TwilioAuthToken string
	// AfricasTalkingSecret is a shared secret Africa's Talking must send in
	// the X-SMS-Secret header or, where only a URL can be configured, in
	// the query parameter "secret" (16 to 256 characters from A-Z a-z 0-9
	// - . _ ~). Africa's Talking signs nothing, so configure an https
	// callback URL, or the secret crosses the network in clear. Empty: no
	// /sms/africastalking route.
	AfricasTalkingSecret string
	// Region is the ISO 3166 region (KE when empty) for a sender written
	// without a country code, used to address a reply sent back through
	// the notifier: use the engine's region.
	Region string
	// Observe, when not nil, learns every webhook's outcome; wire it to
	// (*Metrics).ObserveSMS.
	Observe func(SMSOutcome)
}

// defaultSMSRegion is SMSConfig.Region's default, as sessions.Config's.
const defaultSMSRegion = "KE"

// Validate reports the first problem with c, naming the field but never
// repeating a credential. MountSMS panics on a config that fails it: call
// it when the configuration is read.
func (c SMSConfig) Validate() error {
	if c.TwilioAuthToken != "" {
		if err := checkTwilioToken(c.TwilioAuthToken); err != nil {
			return err
		}
		if c.PublicURL == "" {
			return errors.New("sms: a Twilio auth token needs the public URL Twilio calls (e.g. https://pay.example.com)")
		}
	}
	if c.PublicURL != "" {
		if err := checkPublicURL(c.PublicURL); err != nil {
			return err
		}
	}
	if c.AfricasTalkingSecret != "" {
		if err := checkSecret(c.AfricasTalkingSecret); err != nil {
			return fmt.Errorf("sms: Africa's Talking %w", err)
		}
	}
	if c.Region != "" && !phonenumbers.GetSupportedRegions()[strings.ToUpper(c.Region)] {
		return fmt.Errorf("sms: region %s is not a region with phone numbers (want an ISO 3166 code such as KE)", quoteAddr(c.Region))
	}
	return nil
}

// checkTwilioToken checks the shape of an auth token (Twilio's are 32 hex
// digits) loosely enough for a rotated or future format, but refuses what
// is surely a paste error.
func checkTwilioToken(t string) error {
	if len(t) < secretBytesMin || len(t) > secretBytesMax {
		return fmt.Errorf("sms: Twilio auth token must be %d to %d characters", secretBytesMin, secretBytesMax)
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] > '~' {
			return errors.New("sms: Twilio auth token may only hold printable ASCII without spaces")
		}
	}
	return nil
}

// checkPublicURL accepts an absolute http(s) URL with a host and at most a
// path: a query or fragment would be signed before the request's path.
// Errors quote the URL only once it parsed, with any password redacted.
func checkPublicURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("sms: the public URL does not parse (want e.g. https://pay.example.com)")
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("sms: public URL %s must be an absolute http(s) URL such as https://pay.example.com", quoteAddr(u.Redacted()))
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("sms: public URL %s may hold a scheme, host and path only", quoteAddr(u.Redacted()))
	}
	return nil
}

// The provider names: sessions.SMS.Provider, notify.Report.Provider and the
// metrics' provider label.
const (
	providerTwilio         = "twilio"
	providerAfricasTalking = "africastalking"
)

// SMSOutcome is one SMS webhook's outcome, for metrics.
type SMSOutcome struct {
	Provider string // "twilio" or "africastalking"
	// Webhook is "message" (an inbound SMS) or "status" (a delivery report).
	Webhook string
	// Result is one of reply (answered with a text), silent (answered with
	// none), report (a delivery report passed on), ignored (a delivery
	// report of a status the notifier does not track), bad (400 or 413),
	// forbidden (403) or failed (503: the engine or the notifier failed).
	Result   string
	Duration time.Duration // handling time, engine and notifier included
}

// SMSOutcome.Webhook and Result values.
const (
	smsWebhookMessage = "message"
	smsWebhookStatus  = "status"

	smsResultReply     = "reply"
	smsResultSilent    = "silent"
	smsResultReport    = "report"
	smsResultIgnored   = "ignored"
	smsResultBad       = "bad"
	smsResultForbidden = "forbidden"
	smsResultFailed    = "failed"
)

const (
	// smsBodyBytesMax bounds an SMS webhook body, below the server-wide
	// RequestBodyBytesMax. Twilio's inbound form is the largest: a Body of
	// up to 1,600 characters (under 20 KB percent-encoded even if every one
	// were a 4-byte character) and a few dozen short fields (ids, numbers,
	// geography, up to ten media URLs); Africa's Talking's is smaller.
	smsBodyBytesMax = 32 << 10
	// smsTextBytesMax bounds a message's text: Twilio's 1,600 characters of
	// at most 4 UTF-8 bytes each. Africa's Talking's is shorter.
	smsTextBytesMax = 1600 * 4
	// messageIDBytesMax bounds a provider's message id: Twilio's MessageSid
	// is 34 characters, Africa's Talking's id a 36-character UUID. The
	// engine keys its dedupe by it.
	messageIDBytesMax = 64
	// smsTimeout bounds one engine call. Twilio waits 15 s for the answer
	// (and the server's writeTimeout is 15 s); 10 s leaves time to answer,
	// or for Africa's Talking to hand the reply to the notifier.
	smsTimeout = 10 * time.Second
	// smsOutTimeout bounds handing a Message or Report to the notifier: a
	// JetStream publish acknowledged in milliseconds when healthy. With
	// smsTimeout it stays inside the 15 s writeTimeout.
	smsOutTimeout = 4 * time.Second
	// smsSecretHeader carries Africa's Talking's shared secret; the query
	// parameter smsSecretParam is the alternative for a URL-only setup.
	smsSecretHeader = aggregator.SMSSecretHeader
	smsSecretParam  = "secret"
)

// MountSMS mounts the SMS webhooks of the providers cfg configures, each
// translating its provider's requests to engine.SMS or out.Report and the
// answer back:
//
//	POST /sms/twilio          Twilio inbound SMS (form) → 200 TwiML <Response><Message>…</Message></Response>
//	POST /sms/twilio/status   Twilio status callback → out.Report → 204
//	POST /sms/africastalking  Africa's Talking inbound SMS (form) → reply through out.Send → 200
//
// The Twilio routes exist only when cfg.TwilioAuthToken is set, the
// Africa's Talking route only when cfg.AfricasTalkingSecret is set: an
// unconfigured provider's path is 404, never open. It logs which
// providers it leaves unmounted.
//
// A request that fails authentication gets 403, a malformed one 400 (413
// over smsBodyBytesMax), and neither reaches engine or out. An engine error
// wrapping sessions.ErrBadSMS gets 400. Any other engine error, and a
// failure to hand a reply or report to out, gets 503: the provider may
// retry, and the engine's dedupe by message id and the notifier's by
// Message key make a retry safe. Each engine call is bounded by smsTimeout
// and each out call by smsOutTimeout, under the request's context.
//
// It panics on a nil engine, out or log, or a cfg failing Validate: those
// are wiring mistakes.
func MountSMS(e *echo.Echo, engine SMSEngine, out SMSOut, cfg SMSConfig, log *slog.Logger) {
	if engine == nil || out == nil || log == nil {
		panic("gateway: MountSMS needs an SMS engine, an SMS out and a logger")
	}
	if err := cfg.Validate(); err != nil {
		panic("gateway: MountSMS: " + err.Error())
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	cfg.Region = strings.ToUpper(cfg.Region)
	if cfg.Region == "" {
		cfg.Region = defaultSMSRegion
	}
	h := &smsHandlers{engine: engine, out: out, cfg: cfg, log: log, observe: cfg.Observe}
	if h.observe == nil {
		h.observe = func(SMSOutcome) {}
	}
	if cfg.TwilioAuthToken != "" {
		h.twilio = client.NewRequestValidator(cfg.TwilioAuthToken)
		mountTwilioSMS(e, h)
	} else {
		log.Info("sms provider not mounted: no auth token", "provider", providerTwilio)
	}
	if cfg.AfricasTalkingSecret != "" {
		mountAfricasTalkingSMS(e, h)
	} else {
		log.Info("sms provider not mounted: no shared secret", "provider", providerAfricasTalking)
	}
}

// smsHandlers holds what every SMS adapter needs.
type smsHandlers struct {
	engine  SMSEngine
	out     SMSOut
	cfg     SMSConfig
	twilio  client.RequestValidator
	log     *slog.Logger
	observe func(SMSOutcome)
}

// smsHandler handles one webhook and returns its result word (for
// SMSOutcome) with nil, or an error that says the result by its status.
type smsHandler func(c echo.Context) (result string, err error)

// route adapts fn to echo, observing its outcome.
func (h *smsHandlers) route(provider, webhook string, fn smsHandler) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		result, err := fn(c)
		if err != nil {
			result = errorResult(err)
		}
		h.observe(SMSOutcome{Provider: provider, Webhook: webhook, Result: result, Duration: time.Since(start)})
		return err
	}
}

// errorResult is the result word of an error a handler returned.
func errorResult(err error) string {
	var he *echo.HTTPError
	if errors.As(err, &he) && he.Code < http.StatusInternalServerError {
		if he.Code == http.StatusForbidden {
			return smsResultForbidden
		}
		return smsResultBad
	}
	return smsResultFailed
}

// refuse answers 403 and logs why, with the peer, never the credential or
// the body. Answered here rather than returned, so the refusal is logged
// once, with its reason, and the caller learns nothing more.
func (h *smsHandlers) refuse(c echo.Context, provider, reason string) (string, error) {
	req := c.Request()
	remote := "unknown"
	if peer, ok := peerAddr(req.RemoteAddr); ok {
		remote = peer.String()
	}
	h.log.Warn("sms webhook refused", "provider", provider, "reason", reason, "remote_ip", remote,
		"path", req.URL.Path, "request_id", c.Response().Header().Get(echo.HeaderXRequestID))
	return smsResultForbidden, c.JSON(http.StatusForbidden, map[string]string{"message": http.StatusText(http.StatusForbidden)})
}

// sms runs one engine call bounded by smsTimeout and translates its error:
// ErrBadSMS is 400, anything else 503 (the engine answers every expected
// outcome with a reply, so an error is an outage worth a retry).
func (h *smsHandlers) sms(c echo.Context, m sessions.SMS) (sessions.SMSReply, error) {
	ctx, cancel := context.WithTimeout(c.Request().Context(), smsTimeout)
	defer cancel()
	reply, err := h.engine.SMS(ctx, m)
	if err != nil {
		if errors.Is(err, sessions.ErrBadSMS) {
			return sessions.SMSReply{}, echo.NewHTTPError(http.StatusBadRequest, "bad sms").SetInternal(err)
		}
		return sessions.SMSReply{}, echo.NewHTTPError(http.StatusServiceUnavailable).SetInternal(err)
	}
	return reply, nil
}

// send hands the notifier the inbound message in and the engine's reply
// to it, bounded together by smsOutTimeout; a failure is 503. A reply the
// notifier would refuse (notify.ErrNotReply: an argument such as a
// merchant's name that reads as a link) is logged and not sent: a retry
// would get the same reply, so the message is answered 200 and silent.
func (h *smsHandlers) send(c echo.Context, in notify.Inbound, reply sessions.SMSReply) (string, error) {
	ctx, cancel := context.WithTimeout(c.Request().Context(), smsOutTimeout)
	defer cancel()
	err := h.out.Inbound(ctx, in)
	if err == nil {
		err = h.out.Reply(ctx, notify.Reply{Inbound: in.ID, To: in.Phone, Language: reply.Language, Words: reply.Words})
	}
	if errors.Is(err, notify.ErrNotReply) {
		h.log.Error("sms reply not sent: the notifier refuses its words", "inbound", in.ID, "err", err)
		return smsResultSilent, nil
	}
	if err != nil {
		return "", echo.NewHTTPError(http.StatusServiceUnavailable).SetInternal(fmt.Errorf("sms reply: %w", err))
	}
	return smsResultReply, nil
}

// report hands a Report to the notifier, bounded by smsOutTimeout; a
// failure is 503.
func (h *smsHandlers) report(c echo.Context, r notify.Report) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), smsOutTimeout)
	defer cancel()
	if err := h.out.Report(ctx, r); err != nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable).SetInternal(fmt.Errorf("sms report: %w", err))
	}
	return nil
}

// readSMSBody reads a request body of at most smsBodyBytesMax: 413 when it
// is longer, 400 when it cannot be read.
func readSMSBody(req *http.Request) ([]byte, error) {
	if req.ContentLength > smsBodyBytesMax {
		return nil, echo.ErrStatusRequestEntityTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, smsBodyBytesMax+1))
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) { // the server-wide body limit
			return nil, he
		}
		return nil, echo.NewHTTPError(http.StatusBadRequest, "unreadable body")
	}
	if len(b) > smsBodyBytesMax {
		return nil, echo.ErrStatusRequestEntityTooLarge
	}
	return b, nil
}
