package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kibubu/kibubu/locales"
)

// Replies: what a gateway may have the notifier send (issue 11, finding 5).
//
// A gateway answers conversations; it never writes an SMS of its own. It
// hands the notifier two things, on subjects its NATS user may publish:
//
//   - an Inbound, as soon as it is answering a phone: an SMS that came in
//     (its provider's message id), or a USSD or SMS money step whose outcome
//     it may have to tell later (the wallet's idempotency key of the step);
//   - a Reply to an Inbound: a catalogue message (locales.Words) with short,
//     checked arguments, which the notifier renders in the language named.
//
// The notifier records each Inbound with the time the stream took it, and
// sends a Reply only to the Inbound's phone, only while the Inbound is at
// most ReplyWindow old (both times are the stream's, which the gateway does
// not set), and at most once per Inbound (the SMS is keyed by it). Only
// the catalogue messages a conversation uses may be named (replyMessage):
// never a receipt, a payment prompt or a PIN notice, whose words a gateway
// could otherwise forge. Free text (Message, SubjectSend) is the wallet's
// alone: the gateway's NATS user cannot publish it.
//
// The gateway remains the only witness of an inbound SMS: a stolen gateway
// credential can still record an Inbound for any phone and answer it, with
// any conversation message and arguments that pass checkArgText. What it
// can no longer do is say anything else: no link, no prose, no receipt or
// start key.

const (
	// ReplyWindow is how long after its Inbound a Reply may come: the late
	// outcome of a money step comes after the sessions' retries (two
	// minutes), a keyword's reply at once; the rest is for a stream slow to
	// take the Reply.
	ReplyWindow = 10 * time.Minute
	// InboundKeep is how long an Inbound is kept: well past ReplyWindow,
	// so that a Reply offered again late still finds it (and is refused).
	InboundKeep = 24 * time.Hour
	// inboundIDBytesMax bounds an Inbound's id: a provider's message id
	// (64 bytes) with its provider, or a wallet idempotency key (128), so
	// that "reply:" and the id fit keyBytesMax.
	inboundIDBytesMax = 128
	// wordsArgsMax bounds the arguments of one catalogue message: the most
	// any has is six.
	wordsArgsMax = 8
	// argNameBytesMax bounds an argument's name ("Statement").
	argNameBytesMax = 16
	// argTextCharsMax bounds a Text argument: a name (locales.NameCharsMax)
	// or an amount with its code, with room.
	argTextCharsMax = 40
	// argNumMax bounds a Num argument: minutes, digits, tries left.
	argNumMax = 1_000_000
	// wordsDepthMax bounds Words within Words: a usage inside sms.malformed,
	// a statement's lines inside sms.mini; none goes deeper.
	wordsDepthMax = 1
	// wordsLinesMax bounds Lines: a mini statement's title and lines, or
	// the approvals' title, lines and hint.
	wordsLinesMax = 16
	// replyBytesMax bounds a Reply as published: every limit above together
	// is far less.
	replyBytesMax = 16 << 10
)

// ErrNotReply is wrapped by Client.Reply's error for a Reply the notifier
// would refuse for its form or words: handing it over again cannot help.
var ErrNotReply = errors.New("notify: not a reply the notifier sends")

// Inbound is a phone a gateway is answering: ID names the message or step,
// and a Reply names ID.
type Inbound struct {
	ID    string `json:"id"`
	Phone string `json:"phone"` // E.164
}

// Reply is a gateway's answer to an Inbound: Words rendered in Language
// (a locales code) and sent to To, which must be the Inbound's phone.
type Reply struct {
	Inbound  string        `json:"inbound"`
	To       string        `json:"to"`
	Language string        `json:"language"`
	Words    locales.Words `json:"words"`
}

// Key is the key of the SMS a Reply makes: one per Inbound, so a second
// Reply to it sends nothing more.
func (r Reply) Key() string { return replyKeyPrefix + r.Inbound }

// replyKeyPrefix starts the key of a Reply's SMS.
const replyKeyPrefix = "reply:"

func (in Inbound) Check() error {
	if err := checkInboundID(in.ID); err != nil {
		return err
	}
	if !isPhoneE164(in.Phone) {
		return errors.New("notify: an inbound's phone must be E.164")
	}
	return nil
}

func checkInboundID(id string) error {
	if id == "" || len(id) > inboundIDBytesMax {
		return fmt.Errorf("notify: an inbound id must be 1 to %d bytes", inboundIDBytesMax)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return errors.New("notify: an inbound id must be printable ASCII without spaces")
		}
	}
	return nil
}

// check reports why r is not a Reply the notifier sends, whatever its
// Inbound: its form, its message and its arguments. With cat it also checks
// the language; the words are rendered (and so fully checked) by the
// notifier.
func (r Reply) Check(cat *locales.Catalog) error {
	if err := checkInboundID(r.Inbound); err != nil {
		return err
	}
	if !isPhoneE164(r.To) {
		return errors.New("notify: a reply's phone must be E.164")
	}
	if cat != nil && !slices.Contains(cat.Languages(), r.Language) {
		return fmt.Errorf("notify: reply language %.8q is not the catalogue's", r.Language)
	}
	return checkWords(r.Words, 0)
}

