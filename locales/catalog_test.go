package locales

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template/parse"

	"github.com/BurntSushi/toml"
	"github.com/kibubu/kibubu/wallet"
	"github.com/nicksnyder/go-i18n/v2/i18n"
)

func newCatalog(t testing.TB) *Catalog {
	t.Helper()
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// areas returns the message files' areas: "active" for
// active.<code>.toml, and so on. Every area has a file per language
// (TestLanguages).
func areas(t *testing.T) []string {
	t.Helper()
	entries, err := files.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		area, _, ok := strings.Cut(e.Name(), ".")
		if ok && !slices.Contains(out, area) {
			out = append(out, area)
		}
	}
	if !slices.Contains(out, "active") {
		t.Fatalf("no active.<code>.toml among %v", out)
	}
	return out
}

// parsed returns each language's messages, read straight from the embedded
// files (not through New, so the checks below do not trust it).
func parsed(t *testing.T) map[string]map[string]*i18n.Message {
	t.Helper()
	out := make(map[string]map[string]*i18n.Message)
	for _, code := range codes {
		out[code] = make(map[string]*i18n.Message)
		for _, area := range areas(t) {
			path := area + "." + code + ".toml"
			buf, err := files.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := i18n.ParseMessageFileBytes(buf, path, map[string]i18n.UnmarshalFunc{"toml": toml.Unmarshal})
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if got := f.Tag.String(); got != code {
				t.Errorf("%s: language tag %q, want %q", path, got, code)
			}
			for _, m := range f.Messages {
				if out[code][m.ID] != nil {
					t.Errorf("%s: %s is defined twice", path, m.ID)
				}
				out[code][m.ID] = m
			}
		}
	}
	return out
}

func TestLanguages(t *testing.T) {
	c := newCatalog(t)
	if got, want := c.Languages(), []string{"en", "sw", "fr"}; !slices.Equal(got, want) {
		t.Errorf("Languages() = %v, want %v", got, want)
	}
	c.Languages()[0] = "xx" // a copy: the catalog is unchanged
	if got := c.Languages()[0]; got != Default {
		t.Errorf("Languages()[0] = %q after the caller changed its copy", got)
	}
	if len(codes) != len(tags) || len(styles) != len(codes) {
		t.Fatalf("codes %v, tags %v and styles %v disagree", codes, tags, slices.Collect(maps.Keys(styles)))
	}
	for i, code := range codes {
		if tags[i].String() != code {
			t.Errorf("tags[%d] = %v, want %s", i, tags[i], code)
		}
	}
	// Every embedded file is a supported language, and every language has one.
	entries, err := files.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	var want []string
	for _, area := range areas(t) {
		for _, code := range codes {
			want = append(want, area+"."+code+".toml")
		}
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("embedded files %v, want %v", names, want)
	}
}

// TestMessageIDs fails on any id missing from a language or present only in
// one, and on template variables that differ between languages.
func TestMessageIDs(t *testing.T) {
	msgs := parsed(t)
	en := msgs[Default]
	for _, code := range codes[1:] {
		for id := range en {
			if msgs[code][id] == nil {
				t.Errorf("%s: missing %s", code, id)
			}
		}
		for id := range msgs[code] {
			if en[id] == nil {
				t.Errorf("%s: extra id %s, not in %s", code, id, Default)
			}
		}
	}
	for id, m := range en {
		want, err := fieldsOf(m)
		if err != nil {
			t.Errorf("en %s: %v", id, err)
			continue
		}
		for _, code := range codes[1:] {
			other := msgs[code][id]
			if other == nil {
				continue
			}
			got, err := fieldsOf(other)
			if err != nil {
				t.Errorf("%s %s: %v", code, id, err)
				continue
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s %s uses %v, en uses %v", code, id, got, want)
			}
		}
		if kindOf(m) == "" {
			t.Errorf("en %s: description %q does not start with a kind (CON:, END:, ERR:, NAV:, PART:, RCPT:, SMS:, WEB:)", id, m.Description)
		}
	}
	c := newCatalog(t)
	if got := c.IDs(); !slices.Equal(got, slices.Sorted(maps.Keys(en))) {
		t.Errorf("IDs() = %v, want the ids of active.en.toml", got)
	}
}

