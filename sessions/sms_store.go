package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kibubu/kibubu/locales"
)

// The SMS records in the session bucket, each under its own key namespace
// and with its own time to live:
//
//	sms.msg.<provider>.<base64url id>  one per message received (smsMessage)
//	sms.conv.<phone digits>            the command awaiting a PIN (smsConv)
//	sms.rate.<phone digits>            the messages counted against the limit (smsRate)
//	sms.appr.<phone digits>            what its PIN and NO replies did to its approvals (smsAnswered)
//
// None holds a PIN or a message's body.

const (
	// smsMessageTTL is how long a message id is remembered: a provider
	// retries a webhook within minutes, but a PIN reply delivered again
	// (or replayed by whoever captured a signed webhook) later than the id
	// is remembered would be taken for the PIN of whatever then awaits
	// one. So it is kept longer than anything a PIN can approve lives (a
	// payment request at most merchant.RequestTTLMax) and than the week a
	// security review asked for: 8 days.
	smsMessageTTL = 8 * 24 * time.Hour
	// smsPINWindow is how long a confirmation awaits its PIN (the Minutes
	// of sms.confirm.*: whole minutes, at least 2).
	smsPINWindow = 5 * time.Minute
	// smsPINMinutes is smsPINWindow as the confirmations say it.
	smsPINMinutes = int(smsPINWindow / time.Minute)
	// smsConvGrace keeps a conversation past its window, so that a PIN
	// reply still being answered at the end can write its outcome; the
	// stored expiry, not the key's TTL, is what refuses a late PIN.
	smsConvGrace = time.Minute
	// smsConvKept is how long a conversation is kept after its window:
	// as long as a message id, longer than any approval a PIN could pay
	// stays pending, so that a PIN meant for the command but arriving
	// after its window is never taken for an approval made meanwhile.
	smsConvKept = smsMessageTTL
	// smsPINTriesMax bounds the PIN replies one confirmation takes to the
	// wallet: it locks a PIN after 3 wrong ones, and the try number is part
	// of the wallet's idempotency key (at most 128 bytes).
	smsPINTriesMax = 5
	// smsWriteAttemptsMax bounds the compare-and-set retries of one record
	// written by concurrent messages of the same phone.
	smsWriteAttemptsMax = 3
	// smsAnsweredWindow is how long after a PIN or NO answered an approval
	// the approvals then pending are not answered by another: the time a
	// person may take to send the same reply again, thinking the first lost.
	smsAnsweredWindow = smsPINWindow
	// smsSeenMax bounds smsAnswered.Seen (the newest are kept), so that the
	// record stays far within stateBytesMax: ids are ~30 bytes.
	smsSeenMax = 40
)

// smsMessage records a message received, under its provider's id, before
// anything is done for it: the first delivery creates it, a repeat finds it.
type smsMessage struct {
	Phone    string        `json:"phone"` // E.164, the sender
	Command  string        `json:"command"`
	Received time.Time     `json:"received"`
	Done     bool          `json:"done,omitempty"` // answered: Reply (maybe empty) is the answer
	Reply    string        `json:"reply,omitempty"`
	Words    locales.Words `json:"words,omitzero"` // Reply's catalogue words
	Lang     string        `json:"lang,omitempty"`
}

// smsConv is a command awaiting its PIN, or done with.
type smsConv struct {
	Verb string `json:"verb"`
	// Message keys the command's message (key(provider, id)); with Tries
	// it makes the wallet's idempotency key.
	Message string `json:"message"`
	To      string `json:"to,omitempty"`   // the recipient's phone, till or business number; an airtime phone
	Name    string `json:"name,omitempty"` // its registered name, as replies show it
	Amount  int64  `json:"amount,omitempty"`
	Fee     int64  `json:"fee,omitempty"`
	Account string `json:"account,omitempty"` // a pay-bill account reference
	// Expires ends the wait for the PIN.
	Expires time.Time `json:"expires"`
	// Tries counts the PIN replies taken to the wallet; Busy, when set, is
	// when the reply of try Tries was taken there and is still being
	// answered.
	Tries  int       `json:"tries,omitempty"`
	Busy   time.Time `json:"busy,omitzero"`
	Closed bool      `json:"closed,omitempty"` // carried out, refused, cancelled or expired
	// Ended is when it was closed, if before Expires.
	Ended time.Time `json:"ended,omitzero"`
}

// end is when c stopped awaiting a PIN (or will).
func (c *smsConv) end() time.Time {
	if !c.Ended.IsZero() && c.Ended.Before(c.Expires) {
		return c.Ended
	}
	return c.Expires
}

// smsAnswered is what a phone's PIN and NO replies sent with no command
// awaiting them did to its approvals: the answer being made, and what was
// pending when the last one was made, so that a PIN sent twice does not pay
// a second, older request the person was not prompted about last.
type smsAnswered struct {
	// Busy, when set, is when a message took the newest approval to the
	// wallet; it is still being answered.
	Busy time.Time `json:"busy,omitzero"`
	// Seen are the approvals that were pending, besides the one answered,
	// when a reply last answered one (At). For smsAnsweredWindow after, a
	// PIN or NO answers only an approval that came since.
	Seen []string  `json:"seen,omitempty"`
	At   time.Time `json:"at,omitzero"`
	// Prompted is the approval a PIN was last refused for (sms.pin.which
	// asked for its PIN again), at PromptedAt: a PIN within smsPINWindow
	// answers it.
	Prompted   string    `json:"prompted,omitempty"`
	PromptedAt time.Time `json:"prompted_at,omitzero"`
}

// smsRate is the messages of one phone within the rate window.
type smsRate struct {
	Times  []time.Time `json:"times"`            // when each counted message came, oldest first
	Warned bool        `json:"warned,omitempty"` // sms.rate_limited was sent since the last counted one
}

