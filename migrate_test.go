package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	notifystore "github.com/kibubu/kibubu/notify/store"
	merchantstore "github.com/kibubu/kibubu/wallet/merchant/store"
	"github.com/kibubu/kibubu/wallet/natsapi/natstest"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// TestMigrateAtOnce runs two `kibubu migrate` at once on one PostgreSQL
// database, as two Jobs (or a Job and a wallet) would: both succeed, and
// the schema is whole: wallets and notifiers that do not migrate start on it.
func TestMigrateAtOnce(t *testing.T) {
	dsn := storetest.Postgres(t)
	const migrates = 2
	errs := make([]error, migrates)
	outs := make([]bytes.Buffer, migrates)
	var wg sync.WaitGroup
	for i := range migrates {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			errs[i] = run(ctx, nil, []string{"migrate", "--db", dsn}, &outs[i], &bytes.Buffer{})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil || !strings.HasPrefix(outs[i].String(), "migrated ") {
			t.Errorf("migrate %d: %q, %v; want migrated", i, outs[i].String(), err)
		}
	}
	checkMigrated(t, dsn)
}

// checkMigrated checks that every component's tables are there, as a
// process started with --migrate=false finds them.
func checkMigrated(t *testing.T, dsn string) {
	t.Helper()
	ctx := context.Background()
	s, err := store.OpenMigrated(ctx, dsn)
	if err != nil {
		t.Fatalf("OpenMigrated after kibubu migrate: %v", err)
	}
	defer s.Close()
	if err := notifystore.CheckMigrated(ctx, s.Gorm()); err != nil {
		t.Errorf("notifystore.CheckMigrated after kibubu migrate: %v", err)
	}
	if err := merchantstore.CheckMigrated(ctx, s.Gorm()); err != nil {
		t.Errorf("merchantstore.CheckMigrated after kibubu migrate: %v", err)
	}
	for _, table := range []string{"accounts", "transfers", "postings", "outbox_events", "audit_log", "api_keys", "tabs",
		"sms_messages", "sms_consents", "webhook_deliveries"} {
		if !s.Gorm().Migrator().HasTable(table) {
			t.Errorf("table %s is missing after kibubu migrate", table)
		}
	}
	var rows []struct {
		Component string
		Digest    string
	}
	if err := s.Gorm().Table("schema_migrations").Order("component").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].Component != "merchant" || rows[1].Component != "notify" || rows[2].Component != "wallet" {
		t.Errorf("schema_migrations = %+v, want one row each for merchant, notify and wallet", rows)
	}
}

// TestStartWithoutMigrate checks that a wallet or a notifier told not to
// migrate refuses an unmigrated database, naming `kibubu migrate`, and
// starts once it has run.
func TestStartWithoutMigrate(t *testing.T) {
	for _, db := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return storetest.SQLite(t) }},
		{"postgres", func(t *testing.T) string { return storetest.Postgres(t) }},
	} {
		t.Run(db.name, func(t *testing.T) {
			dsn := db.dsn(t)
			for _, role := range []Role{RoleWallet, RoleNotify} {
				c := testConfig(t, dsn)
				c.NATS = "nats://127.0.0.1:1" // never reached: the database is checked first
				c.Migrate = false
				m := &Main{Config: c, Role: role, Log: slog.New(slog.DiscardHandler)}
				err := m.Run(context.Background())
				m.Close()
				if !errors.Is(err, store.ErrNotMigrated) || !strings.Contains(err.Error(), "run `kibubu migrate --db") {
					t.Errorf("%s --migrate=false on an empty database: %v, want it refused naming kibubu migrate", role, err)
				}
			}
			if out, err := cli(t, "migrate", "--db", dsn); err != nil {
				t.Fatalf("kibubu migrate: %q, %v", out, err)
			}
			checkMigrated(t, dsn)
			ns := natstest.StartTCP(t)
			c := testConfig(t, dsn)
			c.NATS, c.NATSPrefix, c.Migrate = ns.URL(), ns.Prefix, false
			m := startMain(t, &Main{Config: c, Role: RoleWallet})
			if code, body := get(t, "http://"+m.HTTPAddr()+"/readyz"); code != 200 {
				t.Errorf("wallet --migrate=false after kibubu migrate: /readyz = %d %s, want 200", code, body)
			}
		})
	}
}
