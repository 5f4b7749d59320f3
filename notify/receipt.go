package notify

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
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
	// requester is the sender of a transfer whose reversal was asked: a
	// party of a reversal request's hold and release without a posting in
	// them (the wallet adds it to their events).
	requester
)

// role is one party's receipt for a kind of transfer: the message
// sms.receipt.<kind>.<name> and the template data it takes beyond Ref,
// Amount, Date, Time and Balance, which every receipt has.
type role struct {
	name string
	self side // the party that gets it; the other side is its counterparty
	// show is how the counterparty appears: its Name and its Number under
	// this key ("Phone" or "Number"), or nothing when "".
	show string
	// named shows the counterparty by its Name alone: a merchant, to the
	// customer it paid or refunded or whose tab it settled.
	named      bool
	fee        bool // Fee: Transfer.Fee, which this party paid
	commission bool // Commission: Transfer.Commission, which this party (an agent) earned
	account    bool // Account: Transfer.Reference (a pay-bill account, a float's bank reference)
	topUp      bool // Phone: Transfer.Reference, the phone an airtime purchase topped up
	original   bool // Original: Transfer.Reference, the Ref of the transfer a reversal negates or a refund gives back
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
	// The merchant kinds: the customer gets a receipt, the merchant a
	// webhook (webhook_events.go). The merchant pays any fee: none shown.
	wallet.TransferPayout: {
		{name: "customer", self: target, named: true},
	},
	wallet.TransferRefund: {
		{name: "customer", self: target, named: true, original: true},
	},
	// A settlement's source is the customer of a postpaid tab, or the tabs
	// system account for a prepaid one, which gets nothing (the customer
	// had the hold's receipt). Its payees share the target's side.
	wallet.TransferSettle: {
		{name: "payer", self: source, named: true},
	},
	wallet.TransferHold: {
		{name: "customer", self: source},
	},
	// A reversal request's hold (recipient → reversals) and release
	// (reversals → recipient): the recipient and the requester each see
	// the other; the requester has no posting, so no balance.
	wallet.TransferReversalHold: {
		{name: "recipient", self: source, show: "Phone", original: true},
		{name: "sender", self: requester, show: "Phone", original: true},
	},
	wallet.TransferReversalRelease: {
		{name: "recipient", self: target, show: "Phone", original: true},
		{name: "sender", self: requester, show: "Phone", original: true},
	},
	wallet.TransferRelease: {
		{name: "customer", self: target},
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
		if t.Kind == wallet.TransferReversalHold || t.Kind == wallet.TransferReversalRelease {
			// The customer's side faces the requester, not the hold account.
			customer, asked := t.Source, requesterOf(t, ev.Parties)
			if t.Kind == wallet.TransferReversalRelease {
				customer = t.Target
			}
			self, other = customer, asked
			if r.self == requester {
				self, other = asked, customer
			}
		}
		p, ok := parties[self]
		if !ok || p.Kind == wallet.KindSystem || p.Phone == "" {
			continue
		}
		balance, ok := balanceAfter(t.Postings, self)
		if !ok && r.self != requester {
			continue
		}
		key := ReceiptKey(t.ID, self)
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
		if r.show != "" || r.named {
			cp, ok := counterparty(t, parties, self, other)
			if !ok {
				continue
			}
			data["Name"] = smsText(cp.Name, locales.NameCharsMax)
			if r.show != "" {
				data[r.show] = cp.Number
			}
		}
		if r.fee {
			data["Fee"] = money(t.Fee)
		}
		if r.commission {
			data["Commission"] = money(t.Commission)
		}
		if r.account {
			data["Account"] = smsText(t.Reference, locales.AccountCharsMax)
		}
		if r.topUp {
			data["Phone"] = smsText(t.Reference, phoneCharsMax)
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

// ReceiptKey is the key of the receipt of transfer to account (Receipt.Key):
// the notifier records it once, and the back-office finds it by it.
func ReceiptKey(transfer, account int64) string {
	return strconv.FormatInt(transfer, 10) + ":" + strconv.FormatInt(account, 10)
}

// requesterOf is the party of a reversal request's hold or release that is
// neither its source nor its target: the original's sender; 0 if none.
func requesterOf(t wallet.Transfer, parties []wallet.Party) int64 {
	for _, p := range parties {
		if p.ID != t.Source && p.ID != t.Target {
			return p.ID
		}
	}
	return 0
}

// phoneCharsMax bounds a phone taken from a transfer's reference (the phone
// an airtime purchase topped up): E.164 allows 15 digits after the "+". The
// wallet stores it normalised, so this only bounds a malformed event.
const phoneCharsMax = 16

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

// counterparty is the party a receipt to self names: other, the transfer's
// other side. A settlement split among merchants may leave its target
// without a posting (the tab's merchant gave its whole share away), and so
// out of the event's parties: it then names the payee credited the most.
func counterparty(t wallet.Transfer, parties map[int64]wallet.Party, self, other int64) (wallet.Party, bool) {
	if other == self {
		return wallet.Party{}, false
	}
	if p, ok := parties[other]; ok {
		return p, true
	}
	if t.Kind != wallet.TransferSettle {
		return wallet.Party{}, false
	}
	var best wallet.Party
	var most int64
	for id, amount := range principalCredits(t) {
		if p, ok := parties[id]; ok && id != self && (amount > most || amount == most && id < best.ID) {
			best, most = p, amount
		}
	}
	return best, most > 0
}

// principalCredits is what each account was credited principal in t.
func principalCredits(t wallet.Transfer) map[int64]int64 {
	credits := map[int64]int64{}
	for _, q := range t.Postings {
		if q.Leg == wallet.LegPrincipal && q.Amount > 0 {
			credits[q.AccountID] += q.Amount
		}
	}
	return credits
}

// original is the Ref of the transfer reversal t negates, or refund t gives
// back (part of): the wallet sets Reverses (Refunds) to its id, and the
// Reference to its Ref.
func original(t wallet.Transfer) string {
	switch {
	case t.Kind == wallet.TransferRefund && t.Refunds != 0:
		return wallet.Ref(t.Refunds)
	case t.Reference == "" && t.Reverses != 0:
		return wallet.Ref(t.Reverses)
	}
	return smsText(t.Reference, locales.AccountCharsMax)
}

// smsText is s as a receipt shows it: GSM-7 (locales.ToGSM7), since one
// character outside it makes the whole SMS UCS-2 and halves what fits, and
// at most septetsMax septets (€ [ ] { } ~ ^ \ | take two each), the bound
// the receipts' sizes are tested with.
func smsText(s string, septetsMax int) string {
	var b strings.Builder
	n := 0
	for _, r := range locales.ToGSM7(strings.TrimSpace(s)) {
		w, _ := locales.Septets(string(r))
		if n+w > septetsMax {
			break
		}
		n += w
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// Prompt returns the SMS that asks a customer to approve what a merchant
// event proposes: a payment request (payment_request.created) or a tab
// (tab.created), to OutboxEvent.Phone in OutboxEvent.Language, keyed
// "prompt:<event id>" so that a redelivered event sends it once. It words
// the merchant's name, the amount (a tab's cap rounded up to whole minor
// units), a request's reference, the expiry (HH:MM in loc, with the date
// when it ends on another day than it was made) and code, the USSD code to
// dial for the Approvals menu. It returns nil for any other event type, and
// an error for a prompting event it cannot word (no phone, an unreadable
// object, a non-positive amount): the caller drops the prompt, not the
// event.
func Prompt(cat *locales.Catalog, cur wallet.Currency, loc *time.Location, code string, ev merchant.OutboxEvent) (*Outgoing, error) {
	if loc == nil {
		loc = time.UTC
	}
	var id, name string
	var amount int64
	var created, expires time.Time
	data := map[string]any{}
	switch ev.Type {
	case merchant.EventRequestCreated:
		var pr merchant.PaymentRequest
		if err := json.Unmarshal(ev.Data, &pr); err != nil {
			return nil, fmt.Errorf("prompt %s: %w", ev.ID, err)
		}
		id, name, amount, created, expires = "sms.prompt.payment_request", pr.MerchantName, pr.Amount, pr.Created, pr.Expires
		data["Reference"] = smsText(pr.Reference, locales.AccountCharsMax)
	case merchant.EventTabCreated:
		var tab merchant.Tab
		if err := json.Unmarshal(ev.Data, &tab); err != nil {
			return nil, fmt.Errorf("prompt %s: %w", ev.ID, err)
		}
		id, name, created, expires = "sms.prompt.tab.postpaid", tab.MerchantName, tab.Created, tab.Expires
		if tab.Prepaid {
			id = "sms.prompt.tab.prepaid"
		}
		if tab.Cap > 0 {
			var rest wallet.Micro
			if amount, rest = cur.Whole(tab.Cap); rest > 0 {
				amount++
			}
		}
	default:
		return nil, nil
	}
	if amount <= 0 {
		return nil, fmt.Errorf("prompt %s: amount %d", ev.ID, amount)
	}
	if name == "" {
		name = ev.Merchant
	}
	lang := locales.Match(ev.Language)
	data["Name"] = smsText(name, locales.NameCharsMax)
	data["Amount"] = locales.FormatMoney(lang, cur, amount)
	data["Code"] = smsText(code, ServiceCodeCharsMax)
	data["Expires"] = expiry(created.In(loc), expires.In(loc))
	out := Outgoing{Key: "prompt:" + ev.ID, Kind: KindMessage, To: ev.Phone, Language: lang,
		Text: cat.Render(lang, id, data)}
	if err := out.Validate(); err != nil {
		return nil, err
	}
	return &out, nil
}

// ServiceCodeCharsMax bounds the USSD code a prompt names, as the sessions' service
// code is bounded.
const ServiceCodeCharsMax = 12

// expiry is when a request or tab made at created ends, as its prompt says
// it: the time alone on the same day, else the date too.
func expiry(created, expires time.Time) string {
	if created.Format("20060102") == expires.Format("20060102") {
		return expires.Format("15:04")
	}
	return expires.Format("02/01/06 15:04")
}
