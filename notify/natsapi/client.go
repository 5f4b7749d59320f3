package natsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

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
func (c *Client) Send(ctx context.Context, m notify.Message) error {
	if m.Key == "" || m.To == "" || m.Text == "" {
		return errors.New("notify: a message needs a key, a phone and a text")
	}
	return c.publish(ctx, SubjectSend, m.Key, m)
}

// Report hands a delivery report to the notifier.
func (c *Client) Report(ctx context.Context, r notify.Report) error {
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
	return c.publish(ctx, SubjectConsent, phone+":"+at.Format(time.RFC3339Nano), notify.Consent{Phone: phone, Promotions: promotions, At: at})
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

// Inbound hands the notifier a phone being answered, before any Reply to it.
func (c *Client) Inbound(ctx context.Context, in notify.Inbound) error {
	if err := in.Check(); err != nil {
		return err
	}
	return c.publish(ctx, SubjectInbound, "inbound:"+in.ID, in)
}

// Reply hands the notifier a Reply; its Inbound must have been handed over
// first. It fails for a Reply the notifier would refuse for its form (not
// for the Inbound it names: only the notifier knows that).
func (c *Client) Reply(ctx context.Context, r notify.Reply) error {
	if err := r.Check(nil); err != nil {
		return fmt.Errorf("%w: %w", notify.ErrNotReply, err)
	}
	return c.publish(ctx, SubjectReply, r.Key(), r)
}

// Subjects of the notifier's stream a gateway publishes.
const (
	SubjectInbound = "notify.v1.inbound"
	SubjectReply   = "notify.v1.reply"
)
