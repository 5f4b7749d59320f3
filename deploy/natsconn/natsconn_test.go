package natsconn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name    string
		c       Config
		wantErr string // "" for none
	}{
		{name: "embedded"},
		{name: "cluster", c: Config{URL: "nats://a:4222, tls://b:4222", Creds: file, TLSCA: file, Prefix: "site-1"}},
		{name: "bad scheme", c: Config{URL: "http://a:4222"}, wantErr: "--nats: \"http://a:4222\": want a nats://"},
		{name: "no host", c: Config{URL: "nats://"}, wantErr: "no host"},
		{name: "password hidden", c: Config{URL: "http://u:hunter2@a"}, wantErr: "u:xxxxx@a"},
		{name: "file without url", c: Config{Creds: file}, wantErr: "--nats-creds is for an external NATS: give --nats too"},
		{name: "missing file", c: Config{URL: "nats://a", NKey: missing}, wantErr: "--nats-nkey: "},
		{name: "creds and nkey", c: Config{URL: "nats://a", Creds: file, NKey: file}, wantErr: "give one of --nats-creds and --nats-nkey"},
		{name: "cert without key", c: Config{URL: "nats://a", TLSCert: file}, wantErr: "go together"},
		{name: "bad prefix", c: Config{Prefix: "a.b"}, wantErr: `--nats-prefix "a.b"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "hunter2")):
				t.Errorf("got %v, want an error containing %q (and no password)", err, tc.wantErr)
			}
		})
	}
}
