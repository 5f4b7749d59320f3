package natsapi

import (
	"strings"
	"testing"

	"github.com/kibubu/kibubu/wallet"
)

// FuzzAuditDetail: whatever a request carries, the audit record made of it
// fits the log (sizes, no control characters) and never keeps a PIN or a
// key given in fields outside the allow-list.
func FuzzAuditDetail(f *testing.F) {
	for _, s := range []string{
		`{"number":"123456","status":"frozen"}`,
		`{"phone":"+254712000001","pin":"4821","new_pin":"1357","auth":"kbk_secret_value"}`,
		`{"name":"Duka\u202e\u0007","to":"x\u202ey","amount":5}`,
		`{"scopes":["payments","keys:read"],"expires":"2027-01-01T00:00:00Z"}`,
		`[1,2]`, `nonsense`, `{"number":12}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e := wallet.AuditEntry{Actor: "amina", Action: "account.status", Outcome: wallet.AuditRequested,
			Target: requestTarget(data), Detail: requestDetail(data)}
		if err := e.Check(); err != nil {
			t.Fatalf("entry from %q refused: %v (%+v)", data, err, e)
		}
		for _, secret := range []string{"4821", "1357", "kbk_secret_value"} {
			if strings.Contains(string(data), secret) && !strings.Contains(string(data), `"number"`) && strings.Contains(e.Detail, secret) {
				t.Fatalf("detail %q keeps %q", e.Detail, secret)
			}
		}
	})
}
