package natsapi

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
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
	s.rep, s.reportsErr = wallet.NewReports(w)
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
	// Transfers answer from the writer's goroutine, not a handler's own.
	addRoute(Transfer.Route(), s.transfer(false))
	addRoute(Float.Route(), s.transfer(true))
	m := mux{s, addRoute}
	s.register(m)
	for _, register := range o.endpoints {
		register(m)
	}
	if err != nil {
		svc.Stop()
		return nil, fmt.Errorf("wallet service: %w", err)
	}
	return svc, nil
}

// register serves the wallet's own endpoints but the transfers on m, in
// the order Serve adds them. It reads s only when a request is answered,
// so Routes can list them from a zero server.
func (s *server) register(m natsrpc.Mux) {
	TransferShow.Handle(m, func(ctx context.Context, q TransferQuery) (*wallet.TransferInfo, error) {
		return s.w.TransferInfo(ctx, q.Phone, q.Ref)
	})
	Quote.Handle(m, func(ctx context.Context, q QuoteRequest) (*QuoteReply, error) {
		fee, com, err := s.w.Quote(q.Kind, q.Amount)
		return &QuoteReply{Fee: fee, Commission: com}, err
	})
	Lookup.Handle(m, func(ctx context.Context, q AccountRequest) (*wallet.Profile, error) { return s.w.Lookup(ctx, q.Number) })
	Show.Handle(m, func(ctx context.Context, q AccountRequest) (*wallet.Account, error) { return s.w.Show(ctx, q.Number) })
	Status.Handle(m, func(ctx context.Context, q StatusRequest) (*wallet.Account, error) {
		return s.w.SetStatus(ctx, q.Number, q.Status)
	})
	register := func(anyTier bool) func(context.Context, RegisterRequest) (*wallet.Account, error) {
		return func(ctx context.Context, q RegisterRequest) (*wallet.Account, error) {
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
				return s.w.OpenCustomer(ctx, q.Phone, q.Name, q.Tier, q.Language)
			}
			return s.w.Register(ctx, q.Phone, q.Name, q.Tier, q.Language)
		}
	}
	Register.Handle(m, register(false))
	CustomerOpen.Handle(m, register(true))
	AgentAdd.Handle(m, func(ctx context.Context, q AgentRequest) (*wallet.Account, error) {
		return s.w.AddAgent(ctx, q.Phone, q.Name)
	})
	MerchantAdd.Handle(m, func(ctx context.Context, q MerchantRequest) (*wallet.Account, error) {
		return s.w.AddMerchant(ctx, q.Phone, q.Name, q.Paybill)
	})
	pin(m, PINSet, func(ctx context.Context, q PINRequest) (*wallet.Account, error) {
		if q.Proof != "" {
			return s.w.SetPINWithProof(ctx, q.Phone, q.Proof, q.PIN)
		}
		return s.w.SetPINWithStartKey(ctx, q.Phone, q.StartKey, q.PIN)
	})
	pin(m, StartKey, func(ctx context.Context, q PINRequest) (*PINProofReply, error) {
		proof, err := s.w.StartKeyProof(ctx, q.Phone, q.StartKey)
		if err != nil {
			return nil, err
		}
		return &PINProofReply{Proof: proof}, nil
	})
	pin(m, PINChange, func(ctx context.Context, q PINRequest) (*wallet.Account, error) {
		if q.Proof != "" {
			return s.w.ChangePINWithProof(ctx, q.Phone, q.Proof, q.NewPIN)
		}
		return s.w.ChangePIN(ctx, q.Phone, q.PIN, q.NewPIN)
	})
	pin(m, PINProof, func(ctx context.Context, q PINRequest) (*PINProofReply, error) {
		proof, err := s.w.PINProof(ctx, q.Phone, q.PIN)
		if err != nil {
			return nil, err
		}
		return &PINProofReply{Proof: proof}, nil
	})
	pin(m, PINVerify, func(ctx context.Context, q PINRequest) (*wallet.Account, error) {
		return s.w.VerifyPIN(ctx, q.Phone, q.PIN)
	})
	pin(m, Balance, func(ctx context.Context, q PINRequest) (*wallet.Account, error) {
		return s.w.Balance(ctx, q.Phone, q.PIN)
	})
	pin(m, PINReset, func(ctx context.Context, q PINRequest) (*wallet.Account, error) { return s.w.ResetPIN(ctx, q.Phone) })
	pin(m, Earnings, func(ctx context.Context, q PINRequest) (*wallet.Earnings, error) {
		return s.w.Earnings(ctx, q.Phone, q.PIN)
	})
	Statement.Handle(m, func(ctx context.Context, q wallet.StatementQuery) (*StatementReply, error) {
		a, lines, err := s.w.Statement(ctx, q)
		if err != nil {
			return nil, err
		}
		if lines == nil {
			lines = []wallet.StatementLine{}
		}
		return &StatementReply{Account: *a, Lines: lines}, nil
	})
	Language.Handle(m, func(ctx context.Context, q LanguageRequest) (*wallet.Account, error) {
		return s.w.SetLanguage(ctx, q.Phone, q.Language)
	})
	Tariff.Handle(m, func(context.Context, struct{}) (*TariffReply, error) {
		c := s.w.Config()
		return &TariffReply{Currency: c.Currency, Tariff: c.Tariff, Limits: c.Tiers, PINLength: c.PINLength}, nil
	})
	Check.Handle(m, func(ctx context.Context, _ struct{}) (*wallet.CheckReport, error) { return s.w.Check(ctx) })
	Events.Handle(m, func(ctx context.Context, q EventsRequest) (*EventsReply, error) {
		if q.Since.IsZero() {
			return nil, wallet.Errorf(wallet.CodeInvalid, "since is required")
		}
		evs, next, err := s.w.Events(ctx, q.Since, q.After, q.Limit)
		if err != nil {
			return nil, err
		}
		if evs == nil {
			evs = []wallet.Event{}
		}
		return &EventsReply{Events: evs, Next: next}, nil
	})
	s.reversal(m)
	s.review(m)
	s.pinPending(m)
	s.serveAudit(m)
	s.ops(m)
	s.reports(m)
}

