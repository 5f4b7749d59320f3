package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kibubu/kibubu/gateway/aggregator"
	"github.com/kibubu/kibubu/sessions"
)

// Africa's Talking USSD: a form POST per hop, answered in plain text
// starting "CON " (wait for input) or "END " (show and close), and a form
// POST when a session ends. An HTTP 4xx, or a body without the prefix,
// ends the session on the handset.
// https://developers.africastalking.com/docs/ussd/overview
const (
	africasTalkingPath       = aggregator.AfricasTalkingUSSDPath
	africasTalkingEventsPath = "/ussd/africastalking/events"
	formContentType          = "application/x-www-form-urlencoded"
	// plainTextUTF8 is the reply's content type, as Africa's Talking expects.
	plainTextUTF8 = "text/plain; charset=utf-8"
	// endDurationMillisMax bounds durationInMillis: a session lasts 180 s;
	// a day is already nonsense, and the bound keeps the Duration from
	// overflowing.
	endDurationMillisMax = 24 * 60 * 60 * 1000
	// endHopsMax bounds hopsCount, for the same reason.
	endHopsMax = 10_000
	// endFieldBytesMax bounds the end callback's status and errorMessage:
	// they are copied into End and logged by the engine.
	endFieldBytesMax = 512
)

func mountAfricasTalking(e *echo.Echo, h ussdHandlers, guard echo.MiddlewareFunc) {
	e.POST(africasTalkingPath, h.africasTalkingHop, guard)
	e.POST(africasTalkingEventsPath, h.africasTalkingEnd, guard)
}

func (h ussdHandlers) africasTalkingHop(c echo.Context) error {
	req := c.Request()
	body, err := readUSSDBody(req)
	if err != nil {
		return err
	}
	hop, err := decodeAfricasTalkingHop(req.Header.Get(echo.HeaderContentType), body, req.Header.Get("Accept-Language"))
	if err != nil {
		return badRequest(err)
	}
	screen, err := h.hop(c, hop)
	if err != nil {
		return err
	}
	prefix := "CON "
	if screen.End {
		prefix = "END "
	}
	return c.Blob(http.StatusOK, plainTextUTF8, []byte(prefix+screen.Text))
}

func (h ussdHandlers) africasTalkingEnd(c echo.Context) error {
	req := c.Request()
	body, err := readUSSDBody(req)
	if err != nil {
		return err
	}
	end, err := decodeAfricasTalkingEnd(req.Header.Get(echo.HeaderContentType), body)
	if err != nil {
		return badRequest(err)
	}
	h.end(c, end)
	return c.NoContent(http.StatusOK)
}

// decodeAfricasTalkingHop translates a hop: sessionId, phoneNumber,
// serviceCode and text (every input so far joined by '*', "" on the first
// hop; present even then). The latest input is what follows the last '*';
// text goes whole to History so the engine can tell a repeated hop and
// keep a '*' typed inside an input. language is the Accept-Language header.
func decodeAfricasTalkingHop(contentType string, body []byte, language string) (sessions.Hop, error) {
	form, err := parseForm(contentType, body)
	if err != nil {
		return sessions.Hop{}, err
	}
	sessionID, _, err := formValue(form, "sessionId")
	if err != nil {
		return sessions.Hop{}, err
	}
	phone, _, err := formValue(form, "phoneNumber")
	if err != nil {
		return sessions.Hop{}, err
	}
	serviceCode, _, err := formValue(form, "serviceCode")
	if err != nil {
		return sessions.Hop{}, err
	}
	text, textSent, err := formValue(form, "text")
	if err != nil {
		return sessions.Hop{}, err
	}
	network, _, err := formValue(form, "networkCode") // optional: names the PIN source
	if err != nil {
		return sessions.Hop{}, err
	}
	if err := checkText("networkCode", network, serviceCodeBytesMax); err != nil {
		return sessions.Hop{}, err
	}
	if err := checkField("sessionId", sessionID, sessionIDBytesMax); err != nil {
		return sessions.Hop{}, err
	}
	if err := checkField("phoneNumber", phone, phoneBytesMax); err != nil {
		return sessions.Hop{}, err
	}
	if err := checkText("serviceCode", serviceCode, serviceCodeBytesMax); err != nil {
		return sessions.Hop{}, err
	}
	// A hop without text cannot be told from a first hop: refuse it
	// rather than restart someone's session.
	if !textSent {
		return sessions.Hop{}, errors.New("missing text")
	}
	if err := checkText("text", text, 0); err != nil {
		return sessions.Hop{}, err
	}
	input := text
	if i := strings.LastIndexByte(text, '*'); i >= 0 {
		input = text[i+1:]
	}
	return sessions.Hop{
		Aggregator:  aggregatorAfricasTalking,
		SessionID:   sessionID,
		Phone:       phone,
		ServiceCode: serviceCode,
		Network:     network,
		New:         text == "",
		Input:       input,
		History:     text,
		Language:    languageHint(language),
	}, nil
}

