package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/notify"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// The merchant REST API (merchant*.go, openapi.go), under /v1.
//
// It translates HTTP to the wallet's merchant subjects (each handler calls
// its endpoint's declaration in wallet/merchant/merchantapi through
// MerchantAPI, the natsapi.Client) and the notifier's webhook subjects (Webhooks, the
// notifyapi.WebhookClient), and back: decimal amounts in major units to the
// wallet's minor units and Micro, the wallet's objects to the API's JSON
// (their views in wallet/merchant, which the webhooks' data is too), and
// wallet.Codes to HTTP statuses (merchant_errors.go). It holds no money
// logic: the wallet checks every request again, the API key included.
//
// Every route but /v1/openapi.json takes an API key (merchant_auth.go);
// every route that moves money takes an Idempotency-Key, replayed from a
// JetStream key-value bucket (merchant_idempotency.go) and passed on to the
// wallet. Request bodies are bounded per route (BodyLimit), decoded
// strictly (merchant_decode.go), and never logged, nor are API keys.

// MerchantAPI is the wallet as the merchant API calls it: each handler
// calls its endpoint's declaration (merchantapi) through it, so that a new
// endpoint needs no method here. *natsapi.Client implements it. Errors are
// *wallet.Error.
type MerchantAPI interface {
	natsrpc.Caller
	// MaxPayload is the most bytes the connection carries in one message.
	MaxPayload() int64
}

var _ MerchantAPI = (*natsapi.Client)(nil)

// Webhooks is the notifier's webhook service; *notifyapi.WebhookClient
// implements it. Errors are *wallet.Error, as MerchantAPI's.
type Webhooks interface {
	SetWebhook(ctx context.Context, req notify.WebhookSetRequest) (*notify.Endpoint, error)
	Webhook(ctx context.Context, auth string) (*notify.Endpoint, error)
	Deliveries(ctx context.Context, req notify.DeliveriesRequest) (*notify.DeliveriesReply, error)
	Resend(ctx context.Context, auth, id string) (*notify.Delivery, error)
}

var _ Webhooks = (*notifyapi.WebhookClient)(nil)

const (
	// merchantPrefix is the merchant API's path prefix; errors under it
	// have the API's JSON shape (merchant_errors.go).
	merchantPrefix = "/v1"
	// jsonBodyBytesMax bounds a merchant API JSON body: the largest, a
	// charge with its splits, is under 2 KB.
	jsonBodyBytesMax = 16 << 10
	// csvBytesMax bounds a bulk payout file, as the wallet does; less when
	// NATS's max_payload cannot carry so much (csvLimit).
	csvBytesMax = merchant.BulkBytesMax
	// natsRequestOverheadBytes is what a bulk payout request adds to its
	// file, base64-encoded in JSON: the API key and the idempotency key.
	natsRequestOverheadBytes = 4 << 10
	// multipartOverheadBytesMax is what a multipart upload of the file
	// may add around it (boundaries, part headers).
	multipartOverheadBytesMax = 16 << 10
	// merchantCallTimeout bounds a request's calls to the wallet and the
	// notifier, inside the server's writeTimeout.
	merchantCallTimeout = 10 * time.Second
	// pageLimitDefault and pageLimitMax bound a list page.
	pageLimitDefault = 20
	pageLimitMax     = 100
)

// MerchantConfig configures the merchant API.
type MerchantConfig struct {
	// Currency is the wallet's currency: how amounts are read and written.
	Currency wallet.Currency
	// Location is the time zone of a date (2006-01-02) in a list's from and
	// to; UTC when nil.
	Location *time.Location
	// JS is the JetStream the idempotency bucket lives in, on the NATS
	// connection api uses: its max_payload bounds a bulk payout file, which
	// travels base64-encoded in one request (csvLimit).
	JS jetstream.JetStream
	// Prefix is the deployment's NATS prefix ("" for none), as
	// natsapi.WithPrefix takes it: the bucket is MERCHANT_IDEMPOTENCY_<prefix>.
	Prefix string
	// Replicas is the bucket's replica count; 1 when 0.
	Replicas int
	// Bucket, when set, is the idempotency bucket already bound
	// (OpenIdempotencyBucket), as a gateway has it: it may not create one.
	// When nil, MountMerchantAPI creates it in JS (tests, tools).
	Bucket jetstream.KeyValue
}

// merchantServer serves the merchant API.
type merchantServer struct {
	api   MerchantAPI
	hooks Webhooks
	cur   wallet.Currency
	loc   *time.Location
	log   *slog.Logger
	auth  *authCache
	idem  *idempotency
	doc   []byte // the OpenAPI document
	// csvMax bounds a bulk payout file (csvLimit).
	csvMax int64
	// chargesMax bounds a batch of charges' body (chargesLimit).
	chargesMax int64
}

