package sessions

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/wallet/natsrpc"
)

const (
	// DefaultTTL is how long a session's state outlives its last hop: the
	// 180 s an aggregator keeps a USSD session open. An ended session's last
	// screen is kept as long, to answer its late or repeated hops.
	DefaultTTL = 180 * time.Second
	// BucketName is the key-value bucket of session state (under the
	// deployment's prefix, as the wallet's stream is).
	BucketName = "USSD_SESSIONS"
	// sessionIDBytesMax bounds an aggregator's session id: real ones are
	// under 64 bytes, and the id is part of the bucket key and of the
	// wallet's idempotency key (which the wallet bounds at 128).
	sessionIDBytesMax = 64
	// stateBytesMax bounds a stored state: a path of a dozen nodes and a few
	// short values; anything bigger is a bug.
	stateBytesMax = 4 << 10
	// bucketAgeMax is the bucket's own age limit: the longest any record
	// lives, an SMS's message id (smsMessageTTL). Every record carries a
	// shorter time to live of its own (a session's is EnsureBucket's ttl);
	// the server cuts any key's TTL at the bucket's, so this is the bound.
	bucketAgeMax = smsMessageTTL
	// limitMarkerTTL is how long the server keeps the delete marker of a key
	// whose TTL ran out. Setting it is what turns on per-key TTLs; nothing
	// here watches the bucket, so the markers need not stay long.
	limitMarkerTTL = time.Minute
)

// state is a session between hops, JSON in the bucket. It holds what the
// person entered and the last screen, never a PIN nor anything derived from
// one: a new PIN waiting for its confirmation is kept by the wallet, the
// state holding only the wallet's random token for it (Pending); a verified
// current PIN or start key is the wallet's short-lived proof (Proof); and
// inputs that may be PINs (in the history, the last input) are kept only as
// "an input was here" (masked). A state saved by an older version may hold
// a "seal" (a keyed hash of the new PIN): it is not read, and its confirm
// hop goes back to choosing the PIN.
type state struct {
	Phone string `json:"phone"` // E.164
	Lang  string `json:"lang"`
	// Kind is the menu the phone gets: unregistered, customer, agent, or
	// setup (an account without a PIN yet).
	Kind string `json:"kind"`
	Name string `json:"name,omitempty"` // the account's name, as screens show it
	// Path is the nodes from the menu's root to the current one.
	Path []string          `json:"path"`
	Vals map[string]string `json:"vals,omitempty"`
	// Hist is the aggregator's input history consumed so far (Africa's
	// Talking's text), one entry per input; Seq the last hop sequence
	// number (Hubtel); Last the last input: they tell a repeated hop from a
	// new one and a hop that does not continue the session from one that
	// does. An input is kept as typed only when the session keeps it
	// anyway (a menu choice, a navigation input, a value a screen took);
	// any other (a PIN, an input refused, which may be a PIN typed in the
	// wrong place) is kept as masked(parts): that an input was there and
	// how many '*'-separated parts it spans, nothing derived from its
	// characters (histentry.go).
	Hist []string `json:"hist,omitempty"`
	Seq  int      `json:"seq,omitempty"`
	Last string   `json:"last,omitempty"`
	Hops int      `json:"hops"` // inputs handled: part of money steps' idempotency keys
	// Nonce is made at the session's first hop and scopes its money steps'
	// idempotency keys, so that an aggregator reusing a session id after
	// the session expired cannot get an old transfer back.
	Nonce  string `json:"nonce,omitempty"`
	Page   int    `json:"page,omitempty"`
	Err    string `json:"err,omitempty"` // the re-prompt line above the screen, kept for its pages
	Screen Screen `json:"screen"`        // the last answer, repeated for a repeated hop
	Ended  bool   `json:"ended,omitempty"`
	// Pending is the wallet's token for the new PIN chosen a screen before
	// (wallet.PendPIN): random, and sets nothing without the PIN typed
	// again from the same phone.
	Pending string `json:"pending,omitempty"`
	Proof   string `json:"proof,omitempty"`
	// Approvals is the list 6 Approvals shows, as the wallet gave it when
	// the menu was entered (at most approvalsListedMax).
	Approvals []approval `json:"approvals,omitempty"`
}

