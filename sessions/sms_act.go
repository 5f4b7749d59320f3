package sessions

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/wallet"
)

// The SMS commands. A command that needs the PIN (BAL, MINI and the money
// commands) is kept as the phone's conversation and answered with a
// confirmation; the PIN, in a reply of its own, goes from that message
// straight into the one wallet call that needs it and is never kept.

// smsKinds are the transfers of the money commands.
var smsKinds = map[string]wallet.TransferKind{
	verbSend: wallet.TransferSend, verbPay: wallet.TransferTill, verbBill: wallet.TransferPaybill,
	verbAirtime: wallet.TransferAirtime,
}

// unusable returns the error message for an account that cannot take the
// command: frozen, locked, without a PIN, or of a kind the command is not
// for (money is a customer's; a balance a customer's or an agent's float).
func (t *smsTurn) unusable() string {
	p := t.account
	switch {
	case p.Status == wallet.StatusFrozen:
		return "error.account_frozen"
	case p.PINLocked || p.Status == wallet.StatusPINLocked:
		return "error.pin_locked"
	case !p.HasPIN:
		return "error.pin_not_set"
	case p.Kind == wallet.KindCustomer:
		return ""
	case p.Kind == wallet.KindAgent && (t.cmd.Verb == verbBalance || t.cmd.Verb == verbMini):
		return ""
	}
	return "error.wrong_kind"
}

// smsOrder checks a money command's arguments and returns the
// conversation it starts, without the lookups: nil when they are not as
// its sms.usage says. A phone may be written with spaces ("SEND 0712 345
// 678 500"), and a pay-bill account reference may have them.
func (e *Engine) smsOrder(cmd smsCommand) *smsConv {
	args := cmd.Args
	n := len(args)
	if n == 0 {
		return nil
	}
	amount, err := e.cfg.Currency.ParseAmount(args[n-1])
	if err != nil {
		return nil
	}
	c := &smsConv{Verb: cmd.Verb, Amount: amount}
	switch cmd.Verb {
	case verbSend, verbAirtime:
		if n == 1 {
			if cmd.Verb == verbSend {
				return nil
			}
			return c // airtime for the sender's own phone
		}
		p, err := wallet.NormalizePhone(strings.Join(args[:n-1], " "), e.cfg.Region)
		if err != nil {
			return nil
		}
		c.To = p
	case verbPay:
		if n != 2 || !businessNumber(args[0]) {
			return nil
		}
		c.To = args[0]
	case verbBill:
		account := strings.Join(args[1:max(n-1, 1)], " ")
		if n < 3 || !businessNumber(args[0]) || !accountReference(account) {
			return nil
		}
		c.To, c.Account = args[0], account
	default:
		return nil
	}
	return c
}

// businessNumber reports whether s is a till or business number as the
// USSD menus read one (readNumber).
func businessNumber(s string) bool {
	return s != "" && len(s) <= numberDigitsMax && strings.Trim(s, "0123456789") == ""
}

// accountReference reports whether s is a pay-bill account reference as the
// USSD menus read one (readAccount): GSM-7, at most AccountCharsMax septets.
func accountReference(s string) bool {
	n, ok := locales.Septets(s)
	return s != "" && ok && n <= locales.AccountCharsMax && !strings.ContainsAny(s, "\n\r\f")
}

// order answers a money command: its confirmation, with the recipient's
// registered name and the fee, or why it cannot be made.
func (t *smsTurn) order() SMSReply {
	if id := t.unusable(); id != "" {
		return t.reply(id, nil)
	}
	c := t.e.smsOrder(t.cmd)
	if c == nil {
		return t.malformed()
	}
	ctx, cancel := t.wallet()
	defer cancel()
	data := map[string]any{"Amount": t.e.money(t.lang, c.Amount), "Minutes": smsPINMinutes}
	var notFound string
	var want wallet.AccountKind
	switch c.Verb {
	case verbSend:
		notFound, want = "error.not_found.recipient", wallet.KindCustomer
		data["Phone"] = c.To
		if c.To == t.phone {
			return t.reply("error.same_account", nil)
		}
	case verbPay:
		notFound, want = "error.not_found.till", wallet.KindTill
		data["Number"], data["Till"] = c.To, c.To
	case verbBill:
		notFound, want = "error.not_found.business", wallet.KindPaybill
		data["Number"], data["Business"], data["Account"] = c.To, c.To, c.Account
	case verbAirtime:
		data["Phone"] = t.phone
		if c.To != "" {
			data["Phone"] = c.To
		}
	}
	if want != "" {
		p, err := t.e.cfg.Wallet.Lookup(ctx, c.To)
		if err == nil && (p.Kind != want || want != wallet.KindCustomer && p.Number != c.To) {
			err = wallet.Errorf(wallet.CodeNotFound, "not a %s", want)
		}
		if wallet.ErrorCode(err) == wallet.CodeNotFound {
			return t.reply(notFound, data)
		}
		if err != nil {
			return t.refused(err)
		}
		c.Name = screenName(p.Name)
		data["Name"] = c.Name
	}
	if c.Verb == verbSend || c.Verb == verbAirtime {
		q, err := t.e.cfg.Wallet.Quote(ctx, smsKinds[c.Verb], c.Amount)
		if err != nil {
			return t.refused(err)
		}
		c.Fee = q.Fee
		data["Fee"] = t.e.money(t.lang, q.Fee)
	}
	if err := t.await(c); err != nil {
		return t.failed(err)
	}
	delete(data, "Till")
	delete(data, "Business")
	return t.reply("sms.confirm."+c.Verb, data)
}

