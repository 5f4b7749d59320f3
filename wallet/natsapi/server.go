package natsapi

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

const (
	// requestBytesMax bounds a request payload; the largest legitimate one is
	// a few hundred bytes.
	requestBytesMax = natsrpc.RequestBytesMax
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
	if log == nil {
		log = slog.Default()
	}
	if !natsrpc.ValidPrefix(o.prefix) {
		return nil, fmt.Errorf("wallet service: invalid subject prefix %q", o.prefix)
	}
	s := &server{Responder: natsrpc.NewResponder(nc, log, handlersMax), nc: nc, log: log, w: w, o: o}
	svc, err := micro.AddService(nc, micro.Config{
		Name: "wallet", Version: "1.0.0", QueueGroup: QueueGroup,
		Description:  "Kibubu double-entry wallet",
		StatsHandler: s.EndpointStats,
	})
	if err != nil {
		return nil, fmt.Errorf("wallet service: %w", err)
	}
	addRoute := func(rt natsrpc.Route, h micro.HandlerFunc) {
		if err == nil {
			// Endpoint names allow no dots: "wallet.v1.float.issue" is "float-issue".
			name := strings.ReplaceAll(strings.TrimPrefix(rt.Subject, SubjectPrefix+"."), ".", "-")
			full := o.subject(rt.Subject)
			err = svc.AddEndpoint(name, s.Handle(full, s.audited(rt, h)), micro.WithEndpointSubject(full))
		}
	}
	add := func(subject string, h micro.HandlerFunc) { addRoute(route(subject), h) }
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
	for _, register := range o.endpoints {
		register(mux{s, addRoute})
	}
	s.serveAudit(add)
	s.ops(add)
	s.reports(add)
	if err != nil {
		svc.Stop()
		return nil, fmt.Errorf("wallet service: %w", err)
	}
	return svc, nil
}

type server struct {
	*natsrpc.Responder
	nc  *nats.Conn
	log *slog.Logger
	o   options
	w   *wallet.Service
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

// route is the Route of one of the wallet's own subjects.
func route(subject string) natsrpc.Route {
	return natsrpc.Route{Subject: subject, Operator: slices.Contains(OperatorSubjects, subject),
		ReadOnly: slices.Contains(AuditReadOnlySubjects, subject)}
}

// mux is the natsrpc.Mux WithEndpoints's registrations add to: each
// handler runs as the wallet's own reads do (async), audited as its Route
// says.
type mux struct {
	s   *server
	add func(natsrpc.Route, micro.HandlerFunc)
}

func (m mux) Add(rt natsrpc.Route, h func(context.Context, micro.Request) (any, error)) {
	m.add(rt, m.s.async(h))
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

func decode(r micro.Request, v any) error { return natsrpc.Decode(r.Data(), requestBytesMax, v) }
