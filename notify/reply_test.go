package notify

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kibubu/kibubu/locales"
)

func replyJSON(t testing.TB, r Reply) []byte {
	t.Helper()
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestDecodeReply checks what the notifier accepts of a gateway's Reply:
// the catalogue messages a conversation says, with short plain arguments;
// never a receipt's, a prompt's or a PIN notice's words, a link, or prose.
func TestDecodeReply(t *testing.T) {
	cat := catalog(t)
	words := locales.NewWords
	n := func(v int64) *int64 { return &v }
	ok := Reply{Inbound: "africastalking:5c9b1d3e", To: "+254711082300", Language: "sw",
		Words: words("sms.balance", map[string]any{"Balance": "KES 1,250.00"})}
	with := func(f func(r *Reply)) Reply { r := ok; f(&r); return r }
	say := func(w locales.Words) Reply { return with(func(r *Reply) { r.Words = w }) }
	balance := func(v string) Reply { return say(words("sms.balance", map[string]any{"Balance": v})) }
	deep := words("sms.malformed", map[string]any{"Usage": words("sms.malformed", map[string]any{"Usage": words("sms.usage.send", nil)})})
	lines := make([]locales.Words, wordsLinesMax+1)
	for i := range lines {
		lines[i] = words("ussd.statement.empty", nil)
	}
	many := map[string]any{}
	for _, k := range []string{"A", "B", "C", "D", "E", "F", "G", "H", "I"} {
		many[k] = "1"
	}
	cases := []struct {
		name  string
		reply Reply
		ok    bool
	}{
		{"a keyword's reply", ok, true},
		{"a usage inside a refusal", say(words("sms.malformed", map[string]any{"Usage": words("sms.usage.send", nil)})), true},
		{"a mini statement's lines", say(words("sms.mini", map[string]any{"Balance": "KES 5.00", "Statement": []locales.Words{
			words("ussd.statement.title", map[string]any{"Currency": "KES"}),
			words("ussd.statement.line", map[string]any{"Date": "21/11", "Ref": "QK7M2X9A1B", "Amount": "-507.00"})}})), true},
		{"tries left", say(words("error.pin_invalid.tries_left", map[string]any{"Count": 2})), true},
		{"a late outcome", say(words("error.not_found.recipient", map[string]any{"Phone": "+254712345678"})), true},
		{"a service code", say(words("sms.not_registered", map[string]any{"Code": "*334#"})), true},
		{"a French amount", with(func(r *Reply) {
			r.Language, r.Words = "fr", words("sms.balance", map[string]any{"Balance": "1 250,00 KES"})
		}), true},
		{"a name with an initial", balance("J. Mwangi"), true},

		{"a receipt's words", say(words("sms.receipt.send.recipient", map[string]any{"Amount": "KES 9,000.00"})), false},
		{"a prompt's words", say(words("sms.prompt.request", nil)), false},
		{"a start key's words", say(words("sms.pin.start_key", map[string]any{"Key": "123456", "Expires": "31/12/26 23:59"})), false},
		{"a PIN reset's words", say(words("sms.pin.reset", nil)), false},
		{"a PIN change's words", say(words("sms.pin.changed", nil)), false},
		{"a USSD menu", say(words("ussd.main.menu", nil)), false},
		{"no words", say(locales.Words{}), false},
		{"a receipt inside a usage", say(words("sms.malformed", map[string]any{"Usage": words("sms.receipt.send.sender", nil)})), false},
		{"a link", balance("http://evil.example"), false},
		{"a link without a scheme", balance("bit.ly/kibubu"), false},
		{"www", balance("WWW kibubu"), false},
		{"an address", balance("pay@evil"), false},
		{"an address with a path", balance("10.0.0.1/pay"), false},
		{"an account reference with slashes", balance("INV/2024/A1"), true},
		{"a reference with a colon", balance("ACC:77"), true},
		{"a line break", balance("KES 5\nVisit"), false},
		{"prose", balance(strings.Repeat("Your account is locked ", 3)), false},
		{"not GSM-7", balance("KES 5 ✓"), false},
		{"too many arguments", say(words("sms.balance", many)), false},
		{"an argument name that is not a word", say(locales.Words{ID: "sms.balance", Args: map[string]locales.Arg{"Bal ance": {Text: "1"}}}), false},
		{"a number too big", say(locales.Words{ID: "sms.balance", Args: map[string]locales.Arg{"Count": {Num: n(argNumMax + 1)}}}), false},
		{"an argument of two kinds", say(locales.Words{ID: "sms.balance", Args: map[string]locales.Arg{"Balance": {Text: "1", Num: n(1)}}}), false},
		{"words nested too deep", say(deep), false},
		{"too many lines", say(words("sms.mini", map[string]any{"Balance": "1", "Statement": lines})), false},
		{"no inbound", with(func(r *Reply) { r.Inbound = "" }), false},
		{"an inbound with a space", with(func(r *Reply) { r.Inbound = "a b" }), false},
		{"an inbound too long", with(func(r *Reply) { r.Inbound = strings.Repeat("x", inboundIDBytesMax+1) }), false},
		{"a phone not E.164", with(func(r *Reply) { r.To = "0711082300" }), false},
		{"a language not the catalogue's", with(func(r *Reply) { r.Language = "de" }), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeReply(replyJSON(t, tc.reply), cat)
			if (err == nil) != tc.ok {
				t.Fatalf("DecodeReply = %+v, %v; want accepted %v", got, err, tc.ok)
			}
			if err != nil {
				return
			}
			if _, err := cat.RenderWords(got.Language, got.Words); err != nil {
				t.Errorf("accepted, but renders: %v", err)
			}
		})
	}
	for _, data := range []string{"", "{", "[]", `{"inbound":1}`, strings.Repeat(" ", replyBytesMax+1)} {
		if r, err := DecodeReply([]byte(data), cat); err == nil {
			t.Errorf("DecodeReply(%.20q) = %+v, want an error", data, r)
		}
	}
}

