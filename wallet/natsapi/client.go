package natsapi

import (
	"cmp"
	"context"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// Client calls the wallet over NATS. Its errors are *wallet.Error: the
// wallet's own, CodeUnavailable when no wallet answered in time (retry a
// money command with the same key), or CodeInternal.
type Client struct {
	nc      *nats.Conn
	timeout time.Duration
	o       options
}

// NewClient returns a client on nc; timeout 0 means DefaultTimeout.
func NewClient(nc *nats.Conn, timeout time.Duration, opts ...Option) *Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Client{nc: nc, timeout: timeout, o: newOptions(opts)}
}

var _ natsrpc.Caller = (*Client)(nil)

// Call sends req to subject (without the prefix, which it adds) with the
// operator's headers (AsOperator, WithOperator) and decodes the answer
// into reply: the wallet's endpoints' client side (natsrpc.Endpoint.Call).
func (c *Client) Call(ctx context.Context, subject string, req, reply any) error {
	if _, ok := OperatorFrom(ctx); !ok && c.o.operator != nil {
		ctx = WithOperator(ctx, *c.o.operator)
	}
	if h := operatorHeader(ctx); h != nil {
		ctx = natsrpc.WithHeader(ctx, h)
	}
	return natsrpc.Request(ctx, c.nc, "the wallet", c.o.subject(subject), c.timeout, req, reply)
}

// MaxPayload is the most bytes the client's connection carries in one
// message (0: not yet known).
func (c *Client) MaxPayload() int64 { return c.nc.MaxPayload() }

// Transfer moves money (every kind but float).
func (c *Client) Transfer(ctx context.Context, req wallet.TransferRequest) (*wallet.TransferResult, error) {
	if a := wallet.PINAttemptFrom(ctx); req.PIN != "" {
		req.Source, req.Attempt = cmp.Or(req.Source, a.Source), cmp.Or(req.Attempt, a.Key)
	}
	return Transfer.Call(ctx, c, req)
}

// IssueFloat (operator) credits an agent's float against cash banked;
// ref is the bank deposit reference and the idempotency key.
func (c *Client) IssueFloat(ctx context.Context, agent string, amount int64, ref string) (*wallet.TransferResult, error) {
	return Float.Call(ctx, c, wallet.TransferRequest{Key: "float:" + ref, Kind: wallet.TransferFloat, To: agent, Amount: amount, Reference: ref})
}

// TransferInfo returns the transfer with human id ref as its sender, the
// account phone operates, sees it, and whether that sender may reverse it
// now. No PIN: it is for the screen that confirms a reversal. Anyone but the
// sender gets not_found, as for an unknown or malformed ref.
func (c *Client) TransferInfo(ctx context.Context, phone, ref string) (*wallet.TransferInfo, error) {
	return TransferShow.Call(ctx, c, TransferQuery{Phone: phone, Ref: ref})
}

// Quote returns a transfer's fee and commission.
func (c *Client) Quote(ctx context.Context, kind wallet.TransferKind, amount int64) (*QuoteReply, error) {
	return Quote.Call(ctx, c, QuoteRequest{Kind: kind, Amount: amount})
}

// Lookup returns an account's profile by number or phone.
func (c *Client) Lookup(ctx context.Context, numberOrPhone string) (*wallet.Profile, error) {
	return Lookup.Call(ctx, c, AccountRequest{Number: numberOrPhone})
}

// Show (operator) returns an account with its balance.
func (c *Client) Show(ctx context.Context, numberOrPhone string) (*wallet.Account, error) {
	return Show.Call(ctx, c, AccountRequest{Number: numberOrPhone})
}

// SetStatus (operator) freezes or reactivates an account.
func (c *Client) SetStatus(ctx context.Context, numberOrPhone string, st wallet.Status) (*wallet.Account, error) {
	return Status.Call(ctx, c, StatusRequest{Number: numberOrPhone, Status: st})
}

// Register opens a customer account: a self-registration (basic tier) on
// SubjectRegister, or, with another tier, an operator's opening on
// SubjectCustomerOpen (which gateway credentials may not publish to),
// whose reply carries the start key its first PIN needs.
func (c *Client) Register(ctx context.Context, req RegisterRequest) (*wallet.Account, error) {
	e := Register
	if req.Tier != 0 && req.Tier != wallet.TierBasic {
		e = CustomerOpen
	}
	return e.Call(ctx, c, req)
}

// OpenCustomer (operator) opens a customer account at any tier on
// SubjectCustomerOpen; the reply's StartKey is what its first PIN needs.
func (c *Client) OpenCustomer(ctx context.Context, req RegisterRequest) (*wallet.Account, error) {
	return CustomerOpen.Call(ctx, c, req)
}

// AddAgent (operator) opens an agent account; the reply's Number is the agent number.
func (c *Client) AddAgent(ctx context.Context, phone, name string) (*wallet.Account, error) {
	return AgentAdd.Call(ctx, c, AgentRequest{Phone: phone, Name: name})
}

// AddMerchant (operator) opens a till or paybill; the reply's Number is the till or paybill number.
func (c *Client) AddMerchant(ctx context.Context, phone, name string, paybill bool) (*wallet.Account, error) {
	return MerchantAdd.Call(ctx, c, MerchantRequest{Phone: phone, Name: name, Paybill: paybill})
}

