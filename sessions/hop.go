package sessions

import (
	"errors"
	"time"
)

// Hop is one request of a USSD session, as an aggregator adapter translates
// it: who dialled, which session, and what the person typed last. Adapters
// fill only what their protocol carries.
type Hop struct {
	// Aggregator names the adapter ("africastalking", "hubtel", "nalo"); with
	// SessionID it keys the session, so two aggregators' ids never collide.
	Aggregator string
	// SessionID is the aggregator's session id.
	SessionID string
	// Phone is the caller's number as the aggregator sent it (E.164 with or
	// without +, or national); the engine normalises it.
	Phone string
	// ServiceCode is the dialled code (*334#), for logs.
	ServiceCode string
	// Network is the caller's mobile network when the aggregator sends it
	// (Africa's Talking's networkCode, e.g. 63902); empty otherwise. With
	// Aggregator it names where a PIN came from (wallet.PINAttempt), for
	// the wallet's wrong-PIN budgets.
	Network string
	// New is true on the session's first hop.
	New bool
	// Input is the latest input: "" on a new session.
	Input string
	// History is the aggregator's whole input history when its protocol
	// sends one (Africa's Talking's text, every input joined by '*'); empty
	// otherwise. With it the engine tells a repeated hop from a new one and
	// keeps a '*' the person typed inside an input.
	History string
	// Seq is the hop's sequence number when the protocol has one (Hubtel's
	// Sequence, 1 on initiation); 0 otherwise. A hop whose Seq is not above
	// the last one seen is a repeat.
	Seq int
	// Language is a language hint (an Accept-Language value from a
	// simulator) used only for a phone with no account; an account's stored
	// language always wins. Empty when the aggregator sends none.
	Language string
}

// Screen is the engine's answer to a hop: the text to show and whether the
// session ends with it (Africa's Talking's END, Hubtel's release).
type Screen struct {
	Text string
	End  bool
}

// End is an aggregator's notice that a session is over (Africa's Talking's
// end-of-session callback, Hubtel's release or timeout), used to log and
// reconcile sessions that died mid-flow.
type End struct {
	Aggregator string
	SessionID  string
	Phone      string
	// Status is the aggregator's word for how it ended, e.g. Incomplete,
	// Success, Failed (Africa's Talking) or release, timeout (Hubtel).
	Status string
	// Duration and Hops are the aggregator's counts, zero when not sent.
	Duration time.Duration
	Hops     int
	// Error is the aggregator's error message, if any.
	Error string
}

// ErrBadHop is wrapped by the error Hop returns when the request itself is
// unusable (no session id, not a phone number): the adapter answers it with
// HTTP 400. Every other outcome, a wallet refusal or an outage included, is
// a Screen.
var ErrBadHop = errors.New("bad hop")
