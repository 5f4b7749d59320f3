// Package notify owns the SMS receipts of money movements: for each transfer
// the wallet posts, the receipt each party gets (Receipts), worded from the
// wallet's event alone, in the party's language, from the
// sms.receipt.<kind>.<role> messages of package locales; the prompts of
// merchants' payment requests and tabs (Prompt); the merchants' signed
// webhooks (see Webhooks below); and the rules of sending every SMS Kibubu
// sends. This package is the domain room: the messages and their checks
// (Message, Inbound, Reply, Report, Consent), the wording, the SMS's
// Outgoing and Stored shapes and statuses, the Provider a sender sends
// through, and the webhooks' events, signatures and address rules. It
// imports no gorm, NATS or HTTP client; the rooms around it do:
//
//   - notify/store: the tables (sms_messages, sms_inbound, sms_consents,
//     webhook_*) and the Sender and WebhookSender that drain them, each row
//     claimed under a lease (compare-and-set, so any number of senders share
//     a database). The database is the outbox: without Twilio credentials
//     the Outbox provider marks rows sent there, and `kibubu sms outbox`
//     reads them (store.List).
//   - notify/natsapi: the JetStream Consumer of the wallet's event stream
//     and of the notifier's own stream NOTIFY (what other processes hand
//     over with its Client: the wallet's Messages, start keys and PIN
//     notices; a gateway's Replies in the catalogue's words, each to the
//     phone of an Inbound it answers, as reply.go tells; Twilio's delivery
//     Reports; STOP/START Consents), each batch recorded in one transaction
//     and acknowledged only after it commits; Replay; and the
//     notify.webhooks.v1.* service (ServeWebhooks) with its WebhookClient.
//   - notify/twilio: the Twilio Provider (twilio-go); notify/twiliotest
//     its fake.
//   - notify/notifyd: starts all of them as one notifier (kibubu notify,
//     kibubu serve and the tests).
//
// Names below are this package's unless they say their package.
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
//	payout    — (the merchant: webhook) customer
//	refund    — (the merchant: webhook) customer
//	settle    payer (a postpaid tab's)  — (the merchants: webhooks)
//	hold      customer                  — (the tabs account)
//	release   — (the tabs account)      customer
//
// A prepaid tab's settlement is from the tabs account, and gets no receipt:
// the customer had the hold's. A settlement split among merchants names its
// target, or, when the tab's merchant took no share, the payee credited the
// most. A refund names the payment it gives back (part of) by its Ref.
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
//
// # Prompts
//
// The wallet's merchant services publish their events on the same stream
// (wallet.events.merchant.<type>, a merchant.OutboxEvent). For
// payment_request.created and tab.created the consumer records an SMS to the
// customer (Prompt, sms.prompt.*), keyed "prompt:<event id>" so that it goes
// once: the merchant, the amount (a tab's cap), the expiry, and how to
// answer: the PIN or NO by SMS, or the USSD code (ConsumerConfig.ServiceCode)
// and 6 Approvals.
//
// # Webhooks
//
// A merchant registers one URL (ServeWebhooks, SubjectWebhookSet) and gets a
// signing secret, "whsec_" and 64 hex digits, shown once (again on rotate).
// The consumer records a delivery (Store, webhook_deliveries) for every
// merchant event of a merchant with a URL at that time, in the same
// transaction as the SMS of the batch and before acknowledging it: every
// merchant service event, and from each transfer (TransferEvents)
// payment.received to each till or pay bill credited (a till or pay-bill
// payment, each payee of a tab settlement), refund.completed and payout.paid
// to the merchant the money left. A transfer's event id is
// "evt_<transfer ref>_<merchant number>".
//
// The body is a merchant.Event whose data is the object in the shape the
// REST API answers for it (the views of wallet/merchant, view.go): amounts
// as decimal strings in major units with the currency (ConsumerConfig's),
// times in UTC to the microsecond. A payment request's events carry what
// GET /v1/payment-requests/{id} answers in that state, a payout.failed the
// payout, a payout_batch.done the bulk payout without its rows' results, a
// tab's events the tab (with the settlement in tab.settled and
// tab.suspended), and the transfer-derived events what
// GET /v1/transactions/{id} answers that merchant (merchant.TransactionOf:
// the principal, the fees it paid, the change to its balance, the
// counterparty; nothing refunded yet). The wallet writes its objects to the
// stream in minor units (a merchant.OutboxEvent); the consumer turns them
// into views when it records the delivery (merchant.ViewEventData), so a
// re-sent delivery is the same bytes. An event of a type this notifier does
// not know, from a newer wallet, is delivered with its data as written.
//
// A WebhookSender POSTs them, each merchant's in order: its next delivery
// waits until the previous one is delivered (a 2xx) or failed. Any other
// answer, a redirect (never followed), no answer within the timeout (10 s) or
// no connection is a failed attempt, retried after 10 s doubling up to an
// hour, jittered, until RetryFor after the first attempt (the command's
// --webhook-retry-for: DefaultWebhookRetryFor, at least WebhookRetryForMin);
// then the delivery is failed, and the merchant can re-send it
// (SubjectWebhookResend), as it can one delivered. Every attempt is recorded and listed (SubjectWebhookDeliveries).
// Senders claim deliveries with a lease, so several notifiers share one
// database; a sender that dies mid-POST leaves its delivery to be sent again
// when the lease ends. Delivery is at least once: a receiver may get an
// event twice (its 2xx lost, a re-send), and must dedupe by event id.
//
// Each POST carries Content-Type: application/json, Kibubu-Event-Id,
// Kibubu-Event-Type, Kibubu-Delivery-Id and Kibubu-Signature:
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>". A receiver
// checks it on the raw body before decoding it (VerifyWebhook), answers 2xx
// at once, and does the work afterwards:
//
//	func hook(w http.ResponseWriter, r *http.Request) {
//		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
//		if err != nil {
//			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
//			return
//		}
//		err = notify.VerifyWebhook(secret, r.Header.Get("Kibubu-Signature"), body, 5*time.Minute, time.Now())
//		if err != nil {
//			http.Error(w, "bad signature", http.StatusUnauthorized)
//			return
//		}
//		var ev merchant.Event
//		if err := json.Unmarshal(body, &ev); err != nil {
//			http.Error(w, "bad event", http.StatusBadRequest)
//			return
//		}
//		if seen(ev.ID) { // the dedupe key: the same on every retry and re-send
//			w.WriteHeader(http.StatusOK)
//			return
//		}
//		queue(ev) // record ev.ID and the work in one transaction
//		w.WriteHeader(http.StatusOK)
//	}
//
// In another language: compute HMAC-SHA256 with the whole secret string as
// key over the timestamp, a dot and the body bytes, compare in constant time
// with each v1 value, and refuse a timestamp more than a few minutes from
// now. Production should register https URLs only (RequireHTTPS): the
// signature proves who sent the body, not that nobody read it.
//
// # The address guard
//
// A merchant chooses its URL, and the sender POSTs from inside the
// operator's network and records what came back: unguarded, it would let
// any merchant reach the operator's own services, or the cloud's metadata
// service and the credentials it hands out. So a WebhookSender is guarded
// unless WebhookSenderConfig.AllowPrivate: it refuses to connect to
// loopback (127/8, ::1), private (RFC 1918, fc00::/7, fec0::/10),
// link-local (169.254/16 with the metadata address 169.254.169.254,
// fe80::/10), unspecified (0/8, ::), multicast, carrier-grade NAT
// (100.64/10) and reserved (documentation, benchmarking, 240/4 and the
// broadcast) addresses, IPv4-mapped ones and NAT64 or 6to4 ones holding
// such an IPv4 address alike. The check runs at dial time, in the
// net.Dialer's Control function, on the address actually connected to
// after DNS: a name that resolves to a public address when the URL is set
// and to a private one when the POST is made (DNS rebinding) is refused
// all the same. A refusal is a failed attempt, retried and recorded like
// any other ("address 10.0.0.5 is private: refused"), so the merchant sees
// it in the deliveries listing. Behind the environment's HTTP proxy
// (HTTPS_PROXY, …) the sender connects to the proxy, which may be private;
// the proxy resolves the merchant's host, and refusing private addresses
// there is the proxy's job; the sender still refuses a URL whose host is a
// refused literal address or a localhost name.
//
// The webhook service refuses the same when a URL is set, unless
// AllowPrivate: a host that is such a literal address, a localhost name
// (RFC 6761), or a number that is not a plain IP address ("0x7f000001",
// "2130706433", "127.1", which resolvers read differently), as
// CodeInvalid, so that a merchant learns at once. A name is not resolved
// then; the dial-time check is the guard.
//
// The guard is on by default. A developer's server, whose receivers are on
// loopback or the local network, and tests turn it off: AllowPrivate in
// both the sender's config and the service's options. `kibubu` does so
// when its public URL is unset or on loopback, the same condition that
// lets merchants register http URLs; a server with a public URL requires
// https and is guarded.
//
// # Retention
//
// A delivery delivered or failed is kept, with its attempts, for
// WebhookSenderConfig.Retention (30 days; negative keeps them forever),
// counted from when it finished: long enough for a merchant to look into
// last month's, or re-send one. Each WebhookSender purges older ones when
// it starts and every hour after, 200 deliveries and their attempts a
// transaction, so that no purge holds the database's write lock for long,
// however large the backlog; several senders on one database share the
// work (SKIP LOCKED on PostgreSQL). A pending delivery, retrying or
// re-sent, is never purged. A purged delivery is gone from the listing and
// cannot be re-sent.
package notify