// TestWalletCodes checks that every error code and limit in wallet/error.go
// has its message, read from the source so a new code fails here until it
// is worded in every language.
func TestWalletCodes(t *testing.T) {
	c := newCatalog(t)
	consts := walletConsts(t)
	if len(consts["Code"]) < 17 || len(consts["Limit"]) < 3 {
		t.Fatalf("read %d codes and %d limits from wallet/error.go; the parse is broken", len(consts["Code"]), len(consts["Limit"]))
	}
	for _, code := range consts["Code"] {
		if id := "error." + code; !slices.Contains(c.ids, id) {
			t.Errorf("wallet code %s has no message %s", code, id)
		}
	}
	for _, limit := range consts["Limit"] {
		if id := "error.limit_exceeded." + limit; !slices.Contains(c.ids, id) {
			t.Errorf("wallet limit %s has no message %s", limit, id)
		}
	}
}

// walletConsts returns the string values of wallet's constants of type Code
// and Limit, by type name.
func walletConsts(t *testing.T) map[string][]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../wallet/error.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]string)
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			typ, ok := v.Type.(*ast.Ident)
			if !ok {
				continue
			}
			for _, val := range v.Values {
				if lit, ok := val.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					out[typ.Name] = append(out[typ.Name], s)
				}
			}
		}
	}
	return out
}

// fieldsOf returns the sorted template fields ({{.Name}} → Name) used by any
// plural form of m.
func fieldsOf(m *i18n.Message) ([]string, error) {
	set := make(map[string]bool)
	for _, src := range []string{m.Zero, m.One, m.Two, m.Few, m.Many, m.Other} {
		trees, err := parse.Parse("m", src, "{{", "}}")
		if err != nil {
			return nil, err
		}
		for _, tr := range trees {
			walkFields(tr.Root, set)
		}
	}
	return slices.Sorted(maps.Keys(set)), nil
}

func walkFields(n parse.Node, set map[string]bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			walkFields(c, set)
		}
	case *parse.ActionNode:
		walkFields(n.Pipe, set)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walkFields(c, set)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walkFields(a, set)
		}
	case *parse.FieldNode:
		set[strings.Join(n.Ident, ".")] = true
	case *parse.IfNode:
		walkFields(n.Pipe, set)
		walkFields(n.List, set)
		walkFields(n.ElseList, set)
	case *parse.RangeNode:
		walkFields(n.Pipe, set)
		walkFields(n.List, set)
		walkFields(n.ElseList, set)
	case *parse.WithNode:
		walkFields(n.Pipe, set)
		walkFields(n.List, set)
		walkFields(n.ElseList, set)
	}
}

// kindOf returns the kind a message's description starts with.
func kindOf(m *i18n.Message) string {
	for _, k := range []string{"CON", "END", "ERR", "NAV", "PART", "RCPT", "SMS", "WEB"} {
		if strings.HasPrefix(m.Description, k+":") {
			return k
		}
	}
	return ""
}

var kes = wallet.Currency{Code: "KES", Exponent: 2}

// worstData is the longest template data the menus produce (see the package
// doc), formatted for lang.
func worstData(lang string) map[string]any {
	big := FormatMoney(lang, kes, 500_000_00) // KES 500,000.00: the maximum balance
	fee := FormatMoney(lang, kes, 9_999_00)   // fees and commissions are far smaller
	return map[string]any{
		"Name":       "Wanjiru Nyambura-Odhiambo Kama", // NameCharsMax
		"Phone":      "+254712345678",
		"Agent":      "123456",
		"Till":       "123456",
		"Business":   "123456",
		"Account":    "ACC-2024-1234567/890", // AccountCharsMax
		"Ref":        "QK7M2X9A1B",
		"Original":   "QJ3N8W4C2D",
		"Amount":     big,
		"Fee":        fee,
		"Balance":    big,
		"Commission": fee,
		"Today":      big,
		"Month":      big,
		"Currency":   "KES",
		"Date":       "31/12",
		"Digits":     6,
		"Count":      2,
	}
}

