// Package gateway is Kibubu's HTTP edge: the echo server every HTTP route
// is mounted on, its middleware, the health and metrics endpoints, and one
// adapter per USSD aggregator (Africa's Talking, Hubtel, Nalo). Later it
// holds the Twilio/Africa's Talking SMS webhooks, the merchant and operator
// REST API and web pages.
//
// Each USSD adapter (africastalking.go, hubtel.go, nalo.go) only translates
// its aggregator's protocol to a sessions.Hop or sessions.End and the Screen
// back, after the request passes that aggregator's USSDAuth (a shared secret
// and an IP allow-list); menus and session state belong to sessions, behind
// the small USSD interface this package declares.
//
// It translates HTTP to calls on the wallet and sessions and back, and owns
// nothing else: it must hold no money logic and no session logic, and
// nothing imports it. It never logs a request body, a query string or a
// PIN: USSD callbacks carry what the user typed, PINs included, in the body
// (and, with some aggregators, in the query string).
package gateway
