package notify

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

// The headers of a webhook POST. The body is a merchant.Event as JSON.
const (
	// HeaderEventID is the event's id: the receiver's dedupe key. It is the
	// same on every attempt and every re-send of a delivery, and a
	// transfer's event has one id per merchant.
	HeaderEventID = "Kibubu-Event-Id"
	// HeaderEventType is the event's type (merchant.EventType).
	HeaderEventType = "Kibubu-Event-Type"
	// HeaderDeliveryID is the delivery's id (whd_…), for support: the
	// deliveries listing shows its attempts.
	HeaderDeliveryID = "Kibubu-Delivery-Id"
	// HeaderSignature is "t=<unix seconds>,v1=<hex HMAC-SHA256>" (SignWebhook).
	HeaderSignature = "Kibubu-Signature"
)

const (
	// WebhookTolerance is the age of a signature VerifyWebhook should
	// accept: enough for clocks a little apart and a slow network, short
	// enough that a captured request cannot be replayed much later.
	WebhookTolerance = 5 * time.Minute
	// webhookSecretBytes is the randomness of a signing secret.
	webhookSecretBytes = 32
	// WebhookSecretPrefix starts every signing secret, so that one is
	// recognisable in a configuration (and by secret scanners).
	WebhookSecretPrefix = "whsec_"
	// signatureHeaderBytesMax bounds the header VerifyWebhook parses: a
	// timestamp and a few signatures (one per secret during a rotation).
	signatureHeaderBytesMax = 1024
	// signaturesMax bounds the v1 entries VerifyWebhook tries.
	signaturesMax = 8
	// webhookURLBytesMax bounds a webhook URL.
	webhookURLBytesMax = 2048
)

// The webhook sender's defaults that the command's flags share: how long a
// delivery is retried after its first attempt before it is failed
// (WebhookSenderConfig.RetryFor, --webhook-retry-for), one POST's timeout,
// and how long a finished delivery is kept. One source for the sender, the
// command and the merchant API's document.
const (
	// WebhookRetryForMin is what the merchant API promises: every event is
	// retried for at least a day, so a receiver down for a day still gets
	// everything once it is back. It is the floor of --webhook-retry-for,
	// and what a sender configured with no RetryFor (a test's, an
	// embedder's) retries for: the promise and no more.
	WebhookRetryForMin = 24 * time.Hour
	// DefaultWebhookRetryFor is the command's --webhook-retry-for: three
	// days, so that a receiver that fails on a Friday evening and is
	// mended on Monday morning loses nothing (Stripe retries as long).
	DefaultWebhookRetryFor = 72 * time.Hour
	// DefaultWebhookTimeout bounds one POST, connection to last byte of the
	// answer read: a receiver should answer 2xx at once and work later.
	DefaultWebhookTimeout = 10 * time.Second
	// DefaultWebhookRetention is how long a delivered or failed delivery is
	// kept, with its attempts: long enough for a merchant to look into last
	// month's, and to re-send one.
	DefaultWebhookRetention = 30 * 24 * time.Hour
	// WebhookRetryForMax is the ceiling of --webhook-retry-for: after a
	// month an event is news to nobody, and its delivery row has been kept
	// for the default retention already.
	WebhookRetryForMax = 30 * 24 * time.Hour
)

// SignWebhook returns the Kibubu-Signature header of body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<unix seconds>.<body>")>".
// secret is the endpoint's secret exactly as shown ("whsec_…", the prefix
// included). Signing the time with the body lets a receiver refuse an old
// request replayed (VerifyWebhook's tolerance).
func SignWebhook(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, body))
}

func webhookMAC(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifyWebhook checks a webhook's Kibubu-Signature header against its raw
// body (the bytes as received, before any JSON decoding) and the endpoint's
// secret: one of its v1 signatures must be the HMAC of "<t>.<body>", and t
// within tolerance of now (0 means WebhookTolerance). It returns a
// *wallet.Error: CodeInvalid for a header it cannot read, CodeUnauthenticated
// for a signature that does not match or a timestamp outside the tolerance.
// The comparison takes constant time.
func VerifyWebhook(secret []byte, header string, body []byte, tolerance time.Duration, now time.Time) error {
	if tolerance <= 0 {
		tolerance = WebhookTolerance
	}
	ts, sigs, err := parseSignature(header)
	if err != nil {
		return err
	}
	sec, _ := strconv.ParseInt(ts, 10, 64) // parseSignature checked it
	if age := now.Sub(time.Unix(sec, 0)); age > tolerance || age < -tolerance {
		return wallet.Errorf(wallet.CodeUnauthenticated, "webhook signature timestamp %s is %v away from now, more than %v", ts, age.Round(time.Second), tolerance)
	}
	want := webhookMAC(secret, ts, body)
	ok := false
	for _, s := range sigs {
		ok = hmac.Equal(s, want) || ok
	}
	if !ok {
		return wallet.Errorf(wallet.CodeUnauthenticated, "webhook signature does not match the body and secret")
	}
	return nil
}

// parseSignature reads "t=<digits>,v1=<64 hex>[,v1=…]"; other keys (a
// future scheme) are skipped, so a receiver keeps working while Kibubu adds
// one.
func parseSignature(header string) (ts string, sigs [][]byte, err error) {
	if header == "" {
		return "", nil, wallet.Errorf(wallet.CodeInvalid, "no %s header", HeaderSignature)
	}
	if len(header) > signatureHeaderBytesMax {
		return "", nil, wallet.Errorf(wallet.CodeInvalid, "%s header longer than %d bytes", HeaderSignature, signatureHeaderBytesMax)
	}
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return "", nil, wallet.Errorf(wallet.CodeInvalid, "%s header: %.20q is not key=value", HeaderSignature, part)
		}
		switch k {
		case "t":
			if ts != "" {
				return "", nil, wallet.Errorf(wallet.CodeInvalid, "%s header: two timestamps", HeaderSignature)
			}
			if !digits(v) || len(v) > 12 {
				return "", nil, wallet.Errorf(wallet.CodeInvalid, "%s header: timestamp %.20q is not unix seconds", HeaderSignature, v)
			}
			ts = v
		case "v1":
			s, err := hex.DecodeString(v)
			if err != nil || len(s) != sha256.Size {
				return "", nil, wallet.Errorf(wallet.CodeInvalid, "%s header: v1 is not %d hex digits", HeaderSignature, 2*sha256.Size)
			}
			if len(sigs) == signaturesMax {
				return "", nil, wallet.Errorf(wallet.CodeInvalid, "%s header: more than %d signatures", HeaderSignature, signaturesMax)
			}
			sigs = append(sigs, s)
		}
	}
	switch {
	case ts == "":
		return "", nil, wallet.Errorf(wallet.CodeInvalid, "%s header has no timestamp t=", HeaderSignature)
	case len(sigs) == 0:
		return "", nil, wallet.Errorf(wallet.CodeInvalid, "%s header has no v1 signature", HeaderSignature)
	}
	return ts, sigs, nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// NewWebhookSecret returns a new signing secret: WebhookSecretPrefix and 32
