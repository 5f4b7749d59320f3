package natsrpc

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/kibubu/kibubu/wallet"
)

// outage reports whether err, which is not a *wallet.Error, means that a
// dependency could not be reached (the database restarting, a connection
// cut, a query past its deadline) rather than a bug. The caller is told
// CodeUnavailable for it, "retry with the same key", which is true of a
// money command whose commit may or may not have happened: its key makes
// the retry safe. A bug stays CodeInternal.
//
// It knows no driver: it reads the standard shapes a driver's errors take
// (a net.Error, driver.ErrBadConn, a connection read cut short, and
// SQLSTATE classes through the SQLState method pgx's and lib/pq's errors
// have).
func outage(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var coded interface{ SQLState() string }
	if errors.As(err, &coded) {
		return sqlStateOutage(coded.SQLState())
	}
	return false
}

// sqlStateOutage reports whether a SQLSTATE says the server could not
// serve the statement for now: connection exceptions (class 08), and the
// operator intervention codes of a shutdown or a start (57P01 admin
// shutdown, 57P02 crash shutdown, 57P03 cannot connect now).
func sqlStateOutage(state string) bool {
	return strings.HasPrefix(state, "08") || state == "57P01" || state == "57P02" || state == "57P03"
}

// AsWalletError is err as the *wallet.Error a caller is answered with: a
// *wallet.Error as it is, an outage as CodeUnavailable, anything else as
// CodeInternal (whose details stay in the log).
func AsWalletError(err error) (we *wallet.Error, bug bool) {
	if errors.As(err, &we) {
		return we, false
	}
	if outage(err) {
		return &wallet.Error{Code: wallet.CodeUnavailable, Message: "a service the wallet needs is unavailable; retry with the same key"}, false
	}
	return &wallet.Error{Code: wallet.CodeInternal, Message: "internal error"}, true
}
