package gateway

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kibubu/kibubu/sessions"
)

// atSession is the captured shape of an Africa's Talking hop; text varies.
const atSession = "sessionId=ATUid_5f1c0a7e9b2d4c6e8f01&serviceCode=%2A384%2A1234%23&phoneNumber=%2B254711082300&networkCode=63902&text="

func atHop(text string) *sessions.Hop {
	input := text
	if i := strings.LastIndexByte(text, '*'); i >= 0 {
		input = text[i+1:]
	}
	return &sessions.Hop{Aggregator: "africastalking", SessionID: "ATUid_5f1c0a7e9b2d4c6e8f01", Phone: "+254711082300",
		ServiceCode: "*384*1234#", Network: "63902", New: text == "", Input: input, History: text}
}

func TestAfricasTalkingHop(t *testing.T) {
	menu := sessions.Screen{Text: "Kibubu\n1 Send money\n2 Withdraw\n3 Balance"}
	done := sessions.Screen{Text: "Sent KES 500 to 0712345678.", End: true}
	withLang := atHop("")
	withLang.Language = "sw-KE,sw;q=0.9,en;q=0.5"
	cases := []ussdCase{
		{name: "first hop", contentType: formContentType, body: atSession, screen: menu,
			wantStatus: 200, wantBody: "CON Kibubu\n1 Send money\n2 Withdraw\n3 Balance", wantContentType: "text/plain; charset=utf-8",
			wantHop: atHop("")},
		{name: "later hop", contentType: formContentType, body: atSession + "1", screen: sessions.Screen{Text: "Enter phone number"},
			wantStatus: 200, wantBody: "CON Enter phone number", wantHop: atHop("1")},
		{name: "star history: the last input is after the last star", contentType: formContentType,
			body: atSession + "1%2A0712345678%2A500%2A" + testPIN, screen: done,
			wantStatus: 200, wantBody: "END Sent KES 500 to 0712345678.", wantContentType: "text/plain; charset=utf-8",
			wantHop: atHop("1*0712345678*500*" + testPIN)},
		{name: "an empty latest input", contentType: formContentType, body: atSession + "1%2A", screen: menu,
			wantStatus: 200, wantBody: "CON Kibubu\n1 Send money\n2 Withdraw\n3 Balance", wantHop: atHop("1*")},
		{name: "END with an empty screen", contentType: formContentType, body: atSession + "3", screen: sessions.Screen{End: true},
			wantStatus: 200, wantBody: "END ", wantHop: atHop("3")},
		{name: "duplicate start: both reach the engine unchanged", contentType: formContentType, body: atSession, sends: 2, screen: menu,
			wantStatus: 200, wantBody: "CON Kibubu\n1 Send money\n2 Withdraw\n3 Balance", wantHop: atHop("")},
		{name: "simulator language hint", contentType: formContentType, body: atSession,
			header: map[string]string{"Accept-Language": "sw-KE,sw;q=0.9,en;q=0.5"}, screen: menu,
			wantStatus: 200, wantBody: "CON Kibubu\n1 Send money\n2 Withdraw\n3 Balance", wantHop: withLang},
		{name: "overlong language hint is dropped", contentType: formContentType, body: atSession,
			header: map[string]string{"Accept-Language": strings.Repeat("en,", 50)}, screen: menu,
			wantStatus: 200, wantBody: "CON Kibubu\n1 Send money\n2 Withdraw\n3 Balance", wantHop: atHop("")},
		{name: "content type with charset", contentType: formContentType + "; charset=UTF-8", body: atSession + "2", screen: menu,
			wantStatus: 200, wantBody: "CON Kibubu\n1 Send money\n2 Withdraw\n3 Balance", wantHop: atHop("2")},
		{name: "fields in another order, extra fields ignored", contentType: formContentType,
			body:   "text=2&date=2024-05-01&phoneNumber=%2B254711082300&networkCode=63902&sessionId=ATUid_5f1c0a7e9b2d4c6e8f01&serviceCode=%2A384%2A1234%23",
			screen: menu, wantStatus: 200, wantBody: "CON Kibubu\n1 Send money\n2 Withdraw\n3 Balance", wantHop: atHop("2")},

		{name: "ErrBadHop is 400", contentType: formContentType, body: atSession + "1",
			err:        fmt.Errorf("%w: not a phone number", sessions.ErrBadHop),
			wantStatus: 400, wantBody: `{"message":"bad hop"}`, wantHop: atHop("1")},
		{name: "another engine error is 500", contentType: formContentType, body: atSession + "1", err: errEngineDown,
			wantStatus: 500, wantBody: `{"message":"Internal Server Error"}`, wantHop: atHop("1"), wantLog: "engine exploded"},

		{name: "JSON content type", contentType: "application/json", body: `{"sessionId":"x"}`,
			wantStatus: 400, wantBody: `{"message":"content type must be application/x-www-form-urlencoded"}`},
		{name: "multipart content type", contentType: "multipart/form-data; boundary=x", body: atSession,
			wantStatus: 400, wantBody: `{"message":"content type must be application/x-www-form-urlencoded"}`},
		{name: "no content type", body: atSession,
			wantStatus: 400, wantBody: `{"message":"content type must be application/x-www-form-urlencoded"}`},
		{name: "malformed form", contentType: formContentType, body: "sessionId=%zz&phoneNumber=1&text=",
			wantStatus: 400, wantBody: `{"message":"malformed form body"}`},
		{name: "missing sessionId", contentType: formContentType, body: "phoneNumber=%2B254711082300&text=",
			wantStatus: 400, wantBody: `{"message":"missing sessionId"}`},
		{name: "empty sessionId", contentType: formContentType, body: "sessionId=&phoneNumber=%2B254711082300&text=",
			wantStatus: 400, wantBody: `{"message":"missing sessionId"}`},
		{name: "sessionId with a space", contentType: formContentType, body: "sessionId=AT+1&phoneNumber=%2B254711082300&text=",
			wantStatus: 400, wantBody: `{"message":"malformed sessionId"}`},
		{name: "overlong sessionId", contentType: formContentType, body: "sessionId=" + strings.Repeat("a", 65) + "&phoneNumber=%2B254711082300&text=",
			wantStatus: 400, wantBody: `{"message":"sessionId longer than 64 bytes"}`},
		{name: "missing phoneNumber", contentType: formContentType, body: "sessionId=ATUid_1&text=",
			wantStatus: 400, wantBody: `{"message":"missing phoneNumber"}`},
		{name: "missing text: not taken for a new session", contentType: formContentType, body: "sessionId=ATUid_1&phoneNumber=%2B254711082300",
			wantStatus: 400, wantBody: `{"message":"missing text"}`},
		{name: "text given twice", contentType: formContentType, body: atSession + "1&text=2",
			wantStatus: 400, wantBody: `{"message":"text given more than once"}`},
		{name: "text not UTF-8", contentType: formContentType, body: atSession + "%FF",
			wantStatus: 400, wantBody: `{"message":"text is not UTF-8"}`},
		{name: "GET is not a hop", method: http.MethodGet, query: atSession,
			wantStatus: 405, wantBody: `{"message":"Method Not Allowed"}`},
		{name: "oversized body", contentType: formContentType, body: atSession + strings.Repeat("1%2A", ussdBodyBytesMax/4),
			wantStatus: 413, wantBody: `{"message":"Request Entity Too Large"}`},
		{name: "oversized body without a length", contentType: formContentType, unsized: true,
			body:       atSession + strings.Repeat("1%2A", ussdBodyBytesMax/4),
			wantStatus: 413, wantBody: `{"message":"Request Entity Too Large"}`},
		{name: "body at the limit", contentType: formContentType, unsized: true,
			body:   atSession + strings.Repeat("1", ussdBodyBytesMax-len(atSession)),
			screen: menu, wantStatus: 200, wantBody: "CON Kibubu\n1 Send money\n2 Withdraw\n3 Balance",
			wantHop: atHop(strings.Repeat("1", ussdBodyBytesMax-len(atSession)))},
		{name: "over the server-wide limit", contentType: formContentType, body: atSession + strings.Repeat("1", RequestBodyBytesMax),
			wantStatus: 413, wantBody: `{"message":"Request Entity Too Large"}`},
	}
	cases = append(cases, authCases(aggregatorAfricasTalking, formContentType, atSession+"1", menu,
		200, "CON Kibubu\n1 Send money\n2 Withdraw\n3 Balance", atHop("1"), nil)...)
	runUSSDCases(t, africasTalkingPath, openAuth, cases)
}

