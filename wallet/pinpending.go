package wallet

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// A new PIN is typed twice, on two screens of a USSD session, and the
// session's state lies between them in a key-value bucket that gateways
// read and write. Whatever a session keeps to compare the second entry with
// the first would let a reader of the bucket try the 10,000 PINs against
// it, whatever key a gateway mixed in (every gateway has that key). So the
// wallet keeps the first entry, as a peppered hash like an account's PIN,
// in a pending record in the database, and the session keeps only the
// record's token: random, and derived from nothing. The second entry comes
// back with the token, and the wallet compares and sets the PIN.

// PendingPurpose is what a pending new PIN is for, which decides what
// authorises it and what its confirmation does.
type PendingPurpose string

const (
	// PendingRegister is a self-registration's PIN: the phone has no
	// account yet (or one it opened itself a hop before, without a PIN).
	// The confirmation opens the account (basic tier) and sets the PIN.
	PendingRegister PendingPurpose = "register"
	// PendingFirstPIN is the first PIN of an account without one: with a
	// start key's proof (StartKeyProof) when an operator opened or reset
	// the account, with nothing when the account registered itself.
	PendingFirstPIN PendingPurpose = "first"
	// PendingChange replaces the PIN, with a proof of the current one
	// (PINProof).
	PendingChange PendingPurpose = "change"
)

const (
	// PendingPINTTL bounds a pending new PIN's life: its confirmation is
	// typed on the next screen, within the session's 180 s, and a record
	// nobody confirms must not keep a hash of a PIN for long.
	PendingPINTTL = 5 * time.Minute
	// pendingPINsPerPhoneMax bounds the live pending PINs of one phone:
	// one person's sessions follow each other, and three hold one given up
	// and one retried. A new one past the bound replaces the oldest, so
	// that whoever floods a phone with them keeps it at three rows and the
	// phone's owner can still go on.
	pendingPINsPerPhoneMax = 3
	// pendingTokenBytes is a token's randomness: 128 bits cannot be
	// guessed within its life.
	pendingTokenBytes = 16
	// pendingTokenBytesMax bounds a token from a client: real ones are 22
	// characters.
	pendingTokenBytesMax = 64
)

// PendingPIN is a new PIN chosen and not yet confirmed, as a Store keeps
// it. It never leaves the wallet.
type PendingPIN struct {
	// TokenHash is the SHA-256 of the token the session keeps: the
	// database holds nothing a stolen copy could confirm with.
	TokenHash []byte
	Phone     string // E.164: the phone that chose it, the only one that may confirm it
	Purpose   PendingPurpose
	// Proof is what authorises the PIN: a start key's or the current
	// PIN's proof, checked again when the PIN is set; "" for none.
	Proof string
	// Name and Language are a registration's (PendingRegister).
	Name     string
	Language string
	PINHash  []byte // hashPIN(pepper, PINSalt, pin): like an account's PIN
	PINSalt  []byte
	Created  time.Time
	Expires  time.Time
}

// PendingPINStore keeps pending new PINs. Several wallet processes share
// it, so a PIN chosen through one is confirmed through any.
type PendingPINStore interface {
	// AddPendingPIN inserts p. In the same transaction it deletes every
	// record expired at now, and, when p's phone has perPhoneMax or more
	// live records, its oldest, so that at most perPhoneMax are live for
	// one phone (concurrent additions for one phone are counted one
	// after another).
	AddPendingPIN(ctx context.Context, p *PendingPIN, now time.Time, perPhoneMax int) error
	// TakePendingPIN deletes the record with tokenHash and phone and
	// returns it: CodeNotFound when there is none (never made, taken
	// already, made for another phone, swept). Of concurrent calls for one
	// record, one takes it.
	TakePendingPIN(ctx context.Context, tokenHash []byte, phone string) (*PendingPIN, error)
}

