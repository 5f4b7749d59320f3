package sessions

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
)

// Input limits.
const (
	// numberDigitsMax bounds an agent, till or business number: the
	// wallet's are 6 digits; a longer input is a typo, not a lookup.
	numberDigitsMax = 10
	// namePartCharsMax bounds a first or last name at registration, so the
	// whole name fits locales.NameCharsMax on the screens that show it.
	namePartCharsMax = 14
)

// Reads: each checks one input and keeps it in the session's values.

func readPhone(field string) func(*turn, string) string {
	return func(t *turn, in string) string {
		p, err := wallet.NormalizePhone(in, t.e.cfg.Region)
		if err != nil {
			return "ussd.invalid.phone"
		}
		t.set(field, p)
		return ""
	}
}

func readAmount(t *turn, in string) string {
	v, err := t.e.cfg.Currency.ParseAmount(in)
	if err != nil {
		return "ussd.invalid.amount"
	}
	t.set("amount", strconv.FormatInt(v, 10))
	return ""
}

func readNumber(field string) func(*turn, string) string {
	return func(t *turn, in string) string {
		if in == "" || len(in) > numberDigitsMax || strings.Trim(in, "0123456789") != "" {
			return "ussd.invalid.number"
		}
		t.set(field, in)
		return ""
	}
}

func readAccount(t *turn, in string) string {
	in = strings.TrimSpace(in)
	// Septets, not characters: € [ ] { } ~ ^ \ | take two each.
	if n, ok := locales.Septets(in); in == "" || !ok || n > locales.AccountCharsMax || strings.ContainsAny(in, "\n\r\f") {
		return "ussd.invalid.account"
	}
	t.set("account", in)
	return ""
}

func readName(field string) func(*turn, string) string {
	return func(t *turn, in string) string {
		name := strings.Join(strings.Fields(locales.ToGSM7(in)), " ")
		letters := 0
		for _, r := range name {
			switch {
			case unicode.IsLetter(r):
				letters++
			case r == ' ' || r == '-' || r == '\'' || r == '.':
			default:
				return "ussd.invalid.name"
			}
		}
		if letters == 0 || len([]rune(name)) > namePartCharsMax {
			return "ussd.invalid.name"
		}
		t.set(field, name)
		return ""
	}
}

func readRef(t *turn, in string) string {
	id, ok := wallet.ParseRef(strings.TrimSpace(in))
	if !ok {
		return "ussd.invalid.ref"
	}
	t.set("ref", wallet.Ref(id))
	return ""
}

// Screen data.

func digits(t *turn) map[string]any { return map[string]any{"Digits": t.e.cfg.PINLength} }

func nameDigits(t *turn) map[string]any {
	return map[string]any{"Name": t.st.Name, "Digits": t.e.cfg.PINLength}
}

func currency(t *turn) map[string]any { return map[string]any{"Currency": t.e.cfg.Currency.Code} }

// moneyVal formats a value kept in minor units.
func (t *turn) moneyVal(k string) string {
	v, _ := strconv.ParseInt(t.val(k), 10, 64)
	return t.e.money(t.st.Lang, v)
}

func (t *turn) amount() int64 {
	v, _ := strconv.ParseInt(t.val("amount"), 10, 64)
	return v
}

// confirmData is every confirmation's data; each message uses its part.
func confirmData(t *turn) map[string]any {
	return map[string]any{
		"Amount": t.moneyVal("amount"), "Fee": t.moneyVal("fee"), "Name": t.val("name"),
		"Phone": t.val("to"), "Agent": t.val("agent"), "Till": t.val("till"), "Account": t.val("account"),
	}
}

func airtimeData(t *turn) map[string]any {
	return map[string]any{"Amount": t.moneyVal("amount"), "Phone": t.airtimePhone()}
}

func (t *turn) airtimePhone() string {
	if p := t.val("phone"); p != "" {
		return p
	}
	return t.st.Phone
}

func reversalData(t *turn) map[string]any {
	return map[string]any{"Original": t.val("ref"), "Amount": t.moneyVal("amount"), "Name": t.val("name"), "Date": t.val("date")}
}