// FuzzDecodeReply feeds the notifier's parser of a gateway's Reply: it never
// panics, and what it accepts renders or is refused with an error, names
// only messages a reply may say, and decodes again to itself.
func FuzzDecodeReply(f *testing.F) {
	cat := catalog(f)
	for _, r := range []Reply{
		{Inbound: "africastalking:1", To: "+254711082300", Language: "en", Words: locales.NewWords("sms.balance", map[string]any{"Balance": "KES 1.00"})},
		{Inbound: "ussd:at:n:3", To: "+254711082300", Language: "fr", Words: locales.NewWords("sms.mini", map[string]any{"Balance": "1", "Statement": []locales.Words{locales.NewWords("ussd.statement.empty", nil)}})},
		{Inbound: "x", To: "+254711082300", Language: "sw", Words: locales.NewWords("sms.malformed", map[string]any{"Usage": locales.NewWords("sms.usage.pay", nil)})},
		{Inbound: "x", To: "+254711082300", Language: "en", Words: locales.NewWords("error.pin_invalid.tries_left", map[string]any{"Count": 1})},
	} {
		f.Add(replyJSON(f, r))
	}
	f.Add([]byte(`{"inbound":"x","to":"+254711082300","language":"en","words":{"id":"sms.balance","args":{"Balance":{"t":"www.evil"}}}}`))
	f.Add([]byte(`{"inbound":"x","to":"+254711082300","language":"en","words":{"id":"sms.balance","args":{"Balance":{"w":{"id":"sms.help"}}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeReply(data, cat)
		if err != nil {
			return
		}
		var walk func(w locales.Words)
		walk = func(w locales.Words) {
			if !replyMessage(w.ID) {
				t.Fatalf("accepted %q", w.ID)
			}
			for _, a := range w.Args {
				if strings.Contains(strings.ToLower(a.Text), "://") || strings.ContainsAny(a.Text, "\n@") {
					t.Fatalf("accepted the argument %q", a.Text)
				}
				if a.Words != nil {
					walk(*a.Words)
				}
				for _, l := range a.Lines {
					walk(l)
				}
			}
		}
		walk(r.Words)
		_, _ = cat.RenderWords(r.Language, r.Words)
		if _, err := DecodeReply(replyJSON(t, r), cat); err != nil {
			t.Fatalf("accepted %q, but not again as %s: %v", data, replyJSON(t, r), err)
		}
	})
}