func (st *state) node() string { return st.Path[len(st.Path)-1] }

// known reports whether every node of the path is one of this version's.
func (st *state) known() bool {
	for _, n := range st.Path {
		if nodes[n] == nil {
			return false
		}
	}
	return true
}

// bucket keeps states in a JetStream key-value bucket, with compare-and-set
// writes so that two gateways serving one session never overwrite each
// other. Every write gives its key a time to live: a USSD session's
// (EnsureBucket's ttl), or an SMS record's own.
type bucket struct {
	kv jetstream.KeyValue
	// ttl is set when kv came from EnsureBucket: what writes need to give
	// each key its own time to live.
	ttl *ttlBucket
}

// ttlBucket is the bucket as EnsureBucket returns it: the key-value store,
// and how to write a key with its own time to live. nats.go's Create takes
// a TTL (jetstream.KeyTTL) but its Update does not and drops the key's, so
// a compare-and-set update publishes on the key's subject itself, with the
// same two headers Update sends and the TTL's.
type ttlBucket struct {
	jetstream.KeyValue
	js      jetstream.JetStream
	subject string        // a key's subject is this and the key: "$KV.<bucket>."
	session time.Duration // a USSD session's time to live, EnsureBucket's ttl
	// perKey is false on a server without per-message TTLs (before
	// nats-server 2.11) and on a JetStream domain: there keys live until the
	// bucket's age limit and the records' own expiry times alone count.
	perKey bool
}

func newBucket(kv jetstream.KeyValue) bucket {
	t, _ := kv.(*ttlBucket)
	return bucket{kv: kv, ttl: t}
}

