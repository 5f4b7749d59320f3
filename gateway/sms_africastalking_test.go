package gateway

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet"
)

// atSMSID is the id of the captured Africa's Talking message.
const atSMSID = "5c9b1d3e-7f2a-4b6c-8d0e-1f2a3b4c5d6e"

// atInbound is the captured shape of an Africa's Talking incoming SMS to
// a shortcode, with text as its text.
func atInbound(text string) string {
	return "linkId=7f3e1b2c-0d4a-4e5f-9a8b-7c6d5e4f3a2b&text=" + url.QueryEscape(text) + "&to=21525&id=" + atSMSID +
		"&date=2024-05-01+10%3A11%3A12&from=%2B254711082300&networkCode=63902"
}

func atSMS(from, text string) *sessions.SMS {
	return &sessions.SMS{Provider: "africastalking", ID: atSMSID, From: from, To: "21525", Body: text}
}

func atReply(to, lang, text string) *notify.Message {
	return &notify.Message{Key: "reply:africastalking:" + atSMSID, To: to, Language: lang, Text: text}
}

func TestAfricasTalkingSMS(t *testing.T) {
	salio := sessions.SMSReply{Text: "Salio lako ni KES 1,250.00.", Language: "sw",
		Words: locales.NewWords("sms.balance", map[string]any{"Balance": "KES 1,250.00"})}
	withSecret := map[string]string{"X-SMS-Secret": testSecret}
	forbidden := `{"message":"Forbidden"}`
	uganda := testSMSConfig
	uganda.Region = "ug"
	cases := []smsCase{
		{name: "a reply goes through the notifier, keyed by the message id", contentType: formContentType, header: withSecret,
			body: atInbound("SALIO"), reply: salio, wantStatus: 200, wantBody: "",
			wantSMS: atSMS("+254711082300", "SALIO"), wantSent: atReply("+254711082300", "sw", "Salio lako ni KES 1,250.00."),
			wantResult: "reply"},
		{name: "a national sender is passed on as sent and answered in E.164", contentType: formContentType, header: withSecret,
			body: strings.Replace(atInbound("BAL"), "%2B254711082300", "0711082300", 1), reply: salio, wantStatus: 200,
			wantSMS: atSMS("0711082300", "BAL"), wantSent: atReply("+254711082300", "sw", "Salio lako ni KES 1,250.00.")},
		{name: "the configured region applies to a national sender", contentType: formContentType, header: withSecret, cfg: &uganda,
			body: strings.Replace(atInbound("BAL"), "%2B254711082300", "0772123456", 1), reply: salio, wantStatus: 200,
			wantSMS: atSMS("0772123456", "BAL"), wantSent: atReply("+256772123456", "sw", "Salio lako ni KES 1,250.00.")},
		{name: "a reply the notifier refuses is logged, not retried", contentType: formContentType, header: withSecret,
			body: atInbound("PAY 123456 500"), reply: sessions.SMSReply{Text: "Pay bit.ly/x?", Language: "en",
				Words: locales.NewWords("sms.balance", map[string]any{"Balance": "bit.ly/x"})},
			wantStatus: 200, wantSMS: atSMS("+254711082300", "PAY 123456 500"), wantResult: "silent",
			wantLog: "the notifier refuses its words"},
		{name: "an empty reply sends nothing", contentType: formContentType, header: withSecret, body: atInbound("BAL"),
			wantStatus: 200, wantSMS: atSMS("+254711082300", "BAL"), wantResult: "silent"},
		{name: "a PIN reaches the engine, never the log", contentType: formContentType, header: withSecret,
			body: atInbound("SEND 0712345678 500 " + testPIN), reply: salio, wantStatus: 200,
			wantSMS:  atSMS("+254711082300", "SEND 0712345678 500 "+testPIN),
			wantSent: atReply("+254711082300", "sw", "Salio lako ni KES 1,250.00.")},
		{name: "the same message twice: the same key both times", contentType: formContentType, header: withSecret, sends: 2,
			body: atInbound("BAL"), reply: salio, wantStatus: 200,
			wantSMS: atSMS("+254711082300", "BAL"), wantSent: atReply("+254711082300", "sw", "Salio lako ni KES 1,250.00.")},
		{name: "the notifier failing is 503, so the message comes again", contentType: formContentType, header: withSecret,
			body: atInbound("BAL"), reply: salio, sendErr: errOutboxDown,
			wantStatus: 503, wantBody: `{"message":"Service Unavailable"}`, wantSMS: atSMS("+254711082300", "BAL"),
			wantSent: atReply("+254711082300", "sw", "Salio lako ni KES 1,250.00."), wantResult: "failed", wantLog: "outbox unreachable"},
		{name: "only id and from", contentType: formContentType, header: withSecret, body: "id=" + atSMSID + "&from=%2B254711082300",
			wantStatus: 200, wantSMS: &sessions.SMS{Provider: "africastalking", ID: atSMSID, From: "+254711082300"}},
		{name: "content type with charset", contentType: formContentType + "; charset=UTF-8", header: withSecret,
			body: atInbound("BAL"), wantStatus: 200, wantSMS: atSMS("+254711082300", "BAL")},

		// Authentication, before the body is read.
		{name: "auth: secret in the query", contentType: formContentType, query: "secret=" + testSecret, body: atInbound("BAL"),
			wantStatus: 200, wantSMS: atSMS("+254711082300", "BAL")},
		{name: "auth: secret missing", contentType: formContentType, body: atInbound("BAL"),
			wantStatus: 403, wantBody: forbidden, wantResult: "forbidden", wantLog: `reason="secret missing"`},
		{name: "auth: secret wrong in the header", contentType: formContentType, header: map[string]string{"X-SMS-Secret": wrongSecret},
			body: atInbound("SEND 0712345678 500 " + testPIN), wantStatus: 403, wantBody: forbidden, wantLog: `reason="secret wrong"`},
		{name: "auth: secret wrong in the query", contentType: formContentType, query: "secret=" + wrongSecret, body: atInbound("BAL"),
			wantStatus: 403, wantBody: forbidden, wantLog: `reason="secret wrong"`},
		{name: "auth: the header wins over the query", contentType: formContentType, query: "secret=" + testSecret,
			header: map[string]string{"X-SMS-Secret": wrongSecret}, body: atInbound("BAL"), wantStatus: 403, wantBody: forbidden},
		{name: "auth: the USSD header is not the SMS one", contentType: formContentType,
			header: map[string]string{"X-USSD-Secret": testSecret}, body: atInbound("BAL"), wantStatus: 403, wantBody: forbidden},
		{name: "auth: a secret's prefix", contentType: formContentType, header: map[string]string{"X-SMS-Secret": testSecret[:16]},
			body: atInbound("BAL"), wantStatus: 403, wantBody: forbidden},
		{name: "auth: a Twilio signature is no secret", contentType: formContentType,
			header: map[string]string{"X-Twilio-Signature": signFor(africasTalkingSMSPath, atInbound("BAL"))},
			body:   atInbound("BAL"), wantStatus: 403, wantBody: forbidden},
		{name: "auth: refused before an oversized body is read", contentType: formContentType,
			body: atInbound("BAL") + "&pad=" + strings.Repeat("x", smsBodyBytesMax), wantStatus: 403, wantBody: forbidden},

		// Malformed.
		{name: "an alphanumeric sender cannot be answered", contentType: formContentType, header: withSecret,
			body:       strings.Replace(atInbound("BAL"), "%2B254711082300", "MPESA", 1),
			wantStatus: 400, wantBody: `{"message":"from is not a phone number"}`, wantResult: "bad"},
		{name: "a sender that is no valid number", contentType: formContentType, header: withSecret,
			body:       strings.Replace(atInbound("BAL"), "%2B254711082300", "%2B2541", 1),
			wantStatus: 400, wantBody: `{"message":"from is not a phone number"}`},
		{name: "missing id", contentType: formContentType, header: withSecret, body: "from=%2B254711082300&text=BAL",
			wantStatus: 400, wantBody: `{"message":"missing id"}`},
		{name: "missing from", contentType: formContentType, header: withSecret, body: "id=" + atSMSID + "&text=BAL",
			wantStatus: 400, wantBody: `{"message":"missing from"}`},
		{name: "overlong id", contentType: formContentType, header: withSecret, body: "id=" + strings.Repeat("a", 65) + "&from=%2B254711082300",
			wantStatus: 400, wantBody: `{"message":"id longer than 64 bytes"}`},
		{name: "text given twice", contentType: formContentType, header: withSecret, body: atInbound("BAL") + "&text=SEND",
			wantStatus: 400, wantBody: `{"message":"text given more than once"}`},
		{name: "text not UTF-8", contentType: formContentType, header: withSecret,
			body: "id=" + atSMSID + "&from=%2B254711082300&text=%FF", wantStatus: 400, wantBody: `{"message":"text is not UTF-8"}`},
		{name: "JSON content type", contentType: "application/json", header: withSecret, body: `{"id":"1"}`,
			wantStatus: 400, wantBody: `{"message":"content type must be application/x-www-form-urlencoded"}`},
		{name: "malformed form", contentType: formContentType, header: withSecret, body: "id=%zz",
			wantStatus: 400, wantBody: `{"message":"malformed form body"}`},
		{name: "oversized body", contentType: formContentType, header: withSecret,
			body: atInbound("BAL") + "&pad=" + strings.Repeat("x", smsBodyBytesMax), wantStatus: 413, wantBody: `{"message":"Request Entity Too Large"}`},
		{name: "oversized body without a length", contentType: formContentType, header: withSecret, unsized: true,
			body: atInbound("BAL") + "&pad=" + strings.Repeat("x", smsBodyBytesMax), wantStatus: 413, wantBody: `{"message":"Request Entity Too Large"}`},
		{name: "GET is not a webhook", method: http.MethodGet, query: "secret=" + testSecret,
			wantStatus: 405, wantBody: `{"message":"Method Not Allowed"}`},

		// The engine's errors.
		{name: "ErrBadSMS is 400", contentType: formContentType, header: withSecret, body: atInbound("BAL"),
			err: fmt.Errorf("%w: no such sender", sessions.ErrBadSMS), wantStatus: 400, wantBody: `{"message":"bad sms"}`,
			wantSMS: atSMS("+254711082300", "BAL"), wantResult: "bad"},
		{name: "another engine error is 503, for a retry", contentType: formContentType, header: withSecret, body: atInbound("BAL"),
			err: errEngineDown, wantStatus: 503, wantBody: `{"message":"Service Unavailable"}`,
			wantSMS: atSMS("+254711082300", "BAL"), wantResult: "failed", wantLog: "engine exploded"},
	}
	runSMSCases(t, africasTalkingSMSPath, testSMSConfig, false, cases)
}

