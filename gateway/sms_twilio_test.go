package gateway

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/sessions"
)

// Captured shapes of Twilio's webhooks: an inbound SMS to a Twilio number
// from a Kenyan phone, and a status callback of a message the notifier sent.
const (
	twSid        = "SM8f2b6c1d0e9a4b7c8d1e2f3a4b5c6d7e"
	twAccount    = "AC0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"
	twFrom       = "+254711082300"
	twTo         = "+14155550123"
	twInboundPre = "ToCountry=US&ToState=CA&SmsMessageSid=" + twSid + "&NumMedia=0&ToCity=&FromZip=&SmsSid=" + twSid +
		"&FromState=&SmsStatus=received&FromCity=&Body="
	twInboundPost = "&FromCountry=KE&To=%2B14155550123&ToZip=&NumSegments=1&MessageSid=" + twSid +
		"&AccountSid=" + twAccount + "&From=%2B254711082300&ApiVersion=2010-04-01"
)

// twilioInbound is the inbound form with text as its Body.
func twilioInbound(text string) string {
	return twInboundPre + url.QueryEscape(text) + twInboundPost
}

// twStatus is a status callback with status and, when not empty, code.
func twStatus(status, code string) string {
	s := "SmsSid=" + twSid + "&SmsStatus=" + status + "&MessageStatus=" + status + "&To=%2B254711082300&MessageSid=" + twSid +
		"&AccountSid=" + twAccount + "&From=%2B14155550123&ApiVersion=2010-04-01"
	if code != "" {
		s += "&ErrorCode=" + code
	}
	return s
}

func twSMS(body string) *sessions.SMS {
	return &sessions.SMS{Provider: "twilio", ID: twSid, From: twFrom, To: twTo, Body: body}
}

func twiml(message string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + "<Response><Message>" + message + "</Message></Response>"
}

const twimlNone = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + "<Response/>"

