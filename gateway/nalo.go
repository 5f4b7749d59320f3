package gateway

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/kibubu/kibubu/gateway/aggregator"
	"github.com/kibubu/kibubu/sessions"
)

// Nalo Solutions (Ghana): a JSON POST per hop
//
//	{"USERID":"NALOTest","MSISDN":"233XXXXXXXXX","USERDATA":"3","MSGTYPE":false,
//	 "NETWORK":"MTN","SESSIONID":"16590115252429751"}
//
// answered with
//
//	{"USERID":"NALOTest","MSISDN":"233XXXXXXXXX","MSG":"…","MSGTYPE":true}
//
// MSGTYPE means two things: in the request, true marks the session's first
// hop (USERDATA then holds the dialled string, not an input) and false a
// later one; in the reply, true keeps the session open and false ends it.
// USERID is the integration's id, issued by Nalo and the same on every
// request; it is echoed in the reply. Nalo's USSD API documentation (its
// Postman collection "USSD API DOCUMENTATION", as summarised by the
// SeveighTech/nunyakata client) sends SESSIONID, unique per session, and
// the session is keyed by it. A request without SESSIONID is refused
// rather than keyed by MSISDN+USERID: that key repeats across a phone's
// sessions, so a late hop of one session could land in the next.
// The documentation limits MSG to 120 characters.
const (
	naloPath = aggregator.NaloUSSDPath
	// naloUserIDBytesMax bounds USERID, documented as 8 characters.
	naloUserIDBytesMax = 32
)

func mountNalo(e *echo.Echo, h ussdHandlers, guard echo.MiddlewareFunc) {
	e.POST(naloPath, h.nalo, guard)
}

// naloRequest is what the adapter reads of Nalo's request; NETWORK and any
// field Nalo adds are ignored, and encoding/json matches names
// case-insensitively.
type naloRequest struct {
	UserID    string        `json:"USERID"`
	MSISDN    string        `json:"MSISDN"`
	UserData  string        `json:"USERDATA"`
	MsgType   *bool         `json:"MSGTYPE"`
	SessionID naloSessionID `json:"SESSIONID"`
}

// naloSessionID accepts SESSIONID as a JSON string (the documented form) or
// as a JSON integer, kept digit for digit: a 17-digit id does not survive a
// float64.
type naloSessionID string

var errBadSessionID = errors.New("malformed SESSIONID")

func (s *naloSessionID) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return errBadSessionID
		}
		*s = naloSessionID(v)
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return errBadSessionID
		}
	}
	*s = naloSessionID(b)
	return nil
}

// naloReply is the response body Nalo expects; MSGTYPE true continues.
type naloReply struct {
	UserID  string `json:"USERID"`
	MSISDN  string `json:"MSISDN"`
	Msg     string `json:"MSG"`
	MsgType bool   `json:"MSGTYPE"`
}

// naloDecoded is a decoded request: the hop and what the reply echoes.
type naloDecoded struct {
	hop    sessions.Hop
	userID string
}

func (h ussdHandlers) nalo(c echo.Context) error {
	req := c.Request()
	body, err := readUSSDBody(req)
	if err != nil {
		return err
	}
	d, err := decodeNalo(req.Header.Get(echo.HeaderContentType), body)
	if err != nil {
		return badRequest(err)
	}
	screen, err := h.hop(c, d.hop)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, naloReply{UserID: d.userID, MSISDN: d.hop.Phone, Msg: screen.Text, MsgType: !screen.End})
}

// decodeNalo translates a request: USERID, MSISDN, SESSIONID and MSGTYPE
// are required; on a first hop (MSGTYPE true) Input is "", otherwise it is
// USERDATA.
func decodeNalo(contentType string, body []byte) (naloDecoded, error) {
	if err := checkMediaType(contentType, jsonContentType); err != nil {
		return naloDecoded{}, err
	}
	var r naloRequest
	if err := json.Unmarshal(body, &r); err != nil {
		// Not err.Error(): encoding/json quotes offending numbers, and
		// USERDATA sent as a number is a PIN.
		if errors.Is(err, errBadSessionID) {
			return naloDecoded{}, errBadSessionID
		}
		return naloDecoded{}, errors.New("malformed JSON body")
	}
	if err := checkField("USERID", r.UserID, naloUserIDBytesMax); err != nil {
		return naloDecoded{}, err
	}
	if err := checkField("MSISDN", r.MSISDN, phoneBytesMax); err != nil {
		return naloDecoded{}, err
	}
	if err := checkField("SESSIONID", string(r.SessionID), sessionIDBytesMax); err != nil {
		return naloDecoded{}, err
	}
	if r.MsgType == nil {
		return naloDecoded{}, errors.New("missing MSGTYPE")
	}
	hop := sessions.Hop{
		Aggregator: aggregatorNalo,
		SessionID:  string(r.SessionID),
		Phone:      r.MSISDN,
		New:        *r.MsgType,
	}
	if !hop.New {
		hop.Input = r.UserData
	}
	return naloDecoded{hop: hop, userID: r.UserID}, nil
}
