// Package simulator serves the phone in the browser (/simulator): handsets
// with a keypad that dial this server's USSD menus and show the SMS each
// phone received, several side by side for a trainer's demo.
//
// A handset is a server-rendered form (html/template, embedded with its
// stylesheet and a few lines of script); it works without the script, which
// only adds the on-screen keypad and refreshes the SMS inboxes. The USSD hop
// goes through the one aggregator client (gateway/aggregator), speaking
// Africa's Talking's protocol to this server's own adapter, exactly as
// kibubu dial does, so the page sees what a phone sees and nothing more.
// The inbox reads the notifier's outbox through the small Inbox interface;
// a process without the notifier shows it as unavailable.
//
// Each phone's session (its Africa's Talking session id and the inputs of
// the session, which the protocol resends on every hop) is kept in memory
// here, keyed by the phone number, for at most a session's lifetime, and
// never sent to the browser: a PIN typed is shown masked, sent once in the
// hop, and dropped with the session. Nothing the person types is logged.
//
// Every page has a strict Content-Security-Policy (nothing inline, nothing
// from elsewhere), and a POST from another site is refused
// (http.CrossOriginProtection). The page is for development and training:
// the command mounts it only on a loopback listener unless told otherwise
// (--simulator), and no production manifest turns it on.
//
// It must not hold menu or money logic: it only plays the aggregator.
package simulator
