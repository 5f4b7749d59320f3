package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/kibubu/kibubu/internal/cmdline"
	notifystore "github.com/kibubu/kibubu/notify/store"
	merchantstore "github.com/kibubu/kibubu/wallet/merchant/store"
	"github.com/kibubu/kibubu/wallet/store"
)

// runMigrate is `kibubu migrate`: it applies every component's migrations
// (the wallet's tables and audit log, the merchant services', the
// notifier's) to --db and exits.
// Each runs under the database's migration lock, so Jobs, wallets and
// notifiers that migrate at once run one after the other.
func runMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.StringVar(&cfg.Data, "data", cfg.Data, "data `dir`ectory, for the default --db")
	fs.StringVar(&cfg.DB, "db", cfg.DB, "SQLite database `path`, or a postgres:// URL (default "+cmdline.DBDefault+")")
	synopsis := "kibubu migrate [--db DB]\n\nApplies the database migrations of every part (wallet, audit log, merchant services, notifier) once, under a lock,\nso that wallets and notifiers can start with --migrate=false.\n"
	if err := cmdline.ParseCommand(fs, args, synopsis, stdout); err != nil {
		return err
	}
	dsn := cmdline.DB(cfg.Data, cfg.DB)
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		return dbError(dsn, err)
	}
	defer s.Close()
	if err := merchantstore.Migrate(ctx, s.Gorm()); err != nil {
		return dbError(dsn, err)
	}
	if err := notifystore.Migrate(ctx, s.Gorm()); err != nil {
		return dbError(dsn, err)
	}
	fmt.Fprintf(stdout, "migrated %s\n", cmdline.Redact(dsn))
	return nil
}

// dbError is err for --db dsn; a database without this version's tables
// names the command that migrates it.
func dbError(dsn string, err error) error {
	if errors.Is(err, store.ErrNotMigrated) {
		return fmt.Errorf("--db %s: %w: run `kibubu migrate --db %s` first (or start without --migrate=false)", cmdline.Redact(dsn), err, cmdline.Redact(dsn))
	}
	return fmt.Errorf("--db %s: %w", cmdline.Redact(dsn), err)
}
