package natsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/notify/store"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	walletapi "github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

const (
	// Durable is the name of the notifier's consumers on the wallet event
	// stream and on its own stream: every notifier process shares them, so
	// each message goes to one of them.
	Durable = "notify"
	// fetchBatchMax bounds the messages recorded per database transaction.
	fetchBatchMax = 256
	// fetchWait paces the consumer's pull requests while idle.
	fetchWait = time.Second
	// reportEarlyRedeliveries bounds how often a delivery report that
	// arrived before the sender recorded the message id is offered again,
	// reportEarlyDelay apart, before it is dropped.
	reportEarlyRedeliveries = 10
	reportEarlyDelay        = time.Second
	// ackWait is how long JetStream waits for an acknowledgement before it
	// redelivers: one batch's transaction must commit well inside it.
	ackWait = 30 * time.Second
	// unknownKindDelay is how long an event of a kind this notifier does not
	// know waits before it is offered again, to a newer notifier.
	unknownKindDelay = time.Minute
	// consumeBackoffMax bounds the pause after a failure (database or NATS down).
	consumeBackoffMax = 5 * time.Second
	// bindBackoffMin and bindBackoffMax pace the retries of making the
	// durable consumers while a stream is missing (no wallet has created
	// it yet) or the cluster cannot place it (insufficient resources while
	// a node is down or a stream is being scaled).
	bindBackoffMin = 250 * time.Millisecond
	bindBackoffMax = 10 * time.Second
)

// recorder is what the consumers need of the message store.
type recorder interface {
	Record(ctx context.Context, out []notify.Outgoing) (int, error)
	Report(ctx context.Context, r notify.Report) error
	// RecordBatch inserts SMS and webhook deliveries in one transaction.
	RecordBatch(ctx context.Context, out []notify.Outgoing, hooks []notify.OutgoingWebhook) (sms, webhooks int, err error)
	// RecordInbound and Inbound keep the Inbounds a Reply must name.
	RecordInbound(ctx context.Context, in notify.Inbound, at time.Time) error
	Inbound(ctx context.Context, id string) (store.Inbound, bool, error)
}

// DefaultServiceCode is the USSD code a prompt names when
// ConsumerConfig.ServiceCode is empty: the sessions' default
// (sessions.DefaultServiceCode, which imports this package; a test keeps
// them equal).
const DefaultServiceCode = "*334#"

// Consumer turns the wallet's events into receipts, prompts and webhook
// deliveries, and the notifier stream's messages, reports and consents into
// rows, each in one database transaction per fetched batch, acknowledged
// only after it commits. A crash anywhere redelivers, and recording is
// idempotent by key, so nothing is lost or recorded twice. It sends nothing
// itself: it wakes the Sender and the WebhookSender.
//
// The wallet's event stream carries two kinds of message: a transfer's
// wallet.Event (wallet.events.transfer.<kind>), which gives the parties'
// receipts and the merchants' webhooks (TransferEvents); and a merchant
// service's merchant.OutboxEvent (wallet.events.merchant.<type>), which
// gives the merchant's webhook and, for payment_request.created and
// tab.created, the customer's prompt (Prompt). A delivery is recorded only
// for a merchant with a webhook endpoint at that time.
type Consumer struct {
	cfg            ConsumerConfig
	log            *slog.Logger
	running        chan struct{}                      // closed once it consumes both streams
	eventsConsumer atomic.Pointer[jetstream.Consumer] // set once bound
}

// ConsumerConfig is what a Consumer needs; all but Prefix, Location and Wake
// are required.
type ConsumerConfig struct {
	JS       jetstream.JetStream
	Prefix   string // the NATS prefix the wallet and gateways use
	Store    recorder
	Consents *store.Consents
	Locales  *locales.Catalog
	Currency wallet.Currency
	Location *time.Location // where receipts' dates are read; default UTC
	// ServiceCode is the USSD code prompts tell customers to dial for the
	// Approvals menu: the sessions' ServiceCode (default DefaultServiceCode).
	ServiceCode string
	// Wake is called after new rows are recorded (Sender.Wake); the Store
	// also wakes the Senders and WebhookSenders running on it.
	Wake func()
	Log  *slog.Logger
}

