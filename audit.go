package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/commerce"
	"github.com/kibubu/kibubu/wallet/natsapi"
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
			return nil, usagef(fs, "--as: name the operator (or set %s)", operatorEnv)
		case need == reasonRequired && op.Reason == "":
			return nil, usagef(fs, "--reason is required: the audit log keeps why")
		}
		e := wallet.AuditEntry{Actor: op.Actor, Action: fs.Name(), Reason: op.Reason, Outcome: wallet.AuditRequested}
		if err := e.Check(); err != nil {
			return nil, usagef(fs, "%s", message(err))
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
		setup: auditList,
	}}
}

func auditList(fs *flag.FlagSet) func(context.Context, *operator, []string) error {
	since := fs.String("since", "", "only records at or after this `time`: a date, RFC 3339, or a duration back (24h, 7d)")
	account := fs.String("account", "", "only records about this account `number` or phone")
	return func(ctx context.Context, o *operator, _ []string) error {
		var from time.Time
		if *since != "" {
			d, err := parseDays(*since)
			if err == nil {
				from = time.Now().Add(-d)
			} else if from, err = parseDate(*since); err != nil {
				return usagef(fs, "--since %q: a date (2026-12-01), RFC 3339 or a duration (24h, 7d)", *since)
			}
		}
		c, err := o.client()
		if err != nil {
			return err
		}
		var targets []string
		if *account != "" {
			a, err := c.Show(ctx, *account)
			if err != nil {
				return walletErr(err)
			}
			for _, t := range []string{a.Number, a.Phone, *account} {
				if t != "" {
					targets = append(targets, t)
				}
			}
		}
		// The whole chain is read and verified; the records asked for are
		// printed.
		tw := tabwriter.NewWriter(o.out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tACTION\tTARGET\tOUTCOME\tREASON\tDETAIL")
		var chain wallet.AuditChain
		var broken error
		for broken == nil {
			page, err := c.AuditLog(ctx, natsapi.AuditRequest{AuditQuery: wallet.AuditQuery{After: chain.Seq}})
			if err != nil {
				return walletErr(err)
			}
			for i := range page {
				r := &page[i]
				if broken = chain.Next(r); broken != nil {
					break
				}
				if r.Time.Before(from) || len(targets) > 0 && !slices.Contains(targets, r.Target) {
					continue
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Time.UTC().Format(time.RFC3339), r.Actor, r.Action,
					orDash(r.Target), r.Outcome, orDash(r.Reason), orDash(r.Detail))
			}
			if len(page) < wallet.AuditPageMax {
				break
			}
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("audit list: %w", err)
		}
		if broken != nil {
			fmt.Fprintf(o.out, "audit chain BROKEN after record %d: %v\n", chain.Seq, broken)
			return fmt.Errorf("audit list: the audit chain is broken: %w", broken)
		}
		fmt.Fprintf(o.out, "audit chain ok: %d records, head %s\n", chain.Seq, orDash(chain.Hash))
		return nil
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
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

// operatorScopeList is the operator scopes, comma-separated, for usage texts.
func operatorScopeList() string { return joinScopes(commerce.OperatorScopes) }

// apiKeyLifetimeMax bounds --expires: a key meant to last longer than ten
// years should not expire at all.
const apiKeyLifetimeMax = 10 * 365 * 24 * time.Hour

// parseExpiry reads --expires: a duration from now (90d, 36h, 1h30m) or a
// date (2027-01-31, the start of that day in UTC) or an RFC 3339 time; it
// must be in the future and within apiKeyLifetimeMax.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	var at time.Time
	if d, err := parseDays(s); err == nil {
		at = now.Add(d)
	} else if at, err = parseDate(s); err != nil {
		return time.Time{}, errors.New("want a duration (90d, 36h) or a date (2027-01-31)")
	}
	switch {
	case !at.After(now):
		return time.Time{}, errors.New("it is not in the future")
	case at.Sub(now) > apiKeyLifetimeMax:
		return time.Time{}, fmt.Errorf("at most %d days ahead", int(apiKeyLifetimeMax.Hours()/24))
	}
	return at, nil
}

// parseDays is time.ParseDuration that also takes whole days ("7d").
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > int(apiKeyLifetimeMax.Hours()/24) {
			return 0, errors.New("not a number of days")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errors.New("not a duration")
	}
	return d, nil
}

// parseDate reads a date (2027-01-31, midnight UTC) or an RFC 3339 time.
func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}
