package merchant_test

import (
	"encoding/base64"
	"fmt"
	"slices"
	"testing"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// TestPaymentRequestsPages: a merchant's payment requests, newest first,
// a page at a time with no gap or overlap, each as PaymentRequest shows
// it; another merchant's are not in them; what is refused is refused.
func TestPaymentRequestsPages(t *testing.T) {
	f := newMerchantFixture(t)
	p, other := f.merchant("Duka", false), f.merchant("Soko", false)
	var ids []string
	for i := range 5 {
		pr, err := f.s.RequestPayment(f.ctx, p, fmt.Sprint("list-", i), f.customer(0), int64(1_000*(i+1)), fmt.Sprint("INV-", i), "")
		f.must(err)
		ids = append(ids, pr.ID)
	}
	_, err := f.s.RequestPayment(f.ctx, other, "elsewhere", f.customer(0), 500, "INV-X", "")
	f.must(err)
	slices.Reverse(ids) // newest first

	var got []string
	cursor := ""
	for page := 0; ; page++ {
		reqs, next, err := f.s.PaymentRequests(f.ctx, p, cursor, 2)
		f.must(err)
		if page < 2 && (len(reqs) != 2 || next == "") || page == 2 && (len(reqs) != 1 || next != "") {
			t.Fatalf("page %d: %d requests, next %q", page, len(reqs), next)
		}
		for _, pr := range reqs {
			got = append(got, pr.ID)
			one, err := f.s.PaymentRequest(f.ctx, p, pr.ID)
			f.must(err)
			if pr != *one || pr.Merchant != p.Merchant || pr.Status != merchant.RequestPending {
				t.Errorf("listed %+v; PaymentRequest shows %+v", pr, *one)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("pages hold %v, want %v (newest first, no gap or overlap)", got, ids)
	}
	all, next, err := f.s.PaymentRequests(f.ctx, p, "", 0)
	f.must(err)
	if len(all) != len(ids) || next != "" {
		t.Errorf("the default page: %d requests, next %q; want %d, none", len(all), next, len(ids))
	}

	opKey, err := f.s.CreateAPIKey(f.ctx, "", true, nil)
	f.must(err)
	op, err := f.s.Authenticate(f.ctx, opKey.Secret)
	f.must(err)
	otherCursor := base64.RawURLEncoding.EncodeToString([]byte("t" + ids[0]))
	for _, c := range []struct {
		name   string
		p      merchant.Principal
		cursor string
		limit  int
		code   wallet.Code
	}{
		{"bad cursor", p, "!!", 0, wallet.CodeInvalid},
		{"a cursor of another kind", p, otherCursor, 0, wallet.CodeInvalid},
		{"a transactions cursor", p, "YwAKWq0mTP5I", 0, wallet.CodeInvalid},
		{"page too large", p, "", 201, wallet.CodeInvalid},
		{"an operator key", op, "", 0, wallet.CodeForbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := f.s.PaymentRequests(f.ctx, c.p, c.cursor, c.limit)
			wantCode(t, err, c.code)
		})
	}
}
