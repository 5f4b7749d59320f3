package wallet

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Limits are one customer tier's limits, in minor units.
type Limits struct {
	PerTransaction int64 `json:"per_transaction"`
	Daily          int64 `json:"daily"`
	BalanceMax     int64 `json:"max_balance"`
}

// DefaultLimits returns tier limits modelled on M-Pesa's (2023 on): a fully
// registered customer may move 250,000 a transaction and 500,000 a day and
// hold 500,000; a self-registered one a fifth of that.
func DefaultLimits(c Currency) map[Tier]Limits {
	u := c.unit()
	return map[Tier]Limits{
		TierFull:  {PerTransaction: 250_000 * u, Daily: 500_000 * u, BalanceMax: 500_000 * u},
		TierBasic: {PerTransaction: 50_000 * u, Daily: 100_000 * u, BalanceMax: 100_000 * u},
	}
}

// Config is the wallet's configuration. Zero values take the defaults named.
type Config struct {
	Currency       Currency
	Region         string          // default region for phone numbers, e.g. KE
	Tariff         Tariff          // default DefaultTariff(Currency)
	Tiers          map[Tier]Limits // default DefaultLimits(Currency)
	Pepper         []byte          // the secret PIN pepper, PepperBytes long; required
	PINLength      int             // default DefaultPINLength; PINLengthMin to PINLengthMax
	PINTriesMax    int             // wrong PINs before the account locks; default DefaultPINTries
	ReversalWindow time.Duration   // how long after a transfer its sender may reverse it; default 24h
	StartKeyTTL    time.Duration   // how long a start key stays valid; default DefaultStartKeyTTL
	// PINBudget bounds wrong PINs per source and overall; zero fields take
	// DefaultPINBudget's.
	PINBudget PINBudget
	// ObservePIN, if set, is called for every wrong PIN (result "wrong")
	// and every check refused because its source is over budget (result
	// "refused"), with the source's channel (ussd, sms, api…), for
	// metrics. It must not block.
	ObservePIN func(channel, result string)
	// Notify, if set, is handed every Notice (a start key issued, a PIN
	// reset or changed) after its change commits, to send by SMS. It must
	// not block, and must never log a notice's StartKey.
	Notify func(Notice)
	// ObjectionWindow is how long the recipient of a reversal request may
	// object; default DefaultObjectionWindow.
	ObjectionWindow time.Duration
	// ReversalSweep is how often Run's sweeper advances reversal requests
	// (completions after the window, crash recovery); default 10 seconds,
	// negative for none (tests call SweepReversals).
	ReversalSweep time.Duration
	Location      *time.Location // where days start, for daily limits; default UTC
	// PasswordCost is the argon2id cost of new operator password hashes;
	// zero for DefaultPasswordCost.
	PasswordCost PasswordCost
	Now          func() time.Time
	Logger       *slog.Logger
	// Committed, if set, is called after each batch that posted a transfer
	// commits (the event relay uses it to publish at once). It must not block.
	Committed func()
	// Observe, if set, is called after every batch with what it did (for
	// metrics). It must not block.
	Observe func(BatchStats)
	// SIMSwap, if set, is asked before the actions a swapped SIM makes
	// dangerous (see SIMSwapChecker); nil turns the gate off.
	SIMSwap SIMSwapChecker
	// SIMSwapAbove: transfers of more than this (minor units) are checked;
	// zero checks every amount.
	SIMSwapAbove int64
	// Rules, if set, checks customer transfers against the fraud rules
	// (see RuleChecker); the store must then implement ReviewStore.
	Rules RuleChecker
}

// BatchStats describes one group commit.
type BatchStats struct {
	Ops        int           // commands in the batch
	Transfers  int           // transfers posted
	Rejections int           // money commands refused and remembered
	Duration   time.Duration // from taking the batch to answering it, retries included
	Failed     bool          // the transaction did not commit; every command was told to retry
}

