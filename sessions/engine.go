package sessions

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// Wallet is what the menus ask of the wallet; WalletClient makes one of
// the wallet's clients. Its errors are *wallet.Error.
type Wallet interface {
	Lookup(ctx context.Context, numberOrPhone string) (*wallet.Profile, error)
	Quote(ctx context.Context, kind wallet.TransferKind, amount int64) (*wallet.Quote, error)
	Transfer(ctx context.Context, req wallet.TransferRequest) (*wallet.TransferResult, error)
	TransferInfo(ctx context.Context, phone, ref string) (*wallet.TransferInfo, error)
	Register(ctx context.Context, req natsapi.RegisterRequest) (*wallet.Account, error)
	SetPIN(ctx context.Context, phone, pin string) (*wallet.Account, error)
	StartKeyProof(ctx context.Context, phone, startKey string) (string, error)
	SetPINWithProof(ctx context.Context, phone, proof, pin string) (*wallet.Account, error)
	PINProof(ctx context.Context, phone, pin string) (string, error)
	ChangePINWithProof(ctx context.Context, phone, proof, newPIN string) (*wallet.Account, error)
	Balance(ctx context.Context, phone, pin string) (*wallet.Account, error)
	Statement(ctx context.Context, q wallet.StatementQuery) (*wallet.Statement, error)
	Earnings(ctx context.Context, phone, pin string) (*wallet.Earnings, error)
	SetLanguage(ctx context.Context, phone, lang string) (*wallet.Account, error)
	// RequestReversal asks, with the sender's PIN, to reverse a transfer;
	// ObjectReversal is its recipient's objection (wallet.Reversal).
	RequestReversal(ctx context.Context, phone, ref, pin string) (*wallet.Reversal, error)
	ObjectReversal(ctx context.Context, phone, ref, reason string) (*wallet.Reversal, error)
	// Approvals lists what waits for phone's approval, oldest first;
	// Approve approves one with the PIN, Decline declines it with the PIN
	// (a wrong PIN leaves it pending). One no longer pending is
	// CodeInvalidState.
	Approvals(ctx context.Context, phone string) ([]merchant.Approval, error)
	Approve(ctx context.Context, phone, id, pin string) (*merchant.ApproveResult, error)
	Decline(ctx context.Context, phone, id, pin string) (*merchant.Approval, error)
	// PendPIN keeps a new PIN chosen on one screen and returns a random
	// token for it; ConfirmPIN, with the token and the PIN typed again,
	// sets it (wallet.Service.PendPIN, ConfirmPIN).
	PendPIN(ctx context.Context, n wallet.NewPIN) (string, error)
	ConfirmPIN(ctx context.Context, phone, token, pin string) (*wallet.Account, error)
}

// WalletClient is c as a Wallet: its ledger calls, and the merchant
// services' approvals (merchantapi) through it.
func WalletClient(c *natsapi.Client) Wallet {
	return walletClient{c, merchantapi.NewClient(c)}
}

type walletClient struct {
	*natsapi.Client
	*merchantClient
}

type merchantClient = merchantapi.Client

const (
	// DefaultWalletTimeout bounds one wallet call in a hop: well inside the
	// 15 s an aggregator waits, so a slow wallet gets a "we will send you an
	// SMS" screen instead of a dead session.
	DefaultWalletTimeout = 5 * time.Second
	// resolveTimeout bounds the retries of a money step that answered
	// "pending": the wallet applies a key at most once, so retrying with it
	// only learns the outcome, and after this long an operator must look.
	resolveTimeout = 2 * time.Minute
	// resolveInterval is the pause between those retries.
	resolveInterval = 2 * time.Second
	// statementLines is the mini statement's length, as M-Pesa's.
	statementLines = 5
)