// atEnd is the captured shape of Africa's Talking's end-of-session callback.
const atEnd = "sessionId=ATUid_5f1c0a7e9b2d4c6e8f01&serviceCode=%2A384%2A1234%23&networkCode=63902&phoneNumber=%2B254711082300" +
	"&date=2024-05-01+10%3A11%3A12&cost=KES+0.0000&input=1%2A0712345678%2A500%2A" + testPIN +
	"&lastAppResponse=CON+Enter+your+PIN&hopsCount=4&durationInMillis=41234"

func TestAfricasTalkingEnd(t *testing.T) {
	incomplete := &sessions.End{Aggregator: "africastalking", SessionID: "ATUid_5f1c0a7e9b2d4c6e8f01", Phone: "+254711082300",
		Status: "Incomplete", Duration: 41234 * time.Millisecond, Hops: 4}
	failed := *incomplete
	failed.Status, failed.Error = "Failed", "timeout reaching the application"
	bare := &sessions.End{Aggregator: "africastalking", SessionID: "ATUid_1"}
	cases := []ussdCase{
		{name: "incomplete session: input is never passed on", contentType: formContentType, body: atEnd + "&status=Incomplete&errorMessage=",
			wantStatus: 200, wantBody: "", wantEnd: incomplete},
		{name: "failed session with an error message", contentType: formContentType,
			body:       atEnd + "&status=Failed&errorMessage=timeout+reaching+the+application",
			wantStatus: 200, wantBody: "", wantEnd: &failed},
		{name: "the same notice twice", contentType: formContentType, body: atEnd + "&status=Incomplete", sends: 2,
			wantStatus: 200, wantBody: "", wantEnd: incomplete},
		{name: "only a sessionId", contentType: formContentType, body: "sessionId=ATUid_1",
			wantStatus: 200, wantBody: "", wantEnd: bare},
		{name: "missing sessionId", contentType: formContentType, body: "phoneNumber=%2B254711082300&status=Success",
			wantStatus: 400, wantBody: `{"message":"missing sessionId"}`},
		{name: "durationInMillis not a number", contentType: formContentType, body: "sessionId=ATUid_1&durationInMillis=12s",
			wantStatus: 400, wantBody: `{"message":"durationInMillis must be a whole number from 0 to 86400000"}`},
		{name: "durationInMillis overflowing", contentType: formContentType, body: "sessionId=ATUid_1&durationInMillis=99999999999999999999",
			wantStatus: 400, wantBody: `{"message":"durationInMillis must be a whole number from 0 to 86400000"}`},
		{name: "negative hopsCount", contentType: formContentType, body: "sessionId=ATUid_1&hopsCount=-1",
			wantStatus: 400, wantBody: `{"message":"hopsCount must be a whole number from 0 to 10000"}`},
		{name: "status given twice", contentType: formContentType, body: "sessionId=ATUid_1&status=Success&status=Failed",
			wantStatus: 400, wantBody: `{"message":"status given more than once"}`},
		{name: "overlong errorMessage", contentType: formContentType, body: "sessionId=ATUid_1&errorMessage=" + strings.Repeat("x", 513),
			wantStatus: 400, wantBody: `{"message":"errorMessage longer than 512 bytes"}`},
		{name: "JSON content type", contentType: "application/json", body: `{"sessionId":"ATUid_1"}`,
			wantStatus: 400, wantBody: `{"message":"content type must be application/x-www-form-urlencoded"}`},
		{name: "oversized body", contentType: formContentType, body: atEnd + strings.Repeat("%2A1", ussdBodyBytesMax/4),
			wantStatus: 413, wantBody: `{"message":"Request Entity Too Large"}`},
	}
	cases = append(cases, authCases(aggregatorAfricasTalking, formContentType, atEnd+"&status=Incomplete", sessions.Screen{},
		200, "", nil, incomplete)...)
	runUSSDCases(t, africasTalkingEventsPath, openAuth, cases)
}