func TestTwilioMessage(t *testing.T) {
	balance := sessions.SMSReply{Text: "Balance: KES 1,250.00", Language: "en"}
	bal := twilioInbound("BAL")
	send := twilioInbound("SEND 0712345678 500 " + testPIN)
	forbidden := `{"message":"Forbidden"}`
	prefixed := SMSConfig{PublicURL: "https://example.com/kibubu/", TwilioAuthToken: testTwilioToken}
	cases := []smsCase{
		{name: "reply", contentType: formContentType, body: bal, reply: balance,
			wantStatus: 200, wantBody: twiml("Balance: KES 1,250.00"), wantContentType: "text/xml; charset=utf-8",
			wantSMS: twSMS("BAL"), wantResult: "reply"},
		{name: "markup in the reply is escaped", contentType: formContentType, body: bal,
			reply:      sessions.SMSReply{Text: `Tom & Jerry <b>paid</b> "you" 'KES 5'` + "\nRef: X1", Language: "en"},
			wantStatus: 200, wantBody: twiml("Tom &amp; Jerry &lt;b&gt;paid&lt;/b&gt; &#34;you&#34; &#39;KES 5&#39;&#xA;Ref: X1"),
			wantSMS: twSMS("BAL"), wantResult: "reply"},
		{name: "a reply cannot close the TwiML", contentType: formContentType, body: bal,
			reply:      sessions.SMSReply{Text: "</Message><Redirect>https://evil.example</Redirect><Message>"},
			wantStatus: 200, wantBody: twiml("&lt;/Message&gt;&lt;Redirect&gt;https://evil.example&lt;/Redirect&gt;&lt;Message&gt;"),
			wantSMS: twSMS("BAL"), wantResult: "reply"},
		{name: "characters XML cannot carry become U+FFFD", contentType: formContentType, body: bal,
			reply: sessions.SMSReply{Text: "a\x00b\x1bc\xffd"}, wantStatus: 200, wantBody: twiml("a\uFFFDb\uFFFDc\uFFFDd"),
			wantSMS: twSMS("BAL"), wantResult: "reply"},
		{name: "Swahili and emoji pass through", contentType: formContentType, body: twilioInbound("SALIO 👍"),
			reply:      sessions.SMSReply{Text: "Salio lako ni KES 1,250.00 ✓", Language: "sw"},
			wantStatus: 200, wantBody: twiml("Salio lako ni KES 1,250.00 ✓"), wantSMS: twSMS("SALIO 👍"), wantResult: "reply"},
		{name: "an empty reply is an empty Response", contentType: formContentType, body: bal,
			wantStatus: 200, wantBody: twimlNone, wantContentType: "text/xml; charset=utf-8", wantSMS: twSMS("BAL"), wantResult: "silent"},
		{name: "a PIN reaches the engine, never the log", contentType: formContentType, body: send, reply: balance,
			wantStatus: 200, wantBody: twiml("Balance: KES 1,250.00"), wantSMS: twSMS("SEND 0712345678 500 " + testPIN)},
		{name: "an empty Body", contentType: formContentType, body: twilioInbound(""),
			wantStatus: 200, wantBody: twimlNone, wantSMS: twSMS("")},
		{name: "the same message twice: both reach the engine, which dedupes", contentType: formContentType, body: bal, sends: 2,
			reply: balance, wantStatus: 200, wantBody: twiml("Balance: KES 1,250.00"), wantSMS: twSMS("BAL"), wantResult: "reply"},
		{name: "fields Twilio added later are signed and ignored", contentType: formContentType,
			body:  bal + "&MessagingServiceSid=MG0123&AddOns=%7B%22status%22%3A%22successful%22%7D&RcsSenderId=x&NumMedia1=",
			reply: balance, wantStatus: 200, wantBody: twiml("Balance: KES 1,250.00"), wantSMS: twSMS("BAL")},
		{name: "fields in another order", contentType: formContentType,
			body:  "From=%2B254711082300&Body=BAL&MessageSid=" + twSid + "&To=%2B14155550123&AccountSid=" + twAccount,
			reply: balance, wantStatus: 200, wantBody: twiml("Balance: KES 1,250.00"), wantSMS: twSMS("BAL")},
		{name: "only MessageSid, From and an empty Body", contentType: formContentType, body: "MessageSid=" + twSid + "&From=%2B254711082300&Body=",
			wantStatus: 200, wantBody: twimlNone, wantSMS: &sessions.SMS{Provider: "twilio", ID: twSid, From: twFrom}},
		{name: "a WhatsApp sender is passed on as sent", contentType: formContentType,
			body:       "MessageSid=" + twSid + "&From=whatsapp%3A%2B254711082300&To=whatsapp%3A%2B14155550123&Body=BAL",
			wantStatus: 200, wantBody: twimlNone,
			wantSMS: &sessions.SMS{Provider: "twilio", ID: twSid, From: "whatsapp:+254711082300", To: "whatsapp:+14155550123", Body: "BAL"}},
		{name: "content type with charset", contentType: formContentType + "; charset=utf-8", body: bal, reply: balance,
			wantStatus: 200, wantBody: twiml("Balance: KES 1,250.00"), wantSMS: twSMS("BAL")},
		{name: "signed with the default port", contentType: formContentType, body: bal, signURL: "https://pay.example.com:443/sms/twilio",
			reply: balance, wantStatus: 200, wantBody: twiml("Balance: KES 1,250.00"), wantSMS: twSMS("BAL")},
		{name: "a webhook URL with a query is signed with it", contentType: formContentType, body: bal, query: "tenant=ke&v=2",
			reply: balance, wantStatus: 200, wantBody: twiml("Balance: KES 1,250.00"), wantSMS: twSMS("BAL")},
		{name: "a public URL with a path prefix the proxy strips", contentType: formContentType, body: bal, cfg: &prefixed,
			signURL: "https://example.com/kibubu/sms/twilio", reply: balance,
			wantStatus: 200, wantBody: twiml("Balance: KES 1,250.00"), wantSMS: twSMS("BAL")},

		// Forgeries: nothing reaches the engine, and the log says why.
		{name: "forged: no signature", contentType: formContentType, body: send, unsigned: true,
			wantStatus: 403, wantBody: forbidden, wantResult: "forbidden", wantLog: `reason="signature missing"`},
		{name: "forged: no signature, oversized body not read", contentType: formContentType, unsigned: true,
			body: bal + "&Pad=" + strings.Repeat("x", smsBodyBytesMax), wantStatus: 403, wantBody: forbidden},
		{name: "forged: garbage signature", contentType: formContentType, body: bal, sig: "vOEb5UThFn24KEfnOFLQY2AE5FY=",
			wantStatus: 403, wantBody: forbidden, wantResult: "forbidden", wantLog: `reason="signature wrong"`},
		{name: "forged: signed with another token", contentType: formContentType, body: bal, signToken: wrongTwilioToken,
			wantStatus: 403, wantBody: forbidden, wantLog: `reason="signature wrong"`},
		{name: "forged: Body tampered", contentType: formContentType, body: twilioInbound("SEND 0799999999 5000 " + testPIN),
			signBody: send, wantStatus: 403, wantBody: forbidden, wantLog: `reason="signature wrong"`},
		{name: "forged: From tampered", contentType: formContentType, body: strings.Replace(bal, "254711082300", "254799999999", 1),
			signBody: bal, wantStatus: 403, wantBody: forbidden},
		{name: "forged: MessageSid changed to dodge the dedupe", contentType: formContentType,
			body: strings.ReplaceAll(bal, twSid, "SM00000000000000000000000000000000"), signBody: bal, wantStatus: 403, wantBody: forbidden},
		{name: "forged: a field added", contentType: formContentType, body: bal + "&Extra=1", signBody: bal,
			wantStatus: 403, wantBody: forbidden},
		{name: "forged: a field removed", contentType: formContentType, body: strings.Replace(bal, "&NumSegments=1", "", 1),
			signBody: bal, wantStatus: 403, wantBody: forbidden},
		// Twilio's scheme joins names and values without separators, so a
		// signed form re-split elsewhere ("Body"+"BAL" = "Bod"+"yBAL") keeps
		// its signature; requiring Body, and the engine's dedupe by
		// MessageSid, leave nothing to gain from it.
		{name: "a signed form re-split between name and value lacks Body", contentType: formContentType,
			body: "MessageSid=" + twSid + "&From=%2B254711082300&Bod=yBAL", signBody: "MessageSid=" + twSid + "&From=%2B254711082300&Body=BAL",
			wantStatus: 400, wantBody: `{"message":"missing Body"}`},
		{name: "proxy mismatch: signed for the internal address", contentType: formContentType, body: bal,
			signURL: "http://10.0.0.5:8080/sms/twilio", wantStatus: 403, wantBody: forbidden, wantLog: `reason="signature wrong"`},
		{name: "proxy mismatch: signed for http", contentType: formContentType, body: bal,
			signURL: "http://pay.example.com/sms/twilio", wantStatus: 403, wantBody: forbidden},
		{name: "proxy mismatch: signed for another host", contentType: formContentType, body: bal,
			signURL: "https://evil.example.com/sms/twilio", wantStatus: 403, wantBody: forbidden},
		{name: "proxy mismatch: the prefix not configured", contentType: formContentType, body: bal,
			signURL: "https://pay.example.com/kibubu/sms/twilio", wantStatus: 403, wantBody: forbidden},
		{name: "forged: the query tampered", contentType: formContentType, body: bal, query: "tenant=ug",
			signURL: "https://pay.example.com/sms/twilio?tenant=ke", wantStatus: 403, wantBody: forbidden},
		{name: "forged: a status callback's signature replayed here", contentType: formContentType, body: bal,
			signURL: "https://pay.example.com/sms/twilio/status", wantStatus: 403, wantBody: forbidden},

		// Malformed, though signed.
		{name: "JSON content type", contentType: "application/json", body: `{"MessageSid":"SM1"}`,
			wantStatus: 400, wantBody: `{"message":"content type must be application/x-www-form-urlencoded"}`, wantResult: "bad"},
		{name: "no content type", body: bal,
			wantStatus: 400, wantBody: `{"message":"content type must be application/x-www-form-urlencoded"}`},
		{name: "malformed form", contentType: formContentType, body: "MessageSid=%zz", sig: "c2lnbmF0dXJl",
			wantStatus: 400, wantBody: `{"message":"malformed form body"}`},
		{name: "missing MessageSid", contentType: formContentType, body: "From=%2B254711082300&Body=BAL",
			wantStatus: 400, wantBody: `{"message":"missing MessageSid"}`, wantResult: "bad"},
		{name: "missing From", contentType: formContentType, body: "MessageSid=" + twSid + "&Body=BAL",
			wantStatus: 400, wantBody: `{"message":"missing From"}`},
		{name: "missing Body: Twilio always sends it, if empty", contentType: formContentType, body: "MessageSid=" + twSid + "&From=%2B254711082300",
			wantStatus: 400, wantBody: `{"message":"missing Body"}`},
		{name: "MessageSid with a space", contentType: formContentType, body: "MessageSid=SM+1&From=%2B254711082300",
			wantStatus: 400, wantBody: `{"message":"malformed MessageSid"}`},
		{name: "overlong MessageSid", contentType: formContentType, body: "MessageSid=" + strings.Repeat("S", 65) + "&From=%2B254711082300",
			wantStatus: 400, wantBody: `{"message":"MessageSid longer than 64 bytes"}`},
		{name: "a field given twice", contentType: formContentType, body: bal + "&Body=SEND",
			wantStatus: 400, wantBody: `{"message":"a field given more than once"}`},
		{name: "Body not UTF-8", contentType: formContentType, body: twInboundPre + "%FF" + twInboundPost,
			wantStatus: 400, wantBody: `{"message":"Body is not UTF-8"}`},
		{name: "Body over 1,600 4-byte characters", contentType: formContentType, body: twilioInbound(strings.Repeat("x", smsTextBytesMax+1)),
			wantStatus: 400, wantBody: `{"message":"Body longer than 6400 bytes"}`},
		{name: "Body of 1,600 emoji", contentType: formContentType, body: twilioInbound(strings.Repeat("👍", 1600)),
			wantStatus: 200, wantBody: twimlNone, wantSMS: twSMS(strings.Repeat("👍", 1600))},
		{name: "oversized body", contentType: formContentType, body: bal + "&Pad=" + strings.Repeat("x", smsBodyBytesMax),
			wantStatus: 413, wantBody: `{"message":"Request Entity Too Large"}`, wantResult: "bad"},
		{name: "oversized body without a length", contentType: formContentType, unsized: true,
			body: bal + "&Pad=" + strings.Repeat("x", smsBodyBytesMax), wantStatus: 413, wantBody: `{"message":"Request Entity Too Large"}`},
		{name: "body at the limit", contentType: formContentType, unsized: true,
			body: bal + "&Pad=" + strings.Repeat("x", smsBodyBytesMax-len(bal)-len("&Pad=")), reply: balance,
			wantStatus: 200, wantBody: twiml("Balance: KES 1,250.00"), wantSMS: twSMS("BAL")},
		{name: "over the server-wide limit", contentType: formContentType, body: bal + "&Pad=" + strings.Repeat("x", RequestBodyBytesMax),
			wantStatus: 413, wantBody: `{"message":"Request Entity Too Large"}`},
		{name: "GET is not a webhook", method: http.MethodGet, query: bal,
			wantStatus: 405, wantBody: `{"message":"Method Not Allowed"}`},

		// The engine's errors.
		{name: "ErrBadSMS is 400", contentType: formContentType, body: bal, err: fmt.Errorf("%w: sender is not a phone", sessions.ErrBadSMS),
			wantStatus: 400, wantBody: `{"message":"bad sms"}`, wantSMS: twSMS("BAL"), wantResult: "bad"},
		{name: "another engine error is 503, for a retry", contentType: formContentType, body: send, err: errEngineDown,
			wantStatus: 503, wantBody: `{"message":"Service Unavailable"}`, wantSMS: twSMS("SEND 0712345678 500 " + testPIN),
			wantResult: "failed", wantLog: "engine exploded"},
	}
	runSMSCases(t, twilioPath, testSMSConfig, true, cases)
}

