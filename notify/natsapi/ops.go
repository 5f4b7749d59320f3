package natsapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/notify/store"
	"github.com/kibubu/kibubu/wallet"
	walletapi "github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// The notifier's operator service (notify.ops.v1.*), for the back-office:
// the SMS outbox and the retry of a failed SMS, a merchant's webhook
// deliveries and their re-send, and the daily failure rates. Every subject
// is an operator's: deploy/natsroles lets the operator user call them and
// not a gateway. The two that change something (retry, re-send) must name
// their operator and reason (the Kibubu-Actor and Kibubu-Reason headers,
// walletapi.WithOperator); the ops process records them in the wallet's
// audit log (walletapi.SubjectOpsNote) before it asks.
const (
	// OpsSubjectPrefix starts every subject of the operator service. It is
	// outside notify.v1.> (the NOTIFY stream's) as the webhook subjects are.
	OpsSubjectPrefix = "notify.ops.v1"
	// OpsQueueGroup is the queue group the notifiers' operator services share.
	OpsQueueGroup = "notify-ops"
	// OpsSMSPageMax bounds a page of the SMS outbox.
	OpsSMSPageMax = 100
	// opsHandlersMax bounds the operator requests handled at once: a few
	// people at their desks.
	opsHandlersMax = 32
	// opsHandlerTimeout bounds one request's work: a statement or two.
	opsHandlerTimeout = 10 * time.Second
	// phoneBytesMax bounds a phone filter: E.164 is at most 16 bytes.
	phoneBytesMax = 20
	// merchantBytesMax bounds a merchant id as the webhook tables keep it.
	merchantBytesMax = 64
)

// The operator endpoints, each declared once (natsrpc.Endpoint).
var (
	OpsSMSList      = natsrpc.Endpoint[OpsSMSListRequest, OpsSMSPage]{Subject: OpsSubjectPrefix + ".sms.list", Operator: true, ReadOnly: true}
	OpsSMSRetry     = natsrpc.Endpoint[OpsSMSRequest, notify.Stored]{Subject: OpsSubjectPrefix + ".sms.retry", Operator: true}
	OpsDeliveries   = natsrpc.Endpoint[OpsDeliveriesRequest, notify.DeliveriesReply]{Subject: OpsSubjectPrefix + ".webhook.deliveries", Operator: true, ReadOnly: true}
	OpsResend       = natsrpc.Endpoint[OpsResendRequest, notify.Delivery]{Subject: OpsSubjectPrefix + ".webhook.resend", Operator: true}
	OpsFailureRates = natsrpc.Endpoint[OpsFailureRatesRequest, OpsFailureRatesReply]{Subject: OpsSubjectPrefix + ".failures", Operator: true, ReadOnly: true}
)