// pinRequest fills q's Source and Attempt from the context's
// wallet.PINAttempt: the session engine puts one there per hop or message.
func pinRequest(ctx context.Context, q PINRequest) PINRequest {
	a := wallet.PINAttemptFrom(ctx)
	q.Source, q.Attempt = a.Source, a.Key
	return q
}

// SetPIN sets the first PIN of a self-registered account.
func (c *Client) SetPIN(ctx context.Context, phone, pin string) (*wallet.Account, error) {
	return PINSet.Call(ctx, c, pinRequest(ctx, PINRequest{Phone: phone, PIN: pin}))
}

// SetPINWithStartKey sets an account's first PIN with its start key.
func (c *Client) SetPINWithStartKey(ctx context.Context, phone, startKey, pin string) (*wallet.Account, error) {
	return PINSet.Call(ctx, c, pinRequest(ctx, PINRequest{Phone: phone, PIN: pin, StartKey: startKey}))
}

// StartKeyProof checks a start key and returns a short-lived proof of it
// for SetPINWithProof.
func (c *Client) StartKeyProof(ctx context.Context, phone, startKey string) (string, error) {
	r, err := StartKey.Call(ctx, c, pinRequest(ctx, PINRequest{Phone: phone, StartKey: startKey}))
	return r.Proof, err
}

// SetPINWithProof sets an account's first PIN on the strength of a
// StartKeyProof.
func (c *Client) SetPINWithProof(ctx context.Context, phone, proof, pin string) (*wallet.Account, error) {
	return PINSet.Call(ctx, c, pinRequest(ctx, PINRequest{Phone: phone, PIN: pin, Proof: proof}))
}

// ChangePIN replaces a PIN.
func (c *Client) ChangePIN(ctx context.Context, phone, oldPIN, newPIN string) (*wallet.Account, error) {
	return PINChange.Call(ctx, c, pinRequest(ctx, PINRequest{Phone: phone, PIN: oldPIN, NewPIN: newPIN}))
}

// PINProof checks a PIN and returns a short-lived proof of it for
// ChangePINWithProof.
func (c *Client) PINProof(ctx context.Context, phone, pin string) (string, error) {
	r, err := PINProof.Call(ctx, c, pinRequest(ctx, PINRequest{Phone: phone, PIN: pin}))
	return r.Proof, err
}

// ChangePINWithProof replaces a PIN on the strength of a PINProof.
func (c *Client) ChangePINWithProof(ctx context.Context, phone, proof, newPIN string) (*wallet.Account, error) {
	return PINChange.Call(ctx, c, pinRequest(ctx, PINRequest{Phone: phone, Proof: proof, NewPIN: newPIN}))
}

// VerifyPIN checks a PIN and returns the account with its balance.
func (c *Client) VerifyPIN(ctx context.Context, phone, pin string) (*wallet.Account, error) {
	return PINVerify.Call(ctx, c, pinRequest(ctx, PINRequest{Phone: phone, PIN: pin}))
}

// Balance checks the PIN and returns the account with its balance.
func (c *Client) Balance(ctx context.Context, phone, pin string) (*wallet.Account, error) {
	return Balance.Call(ctx, c, pinRequest(ctx, PINRequest{Phone: phone, PIN: pin}))
}

// ResetPIN (operator) clears a PIN and unlocks the account.
func (c *Client) ResetPIN(ctx context.Context, phone string) (*wallet.Account, error) {
	return PINReset.Call(ctx, c, PINRequest{Phone: phone})
}

// Statement checks the PIN and returns statement lines, newest first.
func (c *Client) Statement(ctx context.Context, q wallet.StatementQuery) (*StatementReply, error) {
	a := wallet.PINAttemptFrom(ctx)
	q.Source, q.Attempt = cmp.Or(q.Source, a.Source), cmp.Or(q.Attempt, a.Key)
	return Statement.Call(ctx, c, q)
}

// Earnings checks the PIN (a wrong one counts toward the lockout) and
// returns the account with the commission it earned today and this month.
func (c *Client) Earnings(ctx context.Context, phone, pin string) (*wallet.Earnings, error) {
	return Earnings.Call(ctx, c, pinRequest(ctx, PINRequest{Phone: phone, PIN: pin}))
}

// SetLanguage stores an account's language.
func (c *Client) SetLanguage(ctx context.Context, phone, lang string) (*wallet.Account, error) {
	return Language.Call(ctx, c, LanguageRequest{Phone: phone, Language: lang})
}

// Tariff returns the tariff, limits and currency.
func (c *Client) Tariff(ctx context.Context) (*TariffReply, error) {
	return Tariff.Call(ctx, c, struct{}{})
}

// Events returns one page of the events of the transfers created since a
// time, re-derived from the database (operator).
func (c *Client) Events(ctx context.Context, q EventsRequest) (*EventsReply, error) {
	return Events.Call(ctx, c, q)
}

// Check (operator) verifies every ledger invariant over the whole database.
// It reads every posting, so it is given a minute rather than the default.
func (c *Client) Check(ctx context.Context) (*wallet.CheckReport, error) {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	return Check.Call(ctx, c, struct{}{})
}
