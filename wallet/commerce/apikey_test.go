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
		{"operator key", "", true, nil, "", []commerce.Scope{commerce.ScopeOperator}},
		{"operator key naming its scope", "", true, []commerce.Scope{commerce.ScopeOperator}, "", []commerce.Scope{commerce.ScopeOperator}},
		{"operator key with a merchant scope", "", true, []commerce.Scope{commerce.ScopePayments}, wallet.CodeInvalid, nil},
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
