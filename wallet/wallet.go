package wallet

import "time"

// AccountKind says what an account is for; it decides the account's floor and
// which operations may debit or credit it.
type AccountKind string

const (
	KindCustomer AccountKind = "customer" // a person's wallet, keyed by E.164 phone number
	KindAgent    AccountKind = "agent"    // an agent's e-float, keyed by agent number; the agent dials from Phone
	KindTill     AccountKind = "till"     // a merchant paid by till number (buy goods)
	KindPaybill  AccountKind = "paybill"  // a business paid by business number with an account reference
	KindSystem   AccountKind = "system"   // the operator's own books (trust, fees, commission, airtime, suspense)
)

// The system accounts, created by migrations. Their Number is their name.
const (
	SystemTrust      = "trust"      // e-money issued against cash in the trust bank account; goes negative as money is issued
	SystemFees       = "fees"       // fee revenue
	SystemCommission = "commission" // commission paid to agents; goes negative (an expense)
	SystemAirtime    = "airtime"    // airtime sold, owed to the mobile network
	SystemSuspense   = "suspense"   // money awaiting investigation
	SystemTabs       = "tabs"       // prepaid tab loads, held until spent (settled to merchants) or released
	SystemReversals  = "reversals"  // amounts held from recipients while a reversal request is open
)

// SystemAccounts lists the system accounts and whether each may go below zero.
var SystemAccounts = []struct {
	Number        string
	Name          string
	AllowNegative bool
}{
	{SystemTrust, "Trust account (e-money issued)", true},
	{SystemFees, "Fee revenue", false},
	{SystemCommission, "Agent commission expense", true},
	{SystemAirtime, "Airtime sales", false},
	{SystemSuspense, "Suspense", false},
	{SystemTabs, "Prepaid tab loads", false},
	{SystemReversals, "Reversal holds", false},
}

// Tier is a customer's KYC tier; it selects the customer's limits.
type Tier int

const (
	TierBasic Tier = 1 // self-registered (USSD): lower limits
	TierFull  Tier = 2 // fully registered with ID at an agent or shop
)

// Status is an account's operator state: active or frozen. Only active
// accounts may move money or have a PIN checked. A PIN lockout is a second,
// independent state (Profile.PINLocked): freezing does not touch it and a
// PIN reset does not unfreeze.
type Status string

const (
	StatusActive Status = "active"
	StatusFrozen Status = "frozen" // set and cleared by an operator (freeze, unfreeze)
	// StatusPINLocked is how a PIN lockout was stored before it became its
	// own state: the store migrates such a row to active and PIN-locked,
	// and the wallet never sets it.
	StatusPINLocked Status = "pin_locked"
)

// Profile is what anyone may see of an account: enough to confirm "send 500
// to JANE DOE?", never its balance.
type Profile struct {
	ID       int64       `json:"id"`
	Kind     AccountKind `json:"kind"`
	Number   string      `json:"number"`          // E.164 phone for customers, agent/till/paybill number, system name
	Phone    string      `json:"phone,omitempty"` // the phone that operates it (customers, agents) or its contact (merchants)
	Name     string      `json:"name"`
	Tier     Tier        `json:"tier,omitempty"`
	Status   Status      `json:"status"`
	Language string      `json:"language,omitempty"`
	HasPIN   bool        `json:"has_pin"`
	// PINLocked: too many wrong PINs (or start keys); cleared only by an
	// operator PIN reset, whatever Status is.
	PINLocked bool `json:"pin_locked,omitempty"`
	// NeedsStartKey: the account has no PIN and its first PIN needs the
	// one-time start key an operator issued (an agent, an imported
	// customer, any account after a PIN reset).
	NeedsStartKey bool      `json:"needs_start_key,omitempty"`
	Created       time.Time `json:"created"`
}

