package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// Idempotency-Key. Every route that moves money takes one, and a client
// retries with the same key until it gets an answer:
//
//   - the first request with a key records it, in flight, in the
//     IdempotencyBucket key-value bucket (a Create, so of two gateways only
//     one wins), under the merchant and the key's SHA-256, with a hash of
//     the method, path and body;
//   - a duplicate while it is in flight gets 409 in_flight (Retry-After: 1);
//     an in-flight record older than inFlightTakeover is taken over (its
//     gateway died);
//   - a final answer (2xx, and 4xx but 409 and 429) is stored, and a
//     duplicate gets it again byte for byte with Idempotent-Replayed: true;
//     one too large to store (a large batch of charges) is recorded as
//     done without its body, and a duplicate is processed again: the
//     wallet answers it from its own records (each charge replayed);
//   - any other answer (5xx: the wallet did not answer, or failed) deletes
//     the record, so that the client may retry;
//   - the same key with another method, path or body is 422 conflict.
//
// Records live idempotencyTTL. The same key also goes to the wallet, which
// keeps its own record of what the key did: money never moves twice, even
// if the bucket is lost or a record expires.

const (
	// IdempotencyBucket is the key-value bucket of Idempotency-Keys (with
	// "_" and the NATS prefix when there is one).
	IdempotencyBucket = "MERCHANT_IDEMPOTENCY"
	// idempotencyTTL is how long a key's answer is kept: a day, as
	// Stripe's, long enough for any client's retries.
	idempotencyTTL = 24 * time.Hour
	// inFlightTakeover is how long a request may stay in flight before a
	// duplicate takes it over: twice merchantCallTimeout (a handler's
	// wallet call, and its notifier call), so that only a gateway that died
	// leaves one so long. A live one taken over costs nothing: the wallet
	// keeps the key too, and answers the second processing from its
	// records. Longer kept a killed gateway's keys answering 409 for a
	// minute, past the patience of the fault test's client (issue 12).
	inFlightTakeover = 2 * merchantCallTimeout
	// idempotencyKeyBytesMax bounds an Idempotency-Key: the merchant
	// services' bound (the wallet's own keys are made of it).
	idempotencyKeyBytesMax = merchant.IdempotencyKeyBytesMax
	// storedResponseBytesMax bounds a stored answer; the largest is a few
	// kilobytes, but for a batch of charges (about 250 bytes a charge).
	// A larger one is not stored (Rerun: the wallet's record keeps a retry
	// from moving money again), so that a bucket written at the rate of
	// batches stays small.
	storedResponseBytesMax = 64 << 10
	// idempotencyKVTimeout bounds each read or write of the bucket.
	idempotencyKVTimeout = 5 * time.Second
	// beginAttemptsMax bounds the rounds of create, read and take over
	// when other gateways race for the same key.
	beginAttemptsMax = 3
	// HeaderIdempotencyKey and HeaderIdempotentReplayed are the request's
	// key and the mark of a replayed answer.
	HeaderIdempotencyKey     = "Idempotency-Key"
	HeaderIdempotentReplayed = "Idempotent-Replayed"
	// idempotencyKeyKey is the echo context key of the request's key.
	idempotencyKeyKey = "gateway.merchant.idempotency"
)

// EnsureIdempotencyBucket creates or updates the Idempotency-Key bucket:
// one value per key, kept idempotencyTTL. It asks for nothing newer than
// nats-server 2.9 (no per-key TTL: the bucket's age limit is the TTL).
func EnsureIdempotencyBucket(ctx context.Context, js jetstream.JetStream, prefix string, replicas int) (jetstream.KeyValue, error) {
	name := natsrpc.Name(IdempotencyBucket, prefix)
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: name, Description: "merchant API Idempotency-Keys and their answers", History: 1,
		TTL: idempotencyTTL, Replicas: max(replicas, 1), Storage: jetstream.FileStorage,
		// base64 makes a stored answer 4/3 as long; the rest is the record.
		MaxValueSize: storedResponseBytesMax*4/3 + 4<<10,
	})
	if err != nil {
		return nil, fmt.Errorf("idempotency bucket %s: %w", name, err)
	}
	if replicas > 1 {
		// A client's retry may reach the other gateway: it must read the
		// first request's record, and a follower may be a write behind.
		// Reads go to the leader, and this process binds again to read
		// so too.
		if err := natsrpc.ReadFromLeader(ctx, js, "KV_"+name); err != nil {
			return nil, fmt.Errorf("idempotency bucket %s: %w", name, err)
		}
		if kv, err = js.KeyValue(ctx, name); err != nil {
			return nil, fmt.Errorf("idempotency bucket %s: %w", name, err)
		}
	}
	return kv, nil
}

