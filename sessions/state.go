package sessions

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	// DefaultTTL is how long a session's state outlives its last hop: the
	// 180 s an aggregator keeps a USSD session open. An ended session's last
	// screen is kept as long, to answer its late or repeated hops.
	DefaultTTL = 180 * time.Second
	// BucketName is the key-value bucket of session state (under the
	// deployment's prefix, as the wallet's stream is).
	BucketName = "USSD_SESSIONS"
	// maxSessionIDBytes bounds an aggregator's session id: real ones are
	// under 64 bytes, and the id is part of the bucket key and of the
	// wallet's idempotency key (which the wallet bounds at 128).
	maxSessionIDBytes = 64
	// maxStateBytes bounds a stored state: a path of a dozen nodes and a few
	// short values; anything bigger is a bug.
	maxStateBytes = 4 << 10
)

// state is a session between hops, JSON in the bucket. It holds what the
// person entered and the last screen, never a PIN: a new PIN waiting for its
// confirmation is kept as a keyed hash (Seal), a verified current PIN as the
// wallet's short-lived proof (Proof), and inputs that may be PINs (the
// history, the last input) as keyed hashes.
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
	// HistLen and HistMAC are the length and keyed hash of the
	// aggregator's input history consumed so far (Africa's Talking's text),
	// Seq the last hop sequence number (Hubtel), LastMAC the keyed hash of
	// the last input: they tell a repeated hop from a new one. The history
	// and the input are kept only as keyed hashes because they hold PINs.
	HistLen int    `json:"hist_len,omitempty"`
	HistMAC string `json:"hist_mac,omitempty"`
	Seq     int    `json:"seq,omitempty"`
	LastMAC string `json:"last_mac,omitempty"`
	Hops    int    `json:"hops"` // inputs handled: part of money steps' idempotency keys
	Page    int    `json:"page,omitempty"`
	Err     string `json:"err,omitempty"` // the re-prompt line above the screen, kept for its pages
	Screen  Screen `json:"screen"`        // the last answer, repeated for a repeated hop
	Ended   bool   `json:"ended,omitempty"`
	Seal    string `json:"seal,omitempty"`
	Proof   string `json:"proof,omitempty"`
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
// other.
type bucket struct{ kv jetstream.KeyValue }

// EnsureBucket creates or updates the session bucket: one value per key,
// each expiring ttl after its last write. prefix is the deployment's subject
// prefix ("" for none), as natsapi.WithPrefix takes it.
func EnsureBucket(ctx context.Context, js jetstream.JetStream, prefix string, ttl time.Duration, replicas int) (jetstream.KeyValue, error) {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if replicas <= 0 {
		replicas = 1
	}
	name := BucketName
	if prefix != "" {
		name += "_" + prefix
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: name, Description: "USSD session state", History: 1, TTL: ttl,
		Replicas: replicas, MaxValueSize: maxStateBytes, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("session bucket %s: %w", name, err)
	}
	return kv, nil
}

// key is the bucket key of a session: bucket keys allow only letters,
// digits and -_=./, so the aggregator's id is base64url-encoded.
func key(aggregator, sessionID string) string {
	return aggregator + "." + base64.RawURLEncoding.EncodeToString([]byte(sessionID))
}

// load returns the state under k and its revision, or nil when there is none.
func (b bucket) load(ctx context.Context, k string) (*state, uint64, error) {
	e, err := b.kv.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("load session: %w", err)
	}
	var st state
	if err := json.Unmarshal(e.Value(), &st); err != nil || len(st.Path) == 0 {
		return nil, 0, fmt.Errorf("load session: unreadable state (%v)", err)
	}
	return &st, e.Revision(), nil
}

// errRaced is returned by save when another hop wrote the session first.
var errRaced = errors.New("session written by a concurrent hop")

// save writes st: a new key when rev is 0, else only over revision rev.
func (b bucket) save(ctx context.Context, k string, st *state, rev uint64) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	if rev == 0 {
		_, err = b.kv.Create(ctx, k, data)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return errRaced
		}
	} else {
		_, err = b.kv.Update(ctx, k, data, rev)
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
			return errRaced
		}
	}
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return nil
}
