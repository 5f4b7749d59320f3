package locales

import (
	"strings"
	"testing"

	"github.com/kibubu/kibubu/wallet"
)

// TestSIMSwapHold: the gate's refusal has its own words in every language
// (not the general error), on one screen of GSM-7.
func TestSIMSwapHold(t *testing.T) {
	c := newCatalog(t)
	kes, _ := wallet.LookupCurrency("KES")
	err := wallet.Errorf(wallet.CodeSIMSwapHold, "held")
	for _, tc := range []struct{ lang, want string }{
		{"en", "SIM card was changed"},
		{"fr", "carte SIM a été changée"},
		{"sw", "Laini yako ya simu imebadilishwa"},
	} {
		got := c.RenderError(tc.lang, kes, err)
		n, gsm := Septets(got)
		if !strings.Contains(got, tc.want) || !gsm || !FitsScreen(got) {
			t.Errorf("%s: got %q (%d septets, GSM-7 %v); want a screen with %q", tc.lang, got, n, gsm, tc.want)
		}
	}
}
