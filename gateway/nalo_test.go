package gateway

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kibubu/kibubu/sessions"
)

// Captured shapes of Nalo's requests (from Nalo's USSD API documentation).
const (
	naloDial = `{"USERID":"NALOTest","MSISDN":"233244000111","USERDATA":"*920*55#","MSGTYPE":true,"NETWORK":"MTN",` +
		`"SESSIONID":"16590115252429751"}`
	naloMenuChoice = `{"USERID":"NALOTest","MSISDN":"233244000111","USERDATA":"1","MSGTYPE":false,"NETWORK":"MTN",` +
		`"SESSIONID":"16590115252429751"}`
	naloPIN = `{"USERID":"NALOTest","MSISDN":"233244000111","USERDATA":"` + testPIN + `","MSGTYPE":false,"NETWORK":"MTN",` +
		`"SESSIONID":"16590115252429751"}`
)

func naloHop(newSession bool, input string) *sessions.Hop {
	return &sessions.Hop{Aggregator: "nalo", SessionID: "16590115252429751", Phone: "233244000111", New: newSession, Input: input}
}

func TestNalo(t *testing.T) {
	menu := sessions.Screen{Text: "Kibubu\n1 Send money\n2 Balance"}
	menuReply := `{"USERID":"NALOTest","MSISDN":"233244000111","MSG":"Kibubu\n1 Send money\n2 Balance","MSGTYPE":true}`
	cases := []ussdCase{
		{name: "dial: MSGTYPE true is a new session, USERDATA not an input", contentType: "application/json", body: naloDial, screen: menu,
			wantStatus: 200, wantBody: menuReply, wantContentType: "application/json", wantHop: naloHop(true, "")},
		{name: "later hop", contentType: "application/json", body: naloMenuChoice, screen: sessions.Screen{Text: "Enter phone number"},
			wantStatus: 200, wantBody: `{"USERID":"NALOTest","MSISDN":"233244000111","MSG":"Enter phone number","MSGTYPE":true}`,
			wantHop: naloHop(false, "1")},
		{name: "END is MSGTYPE false", contentType: "application/json; charset=utf-8", body: naloPIN,
			screen:     sessions.Screen{Text: "Sent GHS 5.00.", End: true},
			wantStatus: 200, wantBody: `{"USERID":"NALOTest","MSISDN":"233244000111","MSG":"Sent GHS 5.00.","MSGTYPE":false}`,
			wantHop: naloHop(false, testPIN)},
		{name: "duplicate dial: both reach the engine unchanged", contentType: "application/json", body: naloDial, sends: 2, screen: menu,
			wantStatus: 200, wantBody: menuReply, wantHop: naloHop(true, "")},
		{name: "SESSIONID as a number keeps every digit", contentType: "application/json",
			body:   strings.Replace(naloMenuChoice, `"SESSIONID":"16590115252429751"`, `"SESSIONID":16590115252429751`, 1),
			screen: menu, wantStatus: 200, wantBody: menuReply, wantHop: naloHop(false, "1")},
		{name: "lower-case keys", contentType: "application/json",
			body:   `{"userid":"NALOTest","msisdn":"233244000111","userdata":"1","msgtype":false,"sessionid":"16590115252429751"}`,
			screen: menu, wantStatus: 200, wantBody: menuReply, wantHop: naloHop(false, "1")},

		{name: "ErrBadHop is 400", contentType: "application/json", body: naloMenuChoice,
			err:        fmt.Errorf("%w: not a phone number", sessions.ErrBadHop),
			wantStatus: 400, wantBody: `{"message":"bad hop"}`, wantHop: naloHop(false, "1")},
		{name: "another engine error is 500", contentType: "application/json", body: naloMenuChoice, err: errEngineDown,
			wantStatus: 500, wantBody: `{"message":"Internal Server Error"}`, wantHop: naloHop(false, "1")},

		{name: "form content type", contentType: formContentType, body: naloDial,
			wantStatus: 400, wantBody: `{"message":"content type must be application/json"}`},
		{name: "malformed JSON", contentType: "application/json", body: `{"USERID":`,
			wantStatus: 400, wantBody: `{"message":"malformed JSON body"}`},
		{name: "a PIN sent as a number is not quoted back", contentType: "application/json",
			body:       `{"USERID":"NALOTest","MSISDN":"233244000111","USERDATA":` + testPIN + `,"MSGTYPE":false,"SESSIONID":"1"}`,
			wantStatus: 400, wantBody: `{"message":"malformed JSON body"}`},
		{name: "MSGTYPE as a string", contentType: "application/json",
			body:       strings.Replace(naloDial, `"MSGTYPE":true`, `"MSGTYPE":"true"`, 1),
			wantStatus: 400, wantBody: `{"message":"malformed JSON body"}`},
		{name: "missing MSGTYPE", contentType: "application/json",
			body:       `{"USERID":"NALOTest","MSISDN":"233244000111","USERDATA":"1","SESSIONID":"16590115252429751"}`,
			wantStatus: 400, wantBody: `{"message":"missing MSGTYPE"}`},
		{name: "missing SESSIONID: not keyed by phone", contentType: "application/json",
			body:       `{"USERID":"NALOTest","MSISDN":"233244000111","USERDATA":"1","MSGTYPE":false,"NETWORK":"MTN"}`,
			wantStatus: 400, wantBody: `{"message":"missing SESSIONID"}`},
		{name: "SESSIONID neither string nor integer", contentType: "application/json",
			body:       strings.Replace(naloDial, `"SESSIONID":"16590115252429751"`, `"SESSIONID":1.5e3`, 1),
			wantStatus: 400, wantBody: `{"message":"malformed SESSIONID"}`},
		{name: "missing MSISDN", contentType: "application/json",
			body:       `{"USERID":"NALOTest","USERDATA":"1","MSGTYPE":false,"SESSIONID":"16590115252429751"}`,
			wantStatus: 400, wantBody: `{"message":"missing MSISDN"}`},
		{name: "missing USERID", contentType: "application/json",
			body:       `{"MSISDN":"233244000111","USERDATA":"1","MSGTYPE":false,"SESSIONID":"16590115252429751"}`,
			wantStatus: 400, wantBody: `{"message":"missing USERID"}`},
		{name: "oversized body", contentType: "application/json",
			body:       strings.Replace(naloMenuChoice, `"USERDATA":"1"`, `"USERDATA":"`+strings.Repeat("1", ussdBodyBytesMax)+`"`, 1),
			wantStatus: 413, wantBody: `{"message":"Request Entity Too Large"}`},
	}
	cases = append(cases, authCases(aggregatorNalo, "application/json", naloMenuChoice, menu,
		200, menuReply, naloHop(false, "1"), nil)...)
	runUSSDCases(t, naloPath, openAuth, cases)
}

func FuzzDecodeNalo(f *testing.F) {
	for _, body := range []string{naloDial, naloMenuChoice, naloPIN,
		`{"USERID":"a","MSISDN":"b","MSGTYPE":true,"SESSIONID":123}`, `{"SESSIONID":"\u0000"}`, `{"MSGTYPE":null}`} {
		f.Add("application/json", body)
	}
	f.Fuzz(func(t *testing.T, contentType, body string) {
		d, err := decodeNalo(contentType, []byte(body))
		if err != nil {
			return
		}
		h := d.hop
		if h.Aggregator != aggregatorNalo || checkField("SESSIONID", h.SessionID, sessionIDBytesMax) != nil ||
			checkField("MSISDN", h.Phone, phoneBytesMax) != nil || checkField("USERID", d.userID, naloUserIDBytesMax) != nil {
			t.Fatalf("decoded %+v (%q): bad identity", h, d.userID)
		}
		if h.New && h.Input != "" || h.Seq != 0 || h.History != "" {
			t.Fatalf("decoded %+v", h)
		}
	})
}
