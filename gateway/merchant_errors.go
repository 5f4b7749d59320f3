package gateway

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/kibubu/kibubu/wallet"
)

// The merchant API's errors: one JSON shape for everything under /v1,
//
//	{"error": {"code": "invalid_amount", "message": "amount: …", "request_id": "…"}}
//
// the code a wallet.Code (stable: clients branch on it) or one of the few
// the gateway adds for HTTP's own refusals, mapped to a status in one place
// (codeStatus). A refusal of the wallet keeps its code and message; an
// internal error says only "internal error" (the request log has the rest,
// under the request id).

// The codes the gateway adds to the wallet's.
const (
	codeMethodNotAllowed wallet.Code = "method_not_allowed"     // the route exists, not with this method
	codeTooLarge         wallet.Code = "too_large"              // the body is over the route's limit
	codeUnsupportedMedia wallet.Code = "unsupported_media_type" // a bulk payout's body is neither CSV nor multipart
)

// codeStatus maps every code to its HTTP status. The choices where HTTP
// offers several: a state the object is in forbids the command, and a
// duplicate still being processed, are 409 (retrying later may succeed); an
// Idempotency-Key reused with another request is 422, as are the ledger's
// refusals of a well-formed request (funds, limits, accounts), which
// retrying will not change.
var codeStatus = map[wallet.Code]int{
	wallet.CodeInvalid:           http.StatusBadRequest,
	wallet.CodeInvalidAmount:     http.StatusBadRequest,
	wallet.CodeInvalidPhone:      http.StatusBadRequest,
	wallet.CodeUnauthenticated:   http.StatusUnauthorized,
	wallet.CodeForbidden:         http.StatusForbidden,
	wallet.CodeNotFound:          http.StatusNotFound,
	codeMethodNotAllowed:         http.StatusMethodNotAllowed,
	wallet.CodeInvalidState:      http.StatusConflict,
	wallet.CodeInFlight:          http.StatusConflict,
	wallet.CodeExists:            http.StatusConflict,
	codeTooLarge:                 http.StatusRequestEntityTooLarge,
	codeUnsupportedMedia:         http.StatusUnsupportedMediaType,
	wallet.CodeConflict:          http.StatusUnprocessableEntity,
	wallet.CodeInsufficientFunds: http.StatusUnprocessableEntity,
	wallet.CodeLimitExceeded:     http.StatusUnprocessableEntity,
	wallet.CodeSameAccount:       http.StatusUnprocessableEntity,
	wallet.CodeNotReversible:     http.StatusUnprocessableEntity,
	wallet.CodeWrongKind:         http.StatusUnprocessableEntity,
	wallet.CodeAccountFrozen:     http.StatusUnprocessableEntity,
	wallet.CodePINInvalid:        http.StatusUnprocessableEntity,
	wallet.CodePINLocked:         http.StatusUnprocessableEntity,
	wallet.CodePINNotSet:         http.StatusUnprocessableEntity,
	wallet.CodeStartKeyRequired:  http.StatusUnprocessableEntity,
	wallet.CodeStartKeyInvalid:   http.StatusUnprocessableEntity,
	wallet.CodeStartKeyExpired:   http.StatusUnprocessableEntity,
	wallet.CodePINThrottled:      http.StatusTooManyRequests,
	wallet.CodeRateLimited:       http.StatusTooManyRequests,
	wallet.CodeUnavailable:       http.StatusServiceUnavailable,
	wallet.CodeInternal:          http.StatusInternalServerError,
}

// statusOf returns code's HTTP status: a code this version does not know
// (a newer wallet's) is a refusal, 400 when it is an invalid_… code, else 422.
func statusOf(code wallet.Code) int {
	if s, ok := codeStatus[code]; ok {
		return s
	}
	if strings.HasPrefix(string(code), "invalid") {
		return http.StatusBadRequest
	}
	return http.StatusUnprocessableEntity
}

// retryAfterSeconds is the Retry-After of a 503 or an in-flight 409.
const retryAfterSeconds = 1

// errorBody is the body of every merchant API error.
type errorBody struct {
	Error apiError `json:"error"`
}

