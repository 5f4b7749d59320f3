// Package webhooktest is a merchant's webhook receiver for tests: one
// endpoint per merchant on a loopback httptest server, which checks each
// request's signature, answers as the test says, and notes requests of one
// merchant that overlap. The webhook sender's tests and the notifier's
// end-to-end test use it.
package webhooktest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kibubu/kibubu/notify"
)

// Received is one POST the receiver got.
type Received struct {
	Merchant, Event, Type, Delivery string
	Body                            []byte
	Status                          int  // what the receiver answered (0: it timed out)
	Verified                        bool // the signature checked out with the merchant's secret
}

// Receiver is a merchant's webhook endpoint for tests, one path per
// merchant (/m/<number>). answer decides each request's fate by its number
// (1 for the first); it also notes any two requests of one merchant in
// flight at once, which the order per merchant forbids.
type Receiver struct {
	t      testing.TB
	srv    *httptest.Server
	answer func(n int64) (status int, delay time.Duration)

	n       atomic.Int64
	mu      sync.Mutex
	secrets map[string][]byte
	got     []Received
	busy    map[string]bool
	overlap []string
}

// NewReceiver starts a receiver until the test ends; answer decides each
// request's status, and a delay past the sender's timeout.
func NewReceiver(t testing.TB, answer func(n int64) (int, time.Duration)) *Receiver {
	r := &Receiver{t: t, answer: answer, secrets: map[string][]byte{}, busy: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// URL is merchant's endpoint.
func (r *Receiver) URL(merchant string) string { return r.srv.URL + "/m/" + merchant }

// SetSecret sets the secret merchant's requests are checked with.
func (r *Receiver) SetSecret(merchant, secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets[merchant] = []byte(secret)
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	merchant := strings.TrimPrefix(req.URL.Path, "/m/")
	body, _ := io.ReadAll(req.Body)
	n := r.n.Add(1)
	status, delay := r.answer(n)
	r.mu.Lock()
	secret := r.secrets[merchant]
	rec := Received{Merchant: merchant, Event: req.Header.Get(notify.HeaderEventID), Type: req.Header.Get(notify.HeaderEventType),
		Delivery: req.Header.Get(notify.HeaderDeliveryID), Body: body, Status: status,
		Verified: req.Method == http.MethodPost && req.Header.Get("Content-Type") == "application/json" &&
			notify.VerifyWebhook(secret, req.Header.Get(notify.HeaderSignature), body, 0, time.Now()) == nil}
	if delay > 0 {
		// Past the sender's timeout: it hangs up and may try again while
		// this handler still sleeps, so this one does not count as in flight.
		rec.Status = 0
		r.got = append(r.got, rec)
		r.mu.Unlock()
		time.Sleep(delay)
		return
	}
	if r.busy[merchant] {
		r.overlap = append(r.overlap, fmt.Sprintf("%s: %s while another was in flight", merchant, rec.Event))
	}
	r.busy[merchant] = true
	r.mu.Unlock()
	// Hold the request a moment, so that a second one of the merchant
	// would be seen overlapping.
	time.Sleep(time.Millisecond)
	r.mu.Lock()
	r.busy[merchant] = false
	r.got = append(r.got, rec)
	r.mu.Unlock()
	w.WriteHeader(status)
}

// Received is every request so far, in the order they came.
func (r *Receiver) Received() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// Delivered returns, per merchant, the event ids the receiver acknowledged
// with a 2xx, in the order it did.
func (r *Receiver) Delivered() map[string][]string {
	out := map[string][]string{}
	for _, g := range r.Received() {
		if g.Status >= 200 && g.Status < 300 {
			out[g.Merchant] = append(out[g.Merchant], g.Event)
		}
	}
	return out
}

// Overlap lists the requests that came while another of their merchant's
// was in flight, which the order per merchant forbids.
func (r *Receiver) Overlap() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.overlap)
}
