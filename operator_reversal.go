package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// reversalCommands are `kibubu reversal list|approve|reject` (issue 11): the
// operator's queue of reversal requests a recipient objected to, or that
// found the money gone.
var reversalCommands = map[string]operatorCommand{
	"list": {
		synopsis: "[--state S,…]",
		summary:  "List reversal requests, oldest first: by default the operator's queue (objected, review).",
		setup:    reversalList,
	},
	"approve": {
		synopsis: "ID --reason R", nargs: 1,
		summary: "Approve reversal request ID: the sender gets the money back, from the hold or, in review,\n" +
			"from the recipient's balance now. R is recorded with your name.",
		setup: reversalDecide(true),
	},
	"reject": {
		synopsis: "ID --reason R", nargs: 1,
		summary: "Reject reversal request ID: the held amount goes back to the recipient. R is recorded with your name.",
		setup:   reversalDecide(false),
	},
}

// reversalQueue is what `reversal list` shows by default.
var reversalQueue = []wallet.ReversalState{wallet.ReversalObjected, wallet.ReversalReview}

func reversalList(fs *flag.FlagSet) func(context.Context, *operator, []string) error {
	states := fs.String("state", "", "comma-separated `states` to list (requested, held, objected, review, completed, rejected; \"all\"); default objected,review")
	return func(ctx context.Context, o *operator, _ []string) error {
		want := reversalQueue
		switch *states {
		case "":
		case "all":
			want = nil
		default:
			want = nil
			for _, s := range strings.Split(*states, ",") {
				want = append(want, wallet.ReversalState(strings.TrimSpace(s)))
			}
		}
		cur, err := o.currency(ctx)
		if err != nil {
			return err
		}
		c, err := o.client()
		if err != nil {
			return err
		}
		rs, err := c.Reversals(ctx, want, 0)
		if err != nil {
			return walletErr(err)
		}
		if len(rs) == 0 {
			fmt.Fprintln(o.out, "no reversal requests")
			return nil
		}
		tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tTRANSACTION\tKIND\tAMOUNT\tHELD\tDEADLINE\tREASON")
		for _, r := range rs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.State, r.OriginalRef, r.Kind, cur.Format(r.Amount),
				cur.Format(r.Held), r.Deadline.UTC().Format(time.RFC3339), r.Reason)
		}
		return tw.Flush()
	}
}

func reversalDecide(approve bool) func(fs *flag.FlagSet) func(context.Context, *operator, []string) error {
	return func(fs *flag.FlagSet) func(context.Context, *operator, []string) error {
		reason := fs.String("reason", "", "why: kept on the request and in the audit log (required)")
		return func(ctx context.Context, o *operator, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usagef(fs, "ID %q: a reversal request's number, from kibubu reversal list", args[0])
			}
			if strings.TrimSpace(*reason) == "" {
				return usagef(fs, "--reason is required")
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			// runOperator put the operator (--as) on ctx; the decision adds its reason.
			op, _ := natsapi.OperatorFrom(ctx)
			op.Reason = *reason
			ctx = natsapi.WithOperator(ctx, op)
			r, err := c.DecideReversal(ctx, id, approve)
			if err != nil {
				return walletErr(err)
			}
			fmt.Fprintf(o.out, "reversal %d of %s: %s by %s (%s)\n", r.ID, r.OriginalRef, r.State, r.Actor, r.Reason)
			return nil
		}
	}
}
