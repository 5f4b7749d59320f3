package gateway

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kibubu/kibubu/sessions"
)

// Captured shapes of Hubtel's push requests (from Hubtel's sample USSD flow).
const (
	hubtelInitiation = `{"Type":"Initiation","Mobile":"233200585542","SessionId":"3c796dac28174f739de4262d08409c51",` +
		`"ServiceCode":"713","Message":"*713*5*3#","Operator":"vodafone","Sequence":1,"ClientState":"","Platform":"USSD"}`
	hubtelResponse2 = `{"Type":"Response","Mobile":"233200585542","SessionId":"3c796dac28174f739de4262d08409c51",` +
		`"ServiceCode":"713","Message":"2","Operator":"vodafone","Sequence":2,"ClientState":"100","Platform":"USSD"}`
	hubtelPINHop = `{"Type":"Response","Mobile":"233200585542","SessionId":"3c796dac28174f739de4262d08409c51",` +
		`"ServiceCode":"713","Message":"` + testPIN + `","Operator":"vodafone","Sequence":4,"ClientState":"","Platform":"USSD"}`
	hubtelTimeout = `{"Type":"Timeout","Mobile":"233200585542","SessionId":"3c796dac28174f739de4262d08409c51",` +
		`"ServiceCode":"713","Message":"","Operator":"vodafone","Sequence":3,"ClientState":"","Platform":"USSD"}`
	// Older pages of Hubtel's reference: lower-case Types, "release", a
	// quoted Sequence, a lower-case serviceCode key.
	hubtelOldRelease = `{"Type":"release","Mobile":"233246912184","SessionId":"8d440a43a98b4614b9df22b79c8190b8",` +
		`"serviceCode":"711*2","Message":"","Operator":"mtn","Sequence":"5","ClientState":""}`
	hubtelOldResponse = `{"Type":"response","Mobile":"233246912184","SessionId":"8d440a43a98b4614b9df22b79c8190b8",` +
		`"serviceCode":"711*2","Message":"1","Operator":"mtn","Sequence":"3","ClientState":""}`
)

func hubtelHop(seq int, input string) *sessions.Hop {
	return &sessions.Hop{Aggregator: "hubtel", SessionID: "3c796dac28174f739de4262d08409c51", Phone: "233200585542",
		ServiceCode: "713", New: seq == 1, Input: input, Seq: seq}
}

