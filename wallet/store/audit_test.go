package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// TestSecurityAuditChain (issue 11, finding 9): the audit log is a SHA-256
// chain that the ledger check verifies, naming the first record an edit, a
// deletion or a reordering broke. Tampering is done with SQL, as someone
// with the database's credentials would, on SQLite and PostgreSQL.
func TestSecurityAuditChain(t *testing.T) {
	tests := []struct {
		name   string
		tamper string
		want   string // the violation; "" for none
	}{
		{"untouched", "", ""},
		{"a reason edited", "UPDATE audit_log SET reason = 'routine' WHERE seq = 3", "audit record 3: its hash does not match"},
		{"an actor edited with its hash recomputed elsewhere", "UPDATE audit_log SET actor = 'mallory', hash = (SELECT hash FROM audit_log WHERE seq = 1) WHERE seq = 2", "audit record 2: its hash does not match"},
		{"a time edited", "UPDATE audit_log SET time = time - INTERVAL_ONE_DAY WHERE seq = 4", "audit record 4: its hash does not match"},
		{"a record deleted", "DELETE FROM audit_log WHERE seq = 3", "audit record 4: expected record 3"},
		{"the first record deleted", "DELETE FROM audit_log WHERE seq = 1", "audit record 2: expected record 1"},
		{"two records swapped", "UPDATE audit_log SET seq = 100 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = 100", "audit record 2: its previous hash"},
		{"a record inserted", "INSERT INTO audit_log (seq, time, actor, action, target, reason, outcome, detail, prev_hash, hash) " +
			"SELECT 6, time, actor, action, target, reason, outcome, detail, hash, hash FROM audit_log WHERE seq = 5", "audit record 6: its hash does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := storetest.DSN(t)
			w, st := newWallet(t, ctx, dsn)
			for i := range 5 {
				rec, err := w.Audit(ctx, wallet.AuditEntry{Actor: "amina", Action: "account.status", Target: fmt.Sprint("10000", i),
					Reason: "fraud report", Outcome: wallet.AuditOK, Detail: `{"status":"frozen"}`})
				if err != nil {
					t.Fatal(err)
				}
				if rec.Seq != int64(i+1) || rec.Hash != rec.ComputeHash() {
					t.Fatalf("append %d: got seq %d hash %s", i, rec.Seq, rec.Hash)
				}
			}
			tamper := tt.tamper
			if st.Gorm().Dialector.Name() == "postgres" {
				tamper = strings.ReplaceAll(tamper, "time - INTERVAL_ONE_DAY", "time - INTERVAL '1 day'")
			} else {
				tamper = strings.ReplaceAll(tamper, "time - INTERVAL_ONE_DAY", "'2020-01-01 00:00:00+00:00'")
			}
			// Statements before the last run here; corruptAndCheck runs the last.
			steps := strings.Split(tamper, "; ")
			for _, q := range steps[:len(steps)-1] {
				if err := st.Gorm().Exec(q).Error; err != nil {
					t.Fatal(err)
				}
			}
			r := corruptAndCheck(t, w, st, steps[len(steps)-1], tt.want)
			if tt.want == "" && (r.Audit != 5 || len(r.AuditHead) != 64) {
				t.Errorf("got audit %d head %q, want 5 records and a head", r.Audit, r.AuditHead)
			}
			if got := strings.Join(r.Violations, "; "); tt.want != "" && strings.Count(got, "audit log broken") != 1 {
				t.Errorf("got violations %q, want only the first broken record", got)
			}
		})
	}
}

// TestSecurityAuditConcurrentAppends has two wallet services (as two
// processes would) on one database append at once: the records form one
// chain without gaps or forks.
func TestSecurityAuditConcurrentAppends(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.DSN(t)
	w1, _ := newWallet(t, ctx, dsn)
	w2, _ := newWallet(t, ctx, dsn)
	const perWorker = 25
	var wg sync.WaitGroup
	for i, w := range []*wallet.Service{w1, w2, w1, w2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perWorker {
				if _, err := w.Audit(ctx, wallet.AuditEntry{Actor: fmt.Sprint("op", i), Action: "float.issue", Outcome: wallet.AuditRequested, Detail: fmt.Sprint(j)}); err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	r, err := w2.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Audit != 4*perWorker {
		t.Fatalf("got %d audit records, violations %v; want %d and none", r.Audit, r.Violations, 4*perWorker)
	}
}

// TestAuditLogQuery lists records by time, target and page.
func TestAuditLogQuery(t *testing.T) {
	ctx := context.Background()
	w, _ := newWallet(t, ctx, storetest.DSN(t))
	start := time.Now()
	for i, target := range []string{"100001", "100002", "100001", "kbk_x"} {
		if _, err := w.Audit(ctx, wallet.AuditEntry{Actor: "amina", Action: "account.status", Target: target, Outcome: wallet.AuditOK, Detail: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		q    wallet.AuditQuery
		want []int64
	}{
		{"all", wallet.AuditQuery{}, []int64{1, 2, 3, 4}},
		{"after", wallet.AuditQuery{After: 2}, []int64{3, 4}},
		{"one account", wallet.AuditQuery{Targets: []string{"100001"}}, []int64{1, 3}},
		{"page", wallet.AuditQuery{Limit: 2}, []int64{1, 2}},
		{"since before", wallet.AuditQuery{Since: start.Add(-time.Hour)}, []int64{1, 2, 3, 4}},
		{"since after", wallet.AuditQuery{Since: start.Add(time.Hour)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := w.AuditLog(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, r := range recs {
				got = append(got, r.Seq)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := w.Audit(ctx, wallet.AuditEntry{Action: "account.status", Outcome: wallet.AuditOK}); wallet.ErrorCode(err) != wallet.CodeInvalid {
		t.Errorf("no actor: got %v, want invalid", err)
	}
	if _, err := w.Audit(ctx, wallet.AuditEntry{Actor: "a\x1b[2Jb", Action: "account.status", Outcome: wallet.AuditOK}); wallet.ErrorCode(err) != wallet.CodeInvalid {
		t.Errorf("control characters: got %v, want invalid", err)
	}
}