func FuzzDecodeAfricasTalkingHop(f *testing.F) {
	f.Add(formContentType, atSession, "")
	f.Add(formContentType, atSession+"1%2A0712345678%2A500", "sw")
	f.Add(formContentType+"; charset=utf-8", "text=&text=1&sessionId=a&phoneNumber=1", "en")
	f.Add("multipart/form-data", "%zz", "")
	f.Add(formContentType, "sessionId=a&phoneNumber=b&text=%FF%2A", "\xff")
	f.Fuzz(func(t *testing.T, contentType, body, language string) {
		hop, err := decodeAfricasTalkingHop(contentType, []byte(body), language)
		if err != nil {
			return
		}
		if hop.Aggregator != aggregatorAfricasTalking || checkField("sessionId", hop.SessionID, sessionIDBytesMax) != nil ||
			checkField("phoneNumber", hop.Phone, phoneBytesMax) != nil {
			t.Fatalf("decoded %+v: bad identity", hop)
		}
		if hop.New != (hop.History == "") || !strings.HasSuffix(hop.History, hop.Input) || strings.Contains(hop.Input, "*") {
			t.Fatalf("decoded %+v: input does not match history", hop)
		}
		if !utf8.ValidString(hop.History) || !utf8.ValidString(hop.Language) || len(hop.Language) > languageBytesMax {
			t.Fatalf("decoded %+v: bad text", hop)
		}
		if hop.Seq != 0 {
			t.Fatalf("decoded %+v: Africa's Talking has no sequence", hop)
		}
		if form, _ := url.ParseQuery(body); form.Get("sessionId") != hop.SessionID {
			t.Fatalf("decoded session %q from %q", hop.SessionID, body)
		}
	})
}

func FuzzDecodeAfricasTalkingEnd(f *testing.F) {
	f.Add(formContentType, atEnd+"&status=Incomplete")
	f.Add(formContentType, "sessionId=a&durationInMillis=86400000&hopsCount=10000")
	f.Add(formContentType, "sessionId=a&durationInMillis=-0&hopsCount=+1")
	f.Add("text/plain", "sessionId=a")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		end, err := decodeAfricasTalkingEnd(contentType, []byte(body))
		if err != nil {
			return
		}
		if end.Aggregator != aggregatorAfricasTalking || checkField("sessionId", end.SessionID, sessionIDBytesMax) != nil {
			t.Fatalf("decoded %+v: bad identity", end)
		}
		if end.Duration < 0 || end.Duration > endDurationMillisMax*time.Millisecond || end.Hops < 0 || end.Hops > endHopsMax {
			t.Fatalf("decoded %+v: counts out of bounds", end)
		}
		if len(end.Status) > endFieldBytesMax || len(end.Error) > endFieldBytesMax {
			t.Fatalf("decoded %+v: overlong text", end)
		}
	})
}
