package simswap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// responseBytesMax bounds an answer's body: a real one is under 100 bytes,
// an error a few hundred.
const responseBytesMax = 16 << 10

// ParseCheck reads the body of a check's 200 answer: {"swapped": bool}.
// A missing or non-boolean swapped is an error: a network that does not
// say "false" has not said the SIM is unchanged.
func ParseCheck(body []byte) (bool, error) {
	var v struct {
		Swapped *bool `json:"swapped"`
	}
	if err := decodeObject(body, &v); err != nil {
		return false, err
	}
	if v.Swapped == nil {
		return false, errors.New("check answer without swapped")
	}
	return *v.Swapped, nil
}

// ParseRetrieveDate reads the body of a retrieve-date's 200 answer:
// {"latestSimChange": RFC 3339 date-time or null}. Null (the network keeps
// no record of a change, see the answer's monitoredPeriod) is the zero
// time.
func ParseRetrieveDate(body []byte) (time.Time, error) {
	var v map[string]json.RawMessage
	if err := decodeObject(body, &v); err != nil {
		return time.Time{}, err
	}
	latest, ok := v["latestSimChange"]
	if !ok {
		return time.Time{}, errors.New("retrieve-date answer without latestSimChange")
	}
	if bytes.Equal(latest, []byte("null")) {
		return time.Time{}, nil
	}
	var s string
	if err := json.Unmarshal(latest, &s); err != nil {
		return time.Time{}, errors.New("latestSimChange is not a string")
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("latestSimChange %q is not an RFC 3339 date-time", clip(s))
	}
	return t.UTC(), nil
}

// apiError is CAMARA's error body.
type apiError struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// parseError describes a non-200 answer, quoting CAMARA's code and message
// when the body has them.
func parseError(status int, body []byte) error {
	var e apiError
	if json.Unmarshal(body, &e) == nil && e.Code != "" {
		return fmt.Errorf("HTTP %d %s: %s", status, clip(e.Code), clip(e.Message))
	}
	return fmt.Errorf("HTTP %d", status)
}

// decodeObject decodes one JSON object from body into v, ignoring fields v
// does not name (networks add some, e.g. monitoredPeriod).
func decodeObject(body []byte, v any) error {
	if len(body) > responseBytesMax {
		return fmt.Errorf("answer of %d bytes: at most %d", len(body), responseBytesMax)
	}
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("answer is not a JSON object: %w", err)
	}
	if d.More() {
		return errors.New("answer has data after its JSON object")
	}
	return nil
}

// clip cuts a string from the network for a log line or an error.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
