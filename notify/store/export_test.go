package store

import (
	"context"
	"time"
)

// What the webhook service's tests (package store_test, beside this one:
// they need notify/natsapi, which imports this package) use of the
// store's internals: a test database, recorded deliveries, and a delivery
// delivered by hand, as a WebhookSender would.
var (
	SMSDB     = smsDB
	SMSStore  = smsStore
	HookEvent = hookEvent
)

// ClaimedDelivery is a delivery claimed as a WebhookSender claims it.
type ClaimedDelivery = claimedDelivery

// ClaimWebhooks is claimWebhooks.
func (s *Store) ClaimWebhooks(ctx context.Context, n int, lease time.Duration, through uint64) ([]ClaimedDelivery, error) {
	return s.claimWebhooks(ctx, n, lease, through)
}

// Endpoint is the claimed delivery's endpoint's URL and secret.
func (d *ClaimedDelivery) Endpoint() (url, secret string) { return d.endpoint.URL, d.endpoint.Secret }

// DeliverByHand records d delivered by one POST answered status after took.
func (s *Store) DeliverByHand(ctx context.Context, d *ClaimedDelivery, status int, took time.Duration) error {
	_, err := s.applyWebhook(ctx, webhookOutcome{row: d, status: hookDelivered, result: WebhookDelivered,
		attempt: &webhookAttempt{DeliveryID: d.ID, At: time.Now().UTC(), Status: status, DurationUS: took.Microseconds()}})
	return err
}
