package storetest

import (
	"context"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestSchemaName(t *testing.T) {
	valid := regexp.MustCompile(`^kt_[a-z0-9_]+_[0-9a-f]{12}$`)
	tests := []string{"TestServe", "TestServe/postgres", "Test with spaces & ü", strings.Repeat("TestLong", 20)}
	seen := map[string]bool{}
	for _, name := range tests {
		got := schemaName(name)
		if !valid.MatchString(got) || len(got) > 63 || seen[got] {
			t.Errorf("schemaName(%q) = %q, want a unique identifier of at most 63 bytes matching %s", name, got, valid)
		}
		seen[got] = true
	}
}

func TestSQLite(t *testing.T) {
	got := SQLite(t)
	if !strings.HasSuffix(got, "kibubu.db") {
		t.Errorf("SQLite() = %q, want a path ending kibubu.db", got)
	}
	if os.Getenv(PostgresEnv) == "" && DSN(t) == got {
		t.Errorf("DSN() returned the same path twice: %q", got)
	}
}

func TestPostgresSchemaIsPrivate(t *testing.T) {
	dsn := Postgres(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE probe (id int)"); err != nil {
		t.Fatal(err)
	}
	var got string
	if err := conn.QueryRow(ctx, "SELECT table_schema FROM information_schema.tables WHERE table_name = 'probe'").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != schema {
		t.Errorf("table created in schema %q, want %q", got, schema)
	}
}
