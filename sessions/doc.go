// Package sessions runs the USSD menus: state machines declared as data
// (menus.go: each node a screen by message id, its input's validation and
// the next node, or the one wallet call a PIN authorises), one hop at a
// time, with each session's state in a JetStream key-value bucket so that
// any gateway process can serve the next hop. It also answers SMS keyword
// commands (Engine.SMS), keeping their conversations in the same bucket.
//
// It must not touch the database (the wallet is reached over NATS, through
// the small Wallet interface *natsapi.Client implements) nor keep a PIN in
// session state, and every word it shows comes from package locales.
//
// # Hops, repeats and money
//
// Engine.Hop loads the session, decides whether the hop is new, one
// already answered (Africa's Talking's whole-history text, Hubtel's
// sequence number, a session start sent twice, the same final input after
// the end) or one that does not continue the session, applies a new one
// and writes the state back only over the revision it read. A repeated hop
// gets the stored answer again; a hop after the end, "this session has
// ended". A hop whose history is not the stored one followed by one more
// input, or whose sequence number is not the next, is refused with
// ussd.session.mismatch and leaves the session as it was (histentry.go). A
// money step's idempotency key is the aggregator, a nonce the session made
// at its first hop and the hop number, so the same hop answered twice (by
// one gateway or two racing) asks the wallet once, a fresh PIN try after a
// wrong one is a new command, and an aggregator that reuses a session id
// after the session expired makes new keys. Logs name a session by a keyed
// hash of its id, never the id, which is all a forged hop needs.
//
// # PINs
//
// A PIN goes from the hop that carries it into the one wallet call that
// needs it. Where a flow needs a PIN on a later screen, the state keeps
// instead: for a new PIN awaiting confirmation, a keyed hash bound to the
// session (seal.go, under the key every gateway shares); for the current
// PIN of a PIN change, the wallet's short-lived proof of it
// (wallet.PINProof). The input history and the last input keep only what
// the session keeps anyway (menu choices, values a screen took); a PIN, or
// any input refused, is kept as "an input was here" and nothing derived
// from it, since a keyed hash of a 4-digit PIN is found by 10,000 guesses
// by whoever holds the bucket and the key.
//
// # A slow wallet
//
// A wallet call is bounded (Config.WalletTimeout, 5 s by default, inside
// the aggregator's 15 s). A money step that gets no answer in time ends
// the session with "we will send you an SMS" and is retried in the
// background with the same key until the wallet answers, which it applies
// at most once; Config.Resolved learns the outcome, and Config.Outbox tells
// the person by SMS when it failed (a success's receipt comes from the
// wallet's event). An outcome still unknown after the retries is not sent:
// "try again" could make a second payment of one that went through. An
// approval's PIN is retried in the same way after a pause, while the wallet
// does not answer or is still paying it (in_flight); an approval the first
// call reached is no longer pending, and its outcome is its receipt's to
// tell. The retry is a second try of the PIN: if the first was wrong and
// its answer lost, the wallet counts it twice.
//
// # Approvals
//
// What waits for a customer's PIN, a merchant's payment request or a tab to
// open (the wallet's merchant services, wallet/merchant), is under the
// customer menu's 6 Approvals (approvals.go): the list, oldest first and
// paged with 98 More, kept in the state as the wallet gave it (the newest
// approvalsListedMax); one approval with 1 Approve and 2 Decline; then the
// PIN, which goes into the wallet's Approve or Decline (a decline needs the
// PIN as an approval does: nobody but the customer says no for them). A
// wrong PIN asks again with the tries left; one no longer pending (expired, or answered meanwhile: the
// wallet's invalid_state) says so. Approve has no idempotency key, but the
// wallet approves a pending approval at most once: a repeated hop gets the
// stored answer, two gateways racing on one hop may both call and one
// approves (the other hop is answered from the winner's state), and a slow
// wallet's approval is resolved as a transfer is (below).
//
// # SMS keywords
//
// Engine.SMS answers one inbound message. The keywords (sms_parse.go) are
// those the description of sms.help lists, in English, Kiswahili and
// French, any case and accents: BAL, SEND phone amount, PAY till amount,
// BILL business account amount, AIRTIME [phone] amount, MINI, LANG
// en|sw|fr, HELP; NO (HAPANA, NON) cancels; STOP and START, English in
// every language, record promotional consent with the notifier
// (Config.Outbox.Consent), from any phone. APPROVALS (IDHINI, APPROBATIONS,
// as the description of sms.approvals.hint lists them) lists what waits for
// the sender's approval. A PIN, or NO and the PIN, sent when no command
// awaits one answers the newest approval, as the notifier's prompt says
// ("reply with your PIN to pay or NO and your PIN to decline"): the PIN
// approves it, NO and the PIN ("NO 2580", in one message) decline it, and
// NO and a PIN decline it even while a command awaits a PIN (NO alone
// cancels that command). NO alone with no command waiting declines
// nothing: the reply (sms.decline.pin) asks for NO and the PIN. With no
// approval, the reply is sms.pin.expired as before. A PIN applies to the
// newest approval only when nothing else asked the phone for a PIN after
// that approval was made (its Created against the end of the phone's last
// command's wait, the conversation being kept 8 days): a BAL's PIN
// arriving late must not pay a merchant. Otherwise it does nothing and the
// reply (sms.pin.which) names the approval and asks for its PIN again; a
// PIN within 5 minutes of that answers it. An approval that moved
// money (a payment, a prepaid tab's load) is answered by its receipt alone;
// a postpaid tab's, which moved nothing, in words. A record per phone
// (sms.appr.*) keeps two such replies from both reaching the wallet (the
// newest being paid is no longer pending, and the second would pay the one
// before it), and for 5 minutes after an answer keeps a PIN or NO from
// answering an approval that was already waiting then: the same reply sent
// twice pays once. Those older ones stay under 6 Approvals. Amounts and phones read as on
// the USSD menus (wallet.Currency.ParseAmount, wallet.NormalizePhone with
// Config.Region), so "1,000" is as malformed as it is there. The reply is
// in the account's language, English for a phone without an account, which
// gets sms.not_registered for anything but HELP and STOP.
//
// A command that needs the PIN (BAL and MINI too: the wallet shows a
// balance only for the PIN) is answered with a confirmation naming the
// recipient (the wallet's lookup), the amount and the fee (its quote), and
// kept as the phone's conversation for 5 minutes; a later command replaces
// it. A reply of digits alone is its PIN: it goes into the one wallet call
// and is never kept. The wallet's idempotency key is the command's message
// (provider and id) and the try number, taken by a compare-and-set on the
// conversation before the call, so two PIN replies never both reach the
// wallet, a wrong PIN then the right one are two commands, and a try whose
// message was lost (still taken after twice the wallet timeout) is taken
// again under the same key. A wrong PIN leaves the confirmation open, with
// the tries left as USSD words them; a carried-out payment is answered by
// its receipt alone (an empty reply); a slow wallet gets "we will send you
// an SMS" and the background resolution above.
//
// Every message is recorded under its provider and id (kv Create) before
// anything is done for it: a repeat gets the first reply, and nothing is
// done again; one still being answered gets no reply. The record keeps the
// keyword only ("[PIN]" for a PIN, "[unknown]" for anything else): any
// argument may be a PIN typed in the wrong place. Each phone may send
// Config.SMSRateMessages in any Config.SMSRateWindow (10 in 10 minutes): the
// first over gets sms.rate_limited, the rest nothing, and none is acted on.
// The limit fails closed: a message that cannot be counted (the store
// failing, or compare-and-set races lost to a burst from the same phone) is
// neither acted on nor answered.
//
// # The bucket
//
// The wallet creates the bucket (EnsureBucket) when it starts; a gateway
// binds to it (OpenBucket), as its NATS user may not create streams.
// USSD sessions and SMS records share the bucket, each key
// with its own time to live: a session's is the session TTL after its last
// write, a message record's 8 days (smsMessageTTL), a conversation's its
// 5 minutes and a minute of grace, as an approvals answers record's, a rate
// record's the rate window. The bucket's own age limit is the longest of
// them, 8 days. nats.go's Update
// drops a key's TTL, so a compare-and-set update publishes on the key with
// the TTL itself. A server without per-key TTLs (before nats-server 2.11)
// keeps every key 8 days; the records' own times (a session's last write,
// a conversation's expiry, the rate window's messages) still decide.
package sessions
