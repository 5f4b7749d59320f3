package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/store/storetest"
	"github.com/kibubu/kibubu/wallet/walletctl"
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
			t.Setenv(walletctl.OperatorEnv, "wanjiru")
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
				regexp.MustCompile(`(?m)^3 +\S+ +wanjiru +agent\.add +` + agent + ` +ok +contract 7 +\{"request":2\}$`),
				regexp.MustCompile(`(?m)^4 +\S+ +amina +account\.status +` + agent + ` +requested +fraud report 9 +\{"number":"` + agent + `","status":"frozen"\}$`),
				regexp.MustCompile(`(?m)^5 +\S+ +amina +account\.status +` + agent + ` +ok +fraud report 9 `),
				regexp.MustCompile(`(?m)^7 +\S+ +wanjiru +float\.issue +` + agent + ` +account_frozen +- +`),
				regexp.MustCompile(`(?m)^audit chain ok: 7 records, head [0-9a-f]{64}\n$`),
			} {
				if !want.MatchString(out) {
					t.Errorf("audit list printed\n%s\nwant a line matching %s", out, want)
				}
			}
			if out, err := op("audit", "list", "--since", "1h"); err != nil || strings.Count(out, "\n") != 9 {
				t.Errorf("audit list --since 1h: %v, printed\n%s\nwant the header, 7 records (the tariff, 6 of the operator) and the status", err, out)
			}
			if out, err := op("ledger", "check"); err != nil || !strings.Contains(out, "audit records             7\n") {
				t.Errorf("ledger check: %v, printed\n%s", err, out)
			}

			// Someone with the database's credentials edits who froze it.
			if err := m.store.Gorm().Exec("UPDATE audit_log SET actor = 'nobody' WHERE seq = 4").Error; err != nil {
				t.Fatal(err)
			}
			out, err = op("ledger", "check")
			if err == nil || !strings.Contains(out, "violation: audit log broken: audit record 4: its hash does not match its content") {
				t.Errorf("ledger check on a tampered log: %v, printed\n%s", err, out)
			}
			out, err = op("audit", "list")
			if err == nil || !strings.Contains(out, "audit chain BROKEN after record 3: audit record 4:") || strings.Contains(out, "nobody") {
				t.Errorf("audit list on a tampered log: %v, printed\n%s", err, out)
			}
		})
	}
}

// TestSecurityTariffLoadAudited: a wallet records the tariff it starts with
// (actor the wallet process, detail the file's SHA-256) when it differs
// from the last one recorded, and only then.
func TestSecurityTariffLoadAudited(t *testing.T) {
	embeddedOnly(t)
	cfg := testConfig(t, "")
	toml, err := os.ReadFile(filepath.Join("wallet", "testdata", "tariff.toml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tariff = filepath.Join(t.TempDir(), "tariff.toml")
	tariffs := func(m *Main) []wallet.AuditRecord {
		t.Helper()
		recs, err := m.store.AuditRecords(context.Background(), wallet.AuditQuery{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	steps := []struct {
		name  string
		write string
		want  int // tariff records after the start
	}{
		{"first start", string(toml), 1},
		{"restart with the same file", string(toml), 1},
		{"restart with a changed file", string(toml) + "\n# fees reviewed\n", 2},
		{"restart again", string(toml) + "\n# fees reviewed\n", 2},
	}
	for _, step := range steps {
		if err := os.WriteFile(cfg.Tariff, []byte(step.write), 0o600); err != nil {
			t.Fatal(err)
		}
		m := startMain(t, &Main{Config: cfg})
		recs := tariffs(m)
		if len(recs) != step.want {
			t.Fatalf("%s: %d audit records, want %d", step.name, len(recs), step.want)
		}
		last := recs[len(recs)-1]
		sum := sha256.Sum256([]byte(step.write))
		if last.Action != wallet.AuditTariffLoad || !strings.HasPrefix(last.Actor, "wallet@") || !strings.Contains(last.Detail, hex.EncodeToString(sum[:])) {
			t.Errorf("%s: last record %+v, want the tariff load with the file's SHA-256", step.name, last.AuditEntry)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