// malformed answers a command whose arguments are not as its usage says.
func (t *smsTurn) malformed() SMSReply {
	return t.reply("sms.malformed", map[string]any{"Usage": locales.NewWords("sms.usage."+t.cmd.Verb, nil)})
}

// askPIN answers BAL and MINI: the wallet shows a balance only for the PIN,
// so they ask for it as a money command does.
func (t *smsTurn) askPIN() SMSReply {
	if id := t.unusable(); id != "" {
		return t.reply(id, nil)
	}
	if err := t.await(&smsConv{Verb: t.cmd.Verb}); err != nil {
		return t.failed(err)
	}
	id := "sms.confirm.balance"
	if t.cmd.Verb == verbMini {
		id = "sms.confirm.mini"
	}
	return t.reply(id, map[string]any{"Minutes": smsPINMinutes})
}

// await makes c the phone's conversation, in place of any other: the latest
// command is the one a PIN confirms.
func (t *smsTurn) await(c *smsConv) error {
	c.Message, c.Expires = t.message, stamp(t.e.cfg.Now().Add(smsPINWindow))
	var err error
	for range smsWriteAttemptsMax {
		var rev uint64
		if _, rev, err = t.e.loadConv(t.ctx, t.phone); err != nil {
			return err
		}
		if _, err = t.e.saveConv(t.ctx, t.phone, c, rev); !errors.Is(err, errRaced) {
			return err
		}
	}
	return err
}

// cancel answers NO: the conversation ends unless its PIN is being
// answered. NO and a PIN, or NO with no conversation open, declines the
// newest approval, which needs the PIN (answerNewest).
func (t *smsTurn) cancel() SMSReply {
	if t.cmd.PIN != "" {
		return t.answerNewest(false)
	}
	for range smsWriteAttemptsMax {
		c, rev, err := t.e.loadConv(t.ctx, t.phone)
		if err != nil {
			return t.failed(err)
		}
		now := t.e.cfg.Now()
		switch {
		case !c.open(now):
			return t.answerNewest(false)
		case t.busy(c, now):
			return SMSReply{} // the PIN's reply is the answer
		}
		c.Closed = true
		if _, err = t.e.saveConv(t.ctx, t.phone, c, rev); err == nil {
			return t.reply("sms.cancelled", nil)
		} else if !errors.Is(err, errRaced) {
			return t.failed(err)
		}
	}
	return SMSReply{} // the phone's other messages keep moving it: they answer
}

// busy reports whether c's PIN is being answered by another message. A
// wallet call takes at most WalletTimeout; after twice that, the message
// that started it is taken for lost and the try may be taken again, with
// the same idempotency key.
func (t *smsTurn) busy(c *smsConv, now time.Time) bool {
	return !c.Busy.IsZero() && now.Sub(c.Busy) < 2*t.e.cfg.WalletTimeout
}

// pin answers a message of digits: the PIN of the phone's conversation. It
// takes the next try (a compare-and-set on the conversation, so that two
// PIN replies never both reach the wallet), makes the call and records the
// outcome. The wallet's idempotency key is the command's message and the
// try: the same try asked again (a lost message's) is answered once, and
// a PIN after a wrong one is a new command. With no conversation open, the
// PIN approves the newest approval.
func (t *smsTurn) pin() SMSReply {
	var c *smsConv
	var rev uint64
	for attempt := 0; ; attempt++ {
		var err error
		c, rev, err = t.e.loadConv(t.ctx, t.phone)
		if err != nil {
			return t.failed(err)
		}
		now := t.e.cfg.Now()
		switch {
		case !c.open(now):
			return t.answerNewest(true)
		case len(t.cmd.PIN) != t.e.cfg.PINLength:
			return t.reply("ussd.invalid.pin_format", map[string]any{"Digits": t.e.cfg.PINLength})
		case t.busy(c, now):
			return SMSReply{}
		}
		if c.Busy.IsZero() {
			c.Tries++
		}
		c.Busy = stamp(now)
		rev, err = t.e.saveConv(t.ctx, t.phone, c, rev)
		if err == nil {
			break
		}
		if !errors.Is(err, errRaced) {
			return t.failed(err)
		}
		if attempt+1 == smsWriteAttemptsMax {
			return SMSReply{}
		}
	}
	r, open := t.carryOut(c)
	c.Busy = time.Time{}
	c.Closed = !open || c.Tries >= smsPINTriesMax
	_, err := t.e.saveConv(t.ctx, t.phone, c, rev)
	switch {
	case errors.Is(err, errRaced):
		// A later command replaced the conversation meanwhile.
		t.log.Info("sms conversation replaced while its PIN was answered")
	case err != nil:
		// The reply stands; the next PIN finds the try still taken, and
		// once it is stale takes it again under the same key.
		t.log.Error("sms conversation", "err", err)
	}
	return r
}

