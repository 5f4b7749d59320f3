package merchant

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/kibubu/kibubu/wallet"
)

// Config configures the merchant services. Zero values take the defaults named.
type Config struct {
	// RequestTTL is how long a payment request waits for the customer:
	// DefaultRequestTTL when zero, RequestTTLMin to RequestTTLMax.
	RequestTTL time.Duration
	// SettleThreshold settles a tab once this many minor units accrue on
	// it; default DefaultSettleMajor major units.
	SettleThreshold int64
	// SettleEvery settles what accrued on a tab at least this often;
	// default DefaultSettleEvery.
	SettleEvery time.Duration
	// Sweep is how often the sweeper runs (expiries, crash recovery);
	// default 5 seconds.
	Sweep time.Duration
	// PromptsPerPhone, PromptsPerPair and PromptsPerMerchant limit the
	// payment requests and tabs (each prompts the customer) to one phone
	// from every merchant, to one phone from one merchant, and from one
	// merchant to everyone; a zero Max takes the default, a negative one is
	// no limit. See the defaults for why.
	PromptsPerPhone, PromptsPerPair, PromptsPerMerchant PromptLimit
	Now                                                 func() time.Time
	// Logger receives the sweeper's and the workers' logs; default slog.Default().
	Logger *slog.Logger
}

// The merchant API's keys: one source for the merchant services, the
// gateway that reads them from HTTP headers and the notifier's webhook
// service that passes them on.
const (
	// IdempotencyKeyBytesMax bounds a merchant's Idempotency-Key, so that
	// the wallet key made of it ("po:" + merchant + ":" + key) stays within
	// the wallet's 128 bytes.
	IdempotencyKeyBytesMax = 64
	// APIKeyBytesMax bounds a bearer token a caller presents: the keys this
	// package issues are 83 bytes; anything much longer is not one.
	APIKeyBytesMax = 256
)

// The payment request's life: one source for the merchant services and the
// command's --request-ttl.
const (
	// DefaultRequestTTL is how long a payment request waits for the
	// customer. M-Pesa's STK push gives a smartphone's prompt about a
	// minute, but a Kibubu customer is on a feature phone: the prompt is an
	// SMS to notice, or "6 Approvals" to dial on USSD, then the PIN to type.
	// Five minutes covers that at a counter without keeping a request
	// nobody will answer.
	DefaultRequestTTL = 5 * time.Minute
	// RequestTTLMin is the shortest RequestTTL: under half a minute a
	// customer cannot read an SMS, dial and type a PIN.
	RequestTTLMin = 30 * time.Second
	// RequestTTLMax is the longest RequestTTL: a request older than a day
	// is no longer the purchase the customer is standing at the counter for.
	RequestTTLMax = 24 * time.Hour
)

// A tab's settlement: one source for the merchant services and the
// command's --tab-settle and --tab-settle-every.
const (
	// DefaultSettleEvery settles what accrued on a tab at least daily, so a
	// merchant's balance and a customer's statement are never a day behind.
	DefaultSettleEvery = 24 * time.Hour
	// DefaultSettleMajor is the accrual, in major units, at which a tab
	// settles before its day is out: one transfer per 100 shillings of
	// clicks keeps the ledger's rows few and the amount held on a tab small.
	DefaultSettleMajor = 100
)

const (
	defaultSweep = 5 * time.Second
	// promptWindowMax bounds a prompt limit's window: a day, as a payment
	// request's life (RequestTTLMax); a limit over a longer window would
	// count prompts long expired.
	promptWindowMax = RequestTTLMax
	// DefaultPromptsPerPhone, in 10 minutes: a customer at a counter is asked a few times
	// at most (a retry, a second purchase); more prompts to one phone in 10
	// minutes, from however many merchants, is prompt-bombing: a PIN sent
	// in confusion would pay one of them.
	DefaultPromptsPerPhone = 5
	// DefaultPromptsPerPair, in 10 minutes: one merchant asking one customer more than
	// three times in 10 minutes is a loop or pressure, not a sale.
	DefaultPromptsPerPair = 3
	defaultPromptWindow   = 10 * time.Minute
	// DefaultPromptsPerMerchant, in a minute, is generous: 10 prompts a second, sustained
	// for a minute, is a busy supermarket's till; beyond it a leaked key is
	// more likely than custom.
	DefaultPromptsPerMerchant = 600
	defaultMerchantWindow     = time.Minute
	// sweepMin keeps a mistaken configuration from turning the sweeper into
	// a busy loop on the database.
	sweepMin = 10 * time.Millisecond

	// leaseDuration is how long an approving payment request or a pending
	// payout is left to the call that is paying it before the sweeper asks
	// the wallet what its key produced. It is above the wallet's own bound
	// on a batch (30 s, retries included) plus a handler's timeout, so that
	// a transfer still in the wallet's queue has been decided by then.
	leaseDuration = time.Minute
	// sweepBatchMax bounds the rows one sweep takes of each kind; the next
	// sweep takes the rest.
	sweepBatchMax = 200
	// DescriptionRunesMax bounds a payment request's description: it is
	// shown on a 160-character USSD screen with the amount and the name.
	DescriptionRunesMax = 100
	// approvalsMax bounds the approvals one phone is shown.
	approvalsMax = 50
)

