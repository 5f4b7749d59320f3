package walletctl

import (
	"context"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/kibubu/kibubu/internal/cmdline"
)

// TestRunCommandLine checks what Run refuses before it dials: every case
// names a server that does not exist, so reaching it would be an error
// that is not a usage error.
func TestRunCommandLine(t *testing.T) {
	t.Setenv(OperatorEnv, "wanjiru")
	dir := t.TempDir()
	server := func(fs *flag.FlagSet) func() Server {
		data := fs.String("data", dir, "")
		return func() Server { return Server{Data: *data} }
	}
	tests := []struct {
		group   string
		args    []string
		wantErr string // in a usage error; "" for -h
		wantOut string
	}{
		{group: "account", wantErr: "account needs a command: clear-simswap, freeze, show, unfreeze"},
		{group: "account", args: []string{"close"}, wantErr: `unknown command "account close"`},
		{group: "account", args: []string{"-h"}, wantOut: "  kibubu account show NUMBER|PHONE\n"},
		{group: "account", args: []string{"show"}, wantErr: "account show: needs one argument: NUMBER|PHONE"},
		{group: "account", args: []string{"freeze", "0712000001"}, wantErr: "--reason is required: the audit log keeps why"},
		{group: "account", args: []string{"clear-simswap", "0712000001"}, wantErr: "--reason is required: the audit log keeps why"},
		{group: "ledger", args: []string{"check", "extra"}, wantErr: `takes no arguments, got "extra"`},
		{group: "agent", args: []string{"add", "--as", " "}, wantErr: "--as: name the operator (or set KIBUBU_OPERATOR)"},
	}
	for _, tc := range tests {
		t.Run(tc.group+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			var out strings.Builder
			err := Run(context.Background(), tc.group, tc.args, &out, server)
			var u *cmdline.UsageError
			if tc.wantErr == "" {
				if err != nil || !strings.Contains(out.String(), tc.wantOut) {
					t.Errorf("got %v, output %q; want none and %q in it", err, out.String(), tc.wantOut)
				}
				return
			}
			if !errors.As(err, &u) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v, want a usage error containing %q", err, tc.wantErr)
			}
		})
	}
}
