package natsserver

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// TestEmbeddedInfo starts the embedded server twice on one data dir: the
// second keeps the passwords of the nats.json the first wrote, and the
// gateway user has only the permissions it was given.
func TestEmbeddedInfo(t *testing.T) {
	dir := t.TempDir()
	perms := &server.Permissions{Publish: &server.SubjectPermission{Allow: []string{"ok.>"}}}
	var infos []Info
	for range 2 {
		e, err := StartEmbedded(dir, "127.0.0.1:0", "p1", perms, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		info, err := ReadInfo(dir)
		if err != nil || info != e.Info {
			t.Fatalf("ReadInfo = %+v, %v; want %+v", info, err, e.Info)
		}
		nc, err := e.ConnectGateway()
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish("denied.x", nil); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil || nc.LastError() == nil {
			t.Errorf("the gateway user published outside its permissions: flush %v, last error %v", err, nc.LastError())
		}
		nc.Close()
		e.Close()
		infos = append(infos, info)
	}
	if infos[0].Password != infos[1].Password || infos[0].GatewayPassword != infos[1].GatewayPassword || len(infos[0].Password) == 0 {
		t.Errorf("passwords changed across a restart: %+v then %+v", infos[0], infos[1])
	}
	if fi, err := os.Stat(filepath.Join(dir, InfoFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("nats.json: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
}

func TestReadInfoErrors(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{name: "no file", want: "does not exist (start one with `kibubu serve --data"},
		{name: "not json", content: "{", want: "is not what `kibubu serve` writes"},
		{name: "no url", content: `{"user":"kibubu"}`, want: "is not what `kibubu serve` writes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.content != "" {
				if err := os.WriteFile(filepath.Join(dir, InfoFile), []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := ReadInfo(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
