// Package sessions runs the USSD menus: state machines declared as data, one
// hop at a time, with each session's state in a JetStream key-value bucket so
// that any gateway process can serve the next hop.
//
// It must not touch the database (the wallet is reached over NATS) nor keep a
// PIN in session state.
package sessions
