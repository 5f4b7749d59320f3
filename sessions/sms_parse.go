package sessions

import (
	"strings"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/kibubu/kibubu/wallet"
)

// The verbs of SMS commands: what a keyword, in any language, asks for.
const (
	verbBalance  = "bal"
	verbSend     = "send"
	verbPay      = "pay"
	verbBill     = "bill"
	verbAirtime  = "airtime"
	verbMini     = "mini"
	verbLanguage = "lang"
	verbHelp     = "help"
	verbCancel   = "no"
	verbStop     = "stop"
	verbStart    = "start"
	// verbPIN is a message that is only digits: the PIN a confirmation
	// asked for (or a guess at one).
	verbPIN = "pin"
	// verbApprovals lists what waits for the sender's approval.
	verbApprovals = "approvals"
	// verbObject objects to the reversal of a transfer the sender received.
	verbObject = "object"
)

// smsVerbs are the verbs with a keyword in each language, in the order the
// description of sms.help lists them; smsAliases the keywords. The
// description is the source: TestSMSAliases checks that they agree.
var (
	smsVerbs   = [...]string{verbBalance, verbSend, verbPay, verbBill, verbAirtime, verbMini, verbLanguage, verbHelp}
	smsAliases = map[string][len(smsVerbs)]string{
		"en": {"BAL", "SEND", "PAY", "BILL", "AIRTIME", "MINI", "LANG", "HELP"},
		"sw": {"SALIO", "TUMA", "LIPA", "BILI", "MUDA", "TAARIFA", "LUGHA", "MSAADA"},
		"fr": {"SOLDE", "ENVOYER", "PAYER", "FACTURE", "CREDIT", "RELEVE", "LANGUE", "AIDE"},
	}
	// smsCancels are the words that cancel a confirmation, by language.
	smsCancels = map[string]string{"en": "NO", "sw": "HAPANA", "fr": "NON"}
	// smsApprovalWords are the keywords that list approvals, by language.
	// Their source is the description of sms.approvals.hint in
	// locales/approvals.en.toml (TestSMSApprovalWords).
	smsApprovalWords = map[string]string{"en": "APPROVALS", "sw": "IDHINI", "fr": "APPROBATIONS"}
)

// smsKeywords maps every keyword, folded (foldKeyword), to its verb. STOP
// and START are English in every language: carriers and providers act on
// them as they are.
var smsKeywords = func() map[string]string {
	m := map[string]string{"STOP": verbStop, "START": verbStart}
	for lang, words := range smsAliases {
		for i, w := range words {
			m[w] = smsVerbs[i]
		}
		m[smsCancels[lang]] = verbCancel
		m[smsApprovalWords[lang]] = verbApprovals
		m[smsObjectWords[lang]] = verbObject
	}
	return m
}()

// pinDigitsMax is the longest PIN a wallet has: a message of up to this
// many digits alone is taken for a PIN, of the wrong length or not; a
// longer one is not a command.
const pinDigitsMax = wallet.PINLengthMax

// smsCommand is an SMS as the parser reads it: the verb its first word
// names and the words after it. It checks only the words' number and
// shapes where no setting is needed; the engine checks the arguments.
type smsCommand struct {
	Verb string   // one of the verb constants, or "" when the message names none
	Args []string // the words after the keyword, none empty
	// PIN is, for verbPIN, the digits; for verbCancel, the word after it
	// when that is digits alone ("NO 2580"): the PIN that declines an
	// approval.
	PIN string
}

// parseSMS reads a message's body. Case, accents and spacing do not matter
// in a keyword ("Tuma", "relevé", " bal "); a trailing full stop, comma or
// question or exclamation mark on it is ignored ("HELP?").
func parseSMS(body string) smsCommand {
	words := strings.Fields(body)
	if len(words) == 0 {
		return smsCommand{}
	}
	if len(words) == 1 && pinLike(words[0]) {
		return smsCommand{Verb: verbPIN, PIN: words[0]}
	}
	verb := smsKeywords[foldKeyword(words[0])]
	if verb == "" {
		return smsCommand{}
	}
	c := smsCommand{Verb: verb, Args: words[1:]}
	if verb == verbCancel && len(c.Args) == 1 && pinLike(c.Args[0]) {
		c.PIN = c.Args[0]
	}
	return c
}

// pinLike reports whether w is 1 to pinDigitsMax ASCII digits.
func pinLike(w string) bool {
	if w == "" || len(w) > pinDigitsMax {
		return false
	}
	for i := 0; i < len(w); i++ {
		if w[i] < '0' || w[i] > '9' {
			return false
		}
	}
	return true
}

// keywordBytesMax bounds the word foldKeyword works on: the longest keyword
// is 12 letters (APPROBATIONS), so a longer word is none, whatever its
// accents.
const keywordBytesMax = 32

// foldKeyword returns w upper-cased, without accents or a trailing
// punctuation mark: RELEVÉ and relevé are RELEVE.
func foldKeyword(w string) string {
	if len(w) > keywordBytesMax {
		return ""
	}
	w = strings.TrimRight(w, ".,!?")
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	if folded, _, err := transform.String(t, w); err == nil {
		w = folded
	}
	return strings.ToUpper(w)
}

// String is the command as an English speaker would write it: the English
// keyword and the words after it, or the PIN; "" for no command. Parsing it
// gives the same command back.
func (c smsCommand) String() string {
	switch c.Verb {
	case "":
		return ""
	case verbPIN:
		return c.PIN
	}
	return strings.Join(append([]string{keyword(c.Verb)}, c.Args...), " ")
}

// keyword is verb's English keyword.
func keyword(verb string) string {
	switch verb {
	case verbCancel:
		return smsCancels["en"]
	case verbApprovals:
		return smsApprovalWords["en"]
	case verbObject:
		return smsObjectWords["en"]
	case verbStop, verbStart:
		return strings.ToUpper(verb)
	}
	for i, v := range smsVerbs {
		if v == verb {
			return smsAliases["en"][i]
		}
	}
	return ""
}

// redacted is what the engine keeps of the message: the keyword alone,
// since any argument may be a PIN typed in the wrong place ("SEND
// 0712345678 500 1234"), "[PIN]" for a PIN, and "[unknown]" for anything
// else. It holds no digit of the body.
func (c smsCommand) redacted() string {
	switch c.Verb {
	case "":
		return "[unknown]"
	case verbPIN:
		return "[PIN]"
	}
	return keyword(c.Verb)
}