func TestTwilioStatus(t *testing.T) {
	report := func(status, code string) *notify.Report {
		return &notify.Report{Provider: "twilio", ID: twSid, Status: status, ErrorCode: code}
	}
	forbidden := `{"message":"Forbidden"}`
	cases := []smsCase{
		{name: "delivered", contentType: formContentType, body: twStatus("delivered", ""),
			wantStatus: 204, wantBody: "", wantReport: report("delivered", ""), wantResult: "report"},
		{name: "sent", contentType: formContentType, body: twStatus("sent", ""), wantStatus: 204, wantReport: report("sent", "")},
		{name: "queued", contentType: formContentType, body: twStatus("queued", ""), wantStatus: 204, wantReport: report("queued", "")},
		{name: "undelivered with an error code", contentType: formContentType, body: twStatus("undelivered", "30003"),
			wantStatus: 204, wantReport: report("undelivered", "30003")},
		{name: "failed: the recipient sent STOP", contentType: formContentType, body: twStatus("failed", "21610"),
			wantStatus: 204, wantReport: report("failed", "21610")},
		{name: "the same callback twice: both passed on, the notifier dedupes", contentType: formContentType,
			body: twStatus("delivered", ""), sends: 2, wantStatus: 204, wantReport: report("delivered", "")},
		{name: "extra fields are signed and ignored", contentType: formContentType, body: twStatus("delivered", "") + "&RawDlrDoneDate=2405011011",
			wantStatus: 204, wantReport: report("delivered", "")},
		{name: "read: documented, not tracked", contentType: formContentType, body: twStatus("read", ""),
			wantStatus: 204, wantResult: "ignored"},
		{name: "accepted: documented, not tracked", contentType: formContentType, body: twStatus("accepted", ""),
			wantStatus: 204, wantResult: "ignored"},
		{name: "an unknown status", contentType: formContentType, body: twStatus("exploded", ""),
			wantStatus: 400, wantBody: `{"message":"unknown MessageStatus"}`, wantResult: "bad"},
		{name: "a status in another case", contentType: formContentType, body: twStatus("Delivered", ""),
			wantStatus: 400, wantBody: `{"message":"unknown MessageStatus"}`},
		{name: "missing MessageStatus", contentType: formContentType, body: "MessageSid=" + twSid + "&SmsStatus=delivered",
			wantStatus: 400, wantBody: `{"message":"missing MessageStatus"}`},
		{name: "missing MessageSid", contentType: formContentType, body: "MessageStatus=delivered",
			wantStatus: 400, wantBody: `{"message":"missing MessageSid"}`},
		{name: "ErrorCode not digits", contentType: formContentType, body: twStatus("failed", "30003x"),
			wantStatus: 400, wantBody: `{"message":"ErrorCode must be digits"}`},
		{name: "overlong ErrorCode", contentType: formContentType, body: twStatus("failed", "123456789"),
			wantStatus: 400, wantBody: `{"message":"ErrorCode longer than 8 bytes"}`},
		{name: "the notifier failing is 503", contentType: formContentType, body: twStatus("delivered", ""), sendErr: errOutboxDown,
			wantStatus: 503, wantBody: `{"message":"Service Unavailable"}`, wantReport: report("delivered", ""),
			wantResult: "failed", wantLog: "outbox unreachable"},
		{name: "forged: no signature", contentType: formContentType, body: twStatus("failed", "30003"), unsigned: true,
			wantStatus: 403, wantBody: forbidden, wantResult: "forbidden", wantLog: `reason="signature missing"`},
		{name: "forged: status tampered", contentType: formContentType, body: twStatus("delivered", ""), signBody: twStatus("failed", ""),
			wantStatus: 403, wantBody: forbidden},
		{name: "forged: an inbound message's signature replayed here", contentType: formContentType, body: twStatus("delivered", ""),
			signURL: "https://pay.example.com/sms/twilio", wantStatus: 403, wantBody: forbidden},
		{name: "oversized body", contentType: formContentType, body: twStatus("sent", "") + "&Pad=" + strings.Repeat("x", smsBodyBytesMax),
			wantStatus: 413, wantBody: `{"message":"Request Entity Too Large"}`},
	}
	runSMSCases(t, twilioStatusPath, testSMSConfig, true, cases)
}

