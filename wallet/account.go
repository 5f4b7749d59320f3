package wallet

import (
	"context"
	"crypto/rand"
	"math/big"
	"time"
)

// businessNumberDigits is the length of agent, till and paybill numbers:
// short enough to type on a keypad, 900,000 of them.
const businessNumberDigits = 6

// numberAttemptsMax bounds the retries when a random business number is taken.
const numberAttemptsMax = 20

// Register opens a customer account for phone, without a PIN. A basic-tier
// account is self-registered: its owner, dialling, sets the first PIN
// (SetPIN). A higher tier follows an operator's check of the owner's ID, so
// the account is the operator's opening (OpenCustomer): its first PIN needs
// the start key returned in Account.StartKey and sent by SMS to phone.
func (s *Service) Register(ctx context.Context, phone, name string, tier Tier, language string) (*Account, error) {
	return s.openCustomer(ctx, phone, name, tier, language, tier != TierBasic)
}

// OpenCustomer (operator) opens a customer account for phone at either
// tier. As an agent's, its first PIN needs a start key, returned
// in Account.StartKey for the operator to hand over and sent by SMS to
// phone: the operator opened it, so whoever dials first from (or spoofs)
// phone must not choose the PIN.
func (s *Service) OpenCustomer(ctx context.Context, phone, name string, tier Tier, language string) (*Account, error) {
	return s.openCustomer(ctx, phone, name, tier, language, true)
}

func (s *Service) openCustomer(ctx context.Context, phone, name string, tier Tier, language string, startKey bool) (*Account, error) {
	p, err := s.phone(phone)
	if err != nil {
		return nil, err
	}
	if tier != TierBasic && tier != TierFull {
		return nil, Errorf(CodeInvalid, "unknown tier %d", tier)
	}
	return s.open(ctx, &AccountRecord{Kind: KindCustomer, Number: p, Phone: p, Name: name, Tier: tier, Language: language}, startKey)
}

// AddAgent opens an agent float account operated from phone, with a new
// agent number. The agent sets its PIN on first use.
func (s *Service) AddAgent(ctx context.Context, phone, name string) (*Account, error) {
	p, err := s.phone(phone)
	if err != nil {
		return nil, err
	}
	return s.openNumbered(ctx, &AccountRecord{Kind: KindAgent, Phone: p, Name: name})
}

// AddMerchant opens a till (or, with paybill, a paybill) account with a new
// business number; phone is the merchant's contact for receipts.
func (s *Service) AddMerchant(ctx context.Context, phone, name string, paybill bool) (*Account, error) {
	p, err := s.phone(phone)
	if err != nil {
		return nil, err
	}
	kind := KindTill
	if paybill {
		kind = KindPaybill
	}
	return s.openNumbered(ctx, &AccountRecord{Kind: kind, Phone: p, Name: name})
}

func (s *Service) openNumbered(ctx context.Context, r *AccountRecord) (*Account, error) {
	for range numberAttemptsMax {
		n, err := rand.Int(rand.Reader, big.NewInt(9*100_000))
		if err != nil {
			return nil, err
		}
		r.Number = big.NewInt(0).Add(n, big.NewInt(100_000)).String()
		a, err := s.open(ctx, r, r.Kind == KindAgent)
		if ErrorCode(err) != CodeExists {
			return a, err
		}
		// Taken: an agent's phone (final) or the number (try another).
		if r.Kind == KindAgent {
			if _, perr := s.store.AccountByPhone(ctx, r.Phone); perr == nil {
				return nil, Errorf(CodeExists, "%s already has an account", r.Phone)
			}
		}
	}
	return nil, Errorf(CodeInternal, "no free business number after %d tries", numberAttemptsMax)
}

