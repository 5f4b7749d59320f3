package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/user"
	"strings"

	"github.com/kibubu/kibubu/internal/cmdline"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/walletctl"
)

// reasonFlag says whether an operator command takes --reason.
type reasonFlag int

const (
	reasonNone     reasonFlag = iota
	reasonOptional            // the command changes something: the audit log keeps why, if given
	reasonRequired            // the command is exceptional (freeze, PIN reset, revoke): say why
)

// operatorEnv names the operator when --as is not given.
const operatorEnv = "KIBUBU_OPERATOR"

// operatorName is who runs an operator command, for the audit log: $KIBUBU_OPERATOR,
// else the OS user's name.
func operatorName() string {
	if name := strings.TrimSpace(os.Getenv(operatorEnv)); name != "" {
		return name
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// operatorFlags registers --as (every operator command) and --reason (when
// the command takes one) on fs, and returns what puts them on a request's
// context once fs is parsed: every request the command makes then names
// its operator and reason (natsapi.WithOperator).
func operatorFlags(fs *flag.FlagSet, need reasonFlag) func(context.Context) (context.Context, error) {
	as := fs.String("as", operatorName(), "the `operator` the audit log names (default $"+operatorEnv+", else your user name)")
	reason := new(string)
	if need != reasonNone {
		fs.StringVar(reason, "reason", "", "why: the `reason` the audit log keeps (a ticket, a complaint)")
	}
	return func(ctx context.Context) (context.Context, error) {
		op := natsapi.Operator{Actor: strings.TrimSpace(*as), Reason: strings.TrimSpace(*reason)}
		switch {
		case op.Actor == "":
			return nil, cmdline.Usagef(fs, "--as: name the operator (or set %s)", operatorEnv)
		case need == reasonRequired && op.Reason == "":
			return nil, cmdline.Usagef(fs, "--reason is required: the audit log keeps why")
		}
		e := wallet.AuditEntry{Actor: op.Actor, Action: fs.Name(), Reason: op.Reason, Outcome: wallet.AuditRequested}
		if err := e.Check(); err != nil {
			return nil, cmdline.Usagef(fs, "%s", walletctl.Message(err))
		}
		return natsapi.WithOperator(ctx, op), nil
	}
}

func init() {
	operatorGroups["audit"] = map[string]operatorCommand{"list": {
		synopsis: "[--since T] [--account A]",
		summary: "Print the audit log of operator actions, oldest first, and verify its hash chain:\n" +
			"exit status 1 if a record was changed, removed or reordered. --since a time (2026-12-01,\n" +
			"RFC 3339) or a duration back (24h, 7d); --account an account number or phone.",
		setup: walletctl.AuditList,
	}}
}

// tariffLoad names the tariff a wallet starts with, for the audit log: the
// file's SHA-256, or for the built-in tariff (no file) the SHA-256 of its
// JSON, so that a new binary with new built-in fees is recorded too.
func tariffLoad(file string, t wallet.Tariff) (wallet.TariffLoad, error) {
	var data []byte
	var err error
	if file == "" {
		file = "built-in"
		data, err = json.Marshal(t)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return wallet.TariffLoad{}, err
	}
	sum := sha256.Sum256(data)
	return wallet.TariffLoad{File: file, SHA256: hex.EncodeToString(sum[:])}, nil
}

// walletActor names this wallet process in the audit log.
func walletActor() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("wallet@%s pid %d", host, os.Getpid())
}
