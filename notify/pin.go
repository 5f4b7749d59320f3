package notify

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
)

// secretKeyPrefix starts the key of an SMS whose text is a secret (a start
// key). Once the provider has it, or it has failed for good, its text in
// sms_messages is replaced by redactedText: the notifier's table keeps no
// usable start key, only that one was sent. (A start key never enters the
// wallet's outbox or event stream: see wallet.Notice.)
const secretKeyPrefix = "secret:"

// redactedText replaces a secret SMS's text once it is no longer needed.
const redactedText = "[start key SMS: text removed once sent]"

// NoticeMessage renders n, a wallet's notice about an account's PIN, as
// the SMS to the account's phone in its language, with times in loc: the
// start key of an account an operator opened (sms.pin.start_key), a PIN
// reset with its new start key (sms.pin.reset), a PIN change
// (sms.pin.changed). Its key is unique per notice; that of a message
// carrying a start key is secret (its stored text is removed once sent).
func NoticeMessage(cat *locales.Catalog, loc *time.Location, n wallet.Notice) Message {
	lang := locales.Match(n.Account.Language)
	data := map[string]any{}
	id := "sms.pin.changed"
	switch n.Kind {
	case wallet.NoticeStartKey:
		id = "sms.pin.start_key"
	case wallet.NoticePINReset:
		id = "sms.pin.reset"
	}
	key := "pin:" + string(n.Kind) + ":" + strconv.FormatInt(n.Account.ID, 10) + ":" + strconv.FormatInt(n.At.UnixNano(), 10)
	if n.StartKey != "" {
		data["Key"] = n.StartKey
		data["Expires"] = n.Expires.In(loc).Format("02/01/06 15:04")
		key = secretKeyPrefix + key
	} else {
		data["Date"] = n.At.In(loc).Format("02/01/06")
		data["Time"] = n.At.In(loc).Format("15:04")
	}
	return Message{Key: key, To: n.Account.Phone, Language: lang, Text: cat.Render(lang, id, data)}
}

// secret reports whether an SMS with this key carries a secret.
func secret(key string) bool { return strings.HasPrefix(key, secretKeyPrefix) }

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
		m := NoticeMessage(cat, loc, n)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), noticeTimeout)
			defer cancel()
			if err := c.Send(ctx, m); err != nil {
				log.Error("notify: a PIN notice was not handed to the notifier", "kind", n.Kind, "account", n.Account.ID, "err", err)
			}
		}()
	}
}
