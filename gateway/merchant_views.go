package gateway

import (
	"time"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// The merchant API's answers. The wallet's objects are answered as their
// views in package commerce (merchant.PaymentRequestView, TransactionView,
// PayoutView, BulkPayoutView, TabView, ChargeView), the very JSON of the
// webhook events' data (notify), so that a merchant parses one shape; what
// only the API answers is here: pages, the webhook endpoint, deliveries,
// API keys. A field without omitempty is always present; the doc tags
// describe them in the OpenAPI document.

// transactionsPage is a page of transactions.
type transactionsPage struct {
	Transactions []merchant.TransactionView `json:"transactions"`
	Next         string                     `json:"next,omitempty" doc:"the next page's cursor; absent on the last page"`
}

// tabChargesPage is a page of a tab's charges.
type tabChargesPage struct {
	Charges []merchant.ChargeView `json:"charges" doc:"newest first"`
	Next    string                `json:"next,omitempty" doc:"the next page's cursor; absent on the last page"`
}

// webhookView is the merchant's webhook endpoint.
type webhookView struct {
	URL     string    `json:"url"`
	Secret  string    `json:"secret,omitempty" doc:"the HMAC-SHA256 key of the signatures: only in the answer that made it"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

func webhookViewOf(ep *notify.Endpoint) webhookView {
	return webhookView{URL: ep.URL, Secret: ep.Secret, Created: ep.Created.UTC(), Updated: ep.Updated.UTC()}
}

// deliveryView is a webhook delivery with its attempts.
type deliveryView struct {
	ID          string        `json:"id" example:"whd_0f1k3c9r2d5b8a7e6h4j3k2m1n"`
	Event       string        `json:"event" doc:"the event's id: the receiver's dedupe key"`
	Type        string        `json:"type" doc:"the event's type" example:"payment_request.paid"`
	Status      string        `json:"status" enum:"pending,delivered,failed"`
	URL         string        `json:"url"`
	Attempts    []attemptView `json:"attempts"`
	NextAttempt *time.Time    `json:"next_attempt,omitempty"`
	Created     time.Time     `json:"created"`
	Delivered   *time.Time    `json:"delivered,omitempty"`
}

// attemptView is one POST of a delivery.
type attemptView struct {
	At         time.Time `json:"at"`
	Status     int       `json:"status,omitempty" doc:"the endpoint's HTTP status; absent when it did not answer"`
	Error      string    `json:"error,omitempty" doc:"why it failed"`
	DurationMS float64   `json:"duration_ms"`
}

func deliveryViewOf(d *notify.Delivery) deliveryView {
	v := deliveryView{
		ID: d.ID, Event: d.Event, Type: string(d.Type), Status: string(d.Status), URL: d.URL,
		Attempts: make([]attemptView, 0, len(d.Attempts)), NextAttempt: utcPtr(d.NextAttempt), Created: d.Created.UTC(),
		Delivered: utcPtr(d.Delivered),
	}
	for _, a := range d.Attempts {
		v.Attempts = append(v.Attempts, attemptView{At: a.At.UTC(), Status: a.Status, Error: a.Error, DurationMS: a.Duration})
	}
	return v
}

// deliveriesPage is a page of deliveries.
type deliveriesPage struct {
	Deliveries []deliveryView `json:"deliveries"`
	Next       string         `json:"next,omitempty" doc:"the next page's cursor; absent on the last page"`
}

// apiKeyView is an API key.
type apiKeyView struct {
	ID       string     `json:"id" example:"kbk_0f1k3c9r2d5b8a7e6h4j3k2m1n"`
	Merchant string     `json:"merchant,omitempty"`
	Operator bool       `json:"operator,omitempty"`
	Scopes   []string   `json:"scopes"`
	Created  time.Time  `json:"created"`
	Revoked  *time.Time `json:"revoked,omitempty"`
	Expires  *time.Time `json:"expires,omitempty" doc:"when the key stops working; absent: never"`
	Secret   string     `json:"secret,omitempty" doc:"the whole bearer token: only in the answer that created it"`
}

func apiKeyViewOf(k *merchant.APIKey) apiKeyView {
	v := apiKeyView{ID: k.ID, Merchant: k.Merchant, Operator: k.Operator, Scopes: make([]string, 0, len(k.Scopes)),
		Created: k.Created.UTC(), Revoked: utcPtr(k.Revoked), Expires: utcPtr(k.Expires), Secret: k.Secret}
	for _, s := range k.Scopes {
		v.Scopes = append(v.Scopes, string(s))
	}
	return v
}

// apiKeysView is a list of API keys.
type apiKeysView struct {
	Keys []apiKeyView `json:"keys"`
}

// utcPtr returns *t in UTC, or nil.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