// NewPIN is a new PIN chosen on a first screen, with what authorises
// setting it; PendPIN's argument.
type NewPIN struct {
	Phone   string         `json:"phone"`
	PIN     string         `json:"pin"`
	Purpose PendingPurpose `json:"purpose"`
	// Proof: a StartKeyProof (PendingFirstPIN of an account opened or
	// reset by an operator) or a PINProof (PendingChange).
	Proof string `json:"proof,omitempty"`
	// Name and Language: a registration's (PendingRegister); the name as
	// Register takes it.
	Name     string `json:"name,omitempty"`
	Language string `json:"language,omitempty"`
}

// PendPIN checks a new PIN and what authorises it, keeps it as a peppered
// hash for PendingPINTTL, and returns a random token for ConfirmPIN: the
// token carries nothing derived from the PIN. Errors are those setting the
// PIN would give now: CodeInvalid for a malformed or trivial PIN (or one
// equal to the current PIN, or a name Register refuses), CodeExists for a
// registration of a phone with a PIN, CodeNotFound for a first PIN or a
// change on a phone without an account, CodeStartKeyRequired,
// CodeStartKeyInvalid or CodeStartKeyExpired for a first PIN whose start
// key is not proved, CodePINInvalid for a change whose proof is not valid
// (neither counts toward the lockout: no secret was guessed),
// CodeAccountFrozen, CodePINLocked.
func (s *Service) PendPIN(ctx context.Context, n NewPIN) (string, error) {
	if err := checkPINFormat(n.PIN, s.cfg.PINLength); err != nil {
		return "", err
	}
	if len(n.Proof) > pinProofBytesMax {
		return "", Errorf(CodeInvalid, "a proof has at most %d bytes", pinProofBytesMax)
	}
	phone, err := s.phone(n.Phone)
	if err != nil {
		return "", err
	}
	now := s.cfg.Now()
	a, err := s.store.AccountByPhone(ctx, phone)
	switch {
	case ErrorCode(err) == CodeNotFound:
		a = nil
	case err != nil:
		return "", err
	}
	p := &PendingPIN{Phone: phone, Purpose: n.Purpose, Proof: n.Proof, Created: now.UTC(), Expires: now.Add(PendingPINTTL).UTC()}
	switch n.Purpose {
	case PendingRegister:
		name, nerr := normalName(n.Name)
		if nerr != nil {
			return "", nerr
		}
		if len(n.Language) > 8 {
			return "", Errorf(CodeInvalid, "unknown language %q", clip(n.Language))
		}
		// A repeated hop may have opened the account already: one
		// without a PIN or a start key is this registration's.
		if a != nil && (a.Kind != KindCustomer || len(a.PINHash) > 0 || len(a.StartKeyHash) > 0) {
			return "", Errorf(CodeExists, "%s already has an account", phone)
		}
		p.Name, p.Language, p.Proof = name, n.Language, ""
	case PendingFirstPIN, PendingChange:
		if a == nil {
			return "", Errorf(CodeNotFound, "no account for %s", phone)
		}
		if err := s.newPINAllowed(a, n, now); err != nil {
			return "", err
		}
		// Asked here too, so the owner of a swapped SIM is told before
		// typing the new PIN twice (ConfirmPIN asks again).
		if n.Purpose == PendingChange || n.Proof != "" {
			if err := s.simSwapGate(ctx, a.ID, SIMSwapPIN); err != nil {
				return "", err
			}
		}
	default:
		return "", Errorf(CodeInvalid, "unknown purpose %q for a new PIN", clip(string(n.Purpose)))
	}
	token := make([]byte, pendingTokenBytes)
	if _, err := rand.Read(token); err != nil {
		panic("wallet: no randomness for a pending PIN token: " + err.Error())
	}
	p.TokenHash = pendingTokenHash(token)
	p.PINHash, p.PINSalt = newPINHash(s.cfg.Pepper, n.PIN)
	if err := s.store.AddPendingPIN(ctx, p, now.UTC(), pendingPINsPerPhoneMax); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(token), nil
}

