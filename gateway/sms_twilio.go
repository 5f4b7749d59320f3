package gateway

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/sessions"
)

// Twilio Programmable Messaging: a form POST per inbound SMS
//
//	ToCountry=KE&SmsMessageSid=SM…&NumMedia=0&SmsSid=SM…&SmsStatus=received&Body=BAL&To=%2B254…
//	&NumSegments=1&MessageSid=SM…&AccountSid=AC…&From=%2B254…&ApiVersion=2010-04-01
//
// answered with TwiML, and a form POST per status change of a message the
// notifier sent (MessageSid, MessageStatus, ErrorCode, …). Twilio adds
// fields without notice; every field, known or not, is part of the
// signature. X-Twilio-Signature is Base64(HMAC-SHA1(auth token, the URL
// Twilio was given + each field's name and value, sorted by name)), checked
// with twilio-go's RequestValidator (which also accepts the URL with and
// without the scheme's default port).
//
// Twilio waits 15 s for the answer. It does not retry a 5xx unless the
// webhook URL asks it to with a connection override (a fragment such as
// #rp=5xx&rc=2); without one it calls the number's fallback URL, if set,
// and records error 11200. A retry is safe: the engine dedupes by
// MessageSid. https://www.twilio.com/docs/usage/webhooks/messaging-webhooks
// TwilioStatusPath is where Twilio posts delivery reports: the notifier
// gives Twilio the public URL with this path as each message's status
// callback.
const TwilioStatusPath = "/sms/twilio/status"

const (
	twilioPath            = "/sms/twilio"
	twilioStatusPath      = TwilioStatusPath
	twilioSignatureHeader = "X-Twilio-Signature"
	// twimlContentType is the reply's content type; Twilio reads text/xml.
	twimlContentType = "text/xml; charset=utf-8"
	// twimlEmpty answers a message with no reply.
	twimlEmpty = xml.Header + "<Response/>"
	// errorCodeBytesMax bounds a status callback's ErrorCode: Twilio's are
	// five digits (30003, 21610).
	errorCodeBytesMax = 8
)

// twilioStatuses maps every MessageStatus Twilio documents to whether the
// notifier tracks it (notify.Report: queued, sent, delivered, undelivered,
// failed). The others are acknowledged and dropped, since a 4xx would only
// fill Twilio's error log; a word missing from both lists is refused.
var twilioStatuses = map[string]bool{
	"queued": true, "sent": true, "delivered": true, "undelivered": true, "failed": true,
	"accepted": false, "scheduled": false, "canceled": false, "sending": false,
	"receiving": false, "received": false, "read": false, "partially_delivered": false,
}

func mountTwilioSMS(e *echo.Echo, h *smsHandlers) {
	e.POST(twilioPath, h.route(providerTwilio, smsWebhookMessage, h.twilioMessage))
	e.POST(twilioStatusPath, h.route(providerTwilio, smsWebhookStatus, h.twilioStatus))
}

// twilioMessage answers an inbound SMS with the engine's reply as TwiML.
func (h *smsHandlers) twilioMessage(c echo.Context) (string, error) {
	form, result, err := h.twilioForm(c)
	if form == nil {
		return result, err
	}
	m, err := decodeTwilioMessage(form)
	if err != nil {
		return "", badRequest(err)
	}
	reply, err := h.sms(c, m)
	if err != nil {
		return "", err
	}
	if reply.Text == "" {
		return smsResultSilent, c.Blob(http.StatusOK, twimlContentType, []byte(twimlEmpty))
	}
	return smsResultReply, c.Blob(http.StatusOK, twimlContentType, twimlMessage(reply.Text))
}

// twilioStatus passes a status callback on to the notifier.
func (h *smsHandlers) twilioStatus(c echo.Context) (string, error) {
	form, result, err := h.twilioForm(c)
	if form == nil {
		return result, err
	}
	r, tracked, err := decodeTwilioStatus(form)
	if err != nil {
		return "", badRequest(err)
	}
	if !tracked {
		return smsResultIgnored, c.NoContent(http.StatusNoContent)
	}
	if err := h.report(c, r); err != nil {
		return "", err
	}
	return smsResultReport, c.NoContent(http.StatusNoContent)
}

// twilioForm reads a Twilio webhook and checks its signature. It returns
// the form, or a nil form with the result and error to return: a request
// without a signature is refused before its body is read, one with a wrong
// signature once the form is parsed (the signature covers the fields).
func (h *smsHandlers) twilioForm(c echo.Context) (url.Values, string, error) {
	req := c.Request()
	sig := req.Header.Get(twilioSignatureHeader)
	if sig == "" {
		result, err := h.refuse(c, providerTwilio, "signature missing")
		return nil, result, err
	}
	body, err := readSMSBody(req)
	if err != nil {
		return nil, "", err
	}
	form, params, err := parseTwilioForm(req.Header.Get(echo.HeaderContentType), body)
	if err != nil {
		return nil, "", badRequest(err)
	}
	if !h.twilio.Validate(twilioSignedURL(h.cfg.PublicURL, req), params, sig) {
		result, err := h.refuse(c, providerTwilio, "signature wrong")
		return nil, result, err
	}
	return form, "", nil
}

