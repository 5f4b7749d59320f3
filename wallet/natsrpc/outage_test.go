package natsrpc

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kibubu/kibubu/wallet"
)

// TestAsWalletError: an error that is not the wallet's own answers
// CodeUnavailable when a dependency could not be reached, so that the
// merchant API says 503 with Retry-After (retry with the same key) while
// PostgreSQL restarts, not 500; anything else stays CodeInternal.
func TestAsWalletError(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	// What pgx says when no PostgreSQL listens (a port nothing binds).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, refused := pgconn.Connect(context.Background(), "postgres://postgres@"+addr+"/test?connect_timeout=2")
	if refused == nil {
		t.Fatal("pgconn connected to a closed port")
	}
	tests := []struct {
		name string
		err  error
		want wallet.Code
		bug  bool
	}{
		{"the wallet's own", fmt.Errorf("transfer: %w", wallet.Errorf(wallet.CodeInsufficientFunds, "no")), wallet.CodeInsufficientFunds, false},
		{"connection refused", fmt.Errorf("begin: %w", dial), wallet.CodeUnavailable, false},
		{"pgx cannot connect", fmt.Errorf("begin: %w", refused), wallet.CodeUnavailable, false},
		{"bad connection", fmt.Errorf("query: %w", driver.ErrBadConn), wallet.CodeUnavailable, false},
		{"cut mid-read", fmt.Errorf("receive: %w", io.ErrUnexpectedEOF), wallet.CodeUnavailable, false},
		{"deadline", fmt.Errorf("commit: %w", context.DeadlineExceeded), wallet.CodeUnavailable, false},
		{"admin shutdown", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, wallet.CodeUnavailable, false},
		{"cannot connect now", &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}, wallet.CodeUnavailable, false},
		{"connection failure", &pgconn.PgError{Code: "08006"}, wallet.CodeUnavailable, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, wallet.CodeInternal, true},
		{"a bug", errors.New("nil map"), wallet.CodeInternal, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			we, bug := AsWalletError(tc.err)
			if we.Code != tc.want || bug != tc.bug {
				t.Errorf("AsWalletError(%v) = %s, bug %v; want %s, bug %v", tc.err, we.Code, bug, tc.want, tc.bug)
			}
		})
	}
}
