package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// Message is an SMS in the wallet's own words that is not a receipt of a
// wallet event: a start key, a PIN notice (NoticeMessage). The wallet hands
// it to the notifier with Client.Send, on SubjectSend, which only the
// wallet's NATS user may publish: its Text is free. A gateway's replies are
// Replies in the catalogue's words instead (reply.go).
type Message struct {
	// Key is unique per message: the notifier records it once, so a second
	// Send with the same key (a retried webhook, a redelivery) sends
	// nothing more. Prefix it with what made it ("reply:<provider>:<id>").
	Key      string `json:"key"`
	To       string `json:"to"`       // E.164
	Language string `json:"language"` // a locales code, recorded with it
	Text     string `json:"text"`
}

// Report is a provider's delivery report of a message the notifier sent.
type Report struct {
	Provider string `json:"provider"` // "twilio"
	ID       string `json:"id"`       // the provider's message id (Twilio's MessageSid)
	// Status is the provider's word: queued, sent, delivered, undelivered
	// or failed for Twilio.
	Status    string    `json:"status"`
	ErrorCode string    `json:"error_code,omitempty"`
	At        time.Time `json:"at"` // when the report arrived
}

// Consent is a person's choice about promotional SMS, from the carriers'
// reserved words STOP and START. Receipts and replies are not promotional
// and go regardless; a promotional sender asks Consents.Promotions first.
type Consent struct {
	Phone      string    `json:"phone"` // E.164
	Promotions bool      `json:"promotions"`
	At         time.Time `json:"at"` // when the person said it: a later choice wins
}

// Stream is the JetStream stream of Messages and Reports for the notifier.
const Stream = "NOTIFY"

// Subjects of the stream; a NATS prefix goes in front.
const (
	SubjectSend    = "notify.v1.send"
	SubjectReport  = "notify.v1.report"
	SubjectConsent = "notify.v1.consent"
)

// streamDedupe is how long JetStream drops a Message published again with
// the same key; the notifier dedupes by key forever after.
const streamDedupe = 10 * time.Minute

// StreamName is the stream's name under a NATS prefix.
func StreamName(prefix string) string { return natsrpc.Name(Stream, prefix) }

func subject(prefix, s string) string { return natsrpc.Subject(prefix, s) }

// EnsureStream creates or updates the notifier's stream of Messages and
// Reports. Work-queue retention: a message is gone once the notifier has
// recorded it and acknowledged.
func EnsureStream(ctx context.Context, js jetstream.JetStream, replicas int, prefix string) (jetstream.Stream, error) {
	if replicas <= 0 {
		replicas = 1
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName(prefix),
		Description: "SMS for the notifier to send, and providers' delivery reports",
		Subjects:    []string{subject(prefix, "notify.v1.>")},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Duplicates:  streamDedupe,
		MaxAge:      7 * 24 * time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("notify stream: %w", err)
	}
	return st, nil
}

// Client hands Messages and Reports to the notifier through its stream. It
// needs no database: gateways use it. JetStream's acknowledgement means the
// stream holds it; the notifier records it when it next runs.
type Client struct {
	js     jetstream.JetStream
	prefix string
}

// NewClient returns a Client publishing on js under the NATS prefix.
func NewClient(js jetstream.JetStream, prefix string) *Client {
	return &Client{js: js, prefix: prefix}
}

// Send hands m to the notifier: for the wallet (a gateway's NATS user may
// not publish it; see Reply). It fails for a message without a key, a
// phone or a text.
func (c *Client) Send(ctx context.Context, m Message) error {
	if m.Key == "" || m.To == "" || m.Text == "" {
		return errors.New("notify: a message needs a key, a phone and a text")
	}
	return c.publish(ctx, SubjectSend, m.Key, m)
}

// Report hands a delivery report to the notifier.
func (c *Client) Report(ctx context.Context, r Report) error {
	if r.Provider == "" || r.ID == "" || r.Status == "" {
		return errors.New("notify: a report needs a provider, an id and a status")
	}
	if r.At.IsZero() {
		r.At = time.Now()
	}
	return c.publish(ctx, SubjectReport, r.Provider+":"+r.ID+":"+r.Status, r)
}

// Consent hands a person's STOP or START to the notifier.
func (c *Client) Consent(ctx context.Context, phone string, promotions bool) error {
	if phone == "" {
		return errors.New("notify: a consent needs a phone")
	}
	at := time.Now().UTC()
	return c.publish(ctx, SubjectConsent, phone+":"+at.Format(time.RFC3339Nano), Consent{Phone: phone, Promotions: promotions, At: at})
}

func (c *Client) publish(ctx context.Context, subj, id string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: subject(c.prefix, subj), Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, id)
	if _, err := c.js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}
