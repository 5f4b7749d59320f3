package merchant_test

import (
	"context"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// TestOwnObjects asks for a payment request, a payout and a tab by id as
// their merchant, another merchant, an operator key, and with ids that are
// malformed, of another kind or unknown: only the merchant sees its own,
// and the others cannot tell another merchant's object from none.
func TestOwnObjects(t *testing.T) {
	f := newMerchantFixture(t)
	p, other := f.merchant("Duka", false), f.merchant("Soko", false)
	operator := merchant.Principal{Operator: true, Scopes: []merchant.Scope{merchant.ScopeOperator}}
	f.fund(p, 100_000)
	cust := f.customer(0)
	pr, err := f.s.RequestPayment(f.ctx, p, "own-pr", cust, 1500, "ORDER-1", "")
	f.must(err)
	po, err := f.s.Payout(f.ctx, p, "own-po", cust, 1000, "")
	f.must(err)
	tab, err := f.s.OpenTab(f.ctx, p, "own-tab", cust, 5_000_000, false, f.clock.Now().Add(24*time.Hour), "", "")
	f.must(err)

	kinds := []struct {
		name   string
		id     string // the merchant's object
		prefix string
		other  string // the merchant's object of another kind
		// get asks for id as p and returns the id of what it found.
		get func(ctx context.Context, p merchant.Principal, id string) (string, error)
	}{
		{"payment request", pr.ID, "pr", po.ID, func(ctx context.Context, p merchant.Principal, id string) (string, error) {
			got, err := f.s.PaymentRequest(ctx, p, id)
			if err != nil {
				return "", err
			}
			return got.ID, nil
		}},
		{"payout", po.ID, "po", tab.ID, func(ctx context.Context, p merchant.Principal, id string) (string, error) {
			got, err := f.s.PayoutStatus(ctx, p, id)
			if err != nil {
				return "", err
			}
			return got.ID, nil
		}},
		{"tab", tab.ID, "tab", pr.ID, func(ctx context.Context, p merchant.Principal, id string) (string, error) {
			got, err := f.s.Tab(ctx, p, id)
			if err != nil {
				return "", err
			}
			return got.ID, nil
		}},
	}
	for _, k := range kinds {
		tests := []struct {
			name string
			p    merchant.Principal
			id   string
			want wallet.Code // "" for found
		}{
			{"its merchant", p, k.id, ""},
			{"another merchant", other, k.id, wallet.CodeNotFound},
			{"an operator key", operator, k.id, wallet.CodeForbidden},
			{"a malformed id", p, k.prefix + "_nonsense", wallet.CodeNotFound},
			{"another kind's id", p, k.other, wallet.CodeNotFound},
			{"an unknown id", p, merchant.NewObjectID(k.prefix, time.Now()), wallet.CodeNotFound},
			{"an empty id", p, "", wallet.CodeNotFound},
		}
		for _, tt := range tests {
			t.Run(k.name+"/"+tt.name, func(t *testing.T) {
				got, err := k.get(f.ctx, tt.p, tt.id)
				if tt.want == "" {
					if err != nil || got != k.id {
						t.Fatalf("got %q, %v; want %s", got, err, k.id)
					}
					return
				}
				wantCode(t, err, tt.want)
			})
		}
	}
}
