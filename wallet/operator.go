package wallet

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// The back-office's operators are kept here, by the wallet, the system of
// record: the ops process holds only operator NATS credentials, and asks the
// wallet to sign a person in and to check a session on every page. The
// wallet keeps a password only as an argon2id hash with a per-operator salt,
// a session only as the SHA-256 of its random token.

// OperatorRole is what an operator may do in the back-office.
type OperatorRole string

// The roles. Maker, checker, finance and admin move money or grant power,
// so they need a second factor (TOTP).
const (
	RoleSupport OperatorRole = "support" // search, read, freeze, PIN reset
	RoleMaker   OperatorRole = "maker"   // proposes money-moving and limit changes
	RoleChecker OperatorRole = "checker" // approves or rejects what another proposed
	RoleFinance OperatorRole = "finance" // reconciliation, float
	RoleAuditor OperatorRole = "auditor" // reads everything, the audit log included
	RoleAdmin   OperatorRole = "admin"   // operators and roles
)

// OperatorRoles are every role, in the order pages list them.
var OperatorRoles = []OperatorRole{RoleSupport, RoleMaker, RoleChecker, RoleFinance, RoleAuditor, RoleAdmin}

// Valid reports whether r is one of OperatorRoles.
func (r OperatorRole) Valid() bool { return slices.Contains(OperatorRoles, r) }

// NeedsTOTP reports whether an operator with role r signs in with a TOTP
// code besides the password.
func (r OperatorRole) NeedsTOTP() bool {
	return r == RoleMaker || r == RoleChecker || r == RoleFinance || r == RoleAdmin
}

const (
	// The argon2id parameters: OWASP's recommended minimum (19 MiB, two
	// passes, one lane), about 30 ms on one core here. A sign-in is rare; a
	// stolen table costs an attacker that much per guess.
	passwordTime      = 2
	passwordMemoryKiB = 19 * 1024
	passwordThreads   = 1
	passwordHashBytes = 32
	passwordSaltBytes = 16
	// PasswordBytesMin and PasswordBytesMax bound a password: long enough to
	// resist guessing, short enough that hashing it is bounded work.
	PasswordBytesMin = 12
	PasswordBytesMax = 128
	// OperatorEmailBytesMax bounds an operator's email: it is the actor of
	// their audit records, which hold 64 bytes.
	OperatorEmailBytesMax = AuditActorBytesMax
	// SignInFailuresMax wrong sign-ins in a row lock an operator out for
	// SignInLockout: slow enough to stop guessing, short enough that a
	// locked-out colleague need not call an admin.
	SignInFailuresMax = 5
	SignInLockout     = 15 * time.Minute
	// OperatorSessionIdle ends a session nobody used for that long (a
	// screen left open); OperatorSessionMax ends any session after a
	// working day, whatever its use.
	OperatorSessionIdle = 30 * time.Minute
	OperatorSessionMax  = 12 * time.Hour
	// sessionTouchEvery bounds the writes that keep a session alive: its
	// last use is stored at most once a minute, not on every page.
	sessionTouchEvery = time.Minute
	// sessionTokenBytes is a session token's randomness.
	sessionTokenBytes = 32
	// totpPeriod and totpSkew: 30-second codes, one step either side
	// accepted for clock drift.
	totpPeriod = 30
	totpSkew   = 1
	// totpIssuer names Kibubu in an authenticator app.
	totpIssuer = "Kibubu"
)

// Operator is a back-office user as the API shows one: never the password
// hash or the TOTP secret.
type Operator struct {
	ID          int64        `json:"id"`
	Email       string       `json:"email"`
	Role        OperatorRole `json:"role"`
	Disabled    bool         `json:"disabled,omitempty"`
	TOTP        bool         `json:"totp"`                  // signs in with a TOTP code
	LockedUntil time.Time    `json:"locked_until,omitzero"` // failed sign-ins lock until then
	LastSignIn  time.Time    `json:"last_sign_in,omitzero"` // the last successful one
	Created     time.Time    `json:"created"`
}