// newPINAllowed checks, as the writer will again when the PIN is set, that
// n may set a's PIN now.
func (s *Service) newPINAllowed(a *AccountRecord, n NewPIN, now time.Time) *Error {
	switch {
	case a.Status == StatusFrozen:
		return Errorf(CodeAccountFrozen, "this account is frozen; call customer care")
	case a.PINLocked:
		return Errorf(CodePINLocked, "the PIN is locked after too many wrong tries; visit an agent or call customer care to reset it")
	}
	if n.Purpose == PendingChange {
		switch {
		case len(a.PINHash) == 0:
			return Errorf(CodePINNotSet, "no PIN is set for this account")
		case n.Proof == "" || !pinProofValid(s.cfg.Pepper, a, n.Proof, now):
			return Errorf(CodePINInvalid, "the PIN check has expired or is not valid; verify the current PIN again")
		case pinMatches(s.cfg.Pepper, a, n.PIN):
			return Errorf(CodeInvalid, "the new PIN must differ from the old one")
		}
		return nil
	}
	switch {
	case len(a.PINHash) > 0:
		return Errorf(CodeExists, "a PIN is already set; change it with the old PIN")
	case len(a.StartKeyHash) == 0:
		return nil // self-registered: nothing to prove
	case n.Proof == "":
		return Errorf(CodeStartKeyRequired, "the first PIN needs the start key sent by SMS")
	case !now.Before(a.StartKeyExpires):
		return Errorf(CodeStartKeyExpired, "the start key has expired; ask an agent or customer care for a new one")
	case !startKeyProofValid(s.cfg.Pepper, a, n.Proof, now):
		return Errorf(CodeStartKeyInvalid, "the start key check has expired or is not valid; enter the start key again")
	}
	return nil
}

// ConfirmPIN takes the pending new PIN token names for phone and, if pin is
// the PIN chosen, sets it as its purpose says: the account's first PIN, a
// change (both authorised again as SetPINWithProof and ChangePINWithProof
// do), or a registration's account and then its PIN. The record is gone
// after the call whatever its outcome, so a token is tried once: a
// different pin, an unknown, used or expired token, or another phone's
// token is CodePINMismatch (choose the PIN again), and counts toward no
// lockout, since the confirmation is no guess at a PIN the account has.
// Other errors are those of setting the PIN.
func (s *Service) ConfirmPIN(ctx context.Context, phone, token, pin string) (*Account, error) {
	mismatch := Errorf(CodePINMismatch, "the new PIN was not confirmed; choose it again")
	if token == "" || len(token) > pendingTokenBytesMax {
		return nil, mismatch
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != pendingTokenBytes {
		return nil, mismatch
	}
	p, err := s.phone(phone)
	if err != nil {
		return nil, err
	}
	rec, err := s.store.TakePendingPIN(ctx, pendingTokenHash(raw), p)
	switch {
	case ErrorCode(err) == CodeNotFound:
		return nil, mismatch
	case err != nil:
		return nil, err
	case !s.cfg.Now().Before(rec.Expires):
		return nil, mismatch
	case !hmac.Equal(hashPIN(s.cfg.Pepper, rec.PINSalt, pin), rec.PINHash):
		return nil, mismatch
	}
	switch rec.Purpose {
	case PendingRegister:
		_, err := s.Register(ctx, p, rec.Name, TierBasic, rec.Language)
		if ErrorCode(err) == CodeExists {
			// Opened by a repeat of this confirmation that got no answer:
			// one with a PIN or a start key is someone else's, and
			// SetPIN refuses it.
			err = nil
		}
		if err != nil {
			return nil, err
		}
		return s.SetPIN(ctx, p, pin)
	case PendingFirstPIN:
		if rec.Proof == "" {
			return s.SetPIN(ctx, p, pin)
		}
		return s.SetPINWithProof(ctx, p, rec.Proof, pin)
	case PendingChange:
		return s.ChangePINWithProof(ctx, p, rec.Proof, pin)
	}
	return nil, Errorf(CodeInternal, "a pending PIN with purpose %q", clip(string(rec.Purpose)))
}

// pendingTokenHash is what the database keeps of a token.
func pendingTokenHash(token []byte) []byte {
	h := sha256.Sum256(token)
	return h[:]
}
