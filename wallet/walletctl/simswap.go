package walletctl

import (
	"context"
	"flag"
	"fmt"

	"github.com/kibubu/kibubu/wallet"
)

// AccountClearSIMSwap is kibubu account clear-simswap: reactivate an account
// the SIM-swap gate held, once its holder is verified. It refuses an
// account that is not held (an unfreeze is `account unfreeze`). The
// request is audited with the operator's name and reason, and the wallet
// records the clearance, which covers the SIM change that caused the hold
// (a later change holds the account again).
func AccountClearSIMSwap(fs *flag.FlagSet) Action {
	return func(ctx context.Context, o *Conn, args []string) error {
		c, err := o.Client()
		if err != nil {
			return err
		}
		a, err := c.Show(ctx, args[0])
		if err != nil {
			return Err(err)
		}
		if a.Status != wallet.StatusSIMSwapHold {
			return Err(wallet.Errorf(wallet.CodeInvalidState, "%s %s is %s, not held for a SIM swap", a.Kind, a.Number, a.Status))
		}
		if a, err = c.SetStatus(ctx, a.Number, wallet.StatusActive); err != nil {
			return Err(err)
		}
		fmt.Fprintf(o.Out, "SIM-swap hold cleared: %s %s (%s) is %s\n", a.Kind, a.Number, a.Name, a.Status)
		return nil
	}
}
