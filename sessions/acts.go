package sessions

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

// The acts: inputs a node handles itself. A PIN goes from the hop straight
// into the one wallet call that needs it and is never kept.

// pinOK checks a PIN's format before the wallet sees it, so a typo does not
// cost one of the tries.
func (t *turn) pinOK(pin string) bool {
	if len(pin) != t.e.cfg.PINLength {
		return false
	}
	for i := 0; i < len(pin); i++ {
		if pin[i] < '0' || pin[i] > '9' {
			return false
		}
	}
	return true
}

// choosePIN takes a new PIN for purpose and goes on to confirm it. The
// wallet keeps the PIN (as a peppered hash, for wallet.PendingPINTTL) and
// what authorises it (the start key's or the current PIN's proof); the
// session keeps only the wallet's random token, so that nothing in the
// session bucket tells anything about the PIN, whatever key one also holds.
func choosePIN(purpose wallet.PendingPurpose, confirm string) func(*turn, string) {
	return func(t *turn, pin string) {
		if !t.pinOK(pin) {
			t.show(t.line("ussd.invalid.pin_format"))
			return
		}
		if wallet.CheckPIN(pin, t.e.cfg.PINLength) != nil {
			t.show(t.line("ussd.invalid.pin_weak"))
			return
		}
		n := wallet.NewPIN{Phone: t.st.Phone, PIN: pin, Purpose: purpose}
		switch purpose {
		case wallet.PendingRegister:
			n.Name, n.Language = t.val("first")+" "+t.val("last"), t.st.Lang
		default:
			n.Proof = t.st.Proof // none for a self-registered account's first PIN
		}
		ctx, cancel := t.wallet()
		defer cancel()
		token, err := t.e.cfg.Wallet.PendPIN(ctx, n)
		if err != nil {
			t.refused(err, "", nil)
			return
		}
		t.st.Pending = token
		t.enter(confirm)
	}
}

// confirmPIN takes the new PIN typed again: the wallet compares it with
// the one it keeps and sets it (opening the account first for a
// registration). A different PIN, or a choice the wallet no longer has (it
// expired, or the state is from a version that kept no token), goes back to
// choose, as "PINs do not match"; the token is used up either way. A
// confirmation that is no PIN at all does not go to the wallet: the record
// there expires unused.
func confirmPIN(choose string, done func(*turn) Screen) func(*turn, string) {
	return func(t *turn, pin string) {
		token := t.st.Pending
		t.st.Pending = ""
		if token == "" || !t.pinOK(pin) {
			t.back(choose, t.line("ussd.invalid.pin_mismatch"))
			return
		}
		ctx, cancel := t.wallet()
		defer cancel()
		_, err := t.e.cfg.Wallet.ConfirmPIN(ctx, t.st.Phone, token, pin)
		switch {
		case wallet.ErrorCode(err) == wallet.CodePINMismatch:
			t.back(choose, t.line("ussd.invalid.pin_mismatch"))
		case err != nil:
			t.refused(err, "", nil)
		default:
			t.finish(done(t))
		}
	}
}

// The screens of a new PIN set: a registration's, a first PIN's, a
// change's.
func registered(t *turn) Screen {
	return t.endScreen("ussd.register.done", map[string]any{"Name": screenName(t.val("first") + " " + t.val("last"))})
}
func pinSet(t *turn) Screen     { return t.endScreen("ussd.pin.set", nil) }
func pinChanged(t *turn) Screen { return t.endScreen("ussd.pin.changed", nil) }

// startKeyData is the start key screen's data: the account's name and the
// key's length.
func startKeyData(t *turn) map[string]any {
	return map[string]any{"Name": t.st.Name, "Digits": wallet.StartKeyDigits}
}

