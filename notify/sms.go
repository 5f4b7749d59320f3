package notify

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Kinds of recorded SMS.
const (
	KindReceipt = "receipt" // a Receipt of a wallet event
	KindMessage = "message" // a Message another process handed over
)

// Statuses of a recorded SMS. A row starts pending; a Sender claims it
// (sending) and hands it to a provider, which accepts it (accepted or
// queued, or sent for the outbox); the provider's delivery reports move it
// on to sent and then to one of the final statuses. A row the provider
// refused, or that ran out of attempts, is failed without ever reaching it.
// Statuses only move forward, in the order listed (the three final ones
// rank equal).
const (
	StatusPending     = "pending"     // waiting for its next attempt (NextAttempt)
	StatusSending     = "sending"     // claimed by a Sender, or in doubt whether the provider has it
	StatusAccepted    = "accepted"    // the provider took it into a messaging service's queue
	StatusQueued      = "queued"      // the provider has it, not yet handed to the carrier
	StatusSent        = "sent"        // handed to the carrier (for the outbox: written there)
	StatusDelivered   = "delivered"   // the handset has it
	StatusUndelivered = "undelivered" // the carrier could not deliver it
	StatusFailed      = "failed"      // never sent: refused, or out of attempts; LastError says why
)

// Providers, as recorded in Stored.Provider.
const (
	ProviderTwilio = "twilio"
	ProviderOutbox = "outbox"
)

const (
	// keyBytesMax bounds a dedup key: "<transfer>:<account>" or a message's
	// "reply:<provider>:<id>" fit with room to spare.
	keyBytesMax = 160
	// phoneBytesMax is E.164's "+" and 15 digits, with room for the column.
	phoneBytesMax = 20
	// languageBytesMax bounds a locales code.
	languageBytesMax = 8
	// textCharsMax is Twilio's limit on a message body; more is refused.
	textCharsMax = 1600
)

// ErrUnknownMessage is returned by Report for a provider message id that no
// recorded SMS has: another application's message on the same provider
// account, or a report that overtook the Sender's own record of the id by a
// few milliseconds. It is not a failure of the notifier; log it at info.
var ErrUnknownMessage = errors.New("notify: no recorded sms has that provider id")

// ErrUnknownStatus is returned by Report for a status word the notifier
// does not know; the report is ignored.
var ErrUnknownStatus = errors.New("notify: unknown delivery status")

// Outgoing is an SMS to record for sending.
type Outgoing struct {
	Key      string // unique: a second Record of the key inserts nothing
	Kind     string // KindReceipt or KindMessage
	Transfer int64  // the transfer a receipt is of; 0 for a message
	Account  int64  // the account a receipt is for; 0 for a message
	To       string // E.164
	Language string // a locales code
	Text     string
}

// Outgoing is r, to record.
func (r Receipt) Outgoing() Outgoing {
	return Outgoing{Key: r.Key, Kind: KindReceipt, Transfer: r.Transfer, Account: r.Account, To: r.To,
		Language: r.Language, Text: r.Text}
}

// OutgoingReceipts is rs, to record.
func OutgoingReceipts(rs []Receipt) []Outgoing {
	out := make([]Outgoing, len(rs))
	for i, r := range rs {
		out[i] = r.Outgoing()
	}
	return out
}

// Outgoing is m, to record.
func (m Message) Outgoing() Outgoing {
	return Outgoing{Key: m.Key, Kind: KindMessage, To: m.To, Language: m.Language, Text: m.Text}
}

// Validate reports why o cannot be recorded: a key, an E.164 phone and a
// text of at most 1600 characters are required. A consumer checks each
// message from the stream with it, so that one bad message is dropped
// rather than failing its whole batch in Record.
func (o Outgoing) Validate() error {
	switch {
	case o.Key == "" || len(o.Key) > keyBytesMax:
		return fmt.Errorf("notify: key %.40q: want 1 to %d bytes", o.Key, keyBytesMax)
	case o.Kind != KindReceipt && o.Kind != KindMessage:
		return fmt.Errorf("notify: %s: kind %.20q, want %s or %s", o.Key, o.Kind, KindReceipt, KindMessage)
	case !isPhoneE164(o.To):
		return fmt.Errorf("notify: %s: phone %.20q is not E.164", o.Key, o.To)
	case len(o.Language) > languageBytesMax:
		return fmt.Errorf("notify: %s: language %.20q too long", o.Key, o.Language)
	case o.Text == "":
		return fmt.Errorf("notify: %s: no text", o.Key)
	case utf8.RuneCountInString(o.Text) > textCharsMax:
		return fmt.Errorf("notify: %s: text longer than %d characters", o.Key, textCharsMax)
	case !utf8.ValidString(o.Text):
		return fmt.Errorf("notify: %s: text is not UTF-8", o.Key)
	}
	return nil
}

// isE164 reports whether s is "+" and 7 to 15 digits, the first not 0.
func isPhoneE164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Stored is a recorded SMS, as List shows it.
type Stored struct {
	ID          int64
	Key         string
	Kind        string
	Transfer    int64
	Account     int64
	To          string
	Language    string
	Text        string
	Encoding    string // locales.GSM7 or locales.UCS2
	Parts       int    // SMS parts the text takes
	Status      string
	Provider    string // the provider that took it: ProviderTwilio or ProviderOutbox ("" before)
	ProviderID  string // the provider's message id (Twilio's MessageSid)
	Attempts    int    // attempts at the provider so far, sends and checks; put-backs do not count
	NextAttempt time.Time
	InDoubt     bool   // an attempt may have reached the provider: it is checked there before sending again
	LastError   string // why the last attempt failed, or why a delivery report says it failed
	ErrorCode   string // the provider's error code, if it gave one
	Created     time.Time
	Updated     time.Time
	Sent        time.Time // when the provider took it; zero before
	Delivered   time.Time // when a final delivery report arrived; zero before
}

// Clip cuts s to at most n bytes without splitting a UTF-8 character.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// reportStatuses maps a provider's status word to ours. Twilio's "sending"
// is its own queue, not our claim, so it counts as queued; "read" (WhatsApp)
// implies delivered; "canceled" (a scheduled message) was never sent.
var reportStatuses = map[string]string{
	"accepted":    StatusAccepted,
	"scheduled":   StatusAccepted,
	"queued":      StatusQueued,
	"sending":     StatusQueued,
	"sent":        StatusSent,
	"delivered":   StatusDelivered,
	"read":        StatusDelivered,
	"undelivered": StatusUndelivered,
	"failed":      StatusFailed,
	"canceled":    StatusFailed,
}

// ProviderStatus is a provider's answer as a status the row can take:
// accepted, queued or later; anything else the provider took is queued.
func ProviderStatus(st string) string {
	switch st {
	case StatusAccepted, StatusQueued, StatusSent, StatusDelivered, StatusUndelivered:
		return st
	}
	if mapped, ok := reportStatuses[st]; ok && mapped != StatusFailed {
		return mapped
	}
	return StatusQueued
}

// ReportStatus is the status a provider's delivery report word (any case)
// moves a row to, and whether the word is known.
func ReportStatus(word string) (string, bool) {
	st, ok := reportStatuses[strings.ToLower(word)]
	return st, ok
}