// OpsSMSListRequest selects recorded SMS, newest first: by status and
// phone (E.164) when set, below the id Before (the previous page's Next),
// at most Limit (OpsSMSPageMax when 0).
type OpsSMSListRequest struct {
	Status string `json:"status,omitempty"`
	Phone  string `json:"phone,omitempty"`
	Before int64  `json:"before,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// OpsSMSPage is a page of SMS; Next is the next page's Before (0 on the
// last). A start key's text is never in it (notify.RedactedText instead).
type OpsSMSPage struct {
	SMS  []notify.Stored `json:"sms"`
	Next int64           `json:"next,omitempty"`
}

// OpsSMSRequest names a recorded SMS.
type OpsSMSRequest struct {
	ID int64 `json:"id"`
}

// OpsDeliveriesRequest lists a merchant's webhook deliveries, as
// notify.DeliveriesRequest does for the merchant itself.
type OpsDeliveriesRequest struct {
	Merchant string                `json:"merchant"`
	Status   notify.DeliveryStatus `json:"status,omitempty"`
	Cursor   string                `json:"cursor,omitempty"`
	Limit    int                   `json:"limit,omitempty"`
}

// OpsResendRequest names a merchant's delivery to send again.
type OpsResendRequest struct {
	Merchant string `json:"merchant"`
	ID       string `json:"id"`
}

// OpsFailureRatesRequest asks for Days days of failure counts, the first
// starting at From.
type OpsFailureRatesRequest struct {
	From time.Time `json:"from"`
	Days int       `json:"days"`
}

// OpsFailureRatesReply is a day's counts each (store.FailureDay).
type OpsFailureRatesReply struct {
	Days []store.FailureDay `json:"days"`
}

// RegisterOps serves the operator endpoints on m from st.
func RegisterOps(m natsrpc.Mux, st *store.Store) {
	OpsSMSList.Handle(m, func(ctx context.Context, q OpsSMSListRequest) (*OpsSMSPage, error) {
		if !validSMSStatus(q.Status) {
			return nil, wallet.Errorf(wallet.CodeInvalid, "unknown SMS status %.20q", q.Status)
		}
		if len(q.Phone) > phoneBytesMax || q.Before < 0 || q.Limit < 0 || q.Limit > OpsSMSPageMax {
			return nil, wallet.Errorf(wallet.CodeInvalid, "a phone of at most %d bytes, a page of 1 to %d SMS", phoneBytesMax, OpsSMSPageMax)
		}
		limit := q.Limit
		if limit == 0 {
			limit = OpsSMSPageMax
		}
		sms, err := st.List(ctx, store.Filter{Status: q.Status, Phone: q.Phone, Before: q.Before, Limit: limit})
		if err != nil {
			return nil, err
		}
		page := &OpsSMSPage{SMS: sms}
		for i := range sms {
			redact(&sms[i])
		}
		if len(sms) == limit {
			page.Next = sms[len(sms)-1].ID
		}
		return page, nil
	})
	OpsSMSRetry.Handle(m, func(ctx context.Context, q OpsSMSRequest) (*notify.Stored, error) {
		if q.ID <= 0 {
			return nil, wallet.Errorf(wallet.CodeNotFound, "no SMS %d", q.ID)
		}
		sms, err := st.Retry(ctx, q.ID)
		if err != nil {
			return nil, err
		}
		redact(sms)
		return sms, nil
	})
	OpsDeliveries.Handle(m, func(ctx context.Context, q OpsDeliveriesRequest) (*notify.DeliveriesReply, error) {
		if err := validMerchant(q.Merchant); err != nil {
			return nil, err
		}
		return deliveries(ctx, st, store.DeliveryFilter{Merchant: q.Merchant, Status: q.Status, Before: q.Cursor, Limit: q.Limit})
	})
	OpsResend.Handle(m, func(ctx context.Context, q OpsResendRequest) (*notify.Delivery, error) {
		if err := validMerchant(q.Merchant); err != nil {
			return nil, err
		}
		if !notify.ValidDeliveryID(q.ID) {
			return nil, wallet.Errorf(wallet.CodeNotFound, "no webhook delivery %.40s", q.ID)
		}
		return st.Resend(ctx, q.Merchant, q.ID)
	})
	OpsFailureRates.Handle(m, func(ctx context.Context, q OpsFailureRatesRequest) (*OpsFailureRatesReply, error) {
		if q.Days < 1 || q.Days > store.FailureDaysMax || q.From.IsZero() {
			return nil, wallet.Errorf(wallet.CodeInvalid, "a first day and 1 to %d days", store.FailureDaysMax)
		}
		bounds := make([]time.Time, q.Days+1)
		for i := range bounds {
			bounds[i] = q.From.AddDate(0, 0, i)
		}
		days, err := st.FailureRates(ctx, bounds)
		if err != nil {
			return nil, err
		}
		return &OpsFailureRatesReply{Days: days}, nil
	})
	registerOpsTransfer(m, st) // ops_transfer.go
}

// OpsRoutes are the operator service's routes, as RegisterOps adds them.
var OpsRoutes = natsrpc.Routes(func(m natsrpc.Mux) { RegisterOps(m, nil) })

// OpsOperatorSubjects are the operator service's subjects (all of them
// operators'), for deploy/natsroles.
var OpsOperatorSubjects = natsrpc.OperatorSubjects(OpsRoutes)

// redact replaces the text of an SMS that carries a start key: an
// operator never reads one (the person on the phone may not be the owner).
func redact(m *notify.Stored) {
	if notify.IsSecret(m.Key) {
		m.Text = notify.RedactedText
	}
}

func validSMSStatus(s string) bool {
	switch s {
	case "", notify.StatusPending, notify.StatusSending, notify.StatusAccepted, notify.StatusQueued, notify.StatusSent,
		notify.StatusDelivered, notify.StatusUndelivered, notify.StatusFailed:
		return true
	}
	return false
}

func validMerchant(m string) error {
	if strings.TrimSpace(m) == "" || len(m) > merchantBytesMax {
		return wallet.Errorf(wallet.CodeInvalid, "a merchant of 1 to %d bytes is required", merchantBytesMax)
	}
	return nil
}

// ServeOps adds the notifier's "notify-ops" micro service to nc, under the
// NATS prefix, answering the operator endpoints (RegisterOps) from st. A
// request that changes something (not ReadOnly) without an operator and a
// reason in its headers is refused (CodeForbidden). It returns once the
// NATS server routes the subjects to the service.
func ServeOps(nc *nats.Conn, st *store.Store, prefix string, log *slog.Logger) (micro.Service, error) {
	if st == nil {
		return nil, errors.New("ops service: needs a store")
	}
	return serve(nc, prefix, log, opsHandlersMax, micro.Config{
		Name: "notify-ops", Version: "1.0.0", QueueGroup: OpsQueueGroup,
		Description: "Kibubu notifier, for operators: SMS outbox and retry, webhook deliveries and re-send, failure rates",
	}, func(svc micro.Service, rs *natsrpc.Responder) error {
		m := &opsMux{svc: svc, rs: rs, prefix: prefix, log: log}
		RegisterOps(m, st)
		return m.err
	})
}

// serve adds a micro service of the notifier to nc (cfg, with the
// Responder's statistics), with the endpoints add adds, under the NATS
// prefix. It returns once the NATS server routes their subjects to the
// service, so that a request made after it returns, on any connection,
// finds it; on an error the service is stopped.
func serve(nc *nats.Conn, prefix string, log *slog.Logger, handlersMax int, cfg micro.Config, add func(micro.Service, *natsrpc.Responder) error) (micro.Service, error) {
	if nc == nil {
		return nil, fmt.Errorf("%s service: needs a NATS connection", cfg.Name)
	}
	if !natsrpc.ValidPrefix(prefix) {
		return nil, fmt.Errorf("%s service: invalid subject prefix %q", cfg.Name, prefix)
	}
	if log == nil {
		log = slog.Default()
	}
	rs := natsrpc.NewResponder(nc, log, handlersMax)
	cfg.StatsHandler = rs.EndpointStats
	svc, err := micro.AddService(nc, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s service: %w", cfg.Name, err)
	}
	if err = add(svc, rs); err == nil {
		err = nc.Flush()
	}
	if err != nil {
		svc.Stop()
		return nil, fmt.Errorf("%s service: %w", cfg.Name, err)
	}
	return svc, nil
}

// opsMux adds routes to the micro service, each answered on its own
// goroutine (bounded), the ones that change something only for a request
// that names its operator and reason.
type opsMux struct {
	svc    micro.Service
	rs     *natsrpc.Responder
	prefix string
	log    *slog.Logger
	err    error
}

func (m *opsMux) Add(rt natsrpc.Route, h func(context.Context, micro.Request) (any, error)) {
	if m.err != nil {
		return
	}
	if !rt.ReadOnly {
		inner := h
		h = func(ctx context.Context, r micro.Request) (any, error) {
			actor, reason := r.Headers().Get(walletapi.HeaderActor), r.Headers().Get(walletapi.HeaderReason)
			if strings.TrimSpace(actor) == "" || strings.TrimSpace(reason) == "" {
				return nil, wallet.Errorf(wallet.CodeForbidden, "an operator request must name its operator and reason (the %s and %s headers)",
					walletapi.HeaderActor, walletapi.HeaderReason)
			}
			v, err := inner(ctx, r)
			m.log.Info("operator action", "subject", rt.Subject, "actor", actor, "ok", err == nil)
			return v, err
		}
	}
	full := natsrpc.Subject(m.prefix, rt.Subject)
	name := strings.ReplaceAll(strings.TrimPrefix(rt.Subject, OpsSubjectPrefix+"."), ".", "-")
	m.err = m.svc.AddEndpoint(name, m.rs.Handle(full, m.rs.Async(opsHandlerTimeout, h)), micro.WithEndpointSubject(full))
}

// OpsClient calls the notifier's operator service; an operator and reason
// on the context (walletapi.WithOperator) go in the request's headers.
type OpsClient struct {
	nc      *nats.Conn
	timeout time.Duration
	prefix  string
}

var _ natsrpc.Caller = (*OpsClient)(nil)

// NewOpsClient returns a client on nc under the NATS prefix; timeout 0
// means 5 s.
func NewOpsClient(nc *nats.Conn, timeout time.Duration, prefix string) *OpsClient {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &OpsClient{nc: nc, timeout: timeout, prefix: prefix}
}

// Call makes a request on subject (without the prefix); a refusal comes
// back as a *wallet.Error, no answer as CodeUnavailable.
func (c *OpsClient) Call(ctx context.Context, subj string, req, reply any) error {
	if op, ok := walletapi.OperatorFrom(ctx); ok {
		h := nats.Header{}
		h.Set(walletapi.HeaderActor, op.Actor)
		if op.Reason != "" {
			h.Set(walletapi.HeaderReason, op.Reason)
		}
		ctx = natsrpc.WithHeader(ctx, h)
	}
	return natsrpc.Request(ctx, c.nc, "the notifier", subject(c.prefix, subj), c.timeout, req, reply)
}

// SMS lists recorded SMS (OpsSMSList).
func (c *OpsClient) SMS(ctx context.Context, q OpsSMSListRequest) (*OpsSMSPage, error) {
	return OpsSMSList.Call(ctx, c, q)
}

// RetrySMS makes a failed SMS pending again (OpsSMSRetry).
func (c *OpsClient) RetrySMS(ctx context.Context, id int64) (*notify.Stored, error) {
	return OpsSMSRetry.Call(ctx, c, OpsSMSRequest{ID: id})
}

// Deliveries lists a merchant's webhook deliveries (OpsDeliveries).
func (c *OpsClient) Deliveries(ctx context.Context, q OpsDeliveriesRequest) (*notify.DeliveriesReply, error) {
	return OpsDeliveries.Call(ctx, c, q)
}

// Resend queues a merchant's delivery again (OpsResend).
func (c *OpsClient) Resend(ctx context.Context, merchant, id string) (*notify.Delivery, error) {
	return OpsResend.Call(ctx, c, OpsResendRequest{Merchant: merchant, ID: id})
}

// FailureRates counts the SMS and webhooks of days days from from (OpsFailureRates).
func (c *OpsClient) FailureRates(ctx context.Context, from time.Time, days int) (*OpsFailureRatesReply, error) {
	return OpsFailureRates.Call(ctx, c, OpsFailureRatesRequest{From: from, Days: days})
}
