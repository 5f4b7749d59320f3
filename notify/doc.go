// Package notify owns the SMS receipts of money movements: for each transfer
// the wallet posts, the receipt each party gets (Receipts), worded from the
// wallet's event alone, in the party's language, from the
// sms.receipt.<kind>.<role> messages of package locales. Later it also owns
// the durable JetStream consumer of the wallet's event stream, sending
// through Twilio (or the local outbox when no Twilio credentials are
// configured), retries with backoff, and delivery status.
//
// It must not lose a receipt or send one twice: a receipt is keyed by its
// transfer and the account it is for (Receipt.Key), recorded under that key
// before it is sent, and Receipts is a pure function of the event, so a
// redelivered or replayed event yields the same keys and texts. It must not
// touch the wallet's tables: it learns everything from the event (the
// transfer and every party it touched). Every word it sends comes from
// package locales.
//
// # Who gets a receipt
//
// Each transfer kind names the roles that get a receipt, by the transfer's
// source (the account debited the principal) and target (credited it):
//
//	kind      source gets               target gets
//	send      sender                    recipient
//	deposit   agent                     customer
//	withdraw  customer                  agent
//	till      payer                     merchant (its contact phone)
//	paybill   payer                     business (its contact phone)
//	airtime   buyer                     — (the airtime system account)
//	float     — (the trust account)     agent
//	reversal  recipient (original's)    sender (original's)
//
// A reversal is the exact negation of the original: the wallet posts it
// from the original's target to the original's source, with Reverses the
// original's id and Reference the original's Ref. So the reversal's target
// is the original sender, who gets the money back
// (sms.receipt.reversal.sender), and its source is the original recipient,
// from whom it is taken (sms.receipt.reversal.recipient); each sees the other
// as counterparty, by Party.Number (a phone, or a till, business or agent
// number).
//
// System accounts and parties without a phone get nothing. A party's
// balance is the BalanceAfter of its account's last posting in the
// transfer, since a fee or commission leg follows the principal.
//
// # Kinds Receipts does not know
//
// A kind with no roles here gets no receipts, rather than a panic: during a
// rolling deploy a newer wallet may publish a kind an older notifier does
// not know, and crashing on it would stop every other receipt behind it.
// The consumer asks Handles first and leaves such an event unacknowledged
// for a newer notifier instead of dropping it. A kind this package knows but
// whose message locales lacks is a bug, and Receipts panics on it; the
// tests render every kind and role in every language, and locales' own
// tests fail for a wallet kind without messages.
package notify