// random bytes in hex.
func NewWebhookSecret() string {
	b := make([]byte, webhookSecretBytes)
	rand.Read(b)
	return WebhookSecretPrefix + hex.EncodeToString(b)
}

// ValidateWebhookURL checks a webhook URL: absolute http or https with a
// host, no credentials and no fragment, at most 2048 bytes; https only with
// RequireHTTPS. Production should require https: the body carries payments
// and the signature proves only who sent it, not that nobody read it.
// Unless AllowPrivate, the host must not be a loopback, private,
// link-local, CGNAT, multicast, unspecified or reserved literal address, a
// localhost name, or a number other than a plain IP address ("0x7f000001");
// a name is checked when the sender connects, on the addresses it resolves
// to. It returns a *wallet.Error with CodeInvalid.
func ValidateWebhookURL(raw string, opts ...WebhookOption) error {
	return validateWebhookURL(raw, webhookOptionsOf(opts))
}

func validateWebhookURL(raw string, o webhookOptions) error {
	requireHTTPS := o.requireHTTPS
	if raw == "" || len(raw) > webhookURLBytesMax {
		return wallet.Errorf(wallet.CodeInvalid, "the webhook url must be 1 to %d bytes", webhookURLBytesMax)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return wallet.Errorf(wallet.CodeInvalid, "the webhook url is not a URL")
	case u.Scheme != "https" && (u.Scheme != "http" || requireHTTPS):
		if requireHTTPS {
			return wallet.Errorf(wallet.CodeInvalid, "the webhook url must be https")
		}
		return wallet.Errorf(wallet.CodeInvalid, "the webhook url must be http or https")
	case u.Host == "" || u.Hostname() == "":
		return wallet.Errorf(wallet.CodeInvalid, "the webhook url has no host")
	case u.User != nil:
		return wallet.Errorf(wallet.CodeInvalid, "the webhook url must not hold credentials")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return wallet.Errorf(wallet.CodeInvalid, "the webhook url must not have a fragment")
	case strings.ContainsAny(raw, " \t\r\n"):
		return wallet.Errorf(wallet.CodeInvalid, "the webhook url must not contain spaces")
	}
	if !o.allowPrivate {
		var rf *Refusal
		if errors.As(RefuseHost(u.Hostname()), &rf) {
			return wallet.Errorf(wallet.CodeInvalid, "the webhook url must reach a public address: %s %s is %s",
				rf.Kind, clipHost(rf.Subject), rf.Why)
		}
	}
	return nil
}

// hostShownMax bounds a host quoted in an error: a URL may hold 2 KB of it.
const hostShownMax = 64

func clipHost(h string) string {
	if len(h) > hostShownMax {
		return Clip(h, hostShownMax) + "…"
	}
	return h
}

// idEncoding is lowercase base32 without padding, as package commerce
// writes its ids.
var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// deliveryIDPrefix starts a delivery's id.
const deliveryIDPrefix = "whd_"

// lastIDNanos is the time of the last delivery id made in this process.
var lastIDNanos atomic.Int64

// NewDeliveryID returns a delivery id: "whd_" and 26 characters encoding the
// time in nanoseconds and 8 random bytes, so that ids made later sort later
// (the listing's order and cursor). Within one process the time is made
// strictly increasing, so that the deliveries of one batch, recorded at one
// now, sort in the order they were made.
func NewDeliveryID(now time.Time) string {
	ns := now.UnixNano()
	for {
		last := lastIDNanos.Load()
		if ns <= last {
			ns = last + 1
		}
		if lastIDNanos.CompareAndSwap(last, ns) {
			break
		}
		ns = now.UnixNano()
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(ns))
	rand.Read(b[8:])
	return deliveryIDPrefix + idEncoding.EncodeToString(b[:])
}

// ValidDeliveryID reports whether id could be one of NewDeliveryID's.
func ValidDeliveryID(id string) bool {
	rest, ok := strings.CutPrefix(id, deliveryIDPrefix)
	if !ok || len(rest) != 26 {
		return false
	}
	_, err := idEncoding.DecodeString(rest)
	return err == nil
}