// csvLimit is the largest bulk payout file that fits a NATS message of
// payloadMax bytes (the file travels base64-encoded in one request), at
// most csvBytesMax.
func csvLimit(payloadMax int64) int64 {
	fits := (payloadMax - natsRequestOverheadBytes) / 4 * 3
	return max(min(fits, csvBytesMax), 0)
}

// MountMerchantAPI mounts the merchant and operator REST API under /v1 on
// e (the routes are listed in (*merchant).routes and described at
// GET /v1/openapi.json), and makes errors under /v1 take the API's JSON
// shape. It uses cfg.Bucket, or creates the idempotency bucket
// (IdempotencyBucket) in cfg.JS, and returns an error when it cannot, or
// when cfg is incomplete.
func MountMerchantAPI(e *echo.Echo, api MerchantAPI, hooks Webhooks, cfg MerchantConfig, log *slog.Logger) error {
	if api == nil || hooks == nil || log == nil || cfg.JS == nil {
		return errors.New("merchant api: needs the wallet, the webhook service, a logger and JetStream")
	}
	if cfg.Currency.Code == "" {
		return errors.New("merchant api: needs the currency")
	}
	if _, err := wallet.LookupCurrency(cfg.Currency.Code); err != nil {
		return fmt.Errorf("merchant api: %w", err)
	}
	if !natsrpc.ValidPrefix(cfg.Prefix) {
		return fmt.Errorf("merchant api: invalid NATS prefix %q", cfg.Prefix)
	}
	loc := cfg.Location
	if loc == nil {
		loc = time.UTC
	}
	kv := cfg.Bucket
	if kv == nil {
		ctx, cancel := context.WithTimeout(context.Background(), idempotencyKVTimeout)
		defer cancel()
		var err error
		if kv, err = EnsureIdempotencyBucket(ctx, cfg.JS, cfg.Prefix, cfg.Replicas); err != nil {
			return err
		}
	}
	m := &merchantServer{
		api: api, hooks: hooks, cur: cfg.Currency, loc: loc, log: log,
		auth: newAuthCache(time.Now), idem: &idempotency{kv: kv, now: time.Now, log: log},
		csvMax: csvBytesMax, chargesMax: batchBodyBytesMax,
	}
	if nc := cfg.JS.Conn(); nc != nil && nc.MaxPayload() > 0 {
		m.csvMax = csvLimit(nc.MaxPayload())
		m.chargesMax = chargesLimit(nc.MaxPayload())
	}
	routes := m.routes()
	var err error
	if m.doc, err = openAPIDocument(routes, m.cur); err != nil {
		return err
	}
	shapeErrors(e)
	g := e.Group(merchantPrefix)
	for _, r := range routes {
		g.Add(r.method, r.path, r.handle, m.middleware(r)...)
	}
	return nil
}

// shapeErrors makes e answer errors under /v1 in the API's shape, and
// others as before.
func shapeErrors(e *echo.Echo) {
	prev := e.HTTPErrorHandler
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		if !underMerchantAPI(c.Request().URL.Path) {
			prev(err, c)
			return
		}
		if !c.Response().Committed {
			writeAPIError(c, err)
		}
	}
}

// underMerchantAPI reports whether path is the merchant API's.
func underMerchantAPI(path string) bool {
	return path == merchantPrefix || strings.HasPrefix(path, merchantPrefix+"/")
}

// route is one route of the API: how it is served, and how it is
// documented (openapi.go).
type route struct {
	method string
	path   string // under /v1, echo's syntax (":id")
	// scope is what a merchant key needs; operator routes need an operator key.
	scope    merchant.Scope
	operator bool
	public   bool // no API key (the OpenAPI document)
	// money routes take an Idempotency-Key (merchant_idempotency.go).
	money bool
	// prompts routes make a prompt to a customer (a payment request, a
	// tab): they are rate-limited (429 rate_limited).
	prompts bool
	body    bodyKind
	// status is the success status; request the body's type (nil for
	// none); response the success body's type; query the query parameters.
	status   int
	request  any
	response any
	query    []queryParam
	summary  string
	doc      string
	handle   echo.HandlerFunc
}

// bodyKind is what a route's request body is.
type bodyKind int

const (
	bodyNone         bodyKind = iota
	bodyJSON                  // a JSON object (jsonBodyBytesMax)
	bodyOptionalJSON          // a JSON object, or nothing
	bodyCSV                   // a CSV file, raw or in a multipart form (csvBytesMax)
	bodyBatchJSON             // a batch of charges: a JSON object (chargesLimit)
)

