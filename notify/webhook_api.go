package notify

import (
	"time"

	"github.com/kibubu/kibubu/wallet/merchant"
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

// DeliveriesDefault and DeliveriesMax bound a page of the deliveries
// listing (DeliveriesRequest.Limit).
const (
	DeliveriesDefault = 20
	DeliveriesMax     = 100
)

// APIKey is the merchant's API key the request carries.
func (q *WebhookRequest) APIKey() string { return q.Auth }

// APIKey is the merchant's API key the request carries.
func (q *WebhookSetRequest) APIKey() string { return q.Auth }

// APIKey is the merchant's API key the request carries.
func (q *DeliveriesRequest) APIKey() string { return q.Auth }
