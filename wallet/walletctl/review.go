package walletctl

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kibubu/kibubu/internal/cmdline"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// reviewCommands are `kibubu review list|approve|reject` (issue 16): the
// transfers a fraud rule held for an operator.
var reviewCommands = map[string]Command{
	"list": {
		Synopsis: "[--status S]",
		Summary: "List the transfers the fraud rules held, oldest first, with the rule that fired and what it saw:\n" +
			"by default those waiting (held); --status approved, rejected, failed, blocked, or all.",
		Setup: ReviewList,
	},
	"approve": {
		Synopsis: "ID --reason R", NArgs: 1,
		Summary: "Release held transfer ID: it is made once, under the customer's own idempotency key, and the\n" +
			"customer is told by SMS. R is recorded with your name.",
		Setup: ReviewDecide(true),
	},
	"reject": {
		Synopsis: "ID --reason R", NArgs: 1,
		Summary: "Refuse held transfer ID: no money moves, a retry is refused, and the customer is told by SMS.\n" +
			"R is recorded with your name.",
		Setup: ReviewDecide(false),
	},
}

// ReviewList is kibubu review list.
func ReviewList(fs *flag.FlagSet) Action {
	status := fs.String("status", string(wallet.ReviewHeld), "the `status` to list: held, approving, approved, failed, rejected, blocked, or all")
	return func(ctx context.Context, o *Conn, _ []string) error {
		q := natsapi.ReviewQuery{Status: wallet.ReviewStatus(*status)}
		if *status == "all" {
			q.Status = ""
		}
		cur, err := o.Currency(ctx)
		if err != nil {
			return err
		}
		c, err := o.Client()
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
		n := 0
		for {
			rs, err := c.Reviews(ctx, q)
			if err != nil {
				return Err(err)
			}
			for _, r := range rs {
				if n == 0 {
					fmt.Fprintln(tw, "ID\tSTATUS\tCREATED\tKIND\tFROM\tTO\tAMOUNT\tRULE\tSAW\tDECISION")
				}
				n++
				decision := ""
				if r.Operator != "" {
					decision = r.Operator + ": " + r.Reason
					if r.Ref != "" {
						decision += " (" + r.Ref + ")"
					}
					if r.Error != "" {
						decision += " (" + string(r.Error) + ")"
					}
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Status, r.Created.UTC().Format(time.RFC3339),
					r.Request.Kind, r.Request.From, r.Request.To, cur.Format(r.Request.Amount), r.Rule, r.Saw, decision)
			}
			if len(rs) < wallet.ReviewsMax {
				break
			}
			q.After = rs[len(rs)-1].ID
		}
		if n == 0 {
			fmt.Fprintln(o.Out, "no transfers to review")
			return nil
		}
		return tw.Flush()
	}
}

// ReviewDecide is kibubu review approve (approve) and reject.
func ReviewDecide(approve bool) func(fs *flag.FlagSet) Action {
	return func(fs *flag.FlagSet) Action {
		return decideByID(fs, "a held transfer's number, from kibubu review list", "the review", func(ctx context.Context, o *Conn, c *natsapi.Client, id int64) error {
			r, err := c.DecideReview(ctx, id, approve)
			if err != nil {
				return Err(err)
			}
			switch r.Status {
			case wallet.ReviewApproved:
				fmt.Fprintf(o.Out, "review %d: approved by %s; transfer %s made\n", r.ID, r.Operator, r.Ref)
			case wallet.ReviewFailed:
				fmt.Fprintf(o.Out, "review %d: approved by %s, but the wallet refused the transfer: %s\n", r.ID, r.Operator, r.Error)
			default:
				fmt.Fprintf(o.Out, "review %d: %s by %s (%s)\n", r.ID, r.Status, r.Operator, r.Reason)
			}
			return nil
		})
	}
}

// decideByID is the action of an operator's decision on the item ID (a
// reversal request, a held transfer) with a required --reason, kept on
// what it decides (where) and in the audit log: it checks both, puts the
// reason on ctx beside the operator (--as) and calls decide.
func decideByID(fs *flag.FlagSet, id, where string, decide func(ctx context.Context, o *Conn, c *natsapi.Client, id int64) error) Action {
	reason := fs.String("reason", "", "why: kept on "+where+" and in the audit log (required)")
	return func(ctx context.Context, o *Conn, args []string) error {
		n, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil || n <= 0 {
			return cmdline.Usagef(fs, "ID %q: %s", args[0], id)
		}
		if strings.TrimSpace(*reason) == "" {
			return cmdline.Usagef(fs, "--reason is required")
		}
		c, err := o.Client()
		if err != nil {
			return err
		}
		op, _ := natsapi.OperatorFrom(ctx)
		op.Reason = *reason
		return decide(natsapi.WithOperator(ctx, op), o, c, n)
	}
}
