package notify

import (
	"strconv"
	"strings"
	"time"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
)

// Receipt is the SMS one party of a transfer gets.
type Receipt struct {
	Key      string // unique per transfer and party: "<transfer id>:<account id>", the dedup key
	Transfer int64  // the transfer's id
	Account  int64  // the id of the party's account
	To       string // the party's phone, E.164
	Language string // the party's language, a locales code (en when it has none or one not supported)
	Text     string
	Encoding string // locales.GSM7 or locales.UCS2, as locales.Segments says
	Parts    int    // SMS parts the text takes
}

// side is which account of a transfer a role is: the one debited the
// principal (source) or the one credited it (target).
type side int

const (
	source side = iota + 1
	target
)

// role is one party's receipt for a kind of transfer: the message
// sms.receipt.<kind>.<name> and the template data it takes beyond Ref,
// Amount, Date, Time and Balance, which every receipt has.
type role struct {
	name string
	self side // the party that gets it; the other side is its counterparty
	// show is how the counterparty appears: its Name and its Number under
	// this key ("Phone" or "Number"), or nothing when "".
	show       string
	fee        bool // Fee: Transfer.Fee, which this party paid
	commission bool // Commission: Transfer.Commission, which this party (an agent) earned
	account    bool // Account: Transfer.Reference (a pay-bill account, a float's bank reference)
	topUp      bool // Phone: Transfer.Reference, the phone an airtime purchase topped up
	original   bool // Original: Transfer.Reference, the Ref of the transfer a reversal negates
}

// roles lists, per transfer kind, the parties that get a receipt, in the
// order Receipts returns them. A customer counterparty's Number is its E.164
// phone; an agent's, till's or business's is its 6-digit number.
var roles = map[wallet.TransferKind][]role{
	wallet.TransferSend: {
		{name: "sender", self: source, show: "Phone", fee: true},
		{name: "recipient", self: target, show: "Phone"},
	},
	wallet.TransferDeposit: {
		{name: "agent", self: source, show: "Phone", commission: true},
		{name: "customer", self: target, show: "Number"},
	},
	wallet.TransferWithdraw: {
		{name: "customer", self: source, show: "Number", fee: true},
		{name: "agent", self: target, show: "Phone", commission: true},
	},
	wallet.TransferTill: {
		{name: "payer", self: source, show: "Number"},
		{name: "merchant", self: target, show: "Phone", fee: true},
	},
	wallet.TransferPaybill: {
		{name: "payer", self: source, show: "Number", account: true},
		{name: "business", self: target, show: "Phone", account: true, fee: true},
	},
	wallet.TransferAirtime: {
		{name: "buyer", self: source, topUp: true, fee: true},
	},
	wallet.TransferFloat: {
		{name: "agent", self: target, account: true},
	},
	// A reversal runs from the original's target back to its source.
	wallet.TransferReversal: {
		{name: "sender", self: target, show: "Phone", original: true},
		{name: "recipient", self: source, show: "Phone", original: true},
	},
}

// Handles reports whether Receipts knows transfer kind: for a kind it does
// not (one a newer wallet added), Receipts returns none, and the caller
// should leave the event for a notifier that does rather than drop it.
func Handles(kind wallet.TransferKind) bool {
	_, ok := roles[kind]
	return ok
}

