package notify

import (
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
)

// TestReviewNotice: a held transfer released or refused is told to its
// sender in the account's language, with the day it was decided.
func TestReviewNotice(t *testing.T) {
	c, err := locales.New()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 8, 9, 14, 0, 0, time.UTC)
	for _, tc := range []struct {
		kind wallet.NoticeKind
		lang string
		want string
	}{
		{wallet.NoticeReviewReleased, "en", "on 08/12/26 your transfer held for a check was released"},
		{wallet.NoticeReviewRefused, "en", "on 08/12/26 your transfer held for a check was refused"},
		{wallet.NoticeReviewReleased, "sw", "umeruhusiwa"},
		{wallet.NoticeReviewRefused, "fr", "a été refusé"},
	} {
		m := NoticeMessage(c, time.UTC, wallet.Notice{Kind: tc.kind, At: at,
			Account: wallet.Account{Profile: wallet.Profile{ID: 6, Phone: "+254712000001", Language: tc.lang}}})
		if !strings.Contains(m.Text, tc.want) || m.To != "+254712000001" || IsSecret(m.Key) || !strings.Contains(m.Key, string(tc.kind)) {
			t.Errorf("%s %s: got %+v; want a message to the phone with %q", tc.kind, tc.lang, m, tc.want)
		}
	}
}
