package merchant_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

func TestAPIKeyCreate(t *testing.T) {
	f := newMerchantFixture(t)
	till, err := f.w.AddMerchant(f.ctx, fixturePhone(), "Duka", false)
	f.must(err)
	cust := f.customer(0)
	tests := []struct {
		name     string
		merchant string
		operator bool
		scopes   []merchant.Scope
		code     wallet.Code
		want     []merchant.Scope
	}{
		{"merchant key", till.Number, false, []merchant.Scope{merchant.ScopeRefunds, merchant.ScopePayments, merchant.ScopePayments}, "", []merchant.Scope{merchant.ScopePayments, merchant.ScopeRefunds}},
		{"operator key", "", true, nil, "", merchant.DefaultOperatorScopes},
		{"operator key naming the old operator scope", "", true, []merchant.Scope{merchant.ScopeOperator}, "", merchant.DefaultOperatorScopes},
		{"operator key with scopes", "", true, []merchant.Scope{merchant.ScopePayments, merchant.ScopeKeysOperatorCreate, merchant.ScopeKeysRead}, "",
			[]merchant.Scope{merchant.ScopeKeysRead, merchant.ScopeKeysOperatorCreate, merchant.ScopePayments}},
		{"operator key with an unknown scope", "", true, []merchant.Scope{"admin"}, wallet.CodeInvalid, nil},
		{"merchant key with an operator scope", till.Number, false, []merchant.Scope{merchant.ScopeKeysMerchantCreate}, wallet.CodeInvalid, nil},
		{"operator key with a merchant", till.Number, true, nil, wallet.CodeInvalid, nil},
		{"merchant key with the operator scope", till.Number, false, []merchant.Scope{merchant.ScopeOperator}, wallet.CodeInvalid, nil},
		{"unknown scope", till.Number, false, []merchant.Scope{"admin"}, wallet.CodeInvalid, nil},
		{"no scope", till.Number, false, nil, wallet.CodeInvalid, nil},
		{"no merchant", "", false, []merchant.Scope{merchant.ScopePayments}, wallet.CodeInvalid, nil},
		{"unknown merchant", "999999", false, []merchant.Scope{merchant.ScopePayments}, wallet.CodeNotFound, nil},
		{"a customer is not a merchant", cust, false, []merchant.Scope{merchant.ScopePayments}, wallet.CodeWrongKind, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := f.s.CreateAPIKey(f.ctx, tt.merchant, tt.operator, tt.scopes)
			wantCode(t, err, tt.code)
			if err != nil {
				return
			}
			if !slices.Equal(k.Scopes, tt.want) || k.Operator != tt.operator || !strings.HasPrefix(k.Secret, k.ID+"_") {
				t.Fatalf("got %+v, want scopes %v", k, tt.want)
			}
			p, err := f.s.Authenticate(f.ctx, k.Secret)
			f.must(err)
			if p.KeyID != k.ID || p.Operator != tt.operator || !slices.Equal(p.Scopes, tt.want) {
				t.Errorf("principal %+v", p)
			}
			if !tt.operator && (p.Merchant != till.Number || p.MerchantName != "Duka") {
				t.Errorf("principal %+v, want merchant %s Duka", p, till.Number)
			}
			// Only the hash is stored.
			stored, err := f.ms.APIKey(f.ctx, k.ID)
			f.must(err)
			if stored.Secret != "" || strings.Contains(string(stored.Hash), k.Secret[len(k.ID)+1:]) {
				t.Errorf("stored key %+v holds its secret", stored)
			}
		})
	}
}