// bodyLimit is the most a request of kind may carry.
func (m *merchantServer) bodyLimit(k bodyKind) int64 {
	if k == bodyCSV {
		return m.csvMax + multipartOverheadBytesMax
	}
	if k == bodyBatchJSON {
		return m.chargesMax
	}
	return jsonBodyBytesMax
}

// queryParam documents a query parameter.
type queryParam struct {
	name, doc, format string
	enum              []string
}

// middleware returns r's middleware, outermost first: the body limit, a
// JSON body's Content-Type, the API key and its scope, the query
// parameters, the Idempotency-Key.
func (m *merchantServer) middleware(r route) []echo.MiddlewareFunc {
	mw := []echo.MiddlewareFunc{BodyLimit(m.bodyLimit(r.body))}
	if r.body == bodyJSON || r.body == bodyOptionalJSON || r.body == bodyBatchJSON {
		mw = append(mw, requireJSON)
	}
	if !r.public {
		mw = append(mw, m.authenticate(r))
	}
	mw = append(mw, knownQuery(r))
	if r.money {
		mw = append(mw, m.idempotent(r.body, m.csvMax))
	}
	return mw
}

// knownQuery refuses a query parameter r does not take, and a repeated one.
func knownQuery(r route) echo.MiddlewareFunc {
	names := make([]string, len(r.query))
	for i, q := range r.query {
		names[i] = q.name
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if _, err := readQuery(c.Request().URL.RawQuery, names...); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// routes lists the API.
func (m *merchantServer) routes() []route {
	pageQuery := []queryParam{
		{name: "cursor", doc: "the previous page's next"},
		{name: "limit", doc: fmt.Sprintf("the page size, 1 to %d (default %d)", pageLimitMax, pageLimitDefault), format: "integer"},
	}
	return []route{
		{method: http.MethodGet, path: "/openapi.json", public: true, status: http.StatusOK, response: map[string]any{},
			summary: "This document", handle: m.openAPI},

		{method: http.MethodPost, path: "/payment-requests", scope: merchant.ScopePayments, money: true, prompts: true, body: bodyJSON,
			status: http.StatusCreated, request: paymentRequestBody{}, response: merchant.PaymentRequestView{},
			summary: "Ask a customer to pay",
			doc: "Creates a pending payment request: the customer is prompted by SMS and under USSD 6 Approvals, and " +
				"approves with the PIN or declines; it expires if nobody answers. No money is held while it is pending.",
			handle: m.createPaymentRequest},
		{method: http.MethodGet, path: "/payment-requests", scope: merchant.ScopePayments,
			status: http.StatusOK, response: paymentRequestsPage{}, query: pageQuery,
			summary: "The merchant's payment requests, newest first",
			doc:     "A page at a time: pass next back as cursor (the Link header holds the next page's URL) until next is absent.",
			handle:  m.listPaymentRequests},
		{method: http.MethodGet, path: "/payment-requests/:id", scope: merchant.ScopePayments,
			status: http.StatusOK, response: merchant.PaymentRequestView{}, summary: "A payment request and its status", handle: m.getPaymentRequest},

		{method: http.MethodGet, path: "/transactions", scope: merchant.ScopeTransactions,
			status: http.StatusOK, response: transactionsPage{}, summary: "The merchant's transactions, newest first",
			doc: "A page at a time: pass next back as cursor (the Link header holds the next page's URL) until next is absent.",
			query: append([]queryParam{
				{name: "from", doc: "created at or after: RFC 3339, or a date (its first instant)", format: "date-time"},
				{name: "to", doc: "created before: RFC 3339, or a date (the day is included)", format: "date-time"},
			}, pageQuery...),
			handle: m.listTransactions},
		{method: http.MethodGet, path: "/transactions/:id", scope: merchant.ScopeTransactions,
			status: http.StatusOK, response: merchant.TransactionView{}, summary: "A transaction", handle: m.getTransaction},
		{method: http.MethodPost, path: "/transactions/:id/refund", scope: merchant.ScopeRefunds, money: true, body: bodyOptionalJSON,
			status: http.StatusCreated, request: refundBody{}, response: merchant.TransactionView{},
			summary: "Refund a payment, in full or in part",
			doc:     "Without an amount, refunds what is left of the payment. Refunds never add up to more than was paid.",
			handle:  m.refund},

		{method: http.MethodPost, path: "/payouts", scope: merchant.ScopePayouts, money: true, body: bodyJSON,
			status: http.StatusCreated, request: payoutBody{}, response: merchant.PayoutView{},
			summary: "Pay a customer from the merchant's balance", handle: m.createPayout},
		{method: http.MethodGet, path: "/payouts/:id", scope: merchant.ScopePayouts,
			status: http.StatusOK, response: merchant.PayoutView{}, summary: "A payout", handle: m.getPayout},
		{method: http.MethodPost, path: "/payouts/bulk", scope: merchant.ScopePayouts, money: true, body: bodyCSV,
			status: http.StatusAccepted, request: csvUpload{}, response: merchant.BulkPayoutView{},
			summary: "Pay every row of a CSV file, in the background",
			doc: fmt.Sprintf("The body is the file (Content-Type text/csv) or a multipart/form-data upload with the file "+
				"in the field \"file\", at most %d bytes (less where NATS's max_payload is smaller) and %d rows: "+
				"a header row naming the columns phone, amount and optionally reference (any order, any case; other "+
				"columns are ignored), then one row per payout, the amount in major units (\"150.00\"). A malformed "+
				"file is refused whole (400); a row with a bad phone or amount, or that the wallet refuses, fails "+
				"alone. Progress and per-row results: GET /v1/payouts/bulk/{id}. Re-uploading the file with the "+
				"same Idempotency-Key pays nothing twice.", csvBytesMax, merchant.BulkRowsMax),
			handle: m.createBulk},
		{method: http.MethodGet, path: "/payouts/bulk/:id", scope: merchant.ScopePayouts,
			status: http.StatusOK, response: merchant.BulkPayoutView{}, summary: "A bulk payout's progress and per-row results", handle: m.getBulk},

		{method: http.MethodPost, path: "/tabs", scope: merchant.ScopeTabs, money: true, prompts: true, body: bodyJSON,
			status: http.StatusCreated, request: tabOpenBody{}, response: merchant.TabView{},
			summary: "Open a tab for a customer, pending the customer's approval",
			doc: "Charges as small as a millionth of the major unit accrue on an active tab without touching the ledger, " +
				"up to the cap, and settle as whole minor units (the remainder carried) when enough has accrued, at close, " +
				"at expiry or daily. A prepaid tab is loaded with the cap when approved.",
			handle: m.openTab},
		{method: http.MethodGet, path: "/tabs", scope: merchant.ScopeTabs,
			status: http.StatusOK, response: tabsPage{}, query: pageQuery,
			summary: "The merchant's open tabs, newest first",
			doc: "The tabs pending the customer's approval, active, or suspended (closed and declined ones are not listed), " +
				"a page at a time: pass next back as cursor (the Link header holds the next page's URL) until next is absent.",
			handle: m.listTabs},
		{method: http.MethodGet, path: "/tabs/:id", scope: merchant.ScopeTabs,
			status: http.StatusOK, response: merchant.TabView{}, summary: "A tab", handle: m.getTab},
		{method: http.MethodPost, path: "/tabs/:id/charges", scope: merchant.ScopeTabs, money: true, body: bodyJSON,
			status: http.StatusCreated, request: chargeBody{}, response: merchant.ChargeView{},
			summary: "Charge a tab",
			doc: "The amount has up to 6 decimals (\"0.0025\"). Splits divide the charge among merchants by weight, " +
				"applied at settlement by the largest remainder method, so the parts always sum to the whole.",
			handle: m.charge},
		{method: http.MethodGet, path: "/tabs/:id/charges", scope: merchant.ScopeTabs,
			status: http.StatusOK, response: tabChargesPage{}, query: pageQuery,
			summary: "A tab's charges, newest first",
			doc: "For reconciling a tab: each charge as it was answered when made, with its splits, the tab's total and " +
				"what the cap left after it. A page at a time: pass next back as cursor (the Link header holds the next " +
				"page's URL) until next is absent. Pages never skip or repeat a charge, even while the tab is being " +
				"charged: a newer charge is on no later page. A closed tab still lists its charges.",
			handle: m.listTabCharges},
		{method: http.MethodPost, path: "/tabs/:id/charges/batch", scope: merchant.ScopeTabs, money: true, body: bodyBatchJSON,
			status: http.StatusOK, request: chargesBody{}, response: chargesView{},
			summary: "Charge a tab with a batch of charges",
			doc: fmt.Sprintf("1 to %d charges in one request, applied in order in one commit: a pay-per-click merchant's "+
				"clicks without a round trip each. Each charge has its own key, which is its idempotency key as a single "+
				"charge's Idempotency-Key is: a key already used on the tab (in this batch, an earlier one or a single "+
				"charge) answers the charge it made, with replayed; the same key with another charge refuses that "+
				"charge (conflict). The charges are independent: one refused does not refuse the others, and once the cap "+
				"is reached the later ones are refused unless they fit what is left. A refused charge is not "+
				"remembered: sent again, it is judged again. A malformed batch (a bad amount, a missing key, more "+
				"than %d charges) is refused whole (400) and nothing is charged. The body is at most %d bytes (less "+
				"where NATS's max_payload is smaller).", merchant.BatchChargesMax, merchant.BatchChargesMax, batchBodyBytesMax),
			handle: m.chargeBatch},
		{method: http.MethodPost, path: "/tabs/:id/close", scope: merchant.ScopeTabs, money: true, body: bodyOptionalJSON,
			status: http.StatusOK, request: emptyBody{}, response: merchant.TabView{}, summary: "Settle and close a tab", handle: m.closeTab},

		{method: http.MethodPut, path: "/webhooks", scope: merchant.ScopeWebhooks, body: bodyJSON,
			status: http.StatusOK, request: webhookBody{}, response: webhookView{},
			summary: "Register the webhook URL",
			doc:     "The answer holds the signing secret when one is made: at the first registration, and with rotate.",
			handle:  m.setWebhook},
		{method: http.MethodGet, path: "/webhooks", scope: merchant.ScopeWebhooks,
			status: http.StatusOK, response: webhookView{}, summary: "The webhook URL (without its secret)", handle: m.getWebhook},
		{method: http.MethodGet, path: "/webhooks/deliveries", scope: merchant.ScopeWebhooks,
			status: http.StatusOK, response: deliveriesPage{}, summary: "Webhook deliveries with their attempts, newest first",
			query: append([]queryParam{{name: "status", doc: "only deliveries in this state",
				enum: []string{string(notify.DeliveryPending), string(notify.DeliveryDelivered), string(notify.DeliveryFailed)}}}, pageQuery...),
			handle: m.listDeliveries},
		{method: http.MethodPost, path: "/webhooks/deliveries/:id/resend", scope: merchant.ScopeWebhooks,
			status: http.StatusAccepted, response: deliveryView{}, summary: "Send a delivery again now", handle: m.resend},

		{method: http.MethodPost, path: "/operator/apikeys", operator: true, body: bodyJSON,
			status: http.StatusCreated, request: apiKeyBody{}, response: apiKeyView{},
			summary: "Create a merchant API key (operator)", doc: "The answer holds the key's secret, shown once.",
			handle: m.createAPIKey},
		{method: http.MethodGet, path: "/operator/apikeys", operator: true,
			status: http.StatusOK, response: apiKeysView{}, summary: "List API keys (operator)",
			query:  []queryParam{{name: "merchant", doc: "only this merchant's keys"}},
			handle: m.listAPIKeys},
		{method: http.MethodDelete, path: "/operator/apikeys/:id", operator: true,
			status: http.StatusOK, response: apiKeyView{}, summary: "Revoke an API key (operator)", handle: m.revokeAPIKey},
	}
}

// call returns the context for a request's calls to the wallet and the
// notifier.
func call(c echo.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request().Context(), merchantCallTimeout)
}

func (m *merchantServer) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, m.doc)
}

