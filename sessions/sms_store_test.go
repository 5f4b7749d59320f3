package sessions

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/wallet/natsapi/natstest"
)

// testBucket returns a JetStream context and a bucket name under a fresh
// prefix, deleted when the test ends.
func testBucket(t testing.TB) (jetstream.JetStream, string) {
	t.Helper()
	ns := natstest.Start(t)
	js, err := jetstream.New(ns.Connect())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { js.DeleteKeyValue(context.Background(), BucketName+"_"+ns.Prefix) })
	return js, ns.Prefix
}

// A bucket made by a version before SMS (its age limit the session TTL, no
// per-key TTLs) is updated in place: its sessions stay readable, its age
// limit becomes a day, and, on a server that has them, keys get TTLs of
// their own, kept across compare-and-set updates.
func TestEnsureBucketUpdatesOld(t *testing.T) {
	ctx := context.Background()
	js, prefix := testBucket(t)
	old, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: BucketName + "_" + prefix, Description: "USSD session state", History: 1, TTL: time.Minute,
		MaxValueSize: stateBytesMax, Storage: jetstream.FileStorage,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Create(ctx, "africastalking.b2xk", []byte(`{"phone":"+254711000001","lang":"en","kind":"customer","path":["main"],"hops":0,"screen":{"Text":"x","End":false}}`)); err != nil {
		t.Fatal(err)
	}
	kv, err := EnsureBucket(ctx, js, prefix, 2*time.Second, 1)
	if err != nil {
		t.Fatal(err)
	}
	b := newBucket(kv)
	if b.ttl == nil {
		t.Fatal("EnsureBucket's bucket carries no TTL settings")
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != bucketAgeMax {
		t.Errorf("age limit %s, want %s", st.TTL(), bucketAgeMax)
	}
	if b.ttl.perKey && st.LimitMarkerTTL() != limitMarkerTTL {
		t.Errorf("limit marker TTL %s, want %s", st.LimitMarkerTTL(), limitMarkerTTL)
	}
	t.Logf("per-key TTLs: %v", b.ttl.perKey)
	if s, _, err := b.load(ctx, "africastalking.b2xk"); err != nil || s == nil || s.node() != "main" {
		t.Errorf("the old session reads %+v, %v", s, err)
	}

	// Compare-and-set, in both modes.
	rev, err := b.put(ctx, "sms.rate.254711000001", []byte(`{"times":[]}`), 0, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.put(ctx, "sms.rate.254711000001", []byte(`{}`), 0, time.Second); !errors.Is(err, errRaced) {
		t.Errorf("create over a key: %v, want errRaced", err)
	}
	next, err := b.put(ctx, "sms.rate.254711000001", []byte(`{"times":[],"warned":true}`), rev, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.put(ctx, "sms.rate.254711000001", []byte(`{}`), rev, time.Second); !errors.Is(err, errRaced) {
		t.Errorf("update of a stale revision: %v, want errRaced", err)
	}
	if e, err := b.get(ctx, "sms.rate.254711000001"); err != nil || e == nil || e.Revision() != next {
		t.Errorf("get = %v, %v; want revision %d", e, err, next)
	}

	// A session state outlives its TTL on neither kind of server: removed
	// by the server, or ignored and written over.
	s := &state{Phone: "+254711000001", Lang: "en", Kind: kindCustomer, Path: []string{"main"}}
	if err := b.save(ctx, "africastalking.c2Vzcw", s, 0); err != nil {
		t.Fatal(err)
	}
	if got, rev, err := b.load(ctx, "africastalking.c2Vzcw"); err != nil || got == nil {
		t.Fatalf("fresh state %+v at %d, %v", got, rev, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, rev, err := b.load(ctx, "africastalking.c2Vzcw")
		if err != nil {
			t.Fatal(err)
		}
		if got == nil {
			if err := b.save(ctx, "africastalking.c2Vzcw", s, rev); err != nil {
				t.Errorf("save over an expired state: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a state outlived its TTL by 8 s")
		}
		time.Sleep(250 * time.Millisecond)
	}
	if !b.ttl.perKey {
		return
	}
	// The server removes a key when its own TTL runs out, an updated one
	// included.
	for deadline := time.Now().Add(10 * time.Second); ; {
		e, err := b.get(ctx, "sms.rate.254711000001")
		if err != nil {
			t.Fatal(err)
		}
		if e == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a key outlived its 1 s TTL by 9 s")
		}
		time.Sleep(250 * time.Millisecond)
	}
	if _, err := b.put(ctx, "sms.rate.254711000001", []byte(`{}`), 0, time.Second); err != nil {
		t.Errorf("create over an expired key: %v", err)
	}
}
