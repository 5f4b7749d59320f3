package merchant

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"slices"
	"strings"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

// An API key, as a merchant holds it, is one bearer token:
//
//	kbk_<26 characters: the key's id>_<52 characters: the secret>
//
// "kbk_" and the id are the key's id (APIKey.ID), which is not secret; the
// secret is 32 random bytes in lowercase base32. The store keeps only the
// SHA-256 of the secret: a secret of 256 random bits cannot be searched for,
// so a fast hash loses nothing, and checking a key costs a microsecond
// rather than the tens of milliseconds a password hash would add to every
// charge. Keys are compared in constant time.
const (
	keyPrefix      = "kbk"
	keySecretBytes = 32
	keyIDLen       = len(keyPrefix) + 1 + 26
	keySecretLen   = 52 // base32 of 32 bytes, unpadded
	keyTokenLen    = keyIDLen + 1 + keySecretLen
	// apiKeysMax bounds one listing of keys.
	apiKeysMax = 1000
)

// cachedKey is a key this process checked recently.
type cachedKey struct {
	p       Principal
	hash    [sha256.Size]byte
	expires time.Time
}

var errUnauthenticated = &wallet.Error{Code: wallet.CodeUnauthenticated, Message: "unknown, revoked or expired API key"}

// Authenticate returns who the bearer token key speaks for:
// CodeUnauthenticated for a missing, malformed, unknown or revoked key.
//
// A key checked once is trusted for up to 30 seconds from memory, so that a
// merchant's requests do not each read the database: a key revoked on
// another wallet process keeps working here for up to that long (a
// revocation on this process takes effect at once).
func (s *Service) Authenticate(ctx context.Context, key string) (Principal, error) {
	id, secret, ok := parseToken(key)
	if !ok {
		return Principal{}, errUnauthenticated
	}
	sum := sha256.Sum256([]byte(secret))
	now := s.now()
	s.keyMu.Lock()
	c, hit := s.keys[id]
	s.keyMu.Unlock()
	if hit && now.Before(c.expires) {
		if subtle.ConstantTimeCompare(sum[:], c.hash[:]) != 1 {
			return Principal{}, errUnauthenticated
		}
		return c.p, nil
	}
	k, err := s.st.APIKey(ctx, id)
	if wallet.ErrorCode(err) == wallet.CodeNotFound {
		return Principal{}, errUnauthenticated
	}
	if err != nil {
		return Principal{}, err
	}
	if subtle.ConstantTimeCompare(sum[:], k.Hash) != 1 || k.Revoked != nil || k.Expires != nil && !now.Before(*k.Expires) {
		return Principal{}, errUnauthenticated
	}
	p := Principal{KeyID: k.ID, Merchant: k.Merchant, Operator: k.Operator, Scopes: k.Scopes, Expires: k.Expires}
	if k.Operator && slices.Contains(k.Scopes, ScopeOperator) {
		p.Scopes = DefaultOperatorScopes // a key made before operator keys had scopes
	}
	if !k.Operator {
		m, err := s.w.Lookup(ctx, k.Merchant)
		if err != nil {
			return Principal{}, err
		}
		p.MerchantName = m.Name
	}
	s.keyMu.Lock()
	if len(s.keys) >= KeyCacheMax {
		clear(s.keys)
	}
	until := now.Add(KeyCacheTTL)
	if k.Expires != nil && k.Expires.Before(until) {
		until = *k.Expires // an expiring key is refused from the moment it expires
	}
	s.keys[id] = cachedKey{p: p, hash: sum, expires: until}
	s.keyMu.Unlock()
	return p, nil
}

// Authorize authenticates key and checks that it holds scope:
// CodeUnauthenticated as Authenticate, CodeForbidden for a key without the
// scope. A merchant scope needs a merchant's key (an operator key holding
// it may only grant it); an operator scope, or ScopeOperator (any
// operator key), needs an operator key.
func (s *Service) Authorize(ctx context.Context, key string, scope Scope) (Principal, error) {
	p, err := s.Authenticate(ctx, key)
	if err != nil {
		return Principal{}, err
	}
	return p, p.authorize(scope)
}