// carryOut makes the wallet call c's PIN authorises, and returns the reply
// and whether the conversation still awaits a PIN (after a wrong one, or an
// outage of a call that moves no money).
func (t *smsTurn) carryOut(c *smsConv) (SMSReply, bool) {
	ctx, cancel := t.wallet()
	defer cancel()
	pin := t.cmd.PIN
	switch c.Verb {
	case verbBalance:
		a, err := t.e.cfg.Wallet.Balance(ctx, t.phone, pin)
		if err != nil {
			return t.refusedPIN(err, nil)
		}
		return t.reply("sms.balance", map[string]any{"Balance": t.e.money(t.lang, a.Balance)}), false
	case verbMini:
		s, err := t.e.cfg.Wallet.Statement(ctx, wallet.StatementQuery{Phone: t.phone, PIN: pin, Limit: statementLines})
		if err != nil {
			return t.refusedPIN(err, nil)
		}
		return t.reply("sms.mini", map[string]any{"Statement": t.e.statementWords(t.lang, s.Lines),
			"Balance": t.e.money(t.lang, s.Account.Balance)}), false
	}
	req := wallet.TransferRequest{Key: "sms:" + c.Message + ":" + strconv.Itoa(c.Tries), Kind: smsKinds[c.Verb],
		From: t.phone, To: c.To, Amount: c.Amount, Reference: c.Account, PIN: pin}
	r, err := t.e.cfg.Wallet.Transfer(ctx, req)
	switch {
	case err == nil:
		t.log.Info("sms transfer done", "ref", r.Transfer.Ref, "replayed", r.Replayed)
		return SMSReply{}, false // the receipt is the answer
	case wallet.ErrorCode(err) == wallet.CodeUnavailable:
		// As a USSD step: the wallet applies the key at most once, so it is
		// retried in the background, and the receipt or Outbox tells.
		t.e.resolve(req, t.lang)
		return t.reply("ussd.pending", nil), false
	}
	return t.refusedPIN(err, &req)
}

// refusedPIN answers a refusal of a call with a PIN: a wrong PIN (with the
// tries left, as USSD words it) or an outage leaves the conversation open
// for another PIN; anything else ends it.
func (t *smsTurn) refusedPIN(err error, req *wallet.TransferRequest) (SMSReply, bool) {
	switch wallet.ErrorCode(err) {
	case wallet.CodePINInvalid:
		return t.refused(err), true
	case wallet.CodeUnavailable:
		return t.failed(err), true
	}
	if req != nil {
		return t.say(t.e.refusalWords(t.lang, *req, err)), false
	}
	return t.refused(err), false
}

// refused answers a wallet refusal in words, as USSD does.
func (t *smsTurn) refused(err error) SMSReply {
	if wallet.ErrorCode(err) == wallet.CodeInternal {
		t.log.Error("wallet call failed", "err", err)
	}
	return t.say(t.e.cfg.Locales.ErrorWords(t.lang, t.e.cfg.Currency, err))
}

// language answers LANG: the account's language changes, and the reply is
// in the new one.
func (t *smsTurn) language() SMSReply {
	var lang string
	if len(t.cmd.Args) == 1 {
		lang = strings.ToLower(t.cmd.Args[0])
	}
	if !slices.Contains(t.e.cfg.Locales.Languages(), lang) {
		return t.malformed()
	}
	ctx, cancel := t.wallet()
	defer cancel()
	if _, err := t.e.cfg.Wallet.SetLanguage(ctx, t.phone, lang); err != nil {
		return t.refused(err)
	}
	t.lang = lang
	return t.reply("sms.lang.done", nil)
}

