package gateway

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// TestSecurityPromptRateLimitHTTP: a merchant that prompts one customer
// more than the default limit allows (3 payment requests and tabs in 10
// minutes from one merchant) gets 429 rate_limited, in the API's error shape, with a
// Retry-After of the seconds until its oldest prompt leaves the window; a
// replay of an earlier creation still replays.
func TestSecurityPromptRateLimitHTTP(t *testing.T) {
	s := startStack(t, func(c *merchant.Config) {
		c.PromptsPerPhone, c.PromptsPerPair, c.PromptsPerMerchant = merchant.PromptLimit{}, merchant.PromptLimit{}, merchant.PromptLimit{} // the defaults
	})
	_, key := s.merchant("Duka A")
	customer := s.customer(0)
	request := func(idem string) reply {
		return s.do(apiCall{method: "POST", target: "/v1/payment-requests", key: key, idem: idem,
			body: `{"phone":"` + customer + `","amount":"10.00","reference":"ORDER-1"}`})
	}
	tab := func(idem string) reply {
		return s.do(apiCall{method: "POST", target: "/v1/tabs", key: key, idem: idem,
			body: `{"phone":"` + customer + `","cap":"1.00","expires_at":"` + time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339) + `"}`})
	}
	for i, r := range []reply{request("pr-1"), tab("tab-1"), request("pr-2")} {
		if r.status != http.StatusCreated {
			t.Fatalf("creation %d = %s", i+1, r)
		}
	}
	for _, r := range []reply{request("pr-3"), tab("tab-2")} {
		if r.status != http.StatusTooManyRequests || r.code() != wallet.CodeRateLimited {
			t.Fatalf("over the limit = %s, want 429 rate_limited", r)
		}
		wait, err := strconv.Atoi(r.header.Get(echo.HeaderRetryAfter))
		if err != nil || wait < 1 || wait > 600 {
			t.Fatalf("Retry-After %q, want 1 to 600 seconds", r.header.Get(echo.HeaderRetryAfter))
		}
		var e errorBody
		r.decode(t, &e)
		if e.Error.RequestID == "" || e.Error.Message == "" || e.Error.RequestID != r.header.Get(echo.HeaderXRequestID) {
			t.Fatalf("error body %+v", e)
		}
	}
	if r := request("pr-1"); r.status != http.StatusCreated || r.header.Get(HeaderIdempotentReplayed) != "true" {
		t.Fatalf("replay of pr-1 = %s (replayed %q)", r, r.header.Get(HeaderIdempotentReplayed))
	}
}
