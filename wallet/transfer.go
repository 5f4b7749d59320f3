package wallet

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// TransferRequest is a money command. Which fields it needs depends on Kind:
//
//	send      From customer phone, To customer phone, Amount, PIN (the sender's)
//	deposit   From agent phone, To customer phone, Amount, PIN (the agent's)
//	withdraw  From customer phone, To agent number, Amount, PIN
//	till      From customer phone, To till number, Amount, PIN
//	paybill   From customer phone, To paybill number, Reference (account), Amount, PIN
//	airtime   From customer phone, To the phone to top up (empty: From's), Amount, PIN
//	float     To agent number or phone, Amount, Reference (the bank deposit); operator only, no PIN
//	reversal  From the original sender's phone, Reference (its transaction id), PIN
//
// The merchant kinds, posted only by the merchant services in the wallet's
// own process (package wallet/merchant; the NATS API refuses them), need no
// PIN except hold:
//
//	payout    From till or paybill number, To customer phone, Amount, Reference (optional)
//	refund    From till or paybill number, Reference (the transaction id of the payment), Amount
//	settle    From customer phone (postpaid) or SystemTabs (prepaid), To till or paybill
//	          number (the tab's merchant), Amount, Reference (the tab), Splits (optional)
//	hold      From customer phone, Amount, Reference (the tab), PIN
//	release   To customer phone, Amount, Reference (the tab)
//
// A payout's fee (Tariff.Payout) is paid by the merchant on top of the
// amount, and the recipient's tier limits apply. A refund carries no fee and
// returns part or all of what a till, paybill or settle transfer paid the
// merchant to the customer who paid it: at most the principal the merchant
// received in it, less the refunds it already made against it. A prepaid
// settlement (paid from the tabs account) cannot be refunded, nor can a
// reversed transfer; a transfer with refunds cannot be reversed. A
// settlement's fee (Tariff.Settle) comes out of the amount: the payees share
// Amount − fee by weight (wallet.Split, largest remainder); the customer's
// tier limits do not apply (the customer approved the tab's cap with the
// PIN) but the debit counts toward the day's total. A hold moves a prepaid
// tab's load to the tabs account under the customer's limits; a release
// returns what the tab did not spend, without limits.
//
// Key is the client's idempotency key: a replay returns the first result, and
// the same key with a different request is CodeConflict.
type TransferRequest struct {
	Key       string       `json:"key"`
	Kind      TransferKind `json:"kind"`
	From      string       `json:"from,omitempty"`
	To        string       `json:"to,omitempty"`
	Amount    int64        `json:"amount,omitempty"`
	Reference string       `json:"reference,omitempty"`
	PIN       string       `json:"pin,omitempty"`
	// Source and Attempt say where the PIN came from and which try it is
	// (see PINAttempt); empty, they are taken from the context's
	// PINAttempt. They are not part of the request's identity: a retry on
	// another hop under the same Key is the same transfer.
	Source  string `json:"source,omitempty"`
	Attempt string `json:"attempt,omitempty"`
	// Splits, on a settle, share the amount left after the fee among
	// merchants by weight (largest remainder); empty means all to To.
	Splits []Share `json:"splits,omitempty"`
	// LegacyKey, set by the NATS API only (never decoded from a payload),
	// is the key Key had before the API put outside callers' keys in a
	// namespace of their own: a command first made under it, with the same
	// payload, is replayed rather than posted again, so a retry that spans
	// the upgrade (or a rolling one, old and new wallets side by side)
	// moves no money twice. Nothing is ever written under it.
	LegacyKey string `json:"-"`
}

// Share is one merchant's part of a split settlement: a till or paybill
// number and a positive weight (its accrued amount, or a percentage).
type Share struct {
	To     string `json:"to"`
	Weight int64  `json:"weight"`
}

// splitsMax bounds the payees of one settlement: a pay-per-click network
// shares a click among a handful of parties, and every payee is a locked
// account and a posting.
const splitsMax = 64

