package locales

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kibubu/kibubu/wallet"
)

// receiptRoles lists, per transfer kind, the parties that get a receipt:
// sms.receipt.<kind>.<role>. TestReceiptKinds keeps it in step with
// wallet/wallet.go.
var receiptRoles = map[wallet.TransferKind][]string{
	wallet.TransferSend:            {"sender", "recipient"},
	wallet.TransferDeposit:         {"customer", "agent"},
	wallet.TransferWithdraw:        {"customer", "agent"},
	wallet.TransferTill:            {"payer", "merchant"},
	wallet.TransferPaybill:         {"payer", "business"},
	wallet.TransferAirtime:         {"buyer"},
	wallet.TransferFloat:           {"agent"},
	wallet.TransferReversal:        {"sender", "recipient"},
	wallet.TransferReversalHold:    {"recipient", "sender"},
	wallet.TransferReversalRelease: {"recipient", "sender"},
	wallet.TransferPayout:          {"customer"},
	wallet.TransferRefund:          {"customer"},
	wallet.TransferSettle:          {"payer"},
	wallet.TransferHold:            {"customer"},
	wallet.TransferRelease:         {"customer"},
}

// smsMessage is the contract of one sms.* message with the code that renders
// it (notify for receipts, the keyword parser in sessions for the rest).
type smsMessage struct {
	kind string   // RCPT, SMS or PART
	vars []string // the template data it takes, sorted
	// parts is the most SMS parts it may take with the longest data
	// (smsWorstData). The customer's receipts for a send, deposit,
	// withdrawal, till payment and airtime fit one, as does every reply but
	// the mini statement, and so do the customer's receipts of the merchant
	// kinds (payout, refund, settle, hold, release); pay-bill payers,
	// reversals and the receipts of agents, merchants and businesses take
	// two, and so do the merchant prompts.
	parts int
}