// The API-key caches: the merchant services' (by key id) and the gateway's
// (by the key's SHA-256) keep a key they checked for as long, and as many.
const (
	// KeyCacheTTL bounds how long a process trusts an API key it has
	// checked: a revocation made on another process takes up to this long
	// to take effect there. Half a minute keeps a busy till's calls off the
	// database without leaving a leaked key usable for long.
	KeyCacheTTL = 30 * time.Second
	// KeyCacheMax bounds the keys a cache holds: far more merchants than
	// call within KeyCacheTTL, and a few MB at most; past it the cache
	// starts over.
	KeyCacheMax = 10_000
)

// Service is the wallet's merchant services: API keys, payment requests
// (request to pay), the customer's approvals, transactions and refunds,
// payouts alone and in bulk, and tabs. It runs in the wallet process beside
// the *wallet.Service and moves money only through its Transfer, with
// deterministic idempotency keys (see the package documentation).
type Service struct {
	w    *wallet.Service
	st   Store
	cfg  Config
	log  *slog.Logger
	tabs *tabs

	cur    wallet.Currency
	region string

	keyMu sync.Mutex
	keys  map[string]cachedKey // by key id

	bulkWake chan struct{}
}

// promptGate is the limits a new payment request or tab must fit in now.
func (s *Service) promptGate(now time.Time) PromptGate {
	return PromptGate{Now: now, Phone: s.cfg.PromptsPerPhone, Pair: s.cfg.PromptsPerPair, Merchant: s.cfg.PromptsPerMerchant}
}

// SettleThresholdMax is the largest tab settlement threshold for cur, in
// minor units: wallet.MicroMax, the most a tab can meter. A larger one could
// never be reached, and near wallet.AmountMax it overflows int64 once
// converted to Micro (KES: 10^15 minor units are 10^19 Micro).
func SettleThresholdMax(cur wallet.Currency) int64 {
	return int64(wallet.MicroMax) / cur.MicroPerMinor()
}