func FuzzSMSAfricasTalking(f *testing.F) {
	f.Add(formContentType, atInbound("BAL"), "KE")
	f.Add(formContentType, strings.Replace(atInbound("SEND 0712345678 500 "+testPIN), "%2B254711082300", "0711082300", 1), "ke")
	f.Add(formContentType, "id=1&from=0772123456&text=", "UG")
	f.Add(formContentType+"; charset=utf-8", "id=1&from=MPESA&text=%FF", "KE")
	f.Add(formContentType, "id=1&id=2&from=%2B1", "")
	f.Add("application/json", `{"id":"1"}`, "KE")
	f.Fuzz(func(t *testing.T, contentType, body, region string) {
		m, replyTo, err := decodeAfricasTalkingSMS(contentType, []byte(body), region)
		if err != nil {
			return
		}
		if m.Provider != providerAfricasTalking || checkField("id", m.ID, messageIDBytesMax) != nil ||
			checkField("from", m.From, phoneBytesMax) != nil {
			t.Fatalf("decoded %+v: bad identity", m)
		}
		if !utf8.ValidString(m.Body) || len(m.Body) > smsTextBytesMax {
			t.Fatalf("decoded %+v: bad text", m)
		}
		if again, err := wallet.NormalizePhone(replyTo, region); err != nil || again != replyTo || !strings.HasPrefix(replyTo, "+") {
			t.Fatalf("decoded reply address %q from %q: not E.164 (%q, %v)", replyTo, m.From, again, err)
		}
		if form, _ := url.ParseQuery(body); form.Get("id") != m.ID || form.Get("from") != m.From {
			t.Fatalf("decoded %+v from %q", m, body)
		}
	})
}