// smsMessages is every sms.* id with its contract.
var smsMessages = map[string]smsMessage{
	"sms.receipt.send.sender":        {"RCPT", []string{"Amount", "Balance", "Date", "Fee", "Name", "Phone", "Ref", "Time"}, 1},
	"sms.receipt.send.recipient":     {"RCPT", []string{"Amount", "Balance", "Date", "Name", "Phone", "Ref", "Time"}, 1},
	"sms.receipt.deposit.customer":   {"RCPT", []string{"Amount", "Balance", "Date", "Name", "Number", "Ref", "Time"}, 1},
	"sms.receipt.deposit.agent":      {"RCPT", []string{"Amount", "Balance", "Commission", "Date", "Name", "Phone", "Ref", "Time"}, 2},
	"sms.receipt.withdraw.customer":  {"RCPT", []string{"Amount", "Balance", "Date", "Fee", "Name", "Number", "Ref", "Time"}, 1},
	"sms.receipt.withdraw.agent":     {"RCPT", []string{"Amount", "Balance", "Commission", "Date", "Name", "Phone", "Ref", "Time"}, 2},
	"sms.receipt.till.payer":         {"RCPT", []string{"Amount", "Balance", "Date", "Name", "Number", "Ref", "Time"}, 1},
	"sms.receipt.till.merchant":      {"RCPT", []string{"Amount", "Balance", "Date", "Fee", "Name", "Phone", "Ref", "Time"}, 2},
	"sms.receipt.paybill.payer":      {"RCPT", []string{"Account", "Amount", "Balance", "Date", "Name", "Number", "Ref", "Time"}, 2},
	"sms.receipt.paybill.business":   {"RCPT", []string{"Account", "Amount", "Balance", "Date", "Fee", "Name", "Phone", "Ref", "Time"}, 2},
	"sms.receipt.airtime.buyer":      {"RCPT", []string{"Amount", "Balance", "Date", "Fee", "Phone", "Ref", "Time"}, 1},
	"sms.receipt.float.agent":        {"RCPT", []string{"Account", "Amount", "Balance", "Date", "Ref", "Time"}, 2},
	"sms.receipt.reversal.sender":    {"RCPT", []string{"Amount", "Balance", "Date", "Name", "Original", "Phone", "Ref", "Time"}, 2},
	"sms.receipt.reversal.recipient": {"RCPT", []string{"Amount", "Balance", "Date", "Name", "Original", "Phone", "Ref", "Time"}, 2},
	// A reversal request's hold and release: the sender has no posting in
	// them, so no balance.
	"sms.receipt.reversal_hold.recipient":    {"RCPT", []string{"Amount", "Balance", "Name", "Original", "Phone"}, 2},
	"sms.receipt.reversal_hold.sender":       {"RCPT", []string{"Amount", "Name", "Original", "Phone"}, 2},
	"sms.receipt.reversal_release.recipient": {"RCPT", []string{"Amount", "Balance", "Name", "Original", "Phone"}, 2},
	"sms.receipt.reversal_release.sender":    {"RCPT", []string{"Amount", "Name", "Original", "Phone"}, 2},
	"sms.receipt.payout.customer":            {"RCPT", []string{"Amount", "Balance", "Date", "Name", "Ref", "Time"}, 1},
	"sms.receipt.refund.customer":            {"RCPT", []string{"Amount", "Balance", "Date", "Name", "Original", "Ref", "Time"}, 1},
	"sms.receipt.settle.payer":               {"RCPT", []string{"Amount", "Balance", "Date", "Name", "Ref", "Time"}, 1},
	"sms.receipt.hold.customer":              {"RCPT", []string{"Amount", "Balance", "Date", "Ref", "Time"}, 1},
	"sms.receipt.release.customer":           {"RCPT", []string{"Amount", "Balance", "Date", "Ref", "Time"}, 1},

	// The replies about approvals of the SMS keywords (approvals.*.toml,
	// package sessions).
	"sms.approvals.hint":     {"SMS", nil, 1},
	"sms.approvals.list":     {"SMS", []string{"Lines"}, 2},
	"sms.approvals.answered": {"SMS", []string{"Code"}, 1},
	// NO without the PIN that declines (decline.*.toml).
	"sms.decline.pin": {"SMS", []string{"Amount", "Name"}, 1},
	// A PIN not applied to an approval (edge.*.toml, package sessions).
	"sms.pin.which": {"SMS", []string{"Amount", "Minutes", "Name"}, 2},

	// The notifier's prompts of the merchant features (merchant.*.toml).
	"sms.prompt.payment_request": {"SMS", []string{"Amount", "Code", "Expires", "Name", "Reference"}, 2},
	"sms.prompt.tab.postpaid":    {"SMS", []string{"Amount", "Code", "Expires", "Name"}, 2},
	"sms.prompt.tab.prepaid":     {"SMS", []string{"Amount", "Code", "Expires", "Name"}, 2},

	"sms.help":            {"SMS", nil, 1},
	"sms.usage.send":      {"PART", nil, 1},
	"sms.usage.object":    {"PART", nil, 1},
	"sms.usage.pay":       {"PART", nil, 1},
	"sms.usage.bill":      {"PART", nil, 1},
	"sms.usage.airtime":   {"PART", nil, 1},
	"sms.usage.lang":      {"PART", nil, 1},
	"sms.unknown":         {"SMS", nil, 1},
	"sms.malformed":       {"SMS", []string{"Usage"}, 1},
	"sms.confirm.send":    {"SMS", []string{"Amount", "Fee", "Minutes", "Name", "Phone"}, 1},
	"sms.confirm.pay":     {"SMS", []string{"Amount", "Minutes", "Name", "Number"}, 1},
	"sms.confirm.bill":    {"SMS", []string{"Account", "Amount", "Minutes", "Name", "Number"}, 1},
	"sms.confirm.airtime": {"SMS", []string{"Amount", "Fee", "Minutes", "Phone"}, 1},
	"sms.confirm.balance": {"SMS", []string{"Minutes"}, 1},
	"sms.confirm.mini":    {"SMS", []string{"Minutes"}, 1},
	"sms.pin.expired":     {"SMS", nil, 1},
	"sms.cancelled":       {"SMS", nil, 1},
	"sms.balance":         {"SMS", []string{"Balance"}, 1},
	"sms.mini":            {"SMS", []string{"Balance", "Statement"}, 2},
	"sms.lang.done":       {"SMS", nil, 1},
	"sms.stop":            {"SMS", nil, 1},
	"sms.start":           {"SMS", nil, 1},
	"sms.not_registered":  {"SMS", []string{"Code"}, 1},
	"sms.rate_limited":    {"SMS", nil, 1},
	// pin.*.toml: notify renders them from wallet.Notice.
	"sms.pin.start_key": {"SMS", []string{"Expires", "Key"}, 1},
	"sms.pin.reset":     {"SMS", []string{"Expires", "Key"}, 1},
	"sms.pin.changed":   {"SMS", []string{"Date", "Time"}, 1},
	// simswap.*.toml: notify renders them from wallet.Notice.
	"sms.simswap.hold":  {"SMS", []string{"Date", "Time"}, 1},
	"sms.simswap.clear": {"SMS", []string{"Date", "Time"}, 1},
	// review: a held transfer released or refused.
	"sms.review.released": {"SMS", []string{"Date"}, 1},
	"sms.review.refused":  {"SMS", []string{"Date"}, 1},
}