// NewConsumer checks cfg.
func NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	switch {
	case cfg.JS == nil, cfg.Store == nil, cfg.Consents == nil, cfg.Locales == nil:
		return nil, errors.New("notify: a consumer needs JetStream, a store, consents and locales")
	case cfg.Currency.Code == "":
		return nil, errors.New("notify: a consumer needs the currency")
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.ServiceCode == "" {
		cfg.ServiceCode = DefaultServiceCode
	}
	if len(cfg.ServiceCode) > notify.ServiceCodeCharsMax || !locales.IsGSM7(cfg.ServiceCode) {
		return nil, fmt.Errorf("notify: the service code must be at most %d GSM-7 characters", notify.ServiceCodeCharsMax)
	}
	if cfg.Wake == nil {
		cfg.Wake = func() {}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Consumer{cfg: cfg, log: cfg.Log, running: make(chan struct{})}, nil
}

// Running is closed once Run consumes both streams.
func (c *Consumer) Running() <-chan struct{} { return c.running }

// Ready is a readiness check: nil once Run consumes both streams.
func (c *Consumer) Ready(context.Context) error {
	select {
	case <-c.running:
		return nil
	default:
		return errors.New("the notify consumer is not running yet: its streams or consumers cannot be made")
	}
}

// Run consumes both streams until ctx ends. The wallet creates the streams
// (walletapi.EnsureStream, EnsureStream): until its durable consumers can be
// made on both, Run retries, with a log line each time, and Ready reports
// it; Running is closed once they are. Run is called once.
func (c *Consumer) Run(ctx context.Context) error {
	events, ok := c.bind(ctx, walletapi.EventStream(c.cfg.Prefix))
	if !ok {
		return nil
	}
	c.eventsConsumer.Store(&events)
	own, ok := c.bind(ctx, StreamName(c.cfg.Prefix))
	if !ok {
		return nil
	}
	close(c.running)
	done := make(chan error, 1)
	go func() { done <- c.loop(ctx, own, c.messages) }()
	err := c.loop(ctx, events, c.events)
	if err2 := <-done; err == nil {
		err = err2
	}
	return err
}

// Recorded returns the stream sequence through which every wallet event
// has been recorded, by this notifier or another: the ack floor of their
// durable consumer on the event stream (a message is acknowledged once its
// rows are committed). It is a WebhookSender's Recorded. Before the
// consumer is bound it is an error.
func (c *Consumer) Recorded(ctx context.Context) (uint64, error) {
	cons := c.eventsConsumer.Load()
	if cons == nil {
		return 0, errors.New("notify: the event stream's consumer is not bound yet")
	}
	info, err := (*cons).Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("notify: the event stream's consumer: %w", err)
	}
	return info.AckFloor.Stream, nil
}

// bind makes the durable consumer on stream, retrying with backoff until
// it is made (ok) or ctx ends. Whatever fails (the stream missing, the
// cluster without the resources to place the consumer, NATS away) is
// expected to pass, and exiting would only restart the wait elsewhere.
func (c *Consumer) bind(ctx context.Context, stream string) (cons jetstream.Consumer, ok bool) {
	backoff := bindBackoffMin
	for {
		cons, err := c.consumer(ctx, stream)
		if err == nil {
			return cons, true
		}
		if ctx.Err() != nil {
			return nil, false
		}
		c.log.Warn("notify consumer: waiting to bind to its stream (a wallet creates it)", "stream", stream, "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, bindBackoffMax)
	}
}

func (c *Consumer) consumer(ctx context.Context, stream string) (jetstream.Consumer, error) {
	cons, err := c.cfg.JS.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:       Durable,
		Description:   "SMS receipts, prompts, messages, delivery reports and merchant webhooks into the notifier's tables",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: 4 * fetchBatchMax,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("notify consumer on %s: %w", stream, err)
	}
	return cons, nil
}

