// Package store is the notifier's storage room: its gorm tables and
// queries, and the two senders that drain them. Everything here holds the
// database's rules (unique keys, compare-and-set claims under a lease,
// statuses that only move forward); the words and the webhook rules come
// from package notify, and the NATS plumbing that fills the tables is in
// notify/natsapi.
//
//   - Store: the sms_messages table, one row per SMS under a unique key,
//     with its status, attempts, errors, encoding and part count; the
//     sms_inbound table a gateway's Reply is checked against; the merchants'
//     webhook_endpoints, webhook_deliveries and webhook_attempts. The
//     database is the outbox: without Twilio the notify.Outbox provider
//     marks rows sent there, and List (with a Filter) reads them.
//   - Consents: STOP/START per phone (sms_consents).
//   - Sender: claims due SMS rows (compare-and-set, so any number of
//     senders share a database), sends them through a notify.Provider
//     (notify/twilio, or notify.Outbox) under an overall and a per-phone
//     rate, retries transient failures with backoff, then fails them; a
//     row in doubt is checked with the provider's Finder before it is sent
//     again.
//   - WebhookSender: POSTs the recorded deliveries, each merchant's in
//     order, signed (notify.SignWebhook), through the address guard
//     (notify.RefuseHost at dial time), retried until RetryFor; purges
//     finished ones past their retention.
//
// The senders live beside the tables, not in a package of their own: they
// are the claim protocol's other half (tokens, leases, outcomes written
// only where the claim still holds), and their tests drive both halves.
// The package must not import NATS or know about USSD sessions; it must not
// touch the wallet's tables (it shares only the migration lock of
// wallet/store).
package store