// gsm7Exceptions lists, by language and id, the messages allowed outside
// GSM-7, each with its reason. There are none: French avoids ê â î ô û ç by
// its wording (see doc.go).
var gsm7Exceptions = map[string]string{}

// TestScreensFit renders every message in every language with the worst-case
// data and checks every screen that can be composed from them: each END
// alone; each CON with every ERR line above it and the navigation lines below
// it; a mini statement of five lines. Every screen must be GSM-7 and fit 160
// septets.
func TestScreensFit(t *testing.T) {
	c := newCatalog(t)
	en := parsed(t)[Default]
	if len(worstData("en")["Name"].(string)) != NameCharsMax || len(worstData("en")["Account"].(string)) != AccountCharsMax {
		t.Fatal("worstData no longer matches NameCharsMax and AccountCharsMax")
	}
	for _, lang := range codes {
		data := worstData(lang)
		render := func(id string) string {
			s, err := c.Text(lang, id, data)
			if err != nil {
				t.Fatalf("%s %s: %v", lang, id, err)
			}
			return s
		}
		byKind := make(map[string][]string) // kind → ids
		for _, id := range c.IDs() {
			byKind[kindOf(en[id])] = append(byKind[kindOf(en[id])], id)
		}
		nav := render("ussd.nav.back") + "\n" + render("ussd.nav.home")
		most := make(map[string]int) // kind → most septets seen
		check := func(kind, what, screen string) {
			t.Helper()
			n, ok := Septets(screen)
			if !ok {
				if reason, allowed := gsm7Exceptions[lang+" "+what]; allowed {
					t.Logf("%s %s is not GSM-7: %s", lang, what, reason)
				} else {
					t.Errorf("%s %s is not GSM-7: %q", lang, what, screen)
				}
			}
			if !FitsScreen(screen) {
				t.Errorf("%s %s: %d septets, more than %d:\n%s", lang, what, n, smsSeptets, screen)
			}
			most[kind] = max(most[kind], n)
		}
		for _, id := range c.IDs() {
			if k := kindOf(en[id]); k == "RCPT" || k == "SMS" || k == "WEB" {
				continue // SMS (TestSMSFit renders them with their data and budgets) and web pages (the simulator, the back-office): not screens
			}
			check(kindOf(en[id]), id, render(id)) // every message alone
		}
		for _, con := range byKind["CON"] {
			for _, errLine := range byKind["ERR"] {
				check("CON+ERR+NAV", errLine+" + "+con+" + nav", render(errLine)+"\n"+render(con)+"\n"+nav)
			}
		}
		lines := []string{render("ussd.statement.title")}
		for range 5 {
			lines = append(lines, c.Render(lang, "ussd.statement.line", map[string]any{
				"Date": "31/12", "Ref": "QK7M2X9A1B", "Amount": FormatAmount(lang, kes, -250_000_00),
			}))
		}
		check("statement", "mini statement", strings.Join(lines, "\n"))
		t.Logf("%s: most septets by kind: %v", lang, most)
	}
}

// TestTriesLeft checks the plural forms of a wrong PIN's tries left; French
// treats 0 as singular.
func TestTriesLeft(t *testing.T) {
	c := newCatalog(t)
	tests := []struct {
		lang  string
		count int
		want  string
	}{
		{"en", 0, "Wrong PIN. 0 tries left."},
		{"en", 1, "Wrong PIN. 1 try left."},
		{"en", 2, "Wrong PIN. 2 tries left."},
		{"sw", 0, "PIN si sahihi. Nafasi 0 zimebaki."},
		{"sw", 1, "PIN si sahihi. Nafasi 1 imebaki."},
		{"sw", 2, "PIN si sahihi. Nafasi 2 zimebaki."},
		{"fr", 0, "PIN incorrect. 0 essai restant."},
		{"fr", 1, "PIN incorrect. 1 essai restant."},
		{"fr", 2, "PIN incorrect. 2 essais restants."},
	}
	for _, tt := range tests {
		got, err := c.Text(tt.lang, "error.pin_invalid.tries_left", map[string]any{"Count": tt.count})
		if err != nil || got != tt.want {
			t.Errorf("%s Count=%d: got %q, %v; want %q", tt.lang, tt.count, got, err, tt.want)
		}
	}
}

