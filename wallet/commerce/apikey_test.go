package commerce_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/commerce"
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
		scopes   []commerce.Scope
		code     wallet.Code
		want     []commerce.Scope
	}{
		{"merchant key", till.Number, false, []commerce.Scope{commerce.ScopeRefunds, commerce.ScopePayments, commerce.ScopePayments}, "", []commerce.Scope{commerce.ScopePayments, commerce.ScopeRefunds}},
		{"operator key", "", true, nil, "", commerce.DefaultOperatorScopes},
		{"operator key naming the old operator scope", "", true, []commerce.Scope{commerce.ScopeOperator}, "", commerce.DefaultOperatorScopes},
		{"operator key with scopes", "", true, []commerce.Scope{commerce.ScopePayments, commerce.ScopeKeysOperatorCreate, commerce.ScopeKeysRead}, "",
			[]commerce.Scope{commerce.ScopeKeysRead, commerce.ScopeKeysOperatorCreate, commerce.ScopePayments}},
		{"operator key with an unknown scope", "", true, []commerce.Scope{"admin"}, wallet.CodeInvalid, nil},
		{"merchant key with an operator scope", till.Number, false, []commerce.Scope{commerce.ScopeKeysMerchantCreate}, wallet.CodeInvalid, nil},
		{"operator key with a merchant", till.Number, true, nil, wallet.CodeInvalid, nil},
		{"merchant key with the operator scope", till.Number, false, []commerce.Scope{commerce.ScopeOperator}, wallet.CodeInvalid, nil},
		{"unknown scope", till.Number, false, []commerce.Scope{"admin"}, wallet.CodeInvalid, nil},
		{"no scope", till.Number, false, nil, wallet.CodeInvalid, nil},
		{"no merchant", "", false, []commerce.Scope{commerce.ScopePayments}, wallet.CodeInvalid, nil},
		{"unknown merchant", "999999", false, []commerce.Scope{commerce.ScopePayments}, wallet.CodeNotFound, nil},
		{"a customer is not a merchant", cust, false, []commerce.Scope{commerce.ScopePayments}, wallet.CodeWrongKind, nil},
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
			stored, err := f.st.APIKey(f.ctx, k.ID)
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
	k, err := f.s.CreateAPIKey(f.ctx, till.Number, false, []commerce.Scope{commerce.ScopePayments})
	f.must(err)
	op, err := f.s.CreateAPIKey(f.ctx, "", true, nil)
	f.must(err)
	wrongSecret := k.ID + "_" + strings.Repeat("a", 52)
	otherID := commerce.NewObjectID("kbk", time.Now()) + k.Secret[30:]
	tests := []struct {
		name  string
		key   string
		scope commerce.Scope
		code  wallet.Code
	}{
		{"right key and scope", k.Secret, commerce.ScopePayments, ""},
		{"missing scope", k.Secret, commerce.ScopeRefunds, wallet.CodeForbidden},
		{"merchant key on the operator API", k.Secret, commerce.ScopeOperator, wallet.CodeForbidden},
		{"operator key", op.Secret, commerce.ScopeOperator, ""},
		{"operator key on a merchant API", op.Secret, commerce.ScopePayments, wallet.CodeForbidden},
		{"no key", "", commerce.ScopePayments, wallet.CodeUnauthenticated},
		{"wrong secret", wrongSecret, commerce.ScopePayments, wallet.CodeUnauthenticated},
		{"unknown id", otherID, commerce.ScopePayments, wallet.CodeUnauthenticated},
		{"truncated", k.Secret[:len(k.Secret)-1], commerce.ScopePayments, wallet.CodeUnauthenticated},
		{"upper case", strings.ToUpper(k.Secret), commerce.ScopePayments, wallet.CodeUnauthenticated},
		{"junk", "Bearer " + k.Secret, commerce.ScopePayments, wallet.CodeUnauthenticated},
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
	k, err := f.s.CreateAPIKey(f.ctx, p.Merchant, false, []commerce.Scope{commerce.ScopePayments})
	f.must(err)
	other, err := commerce.New(f.ctx, f.w, f.st, commerce.Config{Now: f.clock.Now})
	f.must(err)
	_, err = other.Authorize(f.ctx, k.Secret, commerce.ScopePayments)
	f.must(err)

	got, err := f.s.RevokeAPIKey(f.ctx, k.ID)
	f.must(err)
	if got.Revoked == nil {
		t.Fatalf("revoked key %+v has no revocation time", got)
	}
	_, err = f.s.Authorize(f.ctx, k.Secret, commerce.ScopePayments)
	wantCode(t, err, wallet.CodeUnauthenticated)
	_, err = other.Authorize(f.ctx, k.Secret, commerce.ScopePayments)
	wantCode(t, err, "") // cached
	f.clock.Add(commerce.KeyCacheTTL + time.Second)
	_, err = other.Authorize(f.ctx, k.Secret, commerce.ScopePayments)
	wantCode(t, err, wallet.CodeUnauthenticated)

	again, err := f.s.RevokeAPIKey(f.ctx, k.ID)
	f.must(err)
	if !again.Revoked.Equal(*got.Revoked) {
		t.Errorf("revoking twice moved the revocation time from %v to %v", got.Revoked, again.Revoked)
	}
	_, err = f.s.RevokeAPIKey(f.ctx, "kbk_nonsense")
	wantCode(t, err, wallet.CodeNotFound)
	_, err = f.s.RevokeAPIKey(f.ctx, commerce.NewObjectID("kbk", time.Now()))
	wantCode(t, err, wallet.CodeNotFound)
}

func TestAPIKeys(t *testing.T) {
	f := newMerchantFixture(t)
	a := f.merchant("Duka", false)
	b := f.merchant("Soko", true)
	_, err := f.s.CreateAPIKey(f.ctx, a.Merchant, false, []commerce.Scope{commerce.ScopeTabs})
	f.must(err)
	keys, err := f.s.APIKeys(f.ctx, a.Merchant)
	f.must(err)
	if len(keys) != 2 || keys[0].ID != a.KeyID || keys[0].Secret != "" || keys[1].Secret != "" {
		t.Fatalf("keys of %s: %+v", a.Merchant, keys)
	}
	all, err := f.s.APIKeys(f.ctx, "")
	f.must(err)
	if len(all) != 3 || !slices.ContainsFunc(all, func(k commerce.APIKey) bool { return k.ID == b.KeyID }) {
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
	mk := func(req commerce.KeyRequest) commerce.Principal {
		t.Helper()
		k, err := f.s.NewAPIKey(f.ctx, nil, req)
		f.must(err)
		p, err := f.s.Authenticate(f.ctx, k.Secret)
		f.must(err)
		return p
	}
	narrow := mk(commerce.KeyRequest{Operator: true, Scopes: []commerce.Scope{commerce.ScopeKeysMerchantCreate, commerce.ScopePayments}})
	root := mk(commerce.KeyRequest{Operator: true, Scopes: slices.Concat(commerce.OperatorScopes, commerce.MerchantScopes)})
	expiring := mk(commerce.KeyRequest{Operator: true, Scopes: slices.Concat(commerce.OperatorScopes, commerce.MerchantScopes), Expires: in(time.Hour)})
	merchant := mk(commerce.KeyRequest{Merchant: till.Number, Scopes: commerce.MerchantScopes})
	legacy := mk(commerce.KeyRequest{Operator: true, Scopes: []commerce.Scope{commerce.ScopeOperator}})
	tests := []struct {
		name string
		by   commerce.Principal
		req  commerce.KeyRequest
		code wallet.Code
	}{
		{"merchant key with a scope it holds", narrow, commerce.KeyRequest{Merchant: till.Number, Scopes: []commerce.Scope{commerce.ScopePayments}}, ""},
		{"merchant key with a scope it lacks", narrow, commerce.KeyRequest{Merchant: till.Number, Scopes: []commerce.Scope{commerce.ScopePayments, commerce.ScopePayouts}}, wallet.CodeForbidden},
		{"operator key without keys:operator:create", narrow, commerce.KeyRequest{Operator: true, Scopes: []commerce.Scope{commerce.ScopePayments}}, wallet.CodeForbidden},
		{"operator key within its own", root, commerce.KeyRequest{Operator: true, Scopes: []commerce.Scope{commerce.ScopeKeysRead}}, ""},
		{"operator key with every scope it holds", root, commerce.KeyRequest{Operator: true, Scopes: root.Scopes}, ""},
		{"an old operator key cannot mint operator keys", legacy, commerce.KeyRequest{Operator: true, Scopes: []commerce.Scope{commerce.ScopeKeysRead}}, wallet.CodeForbidden},
		{"an old operator key mints merchant keys", legacy, commerce.KeyRequest{Merchant: till.Number, Scopes: commerce.MerchantScopes}, ""},
		{"a merchant key mints nothing", merchant, commerce.KeyRequest{Merchant: till.Number, Scopes: []commerce.Scope{commerce.ScopePayments}}, wallet.CodeForbidden},
		{"a merchant key mints no operator key", merchant, commerce.KeyRequest{Operator: true, Scopes: []commerce.Scope{commerce.ScopeKeysRead}}, wallet.CodeForbidden},
		{"an expiring key's key expires no later", expiring, commerce.KeyRequest{Merchant: till.Number, Scopes: []commerce.Scope{commerce.ScopeTabs}, Expires: in(time.Minute)}, ""},
		{"an expiring key's key never expiring", expiring, commerce.KeyRequest{Merchant: till.Number, Scopes: []commerce.Scope{commerce.ScopeTabs}}, wallet.CodeForbidden},
		{"an expiring key's key outliving it", expiring, commerce.KeyRequest{Merchant: till.Number, Scopes: []commerce.Scope{commerce.ScopeTabs}, Expires: in(2 * time.Hour)}, wallet.CodeForbidden},
		{"an expiry in the past", root, commerce.KeyRequest{Merchant: till.Number, Scopes: []commerce.Scope{commerce.ScopeTabs}, Expires: in(-time.Minute)}, wallet.CodeInvalid},
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
	_, err = f.s.RevokeAPIKeyAs(f.ctx, narrow, merchant.KeyID)
	wantCode(t, err, wallet.CodeForbidden)
	_, err = f.s.RevokeAPIKeyAs(f.ctx, legacy, root.KeyID)
	wantCode(t, err, wallet.CodeForbidden)
	_, err = f.s.RevokeAPIKeyAs(f.ctx, legacy, merchant.KeyID)
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
	k, err := f.s.NewAPIKey(f.ctx, nil, commerce.KeyRequest{Merchant: till.Number, Scopes: []commerce.Scope{commerce.ScopePayments}, Expires: &at})
	f.must(err)
	if k.Expires == nil || !k.Expires.Equal(at.Truncate(time.Second)) {
		t.Fatalf("key expires %v, want %v", k.Expires, at)
	}
	_, err = f.s.Authorize(f.ctx, k.Secret, commerce.ScopePayments)
	wantCode(t, err, "")
	f.clock.Add(time.Minute)
	_, err = f.s.Authorize(f.ctx, k.Secret, commerce.ScopePayments)
	wantCode(t, err, wallet.CodeUnauthenticated)
	other, err := commerce.New(f.ctx, f.w, f.st, commerce.Config{Now: f.clock.Now})
	f.must(err)
	_, err = other.Authorize(f.ctx, k.Secret, commerce.ScopePayments)
	wantCode(t, err, wallet.CodeUnauthenticated)
	keys, err := f.s.APIKeys(f.ctx, till.Number)
	f.must(err)
	if len(keys) != 1 || keys[0].Expires == nil {
		t.Errorf("listed %+v, want the key with its expiry", keys)
	}
}
