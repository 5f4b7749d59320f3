package cmdline

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLookupEnv(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, envFileBytesMax+1), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantOK  bool
		wantErr string
	}{
		{name: "unset"},
		{name: "value", env: map[string]string{"KIBUBU_X": "v"}, want: "v", wantOK: true},
		{name: "file, trimmed", env: map[string]string{"KIBUBU_X_FILE": secret}, want: "s3cret", wantOK: true},
		{name: "both", env: map[string]string{"KIBUBU_X": "v", "KIBUBU_X_FILE": secret}, wantErr: "KIBUBU_X and KIBUBU_X_FILE are both set"},
		{name: "no file", env: map[string]string{"KIBUBU_X_FILE": filepath.Join(dir, "none")}, wantErr: "KIBUBU_X_FILE: "},
		{name: "too big", env: map[string]string{"KIBUBU_X_FILE": big}, wantErr: "is larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := LookupEnv("KIBUBU_X", func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %q, %v, %v; want an error containing %q", got, ok, err, tc.wantErr)
			case tc.wantErr == "" && (err != nil || got != tc.want || ok != tc.wantOK):
				t.Errorf("got %q, %v, %v; want %q, %v, nil", got, ok, err, tc.want, tc.wantOK)
			}
		})
	}
}

func TestParseInterleaved(t *testing.T) {
	tests := []struct {
		args    []string
		wantPos []string
		wantV   string
		wantErr string // in a usage error
	}{
		{args: []string{"123", "--v", "x"}, wantPos: []string{"123"}, wantV: "x"},
		{args: []string{"--v", "x", "123", "456"}, wantPos: []string{"123", "456"}, wantV: "x"},
		{args: []string{"--v", "x", "--", "--v", "y"}, wantPos: []string{"--v", "y"}, wantV: "x"},
		{args: []string{"--nope"}, wantErr: "t: flag provided but not defined: -nope (see kibubu t -h)"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			v := fs.String("v", "", "")
			pos, err := ParseInterleaved(fs, tc.args, "t", io.Discard)
			var u *UsageError
			switch {
			case tc.wantErr != "" && (!errors.As(err, &u) || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want a usage error containing %q", err, tc.wantErr)
			case tc.wantErr == "" && (err != nil || strings.Join(pos, ",") != strings.Join(tc.wantPos, ",") || *v != tc.wantV):
				t.Errorf("got %q, --v %q, %v; want %q, %q", pos, *v, err, tc.wantPos, tc.wantV)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("nats-creds", "", "credentials `file`")
	var out strings.Builder
	if err := Parse(fs, []string{"-h"}, "kibubu t [flags]", &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("got %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"Usage: kibubu t [flags]\n", "-nats-creds file"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help %q does not contain %q", out.String(), want)
		}
	}
}

func TestOneLineAndRedact(t *testing.T) {
	tests := []struct{ fn, in, want string }{
		{"OneLine", "a:\nb\nc  d", "a: b; c d"},
		{"Redact", "postgres://u:hunter2@db/x", "postgres://u:xxxxx@db/x"},
		{"Redact", "nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
	}
	for _, tc := range tests {
		got := Redact(tc.in)
		if tc.fn == "OneLine" {
			got = OneLine(tc.in)
		}
		if got != tc.want {
			t.Errorf("%s(%q) = %q, want %q", tc.fn, tc.in, got, tc.want)
		}
	}
}

// TestFlagged: a package's refused setting is named by the command's flag,
// with the value as typed when the command gives it; other errors pass.
func TestFlagged(t *testing.T) {
	flags := map[string]Flag{"SMSRate": {Name: "sms-rate"}, "SettleThreshold": {Name: "tab-settle", Value: `"0.5"`}}
	other := errors.New("no currency")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"a setting with its flag", Settingf("SMSRate", 0.0, "must be more than 0"), "--sms-rate 0: must be more than 0"},
		{"wrapped", fmt.Errorf("notifyd: %w", Settingf("SMSRate", 2e4, "at most %d", 10000)), "--sms-rate 20000: at most 10000"},
		{"the value as typed", Settingf("SettleThreshold", 50, "at least 1"), `--tab-settle "0.5": at least 1`},
		{"a setting without a flag", Settingf("PollInterval", "-1s", "must not be negative"), "PollInterval -1s: must not be negative"},
		{"not a setting", other, "no currency"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Flagged(tc.err, flags).Error(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestDB: --db when given, else the SQLite file in the data directory.
func TestDB(t *testing.T) {
	tests := []struct{ data, db, want string }{
		{"./data", "", filepath.Join("./data", DBFile)},
		{"/var/lib/kibubu", "", "/var/lib/kibubu/kibubu.db"},
		{"./data", "/tmp/other.db", "/tmp/other.db"},
		{"./data", "postgres://kibubu@db/kibubu", "postgres://kibubu@db/kibubu"},
	}
	for _, tc := range tests {
		if got := DB(tc.data, tc.db); got != tc.want {
			t.Errorf("DB(%q, %q) = %q, want %q", tc.data, tc.db, got, tc.want)
		}
	}
}