// TestPluralForms renders every plural message with counts that reach every
// CLDR form of the three languages (French has "many" for millions): a form
// a language needs but a file lacks is an error.
func TestPluralForms(t *testing.T) {
	c := newCatalog(t)
	for _, lang := range codes {
		for id, m := range c.messages[lang] {
			if !plural(m) {
				continue
			}
			for _, n := range []any{0, 1, 2, 5, 21, 1_000_000, "1.5"} {
				data := worstData(lang)
				data["Count"] = n
				if _, err := c.Text(lang, id, data); err != nil {
					t.Errorf("%s %s Count=%v: %v", lang, id, n, err)
				}
			}
		}
	}
}

func TestRender(t *testing.T) {
	c := newCatalog(t)
	tests := []struct {
		lang, id string
		data     map[string]any
		want     string
	}{
		{"en", "ussd.nav.back", nil, "0 Back"},
		{"sw", "ussd.nav.back", nil, "0 Rudi"},
		{"fr", "ussd.nav.back", nil, "0 Retour"},
		{"sw-KE", "ussd.nav.home", nil, "00 Mwanzo"}, // a regional tag is matched
		{"fr-CI", "ussd.nav.more", nil, "98 Suite"},
		{"xx", "ussd.nav.back", nil, "0 Back"}, // unknown: English
		{"rw", "ussd.nav.back", nil, "0 Back"}, // not French
		{"", "ussd.nav.back", nil, "0 Back"},
		{"en", "ussd.main.customer", nil, "Kibubu\n1 Send money\n2 Withdraw cash\n3 Buy airtime\n4 Pay\n5 My account\n6 Approvals"},
		{"sw", "ussd.main.customer", nil, "Kibubu\n1 Tuma Pesa\n2 Toa Pesa\n3 Nunua Airtime\n4 Lipa\n5 Akaunti Yangu\n6 Idhini"},
		{"en", "ussd.send.confirm", map[string]any{"Amount": "KES 1,250.00", "Name": "Amina Odhiambo", "Phone": "0712345678", "Fee": "KES 13.00"},
			"Send KES 1,250.00 to Amina Odhiambo 0712345678?\nFee: KES 13.00\n1 Confirm\n2 Cancel"},
		{"fr", "ussd.send.confirm", map[string]any{"Amount": "1 250 XOF", "Name": "Awa Traoré", "Phone": "0701020304", "Fee": "25 XOF"},
			"Envoyer 1 250 XOF à Awa Traoré 0701020304 ?\nFrais : 25 XOF\n1 Oui\n2 Non"},
		{"en", "ussd.send.amount", map[string]any{"Currency": "KES", "Count": 1}, "Enter amount (KES):"}, // Count ignored: no plural forms
	}
	for _, tt := range tests {
		if got := c.Render(tt.lang, tt.id, tt.data); got != tt.want {
			t.Errorf("Render(%q, %q) = %q, want %q", tt.lang, tt.id, got, tt.want)
		}
	}
}

func TestTextErrors(t *testing.T) {
	c := newCatalog(t)
	tests := []struct {
		name, id string
		data     map[string]any
	}{
		{"unknown id", "ussd.no.such.screen", nil},
		{"missing value", "ussd.send.amount", map[string]any{}},
		{"nil data", "ussd.send.amount", nil},
		{"bad count", "error.pin_invalid.tries_left", map[string]any{"Count": "two"}},
	}
	for _, tt := range tests {
		if got, err := c.Text("en", tt.id, tt.data); err == nil {
			t.Errorf("%s: Text = %q, nil; want an error", tt.name, got)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Render of an unknown id did not panic")
		}
	}()
	c.Render("en", "ussd.no.such.screen", nil)
}