func TestAuthorize(t *testing.T) {
	f := newMerchantFixture(t)
	till, err := f.w.AddMerchant(f.ctx, fixturePhone(), "Duka", false)
	f.must(err)
	k, err := f.s.CreateAPIKey(f.ctx, till.Number, false, []merchant.Scope{merchant.ScopePayments})
	f.must(err)
	op, err := f.s.CreateAPIKey(f.ctx, "", true, nil)
	f.must(err)
	wrongSecret := k.ID + "_" + strings.Repeat("a", 52)
	otherID := merchant.NewObjectID("kbk", time.Now()) + k.Secret[30:]
	tests := []struct {
		name  string
		key   string
		scope merchant.Scope
		code  wallet.Code
	}{
		{"right key and scope", k.Secret, merchant.ScopePayments, ""},
		{"missing scope", k.Secret, merchant.ScopeRefunds, wallet.CodeForbidden},
		{"merchant key on the operator API", k.Secret, merchant.ScopeOperator, wallet.CodeForbidden},
		{"operator key", op.Secret, merchant.ScopeOperator, ""},
		{"operator key on a merchant API", op.Secret, merchant.ScopePayments, wallet.CodeForbidden},
		{"no key", "", merchant.ScopePayments, wallet.CodeUnauthenticated},
		{"wrong secret", wrongSecret, merchant.ScopePayments, wallet.CodeUnauthenticated},
		{"unknown id", otherID, merchant.ScopePayments, wallet.CodeUnauthenticated},
		{"truncated", k.Secret[:len(k.Secret)-1], merchant.ScopePayments, wallet.CodeUnauthenticated},
		{"upper case", strings.ToUpper(k.Secret), merchant.ScopePayments, wallet.CodeUnauthenticated},
		{"junk", "Bearer " + k.Secret, merchant.ScopePayments, wallet.CodeUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Twice: the second answer comes from the cache.
			for range 2 {
				_, err := f.s.Authorize(f.ctx, tt.key, tt.scope)
				wantCode(t, err, tt.code)
			}
		})
	}
}

// TestRevokeAPIKey revokes a key on one wallet process and watches a
// second one keep trusting its cached copy for at most 30 seconds.
func TestRevokeAPIKey(t *testing.T) {
	f := newMerchantFixture(t)
	p := f.merchant("Duka", false)
	k, err := f.s.CreateAPIKey(f.ctx, p.Merchant, false, []merchant.Scope{merchant.ScopePayments})
	f.must(err)
	other, err := merchant.New(f.ctx, f.w, f.ms, merchant.Config{Now: f.clock.Now})
	f.must(err)
	_, err = other.Authorize(f.ctx, k.Secret, merchant.ScopePayments)
	f.must(err)

	got, err := f.s.RevokeAPIKey(f.ctx, k.ID)
	f.must(err)
	if got.Revoked == nil {
		t.Fatalf("revoked key %+v has no revocation time", got)
	}
	_, err = f.s.Authorize(f.ctx, k.Secret, merchant.ScopePayments)
	wantCode(t, err, wallet.CodeUnauthenticated)
	_, err = other.Authorize(f.ctx, k.Secret, merchant.ScopePayments)
	wantCode(t, err, "") // cached
	f.clock.Add(merchant.KeyCacheTTL + time.Second)
	_, err = other.Authorize(f.ctx, k.Secret, merchant.ScopePayments)
	wantCode(t, err, wallet.CodeUnauthenticated)

	again, err := f.s.RevokeAPIKey(f.ctx, k.ID)
	f.must(err)
	if !again.Revoked.Equal(*got.Revoked) {
		t.Errorf("revoking twice moved the revocation time from %v to %v", got.Revoked, again.Revoked)
	}
	_, err = f.s.RevokeAPIKey(f.ctx, "kbk_nonsense")
	wantCode(t, err, wallet.CodeNotFound)
	_, err = f.s.RevokeAPIKey(f.ctx, merchant.NewObjectID("kbk", time.Now()))
	wantCode(t, err, wallet.CodeNotFound)
}