func (m *merchantServer) createPaymentRequest(c echo.Context) error {
	var in paymentRequestBody
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	amount, err := in.validate(m.cur)
	if err != nil {
		return err
	}
	ctx, cancel := call(c)
	defer cancel()
	pr, err := merchantapi.RequestCreate.Call(ctx, m.api, merchantapi.PaymentRequestCreate{
		Auth: apiKeyOf(c), Idempotency: idempotencyKeyOf(c), Phone: in.Phone, Amount: amount,
		Reference: in.Reference, Description: in.Description,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, merchant.ViewPaymentRequest(m.cur, pr))
}

func (m *merchantServer) getPaymentRequest(c echo.Context) error {
	return byID(c, http.StatusOK, byIDOn(m.api, merchantapi.RequestGet), func(pr *merchant.PaymentRequest) any { return merchant.ViewPaymentRequest(m.cur, pr) })
}

func (m *merchantServer) getTransaction(c echo.Context) error {
	return byID(c, http.StatusOK, byIDOn(m.api, merchantapi.TxGet), func(tx *merchant.Transaction) any { return merchant.ViewTransaction(m.cur, tx) })
}

// paymentRequestsPage is a page of payment requests.
type paymentRequestsPage struct {
	Requests []merchant.PaymentRequestView `json:"payment_requests"`
	Next     string                        `json:"next,omitempty" doc:"the next page's cursor; absent on the last page"`
}

func (m *merchantServer) listPaymentRequests(c echo.Context) error {
	q, err := readQuery(c.Request().URL.RawQuery, "cursor", "limit")
	if err != nil {
		return err
	}
	return listed(c, q, func(ctx context.Context, cursor string, limit int) (any, string, error) {
		page, err := merchantapi.RequestList.Call(ctx, m.api, merchantapi.PaymentRequestsRequest{Auth: apiKeyOf(c), Cursor: cursor, Limit: limit})
		if err != nil {
			return nil, "", err
		}
		return paymentRequestsPage{Requests: views(page.Requests, func(pr *merchant.PaymentRequest) merchant.PaymentRequestView {
			return merchant.ViewPaymentRequest(m.cur, pr)
		}), Next: page.Next}, page.Next, nil
	})
}

func (m *merchantServer) listTransactions(c echo.Context) error {
	q, err := readQuery(c.Request().URL.RawQuery, "from", "to", "cursor", "limit")
	if err != nil {
		return err
	}
	from, err := parseQueryTime("from", q.Get("from"), false, m.loc)
	if err != nil {
		return err
	}
	to, err := parseQueryTime("to", q.Get("to"), true, m.loc)
	if err != nil {
		return err
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return wallet.Errorf(wallet.CodeInvalid, "from must be before to")
	}
	return listed(c, q, func(ctx context.Context, cursor string, limit int) (any, string, error) {
		page, err := merchantapi.TxList.Call(ctx, m.api, merchantapi.TransactionsRequest{Auth: apiKeyOf(c), From: from, To: to, Cursor: cursor, Limit: limit})
		if err != nil {
			return nil, "", err
		}
		return transactionsPage{Transactions: views(page.Transactions, func(t *merchant.Transaction) merchant.TransactionView {
			return merchant.ViewTransaction(m.cur, t)
		}), Next: page.Next}, page.Next, nil
	})
}

func (m *merchantServer) refund(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in refundBody
	if err := decodeOptionalBody(c, &in); err != nil {
		return err
	}
	var amount int64
	if in.Amount != "" {
		if amount, err = parseAmount(m.cur, "amount", in.Amount); err != nil {
			return err
		}
	}
	ctx, cancel := call(c)
	defer cancel()
	tx, err := merchantapi.Refund.Call(ctx, m.api, merchantapi.RefundRequest{Auth: apiKeyOf(c), Idempotency: idempotencyKeyOf(c), ID: id, Amount: amount})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, merchant.ViewTransaction(m.cur, tx))
}