// loop hands the messages of cons to handle in batches until ctx ends: a
// batch is whatever has arrived, up to fetchBatchMax, so a lone message is
// handled at once and a burst in one transaction. After a failure (the
// database down) the batch is offered again after a backoff.
func (c *Consumer) loop(ctx context.Context, cons jetstream.Consumer, handle func(context.Context, []jetstream.Msg) error) error {
	arrived := make(chan jetstream.Msg, fetchBatchMax)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case arrived <- m:
		case <-ctx.Done():
		}
	}, jetstream.PullMaxMessages(fetchBatchMax), jetstream.PullExpiry(fetchWait*5))
	if err != nil {
		return fmt.Errorf("notify consumer: %w", err)
	}
	defer cc.Stop()
	backoff := 50 * time.Millisecond
	for {
		var batch []jetstream.Msg
		select {
		case <-ctx.Done():
			return nil
		case m := <-arrived:
			batch = append(batch, m)
		}
	more:
		for len(batch) < fetchBatchMax {
			select {
			case m := <-arrived:
				batch = append(batch, m)
			default:
				break more
			}
		}
		if err := handle(ctx, batch); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.log.Warn("notify consumer", "err", err, "retry_in", backoff)
			for _, m := range batch {
				_ = m.NakWithDelay(backoff)
			}
			backoff = min(2*backoff, consumeBackoffMax)
			continue
		}
		backoff = 50 * time.Millisecond
	}
}

// events records the receipts, prompts and webhook deliveries of a batch of
// the wallet's event stream and acknowledges them. A malformed event is
// terminated (no notifier can read it); a transfer of a kind this notifier
// does not know is left for a newer one. Every merchant event is recorded
// and acknowledged, whatever its type: its webhook is the merchant's.
func (c *Consumer) events(ctx context.Context, msgs []jetstream.Msg) error {
	var out []notify.Outgoing
	var hooks []notify.OutgoingWebhook
	var ack []jetstream.Msg
	for _, m := range msgs {
		var seq uint64
		if md, err := m.Metadata(); err == nil {
			seq = md.Sequence.Stream
		}
		subj := natsrpc.Unprefixed(c.cfg.Prefix, m.Subject())
		if strings.HasPrefix(subj, wallet.MerchantEventSubjectPrefix) {
			var ev merchant.OutboxEvent
			err := json.Unmarshal(m.Data(), &ev)
			var hook notify.OutgoingWebhook
			if err == nil {
				hook, err = notify.MerchantWebhook(c.cfg.Currency, ev, seq)
			}
			if err != nil {
				c.log.Error("notify: unreadable merchant event, dropped", "subject", m.Subject(), "err", err)
				_ = m.Term()
				continue
			}
			hooks = append(hooks, hook)
			if p, err := notify.Prompt(c.cfg.Locales, c.cfg.Currency, c.cfg.Location, c.cfg.ServiceCode, ev); err != nil {
				c.log.Warn("notify: no prompt for a merchant event", "event", ev.ID, "type", ev.Type, "err", err)
			} else if p != nil {
				out = append(out, *p)
			}
			ack = append(ack, m)
			continue
		}
		var ev wallet.Event
		if err := json.Unmarshal(m.Data(), &ev); err != nil || ev.Transfer.ID == 0 {
			c.log.Error("notify: unreadable wallet event, dropped", "subject", m.Subject(), "err", err)
			_ = m.Term()
			continue
		}
		if !notify.Handles(ev.Transfer.Kind) {
			c.log.Warn("notify: wallet event of an unknown kind, left for a newer notifier", "kind", ev.Transfer.Kind, "ref", ev.Transfer.Ref)
			_ = m.NakWithDelay(unknownKindDelay)
			continue
		}
		out = append(out, notify.OutgoingReceipts(notify.Receipts(c.cfg.Locales, c.cfg.Currency, c.cfg.Location, ev))...)
		for _, h := range notify.TransferWebhooks(c.cfg.Currency, ev, seq) {
			if err := h.Validate(); err != nil {
				c.log.Error("notify: a transfer's webhook not recorded", "ref", ev.Transfer.Ref, "err", err)
				continue
			}
			hooks = append(hooks, h)
		}
		ack = append(ack, m)
	}
	return c.recordAll(ctx, out, hooks, ack)
}