func TestAPIKeys(t *testing.T) {
	f := newMerchantFixture(t)
	a := f.merchant("Duka", false)
	b := f.merchant("Soko", true)
	_, err := f.s.CreateAPIKey(f.ctx, a.Merchant, false, []merchant.Scope{merchant.ScopeTabs})
	f.must(err)
	keys, err := f.s.APIKeys(f.ctx, a.Merchant)
	f.must(err)
	if len(keys) != 2 || keys[0].ID != a.KeyID || keys[0].Secret != "" || keys[1].Secret != "" {
		t.Fatalf("keys of %s: %+v", a.Merchant, keys)
	}
	all, err := f.s.APIKeys(f.ctx, "")
	f.must(err)
	if len(all) != 3 || !slices.ContainsFunc(all, func(k merchant.APIKey) bool { return k.ID == b.KeyID }) {
		t.Fatalf("every key: %+v", all)
	}
	none, err := f.s.APIKeys(f.ctx, "123")
	f.must(err)
	if none == nil || len(none) != 0 {
		t.Fatalf("keys of an unknown merchant: %#v, want an empty list", none)
	}
}

// TestSecurityOperatorKeyScopes (issue 11, finding 9): an operator key mints
// only what it holds: merchant keys with the merchant scopes it holds, with
// keys:merchant:create; operator keys only with keys:operator:create and
// never with scopes beyond its own; no key outlives the key that made it.
// A merchant key mints nothing.
func TestSecurityOperatorKeyScopes(t *testing.T) {
	f := newMerchantFixture(t)
	till, err := f.w.AddMerchant(f.ctx, fixturePhone(), "Duka", false)
	f.must(err)
	in := func(d time.Duration) *time.Time { t := f.clock.Now().Add(d); return &t }
	mk := func(req merchant.KeyRequest) merchant.Principal {
		t.Helper()
		k, err := f.s.NewAPIKey(f.ctx, nil, req)
		f.must(err)
		p, err := f.s.Authenticate(f.ctx, k.Secret)
		f.must(err)
		return p
	}
	narrow := mk(merchant.KeyRequest{Operator: true, Scopes: []merchant.Scope{merchant.ScopeKeysMerchantCreate, merchant.ScopePayments}})
	root := mk(merchant.KeyRequest{Operator: true, Scopes: slices.Concat(merchant.OperatorScopes, merchant.MerchantScopes)})
	expiring := mk(merchant.KeyRequest{Operator: true, Scopes: slices.Concat(merchant.OperatorScopes, merchant.MerchantScopes), Expires: in(time.Hour)})
	tillKey := mk(merchant.KeyRequest{Merchant: till.Number, Scopes: merchant.MerchantScopes})
	legacy := mk(merchant.KeyRequest{Operator: true, Scopes: []merchant.Scope{merchant.ScopeOperator}})
	tests := []struct {
		name string
		by   merchant.Principal
		req  merchant.KeyRequest
		code wallet.Code
	}{
		{"merchant key with a scope it holds", narrow, merchant.KeyRequest{Merchant: till.Number, Scopes: []merchant.Scope{merchant.ScopePayments}}, ""},
		{"merchant key with a scope it lacks", narrow, merchant.KeyRequest{Merchant: till.Number, Scopes: []merchant.Scope{merchant.ScopePayments, merchant.ScopePayouts}}, wallet.CodeForbidden},
		{"operator key without keys:operator:create", narrow, merchant.KeyRequest{Operator: true, Scopes: []merchant.Scope{merchant.ScopePayments}}, wallet.CodeForbidden},
		{"operator key within its own", root, merchant.KeyRequest{Operator: true, Scopes: []merchant.Scope{merchant.ScopeKeysRead}}, ""},
		{"operator key with every scope it holds", root, merchant.KeyRequest{Operator: true, Scopes: root.Scopes}, ""},
		{"an old operator key cannot mint operator keys", legacy, merchant.KeyRequest{Operator: true, Scopes: []merchant.Scope{merchant.ScopeKeysRead}}, wallet.CodeForbidden},
		{"an old operator key mints merchant keys", legacy, merchant.KeyRequest{Merchant: till.Number, Scopes: merchant.MerchantScopes}, ""},
		{"a merchant key mints nothing", tillKey, merchant.KeyRequest{Merchant: till.Number, Scopes: []merchant.Scope{merchant.ScopePayments}}, wallet.CodeForbidden},
		{"a merchant key mints no operator key", tillKey, merchant.KeyRequest{Operator: true, Scopes: []merchant.Scope{merchant.ScopeKeysRead}}, wallet.CodeForbidden},
		{"an expiring key's key expires no later", expiring, merchant.KeyRequest{Merchant: till.Number, Scopes: []merchant.Scope{merchant.ScopeTabs}, Expires: in(time.Minute)}, ""},
		{"an expiring key's key never expiring", expiring, merchant.KeyRequest{Merchant: till.Number, Scopes: []merchant.Scope{merchant.ScopeTabs}}, wallet.CodeForbidden},
		{"an expiring key's key outliving it", expiring, merchant.KeyRequest{Merchant: till.Number, Scopes: []merchant.Scope{merchant.ScopeTabs}, Expires: in(2 * time.Hour)}, wallet.CodeForbidden},
		{"an expiry in the past", root, merchant.KeyRequest{Merchant: till.Number, Scopes: []merchant.Scope{merchant.ScopeTabs}, Expires: in(-time.Minute)}, wallet.CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := f.s.NewAPIKey(f.ctx, &tt.by, tt.req)
			wantCode(t, err, tt.code)
			if err == nil {
				for _, sc := range k.Scopes {
					if !tt.by.Can(sc) {
						t.Errorf("minted %v beyond the creator's %v", k.Scopes, tt.by.Scopes)
					}
				}
			}
		})
	}
	// Revoking: keys:revoke for merchant keys; an operator key needs
	// keys:operator:create as well.
	_, err = f.s.RevokeAPIKeyAs(f.ctx, narrow, tillKey.KeyID)
	wantCode(t, err, wallet.CodeForbidden)
	_, err = f.s.RevokeAPIKeyAs(f.ctx, legacy, root.KeyID)
	wantCode(t, err, wallet.CodeForbidden)
	_, err = f.s.RevokeAPIKeyAs(f.ctx, legacy, tillKey.KeyID)
	wantCode(t, err, "")
	_, err = f.s.RevokeAPIKeyAs(f.ctx, root, narrow.KeyID)
	wantCode(t, err, "")
}

