package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// ErrNotMigrated is returned (wrapped) by the opening functions that do not
// migrate when the database lacks the tables this binary needs: `kibubu
// migrate` has not been run with this version.
var ErrNotMigrated = errors.New("the database is not migrated for this version of kibubu")

// schemaMigration records that a component's tables (Component: "wallet",
// "notify") were migrated to the shape Digest names. Migrations only add
// (gorm's AutoMigrate never drops a table or a column), so once a digest is
// recorded the tables hold at least what that shape needs, whatever ran
// after it.
type schemaMigration struct {
	Component string    `gorm:"primaryKey;size:32"`
	Digest    string    `gorm:"primaryKey;size:64"`
	AppliedAt time.Time `gorm:"not null"`
}

func (schemaMigration) TableName() string { return "schema_migrations" }

// Digest names the shape of the tables models declare: their names, and
// each column's name, Go type and gorm settings (types, sizes, indexes).
// It changes whenever a model does, so no version number must be bumped by
// hand.
func Digest(db *gorm.DB, models ...any) (string, error) {
	var lines []string
	cache := &sync.Map{}
	for _, m := range models {
		s, err := schema.Parse(m, cache, db.NamingStrategy)
		if err != nil {
			return "", fmt.Errorf("schema of %T: %w", m, err)
		}
		for _, f := range s.Fields {
			if f.DBName == "" {
				continue
			}
			settings := make([]string, 0, len(f.TagSettings))
			for k, v := range f.TagSettings {
				settings = append(settings, k+"="+v)
			}
			sort.Strings(settings)
			lines = append(lines, s.Table+"."+f.DBName+" "+f.FieldType.String()+" "+strings.Join(settings, ";"))
		}
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:]), nil
}

// migrateLock is the PostgreSQL advisory lock every migration holds, of
// every component: they share schema_migrations, and PostgreSQL's CREATE
// TABLE is not safe to race.
const migrateLock = 4211

// MigrateOnce applies migrate to db for component under a PostgreSQL
// advisory lock, so that migrations started at once (a Job and a wallet,
// two wallets, a wallet and a notifier) run one after the other; each finds
// the work done by the one before. Then it records digest as migrated.
func MigrateOnce(ctx context.Context, db *gorm.DB, component, digest string, migrate func(context.Context, *gorm.DB) error) error {
	if db.Dialector.Name() == "postgres" {
		sqlDB, err := db.DB()
		if err != nil {
			return fmt.Errorf("migrate %s: %w", component, err)
		}
		conn, err := sqlDB.Conn(ctx)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", component, err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLock); err != nil {
			return fmt.Errorf("migrate %s: %w", component, err)
		}
		defer conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", migrateLock)
	}
	if err := db.WithContext(ctx).AutoMigrate(&schemaMigration{}); err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	if err := migrate(ctx, db); err != nil {
		return err
	}
	row := schemaMigration{Component: component, Digest: digest, AppliedAt: time.Now().UTC()}
	if err := db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return fmt.Errorf("migrate %s: record it: %w", component, err)
	}
	return nil
}

// CheckMigrated returns an error wrapping ErrNotMigrated unless component's
// tables were migrated to digest.
func CheckMigrated(ctx context.Context, db *gorm.DB, component, digest string) error {
	if !db.WithContext(ctx).Migrator().HasTable(&schemaMigration{}) {
		return fmt.Errorf("%w: no migration was ever applied (%s tables)", ErrNotMigrated, component)
	}
	var n int64
	if err := db.WithContext(ctx).Model(&schemaMigration{}).Where("component = ? AND digest = ?", component, digest).Count(&n).Error; err != nil {
		return fmt.Errorf("check the %s migrations: %w", component, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: the %s tables were migrated by another version", ErrNotMigrated, component)
	}
	return nil
}
