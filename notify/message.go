package notify

import (
	"time"
)

// Message is an SMS in the wallet's own words that is not a receipt of a
// wallet event: a start key, a PIN notice (NoticeMessage). The wallet hands
// it to the notifier with Client.Send, on SubjectSend, which only the
// wallet's NATS user may publish: its Text is free. A gateway's replies are
// Replies in the catalogue's words instead (reply.go).
type Message struct {
	// Key is unique per message: the notifier records it once, so a second
	// Send with the same key (a retried webhook, a redelivery) sends
	// nothing more. Prefix it with what made it ("reply:<provider>:<id>").
	Key      string `json:"key"`
	To       string `json:"to"`       // E.164
	Language string `json:"language"` // a locales code, recorded with it
	Text     string `json:"text"`
}

// Report is a provider's delivery report of a message the notifier sent.
type Report struct {
	Provider string `json:"provider"` // "twilio"
	ID       string `json:"id"`       // the provider's message id (Twilio's MessageSid)
	// Status is the provider's word: queued, sent, delivered, undelivered
	// or failed for Twilio.
	Status    string    `json:"status"`
	ErrorCode string    `json:"error_code,omitempty"`
	At        time.Time `json:"at"` // when the report arrived
}

// Consent is a person's choice about promotional SMS, from the carriers'
// reserved words STOP and START. Receipts and replies are not promotional
// and go regardless; a promotional sender asks Consents.Promotions first.
type Consent struct {
	Phone      string    `json:"phone"` // E.164
	Promotions bool      `json:"promotions"`
	At         time.Time `json:"at"` // when the person said it: a later choice wins
}