// splitWeightMax bounds one split weight: a tab's accrued amount in Micro
// fits, and splitsMax of them sum far below the int64 ceiling.
const splitWeightMax = int64(MicroMax)

// plan is a transfer request resolved to accounts, ready for the writer.
type plan struct {
	key        string
	legacy     string // TransferRequest.LegacyKey
	hash       []byte
	kind       TransferKind
	actor      int64 // whose PIN authorises it; 0 for operator and merchant commands
	initiator  int64 // whose balance the reply reports: the actor, a merchant, else the target
	source     int64
	target     int64
	amount     int64
	fee        int64
	commission int64
	reference  string
	original   *Transfer // for a reversal or a refund
	request    int64     // for a reversal request's steps (hold, completion, release): its id
	held       int64     // for a request's completion: what its hold took, paying the recipient's share
	payees     []payee   // for a settlement: who shares Amount − fee
	attempt    PINAttempt
}

// payee is one account a settlement pays, with its weight.
type payee struct {
	id     int64
	weight int64
}

// needsPIN reports whether a kind of transfer is authorised by a PIN; the
// others are operator commands (float) or the merchant services' own.
func needsPIN(k TransferKind) bool {
	switch k {
	case TransferFloat, TransferPayout, TransferRefund, TransferSettle, TransferRelease:
		return false
	}
	return true
}

// reversalStep reports whether k is a kind only a reversal request posts
// (the completion, a TransferReversal, is told by plan.request).
func (k TransferKind) reversalStep() bool {
	return k == TransferReversalHold || k == TransferReversalRelease
}

// MerchantOnly reports whether only the wallet's merchant services may post
// this kind of transfer: the NATS transfer subjects refuse it.
func (k TransferKind) MerchantOnly() bool {
	switch k {
	case TransferPayout, TransferRefund, TransferSettle, TransferHold, TransferRelease:
		return true
	}
	return false
}

type opKind int

const (
	opTransfer opKind = iota
	opVerifyPIN
	opStartKey
	opSetPIN
	opChangePIN
	opResetPIN
	opSetStatus
	opSetLanguage
)

// op is one command for the writer.
type op struct {
	kind    opKind
	plan    *plan // opTransfer
	account int64 // the other ops
	pin     string
	newPIN  string
	proof   string // opChangePIN: a PIN proof standing in for pin; opVerifyPIN: "want" asks for one; opSetPIN: a start key proof
	// startKey is the start key tried (opStartKey, opSetPIN).
	startKey string
	attempt  PINAttempt
	status   Status
	lang     string
	done     func(Result)
}

// Transfer moves money and waits for the result.
func (s *Service) Transfer(ctx context.Context, req TransferRequest) (*TransferResult, error) {
	p, err := s.prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	if s.simSwapGated(p) {
		if err := s.simSwapTransfer(ctx, p); err != nil {
			return nil, err
		}
	}
	if s.rulesGated(p) {
		d, err := s.rulesCheck(p)
		if err == nil && d.fired() {
			err = s.rulesHold(ctx, p, req, d)
		}
		if err != nil {
			return nil, err
		}
	}
	r := s.call(ctx, &op{kind: opTransfer, plan: p, pin: req.PIN})
	s.rulesCommitted(p, r.Transfer)
	return r.Transfer, r.Err
}