// unboundedBalance lists the receipts whose Balance (and, for float, Amount)
// no customer limit bounds: an agent's float, a till's or a business's
// takings. They are tested with wallet.AmountMax.
var unboundedBalance = map[string]bool{
	"sms.receipt.deposit.agent":    true,
	"sms.receipt.withdraw.agent":   true,
	"sms.receipt.till.merchant":    true,
	"sms.receipt.paybill.business": true,
	"sms.receipt.float.agent":      true,
}

// The bounds of the SMS-only data (see doc.go).
const (
	minutesDigitsMax = 2  // the PIN reply window, in minutes
	codeCharsMax     = 12 // a USSD code such as *384*123456#
	// expiresCharsMax is the longest Expires of a prompt: dd/mm/yy HH:MM,
	// for a request or tab that ends on another day than it was made.
	expiresCharsMax = 14

	// payerAccountOnePart is the longest account reference with which
	// sms.receipt.paybill.payer still fits one part in every language.
	payerAccountOnePart = 13
)

// smsWorstData is worstData with the longest SMS data for message id in
// lang: a dd/mm/yy date, the longest usage, a five-line statement, and
// wallet.AmountMax where no limit bounds the money.
func smsWorstData(c *Catalog, lang, id string) map[string]any {
	data := worstData(lang)
	data["Date"] = "31/12/26"
	data["Time"] = "23:59"
	data["Number"] = "123456"
	data["Minutes"] = strings.Repeat("9", minutesDigitsMax)
	data["Code"] = "*384*123456#"[:codeCharsMax]
	data["Expires"] = "31/12/26 23:59"[:expiresCharsMax]
	data["Reference"] = data["Account"] // a request's reference, clipped to AccountCharsMax
	data["Key"] = strings.Repeat("9", wallet.StartKeyDigits)
	usage := ""
	for _, kw := range []string{"send", "pay", "bill", "airtime", "lang"} {
		if u := c.Render(lang, "sms.usage."+kw, nil); len(u) > len(usage) {
			usage = u
		}
	}
	data["Usage"] = usage
	lines := []string{c.Render(lang, "ussd.statement.title", map[string]any{"Currency": "KES"})}
	for range 5 {
		lines = append(lines, c.Render(lang, "ussd.statement.line", map[string]any{
			"Date": "31/12", "Ref": "QK7M2X9A1B", "Amount": FormatAmount(lang, kes, -250_000_00),
		}))
	}
	data["Statement"] = strings.Join(lines, "\n")
	items := []string{c.Render(lang, "ussd.approvals.title", nil)}
	for range 2 {
		items = append(items, c.Render(lang, "ussd.approvals.item_tab", data))
	}
	data["Lines"] = strings.Join(append(items, c.Render(lang, "sms.approvals.hint", nil)), "\n")
	if unboundedBalance[id] {
		data["Balance"] = FormatMoney(lang, kes, wallet.AmountMax)
		if id == "sms.receipt.float.agent" {
			data["Amount"] = data["Balance"]
		}
	}
	return data
}

// TestSMSMessages pins each sms.* message's kind and template data, the
// contract with notify and the keyword parser (TestMessageIDs checks that
// the three languages agree; this checks what they agree on), and that the
// receipts cover every transfer kind and role.
func TestSMSMessages(t *testing.T) {
	msgs := parsed(t)
	en := msgs[Default]
	var want []string
	for kind, roles := range receiptRoles {
		for _, role := range roles {
			want = append(want, "sms.receipt."+string(kind)+"."+role)
		}
	}
	for _, id := range want {
		if _, ok := smsMessages[id]; !ok {
			t.Errorf("receiptRoles has %s, smsMessages lacks it", id)
		}
	}
	for _, code := range codes {
		var got []string
		for id := range msgs[code] {
			if strings.HasPrefix(id, "sms.") {
				got = append(got, id)
			}
		}
		if want := slices.Sorted(maps.Keys(smsMessages)); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
			t.Errorf("%s: sms ids\n%v\nwant\n%v", code, slices.Sorted(slices.Values(got)), want)
		}
	}
	for id, want := range smsMessages {
		m := en[id]
		if m == nil {
			continue // reported above
		}
		if !strings.HasPrefix(m.Description, want.kind+":") {
			t.Errorf("en %s: description %q does not start with %s:", id, m.Description, want.kind)
		}
		for _, code := range codes {
			got, err := fieldsOf(msgs[code][id])
			if err != nil {
				t.Errorf("%s %s: %v", code, id, err)
				continue
			}
			if !slices.Equal(got, want.vars) && (len(got) > 0 || len(want.vars) > 0) {
				t.Errorf("%s %s uses %v, want %v", code, id, got, want.vars)
			}
		}
	}
}