func FuzzTwilioMessage(f *testing.F) {
	f.Add(formContentType, twilioInbound("BAL"))
	f.Add(formContentType, twilioInbound("SEND 0712345678 500 "+testPIN))
	f.Add(formContentType+"; charset=utf-8", "MessageSid=SM1&From=%2B1&Body=%FF")
	f.Add(formContentType, "MessageSid=SM1&MessageSid=SM2&From=x")
	f.Add(formContentType, "=&&=x&From=whatsapp%3A%2B254711082300&MessageSid=a")
	f.Add("application/json", `{"MessageSid":"SM1"}`)
	f.Fuzz(func(t *testing.T, contentType, body string) {
		form, params, err := parseTwilioForm(contentType, []byte(body))
		if err != nil {
			return
		}
		if len(params) != len(form) {
			t.Fatalf("params %v do not match form %v", params, form)
		}
		for name, vs := range form {
			if len(vs) != 1 || params[name] != vs[0] {
				t.Fatalf("field %q: form %q, params %q", name, vs, params[name])
			}
		}
		m, err := decodeTwilioMessage(form)
		if err != nil {
			return
		}
		if m.Provider != providerTwilio || checkField("MessageSid", m.ID, messageIDBytesMax) != nil ||
			checkField("From", m.From, phoneBytesMax) != nil {
			t.Fatalf("decoded %+v: bad identity", m)
		}
		if m.To != "" && checkField("To", m.To, phoneBytesMax) != nil {
			t.Fatalf("decoded %+v: bad To", m)
		}
		if !utf8.ValidString(m.Body) || len(m.Body) > smsTextBytesMax {
			t.Fatalf("decoded %+v: bad Body", m)
		}
		if m.ID != params["MessageSid"] || m.From != params["From"] || m.Body != params["Body"] || m.To != params["To"] {
			t.Fatalf("decoded %+v from %v", m, params)
		}
	})
}

