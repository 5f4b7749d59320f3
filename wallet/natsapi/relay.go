package natsapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

const (
	// StreamName is the JetStream stream of wallet events.
	StreamName = "WALLET_EVENTS"
	// relayBatch bounds the events published per round trip to the database.
	relayBatch = 4096
	// relayIdle is how long the relay sleeps when the outbox is empty and
	// no commit woke it.
	relayIdle = 200 * time.Millisecond
	// relayBackoffMax bounds the wait after a failure (NATS or database down).
	relayBackoffMax = 5 * time.Second
	// dedupeWindow is how long JetStream drops an event re-published with the
	// same Nats-Msg-Id (after a relay crashed between publish and delete).
	// Consumers still dedupe by transfer id beyond it.
	dedupeWindow = 10 * time.Minute
	// ackTimeout bounds the wait for JetStream to acknowledge a batch.
	ackTimeout = 10 * time.Second
)

// EnsureStream creates or updates the wallet event stream.
func EnsureStream(ctx context.Context, js jetstream.JetStream, replicas int, opts ...Option) (jetstream.Stream, error) {
	o := newOptions(opts)
	if replicas <= 0 {
		replicas = 1
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        o.stream(),
		Description: "Posted wallet transfers, one message per transfer, Nats-Msg-Id = transaction id; and merchant events, Nats-Msg-Id = event id",
		Subjects:    []string{o.subject(wallet.EventSubjectPrefix + ">"), o.subject(wallet.MerchantEventSubjectPrefix + ">")},
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Duplicates:  dedupeWindow,
		MaxAge:      30 * 24 * time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("event stream: %w", err)
	}
	return st, nil
}

// Relay publishes the wallet's outbox to JetStream. An event is deleted from
// the outbox only after JetStream acknowledged it, so a crash at any point
// re-publishes (and JetStream's dedupe window drops the copy).
type Relay struct {
	store wallet.Store
	js    jetstream.JetStream
	log   *slog.Logger
	o     options
	wake  chan struct{}
}

// NewRelay returns a relay; call Wake after each commit to publish at once.
func NewRelay(store wallet.Store, js jetstream.JetStream, log *slog.Logger, opts ...Option) *Relay {
	return &Relay{store: store, js: js, log: log, o: newOptions(opts), wake: make(chan struct{}, 1)}
}

// stream is the event stream's name under the prefix.
func (o options) stream() string { return EventStream(o.prefix) }

// EventStream is the name of the wallet event stream under a NATS prefix.
func EventStream(prefix string) string { return natsrpc.Name(StreamName, prefix) }

// Wake tells the relay there is something to publish. It never blocks.
func (r *Relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run publishes until ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	backoff := 50 * time.Millisecond
	for {
		n, err := r.store.Relay(ctx, relayBatch, r.publish)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			r.log.Warn("event relay", "err", err, "retry_in", backoff)
			if !sleep(ctx, backoff) {
				return nil
			}
			backoff = min(2*backoff, relayBackoffMax)
			continue
		}
		backoff = 50 * time.Millisecond
		if n == relayBatch {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-time.After(relayIdle):
		}
	}
}

func (r *Relay) publish(evs []wallet.OutboxEvent) error {
	ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
	defer cancel()
	futures := make([]jetstream.PubAckFuture, 0, len(evs))
	for _, e := range evs {
		m := nats.NewMsg(r.o.subject(e.Subject))
		m.Data = e.Payload
		id := e.MsgID
		if id == "" {
			id = wallet.Ref(e.TransferID)
		}
		m.Header.Set(jetstream.MsgIDHeader, id)
		f, err := r.js.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("publish event: %w", err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publish event: %w", err)
		case <-ctx.Done():
			return errors.New("publish event: no acknowledgement in time")
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