func TestRenderError(t *testing.T) {
	c := newCatalog(t)
	ptr := func(n int64) *int64 { return &n }
	tries := func(n int) *int { return &n }
	broke := &wallet.Error{Code: wallet.CodeInsufficientFunds, Balance: ptr(1_250_00)}
	tests := []struct {
		lang string
		err  error
		want string
	}{
		{"en", broke, "Not enough money. Your balance is KES 1,250.00."},
		{"sw", broke, "Huna pesa za kutosha. Salio lako ni KES 1,250.00."},
		{"fr", broke, "Solde insuffisant. Votre solde est de 1 250,00 KES."},
		{"en", fmt.Errorf("send: %w", broke), "Not enough money. Your balance is KES 1,250.00."},
		{"en", &wallet.Error{Code: wallet.CodeInsufficientFunds}, "Not enough money for this transaction."},
		{"en", &wallet.Error{Code: wallet.CodePINInvalid, TriesLeft: tries(1)}, "Wrong PIN. 1 try left."},
		{"fr", &wallet.Error{Code: wallet.CodePINInvalid, TriesLeft: tries(0)}, "PIN incorrect. 0 essai restant."},
		{"en", &wallet.Error{Code: wallet.CodePINInvalid}, "Wrong PIN."},
		{"en", &wallet.Error{Code: wallet.CodeLimitExceeded, Limit: wallet.LimitDaily}, "This would exceed your daily limit. Please try a smaller amount, or try again tomorrow."},
		{"sw", &wallet.Error{Code: wallet.CodeLimitExceeded, Limit: wallet.LimitPerTransaction}, "Kiasi hiki kinazidi kikomo cha muamala mmoja. Tafadhali jaribu kiasi kidogo."},
		{"en", &wallet.Error{Code: wallet.CodeLimitExceeded, Limit: "weekly"}, "This is above your limits. Please try a smaller amount."},
		{"en", &wallet.Error{Code: wallet.CodeLimitExceeded}, "This is above your limits. Please try a smaller amount."},
		{"sw", &wallet.Error{Code: wallet.CodeRateLimited, RetryAfter: 30}, "Maombi mengi ya malipo yametumwa sasa hivi. Tafadhali jaribu tena baada ya dakika chache."},
		{"fr", &wallet.Error{Code: wallet.CodeRateLimited}, "Trop de demandes de paiement ont été envoyées à l'instant. Veuillez réessayer dans quelques minutes."},
		{"en", wallet.Errorf(wallet.CodePINLocked, "locked"), "Your PIN is locked after too many wrong tries. To unlock it, visit an agent or call customer care."},
		{"fr", wallet.Errorf(wallet.CodeAccountFrozen, "frozen"), "Ce compte est suspendu. Veuillez appeler le service client."},
		{"en", wallet.Errorf("some_new_code", "x"), "Sorry, something went wrong. Please try again later."},
		{"en", errors.New("connection reset"), "Sorry, something went wrong. Please try again later."},
		{"sw", errors.New("connection reset"), "Samahani, kuna tatizo. Tafadhali jaribu tena baadaye."},
		{"en", nil, ""},
	}
	for _, tt := range tests {
		if got := c.RenderError(tt.lang, kes, tt.err); got != tt.want {
			t.Errorf("RenderError(%s, %v) = %q, want %q", tt.lang, tt.err, got, tt.want)
		}
	}
}

// TestCatalogConcurrent renders from many goroutines at once (go-i18n parses
// templates lazily; run with -race).
func TestCatalogConcurrent(t *testing.T) {
	c := newCatalog(t)
	done := make(chan bool)
	for g := range 8 {
		go func() {
			defer func() { done <- true }()
			lang := codes[g%len(codes)]
			for _, id := range c.IDs() {
				if _, err := c.Text(lang, id, smsWorstData(c, lang, id)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
}