// DecodeReply reads a Reply as the notifier's stream carries it, checked
// as check does with cat. It is the notifier's parser of what a gateway
// publishes: outside input.
func DecodeReply(data []byte, cat *locales.Catalog) (Reply, error) {
	if len(data) > replyBytesMax {
		return Reply{}, fmt.Errorf("notify: a reply of %d bytes, at most %d", len(data), replyBytesMax)
	}
	var r Reply
	if err := json.Unmarshal(data, &r); err != nil {
		return Reply{}, fmt.Errorf("notify: reply: %w", err)
	}
	if err := r.Check(cat); err != nil {
		return Reply{}, err
	}
	return r, nil
}

// replyMessage reports whether a Reply may name catalogue message id: what
// the sessions' SMS replies and late outcomes say (sms.*, error.*, and the
// USSD words they share), never what only the wallet's events or notices
// may say: a receipt (sms.receipt.*), a payment prompt (sms.prompt.*), a
// start key or PIN notice.
func replyMessage(id string) bool {
	switch {
	case strings.HasPrefix(id, "sms.receipt."), strings.HasPrefix(id, "sms.prompt."),
		id == "sms.pin.start_key", id == "sms.pin.reset", id == "sms.pin.changed":
		return false
	case strings.HasPrefix(id, "sms."), strings.HasPrefix(id, "error."),
		strings.HasPrefix(id, "ussd.approvals."), strings.HasPrefix(id, "ussd.statement."),
		strings.HasPrefix(id, "ussd.reverse.object"),
		id == "ussd.pending", id == "ussd.invalid.pin_format", id == "ussd.invalid.choice":
		return true
	}
	return false
}

func checkWords(w locales.Words, depth int) error {
	if !replyMessage(w.ID) {
		return fmt.Errorf("notify: a reply may not say %.40q", w.ID)
	}
	if len(w.Args) > wordsArgsMax {
		return fmt.Errorf("notify: %s: more than %d arguments", w.ID, wordsArgsMax)
	}
	for name, a := range w.Args {
		if name == "" || len(name) > argNameBytesMax || strings.Trim(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != "" {
			return fmt.Errorf("notify: %s: an argument's name must be 1 to %d letters", w.ID, argNameBytesMax)
		}
		set := 0
		if a.Text != "" {
			set++
			if err := checkArgText(a.Text); err != nil {
				return fmt.Errorf("notify: %s: %s: %w", w.ID, name, err)
			}
		}
		if a.Num != nil {
			set++
			if *a.Num < -argNumMax || *a.Num > argNumMax {
				return fmt.Errorf("notify: %s: %s: a number beyond %d", w.ID, name, argNumMax)
			}
		}
		if a.Words != nil || a.Lines != nil {
			set++
			if depth+1 > wordsDepthMax {
				return fmt.Errorf("notify: %s: words nested deeper than %d", w.ID, wordsDepthMax)
			}
		}
		if a.Words != nil {
			if a.Lines != nil {
				set++
			}
			if err := checkWords(*a.Words, depth+1); err != nil {
				return err
			}
		}
		if len(a.Lines) > wordsLinesMax {
			return fmt.Errorf("notify: %s: %s: more than %d lines", w.ID, name, wordsLinesMax)
		}
		for _, l := range a.Lines {
			if err := checkWords(l, depth+1); err != nil {
				return err
			}
		}
		if set > 1 {
			return fmt.Errorf("notify: %s: %s: an argument of more than one kind", w.ID, name)
		}
	}
	return nil
}

// checkArgText accepts a short value as conversations show one (a phone, a
// till or business number, a registered name, an amount, a date, a
// reference, a service code) and refuses what could make a message say
// something else: a line break, a character outside GSM-7, or anything a
// phone could take for a link or an address ("://", "www", "@", a dot
// before a letter as in a domain, a dot and a slash together as in an
// address with a path).
func checkArgText(s string) error {
	if utf8.RuneCountInString(s) > argTextCharsMax {
		return fmt.Errorf("a value longer than %d characters", argTextCharsMax)
	}
	if !locales.IsGSM7(s) {
		return errors.New("a value outside GSM-7")
	}
	lower := strings.ToLower(s)
	if strings.Contains(lower, "://") || strings.Contains(lower, "www") || strings.ContainsAny(s, "@\n\r\f\t\x1b") {
		return errors.New("a value that reads as a link or spans lines")
	}
	r := []rune(s)
	for i, c := range r {
		if c == '.' && i+1 < len(r) && unicode.IsLetter(r[i+1]) {
			return errors.New("a value that reads as a domain")
		}
	}
	if strings.Contains(s, ".") && strings.ContainsAny(s, "/\\") {
		return errors.New("a value that reads as an address")
	}
	return nil
}
