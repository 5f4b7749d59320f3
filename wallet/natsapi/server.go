package natsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
)

const (
	// requestBytesMax bounds a request payload; the largest legitimate one is
	// a few hundred bytes.
	requestBytesMax = 8 << 10
	// handlersMax bounds the requests handled at once besides transfers,
	// which queue to the writer without a goroutine each.
	handlersMax = 1024
	// handlerTimeout bounds the wallet's work on one request.
	handlerTimeout = 10 * time.Second
	// checkTimeout bounds a whole-ledger check, which reads every posting:
	// seconds per few million on either database. The client waits as long.
	checkTimeout = time.Minute
	// QueueGroup is the micro queue group wallet processes share.
	QueueGroup = "wallet"
)

// Serve adds the wallet micro service to nc. Stop the returned service
// before stopping w, so no request arrives at a stopped wallet.
func Serve(nc *nats.Conn, w *wallet.Service, log *slog.Logger, opts ...Option) (micro.Service, error) {
	o := newOptions(opts)
	if !ValidPrefix(o.prefix) {
		return nil, fmt.Errorf("wallet service: invalid subject prefix %q", o.prefix)
	}
	svc, err := micro.AddService(nc, micro.Config{
		Name: "wallet", Version: "1.0.0", QueueGroup: QueueGroup,
		Description: "Kibubu double-entry wallet",
	})
	if err != nil {
		return nil, fmt.Errorf("wallet service: %w", err)
	}
	s := &server{Responder: NewResponder(nc, log, handlersMax), w: w, o: o}
	add := func(subject string, h micro.HandlerFunc) {
		if err == nil {
			// Endpoint names allow no dots: "wallet.v1.float.issue" is "float-issue".
			name := strings.ReplaceAll(strings.TrimPrefix(subject, SubjectPrefix+"."), ".", "-")
			err = svc.AddEndpoint(name, s.audited(subject, h), micro.WithEndpointSubject(o.subject(subject)))
		}
	}
	add(SubjectTransfer, s.transfer(false))
	add(SubjectFloat, s.transfer(true))
	add(SubjectTransferShow, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q TransferQuery
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		return w.TransferInfo(ctx, q.Phone, q.Ref)
	}))
	add(SubjectQuote, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q QuoteRequest
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		fee, com, err := w.Quote(q.Kind, q.Amount)
		return QuoteReply{Fee: fee, Commission: com}, err
	}))
	add(SubjectLookup, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q AccountRequest
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		return w.Lookup(ctx, q.Number)
	}))
	add(SubjectShow, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q AccountRequest
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		return w.Show(ctx, q.Number)
	}))
	add(SubjectStatus, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q StatusRequest
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		return w.SetStatus(ctx, q.Number, q.Status)
	}))
	register := func(anyTier bool) micro.HandlerFunc {
		return s.async(func(ctx context.Context, r micro.Request) (any, error) {
			var q RegisterRequest
			if err := decode(r, &q); err != nil {
				return nil, err
			}
			if q.Tier == 0 {
				q.Tier = wallet.TierBasic
			}
			// A gateway registers the caller's own phone, unverified: the
			// self-registered tier, whatever it asks. A higher tier follows
			// a KYC check, which is an operator's.
			if !anyTier && q.Tier != wallet.TierBasic {
				return nil, wallet.Errorf(wallet.CodeInvalid, "a self-registered account is tier %d; an operator opens others (%s)", wallet.TierBasic, SubjectCustomerOpen)
			}
			if anyTier {
				// The operator's opening: the first PIN needs a start key.
				return w.OpenCustomer(ctx, q.Phone, q.Name, q.Tier, q.Language)
			}
			return w.Register(ctx, q.Phone, q.Name, q.Tier, q.Language)
		})
	}
	add(SubjectRegister, register(false))
	add(SubjectCustomerOpen, register(true))
	add(SubjectAgentAdd, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q AgentRequest
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		return w.AddAgent(ctx, q.Phone, q.Name)
	}))
	add(SubjectMerchant, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q MerchantRequest
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		return w.AddMerchant(ctx, q.Phone, q.Name, q.Paybill)
	}))
	add(SubjectPINSet, s.pin(func(ctx context.Context, q PINRequest) (any, error) {
		if q.Proof != "" {
			return w.SetPINWithProof(ctx, q.Phone, q.Proof, q.PIN)
		}
		return w.SetPINWithStartKey(ctx, q.Phone, q.StartKey, q.PIN)
	}))
	add(SubjectStartKey, s.pin(func(ctx context.Context, q PINRequest) (any, error) {
		proof, err := w.StartKeyProof(ctx, q.Phone, q.StartKey)
		if err != nil {
			return nil, err
		}
		return PINProofReply{Proof: proof}, nil
	}))
	add(SubjectPINChange, s.pin(func(ctx context.Context, q PINRequest) (any, error) {
		if q.Proof != "" {
			return w.ChangePINWithProof(ctx, q.Phone, q.Proof, q.NewPIN)
		}
		return w.ChangePIN(ctx, q.Phone, q.PIN, q.NewPIN)
	}))
	add(SubjectPINProof, s.pin(func(ctx context.Context, q PINRequest) (any, error) {
		proof, err := w.PINProof(ctx, q.Phone, q.PIN)
		if err != nil {
			return nil, err
		}
		return PINProofReply{Proof: proof}, nil
	}))
	add(SubjectPINVerify, s.pin(func(ctx context.Context, q PINRequest) (any, error) { return w.VerifyPIN(ctx, q.Phone, q.PIN) }))
	add(SubjectBalance, s.pin(func(ctx context.Context, q PINRequest) (any, error) { return w.Balance(ctx, q.Phone, q.PIN) }))
	add(SubjectPINReset, s.pin(func(ctx context.Context, q PINRequest) (any, error) { return w.ResetPIN(ctx, q.Phone) }))
	add(SubjectEarnings, s.pin(func(ctx context.Context, q PINRequest) (any, error) { return w.Earnings(ctx, q.Phone, q.PIN) }))
	add(SubjectStatement, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q wallet.StatementQuery
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		a, lines, err := w.Statement(ctx, q)
		if err != nil {
			return nil, err
		}
		if lines == nil {
			lines = []wallet.StatementLine{}
		}
		return StatementReply{Account: *a, Lines: lines}, nil
	}))
	add(SubjectLanguage, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q LanguageRequest
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		return w.SetLanguage(ctx, q.Phone, q.Language)
	}))
	add(SubjectTariff, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		c := w.Config()
		return TariffReply{Currency: c.Currency, Tariff: c.Tariff, Limits: c.Tiers, PINLength: c.PINLength}, nil
	}))
	add(SubjectCheck, s.Async(checkTimeout, func(ctx context.Context, r micro.Request) (any, error) { return w.Check(ctx) }))
	add(SubjectEvents, s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q EventsRequest
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		if q.Since.IsZero() {
			return nil, wallet.Errorf(wallet.CodeInvalid, "since is required")
		}
		evs, next, err := w.Events(ctx, q.Since, q.After, q.Limit)
		if err != nil {
			return nil, err
		}
		if evs == nil {
			evs = []wallet.Event{}
		}
		return EventsReply{Events: evs, Next: next}, nil
	}))
	s.reversal(add)
	s.pinPending(add)
	if o.commerce != nil {
		s.merchant(o.commerce, add)
	}
	s.serveAudit(add)
	if err != nil {
		svc.Stop()
		return nil, fmt.Errorf("wallet service: %w", err)
	}
	return svc, nil
}

