// Package aggregator plays the USSD and SMS aggregators towards a gateway:
// it sends a hop as its aggregator sends it (Africa's Talking's form,
// Hubtel's and Nalo's JSON) and reads the screen from the reply, and it
// texts the SMS keyword service as Africa's Talking delivers an SMS. It is
// the one client of those protocols: kibubu dial, kibubu sms send, kibubu
// bench ussd and the tests use it. The gateway mounts its adapters at the
// paths declared here, so the two sides cannot drift apart. The kibubu
// dial command is here whole (Dial: its flags, checks and Terminal), with
// the file through which the tools find a running server (ServerURLFile).
//
// It must not import the gateway (nothing does): the gateway imports it.
package aggregator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/kibubu/kibubu/sessions"
)

// Where the gateway mounts each aggregator's webhooks, and the headers
// carrying their shared secrets (or the "secret" query parameter, where an
// aggregator's console takes only a URL).
const (
	AfricasTalkingUSSDPath = "/ussd/africastalking"
	HubtelUSSDPath         = "/ussd/hubtel"
	NaloUSSDPath           = "/ussd/nalo"
	AfricasTalkingSMSPath  = "/sms/africastalking"
	USSDSecretHeader       = "X-USSD-Secret"
	SMSSecretHeader        = "X-SMS-Secret"
	// SMSSecretFile, in a server's data dir, holds the Africa's Talking
	// SMS webhook's generated secret: the default --sms-secret-file, which
	// kibubu sms send reads too.
	SMSSecretFile = "sms.secret"
)

const (
	// NetworkCode is the MCC+MNC Africa's Talking sends as networkCode:
	// Safaricom, Kenya.
	NetworkCode = "63902"
	// ReplyBytesMax bounds a reply read: a screen is 182 GSM-7 characters
	// at most, so 4 KiB leaves room for UTF-8 and still stops a runaway body.
	ReplyBytesMax = 4 << 10
	// quotedRunesMax bounds how much of a bad reply an error quotes.
	quotedRunesMax = 120
)

// Client sends hops and SMS to the gateway at Base.
type Client struct {
	Base       string       // the gateway's base URL, e.g. http://127.0.0.1:8080
	HTTP       *http.Client // nil: http.DefaultClient
	USSDSecret string       // sent as X-USSD-Secret, if set
	SMSSecret  string       // sent as X-SMS-Secret, if set
	UserAgent  string       // sent, if set
}

// ReplyError is a reply the aggregator would end the session on: a status
// other than 200, a body too long, or one that is not a screen.
type ReplyError struct {
	URL    string
	Status string // the HTTP status line, e.g. "500 Internal Server Error"
	Body   []byte
	Why    string
}

func (e *ReplyError) Error() string { return e.Why }

// endsSession is the suffix of a USSD hop's ReplyError.
const endsSession = "; the aggregator would end the session"