// TransferAsync queues req and calls done with the result once it is
// committed or refused, from the writer's goroutine: done must not block.
// It is for servers whose handlers must not wait (the NATS API).
func (s *Service) TransferAsync(ctx context.Context, req TransferRequest, done func(*TransferResult, error)) {
	p, err := s.prepare(ctx, req)
	if err != nil {
		done(nil, err)
		return
	}
	o := &op{kind: opTransfer, plan: p, pin: req.PIN, done: func(r Result) { s.rulesCommitted(p, r.Transfer); done(r.Transfer, r.Err) }}
	var d RuleDecision
	if s.rulesGated(p) {
		if d, err = s.rulesCheck(p); err != nil {
			done(nil, err)
			return
		}
	}
	if s.simSwapGated(p) || d.fired() {
		// The check is a network call: wait for it on a goroutine of its
		// own, a bounded number at once, with ctx's deadline but not its
		// cancellation (the caller returns at once).
		s.simSwapSlots <- struct{}{}
		gctx, cancel := context.WithoutCancel(ctx), func() {}
		if dl, ok := ctx.Deadline(); ok {
			gctx, cancel = context.WithDeadline(gctx, dl)
		}
		go func() {
			defer func() { <-s.simSwapSlots }()
			defer cancel()
			if s.simSwapGated(p) {
				if err := s.simSwapTransfer(gctx, p); err != nil {
					done(nil, err)
					return
				}
			}
			if d.fired() {
				if err := s.rulesHold(gctx, p, req, d); err != nil {
					done(nil, err)
					return
				}
			}
			if err := s.enqueue(o); err != nil {
				done(nil, err)
			}
		}()
		return
	}
	if err := s.enqueue(o); err != nil {
		done(nil, err)
	}
}