// open validates r and inserts it, with a start key for its first PIN if
// startKey is set. Only customers and agents dial from their phone, so only
// their phone must be unused; a merchant's phone is a contact and may also
// hold a customer account.
func (s *Service) open(ctx context.Context, r *AccountRecord, startKey bool) (*Account, error) {
	name, nerr := normalName(r.Name)
	if nerr != nil {
		return nil, nerr
	}
	r.Name = name
	if len(r.Language) > 8 {
		return nil, Errorf(CodeInvalid, "unknown language %q", clip(r.Language))
	}
	if r.Kind == KindCustomer && r.Tier == 0 {
		r.Tier = TierBasic
	}
	r.Status = StatusActive
	r.Created = s.cfg.Now().UTC()
	// The first PIN of an account an operator opened (an agent, a customer
	// opened after a KYC check) needs a start key: the first dial from its
	// phone must prove it got the key.
	var key string
	if startKey {
		key = issueStartKey(s.cfg.Pepper, r, r.Created, s.cfg.StartKeyTTL)
	}
	if err := s.store.CreateAccount(ctx, r); err != nil {
		if ErrorCode(err) == CodeExists && r.Kind == KindCustomer {
			return nil, Errorf(CodeExists, "%s already has an account", r.Phone)
		}
		return nil, err
	}
	a := r.Account()
	if key != "" {
		s.notify(Notice{Kind: NoticeStartKey, Account: a, StartKey: key, Expires: r.StartKeyExpires, At: r.Created})
		a.StartKey = key
	}
	return &a, nil
}

// operatedBy finds the account phone operates: CodeNotFound if there is
// none, or if phone is not a phone at all.
func (s *Service) operatedBy(ctx context.Context, phone string) (knownAccount, error) {
	k, _, err := s.byPhone(ctx, phone)
	if ErrorCode(err) == CodeInvalidPhone {
		// A till or agent number is not a phone: say there is no such account.
		err = Errorf(CodeNotFound, "no account operated from %q", clip(phone))
	}
	return k, err
}

// accountOp resolves phone and runs an account command on the writer, with
// the context's PINAttempt.
func (s *Service) accountOp(ctx context.Context, phone string, o *op) (*Account, error) {
	k, err := s.operatedBy(ctx, phone)
	if err != nil {
		return nil, err
	}
	o.account, o.attempt = k.id, PINAttemptFrom(ctx)
	r := s.call(ctx, o)
	return r.Account, r.Err
}

// SetPIN sets the first PIN of a self-registered account phone operates.
// CodeExists if one is set; CodeStartKeyRequired if the account has a
// start key (an agent, an imported customer, any account after a PIN
// reset): use SetPINWithStartKey or SetPINWithProof.
func (s *Service) SetPIN(ctx context.Context, phone, pin string) (*Account, error) {
	return s.SetPINWithStartKey(ctx, phone, "", pin)
}

// SetPINWithStartKey sets the first PIN of the account phone operates,
// after checking its start key (ignored, and may be empty, for an account
// without one). A wrong start key is CodeStartKeyInvalid with the tries
// left and counts toward the PIN lockout; an expired one is
// CodeStartKeyExpired.
func (s *Service) SetPINWithStartKey(ctx context.Context, phone, startKey, pin string) (*Account, error) {
	if err := checkPINFormat(pin, s.cfg.PINLength); err != nil {
		return nil, err
	}
	if len(startKey) > startKeyBytesMax {
		return nil, Errorf(CodeInvalid, "a start key has %d digits", StartKeyDigits)
	}
	if startKey != "" {
		if err := s.simSwapGatePhone(ctx, phone, SIMSwapPIN); err != nil {
			return nil, err
		}
	}
	return s.accountOp(ctx, phone, &op{kind: opSetPIN, newPIN: pin, startKey: startKey})
}

// StartKeyProof checks the start key of the account phone operates, as
// SetPINWithStartKey does (a wrong one counts toward the lockout), and
// returns a proof of it that SetPINWithProof accepts for PINProofTTL: the
// menu that asks for the key on one screen and the new PIN on the next
// keeps the proof between them, never the key.
func (s *Service) StartKeyProof(ctx context.Context, phone, startKey string) (string, error) {
	if startKey == "" || len(startKey) > startKeyBytesMax {
		return "", Errorf(CodeInvalid, "a start key of %d digits is required", StartKeyDigits)
	}
	k, err := s.operatedBy(ctx, phone)
	if err != nil {
		return "", err
	}
	if err := s.simSwapGate(ctx, k.id, SIMSwapPIN); err != nil {
		return "", err
	}
	r := s.call(ctx, &op{kind: opStartKey, account: k.id, startKey: startKey, attempt: PINAttemptFrom(ctx)})
	return r.Proof, r.Err
}

// SetPINWithProof sets the first PIN with a proof from StartKeyProof in
// place of the start key. An expired or forged proof is
// CodeStartKeyInvalid without a count toward the lockout.
func (s *Service) SetPINWithProof(ctx context.Context, phone, proof, pin string) (*Account, error) {
	if err := checkPINFormat(pin, s.cfg.PINLength); err != nil {
		return nil, err
	}
	if proof == "" || len(proof) > pinProofBytesMax {
		return nil, Errorf(CodeInvalid, "a start key proof is required")
	}
	if err := s.simSwapGatePhone(ctx, phone, SIMSwapPIN); err != nil {
		return nil, err
	}
	return s.accountOp(ctx, phone, &op{kind: opSetPIN, newPIN: pin, proof: proof})
}