const (
	// batchOpsMax bounds one group commit: large enough to amortise a commit
	// (an fsync) over many transfers, small enough to keep one transaction's
	// latency in milliseconds and its SQL statements within parameter limits.
	batchOpsMax = 1024
	// opQueueLen bounds the requests waiting for the writer; a full queue
	// blocks the NATS handler, which pushes back on callers.
	opQueueLen = 8192
	// KeyBytesMax bounds an idempotency key, with its namespace (the NATS
	// API puts an outside caller's under "ext:"): the column is 128 bytes.
	KeyBytesMax = 128
	// ReferenceBytesMax bounds a transfer's reference (a paybill account,
	// a bank or merchant reference): what a receipt SMS has room to quote.
	ReferenceBytesMax = 32
	// nameBytesMax bounds an account name.
	nameBytesMax = 64
	// statementLinesMax bounds one statement query.
	statementLinesMax = 500
)

// Service is the wallet: the only writer of the ledger. Money commands are
// queued to one writer goroutine per process that applies them in batches,
// each batch in one database transaction (group commit).
type Service struct {
	cfg       Config
	store     Store
	reversals ReversalStore
	log       *slog.Logger
	system    map[string]int64

	ops      chan *op
	mu       sync.Mutex
	stopped  bool
	pending  int // enqueues in progress
	stopping chan struct{}
	allSent  chan struct{}
	sentOnce sync.Once

	known sync.Map // "n:"+number or "p:"+phone → knownAccount; accounts are never deleted

	guard *pinGuard // wrong-PIN budgets and remembered attempts, this process's

	simSwapSlots chan struct{} // TransferAsync's SIM-swap checks in flight (simSwapChecksMax)

	reviewStore ReviewStore // the review queue; nil if the store keeps none
	reviews     reviewKeys
}

type knownAccount struct {
	id   int64
	kind AccountKind
}