func (m *merchantServer) createPayout(c echo.Context) error {
	var in payoutBody
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	amount, err := in.validate(m.cur)
	if err != nil {
		return err
	}
	ctx, cancel := call(c)
	defer cancel()
	po, err := merchantapi.PayoutCreate.Call(ctx, m.api, merchantapi.PayoutRequest{
		Auth: apiKeyOf(c), Idempotency: idempotencyKeyOf(c), Phone: in.Phone, Amount: amount, Reference: in.Reference,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, merchant.ViewPayout(m.cur, po))
}

func (m *merchantServer) getPayout(c echo.Context) error {
	return byID(c, http.StatusOK, byIDOn(m.api, merchantapi.PayoutGet), func(po *merchant.Payout) any { return merchant.ViewPayout(m.cur, po) })
}

func (m *merchantServer) createBulk(c echo.Context) error {
	file, err := readBody(c, bodyCSV, m.csvMax)
	if err != nil {
		return err
	}
	if err := checkBulkCSV(file); err != nil {
		return err
	}
	ctx, cancel := call(c)
	defer cancel()
	b, err := merchantapi.BulkCreate.Call(ctx, m.api, merchantapi.BulkPayoutRequest{Auth: apiKeyOf(c), Idempotency: idempotencyKeyOf(c), CSV: file})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, merchant.ViewBulkPayout(m.cur, b))
}

