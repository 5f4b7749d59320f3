// Package notify owns the SMS receipts of money movements: for each transfer
// the wallet posts, the receipt each party gets (Receipts), worded from the
// wallet's event alone, in the party's language, from the
// sms.receipt.<kind>.<role> messages of package locales; and the sending of
// every SMS Kibubu sends:
//
//   - Consumer: durable JetStream consumers of the wallet's event stream
//     (receipts) and of the notifier's own stream NOTIFY (Messages other
//     processes hand over with Client: keyword replies over Africa's
//     Talking, late USSD outcomes; Twilio's delivery Reports; STOP/START
//     Consents). Each batch is recorded in one transaction and
//     acknowledged only after it commits.
//   - Store: the sms_messages table, one row per SMS under a unique key,
//     with its status (pending, sending, queued, sent, delivered,
//     undelivered, failed), attempts, errors, GSM-7/UCS-2 encoding and
//     part count. The database is the outbox: without Twilio credentials
//     the Outbox provider marks rows sent there, and `kibubu sms outbox`
//     reads them.
//   - Sender: claims due rows (compare-and-set, so any number of senders
//     share a database), sends through a Provider (Twilio with twilio-go,
//     or Outbox) under an overall and a per-phone rate, retries transient
//     failures with backoff a bounded number of times, then marks them
//     failed.
//   - Replay re-derives the receipts since a time from the wallet's
//     database (wallet.v1.events.list) when the stream lost events.
//
// It must not lose an SMS or send one twice: a receipt is keyed by its
// transfer and the account it is for (Receipt.Key), recorded under that key
// before it is sent, and Receipts is a pure function of the event, so a
// redelivered or replayed event yields the same keys and texts. A row is
// marked sending, under a lease, before the provider is called; a row whose
// sender died or whose answer was lost is in doubt, and before it is sent
// again the provider is asked (Twilio's message list, by phone and exact
// text) whether it already has it. It must not touch the wallet's tables:
// it learns everything from the event (the transfer and every party it
// touched). Every word it sends comes from package locales.
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
