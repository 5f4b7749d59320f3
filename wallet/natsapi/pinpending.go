package natsapi

import (
	"context"

	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
)

// A new PIN typed twice (wallet.PendPIN, wallet.ConfirmPIN): the wallet
// keeps the first entry and answers a random token, which a menu keeps
// between its two screens, never the PIN nor anything derived from it.
const (
	SubjectPINPending = SubjectPrefix + ".pin.pending" // wallet.NewPIN → PINPendingReply
	SubjectPINConfirm = SubjectPrefix + ".pin.confirm" // PINConfirmRequest → Account
)

// PINPendingReply is a pending new PIN's token, which pin.confirm takes
// within wallet.PendingPINTTL.
type PINPendingReply struct {
	Token string `json:"token"`
}

// PINConfirmRequest confirms a pending new PIN: the phone that chose it,
// its token, and the PIN typed again.
type PINConfirmRequest struct {
	Phone string `json:"phone"`
	Token string `json:"token"`
	PIN   string `json:"pin"`
}

// pinPending adds the pending new PIN's endpoints.
func (s *server) pinPending(add func(string, micro.HandlerFunc)) {
	add(SubjectPINPending, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q wallet.NewPIN
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		token, err := s.w.PendPIN(ctx, q)
		if err != nil {
			return nil, err
		}
		return PINPendingReply{Token: token}, nil
	}))
	add(SubjectPINConfirm, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q PINConfirmRequest
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		return s.w.ConfirmPIN(ctx, q.Phone, q.Token, q.PIN)
	}))
}

// PendPIN checks a new PIN and what authorises it, and returns the token
// ConfirmPIN takes with the PIN typed again (wallet.Service.PendPIN).
func (c *Client) PendPIN(ctx context.Context, n wallet.NewPIN) (string, error) {
	var r PINPendingReply
	err := c.Call(ctx, SubjectPINPending, n, &r)
	return r.Token, err
}

// ConfirmPIN sets the pending new PIN token names if pin is the same PIN;
// wallet.CodePINMismatch (the token used up) if not
// (wallet.Service.ConfirmPIN).
func (c *Client) ConfirmPIN(ctx context.Context, phone, token, pin string) (*wallet.Account, error) {
	var r wallet.Account
	return &r, c.Call(ctx, SubjectPINConfirm, PINConfirmRequest{Phone: phone, Token: token, PIN: pin}, &r)
}