// New returns a wallet on store, creating the system accounts if missing.
// Call Run to start its writer.
func New(ctx context.Context, store Store, cfg Config) (*Service, error) {
	if len(cfg.Pepper) < PepperBytes {
		return nil, fmt.Errorf("wallet: the PIN pepper must be at least %d bytes", PepperBytes)
	}
	if cfg.Currency.Code == "" {
		return nil, errors.New("wallet: no currency")
	}
	if cfg.Region == "" {
		return nil, errors.New("wallet: no region")
	}
	if cfg.Tariff.Send == nil {
		cfg.Tariff = DefaultTariff(cfg.Currency)
	}
	if err := cfg.Tariff.Validate(); err != nil {
		return nil, fmt.Errorf("wallet: tariff: %w", err)
	}
	if cfg.Tiers == nil {
		cfg.Tiers = DefaultLimits(cfg.Currency)
	}
	if cfg.PINLength == 0 {
		cfg.PINLength = DefaultPINLength
	}
	if cfg.PINLength < PINLengthMin || cfg.PINLength > PINLengthMax {
		return nil, fmt.Errorf("wallet: PIN length %d is not between %d and %d", cfg.PINLength, PINLengthMin, PINLengthMax)
	}
	if cfg.PINTriesMax == 0 {
		cfg.PINTriesMax = DefaultPINTries
	}
	if cfg.ReversalWindow == 0 {
		cfg.ReversalWindow = 24 * time.Hour
	}
	if cfg.StartKeyTTL == 0 {
		cfg.StartKeyTTL = DefaultStartKeyTTL
	}
	if cfg.StartKeyTTL < 0 {
		return nil, fmt.Errorf("wallet: the start key validity %s is negative", cfg.StartKeyTTL)
	}
	cfg.PINBudget = cfg.PINBudget.withDefaults()
	if cfg.ObjectionWindow == 0 {
		cfg.ObjectionWindow = DefaultObjectionWindow
	}
	if cfg.ObjectionWindow < 0 || cfg.ObjectionWindow > ObjectionWindowMax {
		return nil, fmt.Errorf("wallet: the objection window %s is not between 0 and %s", cfg.ObjectionWindow, ObjectionWindowMax)
	}
	if cfg.ReversalSweep == 0 {
		cfg.ReversalSweep = defaultReversalSweep
	}
	if cfg.SIMSwapAbove < 0 {
		return nil, fmt.Errorf("wallet: the SIM-swap check amount %d is negative", cfg.SIMSwapAbove)
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.PasswordCost == (PasswordCost{}) {
		cfg.PasswordCost = DefaultPasswordCost
	}
	if err := cfg.PasswordCost.validate(); err != nil {
		return nil, fmt.Errorf("wallet: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{
		cfg: cfg, store: store, reversals: store, log: cfg.Logger, system: map[string]int64{},
		ops: make(chan *op, opQueueLen), stopping: make(chan struct{}), allSent: make(chan struct{}),
		guard: newPINGuard(cfg.PINBudget), simSwapSlots: make(chan struct{}, simSwapChecksMax),
	}
	for _, sa := range SystemAccounts {
		r, err := store.AccountByNumber(ctx, sa.Number)
		if ErrorCode(err) == CodeNotFound {
			r = &AccountRecord{Kind: KindSystem, Number: sa.Number, Name: sa.Name, Status: StatusActive,
				AllowNegative: sa.AllowNegative, Created: cfg.Now().UTC()}
			err = store.CreateAccount(ctx, r)
			if ErrorCode(err) == CodeExists { // another wallet process created it first
				r, err = store.AccountByNumber(ctx, sa.Number)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("wallet: system account %s: %w", sa.Number, err)
		}
		s.system[sa.Number] = r.ID
	}
	s.reviewStore, _ = store.(ReviewStore)
	if cfg.Rules != nil {
		if s.reviewStore == nil {
			return nil, errors.New("wallet: the fraud rules need a store that keeps a review queue")
		}
		if err := s.loadReviews(ctx); err != nil {
			return nil, fmt.Errorf("wallet: review queue: %w", err)
		}
		if err := s.rulesWarm(ctx); err != nil {
			return nil, fmt.Errorf("wallet: fraud rules: %w", err)
		}
	}
	return s, nil
}

// Config returns the wallet's effective configuration, defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// Run applies queued commands until ctx ends, then refuses new ones, applies
// those already queued, and returns. Run it exactly once.
func (s *Service) Run(ctx context.Context) error {
	if s.cfg.ReversalSweep > 0 {
		sweepCtx, cancel := context.WithCancel(ctx)
		swept := make(chan struct{})
		go func() { s.sweepReversals(sweepCtx); close(swept) }()
		defer func() { cancel(); <-swept }()
	}
	for {
		select {
		case o := <-s.ops:
			s.runBatch(s.collect(o))
		case <-ctx.Done():
			s.stop()
			for {
				select {
				case o := <-s.ops:
					s.runBatch(s.collect(o))
				case <-s.allSent:
					for {
						select {
						case o := <-s.ops:
							s.runBatch(s.collect(o))
						default:
							return nil
						}
					}
				}
			}
		}
	}
}

func (s *Service) collect(first *op) []*op {
	batch := []*op{first}
	for len(batch) < batchOpsMax {
		select {
		case o := <-s.ops:
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

func (s *Service) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	close(s.stopping)
	if s.pending == 0 {
		s.sentOnce.Do(func() { close(s.allSent) })
	}
}

var errStopped = &Error{Code: CodeUnavailable, Message: "the wallet is shutting down; retry with the same key"}

// enqueue hands o to the writer, which calls o.done exactly once. When it
// returns an error, o.done is not called.
func (s *Service) enqueue(o *op) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return errStopped
	}
	s.pending++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.pending--
		if s.stopped && s.pending == 0 {
			s.sentOnce.Do(func() { close(s.allSent) })
		}
		s.mu.Unlock()
	}()
	select {
	case s.ops <- o:
		return nil
	case <-s.stopping:
		return errStopped
	}
}

// Result is what a command produced: for transfers the transfer and the
// initiator's new balance; for PIN and account commands the account.
type Result struct {
	Transfer *TransferResult
	Account  *Account
	Proof    string // opVerifyPIN with op.proof: a proof of the PIN
	Err      error
}

// TransferResult is a posted (or replayed) transfer and the balance of the
// account that initiated it, after it.
type TransferResult struct {
	Transfer Transfer `json:"transfer"`
	Balance  int64    `json:"balance"`
	Replayed bool     `json:"replayed,omitempty"`
}

// call runs o and waits for its result.
func (s *Service) call(ctx context.Context, o *op) Result {
	ch := make(chan Result, 1)
	o.done = func(r Result) { ch <- r }
	if err := s.enqueue(o); err != nil {
		return Result{Err: err}
	}
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		return Result{Err: &Error{Code: CodeUnavailable, Message: "no answer in time; retry with the same key"}}
	}
}

// lookup resolves an account by number or phone, through the cache of
// accounts already seen.
func (s *Service) lookup(ctx context.Context, byPhone bool, key string) (knownAccount, error) {
	ck := "n:" + key
	if byPhone {
		ck = "p:" + key
	}
	if k, ok := s.known.Load(ck); ok {
		return k.(knownAccount), nil
	}
	var r *AccountRecord
	var err error
	if byPhone {
		r, err = s.store.AccountByPhone(ctx, key)
	} else {
		r, err = s.store.AccountByNumber(ctx, key)
	}
	if err != nil {
		return knownAccount{}, err
	}
	k := knownAccount{id: r.ID, kind: r.Kind}
	s.known.Store(ck, k)
	return k, nil
}

// phone normalises a phone number in the wallet's region.
func (s *Service) phone(raw string) (string, error) { return NormalizePhone(raw, s.cfg.Region) }

// byPhone finds the account a phone operates.
func (s *Service) byPhone(ctx context.Context, raw string) (knownAccount, string, error) {
	// Callers that already normalised (the gateway, after the first hop)
	// skip the phone-number library, which costs more than the rest of a
	// request's preparation.
	if len(raw) > 1 && raw[0] == '+' {
		if k, ok := s.known.Load("p:" + raw); ok {
			return k.(knownAccount), raw, nil
		}
	}
	p, err := s.phone(raw)
	if err != nil {
		return knownAccount{}, "", err
	}
	k, err := s.lookup(ctx, true, p)
	if ErrorCode(err) == CodeNotFound {
		err = Errorf(CodeNotFound, "no account for %s", p)
	}
	return k, p, err
}

// Lookup returns the profile of the account with the given number (agent,
// till, paybill, system) or phone (customer, agent). It needs no PIN: it is
// what a confirmation screen shows ("send 500 to JANE DOE?").
func (s *Service) Lookup(ctx context.Context, numberOrPhone string) (*Profile, error) {
	a, err := s.Show(ctx, numberOrPhone)
	if err != nil {
		return nil, err
	}
	return &a.Profile, nil
}

// Show (operator) returns the account with its balance, read from the
// database without a PIN.
func (s *Service) Show(ctx context.Context, numberOrPhone string) (*Account, error) {
	r, err := s.record(ctx, numberOrPhone)
	if err != nil {
		return nil, err
	}
	a := r.Account()
	return &a, nil
}

func (s *Service) record(ctx context.Context, numberOrPhone string) (*AccountRecord, error) {
	if numberOrPhone == "" || len(numberOrPhone) > 32 {
		return nil, Errorf(CodeInvalid, "an account number or phone is required")
	}
	r, err := s.store.AccountByNumber(ctx, numberOrPhone)
	if ErrorCode(err) != CodeNotFound {
		return r, err
	}
	p, perr := s.phone(numberOrPhone)
	if perr != nil {
		return nil, Errorf(CodeNotFound, "no account %q", numberOrPhone)
	}
	r, err = s.store.AccountByPhone(ctx, p)
	if ErrorCode(err) == CodeNotFound {
		return nil, Errorf(CodeNotFound, "no account for %s", p)
	}
	return r, err
}

// requestHash identifies a money command's payload for idempotency: the
// normalised fields, never the PIN.
func requestHash(parts ...string) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(strconv.Itoa(len(p))))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
	return h.Sum(nil)[:16]
}

func sortedUnique(ids []int64) []int64 {
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	out := ids[:0]
	for i, id := range ids {
		if i == 0 || id != ids[i-1] {
			out = append(out, id)
		}
	}
	return out
}
