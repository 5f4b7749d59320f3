package sessions

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// Approvals: what waits for a customer's PIN, a merchant's payment request
// or a tab to open (package wallet/merchant). USSD shows them under
// 6 Approvals: the list, one approval with 1 Approve and 2 Decline, then the
// PIN, which goes straight into the wallet's Approve or Decline and is never
// kept: a decline needs the PIN as much as an approval (issue 11), so that
// nobody but the customer says no for them. By SMS, a PIN, or NO and the
// PIN, sent when no command awaits one answers the newest approval, and the
// APPROVALS keyword lists them (below).

const (
	// approvalsListedMax bounds the approvals a session keeps, the newest
	// ones: an approval takes up to ~300 bytes of a state (a name and a
	// reference of 2-byte characters), which is at most stateBytesMax with
	// its screen. A customer rarely has more than one or two waiting.
	approvalsListedMax = 8
	// approvalIDBytesMax bounds an approval id the wallet gives ("pr_" or
	// "tab_" and 26 characters): a longer one is not kept.
	approvalIDBytesMax = 64
)

// approval is an approval as the session keeps it: what its screens show,
// the name and reference already clipped for them, and the id the PIN
// approves.
type approval struct {
	ID      string    `json:"id"`
	Tab     bool      `json:"tab,omitempty"`
	Prepaid bool      `json:"prepaid,omitempty"`
	Name    string    `json:"name"`
	Amount  int64     `json:"amount"` // minor units: a request's amount, a tab's cap rounded up
	Ref     string    `json:"ref,omitempty"`
	Expires time.Time `json:"expires"`
	Created time.Time `json:"created,omitzero"` // when the merchant made it (its SMS prompt was sent)
}

// approvalsFrom keeps the wallet's list as the screens show it: the newest
// approvalsListedMax, oldest first. An entry no screen can show (no id, or
// one too long; a kind this version does not know) is left out.
func approvalsFrom(list []merchant.Approval) []approval {
	var out []approval
	for _, a := range list {
		if !approvalID(a.ID) || a.Amount < 0 || a.Kind != merchant.ApprovalRequest && a.Kind != merchant.ApprovalTab {
			continue
		}
		out = append(out, approval{
			ID: a.ID, Tab: a.Kind == merchant.ApprovalTab, Prepaid: a.Prepaid, Name: screenName(a.MerchantName),
			Amount: a.Amount, Ref: screenText(a.Reference, locales.AccountCharsMax), Expires: a.Expires,
			Created: a.Created,
		})
	}
	return out[max(len(out)-approvalsListedMax, 0):]
}