// startKey checks the start key of an account opened or reset by an
// operator and keeps the wallet's proof of it (never the key), which
// stands in for the key when the new PIN is set two screens later. A wrong
// key asks again with the tries left; it counts toward the PIN lockout.
func startKey(t *turn, key string) {
	if !digitsOnly(key) || len(key) != wallet.StartKeyDigits {
		t.show(t.text("ussd.invalid.start_key_format", map[string]any{"Digits": wallet.StartKeyDigits}))
		return
	}
	ctx, cancel := t.wallet()
	defer cancel()
	proof, err := t.e.cfg.Wallet.StartKeyProof(ctx, t.st.Phone, key)
	if wallet.ErrorCode(err) == wallet.CodeStartKeyInvalid {
		t.show(t.e.cfg.Locales.RenderError(t.st.Lang, t.e.cfg.Currency, err))
		return
	}
	if err != nil {
		t.refused(err, "", nil)
		return
	}
	t.st.Proof = proof
	t.enter("setup.pin")
}

func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// currentPIN verifies the current PIN of a PIN change and keeps the
// wallet's proof of it, which stands in for the PIN in the change itself.
func currentPIN(t *turn, pin string) {
	if !t.pinOK(pin) {
		t.show(t.line("ussd.invalid.pin_format"))
		return
	}
	ctx, cancel := t.wallet()
	defer cancel()
	proof, err := t.e.cfg.Wallet.PINProof(ctx, t.st.Phone, pin)
	if err != nil {
		t.refused(err, "", nil)
		return
	}
	t.st.Proof = proof
	t.enter("chg.new")
}

func chooseLanguage(t *turn, in string) {
	langs := t.e.cfg.Locales.Languages()
	i, err := strconv.Atoi(in)
	if err != nil || len(in) != 1 || i < 1 || i > len(langs) {
		t.show(t.line("ussd.invalid.choice"))
		return
	}
	lang := langs[i-1]
	if t.st.Kind == kindUnregistered {
		// Kept for this session and for the registration that may follow.
		t.st.Lang = lang
		t.st.Path = t.st.Path[:1]
		t.show("")
		return
	}
	ctx, cancel := t.wallet()
	defer cancel()
	if _, err := t.e.cfg.Wallet.SetLanguage(ctx, t.st.Phone, lang); err != nil {
		t.refused(err, "", nil)
		return
	}
	t.st.Lang = lang
	t.finish(t.endScreen("ussd.language.done", nil))
}

func airtimeFor(t *turn, in string) {
	switch in {
	case "1":
		delete(t.st.Vals, "phone")
		t.enter("air.amount")
	case "2":
		t.enter("air.phone")
	default:
		t.show(t.line("ussd.invalid.choice"))
	}
}

// The money steps.

func send(t *turn, pin string) {
	to := t.val("to")
	t.transfer(wallet.TransferRequest{Kind: wallet.TransferSend, To: to}, pin,
		"error.not_found.recipient", map[string]any{"Phone": to},
		func(r *wallet.TransferResult) Screen {
			return t.endScreen("ussd.send.done", map[string]any{"Ref": r.Transfer.Ref, "Amount": t.moneyVal("amount"),
				"Name": t.val("name"), "Phone": to, "Fee": t.e.money(t.st.Lang, r.Transfer.Fee), "Balance": t.e.money(t.st.Lang, r.Balance)})
		})
}

func withdraw(t *turn, pin string) {
	agent := t.val("agent")
	t.transfer(wallet.TransferRequest{Kind: wallet.TransferWithdraw, To: agent}, pin,
		"error.not_found.agent", map[string]any{"Agent": agent},
		func(r *wallet.TransferResult) Screen {
			return t.endScreen("ussd.withdraw.done", map[string]any{"Ref": r.Transfer.Ref, "Amount": t.moneyVal("amount"),
				"Name": t.val("name"), "Fee": t.e.money(t.st.Lang, r.Transfer.Fee), "Balance": t.e.money(t.st.Lang, r.Balance)})
		})
}

func airtime(t *turn, pin string) {
	t.transfer(wallet.TransferRequest{Kind: wallet.TransferAirtime, To: t.val("phone")}, pin, "", nil,
		func(r *wallet.TransferResult) Screen {
			return t.endScreen("ussd.airtime.done", map[string]any{"Ref": r.Transfer.Ref, "Amount": t.moneyVal("amount"),
				"Phone": t.airtimePhone(), "Balance": t.e.money(t.st.Lang, r.Balance)})
		})
}