func (p Principal) authorize(scope Scope) error {
	merchantScope := slices.Contains(MerchantScopes, scope)
	switch {
	case merchantScope && p.Operator:
		return wallet.Errorf(wallet.CodeForbidden, "an operator API key cannot act for a merchant: use the merchant's key")
	case !merchantScope && !p.Operator:
		return wallet.Errorf(wallet.CodeForbidden, "this needs an operator API key")
	case scope == ScopeOperator:
		return nil
	case !p.Can(scope):
		return wallet.Errorf(wallet.CodeForbidden, "this API key lacks the %s scope", scope)
	}
	return nil
}

// parseToken splits a bearer token into the key id and the secret.
func parseToken(key string) (id, secret string, ok bool) {
	if len(key) != keyTokenLen || key[keyIDLen] != '_' {
		return "", "", false
	}
	id, secret = key[:keyIDLen], key[keyIDLen+1:]
	if !validID(keyPrefix, id) {
		return "", "", false
	}
	if b, err := idEncoding.DecodeString(secret); err != nil || len(b) != keySecretBytes {
		return "", "", false
	}
	return id, secret, true
}

// KeyRequest asks for an API key: a merchant's (Merchant, merchant Scopes)
// or an operator's (Operator; operator and merchant Scopes, by default
// DefaultOperatorScopes), expiring at Expires when that is set.
type KeyRequest struct {
	Merchant string
	Operator bool
	Scopes   []Scope
	Expires  *time.Time
}

// CreateAPIKey creates an API key for merchant (a till or paybill number)
// with scopes (merchant scopes only), or, with operator, an operator key,
// for whoever holds the operator's NATS credentials: NewAPIKey without a
// creating key.
func (s *Service) CreateAPIKey(ctx context.Context, merchant string, operator bool, scopes []Scope) (*APIKey, error) {
	return s.NewAPIKey(ctx, nil, KeyRequest{Merchant: merchant, Operator: operator, Scopes: scopes})
}

// NewAPIKey creates the API key req asks for. by is the operator key asking
// (nil: the operator's NATS credentials, which may create any key): it
// needs ScopeKeysMerchantCreate for a merchant key, ScopeKeysOperatorCreate
// for an operator key, and may grant only scopes it holds, for no longer
// than it lives itself (CodeForbidden). The reply's Secret is the bearer
// token, shown this once: only its hash is kept.
func (s *Service) NewAPIKey(ctx context.Context, by *Principal, req KeyRequest) (*APIKey, error) {
	merchant, operator, scopes := req.Merchant, req.Operator, req.Scopes
	now := s.now()
	k := &KeyRecord{APIKey: APIKey{Operator: operator, Created: now}}
	if req.Expires != nil {
		if !req.Expires.After(now) {
			return nil, wallet.Errorf(wallet.CodeInvalid, "a key's expiry must be in the future")
		}
		t := req.Expires.UTC().Truncate(time.Second)
		k.Expires = &t
	}
	if operator {
		if merchant != "" {
			return nil, wallet.Errorf(wallet.CodeInvalid, "an operator key has no merchant")
		}
		if len(scopes) == 0 || slices.Contains(scopes, ScopeOperator) {
			scopes = append(slices.DeleteFunc(slices.Clone(scopes), func(sc Scope) bool { return sc == ScopeOperator }), DefaultOperatorScopes...)
		}
		for _, sc := range scopes {
			if !slices.Contains(OperatorScopes, sc) && !slices.Contains(MerchantScopes, sc) {
				return nil, wallet.Errorf(wallet.CodeInvalid, "%q is not an operator or merchant scope", clip(string(sc)))
			}
		}
		// Operator scopes, then merchant scopes, each in its list's order, once each.
		for _, sc := range slices.Concat(OperatorScopes, MerchantScopes) {
			if slices.Contains(scopes, sc) {
				k.Scopes = append(k.Scopes, sc)
			}
		}
	} else {
		if merchant == "" {
			return nil, wallet.Errorf(wallet.CodeInvalid, "a merchant (till or paybill number) is required")
		}
		m, err := s.w.Lookup(ctx, merchant)
		if wallet.ErrorCode(err) == wallet.CodeNotFound {
			return nil, wallet.Errorf(wallet.CodeNotFound, "no merchant %q", clip(merchant))
		}
		if err != nil {
			return nil, err
		}
		if m.Kind != wallet.KindTill && m.Kind != wallet.KindPaybill {
			return nil, wallet.Errorf(wallet.CodeWrongKind, "%q is not a till or paybill number", clip(merchant))
		}
		if len(scopes) == 0 {
			return nil, wallet.Errorf(wallet.CodeInvalid, "a merchant key needs at least one scope")
		}
		for _, sc := range scopes {
			if !slices.Contains(MerchantScopes, sc) {
				return nil, wallet.Errorf(wallet.CodeInvalid, "%q is not a merchant scope", clip(string(sc)))
			}
		}
		// In MerchantScopes' order, once each.
		for _, sc := range MerchantScopes {
			if slices.Contains(scopes, sc) {
				k.Scopes = append(k.Scopes, sc)
			}
		}
		k.Merchant = m.Number
	}
	if by != nil {
		if err := by.mayGrant(k); err != nil {
			return nil, err
		}
	}
	var b [keySecretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	secret := idEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(secret))
	k.ID, k.Hash = newID(keyPrefix, k.Created), sum[:]
	if err := s.st.CreateAPIKey(ctx, k); err != nil {
		return nil, err
	}
	out := k.APIKey
	out.Secret = k.ID + "_" + secret
	return &out, nil
}

