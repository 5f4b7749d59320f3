package gateway

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/wallet/natsapi/natstest"
)

// TestIdempotencyBucketLeaderReads: on a cluster the Idempotency-Key bucket
// answers reads from its leader only, as the session bucket does (issue
// 12): a retry that a load balancer sends to the other gateway must see the
// first request's record, which a follower a write behind may not have yet,
// and would then run the request a second time.
func TestIdempotencyBucketLeaderReads(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	nc, err := nats.Connect(c.URLs())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		prefix     string
		replicas   int
		wantDirect bool
	}{
		{prefix: "one", replicas: 1, wantDirect: true},
		{prefix: "three", replicas: 3, wantDirect: false},
	} {
		// Twice: a second wallet's start updates the bucket again.
		for range 2 {
			if _, err := EnsureIdempotencyBucket(ctx, js, tc.prefix, tc.replicas); err != nil {
				t.Fatal(err)
			}
		}
		st, err := js.Stream(ctx, "KV_"+IdempotencyBucket+"_"+tc.prefix)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.CachedInfo().Config.AllowDirect; got != tc.wantDirect {
			t.Errorf("%d replicas: direct gets %v, want %v", tc.replicas, got, tc.wantDirect)
		}
	}
}
