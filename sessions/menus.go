package sessions

// The menus, declared as data: each node is a screen (a message id and the
// data it shows) and what its input does: pick a choice, fill a value, or,
// for a PIN, make the wallet call that ends the flow. The numbering of the
// choices is part of the product: keep it stable.

import "github.com/kibubu/kibubu/wallet"

// The menus' roots, by who dials.
const (
	kindUnregistered = "unregistered"
	kindCustomer     = "customer"
	kindAgent        = "agent"
	kindSetup        = "setup"    // a self-registered account without a PIN
	kindStartKey     = "startkey" // an account without a PIN whose first PIN needs the start key (opened or reset by an operator)

	rootUnregistered = "unreg"
)

var roots = map[string]string{
	kindUnregistered: rootUnregistered,
	kindCustomer:     "main",
	kindAgent:        "agent",
	kindSetup:        "setup.pin",
	kindStartKey:     "setup.key",
}

// Navigation inputs, the common conventions.
const (
	navBack = "0"
	navHome = "00"
	navMore = "98"
)

// cancel, as a choice's target, ends the session with "Cancelled".
const cancel = "cancel"

// node is one screen of a menu. Exactly one of choices, read and act is set,
// and one of prompt and text.
type node struct {
	prompt string                     // the screen's message id
	data   func(*turn) map[string]any // its template data; nil for none
	nav    bool                       // offers 0 Back and 00 Home
	// text, when set, renders the screen in place of prompt and data: a
	// list made of several messages, or a screen whose message depends on
	// what the session keeps. It must not call the wallet.
	text func(*turn) string

	// choices maps a menu's inputs to the next node (or cancel).
	choices map[string]string
	// read checks and keeps an input, returning "" or the message id of
	// the re-prompt line; then the session goes to next.
	read func(t *turn, input string) (invalid string)
	next string
	// act handles the input itself (a PIN, whose wallet call ends the
	// flow; a language choice). It must show, enter or finish.
	act func(t *turn, input string)
	// enter runs when the session arrives at this node, before its screen:
	// the lookups a confirmation shows. A non-nil Screen ends the session.
	enter func(t *turn) *Screen
}

var nodes map[string]*node

