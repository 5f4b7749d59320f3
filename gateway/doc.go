// Package gateway is Kibubu's HTTP edge: the echo server every HTTP route
// is mounted on, its middleware, the health and metrics endpoints, and one
// adapter per USSD aggregator (Africa's Talking, Hubtel, Nalo), and the SMS
// webhooks of Twilio and Africa's Talking, and the merchant and operator
// REST API under /v1. Later it holds web pages.
//
// Each USSD adapter (africastalking.go, hubtel.go, nalo.go) only translates
// its aggregator's protocol to a sessions.Hop or sessions.End and the Screen
// back, after the request passes that aggregator's USSDAuth (a shared secret
// and an IP allow-list); menus and session state belong to sessions, behind
// the small USSD interface this package declares.
//
// The SMS webhooks (sms.go, sms_twilio.go, sms_africastalking.go) translate
// Twilio's and Africa's Talking's inbound SMS to sessions.SMS and Twilio's
// status callbacks to notify.Report, behind the small SMSEngine and SMSOut
// interfaces. A provider is mounted only when its credential is
// configured. Twilio's requests are checked against X-Twilio-Signature
// computed over the configured public URL (behind a TLS-terminating proxy
// it differs from the listen address), Africa's Talking's against a shared
// secret; a forged request touches nothing. Twilio gets its reply as TwiML;
// Africa's Talking's webhook cannot carry one, so it goes to the notifier
// (SMSOut.Send) keyed by the message id.
//
// The merchant REST API (merchant*.go, described by the OpenAPI document it
// serves at /v1/openapi.json, made in openapi.go from the route table and
// the request and answer types) translates HTTP to the wallet's merchant
// subjects and the notifier's webhook subjects, behind the small
// MerchantAPI and Webhooks interfaces. Amounts are decimal strings in major
// units ("150.00"; a tab's cap and charges up to 6 decimals, "0.0025");
// errors have one JSON shape, {"error": {"code", "message", "request_id"}},
// their codes the wallet's, mapped to HTTP statuses in one table
// (merchant_errors.go). Every request but the document's carries an API
// key (Authorization: Bearer), checked by the wallet and cached here for at
// most 30 s under its SHA-256; the key still goes with every call, and the
// wallet and the notifier check it again. Each route bounds its body
// (BodyLimit: 16 KB of JSON, a bulk payout file up to 2 MB).
//
// Every route that moves money requires an Idempotency-Key header
// (merchant_idempotency.go). Its record lives in the JetStream key-value
// bucket MERCHANT_IDEMPOTENCY[_<prefix>] (history 1, kept 24 h through the
// bucket's age limit, which nats-server 2.9 has) under the merchant and the
// key's hash: the first request creates it in flight; a duplicate in
// flight is 409 in_flight, one with another method, path or body 422
// conflict; a final answer (2xx, 4xx but 409 and 429) is stored and
// replayed byte for byte with Idempotent-Replayed: true; a 5xx or a timeout
// deletes the record so the client may retry; a record in flight for over
// 60 s (its gateway died) is taken over. The key also goes to the wallet,
// which keeps its own record: money never moves twice, even without the
// bucket.
//
// It translates HTTP to calls on the wallet and sessions and back, and owns
// nothing else: it must hold no money logic and no session logic, and
// nothing imports it. It never logs a request body, a query string, an API
// key or a PIN: USSD callbacks carry what the user typed, PINs included, in the body
// (and, with some aggregators, in the query string).
package gateway
