package notify

import (
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
)

// TestSIMSwapNoticeMessage: a SIM-swap hold and its clearance reach the
// account's phone in its language, with the time in the wallet's zone, in
// one GSM-7 SMS, under a key of their own that is not secret (no start
// key: the text stays in sms_messages).
func TestSIMSwapNoticeMessage(t *testing.T) {
	cat, err := locales.New()
	if err != nil {
		t.Fatal(err)
	}
	nairobi := time.FixedZone("EAT", 3*3600)
	at := time.Date(2026, 12, 8, 7, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		lang string
		kind wallet.NoticeKind
		want string
	}{
		{"en", wallet.NoticeSIMSwapHold, "on hold since 08/12/26 10:30"},
		{"fr", wallet.NoticeSIMSwapHold, "bloqués depuis le 08/12/26 10:30"},
		{"sw", wallet.NoticeSIMSwapHold, "vimesimamishwa tangu 08/12/26 10:30"},
		{"en", wallet.NoticeSIMSwapClear, "lifted the SIM-change hold on your account on 08/12/26 at 10:30"},
		{"fr", wallet.NoticeSIMSwapClear, "levé le blocage lié au changement de SIM le 08/12/26 à 10:30"},
		{"sw", wallet.NoticeSIMSwapClear, "imeondoa zuio la laini mpya kwenye akaunti yako 08/12/26 saa 10:30"},
	} {
		n := wallet.Notice{Kind: tc.kind, At: at, Account: wallet.Account{Profile: wallet.Profile{ID: 7, Phone: "+254700000107", Language: tc.lang}}}
		m := NoticeMessage(cat, nairobi, n)
		enc, parts := locales.Segments(m.Text)
		if !strings.Contains(m.Text, tc.want) || m.To != n.Account.Phone || m.Language != tc.lang || parts != 1 || enc != locales.GSM7 || IsSecret(m.Key) {
			t.Errorf("%s %s: got %q to %s in %s (%s, %d parts, key %s); want %q in one GSM-7 SMS to %s, not secret",
				tc.lang, tc.kind, m.Text, m.To, m.Language, enc, parts, m.Key, tc.want, n.Account.Phone)
		}
		if other := NoticeMessage(cat, nairobi, wallet.Notice{Kind: wallet.NoticePINChanged, At: at, Account: n.Account}); other.Key == m.Key {
			t.Errorf("%s %s: key %s is the PIN-change notice's", tc.lang, tc.kind, m.Key)
		}
	}
}
