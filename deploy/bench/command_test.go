package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/internal/cmdline"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// TestBench runs a tiny bench end to end, on SQLite and, when
// KIBUBU_TEST_POSTGRES is set, on PostgreSQL in a schema of its own.
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole bench for a few seconds")
	}
	dbs := map[string]string{"sqlite": ""}
	if pg := os.Getenv(storetest.PostgresEnv); pg != "" {
		dbs["postgres"] = pg
	}
	last := regexp.MustCompile(`^transfers_per_s=[1-9][0-9]* storage_limit_per_s=[1-9][0-9]* ratio=[0-9]+\.[0-9]{2} p50_ms=[0-9]+\.[0-9]{2} p99_ms=[0-9]+\.[0-9]{2}$`)
	for name, db := range dbs {
		for _, hot := range []bool{false, true} {
			sub := name
			if hot {
				sub += "-hot"
			}
			t.Run(sub, func(t *testing.T) {
				cfg := DefaultTransfersConfig()
				cfg.DB, cfg.Hot = db, hot
				// Enough customers that --hot's withdrawals, at the
				// machine's full speed, do not drain them before the
				// storage limit's sweep is done.
				cfg.Accounts, cfg.Clients, cfg.Duration, cfg.StorageSweep = 200, 8, 300*time.Millisecond, 50*time.Millisecond
				if err := cfg.Validate(); err != nil {
					t.Fatal(err)
				}
				var stdout, stderr bytes.Buffer
				if err := Transfers(context.Background(), cfg, &stdout, &stderr); err != nil {
					t.Fatalf("bench: %v\n%s", err, stderr.String())
				}
				lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
				if got := lines[len(lines)-1]; !last.MatchString(got) {
					t.Errorf("last line %q, want the result line\nstderr:\n%s", got, stderr.String())
				}
			})
		}
	}
}

// TestBenchHelp checks that -h lists the public flags and not the hidden ones.
func TestBenchHelp(t *testing.T) {
	var help bytes.Buffer
	err := Command(context.Background(), []string{"-h"}, &help, io.Discard, nil)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("got %v, want flag.ErrHelp", err)
	}
	for _, f := range []string{"-accounts", "-clients", "-db", "-duration", "-hot"} {
		if !strings.Contains(help.String(), f) {
			t.Errorf("help does not list %s:\n%s", f, help.String())
		}
	}
	for _, f := range []string{"-conns", "-cpuprofile"} {
		if strings.Contains(help.String(), f) {
			t.Errorf("help lists the hidden %s", f)
		}
	}
}

func TestBenchFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string // in the usage error
	}{
		{[]string{"--accounts", "1"}, "--accounts 1"},
		{[]string{"--clients", "0"}, "--clients 0"},
		{[]string{"--duration", "0s"}, "--duration 0s"},
		{[]string{"--db", "/tmp/x.db"}, "postgres://"},
		{[]string{"extra"}, "takes no arguments"},
		{[]string{"--nope"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		err := Command(context.Background(), tt.args, io.Discard, io.Discard, nil)
		var u *cmdline.UsageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want a usage error containing %q", tt.args, err, tt.want)
		}
	}
}
