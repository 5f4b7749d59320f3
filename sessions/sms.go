package sessions

import "errors"

// SMS is one inbound text message as a provider adapter (Twilio, Africa's
// Talking) translates it. The engine answers it with an SMSReply.
type SMS struct {
	// Provider names the adapter ("twilio", "africastalking"); with ID it
	// keys the message, so a provider's retry of the same webhook is
	// answered with the first reply and executes nothing again.
	Provider string
	// ID is the provider's message id (Twilio's MessageSid, Africa's
	// Talking's id).
	ID string
	// From is the sender's phone as the provider sent it; the engine
	// normalises it.
	From string
	// To is the number or shortcode the message was sent to, for logs.
	To string
	// Body is the text as received. It may carry a PIN: it is never
	// logged or stored as it is.
	Body string
}

// SMSReply is the engine's answer to an SMS: Text goes back to the sender,
// in Language (a locales code). An empty Text sends nothing (a sender over
// the reply rate limit, a duplicate still being answered).
type SMSReply struct {
	Text     string
	Language string
}

// ErrBadSMS is wrapped by the error SMS returns when the message itself is
// unusable (no id, a sender that is not a phone number): the adapter answers
// it with HTTP 400. Every other outcome is an SMSReply.
var ErrBadSMS = errors.New("bad sms")
