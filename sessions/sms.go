package sessions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/notify"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	"github.com/kibubu/kibubu/wallet"
)

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
// in Language (a locales code). Words are the catalogue's words that Text
// renders, for a provider that answers through the notifier (notify.Reply),
// which sends only the catalogue's words. An empty Text sends nothing: a
// sender over the reply rate limit, a duplicate still being answered, a PIN
// reply while another one is, and a payment carried out (its receipt, which
// notify sends from the wallet's event, is the answer).
type SMSReply struct {
	Text     string
	Words    locales.Words
	Language string
}

// ErrBadSMS is wrapped by the error SMS returns when the message itself is
// unusable (no id, a sender that is not a phone number): the adapter answers
// it with HTTP 400. Every other outcome is an SMSReply.
var ErrBadSMS = errors.New("bad sms")

// Outbox sends an SMS that is not the reply to one; *notifyapi.Client
// implements it. Inbound records, when a money step goes pending, that its
// person may be told its outcome later; Reply tells it, in the catalogue's
// words, to that Inbound's phone only (notify.Reply). A Reply handed over
// twice is sent once.
type Outbox interface {
	Inbound(ctx context.Context, in notify.Inbound) error
	Reply(ctx context.Context, r notify.Reply) error
	// Consent records a phone's STOP or START: promotional SMS are the
	// sender's business, not the wallet's, and a phone needs no account
	// to refuse them.
	Consent(ctx context.Context, phone string, promotions bool) error
}

var _ Outbox = (*notifyapi.Client)(nil)

const (
	// DefaultServiceCode is the USSD code sms.not_registered names.
	DefaultServiceCode = "*334#"
	// serviceCodeCharsMax bounds Config.ServiceCode, as the locales tests
	// bound the Code of sms.not_registered (*384*123456#).
	serviceCodeCharsMax = 12
	// DefaultSMSRateMessages and DefaultSMSRateWindow are the reply rate
	// limit: a person sends a command and a PIN, or asks for help, a few
	// times in ten minutes; a phone sending more is a loop or an attack,
	// and every reply costs an SMS.
	DefaultSMSRateMessages = 10
	DefaultSMSRateWindow   = 10 * time.Minute
	// smsRateWindowMax bounds Config.SMSRateWindow: a day, past which a
	// limit on replies stops meaning "a loop or an attack".
	smsRateWindowMax = 24 * time.Hour
	// smsRateMessagesMax bounds Config.SMSRateMessages: the rate record keeps
	// one time per message counted, and a record is at most stateBytesMax.
	smsRateMessagesMax = 100
	// smsIDBytesMax bounds a provider's message id: Twilio's are 34 bytes,
	// Africa's Talking's under 64; the id is part of the bucket key and of
	// the wallet's idempotency key (at most 128 bytes).
	smsIDBytesMax = 64
	// smsBodyCharsMax bounds a body: Twilio's longest concatenated message
	// is 1,600 characters; a command fits in one part.
	smsBodyCharsMax = 1600
	// smsBodyBytesMax bounds the bytes of those characters (4 each in UTF-8).
	smsBodyBytesMax = 4 * smsBodyCharsMax
	// outboxTimeout bounds the hand-over of an Outbox message.
	outboxTimeout = 5 * time.Second
)

// SMS answers one inbound SMS: a keyword command (BAL, SEND, PAY, BILL,
// AIRTIME, MINI, LANG, HELP, STOP, START, in English, Kiswahili or French),
// the PIN a confirmation asked for, or NO to cancel it. doc.go tells the
// flow. Its error wraps ErrBadSMS when the message is unusable (no id or
// provider, a sender that is not a phone number, a body over 1,600
// characters); any other error means the message could not be recorded,
// nothing was done, and the provider may deliver it again. Every other
// outcome, a wallet refusal or outage included, is an SMSReply.
func (e *Engine) SMS(ctx context.Context, m SMS) (SMSReply, error) {
	switch {
	case !validAggregator(m.Provider):
		return SMSReply{}, fmt.Errorf("%w: the provider must be 1 to 32 lower-case letters and digits", ErrBadSMS)
	case m.ID == "" || len(m.ID) > smsIDBytesMax:
		return SMSReply{}, fmt.Errorf("%w: the message id must be 1 to %d bytes", ErrBadSMS, smsIDBytesMax)
	case len(m.Body) > smsBodyBytesMax || utf8.RuneCountInString(m.Body) > smsBodyCharsMax:
		return SMSReply{}, fmt.Errorf("%w: the body is over %d characters", ErrBadSMS, smsBodyCharsMax)
	}
	phone, err := wallet.NormalizePhone(m.From, e.cfg.Region)
	if err != nil {
		return SMSReply{}, fmt.Errorf("%w: the sender: %v", ErrBadSMS, err)
	}
	cmd := parseSMS(m.Body)
	k := messageKey(m.Provider, m.ID)
	log := e.log.With("provider", m.Provider, "sms", m.ID, "command", cmd.redacted())
	rec := smsMessage{Phone: phone, Command: cmd.redacted(), Received: stamp(e.cfg.Now())}
	rev, seen, err := e.claim(ctx, k, rec)
	switch {
	case err != nil:
		return SMSReply{}, fmt.Errorf("sms %s from %s: %w", m.ID, m.Provider, err)
	case seen != nil && seen.Phone != phone:
		return SMSReply{}, fmt.Errorf("%w: the message id was used by another sender", ErrBadSMS)
	case seen != nil && seen.Done:
		log.Info("sms repeated", "state", "answered")
		return SMSReply{Text: seen.Reply, Words: seen.Words, Language: seen.Lang}, nil
	case seen != nil:
		log.Info("sms repeated", "state", "in flight")
		return SMSReply{}, nil
	}
	// A PIN in this message is attributed to its provider and sender, under
	// the message's id: a redelivered webhook counts a wrong PIN once.
	ctx = wallet.WithPINAttempt(ctx, wallet.PINAttempt{Source: "sms:" + m.Provider + ":" + phone, Key: "sms:" + key(m.Provider, m.ID)})
	t := &smsTurn{e: e, ctx: ctx, log: log, phone: phone, message: key(m.Provider, m.ID), cmd: cmd}
	r := t.answer()
	e.answered(ctx, k, rec, rev, r)
	return r, nil
}