// startKeyBytesMax bounds a start key from a client; real ones are
// StartKeyDigits long.
const startKeyBytesMax = 16

// ChangePIN replaces the PIN after verifying the old one (which counts
// toward the lockout like any other PIN check).
func (s *Service) ChangePIN(ctx context.Context, phone, oldPIN, newPIN string) (*Account, error) {
	if err := checkPINFormat(newPIN, s.cfg.PINLength); err != nil {
		return nil, err
	}
	if oldPIN == newPIN {
		return nil, Errorf(CodeInvalid, "the new PIN must differ from the old one")
	}
	if err := s.simSwapGatePhone(ctx, phone, SIMSwapPIN); err != nil {
		return nil, err
	}
	return s.accountOp(ctx, phone, &op{kind: opChangePIN, pin: oldPIN, newPIN: newPIN})
}

// PINProof verifies the PIN of the account phone operates, as VerifyPIN
// does (a wrong one counts toward the lockout), and returns a proof of it
// that ChangePINWithProof accepts for PINProofTTL, until the PIN changes.
// It lets a menu that asks for the current PIN on one screen and the new
// PIN on the next keep the proof between them, never the PIN.
func (s *Service) PINProof(ctx context.Context, phone, pin string) (string, error) {
	if pin == "" {
		return "", Errorf(CodeInvalid, "a PIN is required")
	}
	k, err := s.operatedBy(ctx, phone)
	if err != nil {
		return "", err
	}
	r := s.call(ctx, &op{kind: opVerifyPIN, account: k.id, pin: pin, proof: "want", attempt: PINAttemptFrom(ctx)})
	return r.Proof, r.Err
}

// ChangePINWithProof is ChangePIN with a proof from PINProof in place of
// the old PIN. An expired or forged proof is CodePINInvalid without a
// count toward the lockout (it is not a guess at the PIN).
func (s *Service) ChangePINWithProof(ctx context.Context, phone, proof, newPIN string) (*Account, error) {
	if err := checkPINFormat(newPIN, s.cfg.PINLength); err != nil {
		return nil, err
	}
	if proof == "" || len(proof) > pinProofBytesMax {
		return nil, Errorf(CodeInvalid, "a PIN proof is required")
	}
	if err := s.simSwapGatePhone(ctx, phone, SIMSwapPIN); err != nil {
		return nil, err
	}
	return s.accountOp(ctx, phone, &op{kind: opChangePIN, proof: proof, newPIN: newPIN})
}

// pinProofBytesMax bounds a PIN proof from a client; real ones are 32.
const pinProofBytesMax = 64

// VerifyPIN checks the PIN of the account phone operates and returns the
// account with its balance. A wrong PIN counts toward the lockout.
func (s *Service) VerifyPIN(ctx context.Context, phone, pin string) (*Account, error) {
	if pin == "" {
		return nil, Errorf(CodeInvalid, "a PIN is required")
	}
	return s.accountOp(ctx, phone, &op{kind: opVerifyPIN, pin: pin})
}

// Balance is VerifyPIN: the balance is read in the writer, so it reflects
// every transfer acknowledged before it.
func (s *Service) Balance(ctx context.Context, phone, pin string) (*Account, error) {
	return s.VerifyPIN(ctx, phone, pin)
}

// ResetPIN (operator) clears the PIN and its lockout (never a freeze) and
// issues a new start key, returned in Account.StartKey for the operator to
// hand over and sent to the owner by SMS (Config.Notify); any earlier key
// stops working. The owner sets a new PIN with it.
func (s *Service) ResetPIN(ctx context.Context, phone string) (*Account, error) {
	if err := s.simSwapGatePhone(ctx, phone, SIMSwapPIN); err != nil {
		return nil, err
	}
	return s.accountOp(ctx, phone, &op{kind: opResetPIN})
}

