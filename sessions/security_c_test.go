package sessions_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/sessions"
)

// failingRate is a session bucket whose reads of the SMS rate records fail,
// as a store in trouble does.
type failingRate struct{ jetstream.KeyValue }

func (f failingRate) Get(ctx context.Context, k string) (jetstream.KeyValueEntry, error) {
	if strings.HasPrefix(k, "sms.rate.") {
		return nil, errors.New("store unavailable")
	}
	return f.KeyValue.Get(ctx, k)
}

// Finding 10 (medium): the SMS rate limit failed open on a store error and
// on lost compare-and-set races. 50 messages at once from one phone get at
// most the limit's answers and one sms.rate_limited; a store error answers
// nothing and does nothing.
func TestSecuritySMSRateLimitFailsClosed(t *testing.T) {
	const limit = 3
	x := smsHarness(t, func(c *sessions.Config) { c.SMSRateMessages = limit })
	h := x.h
	alice := h.w.Customer("Alice", pin, 100_000)
	h.setLang(alice, "fr")

	const messages = 50
	replies := make([]sessions.SMSReply, messages)
	var wg sync.WaitGroup
	for i := range messages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := x.e.SMS(context.Background(), sessions.SMS{Provider: "twilio", ID: newID(), From: alice, Body: "HELP"})
			if err != nil {
				t.Errorf("message %d: %v", i, err)
			}
			replies[i] = r
		}()
	}
	wg.Wait()
	counts := map[string]int{}
	for _, r := range replies {
		switch r {
		case reply("fr", "sms.help", nil):
			counts["help"]++
		case reply("fr", "sms.rate_limited", nil):
			counts["rate_limited"]++
		case sessions.SMSReply{}:
			counts["none"]++
		default:
			t.Errorf("unexpected reply %+v", r)
		}
	}
	t.Logf("50 messages at once: %v", counts)
	if counts["help"] > limit || counts["rate_limited"] > 1 {
		t.Errorf("got %d answers and %d rate_limited notices, want at most %d and 1", counts["help"], counts["rate_limited"], limit)
	}
	if counts["help"] == 0 {
		t.Errorf("no message was answered: the limit let none through")
	}

	// A store that fails: nothing done, nothing answered.
	broken := h.texter(h.w.Client, func(c *sessions.Config) { c.Bucket = failingRate{h.kv} })
	bob := h.w.Customer("Bob", pin, 0)
	for i, body := range []string{"HELP", "BAL", pin} {
		h.checkSMS(fmt.Sprint("store error ", i), broken.send(bob, body), sessions.SMSReply{})
	}
	h.checkSMS("nothing awaited a PIN", x.send(bob, pin), reply("en", "sms.pin.expired", nil))
}