func init() {
	nodes = map[string]*node{
		// Unregistered phone.
		rootUnregistered: {prompt: "ussd.main.unregistered", choices: map[string]string{"1": "reg.first", "2": "lang"}},
		"reg.first":      {prompt: "ussd.register.first_name", nav: true, read: readName("first"), next: "reg.last"},
		"reg.last":       {prompt: "ussd.register.last_name", nav: true, read: readName("last"), next: "reg.pin"},
		"reg.pin":        {prompt: "ussd.pin.new", data: digits, nav: true, act: choosePIN(wallet.PendingRegister, "reg.confirm")},
		"reg.confirm":    {prompt: "ussd.pin.confirm", nav: true, act: confirmPIN("reg.pin", registered)},
		"lang":           {prompt: "ussd.language.menu", nav: true, act: chooseLanguage},

		// An account's first dial without a PIN: the start key first when
		// an operator opened or reset it, then the new PIN twice.
		"setup.key":     {prompt: "ussd.pin.start_key", data: startKeyData, act: startKey},
		"setup.pin":     {prompt: "ussd.pin.setup", data: nameDigits, act: choosePIN(wallet.PendingFirstPIN, "setup.confirm")},
		"setup.confirm": {prompt: "ussd.pin.confirm", nav: true, act: confirmPIN("setup.pin", pinSet)},

		// Registered customer.
		"main": {prompt: "ussd.main.customer", choices: map[string]string{
			"1": "send.to", "2": "wd.agent", "3": "air", "4": "pay", "5": "acct", "6": "appr"}},

		"send.to":      {prompt: "ussd.send.recipient", nav: true, read: readPhone("to"), next: "send.amount"},
		"send.amount":  {prompt: "ussd.send.amount", data: currency, nav: true, read: readAmount, next: "send.confirm"},
		"send.confirm": {prompt: "ussd.send.confirm", data: confirmData, nav: true, enter: lookupCustomer(true), choices: confirm("send.pin")},
		"send.pin":     {prompt: "ussd.pin.enter", nav: true, act: send},

		"wd.agent":   {prompt: "ussd.withdraw.agent", nav: true, read: readNumber("agent"), next: "wd.amount"},
		"wd.amount":  {prompt: "ussd.withdraw.amount", data: currency, nav: true, read: readAmount, next: "wd.confirm"},
		"wd.confirm": {prompt: "ussd.withdraw.confirm", data: confirmData, nav: true, enter: lookupAgent, choices: confirm("wd.pin")},
		"wd.pin":     {prompt: "ussd.pin.enter", nav: true, act: withdraw},

		"air":        {prompt: "ussd.airtime.menu", nav: true, act: airtimeFor},
		"air.phone":  {prompt: "ussd.airtime.phone", nav: true, read: readPhone("phone"), next: "air.amount"},
		"air.amount": {prompt: "ussd.airtime.amount", data: currency, nav: true, read: readAmount, next: "air.pin"},
		"air.pin":    {prompt: "ussd.airtime.pin", data: airtimeData, nav: true, act: airtime},

		"pay":          {prompt: "ussd.pay.menu", nav: true, choices: map[string]string{"1": "till.number", "2": "bill.number"}},
		"till.number":  {prompt: "ussd.pay.goods.till", nav: true, read: readNumber("till"), next: "till.amount"},
		"till.amount":  {prompt: "ussd.pay.goods.amount", data: currency, nav: true, read: readAmount, next: "till.confirm"},
		"till.confirm": {prompt: "ussd.pay.goods.confirm", data: confirmData, nav: true, enter: lookupMerchant("till"), choices: confirm("till.pin")},
		"till.pin":     {prompt: "ussd.pin.enter", nav: true, act: payTill},
		"bill.number":  {prompt: "ussd.pay.bill.business", nav: true, read: readNumber("business"), next: "bill.account"},
		"bill.account": {prompt: "ussd.pay.bill.account", nav: true, read: readAccount, next: "bill.amount"},
		"bill.amount":  {prompt: "ussd.pay.bill.amount", data: currency, nav: true, read: readAmount, next: "bill.confirm"},
		"bill.confirm": {prompt: "ussd.pay.bill.confirm", data: confirmData, nav: true, enter: lookupMerchant("business"), choices: confirm("bill.pin")},
		"bill.pin":     {prompt: "ussd.pin.enter", nav: true, act: payBill},

		"acct": {prompt: "ussd.account.menu", nav: true, choices: map[string]string{
			"1": "bal.pin", "2": "stmt.pin", "3": "chg.old", "4": "lang", "5": "rev.ref", "6": "obj.ref"}},
		"bal.pin":     {prompt: "ussd.pin.enter", nav: true, act: balance("ussd.account.balance")},
		"stmt.pin":    {prompt: "ussd.pin.enter", nav: true, act: statement},
		"chg.old":     {prompt: "ussd.pin.old", nav: true, act: currentPIN},
		"chg.new":     {prompt: "ussd.pin.new", data: digits, nav: true, act: choosePIN(wallet.PendingChange, "chg.confirm")},
		"chg.confirm": {prompt: "ussd.pin.confirm", nav: true, act: confirmPIN("chg.new", pinChanged)},
		"rev.ref":     {prompt: "ussd.reverse.ref", nav: true, read: readRef, next: "rev.confirm"},
		"rev.confirm": {prompt: "ussd.reverse.confirm", data: reversalData, nav: true, enter: lookupTransfer, choices: confirm("rev.pin")},
		"rev.pin":     {prompt: "ussd.pin.enter", nav: true, act: reverse},
		"obj.ref":     {prompt: "ussd.reverse.object.ref", nav: true, act: object},

		// What waits for the customer's PIN (approvals.go): the list, one
		// approval, its PIN to approve or to decline.
		"appr":         {text: approvalsText, nav: true, enter: listApprovals, act: chooseApproval},
		"appr.item":    {text: approvalText, nav: true, act: answerApproval},
		"appr.pin":     {prompt: "ussd.pin.enter", nav: true, act: approve},
		"appr.decline": {text: declineText, nav: true, act: decline},

		// Agent phone.
		"agent": {prompt: "ussd.main.agent", choices: map[string]string{
			"1": "dep.phone", "2": "float.pin", "3": "stmt.pin", "4": "comm.pin", "5": "chg.old"}},
		"dep.phone":   {prompt: "ussd.agent.deposit.customer", nav: true, read: readPhone("to"), next: "dep.amount"},
		"dep.amount":  {prompt: "ussd.agent.deposit.amount", data: currency, nav: true, read: readAmount, next: "dep.confirm"},
		"dep.confirm": {prompt: "ussd.agent.deposit.confirm", data: confirmData, nav: true, enter: lookupCustomer(false), choices: confirm("dep.pin")},
		"dep.pin":     {prompt: "ussd.pin.enter", nav: true, act: deposit},
		"float.pin":   {prompt: "ussd.pin.enter", nav: true, act: balance("ussd.agent.float")},
		"comm.pin":    {prompt: "ussd.pin.enter", nav: true, act: commission},
	}
}

// confirm is a confirmation's choices: 1 goes on to the PIN, 2 cancels.
func confirm(pin string) map[string]string { return map[string]string{"1": pin, "2": cancel} }
