package ops

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kibubu/kibubu/internal/cmdline"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/walletctl"
)

// The operator commands (`kibubu operator add|list|disable`), thin over the
// wallet's client: the wallet checks and keeps everything.

// RoleList is the roles, for usage text.
func RoleList() string {
	s := make([]string, len(wallet.OperatorRoles))
	for i, r := range wallet.OperatorRoles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// OperatorAdd is `kibubu operator add`: the password comes from
// --password-file, else the first line of stdin, never from a flag (which
// the process list and shell history would show).
func OperatorAdd(stdin io.Reader) func(fs *flag.FlagSet) walletctl.Action {
	return func(fs *flag.FlagSet) walletctl.Action {
		email := fs.String("email", "", "the operator's `email`: their sign-in name and the actor of their audit records")
		role := fs.String("role", "", "the `role`: "+RoleList())
		file := fs.String("password-file", "", "read the password from this `file` (default: the first line of stdin)")
		return func(ctx context.Context, o *walletctl.Conn, _ []string) error {
			if *email == "" || *role == "" {
				return cmdline.Usagef(fs, "--email and --role are required")
			}
			if !wallet.OperatorRole(*role).Valid() {
				return cmdline.Usagef(fs, "--role %q: one of %s", *role, RoleList())
			}
			password, err := readPassword(*file, stdin)
			if err != nil {
				return err
			}
			if err := wallet.CheckPassword(password); err != nil {
				return fmt.Errorf("the password: %s", walletctl.Message(err))
			}
			c, err := o.Client()
			if err != nil {
				return err
			}
			n, err := c.AddOperator(ctx, *email, wallet.OperatorRole(*role), password)
			if err != nil {
				return walletctl.Err(err)
			}
			fmt.Fprintf(o.Out, "operator %s added with role %s\n", n.Operator.Email, n.Operator.Role)
			if n.TOTPSecret != "" {
				fmt.Fprintf(o.Out, "TOTP secret (shown once; enter it in an authenticator app): %s\nTOTP URI: %s\n", n.TOTPSecret, n.TOTPURI)
			}
			return nil
		}
	}
}

// readPassword reads the first line of file, or of stdin when file is empty.
func readPassword(file string, stdin io.Reader) (string, error) {
	r := stdin
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReader(io.LimitReader(r, wallet.PasswordBytesMax+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// OperatorList is `kibubu operator list`.
func OperatorList(fs *flag.FlagSet) walletctl.Action {
	return func(ctx context.Context, o *walletctl.Conn, _ []string) error {
		c, err := o.Client()
		if err != nil {
			return err
		}
		ops, err := c.Operators(ctx)
		if err != nil {
			return walletctl.Err(err)
		}
		tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "EMAIL\tROLE\tTOTP\tSTATE\tLAST SIGN-IN")
		for _, op := range ops {
			state := "active"
			switch {
			case op.Disabled:
				state = "disabled"
			case op.LockedUntil.After(time.Now()):
				state = "locked until " + op.LockedUntil.Format("2006-01-02 15:04 MST")
			}
			last := "never"
			if !op.LastSignIn.IsZero() {
				last = op.LastSignIn.Format("2006-01-02 15:04 MST")
			}
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", op.Email, op.Role, op.TOTP, state, last)
		}
		return tw.Flush()
	}
}

// OperatorDisable is `kibubu operator disable EMAIL`.
func OperatorDisable(fs *flag.FlagSet) walletctl.Action {
	return func(ctx context.Context, o *walletctl.Conn, args []string) error {
		c, err := o.Client()
		if err != nil {
			return err
		}
		op, err := c.DisableOperator(ctx, args[0])
		if err != nil {
			return walletctl.Err(err)
		}
		fmt.Fprintf(o.Out, "operator %s disabled; their sessions ended\n", op.Email)
		return nil
	}
}
