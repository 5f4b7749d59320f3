package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/kibubu/kibubu/gateway/aggregator"
	"github.com/kibubu/kibubu/sessions"
)

// Hubtel Programmable Services (Ghana): a JSON POST per hop
//
//	{"Type":"Initiation","Mobile":"233200585542","SessionId":"3c79…","ServiceCode":"713",
//	 "Message":"*713#","Operator":"vodafone","Sequence":1,"ClientState":"","Platform":"USSD"}
//
// answered with
//
//	{"SessionId":"3c79…","Type":"response","Message":"…","Label":"…","ClientState":"",
//	 "DataType":"input","FieldType":"text"}
//
// Hubtel's reference (developers.hubtel.com, "API Reference - Prog
// Services") documents request Types Initiation, Response and Timeout
// (older pages: lower case, and "release" when the user ends the session);
// Hubtel's own SDK (hubtel/programmable-services-sdk-dotnet) matches them
// case-insensitively, and so do we. Message is the latest input, except on
// initiation where it is the dialled string (*713*5#): not an input. The
// reply's SessionId, Type, Message, Label, DataType and FieldType are all
// mandatory; Type is "response" or "release", DataType "input" or
// "display", FieldType "text" (also phone, email, number, decimal, textarea:
// hints for Hubtel's app and web channels, ignored on USSD).
const (
	hubtelPath      = aggregator.HubtelUSSDPath
	jsonContentType = "application/json"
	// hubtelSequenceMax bounds Sequence: a session has a few dozen hops at
	// most; the bound keeps a forged value far from overflow.
	hubtelSequenceMax = 10_000
	// labelBytesMax bounds the Label, a title for Hubtel's app and web
	// channels; one screen line is plenty.
	labelBytesMax = 64
)

// The reply's Type and DataType values, as Hubtel documents them.
const (
	hubtelResponse = "response" // wait for input
	hubtelRelease  = "release"  // end the session
	hubtelInput    = "input"
	hubtelDisplay  = "display"
	hubtelText     = "text"
)

func mountHubtel(e *echo.Echo, h ussdHandlers, guard echo.MiddlewareFunc) {
	e.POST(hubtelPath, h.hubtel, guard)
}

// hubtelRequest is what the adapter reads of Hubtel's push request.
// Operator, ClientState (session state lives in the engine), Platform and
// any field Hubtel adds are ignored; encoding/json matches names
// case-insensitively, as older pages spell serviceCode.
type hubtelRequest struct {
	Type        string
	Message     string
	ServiceCode string
	Mobile      string
	SessionID   string `json:"SessionId"`
	Sequence    hubtelSequence
}

// hubtelSequence accepts Sequence as a JSON number (the reference) or a
// quoted number (some of Hubtel's samples).
type hubtelSequence int

var errBadSequence = errors.New("malformed Sequence")

func (s *hubtelSequence) UnmarshalJSON(b []byte) error {
	v := string(b)
	if v == "null" {
		return nil
	}
	if unq, err := strconv.Unquote(v); err == nil {
		v = unq
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > hubtelSequenceMax {
		return errBadSequence
	}
	*s = hubtelSequence(n)
	return nil
}

// hubtelReply is the response body Hubtel expects.
type hubtelReply struct {
	SessionID   string `json:"SessionId"`
	Type        string `json:"Type"`
	Message     string `json:"Message"`
	Label       string `json:"Label"`
	ClientState string `json:"ClientState"`
	DataType    string `json:"DataType"`
	FieldType   string `json:"FieldType"`
}

// hubtelDecoded is a decoded request: a hop, or (release, timeout) an end.
type hubtelDecoded struct {
	hop sessions.Hop
	end *sessions.End
}

func (h ussdHandlers) hubtel(c echo.Context) error {
	req := c.Request()
	body, err := readUSSDBody(req)
	if err != nil {
		return err
	}
	d, err := decodeHubtel(req.Header.Get(echo.HeaderContentType), body)
	if err != nil {
		return badRequest(err)
	}
	if d.end != nil {
		h.end(c, *d.end)
		// Hubtel ignores the answer to a timeout; release is the only
		// sensible one.
		return c.JSON(http.StatusOK, hubtelReply{SessionID: d.end.SessionID, Type: hubtelRelease,
			DataType: hubtelDisplay, FieldType: hubtelText})
	}
	screen, err := h.hop(c, d.hop)
	if err != nil {
		return err
	}
	reply := hubtelReply{SessionID: d.hop.SessionID, Type: hubtelResponse, Message: screen.Text,
		Label: hubtelLabel(screen.Text), DataType: hubtelInput, FieldType: hubtelText}
	if screen.End {
		reply.Type, reply.DataType = hubtelRelease, hubtelDisplay
	}
	return c.JSON(http.StatusOK, reply)
}

// hubtelLabel is the screen's first line, the closest thing a USSD screen
// has to a title, bounded to labelBytesMax on a UTF-8 boundary.
func hubtelLabel(text string) string {
	label, _, _ := strings.Cut(text, "\n")
	label = strings.TrimSpace(label)
	if len(label) <= labelBytesMax {
		return label
	}
	cut := labelBytesMax
	for cut > 0 && !isRuneStart(label[cut]) {
		cut--
	}
	return label[:cut]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// decodeHubtel translates a push request. initiation and response are
// hops (Seq = Sequence; on initiation New is set and Input is "", as
// Message holds the dialled string); release and timeout are ends. Any
// other Type is refused: an unknown request must not move a session on.
func decodeHubtel(contentType string, body []byte) (hubtelDecoded, error) {
	if err := checkMediaType(contentType, jsonContentType); err != nil {
		return hubtelDecoded{}, err
	}
	var r hubtelRequest
	if err := json.Unmarshal(body, &r); err != nil {
		// Not err.Error(): encoding/json quotes offending numbers, and an
		// input sent as a number is a PIN.
		if errors.Is(err, errBadSequence) {
			return hubtelDecoded{}, errBadSequence
		}
		return hubtelDecoded{}, errors.New("malformed JSON body")
	}
	if err := checkField("SessionId", r.SessionID, sessionIDBytesMax); err != nil {
		return hubtelDecoded{}, err
	}
	typ := strings.ToLower(strings.TrimSpace(r.Type))
	switch typ {
	case "initiation", "response":
	case "release", "timeout":
		end := &sessions.End{Aggregator: aggregatorHubtel, SessionID: r.SessionID, Status: typ}
		if r.Mobile != "" {
			if err := checkField("Mobile", r.Mobile, phoneBytesMax); err != nil {
				return hubtelDecoded{}, err
			}
			end.Phone = r.Mobile
		}
		return hubtelDecoded{end: end}, nil
	case "":
		return hubtelDecoded{}, errors.New("missing Type")
	default:
		return hubtelDecoded{}, errors.New("unsupported Type (want Initiation, Response, Release or Timeout)")
	}
	if err := checkField("Mobile", r.Mobile, phoneBytesMax); err != nil {
		return hubtelDecoded{}, err
	}
	if err := checkText("ServiceCode", r.ServiceCode, serviceCodeBytesMax); err != nil {
		return hubtelDecoded{}, err
	}
	hop := sessions.Hop{
		Aggregator:  aggregatorHubtel,
		SessionID:   r.SessionID,
		Phone:       r.Mobile,
		ServiceCode: r.ServiceCode,
		New:         typ == "initiation",
		Seq:         int(r.Sequence),
	}
	if !hop.New {
		hop.Input = r.Message
	}
	return hubtelDecoded{hop: hop}, nil
}
