package sessions

import "github.com/kibubu/kibubu/wallet"

// smsObjectWords are the keywords of the recipient's objection to a
// reversal ("OBJECT QK7M2X9A1B"), by language: the hold's SMS
// (sms.receipt.reversal_hold.recipient) tells them.
var smsObjectWords = map[string]string{"en": "OBJECT", "sw": "PINGA", "fr": "CONTESTER"}

// object records the sender's objection to the reversal of the transfer
// its one argument names. It needs no PIN: it moves no money, and holds the
// amount no longer than an operator takes to decide.
func (t *smsTurn) object() SMSReply {
	if id := t.unusable(); id != "" {
		return t.reply(id, nil)
	}
	var ref string
	if len(t.cmd.Args) == 1 {
		if id, ok := wallet.ParseRef(t.cmd.Args[0]); ok {
			ref = wallet.Ref(id)
		}
	}
	if ref == "" {
		return t.reply("sms.malformed", map[string]any{"Usage": t.e.cfg.Locales.Render(t.lang, "sms.usage.object", nil)})
	}
	ctx, cancel := t.wallet()
	defer cancel()
	if _, err := t.e.cfg.Wallet.ObjectReversal(ctx, t.phone, ref, "sms"); err != nil {
		if wallet.ErrorCode(err) == wallet.CodeNotFound {
			return t.reply("ussd.reverse.object.none", map[string]any{"Original": ref})
		}
		return t.refused(err)
	}
	return t.reply("ussd.reverse.objected", map[string]any{"Original": ref})
}