func FuzzTwilioStatus(f *testing.F) {
	f.Add(formContentType, twStatus("delivered", ""))
	f.Add(formContentType, twStatus("undelivered", "30003"))
	f.Add(formContentType, twStatus("read", ""))
	f.Add(formContentType, "MessageSid=SM1&MessageStatus=failed&ErrorCode=-1")
	f.Add(formContentType, "MessageSid=SM1&MessageStatus=partially_delivered&ErrorCode=")
	f.Add("text/plain", "MessageSid=SM1")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		form, _, err := parseTwilioForm(contentType, []byte(body))
		if err != nil {
			return
		}
		r, tracked, err := decodeTwilioStatus(form)
		if err != nil {
			return
		}
		if r.Provider != providerTwilio || checkField("MessageSid", r.ID, messageIDBytesMax) != nil {
			t.Fatalf("decoded %+v: bad identity", r)
		}
		want, known := twilioStatuses[r.Status]
		if !known || want != tracked {
			t.Fatalf("decoded %+v, tracked %t: bad status", r, tracked)
		}
		if tracked && !strings.Contains(" queued sent delivered undelivered failed ", " "+r.Status+" ") {
			t.Fatalf("decoded %+v: the notifier does not track it", r)
		}
		if checkErrorCode(r.ErrorCode) != nil || !r.At.IsZero() {
			t.Fatalf("decoded %+v: bad ErrorCode or time", r)
		}
	})
}