func (m *merchantServer) getBulk(c echo.Context) error {
	return byID(c, http.StatusOK, byIDOn(m.api, merchantapi.BulkGet), func(b *merchant.BulkPayout) any { return merchant.ViewBulkPayout(m.cur, b) })
}

func (m *merchantServer) openTab(c echo.Context) error {
	var in tabOpenBody
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	req, err := in.request(m.cur)
	if err != nil {
		return err
	}
	req.Auth, req.Idempotency = apiKeyOf(c), idempotencyKeyOf(c)
	ctx, cancel := call(c)
	defer cancel()
	t, err := merchantapi.TabOpen.Call(ctx, m.api, req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, merchant.ViewTab(m.cur, t))
}

// tabsPage is a page of tabs.
type tabsPage struct {
	Tabs []merchant.TabView `json:"tabs"`
	Next string             `json:"next,omitempty" doc:"the next page's cursor; absent on the last page"`
}

func (m *merchantServer) listTabs(c echo.Context) error {
	q, err := readQuery(c.Request().URL.RawQuery, "cursor", "limit")
	if err != nil {
		return err
	}
	return listed(c, q, func(ctx context.Context, cursor string, limit int) (any, string, error) {
		page, err := merchantapi.TabList.Call(ctx, m.api, merchantapi.TabsRequest{Auth: apiKeyOf(c), Cursor: cursor, Limit: limit})
		if err != nil {
			return nil, "", err
		}
		return tabsPage{Tabs: views(page.Tabs, func(t *merchant.Tab) merchant.TabView { return merchant.ViewTab(m.cur, t) }), Next: page.Next}, page.Next, nil
	})
}