// EnsureBucket creates or updates the session bucket, which also holds the
// SMS keyword conversations: one value per key, a USSD session's expiring
// ttl after its last write, each SMS record after its own time to live.
// prefix is the deployment's subject prefix ("" for none), as
// natsapi.WithPrefix takes it.
//
// The server keeps a key's own time to live from nats-server 2.11 on; an
// older one keeps every key for the bucket's age limit (8 days, the longest
// an SMS record is needed) and the engine ignores a session state older
// than ttl, so an old server costs only storage.
func EnsureBucket(ctx context.Context, js jetstream.JetStream, prefix string, ttl time.Duration, replicas int) (jetstream.KeyValue, error) {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if replicas <= 0 {
		replicas = 1
	}
	name := natsrpc.Name(BucketName, prefix)
	o := js.Options()
	perKey := o.Domain == "" && (o.APIPrefix == "" || o.APIPrefix == jetstream.DefaultAPIPrefix)
	cfg := jetstream.KeyValueConfig{
		Bucket: name, Description: "USSD session state and SMS keyword conversations", History: 1,
		TTL: max(ttl, bucketAgeMax), Replicas: replicas, MaxValueSize: stateBytesMax, Storage: jetstream.FileStorage,
	}
	if perKey {
		cfg.LimitMarkerTTL = limitMarkerTTL
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrLimitMarkerTTLNotSupported) {
		perKey, cfg.LimitMarkerTTL = false, 0
		kv, err = js.CreateOrUpdateKeyValue(ctx, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("session bucket %s: %w", name, err)
	}
	if replicas > 1 {
		// A session's hops alternate between gateways: each must read
		// what the last one wrote, and a follower may be a write behind.
		// Reads go to the leader, and this process binds again to read
		// so too.
		if err := natsrpc.ReadFromLeader(ctx, js, "KV_"+name); err != nil {
			return nil, fmt.Errorf("session bucket %s: %w", name, err)
		}
		if kv, err = js.KeyValue(ctx, name); err != nil {
			return nil, fmt.Errorf("session bucket %s: %w", name, err)
		}
	}
	return &ttlBucket{KeyValue: kv, js: js, subject: "$KV." + name + ".", session: ttl, perKey: perKey}, nil
}

// OpenBucket binds to the session bucket EnsureBucket made: a gateway
// does not create it (its NATS user has no permission to create or change
// streams); the wallet, or an operator step, does. ttl is a USSD session's
// time to live, as EnsureBucket takes it. While the bucket does not exist
// the error wraps jetstream.ErrBucketNotFound.
func OpenBucket(ctx context.Context, js jetstream.JetStream, prefix string, ttl time.Duration) (jetstream.KeyValue, error) {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	name := natsrpc.Name(BucketName, prefix)
	kv, err := js.KeyValue(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("session bucket %s: %w", name, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("session bucket %s: %w", name, err)
	}
	if age := st.TTL(); age != 0 && age < ttl {
		return nil, fmt.Errorf("session bucket %s keeps keys %s, less than a session's %s: give the wallet the same --session-ttl", name, age, ttl)
	}
	o := js.Options()
	perKey := o.Domain == "" && (o.APIPrefix == "" || o.APIPrefix == jetstream.DefaultAPIPrefix) && st.LimitMarkerTTL() > 0
	return &ttlBucket{KeyValue: kv, js: js, subject: "$KV." + name + ".", session: ttl, perKey: perKey}, nil
}

// errRaced is returned by put when another hop or message wrote the key
// first.
var errRaced = errors.New("written by a concurrent hop or message")

// get returns the entry under k, or nil when there is none.
func (b bucket) get(ctx context.Context, k string) (jetstream.KeyValueEntry, error) {
	e, err := b.kv.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	return e, err
}

// put writes data under k, living ttl: a new key when rev is 0, else only
// over revision rev. It returns the new revision, or errRaced.
func (b bucket) put(ctx context.Context, k string, data []byte, rev uint64, ttl time.Duration) (uint64, error) {
	perKey := b.ttl != nil && b.ttl.perKey
	// The server counts a TTL in whole seconds, at least one.
	ttl = max(ttl.Round(time.Second), time.Second)
	var err error
	var next uint64
	switch {
	case rev == 0 && perKey:
		next, err = b.kv.Create(ctx, k, data, jetstream.KeyTTL(ttl))
	case rev == 0:
		next, err = b.kv.Create(ctx, k, data)
	case perKey:
		msg := &nats.Msg{Subject: b.ttl.subject + k, Data: data, Header: nats.Header{}}
		var ack *jetstream.PubAck
		ack, err = b.ttl.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgTTL(ttl))
		if err == nil {
			next = ack.Sequence
		}
	default:
		next, err = b.kv.Update(ctx, k, data, rev)
	}
	if conflict(err) {
		return 0, errRaced
	}
	return next, err
}

// conflict reports whether err says the key was not at the revision a
// write expected. A replicated stream answers 10164 where a single replica
// answers 10071, and Create over a deleted key returns the bare API error.
func conflict(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// key is the bucket key of a session: bucket keys allow only letters,
// digits and -_=./, so the aggregator's id is base64url-encoded.
func key(aggregator, sessionID string) string {
	return aggregator + "." + base64.RawURLEncoding.EncodeToString([]byte(sessionID))
}

// load returns the state under k and its revision, or nil when there is
// none. A state older than the session's time to live that the server has
// not removed (one without per-key TTLs) is none, at its revision, so the
// next save writes over it.
func (b bucket) load(ctx context.Context, k string) (*state, uint64, error) {
	e, err := b.get(ctx, k)
	if err != nil {
		return nil, 0, fmt.Errorf("load session: %w", err)
	}
	if e == nil {
		return nil, 0, nil
	}
	if b.ttl != nil && !b.ttl.perKey && time.Since(e.Created()) > b.ttl.session {
		return nil, e.Revision(), nil
	}
	var st state
	if err := json.Unmarshal(e.Value(), &st); err != nil || len(st.Path) == 0 {
		return nil, 0, fmt.Errorf("load session: unreadable state (%v)", err)
	}
	return &st, e.Revision(), nil
}

// save writes st: a new key when rev is 0, else only over revision rev. It
// returns errRaced when another hop wrote the session first.
func (b bucket) save(ctx context.Context, k string, st *state, rev uint64) error {
	data, err := marshal(st)
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	ttl := DefaultTTL
	if b.ttl != nil {
		ttl = b.ttl.session
	}
	_, err = b.put(ctx, k, data, rev, ttl)
	if err != nil && !errors.Is(err, errRaced) {
		return fmt.Errorf("save session: %w", err)
	}
	return err
}

// marshal is json.Marshal without its HTML escaping: a state holds screens
// and merchants' names, where each & < > would take 6 bytes of the
// stateBytesMax a value may have.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
