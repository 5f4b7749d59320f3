// Package locales owns every word Kibubu shows a person: the go-i18n message
// files (active.en.toml, active.sw.toml, active.fr.toml), embedded in the
// binary; the choice of a language; money as people read it in each
// language; and the measure of a text against USSD and SMS limits (GSM-7
// septets, UCS-2 units, SMS parts).
//
// It must not be bypassed: a USSD screen, an SMS or any other text for a
// customer, agent or merchant is rendered from a message id here, never
// written as a string literal in sessions, notify or gateway. Locales are
// data: a new screen is a new id in all three files, and the tests fail until
// every language has it. The package knows no session, transport or ledger
// rule; it only imports the wallet's error codes and Currency to word and
// format them.
//
// # Message ids
//
// USSD screens are ussd.<menu>.<step> (ussd.main.customer, ussd.send.confirm);
// the wallet's error codes are error.<code> (error.insufficient_funds), with
// error.<code>.<detail> for a more precise variant when the detail is known
// (error.limit_exceeded.daily, error.pin_invalid.tries_left,
// error.not_found.recipient). Each message's description in active.en.toml
// starts with its kind: CON (a screen that waits for input), END (a screen
// that closes the session), ERR (a re-prompt line), NAV (a navigation hint)
// or PART (a piece of the mini statement).
//
// # Screens and their size
//
// A screen is at most one ERR line, then one CON message, then the NAV lines
// it offers (ussd.nav.back, ussd.nav.home), each on its own line; or one END
// message; or a mini statement (ussd.statement.title and up to five
// ussd.statement.line). The tests render every such combination in every
// language with the longest data the menus produce and check that it is in
// the GSM-7 alphabet and fits 160 septets (FitsScreen). That holds for data
// within these bounds:
//
//   - Name: a registered name, at most NameCharsMax characters (clip
//     longer ones) and passed through ToGSM7, since one character outside
//     GSM-7 (ï, ê, ç, any non-Latin letter) turns the whole screen into
//     UCS-2 and halves what fits;
//   - Phone: a phone number as shown, at most 13 characters (+254712345678);
//   - Agent, Till, Business: the wallet's 6-digit numbers;
//   - Account: a pay-bill account reference, at most AccountCharsMax;
//   - Ref, Original: transaction ids (10 characters, wallet.Ref);
//   - Amount, Balance, Today, Month: FormatMoney strings up to 14
//     characters (KES 500,000.00, the maximum balance); Fee and Commission up
//     to 12 (KES 9,999.00); in the statement line, Amount is FormatAmount;
//   - Currency: an ISO 4217 code; Date: dd/mm; Digits: the PIN length;
//   - Count: the number that selects a plural form (error.pin_invalid.tries_left).
//
// French keeps to GSM-7 by its wording: é è à ù É are in the alphabet, but ê
// â î ô û ë ï and a lower-case ç are not (GSM 03.38 has only Ç, which some
// handsets draw as ç), so the menus say "Versement" rather than "Dépôt" and
// name the language "Francais".
//
// # SMS
//
// An SMS receipt is sms.receipt.<transfer kind>.<role>
// (sms.receipt.send.sender, sms.receipt.till.merchant), kind RCPT, one for
// each party a kind of transfer concerns; a reply to an SMS keyword is
// sms.<reply> (sms.help, sms.confirm.send), kind SMS; sms.usage.<keyword>
// (PART) is how a keyword with arguments is written, the Usage of
// sms.malformed. The keyword aliases of each language are listed in the
// description of sms.help. An SMS is not a screen: the tests render each
// with the longest data and check that it is GSM-7 and within its SMS parts
// (Segments): one (160 septets) for the customer's receipts of a send,
// deposit, withdrawal, till payment and airtime, and for every reply but
// sms.mini; two (306) for the rest: pay-bill payers (one up to a 13-character
// account), reversals, and agents', merchants' and businesses' receipts,
// whose balances no limit bounds (tested up to wallet.AmountMax). Beyond the
// data above:
//
//   - Date: dd/mm/yy and Time: HH:MM (24 h), in the wallet's time zone;
//   - Number: the counterparty's agent, till or business number; in a
//     reversal Phone is the counterparty's Party.Number (a phone, or such a
//     number);
//   - Account: also a float's bank reference; the wallet allows 32 bytes,
//     so clip to AccountCharsMax (and refuse longer ones in a BILL command);
//   - Balance: the party's own balance after the transfer: the BalanceAfter
//     of its last posting in the transfer, since a fee or commission leg
//     follows the principal; an agent's is its float;
//   - Fee: shown even when zero ("KES 0.00"), as M-Pesa does; the fee a
//     merchant or business pays appears only in its own receipt;
//   - Minutes: the PIN reply window, 2 to 99; Code: the USSD code to dial,
//     at most 12 characters; Usage: an sms.usage.* of the same language;
//     Statement: the mini statement as USSD composes it.
//
// The budgets assume names of letters: ToGSM7 keeps the extension-table
// characters ^ { } \ [ ~ ] | €, which cost two septets each.
//
// # Languages
//
// English is the default and the fallback. A user's language is chosen once
// (Match) and stored on the account; Render and FormatMoney take that code.
// Match never maps an unsupported language to a "close" one: golang.org/x/text
// would answer French for Kinyarwanda or Lingala, and a Kinyarwanda speaker in
// Kenya is better served by English than by French.
package locales