// Receipts returns the receipts of ev, one per party with a phone that the
// transfer's kind gives a receipt, in the order of the kind's roles (see
// the package doc): at most two, with distinct keys. Money is formatted in
// cur, the date and time are Transfer.Created in loc (nil: UTC).
//
// It is a pure function of its arguments, so a redelivered event gives the
// same receipts. A kind Handles does not know gives none. An event the
// wallet cannot produce (a party or its posting missing, source and target
// the same account) gives receipts only to the parties it fully describes.
// It panics if cat lacks the message of a known kind and role, a bug that
// the tests of both packages catch.
func Receipts(cat *locales.Catalog, cur wallet.Currency, loc *time.Location, ev wallet.Event) []Receipt {
	t := ev.Transfer
	rs := roles[t.Kind]
	if len(rs) == 0 {
		return nil
	}
	if loc == nil {
		loc = time.UTC
	}
	parties := make(map[int64]wallet.Party, len(ev.Parties))
	for _, p := range ev.Parties {
		parties[p.ID] = p
	}
	created := t.Created.In(loc)
	var out []Receipt
	for _, r := range rs {
		self, other := t.Source, t.Target
		if r.self == target {
			self, other = other, self
		}
		p, ok := parties[self]
		if !ok || p.Kind == wallet.KindSystem || p.Phone == "" {
			continue
		}
		balance, ok := balanceAfter(t.Postings, self)
		if !ok {
			continue
		}
		key := strconv.FormatInt(t.ID, 10) + ":" + strconv.FormatInt(self, 10)
		if receiptFor(out, key) {
			continue
		}
		lang := locales.Match(p.Language)
		money := func(minor int64) string { return locales.FormatMoney(lang, cur, minor) }
		data := map[string]any{
			"Ref":     t.Ref,
			"Amount":  money(t.Amount),
			"Balance": money(balance),
			"Date":    created.Format("02/01/06"),
			"Time":    created.Format("15:04"),
		}
		if r.show != "" {
			cp, ok := parties[other]
			if !ok || other == self {
				continue
			}
			data["Name"] = smsText(cp.Name, locales.MaxNameChars)
			data[r.show] = cp.Number
		}
		if r.fee {
			data["Fee"] = money(t.Fee)
		}
		if r.commission {
			data["Commission"] = money(t.Commission)
		}
		if r.account {
			data["Account"] = smsText(t.Reference, locales.MaxAccountChars)
		}
		if r.topUp {
			data["Phone"] = smsText(t.Reference, maxPhoneChars)
		}
		if r.original {
			data["Original"] = original(t)
		}
		text := cat.Render(lang, "sms.receipt."+string(t.Kind)+"."+r.name, data)
		enc, parts := locales.Segments(text)
		out = append(out, Receipt{Key: key, Transfer: t.ID, Account: self, To: p.Phone, Language: lang,
			Text: text, Encoding: enc, Parts: parts})
	}
	return out
}

// maxPhoneChars bounds a phone taken from a transfer's reference (the phone
// an airtime purchase topped up): E.164 allows 15 digits after the "+". The
// wallet stores it normalised, so this only bounds a malformed event.
const maxPhoneChars = 16

// balanceAfter is account's balance after the transfer: the BalanceAfter of
// its last posting, since a fee or commission leg follows the principal.
func balanceAfter(ps []wallet.Posting, account int64) (int64, bool) {
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i].AccountID == account {
			return ps[i].BalanceAfter, true
		}
	}
	return 0, false
}

func receiptFor(rs []Receipt, key string) bool {
	for _, r := range rs {
		if r.Key == key {
			return true
		}
	}
	return false
}

// original is the Ref of the transfer reversal t negates: the wallet sets a
// reversal's Reference to it, and Ref(Reverses) is the same id.
func original(t wallet.Transfer) string {
	if t.Reference == "" && t.Reverses != 0 {
		return wallet.Ref(t.Reverses)
	}
	return smsText(t.Reference, locales.MaxAccountChars)
}

// smsText is s as a receipt shows it: GSM-7 (locales.ToGSM7), since one
// character outside it makes the whole SMS UCS-2 and halves what fits, and
// at most maxSeptets septets (€ [ ] { } ~ ^ \ | take two each), the bound
// the receipts' sizes are tested with.
func smsText(s string, maxSeptets int) string {
	var b strings.Builder
	n := 0
	for _, r := range locales.ToGSM7(strings.TrimSpace(s)) {
		w, _ := locales.Septets(string(r))
		if n+w > maxSeptets {
			break
		}
		n += w
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}
