// Package wallet is Kibubu's double-entry ledger: phone-number accounts,
// transfers with their fee and commission legs, tiers and limits, PINs,
// agents, merchants, reversals and statements.
//
// # Merchant transfers
//
// Five kinds of transfer exist for the merchant services (package
// wallet/merchant, which runs in the wallet's process and calls Service
// directly; the NATS API refuses these kinds): payout (a merchant pays a
// customer, B2C, and pays the fee), refund (a merchant pays back part or all
// of a till, paybill or settle payment to the customer who made it), settle
// (a micropayment tab's accrued charges, in whole minor units, from the
// customer or, prepaid, from the tabs account, shared among merchants by
// weight with Split), hold (a customer loads a prepaid tab: customer → tabs,
// with the PIN) and release (tabs → customer: what a closed prepaid tab did
// not spend). TransferRequest describes each.
//
// Refunds are measured per payment and per merchant: the sum of a
// merchant's refunds against a payment never exceeds the principal that
// payment credited it. The batch reads the refunds already posted inside its
// transaction, after locking the merchant's account (as it reads reversals),
// and counts those earlier in the same batch, so concurrent refunds in one
// process or in several cannot over-refund. A payment that was reversed
// cannot be refunded, and one with refunds cannot be reversed (the customer
// would be paid twice): both are CodeNotReversible. A prepaid settlement
// (paid from the tabs account) is not refunded: the tab's unspent load is
// released instead.
//
// # Maximum balance
//
// A customer's tier caps the balance it may hold (Limits.BalanceMax). Money
// paid to a customer from elsewhere honours it: a send, a deposit and a
// payout that would lift the recipient past it are CodeLimitExceeded. Money
// returned to the customer it came from does not: a reversal (the sender's
// own principal and fee back), a refund (at most what the customer paid the
// merchant) and a tab's release (what the customer loaded and did not
// spend). Refusing those would strand the customer's money with the other
// party, the merchant or the tabs account, with no way to take it back but
// to spend down first; and each lifts the balance by no more than the
// customer held before the payment it undoes. A settlement credits tills
// and paybills, which have no maximum; float issues credit agents, which
// have none either.
//
// It owns the money rules and nothing else: it knows no USSD, SMS, HTTP,
// NATS or SQL. Storage is a Store (wallet/store implements it with gorm);
// the NATS API and its client live in wallet/natsapi, on the plumbing
// (wallet/natsrpc) the notifier's service shares because it answers in
// this package's Error codes.
//
// # Invariants
//
// The wallet panics on a broken invariant (a bug), and returns an *Error for
// bad input or a refused command:
//
//  1. Every transfer is balanced: its postings sum to zero.
//  2. A balance is the sum of its account's postings and never goes below
//     the account's floor (zero, except system accounts that mirror money
//     issued or spent).
//  3. Every money command carries a client-made idempotency key. A replay
//     returns the first result (a transfer, or a refusal); the same key with
//     a different request is CodeConflict. A replay still needs the PIN (a
//     wrong one counts toward the lockout). A wrong PIN is not an outcome:
//     the key stays free for the retry with the right PIN.
//  4. A transfer is acknowledged only after its transaction commits, and its
//     event is an outbox row in that same transaction.
//  5. Amounts are int64 minor units.
//  6. PINs are kept only as HMAC-SHA256(pepper, salt || PIN).
//
// # Group commit
//
// Commands that change accounts (transfers, PIN checks and changes, status
// changes) queue to one writer goroutine per process. The writer takes every
// command waiting (up to batchOpsMax) and applies them in arrival order in
// one database transaction: it loads and locks the accounts they touch,
// looks up their idempotency keys, applies each command against that
// in-memory state (authoritative for the batch), and writes the transfers,
// postings, refusals, events and changed balances with a few multi-row
// statements. Callers are answered after the commit. One commit (one fsync)
// thus carries hundreds of transfers, and a hot account — an agent's float,
// a till, the fee account — is written once per batch, not once per
// transfer.
//
// Several wallet processes may share one PostgreSQL database: each batch
// locks its accounts' rows in id order (SELECT … FOR UPDATE), so batches
// from different processes serialize on the accounts they share and cannot
// deadlock; a deadlock, serialization failure or unique-key race rolls the
// batch back and runs it again from fresh reads.
//
// # PINs
//
// A PIN has 10^4 values (10^PINLength in general). No hash cost a wallet can
// pay on every money command stops an offline search of that space if the
// database leaks, so the protection is a secret pepper kept outside the
// database (a file, mode 0600, or a secret store), mixed into
// HMAC-SHA256(pepper, salt || PIN) with a per-account salt. Without the
// pepper a stolen hash reveals nothing; with it nothing would help. Online
// guessing is stopped by the lockout: PINTriesMax wrong PINs in a row, on
// any channel, lock the account until an operator resets the PIN. HMAC costs
// about a microsecond, so the wallet verifies hundreds of thousands of PINs
// a second and PIN checks never limit throughput. A PIN is compared in
// constant time, never logged, and never stored or echoed; the only
// payloads that carry one are the commands that verify it. Trivial PINs
// (one digit repeated, runs like 1234) are refused when set.
package wallet