// OperatorRecord is an operator as the store keeps one.
type OperatorRecord struct {
	Operator
	PasswordHash []byte
	PasswordSalt []byte
	TOTPSecret   string // base32; empty for a role without TOTP
	TOTPStep     int64  // the last time step a code was accepted for: a code works once
	Failures     int    // wrong sign-ins since the last right one
}

// OperatorSessionRecord is a signed-in session as the store keeps it.
type OperatorSessionRecord struct {
	TokenHash []byte
	Operator  int64
	Created   time.Time
	LastSeen  time.Time
}

// OperatorSession is a live session: who is signed in, and when.
type OperatorSession struct {
	Operator Operator  `json:"operator"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
}

// NewOperator is a new operator: the TOTP secret and its provisioning URI
// are shown once, to be entered in an authenticator app.
type NewOperator struct {
	Operator   Operator `json:"operator"`
	TOTPSecret string   `json:"totp_secret,omitempty"`
	TOTPURI    string   `json:"totp_uri,omitempty"`
}

// OperatorStore keeps operators, their sessions and the maker-checker
// proposals. wallet/store implements it; a Store without it has no
// back-office (CodeUnavailable).
type OperatorStore interface {
	// CreateOperator inserts o, setting its ID; CodeExists if the email is taken.
	CreateOperator(ctx context.Context, o *OperatorRecord) error
	// OperatorByEmail and OperatorByID return CodeNotFound when there is none.
	OperatorByEmail(ctx context.Context, email string) (*OperatorRecord, error)
	OperatorByID(ctx context.Context, id int64) (*OperatorRecord, error)
	// Operators lists every operator by email.
	Operators(ctx context.Context) ([]OperatorRecord, error)
	// SignInFailed counts a wrong sign-in of operator id, atomically, and
	// when that makes failuresMax in a row locks it until lockUntil (and
	// starts counting again). It reports whether it locked.
	SignInFailed(ctx context.Context, id int64, failuresMax int, lockUntil time.Time) (bool, error)
	// SignedIn records a right sign-in at at: failures cleared, the TOTP
	// step used. It returns false, changing nothing, if step is not above
	// the stored one (a code used twice).
	SignedIn(ctx context.Context, id int64, at time.Time, step int64) (bool, error)
	// DisableOperator disables operator id and ends its sessions.
	DisableOperator(ctx context.Context, id int64) error
	CreateOperatorSession(ctx context.Context, s *OperatorSessionRecord) error
	// OperatorSession returns the session with that token hash; CodeNotFound when none.
	OperatorSession(ctx context.Context, tokenHash []byte) (*OperatorSessionRecord, error)
	TouchOperatorSession(ctx context.Context, tokenHash []byte, at time.Time) error
	DeleteOperatorSession(ctx context.Context, tokenHash []byte) error
	ProposalStore
	// SetTier moves account id from tier from to tier to if it is still an
	// active account in tier from, and reports whether it did.
	SetTier(ctx context.Context, id int64, from, to Tier) (bool, error)
	// SearchAccounts returns up to limit accounts whose name starts with
	// name (case-insensitively), by name then id, skipping offset.
	SearchAccounts(ctx context.Context, name string, offset, limit int) ([]AccountRecord, error)
}

// operators returns the store's OperatorStore.
func (s *Service) operators() (OperatorStore, error) {
	o, ok := s.store.(OperatorStore)
	if !ok {
		return nil, Errorf(CodeUnavailable, "this wallet's store keeps no operators")
	}
	return o, nil
}

// errSignIn is the one answer to a wrong email, password or code, or a
// disabled operator: the page does not say which.
func errSignIn() error {
	return Errorf(CodeUnauthenticated, "wrong email, password or code")
}

// NormalizeEmail returns email trimmed and lower-cased, or CodeInvalid if it
// is not one address within OperatorEmailBytesMax.
func NormalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	if e == "" || len(e) > OperatorEmailBytesMax {
		return "", Errorf(CodeInvalid, "an email of 1 to %d bytes is required", OperatorEmailBytesMax)
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", Errorf(CodeInvalid, "%q is not an email address", clip(e))
	}
	return e, nil
}

// CheckPassword returns CodeInvalid unless p is within the password bounds.
func CheckPassword(p string) error {
	if len(p) < PasswordBytesMin || len(p) > PasswordBytesMax {
		return Errorf(CodeInvalid, "a password is %d to %d bytes", PasswordBytesMin, PasswordBytesMax)
	}
	return nil
}

// AddOperator (admin) creates an operator with role and password. A role
// that needs TOTP gets a new secret, returned once with its provisioning URI.
func (s *Service) AddOperator(ctx context.Context, email string, role OperatorRole, password string) (*NewOperator, error) {
	st, err := s.operators()
	if err != nil {
		return nil, err
	}
	if email, err = NormalizeEmail(email); err != nil {
		return nil, err
	}
	if !role.Valid() {
		return nil, Errorf(CodeInvalid, "unknown role %q", clip(string(role)))
	}
	if err := CheckPassword(password); err != nil {
		return nil, err
	}
	r := &OperatorRecord{Operator: Operator{Email: email, Role: role, Created: s.cfg.Now().UTC()},
		PasswordSalt: make([]byte, passwordSaltBytes)}
	rand.Read(r.PasswordSalt)
	r.PasswordHash = s.cfg.PasswordCost.hash(password, r.PasswordSalt)
	out := &NewOperator{}
	if role.NeedsTOTP() {
		key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: email, Period: totpPeriod})
		if err != nil {
			return nil, fmt.Errorf("totp secret: %w", err)
		}
		r.TOTPSecret, r.TOTP = key.Secret(), true
		out.TOTPSecret, out.TOTPURI = key.Secret(), key.URL()
	}
	if err := st.CreateOperator(ctx, r); err != nil {
		return nil, err
	}
	out.Operator = r.Operator
	return out, nil
}

// Operators (admin) lists the operators.
func (s *Service) Operators(ctx context.Context) ([]Operator, error) {
	st, err := s.operators()
	if err != nil {
		return nil, err
	}
	rs, err := st.Operators(ctx)
	out := make([]Operator, len(rs))
	for i := range rs {
		out[i] = rs[i].Operator
	}
	return out, err
}

// DisableOperator (admin) disables the operator with that email and ends
// their sessions. An operator stays in the log: none is ever deleted.
func (s *Service) DisableOperator(ctx context.Context, email string) (*Operator, error) {
	st, err := s.operators()
	if err != nil {
		return nil, err
	}
	if email, err = NormalizeEmail(email); err != nil {
		return nil, err
	}
	r, err := st.OperatorByEmail(ctx, email)
	if err != nil {
		return nil, err
	}
	if err := st.DisableOperator(ctx, r.ID); err != nil {
		return nil, err
	}
	r.Disabled = true
	return &r.Operator, nil
}

// totpStep returns the time step at which code is right for secret, within
// totpSkew steps of now, or false.
func totpStep(secret, code string, now time.Time) (int64, bool) {
	if len(code) != 6 {
		return 0, false
	}
	step := now.Unix() / totpPeriod
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		at := time.Unix((step+d)*totpPeriod, 0)
		want, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step + d, true
		}
	}
	return 0, false
}

// TOTPCode returns the TOTP code for secret at t: for tests and for an
// operator's first check of their authenticator.
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// dummySalt makes a sign-in for an unknown email hash a password too, so
// its answer takes as long as a wrong password's.
var dummySalt = make([]byte, passwordSaltBytes)

// SignIn checks an operator's email, password and (for a role that needs
// it) TOTP code, and opens a session. It returns the session's token, which
// only the caller ever holds (the wallet keeps its hash). A wrong email,
// password or code, or a disabled operator, is CodeUnauthenticated with one
// message; SignInFailuresMax wrong ones in a row lock the operator out for
// SignInLockout (CodeRateLimited, even for the right password).
func (s *Service) SignIn(ctx context.Context, email, password, code string) (string, *OperatorSession, error) {
	st, err := s.operators()
	if err != nil {
		return "", nil, err
	}
	if email, err = NormalizeEmail(email); err != nil || len(password) > PasswordBytesMax || len(code) > 16 {
		return "", nil, errSignIn()
	}
	now := s.cfg.Now().UTC()
	r, err := st.OperatorByEmail(ctx, email)
	if ErrorCode(err) == CodeNotFound {
		s.cfg.PasswordCost.hash(password, dummySalt)
		return "", nil, errSignIn()
	}
	if err != nil {
		return "", nil, err
	}
	if r.LockedUntil.After(now) {
		return "", nil, Errorf(CodeRateLimited, "too many wrong sign-ins: try again after %s", r.LockedUntil.Format(time.TimeOnly+" MST"))
	}
	ok := checkPassword(password, r.PasswordSalt, r.PasswordHash)
	var step int64
	if r.TOTPSecret != "" {
		var right bool
		step, right = totpStep(r.TOTPSecret, strings.TrimSpace(code), now)
		ok = ok && right && step > r.TOTPStep
	}
	if ok && !r.Disabled {
		if ok, err = st.SignedIn(ctx, r.ID, now, step); err != nil {
			return "", nil, err
		}
	}
	if !ok || r.Disabled {
		if _, err := st.SignInFailed(ctx, r.ID, SignInFailuresMax, now.Add(SignInLockout)); err != nil {
			return "", nil, err
		}
		return "", nil, errSignIn()
	}
	b := make([]byte, sessionTokenBytes)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	sr := &OperatorSessionRecord{TokenHash: sessionHash(token), Operator: r.ID, Created: now, LastSeen: now}
	if err := st.CreateOperatorSession(ctx, sr); err != nil {
		return "", nil, err
	}
	r.LastSignIn = now
	return token, &OperatorSession{Operator: r.Operator, Created: now, LastSeen: now}, nil
}

// sessionHash is what the store keeps of a session token.
func sessionHash(token string) []byte {
	h := sha256.Sum256([]byte("kibubu ops session\n" + token))
	return h[:]
}

// errSession is the answer to a token that opens no session.
func errSession() error {
	return Errorf(CodeUnauthenticated, "not signed in, or the session expired")
}

// Session returns the live session token opens and keeps it alive. A
// session unused for OperatorSessionIdle, older than OperatorSessionMax, or
// of a disabled operator is ended: CodeUnauthenticated.
func (s *Service) Session(ctx context.Context, token string) (*OperatorSession, error) {
	st, err := s.operators()
	if err != nil {
		return nil, err
	}
	if token == "" || len(token) > 2*sessionTokenBytes {
		return nil, errSession()
	}
	h := sessionHash(token)
	sr, err := st.OperatorSession(ctx, h)
	if ErrorCode(err) == CodeNotFound {
		return nil, errSession()
	}
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now().UTC()
	if now.Sub(sr.LastSeen) > OperatorSessionIdle || now.Sub(sr.Created) > OperatorSessionMax {
		if err := st.DeleteOperatorSession(ctx, h); err != nil {
			return nil, err
		}
		return nil, errSession()
	}
	r, err := st.OperatorByID(ctx, sr.Operator)
	if err != nil {
		return nil, err
	}
	if r.Disabled {
		return nil, errSession()
	}
	if now.Sub(sr.LastSeen) >= sessionTouchEvery {
		if err := st.TouchOperatorSession(ctx, h, now); err != nil {
			return nil, err
		}
		sr.LastSeen = now
	}
	return &OperatorSession{Operator: r.Operator, Created: sr.Created, LastSeen: sr.LastSeen}, nil
}

// SignOut ends the session token opens, if any.
func (s *Service) SignOut(ctx context.Context, token string) error {
	st, err := s.operators()
	if err != nil {
		return err
	}
	return st.DeleteOperatorSession(ctx, sessionHash(token))
}