func messageKey(provider, id string) string { return "sms.msg." + key(provider, id) }

func convKey(phone string) string { return "sms.conv." + strings.TrimPrefix(phone, "+") }

func rateKey(phone string) string { return "sms.rate." + strings.TrimPrefix(phone, "+") }

func answeredKey(phone string) string { return "sms.appr." + strings.TrimPrefix(phone, "+") }

// stamp is t as records keep it: UTC, to the second.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// getJSON loads the record under k into v and returns its revision, or 0
// when there is none.
func (b bucket) getJSON(ctx context.Context, k string, v any) (uint64, error) {
	e, err := b.get(ctx, k)
	if err != nil || e == nil {
		return 0, err
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, fmt.Errorf("unreadable %s: %w", k, err)
	}
	return e.Revision(), nil
}

// putJSON writes v under k over revision rev (0: a new key), living ttl. It
// returns the new revision or errRaced.
func (b bucket) putJSON(ctx context.Context, k string, v any, rev uint64, ttl time.Duration) (uint64, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	return b.put(ctx, k, data, rev, ttl)
}

// claim records message m of phone before anything is done for it. It
// returns the revision of the new record, or 0 and the record found when
// the id was seen before.
func (e *Engine) claim(ctx context.Context, k string, m smsMessage) (uint64, *smsMessage, error) {
	rev, err := e.store.putJSON(ctx, k, m, 0, smsMessageTTL)
	if !errors.Is(err, errRaced) {
		return rev, nil, err
	}
	var seen smsMessage
	if rev, err = e.store.getJSON(ctx, k, &seen); err != nil {
		return 0, nil, err
	}
	if rev == 0 {
		// Created and gone between the two calls: only a record that
		// outlived its TTL does that, so this is no repeat of a live one.
		return 0, nil, fmt.Errorf("message record %s vanished", k)
	}
	return 0, &seen, nil
}

// answered records the reply given to a message claimed at revision rev.
func (e *Engine) answered(ctx context.Context, k string, m smsMessage, rev uint64, r SMSReply) {
	m.Done, m.Reply, m.Words, m.Lang = true, r.Text, r.Words, r.Language
	if _, err := e.store.putJSON(ctx, k, m, rev, smsMessageTTL); err != nil {
		// A repeat of the message now gets no reply; nothing is done twice.
		e.log.Error("sms message record", "err", err)
	}
}

// rate counts a message of phone against the limit: ok when it is within
// it; otherwise warn for the first one over since the last counted, which
// gets sms.rate_limited. The limit is a sliding window: each counted
// message's time is kept until it leaves the window.
func (e *Engine) rate(ctx context.Context, phone string) (ok, warn bool, err error) {
	k, now := rateKey(phone), stamp(e.cfg.Now())
	for range smsWriteAttemptsMax {
		var r smsRate
		rev, err := e.store.getJSON(ctx, k, &r)
		if err != nil {
			return false, false, err
		}
		kept := r.Times[:0]
		for _, t := range r.Times {
			if now.Sub(t) < e.cfg.SMSRateWindow {
				kept = append(kept, t)
			}
		}
		r.Times = kept
		switch {
		case len(r.Times) < e.cfg.SMSRateMessages:
			r.Times, r.Warned, ok = append(r.Times, now), false, true
		case !r.Warned:
			r.Warned, warn = true, true
		default:
			return false, false, nil
		}
		// The record lives as long as its newest time counts.
		_, err = e.store.putJSON(ctx, k, r, rev, e.cfg.SMSRateWindow)
		if !errors.Is(err, errRaced) {
			return ok, warn, err
		}
		ok, warn = false, false
	}
	return false, false, fmt.Errorf("rate record %s: %w %d times", k, errRaced, smsWriteAttemptsMax)
}

// loadConv returns phone's conversation and its revision; nil when there is
// none.
func (e *Engine) loadConv(ctx context.Context, phone string) (*smsConv, uint64, error) {
	var c smsConv
	rev, err := e.store.getJSON(ctx, convKey(phone), &c)
	if err != nil || rev == 0 {
		return nil, rev, err
	}
	return &c, rev, nil
}

// saveConv writes phone's conversation over revision rev (0: a new one).
// It is kept smsConvKept after it ends, for prompted to tell whether a bare
// PIN may have been meant for it.
func (e *Engine) saveConv(ctx context.Context, phone string, c *smsConv, rev uint64) (uint64, error) {
	if c.Closed && c.Ended.IsZero() {
		c.Ended = stamp(e.cfg.Now())
	}
	ttl := c.Expires.Sub(e.cfg.Now()) + smsConvKept
	return e.store.putJSON(ctx, convKey(phone), c, rev, max(ttl, time.Second))
}

// open reports whether c awaits a PIN at now.
func (c *smsConv) open(now time.Time) bool {
	return c != nil && !c.Closed && now.Before(c.Expires)
}

// loadAnswered returns phone's answers record and its revision; an empty
// one at revision 0 when there is none.
func (e *Engine) loadAnswered(ctx context.Context, phone string) (*smsAnswered, uint64, error) {
	var a smsAnswered
	rev, err := e.store.getJSON(ctx, answeredKey(phone), &a)
	return &a, rev, err
}

// saveAnswered writes phone's answers record over revision rev (0: a new
// one). It lives as long as its window or its busy mark counts.
func (e *Engine) saveAnswered(ctx context.Context, phone string, a *smsAnswered, rev uint64) (uint64, error) {
	ttl := max(smsAnsweredWindow, 2*e.cfg.WalletTimeout) + smsConvGrace
	return e.store.putJSON(ctx, answeredKey(phone), a, rev, ttl)
}