type server struct {
	*natsrpc.Responder
	nc  *nats.Conn
	log *slog.Logger
	o   options
	w   *wallet.Service

	rep        *wallet.Reports // the back-office's reports (report.go)
	reportsErr error           // why there are none
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

// mux is the natsrpc.Mux the wallet's endpoints and WithEndpoints's
// registrations add to: each handler runs on a goroutine of its own
// (async) within its Route's time bound (handlerTimeout by default), with
// the request's headers in its context (requestHeader), audited as its
// Route says.
type mux struct {
	s   *server
	add func(natsrpc.Route, micro.HandlerFunc)
}

func (m mux) Add(rt natsrpc.Route, h func(context.Context, micro.Request) (any, error)) {
	m.add(rt, m.s.Async(cmp.Or(rt.Timeout, handlerTimeout), func(ctx context.Context, r micro.Request) (any, error) {
		return h(context.WithValue(ctx, headerKey{}, r.Headers()), r)
	}))
}

type headerKey struct{}

// requestHeader returns the headers of the request a handler answers
// (the operator's actor and reason, HeaderActor and HeaderReason).
func requestHeader(ctx context.Context) micro.Headers {
	h, _ := ctx.Value(headerKey{}).(micro.Headers)
	return h
}

// pin serves e, whose request carries a PIN, with h: the context names the
// PIN attempt (wallet.WithPINAttempt) the request says.
func pin[Rep any](m natsrpc.Mux, e natsrpc.Endpoint[PINRequest, Rep], h func(context.Context, PINRequest) (*Rep, error)) {
	e.Handle(m, func(ctx context.Context, q PINRequest) (*Rep, error) {
		return h(wallet.WithPINAttempt(ctx, q.attempt()), q)
	})
}

func decode(r micro.Request, v any) error { return natsrpc.Decode(r.Data(), requestBytesMax, v) }
