package notify

import (
	"strconv"
	"strings"
	"time"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
)

// secretKeyPrefix starts the key of an SMS whose text is a secret (a start
// key). Once the provider has it, or it has failed for good, its text in
// sms_messages is replaced by RedactedText: the notifier's table keeps no
// usable start key, only that one was sent. (A start key never enters the
// wallet's outbox or event stream: see wallet.Notice.)
const secretKeyPrefix = "secret:"

// RedactedText replaces a secret SMS's text once it is no longer needed.
const RedactedText = "[start key SMS: text removed once sent]"

// NoticeMessage renders n, a wallet's notice about an account's PIN, as
// the SMS to the account's phone in its language, with times in loc: the
// start key of an account an operator opened (sms.pin.start_key), a PIN
// reset with its new start key (sms.pin.reset), a PIN change
// (sms.pin.changed), a SIM-swap hold and its clearance (sms.simswap.hold,
// sms.simswap.clear), a held transfer released or refused after review
// (sms.review.released, sms.review.refused). Its key is unique per notice; that of a message
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
	case wallet.NoticeSIMSwapHold:
		id = "sms.simswap.hold"
	case wallet.NoticeSIMSwapClear:
		id = "sms.simswap.clear"
	case wallet.NoticeReviewReleased:
		id = "sms.review.released"
	case wallet.NoticeReviewRefused:
		id = "sms.review.refused"
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

// IsSecret reports whether an SMS with this key carries a secret.
func IsSecret(key string) bool { return strings.HasPrefix(key, secretKeyPrefix) }
