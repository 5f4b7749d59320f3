// Package storetest gives tests a fresh, private database: a SQLite file in
// the test's temporary directory, or, when KIBUBU_TEST_POSTGRES is set, a
// new schema on that PostgreSQL server, dropped when the test ends. Tests
// of every package that needs a store use it, so repeated and parallel runs
// against one shared PostgreSQL never see each other's rows.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// PostgresEnv names the environment variable holding the PostgreSQL URL
// tests run against, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const PostgresEnv = "KIBUBU_TEST_POSTGRES"

const (
	// adminTimeout bounds creating or dropping a schema; the server is local
	// or on the CI network, so longer means it is down.
	adminTimeout = 30 * time.Second
	// schemaNameBytesMax keeps a schema name under PostgreSQL's 63-byte
	// identifier limit with room for the random suffix.
	schemaNameBytesMax = 40
)

// DSN returns a Postgres DSN when KIBUBU_TEST_POSTGRES is set, else a SQLite one.
func DSN(t testing.TB) string {
	t.Helper()
	if os.Getenv(PostgresEnv) != "" {
		return Postgres(t)
	}
	return SQLite(t)
}

// SQLite returns the path of a SQLite database file (not yet created) in a
// directory removed when the test ends.
func SQLite(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "kibubu.db")
}

// Postgres returns the KIBUBU_TEST_POSTGRES URL with search_path set to a
// new, empty schema, dropped (with everything in it) when the test ends.
// It skips the test when KIBUBU_TEST_POSTGRES is not set.
func Postgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		t.Skipf("%s is not set", PostgresEnv)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	schema := schemaName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	// pgx sends unknown URL parameters as run-time parameters at connect,
	// so every connection of the pool starts in the schema.
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// schemaName makes a unique, valid, unquoted identifier from a test name.
func schemaName(testName string) string {
	var b strings.Builder
	b.WriteString("kt_")
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= schemaNameBytesMax {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	suffix := make([]byte, 6)
	rand.Read(suffix)
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(suffix))
	return b.String()
}

// QueryPlan returns how the database would run q, one line per step. On
// PostgreSQL it turns sequential scans off: the test tables are tiny, and
// the plan wanted is the one for a large table.
func QueryPlan(t testing.TB, db *gorm.DB, pg bool, q string) string {
	t.Helper()
	var plan []string
	err := db.Transaction(func(tx *gorm.DB) error {
		explain := "EXPLAIN QUERY PLAN " + q
		if pg {
			if err := tx.Exec("SET LOCAL enable_seqscan = off").Error; err != nil {
				return err
			}
			explain = "EXPLAIN " + q
		}
		rows, err := tx.Raw(explain).Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			plan = append(plan, fmt.Sprint(vals...))
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}