// messages records a batch of the notifier stream: messages to send, delivery
// reports and consents.
func (c *Consumer) messages(ctx context.Context, msgs []jetstream.Msg) error {
	var out []notify.Outgoing
	var ack []jetstream.Msg
	for _, m := range msgs {
		var err error
		switch subj := natsrpc.Unprefixed(c.cfg.Prefix, m.Subject()); subj {
		case SubjectSend:
			var msg notify.Message
			if err = json.Unmarshal(m.Data(), &msg); err == nil {
				if msg.Key == "" || msg.To == "" || msg.Text == "" {
					err = errors.New("a message without key, phone or text")
				} else {
					out = append(out, msg.Outgoing())
				}
			}
		case SubjectInbound:
			var in notify.Inbound
			if err = json.Unmarshal(m.Data(), &in); err == nil {
				if err = in.Check(); err == nil {
					if err = c.cfg.Store.RecordInbound(ctx, in, streamTime(m)); err != nil {
						return err // the database: offered again after a backoff
					}
				}
			}
		case SubjectReply:
			o, early, rerr := c.reply(ctx, m)
			switch {
			case rerr != nil:
				return rerr
			case early:
				_ = m.NakWithDelay(reportEarlyDelay)
				continue
			case o == nil:
				_ = m.Term() // refused, and logged
				continue
			}
			out = append(out, *o)
		case SubjectReport:
			var r notify.Report
			if err = json.Unmarshal(m.Data(), &r); err == nil {
				err = c.cfg.Store.Report(ctx, r)
				if errors.Is(err, notify.ErrUnknownMessage) {
					// Twilio's callback can overtake the sender's record of
					// the id it answered with: offer it again shortly.
					if md, merr := m.Metadata(); merr == nil && md.NumDelivered < reportEarlyRedeliveries {
						_ = m.NakWithDelay(reportEarlyDelay)
						continue
					}
				} else if err != nil && !errors.Is(err, notify.ErrUnknownStatus) {
					return err // the database: offered again after a backoff
				}
			}
		case SubjectConsent:
			var k notify.Consent
			if err = json.Unmarshal(m.Data(), &k); err == nil {
				if err = c.cfg.Consents.Set(ctx, k); err != nil {
					return err
				}
			}
		default:
			err = fmt.Errorf("unknown subject %s", subj)
		}
		if err != nil {
			c.log.Error("notify: unreadable message, dropped", "subject", m.Subject(), "err", err)
			_ = m.Term()
			continue
		}
		ack = append(ack, m)
	}
	return c.record(ctx, out, ack)
}