// OpenIdempotencyBucket binds to the Idempotency-Key bucket
// EnsureIdempotencyBucket made (the wallet, or an operator step, creates
// it: a gateway's NATS user may not create streams). While it does not
// exist the error wraps jetstream.ErrBucketNotFound.
func OpenIdempotencyBucket(ctx context.Context, js jetstream.JetStream, prefix string) (jetstream.KeyValue, error) {
	name := natsrpc.Name(IdempotencyBucket, prefix)
	kv, err := js.KeyValue(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("idempotency bucket %s: %w", name, err)
	}
	return kv, nil
}

// idemRecord is a key's record in the bucket.
type idemRecord struct {
	Done        bool      `json:"done,omitempty"`
	Fingerprint string    `json:"fp"`      // the request's hash: method, path, body
	Started     time.Time `json:"started"` // when its first request arrived
	Status      int       `json:"status,omitempty"`
	ContentType string    `json:"type,omitempty"`
	Body        []byte    `json:"body,omitempty"`
	// Rerun marks a final answer too large to store: a duplicate is
	// processed again rather than replayed.
	Rerun bool `json:"rerun,omitempty"`
}

// idempotency keeps the records.
type idempotency struct {
	kv  jetstream.KeyValue
	now func() time.Time
	log *slog.Logger
}

// checkIdempotencyKey checks a request's Idempotency-Key header.
func checkIdempotencyKey(k string) error {
	if k == "" {
		return invalid("this route moves money: send an %s header (a UUID you keep until you get an answer)", HeaderIdempotencyKey)
	}
	if len(k) > idempotencyKeyBytesMax {
		return invalid("the %s is longer than %d bytes", HeaderIdempotencyKey, idempotencyKeyBytesMax)
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return invalid("the %s may contain only printable ASCII without spaces", HeaderIdempotencyKey)
		}
	}
	return nil
}

// recordKey is a key's name in the bucket: the merchant's (or the key's,
// for an operator) and the hash of the key, in the bucket's alphabet.
func recordKey(owner, key string) string {
	o := sha256.Sum256([]byte(owner))
	k := sha256.Sum256([]byte(key))
	return hex.EncodeToString(o[:8]) + "." + hex.EncodeToString(k[:])
}

// fingerprint hashes what makes two requests the same request.
func fingerprint(method, path string, body []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s %d\n", method, path, len(body))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// final reports whether an answer of status is stored: one that will not
// change on a retry.
func final(status int) bool {
	switch {
	case status == http.StatusConflict || status == http.StatusTooManyRequests:
		return false
	case status >= 200 && status < 300, status >= 400 && status < 500:
		return true
	}
	return false
}

// kvContext bounds a bucket operation, outliving a client that hung up:
// a record must still be finished.
func kvContext(c echo.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(c.Request().Context()), idempotencyKVTimeout)
}

// idempotent returns the middleware of a money route: it reads the body
// (of kind), admits the request once per Idempotency-Key, replays a
// stored answer, and stores or forgets the answer.
func (m *merchantServer) idempotent(kind bodyKind, csvMax int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			key := req.Header.Get(HeaderIdempotencyKey)
			if err := checkIdempotencyKey(key); err != nil {
				return err
			}
			body, err := readBody(c, kind, csvMax)
			if err != nil {
				return err
			}
			p := principalOf(c)
			owner := p.Merchant
			if owner == "" {
				owner = "key:" + p.KeyID
			}
			k := recordKey(owner, key)
			fp := fingerprint(req.Method, req.URL.Path, body)
			started := m.idem.now().UTC()
			ctx, cancel := kvContext(c)
			rev, stored, err := m.idem.begin(ctx, k, fp, started)
			cancel()
			if err != nil {
				return err
			}
			if stored != nil {
				h := c.Response().Header()
				h.Set(HeaderIdempotentReplayed, "true")
				return c.Blob(stored.Status, stored.ContentType, stored.Body)
			}
			c.Set(idempotencyKeyKey, key)
			tee := &teeWriter{ResponseWriter: c.Response().Writer}
			c.Response().Writer = tee
			defer func() {
				if p := recover(); p != nil {
					// Forget the request, so that a retry need not wait
					// for the takeover; Recover answers 500.
					ctx, cancel := kvContext(c)
					defer cancel()
					m.idem.kv.Delete(ctx, k, jetstream.LastRevision(rev))
					panic(p)
				}
			}()
			err = next(c)
			if err != nil && !c.Response().Committed {
				writeAPIError(c, err)
			}
			c.Response().Writer = tee.ResponseWriter
			ctx, cancel = kvContext(c)
			defer cancel()
			res := c.Response()
			m.idem.finish(ctx, k, rev, idemRecord{
				Done: true, Fingerprint: fp, Started: started,
				Status: res.Status, ContentType: res.Header().Get(echo.HeaderContentType), Body: tee.buf.Bytes(),
			}, tee.over)
			return err // for the request log; the answer is written
		}
	}
}