// New returns the merchant services of w on st. Call Run to start the
// sweeper and the background workers.
func New(ctx context.Context, w *wallet.Service, st Store, cfg Config) (*Service, error) {
	if w == nil || st == nil {
		return nil, errors.New("merchant: a wallet and a store are required")
	}
	wc := w.Config()
	if cfg.RequestTTL == 0 {
		cfg.RequestTTL = DefaultRequestTTL
	}
	if cfg.RequestTTL < RequestTTLMin || cfg.RequestTTL > RequestTTLMax {
		return nil, fmt.Errorf("merchant: the payment request TTL %s is not between %s and %s", cfg.RequestTTL, RequestTTLMin, RequestTTLMax)
	}
	if cfg.SettleThreshold == 0 {
		cfg.SettleThreshold = DefaultSettleMajor * pow10(wc.Currency.Exponent)
	}
	if limit := SettleThresholdMax(wc.Currency); cfg.SettleThreshold < 0 || cfg.SettleThreshold > limit {
		return nil, fmt.Errorf("merchant: the tab settlement threshold %d is out of range: at most %d minor units", cfg.SettleThreshold, limit)
	}
	if cfg.SettleEvery == 0 {
		cfg.SettleEvery = DefaultSettleEvery
	}
	if cfg.SettleEvery < 0 {
		return nil, fmt.Errorf("merchant: the tab settlement period %s is negative", cfg.SettleEvery)
	}
	if cfg.Sweep == 0 {
		cfg.Sweep = defaultSweep
	}
	if cfg.Sweep < sweepMin {
		return nil, fmt.Errorf("merchant: the sweep period %s is below %s", cfg.Sweep, sweepMin)
	}
	for _, l := range []struct {
		lim    *PromptLimit
		max    int
		window time.Duration
	}{
		{&cfg.PromptsPerPhone, DefaultPromptsPerPhone, defaultPromptWindow},
		{&cfg.PromptsPerPair, DefaultPromptsPerPair, defaultPromptWindow},
		{&cfg.PromptsPerMerchant, DefaultPromptsPerMerchant, defaultMerchantWindow},
	} {
		if l.lim.Max == 0 {
			l.lim.Max = l.max
		}
		if l.lim.Max < 0 {
			*l.lim = PromptLimit{}
			continue
		}
		if l.lim.Window == 0 {
			l.lim.Window = l.window
		}
		if l.lim.Window < time.Second || l.lim.Window > promptWindowMax {
			return nil, fmt.Errorf("merchant: a prompt limit's window %s is not between 1s and %s", l.lim.Window, promptWindowMax)
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{
		w: w, st: st, cfg: cfg, log: cfg.Logger, cur: wc.Currency, region: wc.Region,
		keys: map[string]cachedKey{}, bulkWake: make(chan struct{}, 1),
	}
	s.tabs = newTabs(s)
	return s, nil
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// Config returns the effective configuration, defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// Run runs the sweeper (payment request expiry, crash recovery of payments
// and payouts), the bulk payout workers and the tabs' meter and sweeps
// until ctx ends, then waits for them to finish what they started and
// returns. Run it once.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Add(3)
	go func() { defer wg.Done(); errs[0] = s.sweeper(ctx) }()
	go func() { defer wg.Done(); errs[1] = s.bulkWorker(ctx) }()
	go func() { defer wg.Done(); errs[2] = s.tabs.run(ctx) }()
	wg.Wait()
	return errors.Join(errs...)
}

// sweeper runs sweep every Config.Sweep until ctx ends.
func (s *Service) sweeper(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Sweep)
	defer t.Stop()
	for {
		s.sweep(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sweep does one round of the sweeper's work. Errors are logged: the next
// round tries again.
func (s *Service) sweep(ctx context.Context) {
	if err := s.sweepRequests(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("payment request sweep failed", "err", err)
	}
	if err := s.sweepPayouts(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("payout sweep failed", "err", err)
	}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// customer resolves a phone to a customer's profile: CodeInvalidPhone for
// a malformed number, CodeNotFound for no account, CodeWrongKind for an
// account that is not a customer's.
func (s *Service) customer(ctx context.Context, raw string) (*wallet.Profile, error) {
	phone, err := wallet.NormalizePhone(raw, s.region)
	if err != nil {
		return nil, err
	}
	pr, err := s.w.Lookup(ctx, phone)
	if wallet.ErrorCode(err) == wallet.CodeNotFound {
		return nil, wallet.Errorf(wallet.CodeNotFound, "no customer with phone %s", phone)
	}
	if err != nil {
		return nil, err
	}
	if pr.Kind != wallet.KindCustomer || pr.Number != phone {
		return nil, wallet.Errorf(wallet.CodeWrongKind, "%s is not a customer's phone", phone)
	}
	return pr, nil
}

// merchant returns the profile of a principal's merchant account.
func (s *Service) merchant(ctx context.Context, p Principal) (*wallet.Profile, error) {
	if p.Merchant == "" {
		return nil, wallet.Errorf(wallet.CodeForbidden, "an operator key cannot act for a merchant")
	}
	pr, err := s.w.Lookup(ctx, p.Merchant)
	if err != nil {
		return nil, fmt.Errorf("merchant %s: %w", p.Merchant, err)
	}
	if pr.Kind != wallet.KindTill && pr.Kind != wallet.KindPaybill {
		return nil, fmt.Errorf("merchant %s is a %s account", p.Merchant, pr.Kind)
	}
	return pr, nil
}

// checkIdem validates a merchant's idempotency key.
func checkIdem(idem string) error {
	if idem == "" || len(idem) > IdempotencyKeyBytesMax {
		return wallet.Errorf(wallet.CodeInvalid, "an idempotency key of 1 to %d bytes is required", IdempotencyKeyBytesMax)
	}
	for i := 0; i < len(idem); i++ {
		if idem[i] < 0x21 || idem[i] > 0x7e {
			return wallet.Errorf(wallet.CodeInvalid, "an idempotency key is printable ASCII without spaces")
		}
	}
	return nil
}

// checkText validates a free-text field: valid UTF-8 without control,
// invisible or text-direction characters (wallet.CheckName), within bytesMax bytes and runesMax characters (0: no bound).
func checkText(field, v string, required bool, bytesMax, runesMax int) error {
	switch {
	case required && v == "":
		return wallet.Errorf(wallet.CodeInvalid, "a %s is required", field)
	case len(v) > bytesMax || runesMax > 0 && utf8.RuneCountInString(v) > runesMax:
		n := bytesMax
		if runesMax > 0 {
			n = runesMax
		}
		return wallet.Errorf(wallet.CodeInvalid, "the %s is longer than %d characters", field, n)
	case !utf8.ValidString(v):
		return wallet.Errorf(wallet.CodeInvalid, "the %s is not valid UTF-8", field)
	}
	// Shown on customers' screens and receipts: no control, invisible or
	// text-direction characters, as for account names.
	return wallet.CheckName("the "+field, v)
}

// checkAmount validates an amount in minor units.
func (s *Service) checkAmount(amount int64) error {
	if amount <= 0 || amount > wallet.AmountMax {
		return wallet.Errorf(wallet.CodeInvalidAmount, "the amount must be positive and at most %s", s.cur.Format(wallet.AmountMax))
	}
	return nil
}

// payloadHash identifies a command's payload for idempotency: the
// normalised fields, length-prefixed so that no two payloads collide.
func payloadHash(parts ...string) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(strconv.Itoa(len(p))))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
	return h.Sum(nil)[:16]
}

// transient reports an error after which the wallet may or may not have
// acted: the caller retries with the same key, or the sweeper asks the
// wallet what the key produced.
func transient(err error) bool {
	switch wallet.ErrorCode(err) {
	case wallet.CodeUnavailable, wallet.CodeInternal:
		return true
	}
	return false
}

// notFound is the error for an object that does not exist or belongs to
// another merchant: the two are indistinguishable on purpose.
func notFound(what, id string) error {
	return wallet.Errorf(wallet.CodeNotFound, "no %s %q", what, clip(id))
}

// clip bounds user input echoed in an error message.
func clip(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}
