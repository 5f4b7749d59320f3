package notify

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// The webhook subjects, served by the notifier's "webhooks" micro service.
// They are outside notify.v1.> on purpose: that is the NOTIFY stream's, and
// a stream answers a request on its subjects with a publish acknowledgement.
// Every request carries the merchant's API key, which the notifier checks
// with the wallet (scope webhooks).
const (
	SubjectWebhookSet        = "notify.webhooks.v1.set"        // WebhookSetRequest → Endpoint (with its secret)
	SubjectWebhookGet        = "notify.webhooks.v1.get"        // WebhookRequest → Endpoint (no secret)
	SubjectWebhookDeliveries = "notify.webhooks.v1.deliveries" // DeliveriesRequest → DeliveriesReply
	SubjectWebhookResend     = "notify.webhooks.v1.resend"     // WebhookRequest (ID) → Delivery
)

// Endpoint is a merchant's webhook URL. Secret, the HMAC-SHA256 key of the
// signatures, is shown only by the set that created or rotated it.
type Endpoint struct {
	Merchant string    `json:"merchant"`
	URL      string    `json:"url"`
	Secret   string    `json:"secret,omitempty"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

// DeliveryStatus is a webhook delivery's state.
type DeliveryStatus string

const (
	DeliveryPending   DeliveryStatus = "pending"   // not yet acknowledged with a 2xx; retried with backoff
	DeliveryDelivered DeliveryStatus = "delivered" // the endpoint answered 2xx
	DeliveryFailed    DeliveryStatus = "failed"    // retries exhausted (after at least 24 h); re-send it by hand
)

// Attempt is one POST of a delivery.
type Attempt struct {
	At       time.Time `json:"at"`
	Status   int       `json:"status,omitempty"` // the HTTP status; 0 when there was no answer
	Error    string    `json:"error,omitempty"`  // why it failed: timeout, connection refused, non-2xx
	Duration float64   `json:"duration_ms"`
}

// Delivery is one event on its way to a merchant's endpoint, with its attempts.
type Delivery struct {
	ID          string             `json:"id"`    // whd_…
	Event       string             `json:"event"` // the event id: the receiver's dedupe key
	Type        merchant.EventType `json:"type"`
	Status      DeliveryStatus     `json:"status"`
	URL         string             `json:"url"`
	Attempts    []Attempt          `json:"attempts"`
	NextAttempt *time.Time         `json:"next_attempt,omitempty"`
	Created     time.Time          `json:"created"`
	Delivered   *time.Time         `json:"delivered,omitempty"`
}

// WebhookRequest names the merchant (by its API key) and, for a re-send, the delivery.
type WebhookRequest struct {
	Auth string `json:"auth"`
	ID   string `json:"id,omitempty"`
}

// WebhookSetRequest registers (or replaces) the merchant's webhook URL;
// Rotate also makes a new secret (a first set always does).
type WebhookSetRequest struct {
	Auth   string `json:"auth"`
	URL    string `json:"url"`
	Rotate bool   `json:"rotate,omitempty"`
}

// DeliveriesRequest lists the merchant's deliveries, newest first, a page at a time.
type DeliveriesRequest struct {
	Auth   string         `json:"auth"`
	Status DeliveryStatus `json:"status,omitempty"`
	Cursor string         `json:"cursor,omitempty"`
	Limit  int            `json:"limit,omitempty"`
}

// DeliveriesReply is one page of deliveries.
type DeliveriesReply struct {
	Deliveries []Delivery `json:"deliveries"`
	Next       string     `json:"next,omitempty"`
}

// WebhookClient calls the notifier's webhook service.
type WebhookClient struct {
	nc      *nats.Conn
	timeout time.Duration
	prefix  string
}

// NewWebhookClient returns a client on nc under the NATS prefix; timeout 0
// means 5 s.
func NewWebhookClient(nc *nats.Conn, timeout time.Duration, prefix string) *WebhookClient {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &WebhookClient{nc: nc, timeout: timeout, prefix: prefix}
}

// SetWebhook registers the merchant's URL.
func (c *WebhookClient) SetWebhook(ctx context.Context, req WebhookSetRequest) (*Endpoint, error) {
	var r Endpoint
	return &r, c.call(ctx, SubjectWebhookSet, req, &r)
}

// Webhook returns the merchant's endpoint (CodeNotFound when none is set).
func (c *WebhookClient) Webhook(ctx context.Context, auth string) (*Endpoint, error) {
	var r Endpoint
	return &r, c.call(ctx, SubjectWebhookGet, WebhookRequest{Auth: auth}, &r)
}

// Deliveries lists the merchant's deliveries with their attempts.
func (c *WebhookClient) Deliveries(ctx context.Context, req DeliveriesRequest) (*DeliveriesReply, error) {
	var r DeliveriesReply
	return &r, c.call(ctx, SubjectWebhookDeliveries, req, &r)
}

// Resend queues a delivery to be sent again now.
func (c *WebhookClient) Resend(ctx context.Context, auth, id string) (*Delivery, error) {
	var r Delivery
	return &r, c.call(ctx, SubjectWebhookResend, WebhookRequest{Auth: auth, ID: id}, &r)
}

// call makes a request; a refusal comes back as a *wallet.Error (the
// notifier uses the wallet's codes), no answer as CodeUnavailable.
func (c *WebhookClient) call(ctx context.Context, subj string, req, reply any) error {
	return natsrpc.Request(ctx, c.nc, "the notifier", subject(c.prefix, subj), c.timeout, req, reply)
}