// TestReceiptKinds reads the transfer kinds from wallet/wallet.go, so that a
// new kind fails here until its receipts are worded.
func TestReceiptKinds(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../wallet/wallet.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	ast.Inspect(f, func(n ast.Node) bool {
		v, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		if typ, ok := v.Type.(*ast.Ident); ok && typ.Name == "TransferKind" {
			for _, val := range v.Values {
				if lit, ok := val.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					kinds = append(kinds, s)
				}
			}
		}
		return true
	})
	if len(kinds) < 8 {
		t.Fatalf("read %d transfer kinds from wallet/wallet.go; the parse is broken", len(kinds))
	}
	for _, k := range kinds {
		if len(receiptRoles[wallet.TransferKind(k)]) == 0 {
			t.Errorf("transfer kind %s has no receipt roles", k)
		}
	}
}

// TestSMSFit renders every sms.* message in every language with the longest
// data and checks that it is GSM-7 and within its parts (a receipt: never
// more than 2, 306 septets), and that sms.malformed fits with each usage.
func TestSMSFit(t *testing.T) {
	c := newCatalog(t)
	if len(worstData("en")["Name"].(string)) != NameCharsMax {
		t.Fatal("worstData no longer matches NameCharsMax")
	}
	for _, lang := range codes {
		for _, id := range slices.Sorted(maps.Keys(smsMessages)) {
			want := smsMessages[id]
			if want.kind == "RCPT" && want.parts > 2 {
				t.Errorf("%s may take %d parts; a receipt takes at most 2", id, want.parts)
			}
			s, err := c.Text(lang, id, smsWorstData(c, lang, id))
			if err != nil {
				t.Errorf("%s %s: %v", lang, id, err)
				continue
			}
			checkSMS(t, lang, id, s, want.parts)
		}
		for _, kw := range []string{"send", "pay", "bill", "airtime", "lang"} {
			s := c.Render(lang, "sms.malformed", map[string]any{"Usage": c.Render(lang, "sms.usage."+kw, nil)})
			checkSMS(t, lang, "sms.malformed with sms.usage."+kw, s, 1)
		}
		s := c.Render(lang, "sms.mini", map[string]any{"Statement": c.Render(lang, "ussd.statement.empty", nil), "Balance": FormatMoney(lang, kes, 0)})
		checkSMS(t, lang, "sms.mini with ussd.statement.empty", s, 1)
		// A pay-bill receipt takes 2 parts only for an account reference
		// longer than a meter or invoice number usually is.
		data := smsWorstData(c, lang, "sms.receipt.paybill.payer")
		data["Account"] = data["Account"].(string)[:payerAccountOnePart]
		checkSMS(t, lang, "sms.receipt.paybill.payer, short account", c.Render(lang, "sms.receipt.paybill.payer", data), 1)
	}
}

func checkSMS(t *testing.T, lang, what, s string, partsMax int) {
	t.Helper()
	n, ok := Septets(s)
	enc, parts := Segments(s)
	if !ok {
		t.Errorf("%s %s is %s, not GSM-7: %q", lang, what, enc, s)
	}
	if parts > partsMax {
		t.Errorf("%s %s: %d septets, %d parts, want at most %d:\n%s", lang, what, n, parts, partsMax, s)
	}
	t.Logf("%s %-40s %3d septets, %d part(s)", lang, what, n, parts)
}