type server struct {
	*Responder
	o options
	w *wallet.Service
}

// transfer queues the request to the writer and answers from the writer's
// goroutine once the batch commits, so the subscription never waits on the
// database and requests keep arriving while a batch commits.
func (s *server) transfer(operator bool) micro.HandlerFunc {
	return func(r micro.Request) {
		var q wallet.TransferRequest
		if err := decode(r, &q); err != nil {
			s.Respond(r, nil, err)
			return
		}
		// The merchant kinds move a merchant's money, or a customer's
		// without a PIN: only the merchant services in the wallet's own
		// process post them, after authenticating the merchant's API key.
		if q.Kind.MerchantOnly() {
			s.Respond(r, nil, wallet.Errorf(wallet.CodeInvalid, "a %s is posted by the merchant services only", q.Kind))
			return
		}
		// A reversal is a request the recipient may object to
		// (reversal.request); only the wallet posts one.
		if q.Kind == wallet.TransferReversal {
			s.Respond(r, nil, wallet.Errorf(wallet.CodeInvalid, "a reversal is asked for on %s", SubjectReversalRequest))
			return
		}
		// The kind decides the subject, so NATS permissions can keep float
		// issue to operators.
		if operator != (q.Kind == wallet.TransferFloat) {
			s.Respond(r, nil, wallet.Errorf(wallet.CodeInvalid, "transfer kind %q is not served on %s", q.Kind, r.Subject()))
			return
		}
		if !operator {
			// The caller's keys in a namespace of their own (ExternalKeyPrefix);
			// a command first made under the bare key, before there was one,
			// still replays (LegacyKey).
			if q.Key == "" || len(q.Key) > ExternalKeyBytesMax {
				s.Respond(r, nil, wallet.Errorf(wallet.CodeInvalid, "an idempotency key of 1 to %d bytes is required", ExternalKeyBytesMax))
				return
			}
			q.LegacyKey, q.Key = q.Key, ExternalKeyPrefix+q.Key
		}
		ctx, cancel := context.WithTimeout(context.Background(), handlerTimeout)
		defer cancel()
		s.w.TransferAsync(ctx, q, func(res *wallet.TransferResult, err error) { s.Respond(r, res, err) })
	}
}

