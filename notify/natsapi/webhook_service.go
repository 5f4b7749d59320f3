package natsapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/notify/store"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// Authenticator tells who an API key speaks for; *merchantapi.Client is one
// (the wallet checks the key). It returns a *wallet.Error with
// CodeUnauthenticated for an unknown or revoked key.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (*merchant.Principal, error)
}

var _ Authenticator = (*merchantapi.Client)(nil)

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
	apiKeyBytesMax = merchant.APIKeyBytesMax
)

// ServeWebhooks adds the notifier's "webhooks" micro service to nc, under
// the NATS prefix, answering SubjectWebhookSet, SubjectWebhookGet,
// SubjectWebhookDeliveries and SubjectWebhookResend (webhook_api.go) from
// st. A URL set is checked by ValidateWebhookURL with opts: http allowed
// unless RequireHTTPS, non-public literal addresses and localhost names
// refused unless AllowPrivate. Every request carries a merchant's API key,
// which auth checks: it must hold merchant.ScopeWebhooks (else
// CodeForbidden; an operator key has no webhooks), and it sees only its
// merchant's endpoint and deliveries (another merchant's delivery id is
// CodeNotFound). Refusals are answered as the wallet's service answers
// them: the code in the micro error headers and the *wallet.Error as JSON
// body (WebhookClient reads them back). It returns once the NATS server
// routes the subjects to the service.
func ServeWebhooks(nc *nats.Conn, st *store.Store, auth Authenticator, prefix string, log *slog.Logger, opts ...notify.WebhookOption) (micro.Service, error) {
	if nc == nil || st == nil || auth == nil {
		return nil, errors.New("webhook service: needs a NATS connection, a store and an authenticator")
	}
	return serve(nc, prefix, log, webhookHandlersMax, micro.Config{
		Name: "webhooks", Version: "1.0.0", QueueGroup: WebhookQueueGroup,
		Description: "Kibubu merchant webhooks: endpoints, deliveries, re-sends",
	}, func(svc micro.Service, rs *natsrpc.Responder) error {
		h := &webhookServer{Responder: rs, st: st, auth: auth, opts: opts}
		var err error
		add := func(subj string, f micro.HandlerFunc) {
			if err == nil {
				name := strings.ReplaceAll(strings.TrimPrefix(subj, "notify.webhooks.v1."), ".", "-")
				full := subject(prefix, subj)
				err = svc.AddEndpoint(name, h.Handle(full, f), micro.WithEndpointSubject(full))
			}
		}
		add(SubjectWebhookSet, merchantHandler(h, h.set))
		add(SubjectWebhookGet, merchantHandler(h, h.get))
		add(SubjectWebhookDeliveries, merchantHandler(h, h.deliveries))
		add(SubjectWebhookResend, merchantHandler(h, h.resend))
		return err
	})
}

type webhookServer struct {
	*natsrpc.Responder
	st   *store.Store
	auth Authenticator
	opts []notify.WebhookOption
}

// keyed is a webhook request: it carries the merchant's API key.
type keyed interface{ APIKey() string }

// merchantHandler decodes a request, checks its API key (merchant) and runs
// f for the key's merchant on its own goroutine, bounded, answering with its
// result.
func merchantHandler[T any, Q interface {
	*T
	keyed
}](h *webhookServer, f func(ctx context.Context, merchant string, q Q) (any, error)) micro.HandlerFunc {
	return h.Async(webhookHandlerTimeout, func(ctx context.Context, r micro.Request) (any, error) {
		q := Q(new(T))
		if err := natsrpc.Decode(r.Data(), webhookRequestBytesMax, q); err != nil {
			return nil, err
		}
		m, err := h.merchant(ctx, q.APIKey())
		if err != nil {
			return nil, err
		}
		return f(ctx, m, q)
	})
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
	case !p.Can(merchant.ScopeWebhooks):
		return "", wallet.Errorf(wallet.CodeForbidden, "this API key lacks the %s scope", merchant.ScopeWebhooks)
	}
	return p.Merchant, nil
}

func (h *webhookServer) set(ctx context.Context, m string, q *notify.WebhookSetRequest) (any, error) {
	if err := notify.ValidateWebhookURL(q.URL, h.opts...); err != nil {
		return nil, err
	}
	return h.st.SetWebhook(ctx, m, q.URL, q.Rotate)
}

func (h *webhookServer) get(ctx context.Context, m string, _ *notify.WebhookRequest) (any, error) {
	return h.st.Webhook(ctx, m)
}

func (h *webhookServer) deliveries(ctx context.Context, m string, q *notify.DeliveriesRequest) (any, error) {
	return deliveries(ctx, h.st, store.DeliveryFilter{Merchant: m, Status: q.Status, Before: q.Cursor, Limit: q.Limit})
}

// deliveries lists the deliveries f selects (a merchant's), f's status,
// cursor and limit checked first: the merchant's own listing and an
// operator's.
func deliveries(ctx context.Context, st *store.Store, f store.DeliveryFilter) (*notify.DeliveriesReply, error) {
	switch f.Status {
	case "", notify.DeliveryPending, notify.DeliveryDelivered, notify.DeliveryFailed:
	default:
		return nil, wallet.Errorf(wallet.CodeInvalid, "status must be pending, delivered or failed")
	}
	if f.Before != "" && !notify.ValidDeliveryID(f.Before) {
		return nil, wallet.Errorf(wallet.CodeInvalid, "malformed cursor")
	}
	if f.Limit < 0 || f.Limit > notify.DeliveriesMax {
		return nil, wallet.Errorf(wallet.CodeInvalid, "limit must be 1 to %d", notify.DeliveriesMax)
	}
	ds, next, err := st.Deliveries(ctx, f)
	if err != nil {
		return nil, err
	}
	return &notify.DeliveriesReply{Deliveries: ds, Next: next}, nil
}

func (h *webhookServer) resend(ctx context.Context, m string, q *notify.WebhookRequest) (any, error) {
	if !notify.ValidDeliveryID(q.ID) {
		return nil, wallet.Errorf(wallet.CodeNotFound, "no webhook delivery %.40s", q.ID)
	}
	return h.st.Resend(ctx, m, q.ID)
}