func payTill(t *turn, pin string) {
	till := t.val("till")
	t.transfer(wallet.TransferRequest{Kind: wallet.TransferTill, To: till}, pin,
		"error.not_found.till", map[string]any{"Till": till},
		func(r *wallet.TransferResult) Screen {
			return t.endScreen("ussd.pay.goods.done", map[string]any{"Ref": r.Transfer.Ref, "Amount": t.moneyVal("amount"),
				"Name": t.val("name"), "Balance": t.e.money(t.st.Lang, r.Balance)})
		})
}

func payBill(t *turn, pin string) {
	business := t.val("business")
	t.transfer(wallet.TransferRequest{Kind: wallet.TransferPaybill, To: business, Reference: t.val("account")}, pin,
		"error.not_found.business", map[string]any{"Business": business},
		func(r *wallet.TransferResult) Screen {
			return t.endScreen("ussd.pay.bill.done", map[string]any{"Ref": r.Transfer.Ref, "Amount": t.moneyVal("amount"),
				"Name": t.val("name"), "Account": t.val("account"), "Balance": t.e.money(t.st.Lang, r.Balance)})
		})
}

func deposit(t *turn, pin string) {
	to := t.val("to")
	t.transfer(wallet.TransferRequest{Kind: wallet.TransferDeposit, To: to}, pin,
		"error.not_found.recipient", map[string]any{"Phone": to},
		func(r *wallet.TransferResult) Screen {
			return t.endScreen("ussd.agent.deposit.done", map[string]any{"Ref": r.Transfer.Ref, "Amount": t.moneyVal("amount"),
				"Name": t.val("name"), "Phone": to, "Commission": t.e.money(t.st.Lang, r.Transfer.Commission),
				"Balance": t.e.money(t.st.Lang, r.Balance)})
		})
}

// reverse asks for the reversal: the wallet holds the amount on the
// recipient's account, who may object. It moves no money to the sender now,
// so it needs no idempotency key: asking again returns the same request.
func reverse(t *turn, pin string) {
	if !t.pinOK(pin) {
		t.show(t.line("ussd.invalid.pin_format"))
		return
	}
	ref := t.val("ref")
	ctx, cancel := t.wallet()
	defer cancel()
	r, err := t.e.cfg.Wallet.RequestReversal(ctx, t.st.Phone, ref, pin)
	if err != nil {
		t.refused(err, "error.not_found.transaction", map[string]any{"Original": ref})
		return
	}
	data := map[string]any{"Original": ref, "Amount": t.moneyVal("amount"), "Name": t.val("name")}
	if r.State == wallet.ReversalReview {
		t.finish(t.endScreen("ussd.reverse.review", data))
		return
	}
	t.finish(t.endScreen("ussd.reverse.requested", data))
}

// object records the recipient's objection to the reversal of a
// transaction it received; the amount stays held until an operator decides.
func object(t *turn, in string) {
	id, ok := wallet.ParseRef(strings.TrimSpace(in))
	if !ok {
		t.show(t.line("ussd.invalid.ref"))
		return
	}
	ref := wallet.Ref(id)
	ctx, cancel := t.wallet()
	defer cancel()
	if _, err := t.e.cfg.Wallet.ObjectReversal(ctx, t.st.Phone, ref, "ussd"); err != nil {
		t.refused(err, "ussd.reverse.object.none", map[string]any{"Original": ref})
		return
	}
	t.finish(t.endScreen("ussd.reverse.objected", map[string]any{"Original": ref}))
}