// Enter hooks: the lookups a confirmation shows.

// lookupCustomer finds the customer at "to" and, for a send, the fee.
func lookupCustomer(send bool) func(*turn) *Screen {
	return func(t *turn) *Screen {
		ctx, cancel := t.wallet()
		defer cancel()
		to := t.val("to")
		p, err := t.e.cfg.Wallet.Lookup(ctx, to)
		if err == nil && p.Kind != wallet.KindCustomer {
			err = wallet.Errorf(wallet.CodeNotFound, "not a customer")
		}
		if err != nil {
			return t.lookupFailed(err, "error.not_found.recipient", map[string]any{"Phone": to})
		}
		t.set("name", screenName(p.Name))
		if send {
			return t.quote(wallet.TransferSend)
		}
		return nil
	}
}

func lookupAgent(t *turn) *Screen {
	ctx, cancel := t.wallet()
	defer cancel()
	agent := t.val("agent")
	p, err := t.e.cfg.Wallet.Lookup(ctx, agent)
	if err == nil && (p.Kind != wallet.KindAgent || p.Number != agent) {
		err = wallet.Errorf(wallet.CodeNotFound, "not an agent number")
	}
	if err != nil {
		return t.lookupFailed(err, "error.not_found.agent", map[string]any{"Agent": agent})
	}
	t.set("name", screenName(p.Name))
	return t.quote(wallet.TransferWithdraw)
}

// lookupMerchant finds the till or business number kept under field.
func lookupMerchant(field string) func(*turn) *Screen {
	kind, notFound, dataKey := wallet.KindTill, "error.not_found.till", "Till"
	if field == "business" {
		kind, notFound, dataKey = wallet.KindPaybill, "error.not_found.business", "Business"
	}
	return func(t *turn) *Screen {
		ctx, cancel := t.wallet()
		defer cancel()
		number := t.val(field)
		p, err := t.e.cfg.Wallet.Lookup(ctx, number)
		if err == nil && (p.Kind != kind || p.Number != number) {
			err = wallet.Errorf(wallet.CodeNotFound, "not a %s number", kind)
		}
		if err != nil {
			return t.lookupFailed(err, notFound, map[string]any{dataKey: number})
		}
		t.set("name", screenName(p.Name))
		return nil
	}
}

func lookupTransfer(t *turn) *Screen {
	ctx, cancel := t.wallet()
	defer cancel()
	ref := t.val("ref")
	info, err := t.e.cfg.Wallet.TransferInfo(ctx, t.st.Phone, ref)
	if err != nil {
		return t.lookupFailed(err, "error.not_found.transaction", map[string]any{"Original": ref})
	}
	if info.Kind == wallet.TransferTill || info.Kind == wallet.TransferPaybill {
		// A business's payment is refunded by the business, never reversed.
		s := t.endScreen("ussd.reverse.merchant", map[string]any{"Name": screenName(info.Name)})
		return &s
	}
	if !info.Reversible {
		s := t.endScreen("error.not_reversible", nil)
		return &s
	}
	t.set("amount", strconv.FormatInt(info.Amount, 10))
	t.set("name", screenName(info.Name))
	t.set("date", info.Created.In(t.e.cfg.Location).Format("02/01"))
	return nil
}

// quote keeps the fee of the amount entered.
func (t *turn) quote(kind wallet.TransferKind) *Screen {
	ctx, cancel := t.wallet()
	defer cancel()
	q, err := t.e.cfg.Wallet.Quote(ctx, kind, t.amount())
	if err != nil {
		return t.lookupFailed(err, "", nil)
	}
	t.set("fee", strconv.FormatInt(q.Fee, 10))
	return nil
}

func (t *turn) lookupFailed(err error, notFound string, data map[string]any) *Screen {
	if notFound != "" && wallet.ErrorCode(err) == wallet.CodeNotFound {
		s := t.endScreen(notFound, data)
		return &s
	}
	if wallet.ErrorCode(err) == wallet.CodeInternal {
		t.e.log.Error("wallet call failed", "node", t.st.node(), "err", err)
	}
	s := t.refusal(err)
	return &s
}
