// Package merchant is the wallet's merchant services: API keys, payment
// requests (request to pay, like M-Pesa's STK push) and the customer's
// approvals of them, a merchant's transactions and refunds, payouts alone
// and in bulk, and tabs (metered micropayments; see tabs.go).
//
// It runs inside the wallet process beside *wallet.Service and owns the
// merchant-facing rules and state; it must not post to the ledger any other
// way than Service.Transfer, and knows no NATS, HTTP or SQL: its state is
// kept by a Store (its subpackage store implements it with gorm, on the
// wallet's database, writing its events to the wallet's outbox), its NATS
// endpoints are declared and served by its subpackage
// merchantapi (on the wallet's service, natsapi.WithEndpoints), and its
// REST face is the gateway's, which calls those declarations.
//
// It was package wallet/commerce; "merchant" is the one name of the
// subdomain. (Package wallet's merchant.go is another thing: tills and
// paybills as ledger accounts, which this package reads through
// *wallet.Service.) Neither the ledger's store (wallet/store) nor its NATS
// service (wallet/natsapi) imports this package: everything merchant-
// specific is here and in the subpackages store and merchantapi.
//
// # Authentication
//
// A merchant authenticates every request with an API key, kbk_<id>_<secret>,
// stored as the SHA-256 of its secret and compared in constant time. A key
// holds scopes (payments, transactions, refunds, payouts, tabs, webhooks)
// and acts for one till or paybill; operator keys hold only "operator". A
// key only ever sees its own merchant's objects: another merchant's id is
// CodeNotFound, exactly as an unknown one. A key checked once is trusted
// from memory for up to 30 seconds, so a revocation takes that long to
// reach the other wallet processes.
//
// # Idempotency keys
//
// Every money command carries the merchant's idempotency key, and every
// transfer this package posts carries a wallet key derived from it or from
// the object, so that a retry, a crash or a second wallet process never
// moves money twice:
//
//	pr:<request>:<attempt>   a payment request's payment, per approval attempt
//	rf:<merchant>:<key>      a refund
//	po:<merchant>:<key>      a payout
//	pb:<batch>:<line>        a row of a bulk payout
//	tab:<tab>:…              a tab's hold, settlements and release (tabs.go)
//
// The merchant's key also makes the object idempotent: a payment request,
// payout or bulk payout is stored under (merchant, key) with a hash of its
// payload, so a replay returns the first object (in its current state) and
// the same key with a different payload is CodeConflict.
//
// # State machines
//
// A payment request:
//
//	pending ──approve (PIN)──► approving ──payment posted──► paid
//	   │  ▲                        │ └────refused──────────► failed
//	   │  └──wrong PIN, no answer──┘
//	   ├──decline──► declined
//	   └──expiry───► expired
//
// approving is internal (the merchant sees pending). Paid, failed, declined
// and expired are final; approving or declining anything but a pending
// request is CodeInvalidState ("this request has expired"), or CodeInFlight
// while another approval of it is being paid. Each approval attempt is a
// compare-and-set that counts the attempt, and pays under its own key, so
// two concurrent approvals pay once, and a wrong PIN (which the wallet does
// not remember under the key) leaves the next attempt a fresh key.
//
// A payout is pending, then paid or failed. A bulk payout is processing
// until every row is paid or failed, then done; its rows are payouts.
//
// Every change a merchant would care about writes its event to the
// wallet's outbox in the same transaction (payment_request.created, .paid,
// .declined, .expired, .failed; payout.failed; payout_batch.done), and
// every change is a compare-and-set on the current state (UPDATE … WHERE
// status = …, checked by the rows it changed), so several wallet processes
// on one PostgreSQL never both make it.
//
// # Crash recovery
//
// The stored state is written before money moves and settled from the
// wallet's answer after; when the answer is lost (a timeout, a crash), the
// sweeper (every Config.Sweep) asks the wallet what the key produced
// (wallet.Service.Outcome) once a lease of a minute has passed — longer
// than the wallet takes to decide a queued command:
//
//   - An approving payment request becomes paid (a transfer), failed (a
//     remembered refusal), or pending again — expired if its time has
//     passed — if the key produced nothing. The next approval uses a new
//     key (the attempt counts up). The lease is what makes this safe: the
//     payment's command is in the wallet's queue before the call can give
//     up, and the wallet decides what is queued within seconds (one batch,
//     retries included, is bounded at 30 seconds), so a key still unused
//     after a minute stays unused unless the wallet's queue itself stalled
//     for that long.
//   - A pending payout becomes paid or failed likewise, and if its key
//     produced nothing the sweeper posts it now under the same key: its
//     row is the merchant's durable intent, and the key pays it at most
//     once whoever else is trying.
//   - A bulk payout's rows are leased by a worker (a minute at a time)
//     before they are paid; a row whose worker stopped is leased again
//     when its lease ends and paid under the same key, so a restarted
//     process resumes its batches and two processes never pay a row twice.
//
// Pending payment requests past their expiry are expired by the sweeper
// (and by any read that finds one first).
package merchant
