// Package sessions runs the USSD menus: state machines declared as data
// (menus.go: each node a screen by message id, its input's validation and
// the next node, or the one wallet call a PIN authorises), one hop at a
// time, with each session's state in a JetStream key-value bucket so that
// any gateway process can serve the next hop.
//
// It must not touch the database (the wallet is reached over NATS, through
// the small Wallet interface *natsapi.Client implements) nor keep a PIN in
// session state, and every word it shows comes from package locales.
//
// # Hops, repeats and money
//
// Engine.Hop loads the session, decides whether the hop is new or one
// already answered (Africa's Talking's whole-history text, Hubtel's
// sequence number, a session start sent twice, the same final input after
// the end), applies a new one and writes the state back only over the
// revision it read. A repeated hop gets the stored answer again; a hop
// after the end, "this session has ended". A money step's idempotency key
// is the aggregator, the session id and the hop number, so the same hop
// answered twice (by one gateway or two racing) asks the wallet once, and
// a fresh PIN try after a wrong one is a new command.
//
// # PINs
//
// A PIN goes from the hop that carries it into the one wallet call that
// needs it. Where a flow needs a PIN on a later screen, the state keeps
// instead: for a new PIN awaiting confirmation, a keyed hash bound to the
// session (seal.go, under the key every gateway shares); for the current
// PIN of a PIN change, the wallet's short-lived proof of it
// (wallet.PINProof); for the input history and the last input (which hold
// PINs), keyed hashes. Reading the bucket without the key tells nothing.
//
// # A slow wallet
//
// A wallet call is bounded (Config.WalletTimeout, 5 s by default, inside
// the aggregator's 15 s). A money step that gets no answer in time ends
// the session with "we will send you an SMS" and is retried in the
// background with the same key until the wallet answers, which it applies
// at most once; Config.Resolved learns the outcome.
package sessions