// Config is what an Engine needs. Wallet, Bucket, Locales, Currency and Key
// are required.
type Config struct {
	Wallet    Wallet
	Bucket    jetstream.KeyValue // from EnsureBucket
	Locales   *locales.Catalog
	Currency  wallet.Currency
	Region    string // default region for phone numbers typed without a country code; default KE
	PINLength int    // default wallet.DefaultPINLength
	// Key (KeyBytes long) names sessions in logs by a keyed hash of their
	// bucket key (logID), so that a log reader cannot take an aggregator's
	// session id from a log line and forge its hops; every gateway serving
	// the same sessions needs the same key, so their logs agree. No PIN,
	// nor anything derived from one, is sealed with it.
	Key []byte
	// Location is where a statement's dates are read; default UTC.
	Location *time.Location
	// WalletTimeout bounds one wallet call; default DefaultWalletTimeout.
	WalletTimeout time.Duration
	// Resolved, if set, learns the outcome of each money step that answered
	// "pending" once the wallet gives it (the SMS receipt's cue), a USSD
	// hop's or an SMS PIN reply's.
	Resolved func(Resolution)
	// Outbox, if set, tells the person by SMS when such a step failed in the
	// end: the error as the USSD screen words it, in the account's language
	// (a success gets its receipt from the wallet's event). Nil sends
	// nothing.
	Outbox Outbox
	// ServiceCode is the USSD code an SMS from an unregistered phone is
	// told to dial (sms.not_registered); default DefaultServiceCode.
	ServiceCode string
	// SMSRateMessages is how many SMS one phone may send in any
	// SMSRateWindow; the first one over gets sms.rate_limited, later ones
	// nothing. Defaults DefaultSMSRateMessages and DefaultSMSRateWindow.
	SMSRateMessages int
	SMSRateWindow   time.Duration
	// Now is the SMS commands' clock (a confirmation's expiry, the rate
	// window) and the day an approval's expiry is shown against; default
	// time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// Resolution is the late outcome of a money step whose session ended with
// "we will send you an SMS": a transfer, or an approval's PIN.
type Resolution struct {
	Phone    string
	Language string
	// Key is the step's: a transfer's idempotency key; for an approval,
	// that of the hop ("ussd:…") or message ("sms:…") that carried the PIN.
	Key     string
	Request wallet.TransferRequest // without its PIN; empty for an approval
	Result  *wallet.TransferResult // nil if Err, or for an approval
	// Approval is the id of the approval the PIN answered ("" for a
	// transfer), and Approved the wallet's answer (nil if Err).
	Approval string
	Approved *merchant.ApproveResult
	Err      error // the wallet's refusal, or unavailable after resolveTimeout
}

// Engine runs USSD sessions and SMS keyword commands. It is safe for
// concurrent use; any number of engines (in any number of processes) may
// serve the same bucket.
type Engine struct {
	cfg     Config
	store   bucket
	log     *slog.Logger
	stop    context.CancelFunc
	stopCtx context.Context
	pending sync.WaitGroup
	// draining, once set by Drain, refuses new sessions.
	draining atomic.Bool
}

// New returns an Engine, or an error naming the missing configuration.
func New(cfg Config) (*Engine, error) {
	switch {
	case cfg.Wallet == nil:
		return nil, errors.New("sessions: no wallet")
	case cfg.Bucket == nil:
		return nil, errors.New("sessions: no bucket")
	case cfg.Locales == nil:
		return nil, errors.New("sessions: no locales")
	case cfg.Currency.Code == "":
		return nil, errors.New("sessions: no currency")
	case len(cfg.Key) != KeyBytes:
		return nil, fmt.Errorf("sessions: the session key must be %d bytes", KeyBytes)
	case len(cfg.ServiceCode) > serviceCodeCharsMax || !locales.IsGSM7(cfg.ServiceCode):
		return nil, fmt.Errorf("sessions: the service code must be at most %d GSM-7 characters", serviceCodeCharsMax)
	case cfg.SMSRateMessages < 0 || cfg.SMSRateMessages > smsRateMessagesMax:
		return nil, fmt.Errorf("sessions: the SMS rate limit must be 1 to %d messages", smsRateMessagesMax)
	case cfg.SMSRateWindow < 0 || cfg.SMSRateWindow > smsRateWindowMax:
		return nil, fmt.Errorf("sessions: the SMS rate window must be at most %s", smsRateWindowMax)
	}
	if cfg.Region == "" {
		cfg.Region = "KE"
	}
	if cfg.PINLength == 0 {
		cfg.PINLength = wallet.DefaultPINLength
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.WalletTimeout <= 0 {
		cfg.WalletTimeout = DefaultWalletTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.ServiceCode == "" {
		cfg.ServiceCode = DefaultServiceCode
	}
	if cfg.SMSRateMessages == 0 {
		cfg.SMSRateMessages = DefaultSMSRateMessages
	}
	if cfg.SMSRateWindow == 0 {
		cfg.SMSRateWindow = DefaultSMSRateWindow
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Engine{cfg: cfg, store: newBucket(cfg.Bucket), log: cfg.Log}
	if cfg.Outbox != nil {
		resolved := cfg.Resolved
		e.cfg.Resolved = func(r Resolution) {
			e.tell(r)
			if resolved != nil {
				resolved(r)
			}
		}
	}
	e.stopCtx, e.stop = context.WithCancel(context.Background())
	return e, nil
}

// Close stops retrying pending money steps and waits for their goroutines,
// at most until ctx ends. A pending step's transfer is still applied at most
// once by the wallet; only the Resolved call is lost.
func (e *Engine) Close(ctx context.Context) error {
	e.stop()
	done := make(chan struct{})
	go func() { e.pending.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Drain stops taking new sessions, for a graceful shutdown: a session's
// first hop is answered with an END screen asking to dial again (the load
// balancer sends the next dial to another gateway), while the hops of
// sessions under way are answered as before.
func (e *Engine) Drain() { e.draining.Store(true) }

// Hop answers one hop. Its error wraps ErrBadHop when the request is
// unusable; every other outcome, an outage included, is a Screen in the
// caller's language.
func (e *Engine) Hop(ctx context.Context, h Hop) (Screen, error) {
	if h.SessionID == "" || len(h.SessionID) > sessionIDBytesMax {
		return Screen{}, fmt.Errorf("%w: the session id must be 1 to %d bytes", ErrBadHop, sessionIDBytesMax)
	}
	if !validAggregator(h.Aggregator) {
		return Screen{}, fmt.Errorf("%w: aggregator %q", ErrBadHop, h.Aggregator)
	}
	phone, err := wallet.NormalizePhone(h.Phone, e.cfg.Region)
	if err != nil {
		return Screen{}, fmt.Errorf("%w: %v", ErrBadHop, err)
	}
	k := key(h.Aggregator, h.SessionID)
	log := e.log.With("aggregator", h.Aggregator, "session", e.logID(k))
	for attempt := 0; ; attempt++ {
		st, rev, err := e.store.load(ctx, k)
		if err != nil {
			log.Error("session store", "err", err)
			return e.fatal(hintLang(h.Language), err), nil
		}
		var next *state
		switch {
		case st == nil && !h.New:
			// Expired, or never seen: nothing to resume.
			return e.end(hintLang(h.Language), "ussd.session.ended", nil), nil
		case st == nil && e.draining.Load():
			return e.end(e.language(ctx, phone, h), "ussd.draining", nil), nil
		case st == nil:
			next = e.start(ctx, k, phone, h)
		case !st.known():
			// Saved by a version whose menus had a node this one lacks (a
			// rolling upgrade): the session cannot go on.
			log.Warn("session at an unknown menu node", "node", st.node())
			return e.end(st.Lang, "ussd.session.ended", nil), nil
		default:
			if st.Phone != phone {
				return Screen{}, fmt.Errorf("%w: session %s belongs to another phone", ErrBadHop, e.logID(k))
			}
			heard := e.input(st, h)
			switch {
			case heard.repeat:
				return st.Screen, nil
			case st.Ended:
				return e.end(st.Lang, "ussd.session.ended", nil), nil
			case heard.mismatch:
				// Not this session's next hop (a forged or confused one):
				// refused, and the session left as it was for the real one.
				log.Warn("ussd hop refused: it does not continue the session", "history", h.History != "", "seq", h.Seq, "last_seq", st.Seq)
				return e.end(st.Lang, "ussd.session.mismatch", nil), nil
			}
			next = e.step(ctx, k, st, heard, h)
		}
		err = e.store.save(ctx, k, next, rev)
		if errors.Is(err, errRaced) && attempt == 0 {
			// A copy of this hop, or the next one, was answered by another
			// gateway meanwhile: a money step it reached used the same
			// idempotency key, so load what it left and answer from that.
			continue
		}
		if err != nil {
			log.Error("session store", "err", err)
			if next.Ended {
				// The step is done (money may have moved): show its
				// result even though a repeat of the hop cannot.
				return next.Screen, nil
			}
			return e.fatal(next.Lang, err), nil
		}
		return next.Screen, nil
	}
}

// input tells what hop h is to the session st: a repeat of a hop already
// answered, the next hop and its input, or a mismatch (one that does not
// continue the session: a history that does not extend the stored one, a
// sequence number that skips).
func (e *Engine) input(st *state, h Hop) heard {
	switch {
	case h.New:
		// A session start sent twice.
		return heard{repeat: true}
	case h.History != "" || len(st.Hist) > 0:
		return continueHistory(st.Hist, h.History)
	case h.Seq > 0:
		switch {
		case h.Seq <= st.Seq:
			return heard{input: h.Input, repeat: true}
		case h.Seq == st.Seq+1:
			return heard{input: h.Input}
		}
		return heard{mismatch: true}
	case st.Ended:
		// No history and no sequence (Nalo): the same input again after the
		// end is the final hop repeated. A final input that was not kept
		// (a PIN) cannot be compared: any input gets the final screen
		// again, which the same phone has seen.
		_, isMasked := entryParts(st.Last)
		return heard{input: h.Input, repeat: isMasked || h.Input == st.Last}
	}
	return heard{input: h.Input}
}

// End logs an aggregator's end-of-session notice and closes the session, so
// a late hop gets "this session has ended". A session that died at a PIN
// step moved no money: the money moves only on the hop that carries the PIN.
func (e *Engine) End(ctx context.Context, end End) {
	log := e.log.With("aggregator", end.Aggregator, "status", end.Status, "hops", end.Hops, "duration", end.Duration)
	if end.Error != "" {
		log = log.With("aggregator_error", end.Error)
	}
	if end.SessionID == "" || len(end.SessionID) > sessionIDBytesMax || !validAggregator(end.Aggregator) {
		log.Warn("ussd session end for an unusable session id")
		return
	}
	k := key(end.Aggregator, end.SessionID)
	log = log.With("session", e.logID(k))
	for attempt := 0; attempt < 2; attempt++ {
		st, rev, err := e.store.load(ctx, k)
		if err != nil {
			log.Error("session store", "err", err)
			return
		}
		if st == nil {
			log.Info("ussd session ended", "state", "expired")
			return
		}
		if st.Ended {
			log.Info("ussd session ended", "state", "complete")
			return
		}
		log.Info("ussd session ended", "state", "abandoned", "at", st.node())
		st.Ended = true
		st.Screen = e.end(st.Lang, "ussd.session.ended", nil)
		if err := e.store.save(ctx, k, st, rev); !errors.Is(err, errRaced) {
			if err != nil {
				log.Error("session store", "err", err)
			}
			return
		}
	}
}

func validAggregator(a string) bool {
	if a == "" || len(a) > 32 {
		return false
	}
	for _, c := range a {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// hintLang is the language for a phone with no account yet.
func hintLang(hint string) string {
	if hint == "" {
		return locales.Default
	}
	return locales.Match(hint)
}

// start opens a session: who is dialling decides the menu.
func (e *Engine) start(ctx context.Context, k, phone string, h Hop) *state {
	st := &state{Phone: phone, Lang: hintLang(h.Language), Seq: h.Seq, Nonce: newNonce()}
	wctx, cancel := context.WithTimeout(ctx, e.cfg.WalletTimeout)
	defer cancel()
	p, err := e.cfg.Wallet.Lookup(wctx, phone)
	switch {
	case wallet.ErrorCode(err) == wallet.CodeNotFound:
		st.Kind = kindUnregistered
	case err != nil:
		st.Path = []string{rootUnregistered}
		e.finish(st, e.fatal(st.Lang, err))
		return st
	default:
		if p.Language != "" {
			st.Lang = p.Language
		}
		st.Name = screenName(p.Name)
		switch {
		case p.Status == wallet.StatusFrozen:
			st.Path = []string{rootUnregistered}
			e.finish(st, e.end(st.Lang, "error.account_frozen", nil))
			return st
		case p.PINLocked || p.Status == wallet.StatusPINLocked: // (the second: a wallet from before the two states)
			st.Path = []string{rootUnregistered}
			e.finish(st, e.end(st.Lang, "error.pin_locked", nil))
			return st
		case !p.HasPIN && p.NeedsStartKey:
			st.Kind = kindStartKey
		case !p.HasPIN:
			st.Kind = kindSetup
		case p.Kind == wallet.KindAgent:
			st.Kind = kindAgent
		case p.Kind == wallet.KindCustomer:
			st.Kind = kindCustomer
		default:
			// A merchant's contact phone is not a wallet: it has no menu.
			st.Path = []string{rootUnregistered}
			e.finish(st, e.end(st.Lang, "error.wrong_kind", nil))
			return st
		}
	}
	st.Path = []string{roots[st.Kind]}
	t := &turn{e: e, st: st, key: k}
	t.show("")
	return st
}

// language is the language of phone's account, or the hop's hint for a
// phone without one (or when the wallet does not answer in time).
func (e *Engine) language(ctx context.Context, phone string, h Hop) string {
	wctx, cancel := context.WithTimeout(ctx, e.cfg.WalletTimeout)
	defer cancel()
	if p, err := e.cfg.Wallet.Lookup(wctx, phone); err == nil && p.Language != "" {
		return p.Language
	}
	return hintLang(h.Language)
}

// step applies one input to the session.
func (e *Engine) step(ctx context.Context, k string, prev *state, in heard, h Hop) *state {
	st := prev.clone()
	st.Hops++
	if h.Seq > 0 {
		st.Seq = h.Seq
	}
	t := &turn{e: e, st: st, key: k}
	// Every PIN this hop carries is attributed to its aggregator and
	// network, under the hop's money key: a retry of the hop counts a wrong
	// PIN once.
	t.ctx = wallet.WithPINAttempt(ctx, wallet.PINAttempt{Source: hopSource(h), Key: idempotencyKey(t.scope(), st.Hops)})
	kept := t.handle(in.input)
	// Recorded after the input is handled: whether the session keeps it
	// (a choice, a value a screen took) decides whether it is kept as
	// typed; a PIN or a refused input is kept masked.
	st.Last = entry(in.input, max(in.parts, 1), kept)
	if h.History != "" {
		st.Hist = append(st.Hist, entry(in.input, in.parts, kept))
	}
	return st
}

// hopSource is the PIN source of a hop: "ussd:<aggregator>:<network>".
func hopSource(h Hop) string { return "ussd:" + h.Aggregator + ":" + h.Network }

func (st *state) clone() *state {
	c := *st
	c.Path = append([]string(nil), st.Path...)
	c.Vals = make(map[string]string, len(st.Vals))
	for k, v := range st.Vals {
		c.Vals[k] = v
	}
	c.Approvals = slices.Clone(st.Approvals)
	c.Hist = slices.Clone(st.Hist)
	return &c
}

// finish ends the session with s.
func (e *Engine) finish(st *state, s Screen) {
	st.Screen, st.Ended = s, true
	st.Pending, st.Proof, st.Vals, st.Approvals = "", "", nil, nil
}

// end renders an END screen.
func (e *Engine) end(lang, id string, data map[string]any) Screen {
	return Screen{Text: e.cfg.Locales.Render(lang, id, data), End: true}
}

// fatal is the END screen for a failure that is not the person's doing.
func (e *Engine) fatal(lang string, err error) Screen {
	return e.end(lang, fatalID(err), nil)
}

// fatalID is the message of a failure that is not the person's doing.
func fatalID(err error) string {
	if c := wallet.ErrorCode(err); c == wallet.CodeUnavailable || c == wallet.CodeInternal {
		return "error." + string(c)
	}
	return "error.unavailable"
}

// money formats an amount for the session's language.
func (e *Engine) money(lang string, minor int64) string {
	return locales.FormatMoney(lang, e.cfg.Currency, minor)
}

// idempotencyKey is a money step's key: the same hop, answered twice or by
// two gateways, asks the wallet once; a later hop (a new PIN try after a
// wrong one) is a new command. scope is the session's (turn.scope): the
// aggregator and the session's nonce, so that a session id the aggregator
// reuses later makes new keys.
func idempotencyKey(scope string, hop int) string {
	return "ussd:" + scope + ":" + strconv.Itoa(hop)
}

// nonceBytes is the size of a session's nonce: 96 random bits, so that two
// sessions never share one, in 16 characters of the wallet's 128-byte key.
const nonceBytes = 12

// newNonce returns a session's nonce.
func newNonce() string {
	b := make([]byte, nonceBytes)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("sessions: no randomness for a session nonce: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// logID names the session with bucket key k in logs: a keyed hash, so that
// a log reader cannot take the aggregator's session id and forge its hops,
// while every gateway sharing the key logs the same name.
func (e *Engine) logID(k string) string { return seal(e.cfg.Key, "log", k)[:16] }

// screenName is a registered name as a screen shows it: GSM-7 and at most
// locales.NameCharsMax septets (€ [ ] { } ~ ^ \ | take two each).
func screenName(name string) string { return screenText(name, locales.NameCharsMax) }

// screenText is s as a screen shows it in the place of a value at most
// septets long: GSM-7, on one line (a line break or tab in a merchant's
// name or reference would forge a menu line), clipped.
func screenText(s string, septets int) string {
	r := []rune(strings.Join(strings.Fields(locales.ToGSM7(s)), " "))
	r = r[:min(len(r), septets)] // a character takes one septet or two
	for len(r) > 0 {
		if n, _ := locales.Septets(string(r)); n <= septets {
			break
		}
		r = r[:len(r)-1]
	}
	return strings.TrimSpace(string(r))
}