// reply reads a gateway's Reply and returns the SMS it makes, or nil for
// one refused (logged here): unreadable, naming a message a reply may not
// say, or not answering a phone that wrote in (its Inbound unknown, of
// another phone, or more than replyWindow before it). early asks for the
// Reply to be offered again shortly: its Inbound is not recorded yet, as
// happens when another notifier took it in a batch of its own; after
// reportEarlyRedeliveries it is refused. An error is the database's.
func (c *Consumer) reply(ctx context.Context, m jetstream.Msg) (o *notify.Outgoing, early bool, err error) {
	refuse := func(inbound, reason string) (*notify.Outgoing, bool, error) {
		c.log.Warn("notify: a gateway's reply refused", "inbound", inbound, "reason", reason)
		return nil, false, nil
	}
	r, err := notify.DecodeReply(m.Data(), c.cfg.Locales)
	if err != nil {
		return refuse("", err.Error())
	}
	in, ok, err := c.cfg.Store.Inbound(ctx, r.Inbound)
	switch {
	case err != nil:
		return nil, false, err
	case !ok:
		if md, merr := m.Metadata(); merr == nil && md.NumDelivered < reportEarlyRedeliveries {
			return nil, true, nil
		}
		return refuse(r.Inbound, "no such inbound")
	case in.Phone != r.To:
		return refuse(r.Inbound, "not the inbound's phone")
	case streamTime(m).Sub(in.At) > notify.ReplyWindow:
		return refuse(r.Inbound, "the inbound is too old")
	}
	text, err := c.cfg.Locales.RenderWords(r.Language, r.Words)
	if err != nil {
		return refuse(r.Inbound, err.Error())
	}
	out := notify.Outgoing{Key: r.Key(), Kind: notify.KindMessage, To: r.To, Language: r.Language, Text: text}
	if err := out.Validate(); err != nil {
		return refuse(r.Inbound, err.Error())
	}
	return &out, false, nil
}

// streamTime is when the stream took m: set by the NATS server, not by the
// publisher. Without metadata (never, from a stream) it is now.
func streamTime(m jetstream.Msg) time.Time {
	if md, err := m.Metadata(); err == nil {
		return md.Timestamp
	}
	return time.Now()
}

// record inserts out (those already recorded are skipped by key) and only
// then acknowledges ack.
func (c *Consumer) record(ctx context.Context, out []notify.Outgoing, ack []jetstream.Msg) error {
	return c.recordAll(ctx, out, nil, ack)
}

// recordAll inserts out and hooks in one transaction (those already
// recorded are skipped by key) and only then acknowledges ack.
func (c *Consumer) recordAll(ctx context.Context, out []notify.Outgoing, hooks []notify.OutgoingWebhook, ack []jetstream.Msg) error {
	if len(out) > 0 || len(hooks) > 0 {
		n, _, err := c.cfg.Store.RecordBatch(ctx, out, hooks)
		if err != nil {
			return err // not acknowledged: redelivered after ackWait
		}
		if n > 0 {
			c.cfg.Wake()
		}
	}
	for _, m := range ack {
		// A lost acknowledgement redelivers the message, and recording it
		// again changes nothing.
		_ = m.Ack()
	}
	return nil
}

// EventSource pages through the wallet's events since a time;
// *walletapi.Client implements it.
type EventSource interface {
	Events(ctx context.Context, q walletapi.EventsRequest) (*walletapi.EventsReply, error)
}

// ReplayResult counts what Replay did.
type ReplayResult struct {
	Events   int // wallet events read
	Receipts int // receipts they give
	Recorded int // of those, the ones not recorded before: now queued to send
}

// Replay re-derives from the wallet's database the receipts of every
// transfer created since since and records the ones missing, for when the
// event stream lost messages. Receipts already recorded (sent or not) are
// left alone, so it is safe to run at any time and more than once.
func Replay(ctx context.Context, src EventSource, st recorder, cat *locales.Catalog, cur wallet.Currency, loc *time.Location, since time.Time) (ReplayResult, error) {
	var res ReplayResult
	after := int64(0)
	for {
		page, err := src.Events(ctx, walletapi.EventsRequest{Since: since, After: after})
		if err != nil {
			return res, fmt.Errorf("replay: %w", err)
		}
		var out []notify.Outgoing
		for _, ev := range page.Events {
			res.Events++
			out = append(out, notify.OutgoingReceipts(notify.Receipts(cat, cur, loc, ev))...)
		}
		res.Receipts += len(out)
		if len(out) > 0 {
			n, err := st.Record(ctx, out)
			if err != nil {
				return res, fmt.Errorf("replay: %w", err)
			}
			res.Recorded += n
		}
		if page.Next == 0 {
			return res, nil
		}
		after = page.Next
	}
}