// idempotencyKeyOf returns the request's Idempotency-Key (set by idempotent).
func idempotencyKeyOf(c echo.Context) string {
	k, _ := c.Get(idempotencyKeyKey).(string)
	return k
}

// begin admits a request with fingerprint fp under key k, arrived now: it returns the
// revision of its in-flight record, or the stored answer to replay, or
// CodeInFlight, CodeConflict or CodeUnavailable.
func (d *idempotency) begin(ctx context.Context, k, fp string, now time.Time) (uint64, *idemRecord, error) {
	rec, err := json.Marshal(idemRecord{Fingerprint: fp, Started: now})
	if err != nil {
		return 0, nil, err
	}
	for range beginAttemptsMax {
		rev, err := d.kv.Create(ctx, k, rec)
		if err == nil {
			return rev, nil, nil
		}
		if !raced(err) {
			return 0, nil, unavailable(err)
		}
		e, err := d.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // forgotten since: create it again
		}
		if err != nil {
			return 0, nil, unavailable(err)
		}
		var old idemRecord
		if err := json.Unmarshal(e.Value(), &old); err == nil {
			switch {
			case old.Fingerprint != fp:
				return 0, nil, wallet.Errorf(wallet.CodeConflict,
					"this %s was used with a different request (method, path or body): use a new key for a new request", HeaderIdempotencyKey)
			case old.Done && !old.Rerun:
				return 0, &old, nil
			case !old.Done && now.Sub(old.Started) < inFlightTakeover:
				return 0, nil, wallet.Errorf(wallet.CodeInFlight, "a request with this %s is being processed: retry in a moment", HeaderIdempotencyKey)
			}
		}
		// In flight too long, unreadable, or done without its answer
		// (Rerun): take it over, unless another gateway just did.
		rev, err = d.kv.Update(ctx, k, rec, e.Revision())
		if err == nil {
			return rev, nil, nil
		}
		if !raced(err) {
			return 0, nil, unavailable(err)
		}
	}
	return 0, nil, wallet.Errorf(wallet.CodeInFlight, "a request with this %s is being processed: retry in a moment", HeaderIdempotencyKey)
}

// finish stores a final answer over the in-flight record at rev (one too
// large to store as done without it: Rerun), or forgets the record. A
// failure is logged, not returned: the answer is sent, and the wallet's own
// record keeps a retry from moving money again.
func (d *idempotency) finish(ctx context.Context, k string, rev uint64, rec idemRecord, tooLarge bool) {
	if final(rec.Status) {
		if tooLarge {
			rec.Body, rec.ContentType, rec.Rerun = nil, "", true
		}
		data, err := json.Marshal(rec)
		if err == nil {
			_, err = d.kv.Update(ctx, k, data, rev)
		}
		if err != nil {
			d.log.Warn("idempotency: the answer was not stored; a retry will ask the wallet again", "record", k, "err", err)
		}
		return
	}
	if err := d.kv.Delete(ctx, k, jetstream.LastRevision(rev)); err != nil {
		d.log.Warn("idempotency: an in-flight record was not deleted; it is taken over after "+inFlightTakeover.String(), "record", k, "err", err)
	}
}

// raced reports whether a create or update failed because the key was
// written meanwhile.
func raced(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// unavailable is a bucket failure as the client sees it: retry.
func unavailable(err error) error {
	return &wallet.Error{Code: wallet.CodeUnavailable, Message: "idempotency keys are unavailable, retry with the same key: " + err.Error()}
}

// teeWriter copies an answer's body, up to storedResponseBytesMax.
type teeWriter struct {
	http.ResponseWriter
	buf  bytes.Buffer
	over bool
}

func (w *teeWriter) Write(p []byte) (int, error) {
	if !w.over {
		if w.buf.Len()+len(p) > storedResponseBytesMax {
			w.over = true
			w.buf.Reset()
		} else {
			w.buf.Write(p)
		}
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
