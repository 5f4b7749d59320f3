package natsapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/wallet"
)

// noticeTimeout bounds handing one notice to the notifier's stream.
const noticeTimeout = 10 * time.Second

// PINNotices returns a wallet.Config.Notify that hands each notice to the
// notifier as its SMS (NoticeMessage) through c. It never blocks the
// wallet's writer: each notice goes from a goroutine of its own, within
// noticeTimeout. A notice that cannot be handed over is logged (without
// its text, which may hold a start key) and not retried: the operator who
// issued a start key has it printed, and a PIN reset issues another.
func PINNotices(c *Client, cat *locales.Catalog, loc *time.Location, log *slog.Logger) func(wallet.Notice) {
	return func(n wallet.Notice) {
		m := notify.NoticeMessage(cat, loc, n)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), noticeTimeout)
			defer cancel()
			if err := c.Send(ctx, m); err != nil {
				log.Error("notify: a PIN notice was not handed to the notifier", "kind", n.Kind, "account", n.Account.ID, "err", err)
			}
		}()
	}
}
