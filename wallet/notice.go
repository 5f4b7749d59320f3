package wallet

import "time"

// NoticeKind names what a Notice tells an account's owner.
type NoticeKind string

const (
	// NoticeStartKey: an operator opened the account (an agent, an
	// imported customer); the notice carries the start key for its first PIN.
	NoticeStartKey NoticeKind = "start_key"
	// NoticePINReset: an operator reset the PIN; the notice carries the
	// new start key.
	NoticePINReset NoticeKind = "pin_reset"
	// NoticePINChanged: the owner (or whoever knew the PIN) changed it.
	NoticePINChanged NoticeKind = "pin_changed"
	// NoticeSIMSwapHold: the SIM-swap gate held the account (see
	// SIMSwapChecker); the owner is told what is held and how to clear it.
	NoticeSIMSwapHold NoticeKind = "sim_swap_hold"
	// NoticeSIMSwapClear: an operator cleared the hold.
	NoticeSIMSwapClear NoticeKind = "sim_swap_clear"
)

// simSwapNoticeKind returns the notice owed when an account's status goes
// from one status to another, if any: a hold placed, or a hold cleared
// (set active). A freeze of a held account is not a clearance and tells
// nothing (nor does the unfreeze after it: the SIM change stands).
func simSwapNoticeKind(from, to Status) (NoticeKind, bool) {
	switch {
	case from == StatusActive && to == StatusSIMSwapHold:
		return NoticeSIMSwapHold, true
	case from == StatusSIMSwapHold && to == StatusActive:
		return NoticeSIMSwapClear, true
	}
	return "", false
}

// Notice is an SMS the owner of an account is owed about its PIN or a
// SIM-swap hold, handed to Config.Notify once the change has committed. It
// is not an outbox event: a
// start key must not sit in the outbox table or the event stream (kept 30
// days), so a notice lost to a crash between the commit and the hand-over
// is not sent again; the operator who issued a start key also has it
// printed, and a PIN reset issues a new one.
type Notice struct {
	Kind     NoticeKind
	Account  Account
	StartKey string    // NoticeStartKey and NoticePINReset: the one-time key, in clear
	Expires  time.Time // when StartKey stops working
	At       time.Time
}

// notify hands n to Config.Notify, if set.
func (s *Service) notify(n Notice) {
	if s.cfg.Notify != nil {
		s.cfg.Notify(n)
	}
}

// observePIN reports a wrong or refused PIN check to Config.ObservePIN,
// with the source's channel: one of a few known words, so that a caller's
// made-up sources cannot grow a metric's labels.
func (s *Service) observePIN(a PINAttempt, result string) {
	if s.cfg.ObservePIN == nil {
		return
	}
	ch := channel(a.Source)
	switch ch {
	case "ussd", "sms", "api", unattributed:
	default:
		ch = "other"
	}
	s.cfg.ObservePIN(ch, result)
}
