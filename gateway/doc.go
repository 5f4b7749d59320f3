// Package gateway is Kibubu's HTTP edge: the echo server every HTTP route
// is mounted on, its middleware, and the health endpoints. Later it holds
// one adapter per USSD aggregator (Africa's Talking, Hubtel, …), the
// Twilio/Africa's Talking SMS webhooks, the merchant and operator REST API,
// metrics and web pages.
//
// It translates HTTP to calls on the wallet and sessions and back, and owns
// nothing else: it must hold no money logic and no session logic, and
// nothing imports it. It never logs a request body, a query string or a
// PIN: USSD callbacks carry what the user typed, PINs included, in the body
// (and, with some aggregators, in the query string).
package gateway