func (m *merchantServer) getTab(c echo.Context) error {
	return byID(c, http.StatusOK, byIDOn(m.api, merchantapi.TabGet), func(t *merchant.Tab) any { return merchant.ViewTab(m.cur, t) })
}

func (m *merchantServer) charge(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var in chargeBody
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	req, err := in.request(m.cur)
	if err != nil {
		return err
	}
	req.Tab, req.Key = id, idempotencyKeyOf(c)
	ctx, cancel := call(c)
	defer cancel()
	ch, err := merchantapi.TabCharge.Call(ctx, m.api, merchantapi.TabChargeRequest{Auth: apiKeyOf(c), Charge: req})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, merchant.ViewCharge(m.cur, ch))
}

func (m *merchantServer) listTabCharges(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	q, err := readQuery(c.Request().URL.RawQuery, "cursor", "limit")
	if err != nil {
		return err
	}
	return listed(c, q, func(ctx context.Context, cursor string, limit int) (any, string, error) {
		page, err := merchantapi.TabChargesList.Call(ctx, m.api, merchantapi.TabChargesListRequest{Auth: apiKeyOf(c), Tab: id, Cursor: cursor, Limit: limit})
		if err != nil {
			return nil, "", err
		}
		return tabChargesPage{Charges: views(page.Charges, func(ch *merchant.Charge) merchant.ChargeView {
			return merchant.ViewCharge(m.cur, ch)
		}), Next: page.Next}, page.Next, nil
	})
}

func (m *merchantServer) closeTab(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := decodeOptionalBody(c, &emptyBody{}); err != nil {
		return err
	}
	ctx, cancel := call(c)
	defer cancel()
	t, err := merchantapi.TabClose.Call(ctx, m.api, merchantapi.ObjectRequest{Auth: apiKeyOf(c), ID: id, Idempotency: idempotencyKeyOf(c)})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, merchant.ViewTab(m.cur, t))
}

func (m *merchantServer) setWebhook(c echo.Context) error {
	var in webhookBody
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	if err := in.validate(); err != nil {
		return err
	}
	ctx, cancel := call(c)
	defer cancel()
	ep, err := m.hooks.SetWebhook(ctx, notify.WebhookSetRequest{Auth: apiKeyOf(c), URL: in.URL, Rotate: in.Rotate})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, webhookViewOf(ep))
}

func (m *merchantServer) getWebhook(c echo.Context) error {
	ctx, cancel := call(c)
	defer cancel()
	ep, err := m.hooks.Webhook(ctx, apiKeyOf(c))
	if err != nil {
		return err
	}
	ep.Secret = "" // never shown again, whatever the notifier says
	return c.JSON(http.StatusOK, webhookViewOf(ep))
}

func (m *merchantServer) listDeliveries(c echo.Context) error {
	q, err := readQuery(c.Request().URL.RawQuery, "status", "cursor", "limit")
	if err != nil {
		return err
	}
	status := notify.DeliveryStatus(q.Get("status"))
	switch status {
	case "", notify.DeliveryPending, notify.DeliveryDelivered, notify.DeliveryFailed:
	default:
		return wallet.Errorf(wallet.CodeInvalid, "status must be %s, %s or %s", notify.DeliveryPending, notify.DeliveryDelivered, notify.DeliveryFailed)
	}
	cursor, limit, err := pageQuery(q)
	if err != nil {
		return err
	}
	ctx, cancel := call(c)
	defer cancel()
	page, err := m.hooks.Deliveries(ctx, notify.DeliveriesRequest{Auth: apiKeyOf(c), Status: status, Cursor: cursor, Limit: limit})
	if err != nil {
		return err
	}
	out := deliveriesPage{Deliveries: views(page.Deliveries, deliveryViewOf), Next: page.Next}
	setNextLink(c, q, page.Next)
	return c.JSON(http.StatusOK, out)
}

func (m *merchantServer) resend(c echo.Context) error {
	return byID(c, http.StatusAccepted, m.hooks.Resend, func(d *notify.Delivery) any { return deliveryViewOf(d) })
}