// Hop sends hop as its Aggregator sends it: Africa's Talking's form with
// History as text, Hubtel's JSON with Seq, Nalo's JSON; Language goes as
// Accept-Language. It returns the screen of the reply. A failed request is
// its error (a net.Error on a timeout); a reply that is no screen is a
// *ReplyError.
func (c *Client) Hop(ctx context.Context, hop sessions.Hop) (sessions.Screen, error) {
	var path, contentType string
	var body []byte
	switch hop.Aggregator {
	case "africastalking", "":
		form := url.Values{"sessionId": {hop.SessionID}, "serviceCode": {hop.ServiceCode}, "phoneNumber": {hop.Phone},
			"networkCode": {NetworkCode}, "text": {hop.History}}
		path, contentType, body = AfricasTalkingUSSDPath, "application/x-www-form-urlencoded", []byte(form.Encode())
	case "hubtel":
		typ, msg := "Response", hop.Input
		if hop.New {
			typ, msg = "Initiation", hop.ServiceCode
		}
		body, _ = json.Marshal(map[string]any{"Type": typ, "Message": msg, "ServiceCode": hop.ServiceCode,
			"Operator": "mtn", "Mobile": hop.Phone, "SessionId": hop.SessionID, "Sequence": hop.Seq})
		path, contentType = HubtelUSSDPath, "application/json"
	case "nalo":
		msg := hop.Input
		if hop.New {
			msg = hop.ServiceCode
		}
		body, _ = json.Marshal(map[string]any{"USERID": "kibubu", "MSISDN": hop.Phone, "USERDATA": msg,
			"MSGTYPE": hop.New, "NETWORK": "MTN", "SESSIONID": hop.SessionID})
		path, contentType = NaloUSSDPath, "application/json"
	default:
		return sessions.Screen{}, fmt.Errorf("aggregator: no adapter for %q", hop.Aggregator)
	}
	endpoint := strings.TrimRight(c.Base, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return sessions.Screen{}, err
	}
	req.Header.Set("Content-Type", contentType)
	if path == AfricasTalkingUSSDPath {
		req.Header.Set("Accept", "text/plain")
	}
	if hop.Language != "" {
		req.Header.Set("Accept-Language", hop.Language)
	}
	if c.USSDSecret != "" {
		req.Header.Set(USSDSecretHeader, c.USSDSecret)
	}
	raw, err := c.do(req, endpoint)
	if re, ok := err.(*ReplyError); ok {
		re.Why += endsSession
	}
	if err != nil {
		return sessions.Screen{}, err
	}
	switch hop.Aggregator {
	case "hubtel":
		var r struct{ Type, Message string }
		if err := json.Unmarshal(raw, &r); err != nil {
			return sessions.Screen{}, &ReplyError{URL: endpoint, Body: raw, Why: fmt.Sprintf("the reply %s is not Hubtel's JSON", quote(raw)) + endsSession}
		}
		return sessions.Screen{Text: r.Message, End: strings.EqualFold(r.Type, "release")}, nil
	case "nalo":
		var r struct {
			MSG     string
			MSGTYPE bool
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return sessions.Screen{}, &ReplyError{URL: endpoint, Body: raw, Why: fmt.Sprintf("the reply %s is not Nalo's JSON", quote(raw)) + endsSession}
		}
		return sessions.Screen{Text: r.MSG, End: !r.MSGTYPE}, nil
	}
	if text, ok := strings.CutPrefix(string(raw), "END "); ok {
		return sessions.Screen{Text: text, End: true}, nil
	}
	if text, ok := strings.CutPrefix(string(raw), "CON "); ok {
		return sessions.Screen{Text: text}, nil
	}
	return sessions.Screen{}, &ReplyError{URL: endpoint, Body: raw,
		Why: fmt.Sprintf(`the reply %s starts with neither "CON " nor "END "`, quote(raw)) + endsSession}
}

// SMS is an inbound SMS as Africa's Talking delivers it.
type SMS struct {
	From, To, Text string
	ID             string // the message id; linkId too
	Date           string // "2006-01-02 15:04:05", UTC
}

// SendSMS delivers m to the SMS keyword service as Africa's Talking's
// webhook does. The reply goes out as an SMS, not in the answer: a status
// other than 200 is a *ReplyError.
func (c *Client) SendSMS(ctx context.Context, m SMS) error {
	form := url.Values{"from": {m.From}, "to": {m.To}, "text": {m.Text}, "id": {m.ID}, "date": {m.Date}, "linkId": {m.ID}}
	endpoint := strings.TrimRight(c.Base, "/") + AfricasTalkingSMSPath
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.SMSSecret != "" {
		req.Header.Set(SMSSecretHeader, c.SMSSecret)
	}
	_, err = c.do(req, endpoint)
	return err
}

// do sends req and returns the body of a 200 reply.
func (c *Client) do(req *http.Request, endpoint string) ([]byte, error) {
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, ReplyBytesMax+1))
	if err != nil {
		return nil, fmt.Errorf("reading the reply from %s: %w", endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &ReplyError{URL: endpoint, Status: resp.Status, Body: raw,
			Why: fmt.Sprintf("%s answered %s %s", endpoint, resp.Status, quote(raw))}
	}
	if len(raw) > ReplyBytesMax {
		return nil, &ReplyError{URL: endpoint, Status: resp.Status, Why: fmt.Sprintf("the reply is longer than %d bytes", ReplyBytesMax)}
	}
	return raw, nil
}

// quote quotes the start of a reply body for an error message.
func quote(body []byte) string {
	s := string(body)
	if utf8.RuneCountInString(s) > quotedRunesMax {
		s = string([]rune(s)[:quotedRunesMax]) + "…"
	}
	return fmt.Sprintf("%q", s)
}