// TestSecurityAPIKeyExpiry: an expired key is refused like a revoked one,
// on the process that checked it before (its cache) and on a fresh one.
func TestSecurityAPIKeyExpiry(t *testing.T) {
	f := newMerchantFixture(t)
	till, err := f.w.AddMerchant(f.ctx, fixturePhone(), "Duka", false)
	f.must(err)
	at := f.clock.Now().Add(time.Minute)
	k, err := f.s.NewAPIKey(f.ctx, nil, merchant.KeyRequest{Merchant: till.Number, Scopes: []merchant.Scope{merchant.ScopePayments}, Expires: &at})
	f.must(err)
	if k.Expires == nil || !k.Expires.Equal(at.Truncate(time.Second)) {
		t.Fatalf("key expires %v, want %v", k.Expires, at)
	}
	_, err = f.s.Authorize(f.ctx, k.Secret, merchant.ScopePayments)
	wantCode(t, err, "")
	f.clock.Add(time.Minute)
	_, err = f.s.Authorize(f.ctx, k.Secret, merchant.ScopePayments)
	wantCode(t, err, wallet.CodeUnauthenticated)
	other, err := merchant.New(f.ctx, f.w, f.ms, merchant.Config{Now: f.clock.Now})
	f.must(err)
	_, err = other.Authorize(f.ctx, k.Secret, merchant.ScopePayments)
	wantCode(t, err, wallet.CodeUnauthenticated)
	keys, err := f.s.APIKeys(f.ctx, till.Number)
	f.must(err)
	if len(keys) != 1 || keys[0].Expires == nil {
		t.Errorf("listed %+v, want the key with its expiry", keys)
	}
}
