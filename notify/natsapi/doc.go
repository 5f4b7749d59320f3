// Package natsapi is the notifier's NATS room: the JetStream consumers of
// the wallet's event stream and of the notifier's own stream NOTIFY, the
// Client other processes hand messages over with, and the
// notify.webhooks.v1.* service the merchant API's webhook requests go to,
// with its WebhookClient.
//
//   - Consumer: durable consumers (Durable) of the wallet's events
//     (receipts, prompts, merchants' webhook deliveries, worded by package
//     notify) and of NOTIFY (the wallet's Messages, start keys and PIN
//     notices; a gateway's Inbounds and Replies; Twilio's delivery Reports;
//     STOP/START Consents). Each fetched batch is recorded in one
//     notify/store transaction and acknowledged only after it commits.
//   - Replay re-derives the receipts since a time from the wallet's
//     database (wallet.v1.events.list) when the stream lost events.
//   - Client publishes to NOTIFY (EnsureStream creates it; the subjects
//     are Subject*), deduplicated by key.
//   - ServeWebhooks answers the webhook subjects, checking each merchant's
//     API key with the wallet (an Authenticator: the wallet's client).
//   - ServeOps answers the back-office's notify.ops.v1.* subjects (ops.go:
//     the SMS outbox and retry, a merchant's webhook deliveries and
//     re-send, failure rates), operators' only, with its OpsClient.
//
// Subjects, stream and durable names, and the JSON on them are the wire
// contract with the wallet, the gateways and deploy/natsroles: they do not
// change with the code. The package holds no money or wording rules (those
// are notify's) and no SQL (notify/store's).
package natsapi
