package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/commerce"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// Authenticator tells who an API key speaks for; *natsapi.Client is one
// (the wallet checks the key). It returns a *wallet.Error with
// CodeUnauthenticated for an unknown or revoked key.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (*commerce.Principal, error)
}

var _ Authenticator = (*natsapi.Client)(nil)

const (
	// WebhookQueueGroup is the micro queue group the notifiers' webhook
	// services share: each request goes to one of them.
	WebhookQueueGroup = "notify"
	// webhookRequestBytesMax bounds a request: a URL of 2 KB and a key.
	webhookRequestBytesMax = 8 << 10
	// webhookHandlersMax bounds the requests handled at once.
	webhookHandlersMax = 256
	// webhookHandlerTimeout bounds one request's work: the wallet's
	// authentication and a few statements.
	webhookHandlerTimeout = 10 * time.Second
	// apiKeyBytesMax bounds an API key passed on.
	apiKeyBytesMax = 256
)

// WebhookOption adjusts ServeWebhooks.
type WebhookOption func(*webhookOptions)

type webhookOptions struct {
	requireHTTPS bool
}

// RequireHTTPS makes the webhook service refuse http URLs. Production should
// use it: the body carries payments, and the signature proves who sent it,
// not that nobody read it.
func RequireHTTPS() WebhookOption { return func(o *webhookOptions) { o.requireHTTPS = true } }

// ServeWebhooks adds the notifier's "webhooks" micro service to nc, under
// the NATS prefix, answering SubjectWebhookSet, SubjectWebhookGet,
// SubjectWebhookDeliveries and SubjectWebhookResend (webhook_api.go) from
// st. Every request carries a merchant's API key, which auth checks: it must
// hold commerce.ScopeWebhooks (else CodeForbidden; an operator key has no
// webhooks), and it sees only its merchant's endpoint and deliveries
// (another merchant's delivery id is CodeNotFound). Refusals are answered as
// the wallet's service answers them: the code in the micro error headers
// and the *wallet.Error as JSON body (WebhookClient reads them back).
func ServeWebhooks(nc *nats.Conn, st *Store, auth Authenticator, prefix string, log *slog.Logger, opts ...WebhookOption) (micro.Service, error) {
	if nc == nil || st == nil || auth == nil {
		return nil, errors.New("webhook service: needs a NATS connection, a store and an authenticator")
	}
	if !natsapi.ValidPrefix(prefix) {
		return nil, fmt.Errorf("webhook service: invalid subject prefix %q", prefix)
	}
	if log == nil {
		log = slog.Default()
	}
	var o webhookOptions
	for _, f := range opts {
		f(&o)
	}
	svc, err := micro.AddService(nc, micro.Config{
		Name: "webhooks", Version: "1.0.0", QueueGroup: WebhookQueueGroup,
		Description: "Kibubu merchant webhooks: endpoints, deliveries, re-sends",
	})
	if err != nil {
		return nil, fmt.Errorf("webhook service: %w", err)
	}
	h := &webhookServer{nc: nc, st: st, auth: auth, log: log, o: o, sem: make(chan struct{}, webhookHandlersMax)}
	add := func(subj string, f func(context.Context, []byte) (any, error)) {
		if err == nil {
			name := strings.ReplaceAll(strings.TrimPrefix(subj, "notify.webhooks.v1."), ".", "-")
			err = svc.AddEndpoint(name, h.handler(f), micro.WithEndpointSubject(subject(prefix, subj)))
		}
	}
	add(SubjectWebhookSet, h.set)
	add(SubjectWebhookGet, h.get)
	add(SubjectWebhookDeliveries, h.deliveries)
	add(SubjectWebhookResend, h.resend)
	if err != nil {
		svc.Stop()
		return nil, fmt.Errorf("webhook service: %w", err)
	}
	return svc, nil
}

type webhookServer struct {
	nc   *nats.Conn
	st   *Store
	auth Authenticator
	log  *slog.Logger
	o    webhookOptions
	sem  chan struct{}
}

// handler runs f on its own goroutine, bounded, and answers with its result.
func (h *webhookServer) handler(f func(context.Context, []byte) (any, error)) micro.HandlerFunc {
	return func(r micro.Request) {
		h.sem <- struct{}{}
		go func() {
			defer func() { <-h.sem }()
			ctx, cancel := context.WithTimeout(context.Background(), webhookHandlerTimeout)
			defer cancel()
			var v any
			var err error
			if len(r.Data()) > webhookRequestBytesMax {
				err = wallet.Errorf(wallet.CodeInvalid, "request larger than %d bytes", webhookRequestBytesMax)
			} else {
				v, err = f(ctx, r.Data())
			}
			h.respond(r, v, err)
		}()
	}
}