// FuzzTwilioReply checks that no reply text can break out of its Message:
// the TwiML parses to exactly one Response holding one Message whose text
// is the reply, less what XML cannot carry.
func FuzzTwilioReply(f *testing.F) {
	for _, s := range []string{"", "Balance: KES 1,250.00", "</Message><Redirect>x</Redirect>", "a&b<c>\"'\r\n\t", "\x00\xff\uFFFE",
		"]]><!--", "&#x3C;", "Salio 👍"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		var doc struct {
			XMLName  xml.Name `xml:"Response"`
			Messages []struct {
				Text  string     `xml:",chardata"`
				Inner []xml.Name `xml:",any"`
			} `xml:"Message"`
			Other []xml.Name `xml:",any"`
		}
		out := twimlMessage(text)
		if err := xml.Unmarshal(out, &doc); err != nil {
			t.Fatalf("twimlMessage(%q) = %s: %v", text, out, err)
		}
		if len(doc.Messages) != 1 || len(doc.Other) != 0 || len(doc.Messages[0].Inner) != 0 {
			t.Fatalf("twimlMessage(%q) = %s: not one Message alone", text, out)
		}
		want := strings.Map(func(r rune) rune {
			if !xmlChar(r) {
				return utf8.RuneError
			}
			return r
		}, text)
		if got := doc.Messages[0].Text; got != want {
			t.Fatalf("twimlMessage(%q) carries %q, want %q", text, got, want)
		}
	})
}

// xmlChar reports whether XML 1.0 can carry r (its Char production).
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// A reply to a real request reads back through an XML decoder as Twilio's
// would, newlines included.
func TestTwiMLRoundTrip(t *testing.T) {
	text := "Sent KES 500 to Tom & Jerry <0712345678>.\nNew balance: KES 750.00"
	var doc struct {
		Message string `xml:"Message"`
	}
	if err := xml.Unmarshal(twimlMessage(text), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Message != text {
		t.Errorf("read back %q, want %q", doc.Message, text)
	}
}
