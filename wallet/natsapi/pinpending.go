package natsapi

import (
	"context"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsrpc"
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

// pinPending serves the pending new PIN's endpoints.
func (s *server) pinPending(m natsrpc.Mux) {
	PINPending.Handle(m, func(ctx context.Context, q wallet.NewPIN) (*PINPendingReply, error) {
		token, err := s.w.PendPIN(ctx, q)
		if err != nil {
			return nil, err
		}
		return &PINPendingReply{Token: token}, nil
	})
	PINConfirm.Handle(m, func(ctx context.Context, q PINConfirmRequest) (*wallet.Account, error) {
		return s.w.ConfirmPIN(ctx, q.Phone, q.Token, q.PIN)
	})
}

// PendPIN checks a new PIN and what authorises it, and returns the token
// ConfirmPIN takes with the PIN typed again (wallet.Service.PendPIN).
func (c *Client) PendPIN(ctx context.Context, n wallet.NewPIN) (string, error) {
	r, err := PINPending.Call(ctx, c, n)
	return r.Token, err
}

// ConfirmPIN sets the pending new PIN token names if pin is the same PIN;
// wallet.CodePINMismatch (the token used up) if not
// (wallet.Service.ConfirmPIN).
func (c *Client) ConfirmPIN(ctx context.Context, phone, token, pin string) (*wallet.Account, error) {
	return PINConfirm.Call(ctx, c, PINConfirmRequest{Phone: phone, Token: token, PIN: pin})
}