// prepare validates req and resolves its accounts. Everything it refuses is
// refused before the writer sees it and is not remembered under the key.
func (s *Service) prepare(ctx context.Context, req TransferRequest) (*plan, error) {
	if req.Key == "" || len(req.Key) > KeyBytesMax {
		return nil, Errorf(CodeInvalid, "an idempotency key of 1 to %d bytes is required", KeyBytesMax)
	}
	if len(req.Reference) > ReferenceBytesMax {
		return nil, Errorf(CodeInvalid, "the reference is longer than %d characters", ReferenceBytesMax)
	}
	if len(req.LegacyKey) > KeyBytesMax {
		return nil, Errorf(CodeInvalid, "an idempotency key of 1 to %d bytes is required", KeyBytesMax)
	}
	p := &plan{key: req.Key, legacy: req.LegacyKey, kind: req.Kind, amount: req.Amount, reference: req.Reference,
		attempt: PINAttempt{Source: req.Source, Key: req.Attempt}.or(PINAttemptFrom(ctx))}
	if req.Kind != TransferReversal && (req.Amount <= 0 || req.Amount > AmountMax) {
		return nil, Errorf(CodeInvalidAmount, "the amount must be positive and at most %s", s.cfg.Currency.Format(AmountMax))
	}
	if needsPIN(req.Kind) && req.PIN == "" {
		return nil, Errorf(CodeInvalid, "a PIN is required")
	}
	if len(req.Splits) > 0 && req.Kind != TransferSettle {
		return nil, Errorf(CodeInvalid, "only a settlement can be split")
	}
	var splits []string // normalised, for the request hash
	var from, to string // normalised, for the request hash
	var err error
	switch req.Kind {
	case TransferSend, TransferDeposit:
		wantFrom := KindCustomer
		if req.Kind == TransferDeposit {
			wantFrom = KindAgent
		}
		var src, dst knownAccount
		if src, from, err = s.party(ctx, req.From, wantFrom, "from"); err != nil {
			return nil, err
		}
		if dst, to, err = s.party(ctx, req.To, KindCustomer, "to"); err != nil {
			return nil, err
		}
		p.actor, p.source, p.target = src.id, src.id, dst.id
	case TransferWithdraw, TransferTill, TransferPaybill:
		var src, dst knownAccount
		if src, from, err = s.party(ctx, req.From, KindCustomer, "from"); err != nil {
			return nil, err
		}
		want := map[TransferKind]AccountKind{TransferWithdraw: KindAgent, TransferTill: KindTill, TransferPaybill: KindPaybill}[req.Kind]
		if dst, err = s.lookup(ctx, false, req.To); err != nil {
			if ErrorCode(err) == CodeNotFound {
				err = Errorf(CodeNotFound, "no %s number %q", want, clip(req.To))
			}
			return nil, err
		}
		if dst.kind != want {
			return nil, Errorf(CodeWrongKind, "%q is not a %s number", clip(req.To), want)
		}
		if req.Kind == TransferPaybill && req.Reference == "" {
			return nil, Errorf(CodeInvalid, "a paybill payment needs an account reference")
		}
		to = req.To
		p.actor, p.source, p.target = src.id, src.id, dst.id
	case TransferAirtime:
		var src knownAccount
		if src, from, err = s.party(ctx, req.From, KindCustomer, "from"); err != nil {
			return nil, err
		}
		to = from
		if req.To != "" {
			if to, err = s.phone(req.To); err != nil {
				return nil, err
			}
		}
		p.reference = to
		p.actor, p.source, p.target = src.id, src.id, s.system[SystemAirtime]
	case TransferFloat:
		if req.Reference == "" {
			return nil, Errorf(CodeInvalid, "a float issue needs the bank deposit reference")
		}
		dst, err := s.lookup(ctx, false, req.To)
		if ErrorCode(err) == CodeNotFound {
			dst, to, err = s.party(ctx, req.To, KindAgent, "to")
			if code := ErrorCode(err); code == CodeInvalidPhone || code == CodeNotFound {
				err = Errorf(CodeNotFound, "no agent %q", clip(req.To))
			}
		}
		if err != nil {
			return nil, err
		}
		if dst.kind != KindAgent {
			return nil, Errorf(CodeWrongKind, "%q is not an agent", clip(req.To))
		}
		to = strconv.FormatInt(dst.id, 10)
		p.source, p.target = s.system[SystemTrust], dst.id
	case TransferReversal:
		actor, f, err := s.byPhone(ctx, req.From)
		if err != nil {
			return nil, err
		}
		from = f
		orig, err := s.store.TransferByRef(ctx, req.Reference)
		if err != nil {
			return nil, err
		}
		p.actor, p.original = actor.id, orig
		p.source, p.target, p.amount, p.fee, p.commission = orig.Target, orig.Source, orig.Amount, orig.Fee, orig.Commission
		p.reference = orig.Ref
	case TransferPayout:
		var src, dst knownAccount
		if src, from, err = s.merchant(ctx, req.From, "from"); err != nil {
			return nil, err
		}
		if dst, to, err = s.party(ctx, req.To, KindCustomer, "to"); err != nil {
			return nil, err
		}
		p.source, p.target, p.initiator = src.id, dst.id, src.id
	case TransferRefund:
		var src knownAccount
		if src, from, err = s.merchant(ctx, req.From, "from"); err != nil {
			return nil, err
		}
		if req.Reference == "" {
			return nil, Errorf(CodeInvalid, "a refund needs the transaction id of the payment it refunds")
		}
		orig, err := s.store.TransferByRef(ctx, req.Reference)
		if err != nil {
			return nil, err
		}
		p.original, p.reference = orig, orig.Ref
		p.source, p.target, p.initiator = src.id, orig.Source, src.id
	case TransferSettle:
		if req.From == SystemTabs {
			from, p.source = SystemTabs, s.system[SystemTabs]
		} else {
			var src knownAccount
			if src, from, err = s.party(ctx, req.From, KindCustomer, "from"); err != nil {
				return nil, err
			}
			p.source = src.id
		}
		var dst knownAccount
		if dst, to, err = s.merchant(ctx, req.To, "to"); err != nil {
			return nil, err
		}
		p.target = dst.id
		if p.payees, splits, err = s.payees(ctx, dst.id, req.Splits); err != nil {
			return nil, err
		}
	case TransferHold:
		var src knownAccount
		if src, from, err = s.party(ctx, req.From, KindCustomer, "from"); err != nil {
			return nil, err
		}
		if req.Reference == "" {
			return nil, Errorf(CodeInvalid, "a hold needs the tab it loads as its reference")
		}
		p.actor, p.source, p.target = src.id, src.id, s.system[SystemTabs]
	case TransferRelease:
		var dst knownAccount
		if dst, to, err = s.party(ctx, req.To, KindCustomer, "to"); err != nil {
			return nil, err
		}
		if req.Reference == "" {
			return nil, Errorf(CodeInvalid, "a release needs the tab it closes as its reference")
		}
		p.source, p.target = s.system[SystemTabs], dst.id
	default:
		return nil, Errorf(CodeInvalid, "unknown transfer kind %q", clip(string(req.Kind)))
	}
	if p.initiator == 0 {
		p.initiator = p.actor
		if p.initiator == 0 {
			p.initiator = p.target
		}
	}
	if p.source == p.target {
		return nil, Errorf(CodeSameAccount, "cannot send money to the same account")
	}
	if req.Kind != TransferReversal {
		p.fee, p.commission, err = s.cfg.Tariff.Quote(req.Kind, req.Amount)
		if err != nil {
			return nil, err
		}
	}
	// Splits extend the hash only when present, so that the hashes of
	// requests stored before splits existed still match their replays.
	p.hash = requestHash(append([]string{string(req.Kind), from, to, strconv.FormatInt(p.amount, 10), p.reference}, splits...)...)
	return p, nil
}