// decodeAfricasTalkingEnd translates the end-of-session callback:
// sessionId (required), phoneNumber, status, durationInMillis, hopsCount
// and errorMessage. It never reads input or lastAppResponse: the first
// holds every input of the session, PINs included.
func decodeAfricasTalkingEnd(contentType string, body []byte) (sessions.End, error) {
	form, err := parseForm(contentType, body)
	if err != nil {
		return sessions.End{}, err
	}
	get := func(name string) (string, error) {
		v, _, err := formValue(form, name)
		return v, err
	}
	var end sessions.End
	end.Aggregator = aggregatorAfricasTalking
	if end.SessionID, err = get("sessionId"); err != nil {
		return sessions.End{}, err
	}
	if err := checkField("sessionId", end.SessionID, sessionIDBytesMax); err != nil {
		return sessions.End{}, err
	}
	if end.Phone, err = get("phoneNumber"); err != nil {
		return sessions.End{}, err
	}
	if end.Phone != "" {
		if err := checkField("phoneNumber", end.Phone, phoneBytesMax); err != nil {
			return sessions.End{}, err
		}
	}
	if end.Status, err = get("status"); err != nil {
		return sessions.End{}, err
	}
	if err := checkText("status", end.Status, endFieldBytesMax); err != nil {
		return sessions.End{}, err
	}
	if end.Error, err = get("errorMessage"); err != nil {
		return sessions.End{}, err
	}
	if err := checkText("errorMessage", end.Error, endFieldBytesMax); err != nil {
		return sessions.End{}, err
	}
	millis, err := formCount(form, "durationInMillis", endDurationMillisMax)
	if err != nil {
		return sessions.End{}, err
	}
	end.Duration = time.Duration(millis) * time.Millisecond
	if end.Hops, err = formCount(form, "hopsCount", endHopsMax); err != nil {
		return sessions.End{}, err
	}
	return end, nil
}

// parseForm checks the content type and parses a url-encoded body.
func parseForm(contentType string, body []byte) (url.Values, error) {
	if err := checkMediaType(contentType, formContentType); err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errors.New("malformed form body")
	}
	return form, nil
}

// formValue returns a field's value and whether it was sent; a field sent
// twice is an error, since either value could be the forged one.
func formValue(form url.Values, name string) (string, bool, error) {
	vs, ok := form[name]
	switch {
	case !ok:
		return "", false, nil
	case len(vs) > 1:
		return "", true, fmt.Errorf("%s given more than once", name)
	}
	return vs[0], true, nil
}

// formCount parses an optional count in [0, max]; absent or empty is 0.
func formCount(form url.Values, name string, max int) (int, error) {
	v, _, err := formValue(form, name)
	if err != nil || v == "" {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > max {
		return 0, fmt.Errorf("%s must be a whole number from 0 to %d", name, max)
	}
	return n, nil
}