// TestSMSKeywords checks the keyword aliases the description of sms.help
// lists (the parser's source): each language's keywords appear in its help,
// no alias names two commands, and each language's cancel word is in its
// confirmations.
func TestSMSKeywords(t *testing.T) {
	c := newCatalog(t)
	desc := parsed(t)[Default]["sms.help"].Description
	aliases := regexp.MustCompile(`\b(en|sw|fr) ((?:[A-Z]+, )+[A-Z]+)[;.]`).FindAllStringSubmatch(desc, -1)
	cancels := regexp.MustCompile(`en (NO), sw (HAPANA), fr (NON)`).FindStringSubmatch(desc)
	if len(aliases) != len(codes) || cancels == nil {
		t.Fatalf("sms.help description lists %d alias lists and cancel words %v; want keywords and cancel words for %v: %q", len(aliases), cancels, codes, desc)
	}
	command := make(map[string]int) // alias → its position in the list, the command
	for _, a := range aliases {
		lang, words := a[1], strings.Split(a[2], ", ")
		if len(words) != 8 {
			t.Errorf("%s: %d keywords, want 8: %v", lang, len(words), words)
		}
		help := c.Render(lang, "sms.help", nil)
		for i, w := range words {
			if !regexp.MustCompile(`\b` + w + `\b`).MatchString(help) {
				t.Errorf("%s sms.help lacks keyword %s: %q", lang, w, help)
			}
			if j, seen := command[w]; seen && j != i {
				t.Errorf("keyword %s names two commands", w)
			}
			command[w] = i
		}
		for _, kw := range []string{"send", "pay", "bill", "airtime", "lang"} {
			if u := c.Render(lang, "sms.usage."+kw, nil); !strings.Contains(help, u) {
				t.Errorf("%s sms.help lacks sms.usage.%s %q: %q", lang, kw, u, help)
			}
		}
	}
	for i, lang := range codes {
		no := cancels[i+1]
		for _, id := range []string{"sms.confirm.send", "sms.confirm.pay", "sms.confirm.bill", "sms.confirm.airtime",
			"sms.confirm.balance", "sms.confirm.mini"} {
			if s := c.Render(lang, id, smsWorstData(c, lang, id)); !strings.Contains(s, " "+no+" ") {
				t.Errorf("%s %s does not name the cancel word %s: %q", lang, id, no, s)
			}
		}
	}
}