// async runs h on its own goroutine (bounded by handlersMax): these calls
// wait for the writer or the database and must not hold up the
// subscription.
func (s *server) async(h func(context.Context, micro.Request) (any, error)) micro.HandlerFunc {
	return s.Async(handlerTimeout, h)
}

func (s *server) pin(h func(context.Context, PINRequest) (any, error)) micro.HandlerFunc {
	return s.async(func(ctx context.Context, r micro.Request) (any, error) {
		var q PINRequest
		if err := decode(r, &q); err != nil {
			return nil, err
		}
		return h(wallet.WithPINAttempt(ctx, q.attempt()), q)
	})
}

func decode(r micro.Request, v any) error { return Decode(r.Data(), requestBytesMax, v) }

// Decode reads a request's JSON into v. Data larger than bytesMax, or not
// JSON, is a CodeInvalid *wallet.Error: the caller's mistake, answered as
// such.
func Decode(data []byte, bytesMax int, v any) error {
	if len(data) > bytesMax {
		return wallet.Errorf(wallet.CodeInvalid, "request larger than %d bytes", bytesMax)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return wallet.Errorf(wallet.CodeInvalid, "malformed JSON request")
	}
	return nil
}

// Responder answers the requests of a micro service as the wallet's service
// does, so that one client side (Request) reads them all: the notifier's
// webhook service answers through one too.
type Responder struct {
	nc  *nats.Conn
	log *slog.Logger
	sem chan struct{} // a slot per Async handler running
}

// NewResponder returns a Responder that answers on nc, logs to log
// (slog.Default when nil) and runs at most handlersMax Async handlers at
// once (at least one).
func NewResponder(nc *nats.Conn, log *slog.Logger, handlersMax int) *Responder {
	if log == nil {
		log = slog.Default()
	}
	return &Responder{nc: nc, log: log, sem: make(chan struct{}, max(handlersMax, 1))}
}

// Async returns a handler that runs h on its own goroutine, with a context
// that ends after timeout, and answers with what h returns. Handlers that
// wait for a database or another service use it so as not to hold up the
// subscription; while all the Responder's slots are taken, the subscription
// waits for one.
func (rs *Responder) Async(timeout time.Duration, h func(context.Context, micro.Request) (any, error)) micro.HandlerFunc {
	return func(r micro.Request) {
		rs.sem <- struct{}{}
		go func() {
			defer func() { <-rs.sem }()
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			v, err := h(ctx, r)
			rs.Respond(r, v, err)
		}()
	}
}

// Respond answers r with v as JSON, or with err as a coded micro error: the
// code and message in the headers micro's Request.Error sets, and the
// *wallet.Error as JSON body, which Request reads back. It publishes to the
// reply subject itself rather than through r, because transfers are
// answered from the writer's goroutine after the handler returned, while
// micro reads r's state for its statistics. An error that is not a
// *wallet.Error is an outage or a bug: it is logged here, and the caller
// sees only CodeUnavailable (retry with the same key) or CodeInternal.
func (rs *Responder) Respond(r micro.Request, v any, err error) {
	if a, ok := r.(*auditedRequest); ok {
		// The outcome is recorded before the answer goes out, off the
		// caller's goroutine (the writer's, for a float issue).
		go func() {
			a.finish(v, err)
			rs.send(a.Request, v, err)
		}()
		return
	}
	rs.send(r, v, err)
}

func (rs *Responder) send(r micro.Request, v any, err error) {
	if r.Reply() == "" {
		return
	}
	m := nats.NewMsg(r.Reply())
	if err != nil {
		we, bug := asWalletError(err)
		if bug {
			rs.log.Error("request failed", "subject", r.Subject(), "err", err)
		} else if outage(err) {
			rs.log.Warn("request failed: a dependency is unavailable", "subject", r.Subject(), "err", err)
		}
		m.Header.Set(micro.ErrorCodeHeader, string(we.Code))
		m.Header.Set(micro.ErrorHeader, we.Message)
		m.Data, _ = json.Marshal(we)
	} else if m.Data, err = json.Marshal(v); err != nil {
		m.Header.Set(micro.ErrorCodeHeader, string(wallet.CodeInternal))
		m.Header.Set(micro.ErrorHeader, "cannot encode the reply")
		m.Data = nil
	}
	if err := rs.nc.PublishMsg(m); err != nil {
		rs.log.Warn("reply not sent", "subject", r.Subject(), "err", err)
	}
}