func (m *merchantServer) createAPIKey(c echo.Context) error {
	var in apiKeyBody
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	if err := in.validate(); err != nil {
		return err
	}
	ctx, cancel := call(c)
	defer cancel()
	k, err := merchantapi.OpKeyCreate.Call(withReason(ctx, c), m.api, merchantapi.OperatorKeyRequest{Auth: apiKeyOf(c), APIKeyRequest: merchantapi.APIKeyRequest{Merchant: in.Merchant, Scopes: in.Scopes, Expires: in.Expires}})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, apiKeyViewOf(k))
}

func (m *merchantServer) listAPIKeys(c echo.Context) error {
	q, err := readQuery(c.Request().URL.RawQuery, "merchant")
	if err != nil {
		return err
	}
	owner := q.Get("merchant")
	if err := checkToken("merchant", owner, merchantBytesMax, false); err != nil {
		return err
	}
	ctx, cancel := call(c)
	defer cancel()
	keys, err := merchantapi.OpKeyList.Call(ctx, m.api, merchantapi.OperatorKeyRequest{Auth: apiKeyOf(c), APIKeyRequest: merchantapi.APIKeyRequest{Merchant: owner}})
	if err != nil {
		return err
	}
	out := apiKeysView{Keys: views(keys.Keys, apiKeyViewOf)}
	return c.JSON(http.StatusOK, out)
}

func (m *merchantServer) revokeAPIKey(c echo.Context) error {
	revoke := func(ctx context.Context, auth, id string) (*merchant.APIKey, error) {
		return merchantapi.OpKeyRevoke.Call(withReason(ctx, c), m.api, merchantapi.OperatorKeyRequest{Auth: auth, APIKeyRequest: merchantapi.APIKeyRequest{ID: id}})
	}
	return byID(c, http.StatusOK, revoke, func(k *merchant.APIKey) any { return apiKeyViewOf(k) })
}

// withReason passes the operator's reason (the request's Kibubu-Reason
// header) to the wallet, which keeps it in the audit log beside the
// operator key that is the actor.
func withReason(ctx context.Context, c echo.Context) context.Context {
	reason := c.Request().Header.Get(natsapi.HeaderReason)
	if reason == "" {
		return ctx
	}
	return natsapi.WithOperator(ctx, natsapi.Operator{Actor: apiKeyIDOf(c), Reason: reason})
}

// apiKeyIDOf is the id of the request's API key (set by authenticate).
func apiKeyIDOf(c echo.Context) string {
	if p := principalOf(c); p != nil {
		return p.KeyID
	}
	return "apikey"
}

// views returns the view of each of xs, in order; never nil, so that an
// empty list is [] in JSON.
func views[T, V any](xs []T, view func(*T) V) []V {
	out := make([]V, len(xs))
	for i := range xs {
		out[i] = view(&xs[i])
	}
	return out
}

// byID answers a request about one object named by the path's id: get
// fetches it (or acts on it) with the request's API key, and the answer is
// view of what it returns.
func byID[T any](c echo.Context, status int, get func(ctx context.Context, auth, id string) (*T, error), view func(*T) any) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ctx, cancel := call(c)
	defer cancel()
	obj, err := get(ctx, apiKeyOf(c), id)
	if err != nil {
		return err
	}
	return c.JSON(status, view(obj))
}

// byIDOn returns, for byID, the call of e through api for one of the
// merchant's objects.
func byIDOn[T any](api MerchantAPI, e natsrpc.Endpoint[merchantapi.ObjectRequest, T]) func(ctx context.Context, auth, id string) (*T, error) {
	return func(ctx context.Context, auth, id string) (*T, error) {
		return e.Call(ctx, api, merchantapi.ObjectRequest{Auth: auth, ID: id})
	}
}

// listed answers a list request: the page asked for in q (cursor, limit),
// list called for it within the call's time bound, and its answer, the
// page out and its next cursor, sent with the next page's Link.
func listed(c echo.Context, q url.Values, list func(ctx context.Context, cursor string, limit int) (out any, next string, err error)) error {
	cursor, limit, err := pageQuery(q)
	if err != nil {
		return err
	}
	ctx, cancel := call(c)
	defer cancel()
	out, next, err := list(ctx, cursor, limit)
	if err != nil {
		return err
	}
	setNextLink(c, q, next)
	return c.JSON(http.StatusOK, out)
}

// setNextLink sets the Link header to the next page's URL: the request's
// path with its query, the cursor replaced by next. No header on the last
// page.
func setNextLink(c echo.Context, q url.Values, next string) {
	if next == "" {
		return
	}
	nq := url.Values{}
	for k, v := range q {
		nq[k] = v
	}
	nq.Set("cursor", next)
	if nq.Get("limit") == "" {
		nq.Set("limit", strconv.Itoa(pageLimitDefault))
	}
	c.Response().Header().Set("Link", "<"+c.Request().URL.Path+"?"+nq.Encode()+`>; rel="next"`)
}
