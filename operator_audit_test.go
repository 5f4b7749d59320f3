package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// testOperator names the operator behind the operator requests tests make.
var testOperator = natsapi.AsOperator(natsapi.Operator{Actor: "test"})

// TestSecurityAuditCommands (issue 11, finding 9) runs the operator
// commands as a person would, on SQLite and PostgreSQL: each names its
// operator (--as, $KIBUBU_OPERATOR) and reason, `kibubu audit list` prints
// them with the chain's status, an exceptional command without --reason
// is refused, and after someone edits a record in the database both
// `kibubu ledger check` and `kibubu audit list` fail naming it.
func TestSecurityAuditCommands(t *testing.T) {
	for _, db := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return storetest.Postgres(t) }},
	} {
		t.Run(db.name, func(t *testing.T) {
			m := startMain(t, &Main{Config: testConfig(t, db.dsn(t))})
			data := []string{"--data", m.Config.Data}
			op := func(args ...string) (string, error) { return cli(t, append(args, data...)...) }
			t.Setenv(operatorEnv, "wanjiru")
			out, err := op("agent", "add", "--phone", "0712000001", "--name", "Duka", "--reason", "contract 7")
			if err != nil {
				t.Fatal(err)
			}
			agent := strings.Fields(out)[1]
			if _, err := op("account", "freeze", agent); err == nil || !strings.Contains(err.Error(), "--reason is required") {
				t.Fatalf("freeze without --reason: got %v, want a usage error", err)
			}
			if _, err := op("account", "freeze", agent, "--as", "amina", "--reason", "fraud report 9"); err != nil {
				t.Fatal(err)
			}
			if _, err := op("float", "issue", "--agent", agent, "--amount", "5", "--ref", "BANK-9"); wallet.ErrorCode(err) != wallet.CodeAccountFrozen {
				t.Fatalf("float issue to a frozen agent: got %v", err)
			}
			out, err = op("audit", "list", "--account", agent)
			if err != nil {
				t.Fatalf("audit list: %v\n%s", err, out)
			}
			for _, want := range []*regexp.Regexp{
				regexp.MustCompile(`(?m)^2 +\S+ +wanjiru +agent\.add +` + agent + ` +ok +contract 7 +\{"request":1\}$`),
				regexp.MustCompile(`(?m)^3 +\S+ +amina +account\.status +` + agent + ` +requested +fraud report 9 +\{"number":"` + agent + `","status":"frozen"\}$`),
				regexp.MustCompile(`(?m)^4 +\S+ +amina +account\.status +` + agent + ` +ok +fraud report 9 `),
				regexp.MustCompile(`(?m)^6 +\S+ +wanjiru +float\.issue +` + agent + ` +account_frozen +- +`),
				regexp.MustCompile(`(?m)^audit chain ok: 6 records, head [0-9a-f]{64}\n$`),
			} {
				if !want.MatchString(out) {
					t.Errorf("audit list printed\n%s\nwant a line matching %s", out, want)
				}
			}
			if out, err := op("audit", "list", "--since", "1h"); err != nil || strings.Count(out, "\n") != 8 {
				t.Errorf("audit list --since 1h: %v, printed\n%s\nwant the header, 6 records and the status", err, out)
			}
			if out, err := op("ledger", "check"); err != nil || !strings.Contains(out, "audit records             6\n") {
				t.Errorf("ledger check: %v, printed\n%s", err, out)
			}

			// Someone with the database's credentials edits who froze it.
			if err := m.store.Gorm().Exec("UPDATE audit_log SET actor = 'nobody' WHERE seq = 3").Error; err != nil {
				t.Fatal(err)
			}
			out, err = op("ledger", "check")
			if err == nil || !strings.Contains(out, "violation: audit log broken: audit record 3: its hash does not match its content") {
				t.Errorf("ledger check on a tampered log: %v, printed\n%s", err, out)
			}
			out, err = op("audit", "list")
			if err == nil || !strings.Contains(out, "audit chain BROKEN after record 2: audit record 3:") || strings.Contains(out, "nobody") {
				t.Errorf("audit list on a tampered log: %v, printed\n%s", err, out)
			}
		})
	}
}

// TestParseExpiry reads --expires.
func TestParseExpiry(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time // zero: an error
	}{
		{"90d", now.Add(90 * 24 * time.Hour)},
		{"36h", now.Add(36 * time.Hour)},
		{"2027-01-31", time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC)},
		{"2027-01-31T08:00:00+03:00", time.Date(2027, 1, 31, 5, 0, 0, 0, time.UTC)},
		{"2026-12-01", time.Time{}}, // past
		{"0d", time.Time{}},
		{"-5h", time.Time{}},
		{"4000d", time.Time{}},
		{"soon", time.Time{}},
		{"", time.Time{}},
	}
	for _, tt := range tests {
		got, err := parseExpiry(tt.in, now)
		if tt.want.IsZero() != (err != nil) || !got.Equal(tt.want) {
			t.Errorf("parseExpiry(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}