// twilioSignedURL is the URL Twilio signed: the configured public base and
// the request target as it arrived, path and query byte for byte (Twilio
// signs the query as configured, unsorted and un-normalised).
func twilioSignedURL(publicURL string, req *http.Request) string {
	target := req.RequestURI
	if !strings.HasPrefix(target, "/") { // absolute form, or a handler called in-process
		target = req.URL.EscapedPath()
		if req.URL.RawQuery != "" || req.URL.ForceQuery {
			target += "?" + req.URL.RawQuery
		}
	}
	return publicURL + target
}

// parseTwilioForm parses a Twilio webhook body into its form and the
// name→value map the signature check takes. A field given twice is
// refused: Twilio sends none, and a map cannot say which value was signed.
func parseTwilioForm(contentType string, body []byte) (url.Values, map[string]string, error) {
	form, err := parseForm(contentType, body)
	if err != nil {
		return nil, nil, err
	}
	params := make(map[string]string, len(form))
	for name, vs := range form {
		if len(vs) > 1 {
			// The name is not echoed: an unknown one is the caller's text.
			return nil, nil, errors.New("a field given more than once")
		}
		params[name] = vs[0]
	}
	return form, params, nil
}

// decodeTwilioMessage translates an inbound SMS: MessageSid, From and Body
// (required; Body may be empty), and To. Every other field (NumSegments,
// NumMedia, MediaUrl0…, FromCountry…) is signed but unused.
//
// Body is required although it may be empty because the signature joins
// names and values without separators: "Body"+"BAL" signs the same as
// "Bod"+"yBAL", so a signed form can be re-split into another that keeps
// its signature. Requiring Body refuses the simplest such form (Body's
// name re-split into its value); a re-split must also keep the names in
// sorted order, and the engine answers a MessageSid once, which bounds
// what any other could do.
func decodeTwilioMessage(form url.Values) (sessions.SMS, error) {
	m := sessions.SMS{Provider: providerTwilio}
	var err error
	if m.ID, _, err = formValue(form, "MessageSid"); err != nil {
		return sessions.SMS{}, err
	}
	if err := checkField("MessageSid", m.ID, messageIDBytesMax); err != nil {
		return sessions.SMS{}, err
	}
	if m.From, _, err = formValue(form, "From"); err != nil {
		return sessions.SMS{}, err
	}
	if err := checkField("From", m.From, phoneBytesMax); err != nil {
		return sessions.SMS{}, err
	}
	if m.To, _, err = formValue(form, "To"); err != nil {
		return sessions.SMS{}, err
	}
	if m.To != "" {
		if err := checkField("To", m.To, phoneBytesMax); err != nil {
			return sessions.SMS{}, err
		}
	}
	var sent bool
	if m.Body, sent, err = formValue(form, "Body"); err != nil {
		return sessions.SMS{}, err
	}
	if !sent {
		return sessions.SMS{}, errors.New("missing Body")
	}
	if err := checkText("Body", m.Body, smsTextBytesMax); err != nil {
		return sessions.SMS{}, err
	}
	return m, nil
}

// decodeTwilioStatus translates a status callback: MessageSid and
// MessageStatus (required) and ErrorCode (digits, when a message failed).
// tracked is false for a status Twilio documents that the notifier does
// not track; an undocumented one is an error.
func decodeTwilioStatus(form url.Values) (r notify.Report, tracked bool, err error) {
	r.Provider = providerTwilio
	if r.ID, _, err = formValue(form, "MessageSid"); err != nil {
		return notify.Report{}, false, err
	}
	if err := checkField("MessageSid", r.ID, messageIDBytesMax); err != nil {
		return notify.Report{}, false, err
	}
	if r.Status, _, err = formValue(form, "MessageStatus"); err != nil {
		return notify.Report{}, false, err
	}
	if r.Status == "" {
		return notify.Report{}, false, errors.New("missing MessageStatus")
	}
	tracked, known := twilioStatuses[r.Status]
	if !known {
		return notify.Report{}, false, errors.New("unknown MessageStatus")
	}
	if r.ErrorCode, _, err = formValue(form, "ErrorCode"); err != nil {
		return notify.Report{}, false, err
	}
	if err := checkErrorCode(r.ErrorCode); err != nil {
		return notify.Report{}, false, err
	}
	return r, tracked, nil
}

// checkErrorCode accepts an empty ErrorCode or up to errorCodeBytesMax digits.
func checkErrorCode(v string) error {
	if len(v) > errorCodeBytesMax {
		return fmt.Errorf("ErrorCode longer than %d bytes", errorCodeBytesMax)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return errors.New("ErrorCode must be digits")
		}
	}
	return nil
}

// twimlMessage is the TwiML replying text to the sender. xml.EscapeText
// escapes markup (& < > " ') and line breaks as character references,
// which Twilio's parser turns back into the characters, and replaces what
// XML cannot carry (control characters, invalid UTF-8) with U+FFFD.
func twimlMessage(text string) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<Response><Message>")
	_ = xml.EscapeText(&b, []byte(text)) // a bytes.Buffer never fails
	b.WriteString("</Message></Response>")
	return b.Bytes()
}