func TestSMSRender(t *testing.T) {
	c := newCatalog(t)
	ugx := wallet.Currency{Code: "UGX", Exponent: 0}
	send := func(lang string) map[string]any {
		return map[string]any{
			"Ref": "QK7M2X9A1B", "Amount": FormatMoney(lang, kes, 500_00), "Name": "JANE DOE", "Phone": "+254722000002",
			"Date": "21/11/26", "Time": "10:15", "Balance": FormatMoney(lang, kes, 1_200_00), "Fee": FormatMoney(lang, kes, 7_00),
		}
	}
	bill := func(lang string) map[string]any {
		return map[string]any{
			"Ref": "QK7M2X9A1C", "Amount": FormatMoney(lang, ugx, 150_000), "Name": "UMEME", "Number": "600100",
			"Account": "2012345", "Date": "01/02/26", "Time": "07:05", "Balance": FormatMoney(lang, ugx, 1_250_000),
		}
	}
	reversal := map[string]any{
		"Ref": "QL1A2B3C4D", "Original": "QK7M2X9A1B", "Amount": "KES 500.00", "Name": "JANE DOE", "Phone": "+254722000002",
		"Date": "21/11/26", "Time": "10:40", "Balance": "KES 1,707.00",
	}
	tests := []struct {
		lang, id string
		data     map[string]any
		want     string
	}{
		{"en", "sms.receipt.send.sender", send("en"),
			"QK7M2X9A1B Confirmed. KES 500.00 sent to JANE DOE +254722000002 on 21/11/26 at 10:15. New balance KES 1,200.00. Fee KES 7.00."},
		{"sw", "sms.receipt.send.sender", send("sw"),
			"QK7M2X9A1B Imethibitishwa. KES 500.00 imetumwa kwa JANE DOE +254722000002 21/11/26 saa 10:15. Salio KES 1,200.00. Ada KES 7.00."},
		{"fr", "sms.receipt.send.sender", send("fr"),
			"QK7M2X9A1B confirmé. 500,00 KES envoyé à JANE DOE +254722000002 le 21/11/26 à 10:15. Nouveau solde 1 200,00 KES. Frais 7,00 KES."},
		{"fr", "sms.receipt.send.recipient", send("fr"),
			"QK7M2X9A1B confirmé. JANE DOE +254722000002 vous a envoyé 500,00 KES le 21/11/26 à 10:15. Nouveau solde 1 200,00 KES."},
		{"en", "sms.receipt.paybill.payer", bill("en"),
			"QK7M2X9A1C Confirmed. UGX 150,000 paid to UMEME 600100 for account 2012345 on 01/02/26 at 07:05. New balance UGX 1,250,000."},
		{"sw", "sms.receipt.paybill.payer", bill("sw"),
			"QK7M2X9A1C Imethibitishwa. UGX 150,000 imelipwa kwa UMEME 600100 kwa akaunti 2012345 01/02/26 saa 07:05. Salio UGX 1,250,000."},
		{"fr", "sms.receipt.paybill.payer", bill("fr"),
			"QK7M2X9A1C confirmé. 150 000 UGX payé à UMEME 600100 pour le compte 2012345 le 01/02/26 à 07:05. Nouveau solde 1 250 000 UGX."},
		{"en", "sms.receipt.reversal.sender", reversal,
			"QL1A2B3C4D Confirmed. QK7M2X9A1B to JANE DOE +254722000002 reversed on 21/11/26 at 10:40. KES 500.00 is back in your account. New balance KES 1,707.00."},
		{"en", "sms.confirm.send", map[string]any{"Amount": "KES 500.00", "Name": "JANE DOE", "Phone": "+254722000002", "Fee": "KES 7.00", "Minutes": 5},
			"Send KES 500.00 to JANE DOE +254722000002? Fee KES 7.00. Reply with your PIN within 5 minutes to confirm, or NO to cancel."},
		{"sw", "sms.confirm.airtime", map[string]any{"Amount": "KES 50.00", "Phone": "+255712345678", "Fee": "KES 0.00", "Minutes": 5},
			"Nunua airtime ya KES 50.00 kwa +255712345678? Ada KES 0.00. Jibu kwa PIN ndani ya dakika 5 kuthibitisha, au HAPANA kughairi."},
		{"fr", "sms.confirm.pay", map[string]any{"Amount": "2 500 XOF", "Name": "BOUTIQUE AWA", "Number": "445566", "Minutes": 5},
			"Payer 2 500 XOF à BOUTIQUE AWA, marchand 445566 ? Envoyez votre PIN sous 5 minutes pour confirmer, NON pour annuler."},
		{"sw", "sms.confirm.balance", map[string]any{"Minutes": 5},
			"Jibu kwa PIN ndani ya dakika 5 kuona salio lako, au HAPANA kughairi."},
		{"fr", "sms.confirm.mini", map[string]any{"Minutes": 5},
			"Envoyez votre PIN sous 5 minutes pour voir votre relevé, NON pour annuler."},
		{"en", "sms.help", nil,
			"Kibubu SMS: BAL, SEND phone amount, PAY till amount, BILL business account amount, AIRTIME [phone] amount, MINI, LANG en|sw|fr, HELP"},
		{"sw", "sms.malformed", map[string]any{"Usage": c.Render("sw", "sms.usage.send", nil)}, "Muundo si sahihi. Tumia: TUMA simu kiasi"},
		{"fr", "sms.malformed", map[string]any{"Usage": c.Render("fr", "sms.usage.airtime", nil)}, "Format incorrect. Utilisez : CREDIT [numéro] montant"},
		{"en", "sms.mini", map[string]any{"Statement": "Statement KES\n21/11 QK7M2X9A1B -507.00", "Balance": "KES 1,200.00"},
			"Statement KES\n21/11 QK7M2X9A1B -507.00\nBalance KES 1,200.00"},
		{"sw", "sms.not_registered", map[string]any{"Code": "*384*123#"}, "Namba hii haijasajiliwa na Kibubu. Piga *384*123# ili kujisajili."},
		{"fr", "sms.stop", nil,
			"Vous ne recevrez plus de messages promotionnels de Kibubu. Les confirmations de transaction continueront d'arriver. Envoyez START pour les recevoir à nouveau."},
	}
	for _, tt := range tests {
		got, err := c.Text(tt.lang, tt.id, tt.data)
		if err != nil || got != tt.want {
			t.Errorf("%s %s:\ngot  %q, %v\nwant %q", tt.lang, tt.id, got, err, tt.want)
		}
	}
}

