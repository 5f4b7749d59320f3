package notify

import (
	"context"
	"fmt"
	"time"
)

// Provider hands an SMS to an SMS provider (Twilio) or the local outbox.
type Provider interface {
	// Name is what Stored.Provider records: ProviderTwilio, ProviderOutbox.
	Name() string
	// Send hands m to the provider and returns the provider's id for it.
	// An error that is not a *SendError counts as transient and as possibly
	// sent (the provider may have taken it before the error).
	Send(ctx context.Context, m Stored) (Accepted, error)
}

// Finder is a Provider that can tell whether it already has a message: the
// Sender asks it before sending again a message whose earlier attempt is in
// doubt (its Sender died after handing it over, or the answer was lost).
// A Provider without it must make a repeated Send harmless.
type Finder interface {
	// Find returns the provider's messages to m.To with exactly m.Text
	// created since the given time, newest first, at most a page or two.
	Find(ctx context.Context, m Stored, since time.Time) ([]Accepted, error)
}

// Accepted is a provider's message.
type Accepted struct {
	ID     string // the provider's message id (Twilio's SID)
	Status string // StatusAccepted, StatusQueued or StatusSent; a Finder may report a later one
}

// SendError is a provider's failure, classified for the Sender. Providers
// return it (wrapping the cause) so the Sender knows whether to retry, and
// whether the provider may have the message anyway.
type SendError struct {
	Code string // the provider's error code ("21211"), if it gave one
	// Permanent means sending again cannot succeed: an invalid number, a
	// recipient who sent STOP. The SMS is failed at once.
	Permanent bool
	// MaybeSent means the provider may have taken the message (a timeout,
	// a connection lost after the request went out, a 5xx): before sending
	// again the Sender asks the provider's Finder.
	MaybeSent bool
	Err       error
}

// Error is the cause, with the provider's code.
func (e *SendError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%v (code %s)", e.Err, e.Code)
	}
	return e.Err.Error()
}

// Unwrap is the cause.
func (e *SendError) Unwrap() error { return e.Err }

// The SMS sender's defaults that the command's flags share (--sms-rate,
// --sms-rate-per-phone, --sms-attempts): one source for both.
const (
	// DefaultSMSRate bounds the messages a second to the provider, below
	// Twilio's default API concurrency and what a few long codes or a
	// messaging service accept without queueing for hours.
	DefaultSMSRate = 30
	// DefaultSMSPhoneRate bounds the messages a minute to one handset: a
	// busy agent gets a receipt for every deposit, while a loop texting one
	// phone is stopped at one message every two seconds.
	DefaultSMSPhoneRate = 30
	// DefaultSMSAttempts bounds the attempts of one SMS before it is
	// failed. With backoffs from 10 s doubling to 30 min, 8 attempts span 16
	// to 21 minutes of provider trouble (the 7 waits add up to 1,270 s,
	// jittered into their upper half); sends put back during an outage pause
	// do not count, so a long outage mostly spends the attempts of the few
	// rows that probe it. Each attempt past the 8th adds up to 30 minutes.
	DefaultSMSAttempts = 8
)
