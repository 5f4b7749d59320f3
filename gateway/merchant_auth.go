package gateway

import (
	"context"
	"crypto/sha256"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
)

// API keys. A request carries one as "Authorization: Bearer <key>"; the
// wallet says whom it speaks for (MerchantAPI.Authenticate), and the answer
// is kept in memory for authCacheTTL under the key's SHA-256, never the key
// itself. The key still goes with every call to the wallet and the
// notifier, which check it again: a key revoked is refused there at once,
// whatever this cache holds. A route then needs a scope (merchant keys) or
// an operator key; a merchant key on an operator route, or the reverse, is
// 403.

const (
	// authCacheTTL bounds how long an authenticated key is trusted without
	// asking the wallet, as long as the wallet trusts its own cache.
	authCacheTTL = merchant.KeyCacheTTL
	// authCacheMax bounds the keys cached, as many as the wallet's; past it
	// the expired ones go, and if none has, all.
	authCacheMax = merchant.KeyCacheMax
	// apiKeyBytesMax bounds a bearer token.
	apiKeyBytesMax = merchant.APIKeyBytesMax
	// The echo context keys of an authenticated request.
	principalKey = "gateway.merchant.principal"
	apiKeyKey    = "gateway.merchant.key"
)

// authCache keeps principals by the SHA-256 of their key.
type authCache struct {
	mu  sync.Mutex
	m   map[[sha256.Size]byte]authEntry
	now func() time.Time
}

type authEntry struct {
	p       *merchant.Principal
	expires time.Time
}

func newAuthCache(now func() time.Time) *authCache {
	return &authCache{m: map[[sha256.Size]byte]authEntry{}, now: now}
}

// get returns the principal cached for sum, or nil.
func (a *authCache) get(sum [sha256.Size]byte) *merchant.Principal {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.m[sum]
	if !ok {
		return nil
	}
	if !a.now().Before(e.expires) {
		delete(a.m, sum)
		return nil
	}
	return e.p
}

// put caches p for sum.
func (a *authCache) put(sum [sha256.Size]byte, p *merchant.Principal) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if len(a.m) >= authCacheMax {
		for k, e := range a.m {
			if !now.Before(e.expires) {
				delete(a.m, k)
			}
		}
		if len(a.m) >= authCacheMax {
			clear(a.m)
		}
	}
	a.m[sum] = authEntry{p: p, expires: now.Add(authCacheTTL)}
}

// bearer returns the API key of an Authorization header.
func bearer(header string) (string, error) {
	if header == "" {
		return "", wallet.Errorf(wallet.CodeUnauthenticated, "send the API key: Authorization: Bearer <key>")
	}
	scheme, key, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", wallet.Errorf(wallet.CodeUnauthenticated, "the Authorization header must be Bearer <key>")
	}
	key = strings.TrimSpace(key)
	if key == "" || len(key) > apiKeyBytesMax {
		return "", wallet.Errorf(wallet.CodeUnauthenticated, "unknown or revoked API key")
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] > '~' {
			return "", wallet.Errorf(wallet.CodeUnauthenticated, "unknown or revoked API key")
		}
	}
	return key, nil
}

// authenticate returns the middleware that admits a request to r: a known
// key (401), with r's scope or the operator's authority (403). It leaves
// the principal and the key in the context (principalOf, apiKeyOf).
func (m *merchantServer) authenticate(r route) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			key, err := bearer(c.Request().Header.Get(echo.HeaderAuthorization))
			if err != nil {
				return err
			}
			p, err := m.principal(c.Request().Context(), key)
			if err != nil {
				return err
			}
			if err := permits(p, r); err != nil {
				return err
			}
			c.Set(principalKey, p)
			c.Set(apiKeyKey, key)
			return next(c)
		}
	}
}

// principal returns whom key speaks for, from the cache or the wallet.
func (m *merchantServer) principal(ctx context.Context, key string) (*merchant.Principal, error) {
	sum := sha256.Sum256([]byte(key))
	if p := m.auth.get(sum); p != nil {
		return p, nil
	}
	ctx, cancel := context.WithTimeout(ctx, merchantCallTimeout)
	defer cancel()
	p, err := merchantapi.Auth.Call(ctx, m.api, merchantapi.AuthRequest{Auth: key})
	if err != nil {
		return nil, err
	}
	if p.Operator == (p.Merchant != "") {
		return nil, wallet.Errorf(wallet.CodeInternal, "the wallet authenticated key %s as neither a merchant's nor an operator's", p.KeyID)
	}
	m.auth.put(sum, p)
	return p, nil
}

// permits reports whether p may use r.
func permits(p *merchant.Principal, r route) error {
	switch {
	case r.operator && !p.Operator:
		return wallet.Errorf(wallet.CodeForbidden, "this route needs an operator API key")
	case r.operator:
		return nil
	case p.Operator:
		return wallet.Errorf(wallet.CodeForbidden, "an operator API key cannot act for a merchant: use the merchant's key")
	case !p.Can(r.scope):
		return wallet.Errorf(wallet.CodeForbidden, "the API key lacks the scope %q", r.scope)
	}
	return nil
}

// principalOf returns the request's principal (set by authenticate).
func principalOf(c echo.Context) *merchant.Principal {
	p, _ := c.Get(principalKey).(*merchant.Principal)
	return p
}

// apiKeyOf returns the request's API key (set by authenticate).
func apiKeyOf(c echo.Context) string {
	k, _ := c.Get(apiKeyKey).(string)
	return k
}
