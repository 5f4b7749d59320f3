package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/notify"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
)

// TestSecurityStartKeySMS: the start key of an account an operator opened
// or reset goes to its phone in its language, and a PIN change is told;
// once sent, the start key's text is gone from sms_messages.
func TestSecurityStartKeySMS(t *testing.T) {
	cat, err := locales.New()
	if err != nil {
		t.Fatal(err)
	}
	nairobi := time.FixedZone("EAT", 3*3600)
	at := time.Date(2026, 11, 21, 7, 30, 0, 0, time.UTC)
	acct := func(id int64, phone, lang string) wallet.Account {
		return wallet.Account{Profile: wallet.Profile{ID: id, Phone: phone, Language: lang, Name: "Duka Moja"}}
	}
	var out []notify.Outgoing
	for i, lang := range []string{"en", "sw", "fr"} {
		phone := "+25470000010" + string(rune('0'+i))
		notices := []wallet.Notice{
			{Kind: wallet.NoticeStartKey, Account: acct(int64(10+i), phone, lang), StartKey: "493817", Expires: at.Add(24 * time.Hour), At: at},
			{Kind: wallet.NoticePINReset, Account: acct(int64(10+i), phone, lang), StartKey: "602194", Expires: at.Add(24 * time.Hour), At: at.Add(time.Minute)},
			{Kind: wallet.NoticePINChanged, Account: acct(int64(10+i), phone, lang), At: at.Add(2 * time.Minute)},
		}
		for _, n := range notices {
			m := notify.NoticeMessage(cat, nairobi, n)
			if m.To != phone || m.Language != lang {
				t.Errorf("%s %s: to %s in %s, want %s in %s", lang, n.Kind, m.To, m.Language, phone, lang)
			}
			if n.StartKey != "" {
				if !strings.Contains(m.Text, n.StartKey) || !strings.Contains(m.Text, "22/11/26 10:30") || !notify.IsSecret(m.Key) {
					t.Errorf("%s %s: %q (key %s): want the start key, its expiry in EAT, and a secret key", lang, n.Kind, m.Text, m.Key)
				}
			} else if !strings.Contains(m.Text, "21/11/26") || !strings.Contains(m.Text, "10:32") || notify.IsSecret(m.Key) {
				t.Errorf("%s %s: %q: want the date and time of the change in EAT", lang, n.Kind, m.Text)
			}
			if _, parts := locales.Segments(m.Text); parts != 1 {
				t.Errorf("%s %s: %d SMS parts, want 1: %q", lang, n.Kind, parts, m.Text)
			}
			out = append(out, m.Outgoing())
		}
	}
	st := smsStore(t, smsDB(t))
	smsRun(t, smsConfig(st, notify.Outbox{}, nil))
	if _, err := st.Record(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	for _, r := range smsSettled(t, st) {
		switch {
		case r.Status != notify.StatusSent:
			t.Errorf("%s: status %s, want sent", r.Key, r.Status)
		case notify.IsSecret(r.Key) && r.Text != notify.RedactedText:
			t.Errorf("%s: stored text %q after sending, want it removed", r.Key, r.Text)
		case !notify.IsSecret(r.Key) && r.Text == notify.RedactedText:
			t.Errorf("%s: a PIN-change notice was redacted", r.Key)
		}
	}
}