// respond answers r with v, or with err as a coded micro error, as the
// wallet's service does. An error that is not a *wallet.Error is logged and
// answered as CodeInternal.
func (h *webhookServer) respond(r micro.Request, v any, err error) {
	if r.Reply() == "" {
		return
	}
	m := nats.NewMsg(r.Reply())
	if err != nil {
		var we *wallet.Error
		if !errors.As(err, &we) {
			h.log.Error("webhook request failed", "subject", r.Subject(), "err", err)
			we = &wallet.Error{Code: wallet.CodeInternal, Message: "internal error"}
		}
		m.Header.Set(micro.ErrorCodeHeader, string(we.Code))
		m.Header.Set(micro.ErrorHeader, we.Message)
		m.Data, _ = json.Marshal(we)
	} else if m.Data, err = json.Marshal(v); err != nil {
		m.Header.Set(micro.ErrorCodeHeader, string(wallet.CodeInternal))
		m.Header.Set(micro.ErrorHeader, "cannot encode the reply")
		m.Data = nil
	}
	if err := h.nc.PublishMsg(m); err != nil {
		h.log.Warn("webhook reply not sent", "subject", r.Subject(), "err", err)
	}
}

func decodeWebhook(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return wallet.Errorf(wallet.CodeInvalid, "malformed JSON request")
	}
	return nil
}

// merchant checks key and returns the merchant it may manage the webhooks of.
func (h *webhookServer) merchant(ctx context.Context, key string) (string, error) {
	if key == "" {
		return "", wallet.Errorf(wallet.CodeUnauthenticated, "no API key")
	}
	if len(key) > apiKeyBytesMax {
		return "", wallet.Errorf(wallet.CodeUnauthenticated, "unknown API key")
	}
	p, err := h.auth.Authenticate(ctx, key)
	if err != nil {
		var we *wallet.Error
		if errors.As(err, &we) {
			return "", we
		}
		return "", fmt.Errorf("authenticate: %w", err)
	}
	switch {
	case p == nil:
		return "", wallet.Errorf(wallet.CodeUnauthenticated, "unknown API key")
	case p.Operator || p.Merchant == "":
		return "", wallet.Errorf(wallet.CodeForbidden, "an operator key has no webhooks: use a merchant key with the webhooks scope")
	case !p.Can(commerce.ScopeWebhooks):
		return "", wallet.Errorf(wallet.CodeForbidden, "this API key lacks the %s scope", commerce.ScopeWebhooks)
	}
	return p.Merchant, nil
}

func (h *webhookServer) set(ctx context.Context, data []byte) (any, error) {
	var q WebhookSetRequest
	if err := decodeWebhook(data, &q); err != nil {
		return nil, err
	}
	m, err := h.merchant(ctx, q.Auth)
	if err != nil {
		return nil, err
	}
	if err := ValidateWebhookURL(q.URL, h.o.requireHTTPS); err != nil {
		return nil, err
	}
	return h.st.SetWebhook(ctx, m, q.URL, q.Rotate)
}

func (h *webhookServer) get(ctx context.Context, data []byte) (any, error) {
	var q WebhookRequest
	if err := decodeWebhook(data, &q); err != nil {
		return nil, err
	}
	m, err := h.merchant(ctx, q.Auth)
	if err != nil {
		return nil, err
	}
	return h.st.Webhook(ctx, m)
}

func (h *webhookServer) deliveries(ctx context.Context, data []byte) (any, error) {
	var q DeliveriesRequest
	if err := decodeWebhook(data, &q); err != nil {
		return nil, err
	}
	m, err := h.merchant(ctx, q.Auth)
	if err != nil {
		return nil, err
	}
	switch q.Status {
	case "", DeliveryPending, DeliveryDelivered, DeliveryFailed:
	default:
		return nil, wallet.Errorf(wallet.CodeInvalid, "status must be pending, delivered or failed")
	}
	if q.Cursor != "" && !validDeliveryID(q.Cursor) {
		return nil, wallet.Errorf(wallet.CodeInvalid, "malformed cursor")
	}
	if q.Limit < 0 || q.Limit > deliveriesMax {
		return nil, wallet.Errorf(wallet.CodeInvalid, "limit must be 1 to %d", deliveriesMax)
	}
	ds, next, err := h.st.Deliveries(ctx, DeliveryFilter{Merchant: m, Status: q.Status, Before: q.Cursor, Limit: q.Limit})
	if err != nil {
		return nil, err
	}
	return DeliveriesReply{Deliveries: ds, Next: next}, nil
}

func (h *webhookServer) resend(ctx context.Context, data []byte) (any, error) {
	var q WebhookRequest
	if err := decodeWebhook(data, &q); err != nil {
		return nil, err
	}
	m, err := h.merchant(ctx, q.Auth)
	if err != nil {
		return nil, err
	}
	if !validDeliveryID(q.ID) {
		return nil, wallet.Errorf(wallet.CodeNotFound, "no webhook delivery %.40s", q.ID)
	}
	return h.st.Resend(ctx, m, q.ID)
}