// transfer makes the money step of a flow: the request (From, Amount, Key
// and PIN filled here) goes to the wallet once per hop. A slow wallet ends
// the session with "we will send you an SMS" and the step is resolved in
// the background with the same key, so it still happens at most once.
func (t *turn) transfer(req wallet.TransferRequest, pin, notFound string, data map[string]any, done func(*wallet.TransferResult) Screen) {
	if !t.pinOK(pin) {
		t.show(t.line("ussd.invalid.pin_format"))
		return
	}
	req.Key = idempotencyKey(t.scope(), t.st.Hops)
	req.From = t.st.Phone
	if req.Kind != wallet.TransferReversal {
		req.Amount = t.amount()
	}
	req.PIN = pin
	// The background retry (resolve) carries the hop's PIN source and attempt.
	at := wallet.PINAttemptFrom(t.ctx)
	req.Source, req.Attempt = at.Source, at.Key
	ctx, cancel := t.wallet()
	defer cancel()
	r, err := t.e.cfg.Wallet.Transfer(ctx, req)
	switch {
	case err == nil:
		t.finish(done(r))
	case wallet.ErrorCode(err) == wallet.CodeUnavailable:
		t.finish(t.endScreen("ussd.pending", nil))
		t.e.resolve(req, t.st.Lang)
	default:
		t.refused(err, notFound, data)
	}
}

// resolve retries a pending money step with its key until the wallet
// answers, then reports the outcome.
func (e *Engine) resolve(req wallet.TransferRequest, lang string) {
	e.pending.Add(1)
	go func() {
		defer e.pending.Done()
		e.witness(req.Key, req.From)
		ctx, cancel := context.WithTimeout(e.stopCtx, resolveTimeout)
		defer cancel()
		var r *wallet.TransferResult
		var err error
		for {
			r, err = e.cfg.Wallet.Transfer(ctx, req)
			if wallet.ErrorCode(err) != wallet.CodeUnavailable {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(resolveInterval):
				continue
			}
			break
		}
		req.PIN = ""
		log := e.log.With("key", req.Key, "kind", req.Kind)
		switch {
		case err == nil:
			log.Info("pending ussd transfer completed", "ref", r.Transfer.Ref)
		case wallet.ErrorCode(err) == wallet.CodeUnavailable:
			log.Error("pending ussd transfer unresolved: the wallet did not answer; an operator must check the key", "err", err)
		default:
			log.Info("pending ussd transfer refused", "code", wallet.ErrorCode(err))
		}
		if e.cfg.Resolved != nil {
			e.cfg.Resolved(Resolution{Phone: req.From, Language: lang, Key: req.Key, Request: req, Result: r, Err: err})
		}
	}()
}

// The reads behind a PIN.

func balance(done string) func(*turn, string) {
	return func(t *turn, pin string) {
		if !t.pinOK(pin) {
			t.show(t.line("ussd.invalid.pin_format"))
			return
		}
		ctx, cancel := t.wallet()
		defer cancel()
		a, err := t.e.cfg.Wallet.Balance(ctx, t.st.Phone, pin)
		if err != nil {
			t.refused(err, "", nil)
			return
		}
		t.finish(t.endScreen(done, map[string]any{"Balance": t.e.money(t.st.Lang, a.Balance)}))
	}
}

func statement(t *turn, pin string) {
	if !t.pinOK(pin) {
		t.show(t.line("ussd.invalid.pin_format"))
		return
	}
	ctx, cancel := t.wallet()
	defer cancel()
	s, err := t.e.cfg.Wallet.Statement(ctx, wallet.StatementQuery{Phone: t.st.Phone, PIN: pin, Limit: statementLines})
	if err != nil {
		t.refused(err, "", nil)
		return
	}
	t.finish(Screen{Text: t.e.statementText(t.st.Lang, s.Lines), End: true})
}

func commission(t *turn, pin string) {
	if !t.pinOK(pin) {
		t.show(t.line("ussd.invalid.pin_format"))
		return
	}
	ctx, cancel := t.wallet()
	defer cancel()
	r, err := t.e.cfg.Wallet.Earnings(ctx, t.st.Phone, pin)
	if err != nil {
		t.refused(err, "", nil)
		return
	}
	t.finish(t.endScreen("ussd.agent.commission", map[string]any{
		"Today": t.e.money(t.st.Lang, r.Today), "Month": t.e.money(t.st.Lang, r.Month)}))
}
