package sessions

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
)

// TestSMSAliases checks the parser's keywords against their source, the
// description of sms.help in the English message file, as
// locales.TestSMSKeywords reads it.
func TestSMSAliases(t *testing.T) {
	raw, err := os.ReadFile("../locales/active.en.toml")
	if err != nil {
		t.Fatal(err)
	}
	desc := regexp.MustCompile(`(?m)^\["sms\.help"\]\ndescription = "([^"]*)"`).FindSubmatch(raw)
	if desc == nil {
		t.Fatal("no description of sms.help in active.en.toml")
	}
	lists := regexp.MustCompile(`\b(en|sw|fr) ((?:[A-Z]+, )+[A-Z]+)[;.]`).FindAllSubmatch(desc[1], -1)
	if len(lists) != len(smsAliases) {
		t.Fatalf("the description lists %d languages' keywords, the parser %d: %s", len(lists), len(smsAliases), desc[1])
	}
	for _, l := range lists {
		lang, words := string(l[1]), strings.Split(string(l[2]), ", ")
		if got := smsAliases[lang]; !slices.Equal(got[:], words) {
			t.Errorf("%s keywords %v, the description lists %v", lang, got, words)
		}
	}
	cancels := regexp.MustCompile(`en (\w+), sw (\w+), fr (\w+)\.`).FindSubmatch(desc[1])
	if cancels == nil || smsCancels["en"] != string(cancels[1]) || smsCancels["sw"] != string(cancels[2]) || smsCancels["fr"] != string(cancels[3]) {
		t.Errorf("cancel words %v, the description says %q", smsCancels, cancels)
	}
	for _, lang := range fuzzCatalog().Languages() {
		if _, ok := smsAliases[lang]; !ok {
			t.Errorf("no keywords for %s", lang)
		}
	}
}

// TestSMSApprovalWords checks the keywords that list approvals against
// their source, the description of sms.approvals.hint, and that they name
// no other command.
func TestSMSApprovalWords(t *testing.T) {
	raw, err := os.ReadFile("../locales/approvals.en.toml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`Keywords that list approvals: en ([A-Z]+), sw ([A-Z]+), fr ([A-Z]+)\.`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("approvals.en.toml does not list the keywords that list approvals")
	}
	for i, lang := range []string{"en", "sw", "fr"} {
		if w := smsApprovalWords[lang]; w != string(m[i+1]) {
			t.Errorf("%s keyword %s, the description lists %s", lang, w, m[i+1])
		}
		if v := smsKeywords[string(m[i+1])]; v != verbApprovals {
			t.Errorf("%s names %q, not the approvals", m[i+1], v)
		}
	}
	if len(smsApprovalWords) != len(fuzzCatalog().Languages()) {
		t.Errorf("approval keywords for %v, languages %v", smsApprovalWords, fuzzCatalog().Languages())
	}
}

func TestParseSMS(t *testing.T) {
	tests := []struct {
		body string
		want smsCommand
	}{
		{"BAL", smsCommand{Verb: verbBalance, Args: []string{}}},
		{"  salio\n", smsCommand{Verb: verbBalance, Args: []string{}}},
		{"Solde.", smsCommand{Verb: verbBalance, Args: []string{}}},
		{"send 0712345678 500", smsCommand{Verb: verbSend, Args: []string{"0712345678", "500"}}},
		{"Tuma\t0712 345 678  1,000", smsCommand{Verb: verbSend, Args: []string{"0712", "345", "678", "1,000"}}},
		{"ENVOYER +254712345678 5", smsCommand{Verb: verbSend, Args: []string{"+254712345678", "5"}}},
		{"lipa 123456 50", smsCommand{Verb: verbPay, Args: []string{"123456", "50"}}},
		{"FACTURE 888880 ACC 12 500", smsCommand{Verb: verbBill, Args: []string{"888880", "ACC", "12", "500"}}},
		{"muda 50", smsCommand{Verb: verbAirtime, Args: []string{"50"}}},
		{"Crédit 50", smsCommand{Verb: verbAirtime, Args: []string{"50"}}},
		{"RELEVÉ", smsCommand{Verb: verbMini, Args: []string{}}},
		{"relevé", smsCommand{Verb: verbMini, Args: []string{}}},
		{"RELEVE\u0301", smsCommand{Verb: verbMini, Args: []string{}}}, // the accent a combining mark
		{"ＳＥＮＤ 0712345678 5", smsCommand{}},                            // full-width letters are not the keyword
		{"taarifa", smsCommand{Verb: verbMini, Args: []string{}}},
		{"LUGHA sw", smsCommand{Verb: verbLanguage, Args: []string{"sw"}}},
		{"aide?", smsCommand{Verb: verbHelp, Args: []string{}}},
		{"Msaada!", smsCommand{Verb: verbHelp, Args: []string{}}},
		{"no", smsCommand{Verb: verbCancel, Args: []string{}}},
		{"HAPANA asante", smsCommand{Verb: verbCancel, Args: []string{"asante"}}},
		{"Non", smsCommand{Verb: verbCancel, Args: []string{}}},
		{"NO 2580", smsCommand{Verb: verbCancel, Args: []string{"2580"}, PIN: "2580"}},
		{"hapana  12345678", smsCommand{Verb: verbCancel, Args: []string{"12345678"}, PIN: "12345678"}},
		{"NON 2580 merci", smsCommand{Verb: verbCancel, Args: []string{"2580", "merci"}}},
		{"NO 123456789", smsCommand{Verb: verbCancel, Args: []string{"123456789"}}},
		{"stop", smsCommand{Verb: verbStop, Args: []string{}}},
		{"START", smsCommand{Verb: verbStart, Args: []string{}}},
		{"APPROVALS", smsCommand{Verb: verbApprovals, Args: []string{}}},
		{"idhini?", smsCommand{Verb: verbApprovals, Args: []string{}}},
		{"Approbations. merci", smsCommand{Verb: verbApprovals, Args: []string{"merci"}}},
		{"APPROVAL", smsCommand{}},
		{"2580", smsCommand{Verb: verbPIN, PIN: "2580"}},
		{" 12 ", smsCommand{Verb: verbPIN, PIN: "12"}},
		{"12345678", smsCommand{Verb: verbPIN, PIN: "12345678"}},
		{"123456789", smsCommand{}},
		{"2580 2580", smsCommand{}},
		{"pin 2580", smsCommand{}},
		{"", smsCommand{}},
		{"hello", smsCommand{}},
		{"BALANCE", smsCommand{}},
		{"SENDS 0712345678 5", smsCommand{}},
		{"\xff\xfe", smsCommand{}},
	}
	for _, tt := range tests {
		got := parseSMS(tt.body)
		if got.Verb != tt.want.Verb || !slices.Equal(got.Args, tt.want.Args) || got.PIN != tt.want.PIN {
			t.Errorf("parseSMS(%q) = %+v, want %+v", tt.body, got, tt.want)
		}
	}
}

