// Package ussdtest speaks each aggregator's raw USSD protocol to a running
// gateway, for the tests of the packages that drive sessions through HTTP:
// a sessions.Hop becomes the request that aggregator would send, and its
// reply the Screen it would show.
package ussdtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/kibubu/kibubu/sessions"
)

// replyBytesMax bounds a reply read: a screen is at most a few hundred bytes.
const replyBytesMax = 4 << 10

// Post sends hop to the gateway at base (http://host:port) as its
// Aggregator sends it: Africa's Talking's form with History as text,
// Hubtel's JSON with Seq, Nalo's JSON; Language goes as Accept-Language.
// A reply other than 200 is an error.
func Post(base string, hop sessions.Hop) (sessions.Screen, error) {
	var req *http.Request
	switch hop.Aggregator {
	case "africastalking":
		form := url.Values{"sessionId": {hop.SessionID}, "serviceCode": {hop.ServiceCode}, "phoneNumber": {hop.Phone},
			"networkCode": {"63902"}, "text": {hop.History}}
		req, _ = http.NewRequest(http.MethodPost, base+"/ussd/africastalking", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case "hubtel":
		typ, msg := "Response", hop.Input
		if hop.New {
			typ, msg = "Initiation", hop.ServiceCode
		}
		body, _ := json.Marshal(map[string]any{"Type": typ, "Message": msg, "ServiceCode": hop.ServiceCode,
			"Operator": "mtn", "Mobile": hop.Phone, "SessionId": hop.SessionID, "Sequence": hop.Seq})
		req, _ = http.NewRequest(http.MethodPost, base+"/ussd/hubtel", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	case "nalo":
		msg := hop.Input
		if hop.New {
			msg = hop.ServiceCode
		}
		body, _ := json.Marshal(map[string]any{"USERID": "kibubu", "MSISDN": hop.Phone, "USERDATA": msg,
			"MSGTYPE": hop.New, "NETWORK": "MTN", "SESSIONID": hop.SessionID})
		req, _ = http.NewRequest(http.MethodPost, base+"/ussd/nalo", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	default:
		return sessions.Screen{}, fmt.Errorf("ussdtest: no adapter for %q", hop.Aggregator)
	}
	if hop.Language != "" {
		req.Header.Set("Accept-Language", hop.Language)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return sessions.Screen{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, replyBytesMax))
	if err != nil {
		return sessions.Screen{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return sessions.Screen{}, fmt.Errorf("HTTP %d: %s", resp.StatusCode, raw)
	}
	switch hop.Aggregator {
	case "africastalking":
		if text, ok := strings.CutPrefix(string(raw), "END "); ok {
			return sessions.Screen{Text: text, End: true}, nil
		}
		text, ok := strings.CutPrefix(string(raw), "CON ")
		if !ok {
			return sessions.Screen{}, fmt.Errorf("reply %q is neither CON nor END", raw)
		}
		return sessions.Screen{Text: text}, nil
	case "hubtel":
		var r struct{ Type, Message string }
		if err := json.Unmarshal(raw, &r); err != nil {
			return sessions.Screen{}, err
		}
		return sessions.Screen{Text: r.Message, End: strings.EqualFold(r.Type, "release")}, nil
	default:
		var r struct {
			MSG     string
			MSGTYPE bool
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return sessions.Screen{}, err
		}
		return sessions.Screen{Text: r.MSG, End: !r.MSGTYPE}, nil
	}
}
