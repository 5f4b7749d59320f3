package natsapi

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kibubu/kibubu/notify"
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
func (c *WebhookClient) SetWebhook(ctx context.Context, req notify.WebhookSetRequest) (*notify.Endpoint, error) {
	var r notify.Endpoint
	return &r, c.call(ctx, SubjectWebhookSet, req, &r)
}

// Webhook returns the merchant's endpoint (CodeNotFound when none is set).
func (c *WebhookClient) Webhook(ctx context.Context, auth string) (*notify.Endpoint, error) {
	var r notify.Endpoint
	return &r, c.call(ctx, SubjectWebhookGet, notify.WebhookRequest{Auth: auth}, &r)
}

// Deliveries lists the merchant's deliveries with their attempts.
func (c *WebhookClient) Deliveries(ctx context.Context, req notify.DeliveriesRequest) (*notify.DeliveriesReply, error) {
	var r notify.DeliveriesReply
	return &r, c.call(ctx, SubjectWebhookDeliveries, req, &r)
}

// Resend queues a delivery to be sent again now.
func (c *WebhookClient) Resend(ctx context.Context, auth, id string) (*notify.Delivery, error) {
	var r notify.Delivery
	return &r, c.call(ctx, SubjectWebhookResend, notify.WebhookRequest{Auth: auth, ID: id}, &r)
}

// call makes a request; a refusal comes back as a *wallet.Error (the
// notifier uses the wallet's codes), no answer as CodeUnavailable.
func (c *WebhookClient) call(ctx context.Context, subj string, req, reply any) error {
	return natsrpc.Request(ctx, c.nc, "the notifier", subject(c.prefix, subj), c.timeout, req, reply)
}
