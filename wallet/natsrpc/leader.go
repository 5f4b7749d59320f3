package natsrpc

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
)

// ReadFromLeader turns direct gets off on a replicated key-value bucket's
// stream, so that every read is answered by the stream's leader.
//
// A bucket answers reads from any replica by default (direct gets), and a
// follower a write behind returns the value before the last acknowledged
// write: a USSD hop on the other gateway then finds the session a step
// back ("This session has ended"), and a merchant's retry on the other
// gateway finds no Idempotency-Key record (issue 12's fault test saw both
// on a healthy 3-node cluster). The leader has every acknowledged write.
//
// Readers that bind after the change (jetstream.KeyValue reads the
// stream's configuration) send gets to $JS.API.STREAM.MSG.GET.<stream>,
// so a reader's NATS user needs that subject (deploy/natsroles grants it
// on the gateway's own buckets). A bucket with one replica has no
// follower to lag: callers leave direct gets on there.
func ReadFromLeader(ctx context.Context, js jetstream.JetStream, stream string) error {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	cfg := st.CachedInfo().Config
	if !cfg.AllowDirect {
		return nil
	}
	cfg.AllowDirect = false
	_, err = js.UpdateStream(ctx, cfg)
	return err
}