// SetStatus (operator) freezes or reactivates an account by number or
// phone. It leaves a PIN lockout as it is: only ResetPIN clears that.
// Reactivating an account on StatusSIMSwapHold clears the hold.
func (s *Service) SetStatus(ctx context.Context, numberOrPhone string, st Status) (*Account, error) {
	if st != StatusActive && st != StatusFrozen {
		return nil, Errorf(CodeInvalid, "status must be %s or %s", StatusActive, StatusFrozen)
	}
	r, err := s.record(ctx, numberOrPhone)
	if err != nil {
		return nil, err
	}
	res := s.call(ctx, &op{kind: opSetStatus, account: r.ID, status: st})
	if res.Err == nil && r.Status == StatusSIMSwapHold && st == StatusActive {
		// The SIM change that held it is cleared (see SIMSwapChecker).
		s.simSwapAudit(ctx, AuditSIMSwapClear, r.Number, map[string]string{"status": string(st)})
	}
	return res.Account, res.Err
}

// SetLanguage stores the language the account's owner chose.
func (s *Service) SetLanguage(ctx context.Context, phone, lang string) (*Account, error) {
	if lang == "" || len(lang) > 8 {
		return nil, Errorf(CodeInvalid, "unknown language %q", clip(lang))
	}
	if err := s.simSwapGatePhone(ctx, phone, SIMSwapDetails); err != nil {
		return nil, err
	}
	return s.accountOp(ctx, phone, &op{kind: opSetLanguage, lang: lang})
}

// StatementLine is one transfer as an account's statement shows it.
type StatementLine struct {
	Ref          string       `json:"ref"`
	Kind         TransferKind `json:"kind"`
	Created      time.Time    `json:"created"`
	Amount       int64        `json:"amount"`               // the principal: positive in, negative out
	Fee          int64        `json:"fee,omitempty"`        // charged to this account
	Commission   int64        `json:"commission,omitempty"` // earned by this account
	BalanceAfter int64        `json:"balance_after"`
	Counterparty string       `json:"counterparty,omitempty"` // number of the other party
	Name         string       `json:"name,omitempty"`         // and its name
	Reference    string       `json:"reference,omitempty"`
}

// StatementQuery selects statement lines: the last Limit, or those in [From, To).
type StatementQuery struct {
	Phone string `json:"phone"`
	PIN   string `json:"pin"`
	// Source and Attempt: where the PIN came from and which try it is
	// (PINAttempt); empty, they are taken from the context.
	Source  string    `json:"source,omitempty"`
	Attempt string    `json:"attempt,omitempty"`
	Limit   int       `json:"limit,omitempty"`
	From    time.Time `json:"from,omitzero"`
	To      time.Time `json:"to,omitzero"`
}

// Statement is an account and its statement lines, newest first.
type Statement struct {
	Account Account         `json:"account"`
	Lines   []StatementLine `json:"lines"`
}

// Statement verifies the PIN and returns the account and its statement,
// newest first.
func (s *Service) Statement(ctx context.Context, q StatementQuery) (*Account, []StatementLine, error) {
	if q.Limit <= 0 || q.Limit > statementLinesMax {
		q.Limit = statementLinesMax
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return nil, nil, Errorf(CodeInvalid, "the period must start before it ends")
	}
	ctx = WithPINAttempt(ctx, PINAttempt{Source: q.Source, Key: q.Attempt}.or(PINAttemptFrom(ctx)))
	a, err := s.VerifyPIN(ctx, q.Phone, q.PIN)
	if err != nil {
		return nil, nil, err
	}
	lines, err := s.statement(ctx, a.ID, q.From, q.To, q.Limit)
	return a, lines, err
}

// statement groups an account's postings by transfer. A transfer has at
// most six postings, so 6*limit postings always hold limit transfers.
func (s *Service) statement(ctx context.Context, account int64, from, to time.Time, limit int) ([]StatementLine, error) {
	ps, err := s.store.Postings(ctx, account, from, to, 6*limit)
	if err != nil {
		return nil, err
	}
	var out []StatementLine
	index := map[int64]int{}
	names := map[int64]*AccountRecord{}
	for _, p := range ps {
		i, ok := index[p.TransferID]
		if !ok {
			if len(out) == limit {
				continue
			}
			other := p.Target
			if other == account {
				other = p.Source
			}
			l := StatementLine{Ref: p.Ref, Kind: p.Kind, Created: p.Created, BalanceAfter: p.BalanceAfter, Reference: p.Reference}
			if names[other] == nil {
				if names[other], err = s.store.AccountByID(ctx, other); err != nil {
					return nil, err
				}
			}
			l.Counterparty, l.Name = names[other].Number, names[other].Name
			out = append(out, l)
			i = len(out) - 1
			index[p.TransferID] = i
		}
		switch p.Leg {
		case LegPrincipal, LegHold:
			// A reversal request's hold shows as the amount taken, its
			// release as the amount back; in its completion the hold
			// pays the principal, so the line nets to zero.
			out[i].Amount += p.Amount
		case LegFee:
			out[i].Fee -= p.Amount
		case LegCommission:
			out[i].Commission += p.Amount
		}
	}
	return out, nil
}