// merchant resolves a till or paybill number.
func (s *Service) merchant(ctx context.Context, number, field string) (knownAccount, string, error) {
	if number == "" {
		return knownAccount{}, "", Errorf(CodeInvalid, "%s: a till or paybill number is required", field)
	}
	k, err := s.lookup(ctx, false, number)
	if ErrorCode(err) == CodeNotFound {
		return k, "", Errorf(CodeNotFound, "no till or paybill number %q", clip(number))
	}
	if err != nil {
		return k, "", err
	}
	if k.kind != KindTill && k.kind != KindPaybill {
		return k, "", Errorf(CodeWrongKind, "%q is not a till or paybill number", clip(number))
	}
	return k, number, nil
}

// payees resolves a settlement's splits: each a till or paybill number with
// a weight in (0, splitWeightMax], at most splitsMax of them. No splits pay
// everything to the tab's merchant. It also returns the splits as they enter
// the request hash.
func (s *Service) payees(ctx context.Context, merchant int64, splits []Share) ([]payee, []string, error) {
	if len(splits) == 0 {
		return []payee{{id: merchant, weight: 1}}, nil, nil
	}
	if len(splits) > splitsMax {
		return nil, nil, Errorf(CodeInvalid, "a settlement can be split %d ways at most", splitsMax)
	}
	out := make([]payee, len(splits))
	hash := make([]string, 0, 2*len(splits))
	for i, sp := range splits {
		if sp.Weight <= 0 || sp.Weight > splitWeightMax {
			return nil, nil, Errorf(CodeInvalid, "split %d: the weight must be between 1 and %d", i+1, splitWeightMax)
		}
		k, _, err := s.merchant(ctx, sp.To, fmt.Sprintf("split %d", i+1))
		if err != nil {
			return nil, nil, err
		}
		out[i] = payee{id: k.id, weight: sp.Weight}
		hash = append(hash, sp.To, strconv.FormatInt(sp.Weight, 10))
	}
	return out, hash, nil
}

// sentBy finds the transfer ref that the account phone operates sent
// (debited its principal). Another account's transfer, an unknown ref and a
// malformed one are all CodeNotFound, alike, so that no one learns which
// transfers exist; so is a phone that operates no account.
func (s *Service) sentBy(ctx context.Context, phone, ref string) (knownAccount, *Transfer, error) {
	id, ok := ParseRef(ref)
	if !ok {
		return knownAccount{}, nil, Errorf(CodeNotFound, "no transaction %q", clip(ref))
	}
	k, err := s.operatedBy(ctx, phone)
	if err != nil {
		return knownAccount{}, nil, err
	}
	t, err := s.store.TransferByRef(ctx, Ref(id))
	if ErrorCode(err) == CodeNotFound || err == nil && t.Source != k.id {
		return knownAccount{}, nil, Errorf(CodeNotFound, "no transaction %s", Ref(id))
	}
	if err != nil {
		return knownAccount{}, nil, err
	}
	return k, t, nil
}