// apiError is an error as the API answers it.
type apiError struct {
	Code      wallet.Code  `json:"code" doc:"stable: branch on it (see the table in the API's description)"`
	Message   string       `json:"message" doc:"for people: what is wrong and how to fix it"`
	RequestID string       `json:"request_id" doc:"the request's X-Request-Id: quote it to the operator"`
	Limit     wallet.Limit `json:"limit,omitempty" doc:"with limit_exceeded: which limit (per_transaction, daily, balance, tab_cap)"`
}

// apiErrorOf returns err as the API answers it, and its status.
func apiErrorOf(err error) (int, apiError) {
	var we *wallet.Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &we):
		e := apiError{Code: we.Code, Message: we.Message, Limit: we.Limit}
		if we.Code == wallet.CodeInternal {
			e.Message = "internal error"
		}
		return statusOf(we.Code), e
	case errors.As(err, &he):
		if inner, ok := he.Internal.(*echo.HTTPError); ok {
			he = inner
		}
		return he.Code, apiError{Code: httpCode(he.Code), Message: httpMessage(he)}
	}
	return http.StatusInternalServerError, apiError{Code: wallet.CodeInternal, Message: "internal error"}
}

// httpCode is the code of an HTTP refusal echo made (a route not found, a
// body too large).
func httpCode(status int) wallet.Code {
	switch status {
	case http.StatusNotFound:
		return wallet.CodeNotFound
	case http.StatusMethodNotAllowed:
		return codeMethodNotAllowed
	case http.StatusRequestEntityTooLarge:
		return codeTooLarge
	case http.StatusUnsupportedMediaType:
		return codeUnsupportedMedia
	case http.StatusUnauthorized:
		return wallet.CodeUnauthenticated
	case http.StatusForbidden:
		return wallet.CodeForbidden
	case http.StatusServiceUnavailable:
		return wallet.CodeUnavailable
	}
	if status >= 500 {
		return wallet.CodeInternal
	}
	return wallet.CodeInvalid
}

// httpMessage says what an HTTP refusal means.
func httpMessage(he *echo.HTTPError) string {
	switch he.Code {
	case http.StatusNotFound:
		return "no such route: see /v1/openapi.json"
	case http.StatusMethodNotAllowed:
		return "the route does not take this method: see /v1/openapi.json"
	case http.StatusRequestEntityTooLarge:
		return "the body is larger than this route accepts"
	}
	if he.Code >= 500 {
		return "internal error"
	}
	if s, ok := he.Message.(string); ok && s != "" {
		return s
	}
	return strings.ToLower(http.StatusText(he.Code))
}

// writeAPIError answers err in the API's shape.
func writeAPIError(c echo.Context, err error) {
	status, e := apiErrorOf(err)
	if b, ok := c.Get(bodyLimitKey).(*limitedBody); ok && status == http.StatusRequestEntityTooLarge && e.Code == codeTooLarge {
		if _, own := errors.AsType[*wallet.Error](err); !own {
			e.Message += ": at most " + strconv.Itoa(int(b.limit)) + " bytes"
		}
	}
	h := c.Response().Header()
	e.RequestID = h.Get(echo.HeaderXRequestID)
	switch {
	case status == http.StatusUnauthorized:
		h.Set(echo.HeaderWWWAuthenticate, `Bearer realm="kibubu"`)
	case status == http.StatusServiceUnavailable || e.Code == wallet.CodeInFlight:
		h.Set(echo.HeaderRetryAfter, strconv.Itoa(retryAfterSeconds))
	case e.Code == wallet.CodeRateLimited:
		// The wallet says when the limit's window frees a place.
		wait := int64(retryAfterSeconds)
		if we, ok := errors.AsType[*wallet.Error](err); ok && we.RetryAfter > wait {
			wait = we.RetryAfter
		}
		h.Set(echo.HeaderRetryAfter, strconv.FormatInt(wait, 10))
	}
	if c.Request().Method == http.MethodHead {
		c.NoContent(status)
		return
	}
	c.JSON(status, errorBody{Error: e})
}