// mayGrant reports whether p may create k: CodeForbidden unless p is an
// operator key with the scope to create k's kind of key, holding every
// scope of k, and living at least as long.
func (p *Principal) mayGrant(k *KeyRecord) error {
	need := ScopeKeysMerchantCreate
	if k.Operator {
		need = ScopeKeysOperatorCreate
	}
	if err := p.authorize(need); err != nil {
		return err
	}
	for _, sc := range k.Scopes {
		if !p.Can(sc) {
			return wallet.Errorf(wallet.CodeForbidden, "this API key cannot grant the %s scope: it does not hold it", sc)
		}
	}
	if p.Expires != nil && (k.Expires == nil || k.Expires.After(*p.Expires)) {
		return wallet.Errorf(wallet.CodeForbidden, "a key cannot outlive the key that creates it, which expires %s", p.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// RevokeAPIKeyAs revokes an API key for the operator key by, which needs
// ScopeKeysRevoke, and ScopeKeysOperatorCreate too for an operator key.
func (s *Service) RevokeAPIKeyAs(ctx context.Context, by Principal, id string) (*APIKey, error) {
	if err := by.authorize(ScopeKeysRevoke); err != nil {
		return nil, err
	}
	id = strings.TrimSpace(id)
	if !validID(keyPrefix, id) {
		return nil, notFound("API key", id)
	}
	k, err := s.st.APIKey(ctx, id)
	if err != nil {
		return nil, err
	}
	if k.Operator {
		if err := by.authorize(ScopeKeysOperatorCreate); err != nil {
			return nil, wallet.Errorf(wallet.CodeForbidden, "revoking an operator key needs the %s scope", ScopeKeysOperatorCreate)
		}
	}
	return s.RevokeAPIKey(ctx, id)
}

// APIKeys lists the API keys of merchant, or every key when merchant is
// empty, oldest first (at most a thousand), without their secrets.
func (s *Service) APIKeys(ctx context.Context, merchant string) ([]APIKey, error) {
	if len(merchant) > 32 {
		return nil, wallet.Errorf(wallet.CodeInvalid, "no merchant %q", clip(merchant))
	}
	keys, err := s.st.APIKeys(ctx, merchant, apiKeysMax)
	if keys == nil {
		keys = []APIKey{}
	}
	return keys, err
}

// RevokeAPIKey revokes an API key: at once on this wallet process, within
// 30 seconds on the others. Revoking a revoked key changes nothing.
func (s *Service) RevokeAPIKey(ctx context.Context, id string) (*APIKey, error) {
	id = strings.TrimSpace(id)
	if !validID(keyPrefix, id) {
		return nil, notFound("API key", id)
	}
	k, err := s.st.RevokeAPIKey(ctx, id, s.now())
	if err != nil {
		return nil, err
	}
	s.keyMu.Lock()
	delete(s.keys, id)
	s.keyMu.Unlock()
	return k, nil
}
