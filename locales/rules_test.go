package locales

import (
	"strings"
	"testing"

	"github.com/kibubu/kibubu/wallet"
)

// TestRuleMessages: a held and a blocked transfer, and the SMS of a
// release or refusal, have their own words in every language, on one
// screen (one SMS) of GSM-7.
func TestRuleMessages(t *testing.T) {
	c := newCatalog(t)
	kes, _ := wallet.LookupCurrency("KES")
	for _, tc := range []struct {
		lang string
		code wallet.Code
		sms  string
		want string
	}{
		{"en", wallet.CodeHeldForReview, "", "on hold for a check"},
		{"fr", wallet.CodeHeldForReview, "", "en attente de vérification"},
		{"sw", wallet.CodeHeldForReview, "", "umesimamishwa kwa ukaguzi"},
		{"en", wallet.CodeRuleBlocked, "", "not allowed"},
		{"fr", wallet.CodeRuleBlocked, "", "pas autorisé"},
		{"sw", wallet.CodeRuleBlocked, "", "hauruhusiwi"},
		{"en", "", "sms.review.released", "was released"},
		{"fr", "", "sms.review.released", "a été validé"},
		{"sw", "", "sms.review.released", "umeruhusiwa"},
		{"en", "", "sms.review.refused", "was refused"},
		{"fr", "", "sms.review.refused", "a été refusé"},
		{"sw", "", "sms.review.refused", "umekataliwa"},
	} {
		var got string
		if tc.code != "" {
			got = c.RenderError(tc.lang, kes, wallet.Errorf(tc.code, "x"))
		} else {
			got = c.Render(tc.lang, tc.sms, map[string]any{"Date": "08/12/26", "Time": "09:14"})
		}
		n, gsm := Septets(got)
		if !strings.Contains(got, tc.want) || !gsm || n > 160 {
			t.Errorf("%s %s%s: got %q (%d septets, GSM-7 %v); want one GSM-7 SMS with %q", tc.lang, tc.code, tc.sms, got, n, gsm, tc.want)
		}
	}
}