func TestHubtel(t *testing.T) {
	menu := sessions.Screen{Text: "Kibubu\n1 Send money\n2 Balance"}
	menuReply := `{"SessionId":"3c796dac28174f739de4262d08409c51","Type":"response","Message":"Kibubu\n1 Send money\n2 Balance",` +
		`"Label":"Kibubu","ClientState":"","DataType":"input","FieldType":"text"}`
	releaseReply := `{"SessionId":"3c796dac28174f739de4262d08409c51","Type":"release","Message":"","Label":"","ClientState":"",` +
		`"DataType":"display","FieldType":"text"}`
	longTitle := strings.Repeat("é", 40) + "\nrest"
	cases := []ussdCase{
		{name: "initiation: the dialled string is not an input", contentType: "application/json", body: hubtelInitiation, screen: menu,
			wantStatus: 200, wantBody: menuReply, wantContentType: "application/json", wantHop: hubtelHop(1, "")},
		{name: "later hop", contentType: "application/json", body: hubtelResponse2, screen: sessions.Screen{Text: "Balance: GHS 12.50\n0 Back"},
			wantStatus: 200, wantBody: `{"SessionId":"3c796dac28174f739de4262d08409c51","Type":"response","Message":"Balance: GHS 12.50\n0 Back",` +
				`"Label":"Balance: GHS 12.50","ClientState":"","DataType":"input","FieldType":"text"}`,
			wantHop: hubtelHop(2, "2")},
		{name: "a PIN ends the session with release", contentType: "application/json; charset=utf-8", body: hubtelPINHop,
			screen:     sessions.Screen{Text: "Sent GHS 5.00.", End: true},
			wantStatus: 200, wantBody: `{"SessionId":"3c796dac28174f739de4262d08409c51","Type":"release","Message":"Sent GHS 5.00.",` +
				`"Label":"Sent GHS 5.00.","ClientState":"","DataType":"display","FieldType":"text"}`,
			wantHop: hubtelHop(4, testPIN)},
		{name: "duplicate initiation: both reach the engine unchanged", contentType: "application/json", body: hubtelInitiation, sends: 2,
			screen: menu, wantStatus: 200, wantBody: menuReply, wantHop: hubtelHop(1, "")},
		{name: "label is the first line, cut on a rune boundary", contentType: "application/json", body: hubtelResponse2,
			screen:     sessions.Screen{Text: longTitle},
			wantStatus: 200, wantBody: `{"SessionId":"3c796dac28174f739de4262d08409c51","Type":"response","Message":"` +
				strings.ReplaceAll(longTitle, "\n", `\n`) + `","Label":"` + strings.Repeat("é", 32) +
				`","ClientState":"","DataType":"input","FieldType":"text"}`,
			wantHop: hubtelHop(2, "2")},
		{name: "older lower-case response with a quoted Sequence", contentType: "application/json", body: hubtelOldResponse, screen: menu,
			wantStatus: 200, wantBody: strings.ReplaceAll(menuReply, "3c796dac28174f739de4262d08409c51", "8d440a43a98b4614b9df22b79c8190b8"),
			wantHop: &sessions.Hop{Aggregator: "hubtel", SessionID: "8d440a43a98b4614b9df22b79c8190b8", Phone: "233246912184",
				ServiceCode: "711*2", Input: "1", Seq: 3}},
		{name: "timeout ends the session", contentType: "application/json", body: hubtelTimeout,
			wantStatus: 200, wantBody: releaseReply,
			wantEnd: &sessions.End{Aggregator: "hubtel", SessionID: "3c796dac28174f739de4262d08409c51", Phone: "233200585542", Status: "timeout"}},
		{name: "release from the user ends the session", contentType: "application/json", body: hubtelOldRelease,
			wantStatus: 200, wantBody: strings.ReplaceAll(releaseReply, "3c796dac28174f739de4262d08409c51", "8d440a43a98b4614b9df22b79c8190b8"),
			wantEnd: &sessions.End{Aggregator: "hubtel", SessionID: "8d440a43a98b4614b9df22b79c8190b8", Phone: "233246912184", Status: "release"}},
		{name: "timeout without Mobile", contentType: "application/json", body: `{"Type":"Timeout","SessionId":"abc"}`,
			wantStatus: 200, wantBody: strings.ReplaceAll(releaseReply, "3c796dac28174f739de4262d08409c51", "abc"),
			wantEnd: &sessions.End{Aggregator: "hubtel", SessionID: "abc", Status: "timeout"}},

		{name: "ErrBadHop is 400", contentType: "application/json", body: hubtelResponse2,
			err:        fmt.Errorf("%w: session belongs to another phone", sessions.ErrBadHop),
			wantStatus: 400, wantBody: `{"message":"bad hop"}`, wantHop: hubtelHop(2, "2")},
		{name: "another engine error is 500", contentType: "application/json", body: hubtelResponse2, err: errEngineDown,
			wantStatus: 500, wantBody: `{"message":"Internal Server Error"}`, wantHop: hubtelHop(2, "2")},

		{name: "form content type", contentType: formContentType, body: hubtelInitiation,
			wantStatus: 400, wantBody: `{"message":"content type must be application/json"}`},
		{name: "no content type", body: hubtelInitiation,
			wantStatus: 400, wantBody: `{"message":"content type must be application/json"}`},
		{name: "malformed JSON", contentType: "application/json", body: `{"Type":"Response",`,
			wantStatus: 400, wantBody: `{"message":"malformed JSON body"}`},
		{name: "trailing data after the object", contentType: "application/json", body: hubtelResponse2 + `{}`,
			wantStatus: 400, wantBody: `{"message":"malformed JSON body"}`},
		{name: "a PIN sent as a number is not quoted back", contentType: "application/json",
			body:       `{"Type":"Response","Mobile":"233200585542","SessionId":"abc","Message":` + testPIN + `,"Sequence":4}`,
			wantStatus: 400, wantBody: `{"message":"malformed JSON body"}`},
		{name: "Sequence not a number", contentType: "application/json",
			body:       `{"Type":"Response","Mobile":"233200585542","SessionId":"abc","Message":"1","Sequence":"two"}`,
			wantStatus: 400, wantBody: `{"message":"malformed Sequence"}`},
		{name: "Sequence out of bounds", contentType: "application/json",
			body:       `{"Type":"Response","Mobile":"233200585542","SessionId":"abc","Message":"1","Sequence":99999999999999999999}`,
			wantStatus: 400, wantBody: `{"message":"malformed Sequence"}`},
		{name: "missing SessionId", contentType: "application/json", body: `{"Type":"Response","Mobile":"233200585542","Message":"1"}`,
			wantStatus: 400, wantBody: `{"message":"missing SessionId"}`},
		{name: "missing Mobile", contentType: "application/json", body: `{"Type":"Response","SessionId":"abc","Message":"1"}`,
			wantStatus: 400, wantBody: `{"message":"missing Mobile"}`},
		{name: "missing Type", contentType: "application/json", body: `{"SessionId":"abc","Mobile":"233200585542","Message":"1"}`,
			wantStatus: 400, wantBody: `{"message":"missing Type"}`},
		{name: "unsupported Type", contentType: "application/json", body: `{"Type":"AddToCart","SessionId":"abc","Mobile":"233200585542"}`,
			wantStatus: 400, wantBody: `{"message":"unsupported Type (want Initiation, Response, Release or Timeout)"}`},
		{name: "JSON array", contentType: "application/json", body: `[]`,
			wantStatus: 400, wantBody: `{"message":"malformed JSON body"}`},
		{name: "oversized body", contentType: "application/json",
			body:       `{"Type":"Response","SessionId":"abc","Mobile":"1","Message":"` + strings.Repeat("1", ussdBodyBytesMax) + `"}`,
			wantStatus: 413, wantBody: `{"message":"Request Entity Too Large"}`},
	}
	cases = append(cases, authCases(aggregatorHubtel, "application/json", hubtelResponse2, menu,
		200, menuReply, hubtelHop(2, "2"), nil)...)
	runUSSDCases(t, hubtelPath, openAuth, cases)
}

