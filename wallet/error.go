package wallet

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. Codes cross the NATS API
// unchanged and every edge (USSD screens, SMS replies, HTTP) maps them once.
type Code string

// The codes the wallet returns. They are part of the wire contract: add, never rename.
const (
	CodeInvalid           Code = "invalid_request"    // malformed or missing field
	CodeInvalidAmount     Code = "invalid_amount"     // not a positive amount in the currency's minor units
	CodeInvalidPhone      Code = "invalid_phone"      // not a valid phone number for the region
	CodeNotFound          Code = "not_found"          // no such account or transaction
	CodeExists            Code = "already_exists"     // account already registered
	CodeInsufficientFunds Code = "insufficient_funds" // the debit would take an account below its floor
	CodeLimitExceeded     Code = "limit_exceeded"     // a tier limit (see Error.Limit) would be exceeded
	CodePINInvalid        Code = "pin_invalid"        // wrong PIN (see Error.TriesLeft)
	CodePINLocked         Code = "pin_locked"         // too many wrong PINs; an operator must reset it
	CodePINNotSet         Code = "pin_not_set"        // the account has no PIN yet
	CodeAccountFrozen     Code = "account_frozen"     // an operator froze the account
	CodeConflict          Code = "conflict"           // idempotency key reused with a different request
	CodeSameAccount       Code = "same_account"       // source and target are the same account
	CodeNotReversible     Code = "not_reversible"     // already reversed, too old, or not a reversible kind
	CodeWrongKind         Code = "wrong_kind"         // the account is not of the kind the operation needs
	CodeUnavailable       Code = "unavailable"        // the wallet did not answer in time; retry with the same key
	CodeUnauthenticated   Code = "unauthenticated"    // no API key, or an unknown or revoked one
	CodeForbidden         Code = "forbidden"          // the API key lacks the scope
	CodeInvalidState      Code = "invalid_state"      // the payment request, tab or payout is not in a state that allows it
	CodeInFlight          Code = "in_flight"          // the same idempotency key is being processed; retry later
	CodeInternal          Code = "internal"           // a bug or an infrastructure failure
	CodeStartKeyRequired  Code = "start_key_required" // the first PIN needs the start key an operator issued
	CodeStartKeyInvalid   Code = "start_key_invalid"  // wrong start key (see Error.TriesLeft); counts toward the PIN lockout
	CodeStartKeyExpired   Code = "start_key_expired"  // the start key is past its validity: an operator issues a new one (pin reset)
	CodePINThrottled      Code = "pin_throttled"      // too many wrong PINs from where this one came; try later or another way
	CodeRateLimited       Code = "rate_limited"       // too many payment requests or tabs for this customer or merchant just now (see Error.RetryAfter)
	CodeSIMSwapHold       Code = "sim_swap_hold"      // the phone's SIM changed recently: the account is held until an operator clears it (see SIMSwapChecker)
	CodeHeldForReview     Code = "held_for_review"    // a fraud rule held the transfer: no money moved; an operator releases or refuses it (see RuleChecker)
	CodeRuleBlocked       Code = "rule_blocked"       // a fraud rule refused the transfer, or an operator refused it after review
)

// CodePINMismatch answers the confirmation of a new PIN (ConfirmPIN) that
// differs from the PIN chosen, or whose choice is unknown, used or expired:
// the caller asks for the new PIN again.
const CodePINMismatch Code = "pin_mismatch"

// Limit names which limit a CodeLimitExceeded error hit: a tier's, or a
// tab's cap.
type Limit string

const (
	LimitPerTransaction Limit = "per_transaction"
	LimitDaily          Limit = "daily"
	LimitBalance        Limit = "balance" // the recipient's maximum balance
	LimitTabCap         Limit = "tab_cap" // a micropayment tab's cap (Accrual.Charge)
)

// Error is the one error type the wallet returns for expected failures.
// Anything else returned by the wallet is an internal error.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Balance is the account's balance, set with CodeInsufficientFunds.
	Balance *int64 `json:"balance,omitempty"`
	// TriesLeft is set with CodePINInvalid.
	TriesLeft *int `json:"tries_left,omitempty"`
	// Limit is set with CodeLimitExceeded.
	Limit Limit `json:"limit,omitempty"`
	// RetryAfter is set with CodeRateLimited: the whole seconds after which
	// the same call fits the limit again (at least 1).
	RetryAfter int64 `json:"retry_after,omitempty"`
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err: the Code of a wrapped *Error, or
// CodeInternal for any other non-nil error, or "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