// promotions answers STOP and START: consent to promotional SMS, which
// receipts are not, recorded by the notifier (Config.Outbox).
func (t *smsTurn) promotions(on bool) SMSReply {
	if t.e.cfg.Outbox == nil {
		return t.failed(wallet.Errorf(wallet.CodeUnavailable, "no notifier to record the consent"))
	}
	ctx, cancel := t.wallet()
	defer cancel()
	if err := t.e.cfg.Outbox.Consent(ctx, t.phone, on); err != nil {
		return t.failed(wallet.Errorf(wallet.CodeUnavailable, "consent not recorded: %v", err))
	}
	if on {
		return t.reply("sms.start", nil)
	}
	return t.reply("sms.stop", nil)
}

// statementText is a mini statement, as the USSD screen and the MINI reply
// show it: a title and a line per posting, or "no transactions".
func (e *Engine) statementText(lang string, lines []wallet.StatementLine) string {
	ws := e.statementWords(lang, lines)
	text := make([]string, len(ws))
	for i, w := range ws {
		text[i] = e.cfg.Locales.Say(lang, w)
	}
	return strings.Join(text, "\n")
}

// statementWords are a mini statement's lines as the catalogue's words.
func (e *Engine) statementWords(lang string, lines []wallet.StatementLine) []locales.Words {
	if len(lines) == 0 {
		return []locales.Words{locales.NewWords("ussd.statement.empty", nil)}
	}
	ws := []locales.Words{locales.NewWords("ussd.statement.title", map[string]any{"Currency": e.cfg.Currency.Code})}
	for _, l := range lines {
		ws = append(ws, locales.NewWords("ussd.statement.line", map[string]any{
			"Date": l.Created.In(e.cfg.Location).Format("02/01"), "Ref": l.Ref,
			"Amount": locales.FormatAmount(lang, e.cfg.Currency, l.Amount)}))
	}
	return ws
}

// refusalWords word a transfer's refusal as the USSD screen would: a
// not_found names what was not found.
func (e *Engine) refusalWords(lang string, req wallet.TransferRequest, err error) locales.Words {
	if wallet.ErrorCode(err) == wallet.CodeNotFound {
		switch req.Kind {
		case wallet.TransferSend, wallet.TransferDeposit:
			return locales.NewWords("error.not_found.recipient", map[string]any{"Phone": req.To})
		case wallet.TransferWithdraw:
			return locales.NewWords("error.not_found.agent", map[string]any{"Agent": req.To})
		case wallet.TransferTill:
			return locales.NewWords("error.not_found.till", map[string]any{"Till": req.To})
		case wallet.TransferPaybill:
			return locales.NewWords("error.not_found.business", map[string]any{"Business": req.To})
		case wallet.TransferReversal:
			return locales.NewWords("error.not_found.transaction", map[string]any{"Original": req.Reference})
		}
	}
	return e.cfg.Locales.ErrorWords(lang, e.cfg.Currency, err)
}

// witness records with the notifier (Config.Outbox) that phone may be told
// the outcome of the money step key, which answered "pending": tell's Reply
// names it, and the notifier sends a Reply only to a phone it was told of
// (notify.Inbound). Called before the step is retried, so before tell.
func (e *Engine) witness(key, phone string) {
	if e.cfg.Outbox == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), outboxTimeout)
	defer cancel()
	if err := e.cfg.Outbox.Inbound(ctx, notify.Inbound{ID: key, Phone: phone}); err != nil {
		e.log.Error("pending step not recorded with the notifier: its outcome cannot be told", "key", key, "err", err)
	}
}

// tell sends the person the failure of a money step that answered
// "pending" (Config.Outbox), as a Reply to the Inbound witness recorded. A
// success's receipt comes from the wallet's event; an outcome still unknown
// when the retries gave up is not sent, since "try again" could make a
// second payment of one that went through.
func (e *Engine) tell(r Resolution) {
	log := e.log.With("key", r.Key, "kind", r.Request.Kind)
	lang := r.Language
	if !slices.Contains(e.cfg.Locales.Languages(), lang) {
		lang = locales.Default
	}
	var words locales.Words
	switch {
	case r.Approval != "":
		// An approval: a postpaid tab approved has no receipt to tell it.
		if words = e.approvalTold(r); words.ID == "" {
			log.Info("pending approval resolved: the person is not told", "code", wallet.ErrorCode(r.Err))
			return
		}
	case r.Err == nil:
		return
	case wallet.ErrorCode(r.Err) == wallet.CodeUnavailable:
		log.Warn("pending transfer unresolved: the person is not told")
		return
	default:
		words = e.refusalWords(lang, r.Request, r.Err)
	}
	// Not stopCtx: Close waits for this, and the person must still learn.
	ctx, cancel := context.WithTimeout(context.Background(), outboxTimeout)
	defer cancel()
	if err := e.cfg.Outbox.Reply(ctx, notify.Reply{Inbound: r.Key, To: r.Phone, Language: lang, Words: words}); err != nil {
		log.Error("pending transfer refused; the person could not be told", "err", err)
	}
}