// smsTurn is one message being answered.
type smsTurn struct {
	e       *Engine
	ctx     context.Context
	log     *slog.Logger
	phone   string // the sender, E.164
	message string // key(provider, id): keys its command's wallet calls
	cmd     smsCommand
	lang    string          // the reply's language
	account *wallet.Profile // the sender's; nil for a phone with none
}

// answer counts the message against the rate limit, learns who sent it and
// carries out its command.
func (t *smsTurn) answer() SMSReply {
	ok, warn, err := t.e.rate(t.ctx, t.phone)
	if err != nil {
		// The limit fails closed: a message that could not be counted (a
		// store fault, or compare-and-set races lost to a burst of the same
		// phone's messages) is neither acted on nor answered, since every
		// answer costs an SMS. The message is recorded: a repeat of it gets
		// the same silence.
		t.log.Warn("sms not counted against the rate limit: not answered", "err", err)
		return SMSReply{}
	}
	if !ok && !warn {
		t.log.Info("sms over the rate limit: not answered")
		return SMSReply{}
	}
	t.lang = locales.Default
	wctx, cancel := t.wallet()
	p, err := t.e.cfg.Wallet.Lookup(wctx, t.phone)
	cancel()
	switch wallet.ErrorCode(err) {
	case "":
		t.account = p
		if slices.Contains(t.e.cfg.Locales.Languages(), p.Language) {
			t.lang = p.Language
		}
	case wallet.CodeNotFound:
		err = nil
	}
	switch {
	case !ok:
		t.log.Info("sms over the rate limit: told once")
		return t.reply("sms.rate_limited", nil)
	case t.cmd.Verb == "":
		return t.reply("sms.unknown", nil)
	case t.cmd.Verb == verbHelp:
		return t.reply("sms.help", nil)
	case t.cmd.Verb == verbStop || t.cmd.Verb == verbStart:
		// The carriers' reserved words: any phone may send them.
		return t.promotions(t.cmd.Verb == verbStart)
	case err != nil:
		return t.failed(err)
	case t.account == nil:
		return t.reply("sms.not_registered", map[string]any{"Code": t.e.cfg.ServiceCode})
	}
	switch t.cmd.Verb {
	case verbLanguage:
		return t.language()
	case verbCancel:
		return t.cancel()
	case verbPIN:
		return t.pin()
	case verbBalance, verbMini:
		return t.askPIN()
	case verbApprovals:
		return t.approvals()
	case verbObject:
		return t.object()
	default:
		return t.order()
	}
}

// reply renders message id in the reply's language.
func (t *smsTurn) reply(id string, data map[string]any) SMSReply {
	return t.say(locales.NewWords(id, data))
}

// say renders w in the reply's language.
func (t *smsTurn) say(w locales.Words) SMSReply {
	return SMSReply{Text: t.e.cfg.Locales.Say(t.lang, w), Words: w, Language: t.lang}
}

// failed answers a failure that is not the sender's doing (the wallet or
// the store unavailable), as the USSD screen words it.
func (t *smsTurn) failed(err error) SMSReply {
	if wallet.ErrorCode(err) == wallet.CodeInternal {
		t.log.Error("sms command failed", "err", err)
	}
	return t.reply(fatalID(err), nil)
}

// wallet returns a context bounding one wallet call.
func (t *smsTurn) wallet() (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.ctx, t.e.cfg.WalletTimeout)
}