// TransferInfo is a transfer as its sender sees it: what the screen that
// confirms a reversal shows before asking for the PIN ("Reverse QK7M2X9A1B:
// KES 500.00 to JANE DOE on 21/11?").
type TransferInfo struct {
	Ref          string       `json:"ref"`
	Kind         TransferKind `json:"kind"`
	Amount       int64        `json:"amount"`       // the principal
	Fee          int64        `json:"fee"`          // paid by the sender: 0 where the merchant pays (till, paybill)
	Counterparty string       `json:"counterparty"` // number of the account credited the principal
	Name         string       `json:"name"`         // and its name
	Reference    string       `json:"reference,omitempty"`
	Created      time.Time    `json:"created"`
	// Reversible says whether the sender may reverse it now, by the rules the
	// reversal applies: its kind, the reversal window, not already reversed
	// and not refunded (in part) by the merchant.
	// The reversal may still be refused if the recipient has spent the money,
	// which is not shown here: that would reveal the recipient's balance.
	Reversible bool `json:"reversible"`
}

// TransferInfo returns the transfer with human id ref as the account phone
// operates sees it, if that account was the transfer's source (the account
// debited its principal). It needs no PIN: the reversal it leads to does.
// Another account's transfer, an unknown ref and a malformed one are all
// CodeNotFound, alike, so that no one learns which transfers exist; so is a
// phone that operates no account.
func (s *Service) TransferInfo(ctx context.Context, phone, ref string) (*TransferInfo, error) {
	k, t, err := s.sentBy(ctx, phone, ref)
	if err != nil {
		return nil, err
	}
	reversed, err := s.store.Reversed(ctx, []int64{t.ID})
	if err != nil {
		return nil, err
	}
	refunded, err := s.store.Refunded(ctx, []int64{t.ID})
	if err != nil {
		return nil, err
	}
	target, err := s.store.AccountByID(ctx, t.Target)
	if err != nil {
		return nil, err
	}
	// A transfer with a reversal request is being reversed already.
	_, err = s.reversals.ReversalByOriginal(ctx, t.ID)
	if err == nil {
		reversed[t.ID] = true
	} else if ErrorCode(err) != CodeNotFound {
		return nil, err
	}
	info := &TransferInfo{Ref: t.Ref, Kind: t.Kind, Amount: t.Amount, Counterparty: target.Number, Name: target.Name,
		Reference: t.Reference, Created: t.Created,
		Reversible: s.reversible(t, k.id, reversed[t.ID], len(refunded) > 0, s.cfg.Now().UTC()) == nil}
	for _, q := range t.Postings {
		if q.Leg == LegFee && q.AccountID == t.Source {
			info.Fee -= q.Amount
		}
	}
	return info, nil
}

// party resolves a phone to an account of the wanted kind.
func (s *Service) party(ctx context.Context, raw string, want AccountKind, field string) (knownAccount, string, error) {
	if raw == "" {
		return knownAccount{}, "", Errorf(CodeInvalid, "%s: a phone number is required", field)
	}
	k, p, err := s.byPhone(ctx, raw)
	if err != nil {
		return k, p, err
	}
	if k.kind != want {
		return k, p, Errorf(CodeWrongKind, "%s is not a %s", p, want)
	}
	return k, p, nil
}

// Quote is the fee and commission a transfer would carry, as a confirmation
// screen shows them.
type Quote struct {
	Fee        int64 `json:"fee"`
	Commission int64 `json:"commission"`
}

// Quote returns the fee and commission a transfer of amount would carry.
func (s *Service) Quote(kind TransferKind, amount int64) (fee, commission int64, err error) {
	return s.cfg.Tariff.Quote(kind, amount)
}

// clip bounds user input echoed in an error message.
func clip(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

// day returns t's date in the wallet's zone as yyyymmdd.
func (s *Service) day(t time.Time) int {
	y, m, d := t.In(s.cfg.Location).Date()
	return y*10000 + int(m)*100 + d
}