// Earnings is the commission an account has earned: what an agent's
// "commission earned" screen shows.
type Earnings struct {
	Account Account `json:"account"`
	Today   int64   `json:"today"` // since midnight today in the wallet's time zone
	Month   int64   `json:"month"` // since midnight on the first of this month, likewise
}

// Earnings verifies the PIN of the account phone operates, exactly as
// Balance does (a wrong PIN counts toward the lockout), and returns the
// account with the commission credited to it since the start of today and
// since the start of this month in Config.Location. The sums are net of
// reversals: reversing a deposit takes back its commission when the reversal
// is posted. Any account may ask; only agents earn commission, so others get
// zeros. Errors are VerifyPIN's.
func (s *Service) Earnings(ctx context.Context, phone, pin string) (*Earnings, error) {
	a, err := s.VerifyPIN(ctx, phone, pin)
	if err != nil {
		return nil, err
	}
	y, m, d := s.cfg.Now().In(s.cfg.Location).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, s.cfg.Location)
	month := time.Date(y, m, 1, 0, 0, 0, 0, s.cfg.Location)
	sums, err := s.store.SumPostings(ctx, a.ID, LegCommission, []time.Time{today, month})
	if err != nil {
		return nil, err
	}
	return &Earnings{Account: *a, Today: sums[0], Month: sums[1]}, nil
}

// Check verifies every ledger invariant over the whole database.
func (s *Service) Check(ctx context.Context) (*CheckReport, error) { return s.store.Check(ctx) }

// ImportCustomer is one customer of a bulk import.
type ImportCustomer struct {
	Phone    string
	Name     string
	Tier     Tier
	Language string
	PIN      string // optional: otherwise the customer sets one on first use, with the start key Import returns
}

// importMax bounds one import: one transaction of this size commits in
// seconds on either database.
const importMax = 50_000

// Import opens many customer accounts in one transaction: the path for
// onboarding a customer list (and for seeding benchmarks). Nothing is
// created if any row is invalid or any phone already has an account.
func (s *Service) Import(ctx context.Context, cs []ImportCustomer) ([]Account, error) {
	if len(cs) > importMax {
		return nil, Errorf(CodeInvalid, "at most %d customers per import", importMax)
	}
	recs := make([]*AccountRecord, len(cs))
	keys := make([]string, len(cs))
	now := s.cfg.Now().UTC()
	for i, c := range cs {
		p, err := s.phone(c.Phone)
		if err != nil {
			return nil, Errorf(ErrorCode(err), "row %d: %v", i+1, err)
		}
		name, nerr := normalName(c.Name)
		if nerr != nil {
			return nil, Errorf(CodeInvalid, "row %d: %s", i+1, nerr.Message)
		}
		if c.Tier != TierBasic && c.Tier != TierFull {
			return nil, Errorf(CodeInvalid, "row %d: unknown tier %d", i+1, c.Tier)
		}
		r := &AccountRecord{Kind: KindCustomer, Number: p, Phone: p, Name: name, Tier: c.Tier,
			Status: StatusActive, Language: c.Language, Created: now}
		if c.PIN != "" {
			if err := checkPINFormat(c.PIN, s.cfg.PINLength); err != nil {
				return nil, Errorf(CodeInvalid, "row %d: %s", i+1, err.Message)
			}
			r.PINHash, r.PINSalt = newPINHash(s.cfg.Pepper, c.PIN)
		} else {
			// Opened by an operator: whoever dials first must prove the key.
			keys[i] = issueStartKey(s.cfg.Pepper, r, now, s.cfg.StartKeyTTL)
		}
		recs[i] = r
	}
	if err := s.store.CreateAccounts(ctx, recs); err != nil {
		return nil, err
	}
	out := make([]Account, len(recs))
	for i, r := range recs {
		out[i] = r.Account()
		if keys[i] != "" {
			s.notify(Notice{Kind: NoticeStartKey, Account: out[i], StartKey: keys[i], Expires: r.StartKeyExpires, At: now})
			out[i].StartKey = keys[i]
		}
	}
	return out, nil
}
