package gateway

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/kibubu/kibubu/gateway/aggregator"
	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet"
)

// Africa's Talking incoming SMS: a form POST per message
//
//	from=%2B254711082300&to=21525&text=BAL&date=2024-05-01+10%3A11%3A12&id=…&linkId=…&networkCode=63902
//
// answered 200 with no content: the answer carries no reply, so the
// message is handed to the notifier as a notify.Inbound with the id
// "africastalking:" and the message id, and the reply as a notify.Reply to
// it in the catalogue's words (the notifier sends it keyed
// "reply:africastalking:<id>", once), and the webhook answered 200 only once that
// succeeded; an engine or notifier failure answers 503, so the message is
// not taken as delivered and may come again. A repeat is safe: the engine
// answers an id once and the notifier sends a key once.
// Africa's Talking signs nothing, so the request carries the shared secret
// (X-SMS-Secret, or the "secret" query parameter). linkId (premium
// subscriptions) and date are unused.
// https://developers.africastalking.com/docs/sms/notifications
const africasTalkingSMSPath = aggregator.AfricasTalkingSMSPath

func mountAfricasTalkingSMS(e *echo.Echo, h *smsHandlers) {
	e.POST(africasTalkingSMSPath, h.route(providerAfricasTalking, smsWebhookMessage, h.africasTalkingSMS))
}

// africasTalkingSMS hands an inbound SMS to the engine and its reply to
// the notifier.
func (h *smsHandlers) africasTalkingSMS(c echo.Context) (string, error) {
	req := c.Request()
	got := req.Header.Get(smsSecretHeader)
	if got == "" {
		got = c.QueryParam(smsSecretParam)
	}
	switch {
	case got == "":
		return h.refuse(c, providerAfricasTalking, "secret missing")
	case !secretEqual(got, h.cfg.AfricasTalkingSecret):
		return h.refuse(c, providerAfricasTalking, "secret wrong")
	}
	body, err := readSMSBody(req)
	if err != nil {
		return "", err
	}
	m, replyTo, err := decodeAfricasTalkingSMS(req.Header.Get(echo.HeaderContentType), body, h.cfg.Region)
	if err != nil {
		return "", badRequest(err)
	}
	reply, err := h.sms(c, m)
	if err != nil {
		return "", err
	}
	if reply.Text == "" {
		return smsResultSilent, c.NoContent(http.StatusOK)
	}
	result, err := h.send(c, notify.Inbound{ID: providerAfricasTalking + ":" + m.ID, Phone: replyTo}, reply)
	if err != nil {
		return "", err
	}
	return result, c.NoContent(http.StatusOK)
}

// decodeAfricasTalkingSMS translates an incoming SMS: id and from
// (required), to and text. replyTo is from in E.164, normalised under
// region as the wallet keys accounts: Africa's Talking's webhook cannot
// carry a reply, so the notifier needs the number. A sender that is not a
// phone number (an alphanumeric sender id) is refused here, before the
// engine could act on a message it cannot answer. The engine still gets
// from as sent, as sessions.SMS documents.
func decodeAfricasTalkingSMS(contentType string, body []byte, region string) (m sessions.SMS, replyTo string, err error) {
	form, err := parseForm(contentType, body)
	if err != nil {
		return sessions.SMS{}, "", err
	}
	m.Provider = providerAfricasTalking
	if m.ID, _, err = formValue(form, "id"); err != nil {
		return sessions.SMS{}, "", err
	}
	if err := checkField("id", m.ID, messageIDBytesMax); err != nil {
		return sessions.SMS{}, "", err
	}
	if m.From, _, err = formValue(form, "from"); err != nil {
		return sessions.SMS{}, "", err
	}
	if err := checkField("from", m.From, phoneBytesMax); err != nil {
		return sessions.SMS{}, "", err
	}
	if m.To, _, err = formValue(form, "to"); err != nil {
		return sessions.SMS{}, "", err
	}
	if m.To != "" {
		if err := checkField("to", m.To, phoneBytesMax); err != nil {
			return sessions.SMS{}, "", err
		}
	}
	if m.Body, _, err = formValue(form, "text"); err != nil {
		return sessions.SMS{}, "", err
	}
	if err := checkText("text", m.Body, smsTextBytesMax); err != nil {
		return sessions.SMS{}, "", err
	}
	// The wallet's error quotes the number; this one names the field only.
	if replyTo, err = wallet.NormalizePhone(m.From, region); err != nil {
		return sessions.SMS{}, "", errors.New("from is not a phone number")
	}
	return m, replyTo, nil
}