// TestMerchantSMS pins the texts of the merchant kinds' receipts and of the
// merchant prompts (merchant.*.toml) in every language, and checks that each
// prompt names the language's cancel word (sms.help's description) and the
// USSD code.
func TestMerchantSMS(t *testing.T) {
	c := newCatalog(t)
	base := func(lang string) map[string]any {
		return map[string]any{
			"Ref": "QM1A2B3D1K", "Amount": FormatMoney(lang, kes, 1_500_00), "Name": "DUKA LA AWA",
			"Date": "21/11/26", "Time": "15:20", "Balance": FormatMoney(lang, kes, 2_707_00), "Original": "QM1A2B3C6F",
		}
	}
	prompt := func(lang string) map[string]any {
		return map[string]any{"Name": "DUKA LA AWA", "Amount": FormatMoney(lang, kes, 150_00), "Reference": "INV-1",
			"Code": "*384#", "Expires": "14:05"}
	}
	tab := func(lang string) map[string]any {
		return map[string]any{"Name": "NEWS DAILY", "Amount": FormatMoney(lang, kes, 50_00), "Code": "*384#",
			"Expires": "21/12/26 23:59"}
	}
	tests := []struct {
		lang, id string
		data     map[string]any
		want     string
	}{
		{"en", "sms.receipt.payout.customer", base("en"),
			"QM1A2B3D1K Confirmed. You have received KES 1,500.00 from DUKA LA AWA on 21/11/26 at 15:20. New balance KES 2,707.00."},
		{"sw", "sms.receipt.payout.customer", base("sw"),
			"QM1A2B3D1K Imethibitishwa. Umepokea KES 1,500.00 kutoka kwa DUKA LA AWA 21/11/26 saa 15:20. Salio KES 2,707.00."},
		{"fr", "sms.receipt.payout.customer", base("fr"),
			"QM1A2B3D1K confirmé. DUKA LA AWA vous a versé 1 500,00 KES le 21/11/26 à 15:20. Nouveau solde 2 707,00 KES."},
		{"en", "sms.receipt.refund.customer", base("en"),
			"QM1A2B3D1K Confirmed. DUKA LA AWA refunded KES 1,500.00 of QM1A2B3C6F on 21/11/26 at 15:20. New balance KES 2,707.00."},
		{"sw", "sms.receipt.refund.customer", base("sw"),
			"QM1A2B3D1K Imethibitishwa. DUKA LA AWA amekurudishia KES 1,500.00 ya muamala QM1A2B3C6F 21/11/26 saa 15:20. Salio KES 2,707.00."},
		{"fr", "sms.receipt.refund.customer", base("fr"),
			"QM1A2B3D1K confirmé. DUKA LA AWA vous a remboursé 1 500,00 KES sur QM1A2B3C6F le 21/11/26 à 15:20. Nouveau solde 2 707,00 KES."},
		{"en", "sms.receipt.settle.payer", base("en"),
			"QM1A2B3D1K Confirmed. KES 1,500.00 paid to DUKA LA AWA for your tab on 21/11/26 at 15:20. New balance KES 2,707.00."},
		{"sw", "sms.receipt.settle.payer", base("sw"),
			"QM1A2B3D1K Imethibitishwa. KES 1,500.00 imelipwa kwa DUKA LA AWA kwa tab yako 21/11/26 saa 15:20. Salio KES 2,707.00."},
		{"fr", "sms.receipt.settle.payer", base("fr"),
			"QM1A2B3D1K confirmé. 1 500,00 KES payé à DUKA LA AWA pour votre ardoise le 21/11/26 à 15:20. Nouveau solde 2 707,00 KES."},
		{"en", "sms.receipt.hold.customer", base("en"),
			"QM1A2B3D1K Confirmed. KES 1,500.00 set aside for your prepaid tab on 21/11/26 at 15:20. New balance KES 2,707.00."},
		{"sw", "sms.receipt.hold.customer", base("sw"),
			"QM1A2B3D1K Imethibitishwa. KES 1,500.00 imewekwa kando kwa tab yako ya malipo ya awali 21/11/26 saa 15:20. Salio KES 2,707.00."},
		{"fr", "sms.receipt.hold.customer", base("fr"),
			"QM1A2B3D1K confirmé. 1 500,00 KES réservé pour votre ardoise prépayée le 21/11/26 à 15:20. Nouveau solde 2 707,00 KES."},
		{"en", "sms.receipt.release.customer", base("en"),
			"QM1A2B3D1K Confirmed. KES 1,500.00 not spent on your prepaid tab is back in your account on 21/11/26 at 15:20. New balance KES 2,707.00."},
		{"sw", "sms.receipt.release.customer", base("sw"),
			"QM1A2B3D1K Imethibitishwa. KES 1,500.00 isiyotumika ya tab yako ya malipo ya awali imerudishwa kwako 21/11/26 saa 15:20. Salio KES 2,707.00."},
		{"fr", "sms.receipt.release.customer", base("fr"),
			"QM1A2B3D1K confirmé. 1 500,00 KES non dépensé sur votre ardoise prépayée est revenu sur votre compte le 21/11/26 à 15:20. Nouveau solde 2 707,00 KES."},
		{"en", "sms.prompt.payment_request", prompt("en"),
			"DUKA LA AWA asks you to pay KES 150.00 for INV-1. Reply with your PIN to pay or NO and your PIN to decline, or dial *384# and choose 6 Approvals. Expires 14:05."},
		{"sw", "sms.prompt.payment_request", prompt("sw"),
			"DUKA LA AWA anakuomba ulipe KES 150.00 kwa INV-1. Jibu kwa PIN kulipa au HAPANA na PIN kukataa, au piga *384# uchague 6 Idhini. Inaisha 14:05."},
		{"fr", "sms.prompt.payment_request", prompt("fr"),
			"DUKA LA AWA vous demande de payer 150,00 KES pour INV-1. Envoyez votre PIN pour payer ou NON suivi du PIN pour refuser, ou composez le *384# et choisissez 6 Approbations. Valable jusqu'à 14:05."},
		{"en", "sms.prompt.tab.postpaid", tab("en"),
			"NEWS DAILY asks to open a tab of up to KES 50.00 until 21/12/26 23:59, paid from your account as you use it. Reply with your PIN to approve or NO and your PIN to decline, or dial *384# and choose 6 Approvals."},
		{"sw", "sms.prompt.tab.postpaid", tab("sw"),
			"NEWS DAILY anaomba kufungua tab ya hadi KES 50.00 mpaka 21/12/26 23:59, inayolipwa kutoka akaunti yako unapoitumia. Jibu kwa PIN kukubali au HAPANA na PIN kukataa, au piga *384# uchague 6 Idhini."},
		{"fr", "sms.prompt.tab.postpaid", tab("fr"),
			"NEWS DAILY demande à ouvrir une ardoise de 50,00 KES au plus jusqu'à 21/12/26 23:59, payée depuis votre compte au fil de l'usage. Envoyez votre PIN pour accepter ou NON suivi du PIN pour refuser, ou composez le *384# et choisissez 6 Approbations."},
		{"en", "sms.prompt.tab.prepaid", tab("en"),
			"NEWS DAILY asks to open a prepaid tab of KES 50.00 until 21/12/26 23:59: KES 50.00 is set aside now, the rest comes back. Reply with your PIN to approve or NO and your PIN to decline, or dial *384# and choose 6 Approvals."},
		{"sw", "sms.prompt.tab.prepaid", tab("sw"),
			"NEWS DAILY anaomba kufungua tab ya malipo ya awali ya KES 50.00 mpaka 21/12/26 23:59: KES 50.00 itawekwa kando sasa, kitakachobaki kitarudi. Jibu kwa PIN kukubali au HAPANA na PIN kukataa, au piga *384# uchague 6 Idhini."},
		{"fr", "sms.prompt.tab.prepaid", tab("fr"),
			"NEWS DAILY demande à ouvrir une ardoise prépayée de 50,00 KES jusqu'à 21/12/26 23:59 : 50,00 KES est réservé maintenant, le reste vous revient. Envoyez votre PIN pour accepter ou NON suivi du PIN pour refuser, ou composez le *384# et choisissez 6 Approbations."},
	}
	for _, tt := range tests {
		got, err := c.Text(tt.lang, tt.id, tt.data)
		if err != nil || got != tt.want {
			t.Errorf("%s %s:\ngot  %q, %v\nwant %q", tt.lang, tt.id, got, err, tt.want)
		}
	}

	desc := parsed(t)[Default]["sms.help"].Description
	cancels := regexp.MustCompile(`en (NO), sw (HAPANA), fr (NON)`).FindStringSubmatch(desc)
	if cancels == nil {
		t.Fatalf("sms.help description names no cancel words: %q", desc)
	}
	for i, lang := range codes {
		for _, id := range []string{"sms.prompt.payment_request", "sms.prompt.tab.postpaid", "sms.prompt.tab.prepaid"} {
			data := smsWorstData(c, lang, id)
			s := c.Render(lang, id, data)
			if !strings.Contains(s, " "+cancels[i+1]+" ") || !strings.Contains(s, " PIN ") || !strings.Contains(s, data["Code"].(string)) {
				t.Errorf("%s %s does not name the PIN, the cancel word %s and the code: %q", lang, id, cancels[i+1], s)
			}
		}
	}
}
