package wallet

import (
	"context"
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
	// Splits, on a settle, share the amount left after the fee among
	// merchants by weight (largest remainder); empty means all to To.
	Splits []Share `json:"splits,omitempty"`
}

// Share is one merchant's part of a split settlement: a till or paybill
// number and a positive weight (its accrued amount, or a percentage).
type Share struct {
	To     string `json:"to"`
	Weight int64  `json:"weight"`
}

// plan is a transfer request resolved to accounts, ready for the writer.
type plan struct {
	key        string
	hash       []byte
	kind       TransferKind
	actor      int64 // whose PIN authorises it; 0 for operator commands
	source     int64
	target     int64
	amount     int64
	fee        int64
	commission int64
	reference  string
	original   *Transfer // for a reversal
}

type opKind int

const (
	opTransfer opKind = iota
	opVerifyPIN
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
	proof   string // opChangePIN: a PIN proof standing in for pin; opVerifyPIN: "want" asks for one
	status  Status
	lang    string
	done    func(Result)
}

// Transfer moves money and waits for the result.
func (s *Service) Transfer(ctx context.Context, req TransferRequest) (*TransferResult, error) {
	p, err := s.prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	r := s.call(ctx, &op{kind: opTransfer, plan: p, pin: req.PIN})
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
	o := &op{kind: opTransfer, plan: p, pin: req.PIN, done: func(r Result) { done(r.Transfer, r.Err) }}
	if err := s.enqueue(o); err != nil {
		done(nil, err)
	}
}

// prepare validates req and resolves its accounts. Everything it refuses is
// refused before the writer sees it and is not remembered under the key.
func (s *Service) prepare(ctx context.Context, req TransferRequest) (*plan, error) {
	if req.Key == "" || len(req.Key) > maxKeyBytes {
		return nil, Errorf(CodeInvalid, "an idempotency key of 1 to %d bytes is required", maxKeyBytes)
	}
	if len(req.Reference) > maxReferenceBytes {
		return nil, Errorf(CodeInvalid, "the reference is longer than %d characters", maxReferenceBytes)
	}
	p := &plan{key: req.Key, kind: req.Kind, amount: req.Amount, reference: req.Reference}
	if req.Kind != TransferReversal && (req.Amount <= 0 || req.Amount > MaxAmount) {
		return nil, Errorf(CodeInvalidAmount, "the amount must be positive and at most %s", s.cfg.Currency.Format(MaxAmount))
	}
	if req.Kind != TransferFloat && req.PIN == "" {
		return nil, Errorf(CodeInvalid, "a PIN is required")
	}
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
	default:
		return nil, Errorf(CodeInvalid, "unknown transfer kind %q", clip(string(req.Kind)))
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
	p.hash = requestHash(string(req.Kind), from, to, strconv.FormatInt(p.amount, 10), p.reference)
	return p, nil
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
	// reversal applies: its kind, the reversal window, not already reversed.
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
	id, ok := ParseRef(ref)
	if !ok {
		return nil, Errorf(CodeNotFound, "no transaction %q", clip(ref))
	}
	k, err := s.operatedBy(ctx, phone)
	if err != nil {
		return nil, err
	}
	t, err := s.store.TransferByRef(ctx, Ref(id))
	if ErrorCode(err) == CodeNotFound || err == nil && t.Source != k.id {
		return nil, Errorf(CodeNotFound, "no transaction %s", Ref(id))
	}
	if err != nil {
		return nil, err
	}
	reversed, err := s.store.Reversed(ctx, []int64{t.ID})
	if err != nil {
		return nil, err
	}
	target, err := s.store.AccountByID(ctx, t.Target)
	if err != nil {
		return nil, err
	}
	info := &TransferInfo{Ref: t.Ref, Kind: t.Kind, Amount: t.Amount, Counterparty: target.Number, Name: target.Name,
		Reference: t.Reference, Created: t.Created,
		Reversible: s.reversible(t, k.id, reversed[t.ID], s.cfg.Now().UTC()) == nil}
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