// FuzzSMSParse feeds the keyword parser and the check of a money command's
// arguments arbitrary bodies, and checks what the engine relies on: a
// command's words are words, its text parses back to it, its redacted copy
// holds no digit of the body, and any order it makes is one the wallet
// takes.
func FuzzSMSParse(f *testing.F) {
	for _, s := range []string{
		"BAL", "send 0712345678 500", "TUMA 0712 345 678 1,000", "relevé", "Aide?", "2580", "12345678",
		"123456789", "", "  \t\n", "NO", "hapana", "STOP", "bill 888880 ACC 12 500", "ÉNVOYER x", "\xff",
		"PAY 123456 500.50", "AIRTIME 50", "muda +255712345678 20", "FACTURE 1 € 5", "LANG FR",
		"SEND 0712345678 500 2580", "BILI 888880 " + strings.Repeat("A", 21) + " 5", "credit\u00a0\u200b50",
		"APPROVALS", "idhini 2580", "approbations!", "NO 2580", "hapana 2580 asante",
	} {
		f.Add(s)
	}
	e := fuzzEngine(f, noWallet{})
	f.Fuzz(func(t *testing.T, body string) {
		c := parseSMS(body)
		switch c.Verb {
		case "", verbBalance, verbSend, verbPay, verbBill, verbAirtime, verbMini, verbLanguage, verbHelp,
			verbStop, verbStart, verbApprovals:
			if c.PIN != "" {
				t.Fatalf("%q: %+v has a PIN", body, c)
			}
		case verbCancel:
			if c.PIN != "" && (!pinLike(c.PIN) || !slices.Equal(c.Args, []string{c.PIN})) {
				t.Fatalf("%q: NO with PIN %+v", body, c)
			}
		case verbPIN:
			if !pinLike(c.PIN) || c.PIN != strings.TrimSpace(body) || len(c.Args) != 0 {
				t.Fatalf("%q: PIN %+v", body, c)
			}
		default:
			t.Fatalf("%q: verb %q", body, c.Verb)
		}
		for _, a := range c.Args {
			if a == "" || strings.IndexFunc(a, unicode.IsSpace) >= 0 {
				t.Fatalf("%q: argument %q is not a word", body, a)
			}
		}
		if r := c.redacted(); strings.ContainsAny(r, "0123456789") {
			t.Fatalf("%q: redacted %q holds digits", body, r)
		}
		if c.Verb != "" {
			back := parseSMS(c.String())
			if back.Verb != c.Verb || !slices.Equal(back.Args, c.Args) || back.PIN != c.PIN {
				t.Fatalf("%q: %+v reads back from %q as %+v", body, c, c.String(), back)
			}
		}
		if isASCII(body) {
			if lower := parseSMS(strings.ToLower(body)); lower.Verb != c.Verb {
				t.Fatalf("%q: lower case reads as %q, not %q", body, lower.Verb, c.Verb)
			}
		}
		if c.Verb == verbPIN || smsKinds[c.Verb] == "" {
			return
		}
		o := e.smsOrder(c)
		if o == nil {
			return
		}
		if o.Verb != c.Verb || o.Amount <= 0 || o.Amount > wallet.AmountMax {
			t.Fatalf("%q: order %+v", body, o)
		}
		switch o.Verb {
		case verbSend, verbAirtime:
			if o.To == "" && o.Verb == verbSend {
				t.Fatalf("%q: a send to no one", body)
			}
			if o.To != "" {
				if p, err := wallet.NormalizePhone(o.To, "KE"); err != nil || p != o.To {
					t.Fatalf("%q: recipient %q is not E.164 (%v)", body, o.To, err)
				}
			}
		case verbPay, verbBill:
			if !businessNumber(o.To) {
				t.Fatalf("%q: number %q", body, o.To)
			}
		}
		if o.Verb == verbBill {
			if n, ok := locales.Septets(o.Account); !ok || n > locales.AccountCharsMax || o.Account == "" {
				t.Fatalf("%q: account %q", body, o.Account)
			}
		} else if o.Account != "" {
			t.Fatalf("%q: account %q outside a bill", body, o.Account)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