// approvalID reports whether id is one a session may keep: 1 to
// approvalIDBytesMax lower-case letters, digits and underscores, as the
// wallet makes them.
func approvalID(id string) bool {
	if id == "" || len(id) > approvalIDBytesMax {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// gone reports whether err says the approval is no longer pending: it
// expired, or was approved or declined meanwhile (by another session, an
// SMS, or the call a slow wallet answered late).
func gone(err error) bool {
	c := wallet.ErrorCode(err)
	return c == wallet.CodeInvalidState || c == wallet.CodeNotFound
}

// when is an expiry as the screens show it: the time when it is today in
// the wallet's zone, else the day.
func (e *Engine) when(t time.Time) string {
	t = t.In(e.cfg.Location)
	y, m, d := t.Date()
	if ny, nm, nd := e.cfg.Now().In(e.cfg.Location).Date(); y == ny && m == nm && d == nd {
		return t.Format("15:04")
	}
	return t.Format("02/01")
}

// approvalData is the template data of a's screens.
func (e *Engine) approvalData(lang string, a approval) map[string]any {
	return map[string]any{"Name": a.Name, "Amount": e.money(lang, a.Amount), "Account": a.Ref, "Date": e.when(a.Expires)}
}

// approvalItem is a's line in a list, without its number.
func (e *Engine) approvalItem(lang string, a approval) string {
	return e.cfg.Locales.Say(lang, e.approvalItemWords(lang, a))
}

// approvalItemWords is approvalItem as the catalogue's words.
func (e *Engine) approvalItemWords(lang string, a approval) locales.Words {
	id := "ussd.approvals.item"
	if a.Tab {
		id = "ussd.approvals.item_tab"
	}
	return locales.NewWords(id, e.approvalData(lang, a))
}

// approved words a's approval: a request's payment (its receipt follows
// from the wallet's event), a prepaid tab's load, or a postpaid tab, which
// moved nothing yet. receipt reports whether the wallet's event also sends
// an SMS receipt of it (a payment, a load).
func (e *Engine) approved(lang string, a approval, r *merchant.ApproveResult) (text string, receipt bool) {
	w, receipt := e.approvedWords(lang, a, r)
	return e.cfg.Locales.Say(lang, w), receipt
}

// approvedWords is approved as the catalogue's words.
func (e *Engine) approvedWords(lang string, a approval, r *merchant.ApproveResult) (w locales.Words, receipt bool) {
	data := e.approvalData(lang, a)
	var ref string
	if r != nil && r.Transfer != nil {
		ref = r.Transfer.Transfer.Ref
	}
	data["Ref"] = ref
	switch {
	case !a.Tab:
		return locales.NewWords("ussd.approvals.paid", data), true
	case ref != "":
		return locales.NewWords("ussd.approvals.approved_prepaid", data), true
	}
	return locales.NewWords("ussd.approvals.approved_tab", data), false
}

// fromResult is the approval an ApproveResult names, as a session keeps one.
func fromResult(r *merchant.ApproveResult) approval {
	if list := approvalsFrom([]merchant.Approval{r.Approval}); len(list) == 1 {
		return list[0]
	}
	return approval{Name: screenName(r.Approval.MerchantName), Amount: r.Approval.Amount, Tab: r.Tab != nil}
}

// The USSD menu.

// listApprovals enters 6 Approvals: it asks the wallet what waits and keeps
// the list; with none, the session ends saying so.
func listApprovals(t *turn) *Screen {
	ctx, cancel := t.wallet()
	defer cancel()
	list, err := t.e.cfg.Wallet.Approvals(ctx, t.st.Phone)
	if err != nil {
		return t.lookupFailed(err, "", nil)
	}
	t.st.Approvals = approvalsFrom(list)
	if len(t.st.Approvals) == 0 {
		s := t.endScreen("ussd.approvals.none", nil)
		return &s
	}
	return nil
}

// approvalsText is the list: a title, then a numbered line per approval,
// which compose pages with 98 More.
func approvalsText(t *turn) string {
	lines := make([]string, 0, 1+len(t.st.Approvals))
	lines = append(lines, t.text("ussd.approvals.title", nil))
	for i, a := range t.st.Approvals {
		lines = append(lines, strconv.Itoa(i+1)+" "+t.e.approvalItem(t.st.Lang, a))
	}
	return strings.Join(lines, "\n")
}

// chooseApproval takes the number of an approval in the list.
func chooseApproval(t *turn, in string) {
	i, err := strconv.Atoi(in)
	if err != nil || in != strconv.Itoa(i) || i < 1 || i > len(t.st.Approvals) {
		t.show(t.line("ussd.invalid.choice"))
		return
	}
	t.set("approval", in)
	t.enter("appr.item")
}

// chosen is the approval chosen from the list. appr.item and appr.pin are
// entered only through chooseApproval, so there is one unless the state was
// written by a version that kept it elsewhere.
func (t *turn) chosen() (approval, bool) {
	i, err := strconv.Atoi(t.val("approval"))
	if err != nil || i < 1 || i > len(t.st.Approvals) {
		return approval{}, false
	}
	return t.st.Approvals[i-1], true
}

// approvalText is the chosen approval with its choices.
func approvalText(t *turn) string {
	a, ok := t.chosen()
	if !ok {
		return t.text("ussd.approvals.gone", nil)
	}
	id := "ussd.approvals.request"
	switch {
	case a.Tab && a.Prepaid:
		id = "ussd.approvals.tab_prepaid"
	case a.Tab:
		id = "ussd.approvals.tab"
	}
	return t.text(id, t.e.approvalData(t.st.Lang, a))
}

// answerApproval takes 1 Approve or 2 Decline: either goes on to the PIN.
func answerApproval(t *turn, in string) {
	if _, ok := t.chosen(); !ok {
		t.finish(t.endScreen("ussd.approvals.gone", nil))
		return
	}
	switch in {
	case "1":
		t.enter("appr.pin")
	case "2":
		t.enter("appr.decline")
	default:
		t.show(t.line("ussd.invalid.choice"))
	}
}

// declineText asks for the PIN that declines the chosen approval, naming it.
func declineText(t *turn) string {
	a, ok := t.chosen()
	if !ok {
		return t.text("ussd.approvals.gone", nil)
	}
	return t.text("ussd.approvals.decline_pin", t.e.approvalData(t.st.Lang, a))
}

// decline makes the wallet call the PIN authorises: the chosen approval is
// declined. A wrong PIN asks it again, with the tries left. Nothing moves,
// so a slow wallet gets the refusal screen and the customer may try again
// (a decline that did land answers then that the approval is gone).
func decline(t *turn, pin string) {
	if !t.pinOK(pin) {
		t.show(t.line("ussd.invalid.pin_format"))
		return
	}
	a, ok := t.chosen()
	if !ok {
		t.finish(t.endScreen("ussd.approvals.gone", nil))
		return
	}
	ctx, cancel := t.wallet()
	defer cancel()
	_, err := t.e.cfg.Wallet.Decline(ctx, t.st.Phone, a.ID, pin)
	switch {
	case err == nil:
		t.finish(t.endScreen("ussd.approvals.declined", map[string]any{"Name": a.Name}))
	case gone(err):
		t.finish(t.endScreen("ussd.approvals.gone", nil))
	default:
		t.refused(err, "", nil)
	}
}

// approve makes the wallet call the PIN authorises. A wrong PIN asks it
// again, with the tries left; a slow wallet ends the session with "we will
// send you an SMS" and the approval is resolved in the background.
func approve(t *turn, pin string) {
	if !t.pinOK(pin) {
		t.show(t.line("ussd.invalid.pin_format"))
		return
	}
	a, ok := t.chosen()
	if !ok {
		t.finish(t.endScreen("ussd.approvals.gone", nil))
		return
	}
	ctx, cancel := t.wallet()
	defer cancel()
	r, err := t.e.cfg.Wallet.Approve(ctx, t.st.Phone, a.ID, pin)
	switch {
	case err == nil:
		text, _ := t.e.approved(t.st.Lang, a, r)
		t.finish(Screen{Text: text, End: true})
	case wallet.ErrorCode(err) == wallet.CodeUnavailable:
		t.finish(t.endScreen("ussd.pending", nil))
		t.e.resolveApproval(idempotencyKey(t.scope(), t.st.Hops), wallet.PINAttemptFrom(t.ctx), t.st.Phone, t.st.Lang, a, pin)
	case gone(err):
		t.finish(t.endScreen("ussd.approvals.gone", nil))
	default:
		t.refused(err, "", nil)
	}
}

// resolveApproval learns the outcome of an approval whose call got no answer
// in time, as resolve does a transfer's, and reports it (Config.Resolved).
// Approve has no idempotency key: the wallet approves a pending approval
// once, and answers invalid_state for one no longer pending. So the call is
// made again, after a pause that lets the first one finish, only while the
// wallet does not answer: an approval the first call reached is no longer
// pending (unless its PIN was wrong, which the second call then tells), and
// its outcome is the receipt's to tell.
//
// The retries carry the first call's PINAttempt, so the wallet counts a
// wrong PIN once however often the call is made.
func (e *Engine) resolveApproval(key string, at wallet.PINAttempt, phone, lang string, a approval, pin string) {
	e.pending.Add(1)
	go func() {
		defer e.pending.Done()
		e.witness(key, phone)
		ctx, cancel := context.WithTimeout(wallet.WithPINAttempt(e.stopCtx, at), resolveTimeout)
		defer cancel()
		var r *merchant.ApproveResult
		err := error(wallet.Errorf(wallet.CodeUnavailable, "the wallet did not answer"))
	retry:
		for {
			select {
			case <-ctx.Done():
				break retry
			case <-time.After(resolveInterval):
			}
			r, err = e.cfg.Wallet.Approve(ctx, phone, a.ID, pin)
			if c := wallet.ErrorCode(err); c != wallet.CodeUnavailable && c != wallet.CodeInFlight {
				break
			}
		}
		log := e.log.With("key", key, "approval", a.ID)
		switch c := wallet.ErrorCode(err); {
		case err == nil:
			log.Info("pending approval completed")
		case c == wallet.CodeUnavailable || c == wallet.CodeInFlight:
			log.Error("pending approval unresolved: the wallet did not answer; an operator must check it", "err", err)
		default:
			log.Info("pending approval refused", "code", c)
		}
		if e.cfg.Resolved != nil {
			e.cfg.Resolved(Resolution{Phone: phone, Language: lang, Key: key, Approval: a.ID, Approved: r, Err: err})
		}
	}()
}

// approvalTold is the SMS that tells the outcome of a resolved approval, or
// "" for none: a payment's or a load's receipt comes from the wallet's
// event, and an approval no longer pending was most likely answered by the
// call that timed out, whose outcome is not known here.
func (e *Engine) approvalTold(r Resolution) locales.Words {
	switch c := wallet.ErrorCode(r.Err); {
	case r.Err == nil && r.Approved != nil:
		w, receipt := e.approvedWords(r.Language, fromResult(r.Approved), r.Approved)
		if receipt {
			return locales.Words{}
		}
		return w
	case r.Err == nil, gone(r.Err), c == wallet.CodeUnavailable, c == wallet.CodeInFlight:
		return locales.Words{}
	}
	return e.cfg.Locales.ErrorWords(r.Language, e.cfg.Currency, r.Err)
}

// By SMS.

// approvalsReplyPartsMax bounds the reply to the approvals keyword, as the
// mini statement's: the oldest approvals are left out of a longer one.
const approvalsReplyPartsMax = 2

// approvals answers the keyword that lists approvals: the title, a line per
// approval, oldest first, and how to answer the last one.
func (t *smsTurn) approvals() SMSReply {
	if id := t.unusable(); id != "" {
		return t.reply(id, nil)
	}
	ctx, cancel := t.wallet()
	defer cancel()
	list, err := t.e.cfg.Wallet.Approvals(ctx, t.phone)
	if err != nil {
		return t.refused(err)
	}
	pending := approvalsFrom(list)
	if len(pending) == 0 {
		return t.reply("ussd.approvals.none", nil)
	}
	lines := make([]locales.Words, len(pending))
	for i, a := range pending {
		lines[i] = t.e.approvalItemWords(t.lang, a)
	}
	// The title, the lines and the hint, as one catalogue message's lines:
	// sms.approvals.list is "{{.Lines}}".
	words := func() locales.Words {
		all := append([]locales.Words{locales.NewWords("ussd.approvals.title", nil)}, lines...)
		return locales.NewWords("sms.approvals.list", map[string]any{"Lines": append(all, locales.NewWords("sms.approvals.hint", nil))})
	}
	for len(lines) > 1 {
		if _, parts := locales.Segments(t.e.cfg.Locales.Say(t.lang, words())); parts <= approvalsReplyPartsMax {
			break
		}
		lines = lines[1:]
	}
	return t.say(words())
}

// answerNewest answers a PIN (approve) or NO and the PIN (decline) sent
// with no command awaiting one: it answers the newest approval waiting for
// the sender's, as the notifier's prompt says. NO without a PIN declines
// nothing: the reply asks for NO and the PIN. With none (or a sender that
// is not a customer), the reply is what such a PIN or NO always got.
//
// The message is recorded before this runs, so a provider's retry never
// answers twice. Two different messages are kept apart by the phone's
// answers record (smsAnswered): a compare-and-set marks it busy before the
// wallet call, so that two replies never both reach the wallet (an approval
// being paid is no longer pending, and the second would answer the one
// before it); and for smsAnsweredWindow after an answer, the approvals
// then pending are not answered by another PIN or NO, which is most likely
// the same reply sent again.
//
// A payment or a prepaid tab's load is answered by its receipt alone (an
// empty reply), as a command's payment is; a postpaid tab, which moves
// nothing yet, in words.
func (t *smsTurn) answerNewest(approving bool) SMSReply {
	if t.account.Kind != wallet.KindCustomer {
		return t.reply("sms.pin.expired", nil)
	}
	rec, rev, err := t.e.loadAnswered(t.ctx, t.phone)
	if err != nil {
		return t.failed(err)
	}
	now := t.e.cfg.Now()
	if !rec.Busy.IsZero() && now.Sub(rec.Busy) < 2*t.e.cfg.WalletTimeout {
		return SMSReply{} // the other message's reply is the answer
	}
	ctx, cancel := t.wallet()
	list, err := t.e.cfg.Wallet.Approvals(ctx, t.phone)
	cancel()
	if err != nil {
		return t.refused(err)
	}
	pending := approvalsFrom(list)
	if len(pending) == 0 {
		return t.reply("sms.pin.expired", nil)
	}
	var a approval
	for i := len(pending) - 1; i >= 0 && a.ID == ""; i-- {
		if now.Sub(rec.At) >= smsAnsweredWindow || !slices.Contains(rec.Seen, pending[i].ID) {
			a = pending[i]
		}
	}
	switch {
	case a.ID == "":
		return t.reply("sms.approvals.answered", map[string]any{"Code": t.e.cfg.ServiceCode})
	case !approving && t.cmd.PIN == "":
		return t.reply("sms.decline.pin", map[string]any{"Name": a.Name, "Amount": t.e.money(t.lang, a.Amount)})
	case len(t.cmd.PIN) != t.e.cfg.PINLength:
		return t.reply("ussd.invalid.pin_format", map[string]any{"Digits": t.e.cfg.PINLength})
	}
	if approving {
		prompted, err := t.prompted(a, rec, now)
		if err != nil {
			return t.failed(err)
		}
		if !prompted {
			return t.promptAgain(a, rec, rev, now)
		}
	}
	rec.Busy = stamp(now)
	if rev, err = t.e.saveAnswered(t.ctx, t.phone, rec, rev); errors.Is(err, errRaced) {
		return SMSReply{} // another reply of the phone's is being answered: its reply is the answer
	} else if err != nil {
		return t.failed(err)
	}
	var r SMSReply
	var code wallet.Code
	if approving {
		r, code = t.approveOne(a)
	} else {
		r, code = t.declineOne(a)
	}
	rec.Busy = time.Time{}
	if code != wallet.CodePINInvalid {
		// Answered, or no longer pending: the rest stay for USSD, or for a
		// PIN or NO once the window has passed.
		rec.Seen, rec.At = nil, stamp(t.e.cfg.Now())
		for _, p := range list {
			if p.ID != a.ID && approvalID(p.ID) {
				rec.Seen = append(rec.Seen, p.ID)
			}
		}
		rec.Seen = rec.Seen[max(len(rec.Seen)-smsSeenMax, 0):]
	}
	if _, err := t.e.saveAnswered(t.ctx, t.phone, rec, rev); err != nil {
		// The reply stands; a later PIN finds the record busy until the
		// mark is stale.
		t.log.Error("sms answers record", "err", err)
	}
	return r
}

// prompted reports whether a bare PIN sent now can only be the answer to
// a's prompt: a was made after the phone's last command stopped awaiting a
// PIN (so a's prompt is the last thing that asked for one), or a was
// prompted again (promptAgain) within smsPINWindow. A PIN that may have been
// meant for the command (a BAL's, arriving late) must not pay a merchant.
func (t *smsTurn) prompted(a approval, rec *smsAnswered, now time.Time) (bool, error) {
	if rec.Prompted == a.ID && now.Sub(rec.PromptedAt) < smsPINWindow {
		return true, nil
	}
	c, _, err := t.e.loadConv(t.ctx, t.phone)
	if err != nil || c == nil {
		return err == nil, err
	}
	return !a.Created.IsZero() && !a.Created.Before(c.end()), nil
}

// promptAgain answers a PIN that prompted refused: nothing is done with
// it, and the reply asks for a's PIN again, naming a, so that the next PIN
// is an answer to a alone.
func (t *smsTurn) promptAgain(a approval, rec *smsAnswered, rev uint64, now time.Time) SMSReply {
	rec.Prompted, rec.PromptedAt = a.ID, stamp(now)
	if _, err := t.e.saveAnswered(t.ctx, t.phone, rec, rev); errors.Is(err, errRaced) {
		return SMSReply{} // another reply of the phone's is being answered: its reply is the answer
	} else if err != nil {
		return t.failed(err)
	}
	t.log.Info("sms PIN not applied to an approval: a command awaited a PIN after it was made")
	return t.reply("sms.pin.which", map[string]any{"Name": a.Name, "Amount": t.e.money(t.lang, a.Amount), "Minutes": smsPINMinutes})
}

// approveOne approves a with the message's PIN; code is the wallet's
// refusal, if any.
func (t *smsTurn) approveOne(a approval) (SMSReply, wallet.Code) {
	ctx, cancel := t.wallet()
	defer cancel()
	res, err := t.e.cfg.Wallet.Approve(ctx, t.phone, a.ID, t.cmd.PIN)
	code := wallet.ErrorCode(err)
	switch {
	case err == nil:
		w, receipt := t.e.approvedWords(t.lang, a, res)
		t.log.Info("sms approval done", "approval", a.ID)
		if receipt {
			return SMSReply{}, code
		}
		return t.say(w), code
	case code == wallet.CodeUnavailable:
		t.e.resolveApproval("sms:"+t.message, wallet.PINAttemptFrom(t.ctx), t.phone, t.lang, a, t.cmd.PIN)
		return t.reply("ussd.pending", nil), code
	case gone(err):
		return t.reply("ussd.approvals.gone", nil), code
	}
	return t.refused(err), code
}

// declineOne declines a with the message's PIN; code is the wallet's
// refusal, if any.
func (t *smsTurn) declineOne(a approval) (SMSReply, wallet.Code) {
	ctx, cancel := t.wallet()
	defer cancel()
	_, err := t.e.cfg.Wallet.Decline(ctx, t.phone, a.ID, t.cmd.PIN)
	switch {
	case err == nil:
		return t.reply("ussd.approvals.declined", map[string]any{"Name": a.Name}), ""
	case gone(err):
		return t.reply("ussd.approvals.gone", nil), wallet.ErrorCode(err)
	}
	return t.refused(err), wallet.ErrorCode(err)
}