// Account is an account as its owner (after a PIN) or an operator sees it.
type Account struct {
	Profile
	Balance int64 `json:"balance"`
	// StartKey is the one-time start key, only in the answer to the
	// operator command that issued it (agent add, import, PIN reset), so
	// the operator can hand it over in person. The wallet keeps only its
	// keyed hash.
	StartKey string `json:"start_key,omitempty"`
}

// TransferKind names an operation that moves money.
type TransferKind string

const (
	TransferSend     TransferKind = "send"     // customer → customer (P2P); sender pays the fee
	TransferDeposit  TransferKind = "deposit"  // agent float → customer (cash-in); agent earns commission
	TransferWithdraw TransferKind = "withdraw" // customer → agent float (cash-out); customer pays the fee, agent earns commission
	TransferTill     TransferKind = "till"     // customer → till (buy goods); merchant pays the fee
	TransferPaybill  TransferKind = "paybill"  // customer → paybill with an account reference; business pays the fee
	TransferAirtime  TransferKind = "airtime"  // customer → airtime account, for the customer's or another phone
	TransferFloat    TransferKind = "float"    // trust → agent float (operator, against cash banked)
	TransferReversal TransferKind = "reversal" // the exact negation of an earlier transfer

	// The reversal request's own kinds, posted only by the wallet (see
	// Reversal): a hold of the recipient's amount, and its release when an
	// operator rejects the request. A completion is a TransferReversal.
	TransferReversalHold    TransferKind = "reversal_hold"    // the original's recipient → reversals
	TransferReversalRelease TransferKind = "reversal_release" // reversals → the original's recipient

	// The merchant kinds. Only the wallet's own merchant services (package
	// wallet/merchant, in the wallet process) post them; the NATS transfer
	// subject refuses them.
	TransferPayout  TransferKind = "payout"  // merchant → customer (B2C); the merchant pays the fee
	TransferRefund  TransferKind = "refund"  // merchant → the customer who paid a transfer, up to what is left of it
	TransferSettle  TransferKind = "settle"  // a tab's settlement: customer (postpaid) or tabs (prepaid) → merchants, split; the merchants pay the fee
	TransferHold    TransferKind = "hold"    // customer → tabs: a prepaid tab's load, with the customer's PIN
	TransferRelease TransferKind = "release" // tabs → customer: what a closed prepaid tab did not spend
)

// LegKind says why a posting exists within its transfer.
type LegKind string

const (
	LegPrincipal  LegKind = "principal"
	LegFee        LegKind = "fee"
	LegCommission LegKind = "commission"
	// LegHold moves a reversal request's held amount: in its hold and its
	// release, and in its completion, where the hold pays the recipient's
	// share of the negation (so the reversal's other legs still negate
	// the original's exactly).
	LegHold LegKind = "hold"
)

// Posting is one leg of a transfer: an amount added to (positive) or taken
// from (negative) one account. The postings of a transfer sum to zero.
type Posting struct {
	AccountID    int64   `json:"account_id"`
	Leg          LegKind `json:"leg"`
	Amount       int64   `json:"amount"`
	BalanceAfter int64   `json:"balance_after"`
}

// Transfer is a posted, immutable movement of money.
type Transfer struct {
	ID         int64        `json:"id"`
	Ref        string       `json:"ref"` // the human transaction id, e.g. QK7M2X9A1B
	Kind       TransferKind `json:"kind"`
	Source     int64        `json:"source"` // the account debited the principal
	Target     int64        `json:"target"` // the account credited the principal
	Amount     int64        `json:"amount"` // the principal, minor units
	Fee        int64        `json:"fee"`    // paid by the customer (send, withdraw) or the merchant (till, paybill)
	Commission int64        `json:"commission,omitempty"`
	Reference  string       `json:"reference,omitempty"` // paybill account, airtime phone, float bank ref
	Reverses   int64        `json:"reverses,omitempty"`  // for a reversal, the transfer it negates
	Refunds    int64        `json:"refunds,omitempty"`   // for a refund, the transfer it refunds (part of)
	Postings   []Posting    `json:"postings"`
	Created    time.Time    `json:"created"`
}