func FuzzDecodeHubtel(f *testing.F) {
	for _, body := range []string{hubtelInitiation, hubtelResponse2, hubtelTimeout, hubtelOldRelease, hubtelOldResponse,
		`{"Sequence":"-1"}`, `{"Sequence":1e3}`, `{"Type":"Initiation","SessionId":"a","Mobile":"b","Sequence":null}`, `null`} {
		f.Add("application/json", body)
	}
	f.Add("text/plain", "{}")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		d, err := decodeHubtel(contentType, []byte(body))
		if err != nil {
			return
		}
		if d.end != nil {
			if d.end.Aggregator != aggregatorHubtel || checkField("SessionId", d.end.SessionID, sessionIDBytesMax) != nil ||
				(d.end.Status != "release" && d.end.Status != "timeout") {
				t.Fatalf("decoded end %+v", *d.end)
			}
			return
		}
		h := d.hop
		if h.Aggregator != aggregatorHubtel || checkField("SessionId", h.SessionID, sessionIDBytesMax) != nil ||
			checkField("Mobile", h.Phone, phoneBytesMax) != nil {
			t.Fatalf("decoded %+v: bad identity", h)
		}
		if h.New && h.Input != "" || h.Seq < 0 || h.Seq > hubtelSequenceMax || h.History != "" {
			t.Fatalf("decoded %+v", h)
		}
	})
}
