// Package gateway is Kibubu's HTTP edge: the echo server every HTTP route
// is mounted on, its middleware, the health and metrics endpoints, and one
// adapter per USSD aggregator (Africa's Talking, Hubtel, Nalo), and the SMS
// webhooks of Twilio and Africa's Talking. Later it holds the merchant and
// operator REST API and web pages.
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
// It translates HTTP to calls on the wallet and sessions and back, and owns
// nothing else: it must hold no money logic and no session logic, and
// nothing imports it. It never logs a request body, a query string or a
// PIN: USSD callbacks carry what the user typed, PINs included, in the body
// (and, with some aggregators, in the query string).
package gateway
