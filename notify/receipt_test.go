package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

var (
	kes     = wallet.Currency{Code: "KES", Exponent: 2}
	nairobi = time.FixedZone("EAT", 3*60*60)
	langs   = []string{"en", "sw", "fr"}
)

// allKinds is every wallet.TransferKind; locales' TestReceiptKinds reads
// wallet/wallet.go, so a new kind fails there first.
var allKinds = []wallet.TransferKind{
	wallet.TransferSend, wallet.TransferDeposit, wallet.TransferWithdraw, wallet.TransferTill,
	wallet.TransferPaybill, wallet.TransferAirtime, wallet.TransferFloat, wallet.TransferReversal,
	wallet.TransferPayout, wallet.TransferRefund, wallet.TransferSettle, wallet.TransferHold, wallet.TransferRelease,
}

func catalog(t testing.TB) *locales.Catalog {
	t.Helper()
	c, err := locales.New()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The accounts of the hand-built ledger.
const (
	trustID      = 1
	feesID       = 2
	commissionID = 3
	airtimeID    = 4
	tabsID       = 5
	johnID       = 10 // customer, sends
	janeID       = 11 // customer, receives
	agentID      = 20
	tillID       = 30
	kplcID       = 40 // a paybill with a contact phone
	waterID      = 41 // a paybill without one
)

func parties(lang string) map[int64]wallet.Party {
	ps := []wallet.Party{
		{ID: trustID, Kind: wallet.KindSystem, Number: wallet.SystemTrust, Name: "Trust account (e-money issued)"},
		{ID: feesID, Kind: wallet.KindSystem, Number: wallet.SystemFees, Name: "Fee revenue"},
		{ID: commissionID, Kind: wallet.KindSystem, Number: wallet.SystemCommission, Name: "Agent commission expense"},
		{ID: airtimeID, Kind: wallet.KindSystem, Number: wallet.SystemAirtime, Name: "Airtime sales"},
		{ID: tabsID, Kind: wallet.KindSystem, Number: wallet.SystemTabs, Name: "Prepaid tab loads"},
		{ID: johnID, Kind: wallet.KindCustomer, Number: "+254722000001", Phone: "+254722000001", Name: "JOHN KAMAU", Language: lang},
		{ID: janeID, Kind: wallet.KindCustomer, Number: "+254722000002", Phone: "+254722000002", Name: "JANE DOE", Language: lang},
		{ID: agentID, Kind: wallet.KindAgent, Number: "123456", Phone: "+254733000001", Name: "MAMA MBOGA SHOP", Language: lang},
		{ID: tillID, Kind: wallet.KindTill, Number: "445566", Phone: "+254733000002", Name: "DUKA LA AWA", Language: lang},
		{ID: kplcID, Kind: wallet.KindPaybill, Number: "888880", Phone: "+254733000003", Name: "KPLC PREPAID", Language: lang},
		{ID: waterID, Kind: wallet.KindPaybill, Number: "600100", Name: "NAIROBI WATER", Language: lang},
	}
	m := map[int64]wallet.Party{}
	for _, p := range ps {
		m[p.ID] = p
	}
	return m
}

// ledger builds events as wallet/batch.go does: the principal, then the fee
// and commission legs; each posting's BalanceAfter; the parties in the order
// of their first posting.
type ledger struct {
	parties  map[int64]wallet.Party
	balances map[int64]int64
}

func newLedger(lang string) *ledger {
	return &ledger{parties: parties(lang), balances: map[int64]int64{}}
}

func mustRef(ref string) int64 {
	id, ok := wallet.ParseRef(ref)
	if !ok {
		panic("bad ref " + ref)
	}
	return id
}

// at is a time in Nairobi.
func at(hhmm string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", "2026-11-21 "+hhmm, nairobi)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func (l *ledger) post(ref string, kind wallet.TransferKind, src, dst, amount, fee, commission int64, reference string, when time.Time) wallet.Event {
	t := wallet.Transfer{ID: mustRef(ref), Ref: ref, Kind: kind, Source: src, Target: dst, Amount: amount,
		Fee: fee, Commission: commission, Reference: reference, Created: when}
	t.Postings = []wallet.Posting{{AccountID: src, Leg: wallet.LegPrincipal, Amount: -amount}, {AccountID: dst, Leg: wallet.LegPrincipal, Amount: amount}}
	if fee > 0 {
		payer := src
		if kind == wallet.TransferTill || kind == wallet.TransferPaybill {
			payer = dst
		}
		t.Postings = append(t.Postings, wallet.Posting{AccountID: payer, Leg: wallet.LegFee, Amount: -fee}, wallet.Posting{AccountID: feesID, Leg: wallet.LegFee, Amount: fee})
	}
	if commission > 0 {
		agent := src
		if kind == wallet.TransferWithdraw {
			agent = dst
		}
		t.Postings = append(t.Postings, wallet.Posting{AccountID: commissionID, Leg: wallet.LegCommission, Amount: -commission}, wallet.Posting{AccountID: agent, Leg: wallet.LegCommission, Amount: commission})
	}
	return l.apply(t)
}

// reverse is the reversal of orig as the wallet posts it: from the
// original's target to its source, every posting negated, the original's
// Ref as Reference and its id as Reverses.
func (l *ledger) reverse(ref string, orig wallet.Event, when time.Time) wallet.Event {
	o := orig.Transfer
	t := wallet.Transfer{ID: mustRef(ref), Ref: ref, Kind: wallet.TransferReversal, Source: o.Target, Target: o.Source,
		Amount: o.Amount, Fee: o.Fee, Commission: o.Commission, Reference: o.Ref, Reverses: o.ID, Created: when}
	for _, q := range o.Postings {
		t.Postings = append(t.Postings, wallet.Posting{AccountID: q.AccountID, Leg: q.Leg, Amount: -q.Amount})
	}
	return l.apply(t)
}

func (l *ledger) apply(t wallet.Transfer) wallet.Event {
	var sum int64
	ev := wallet.Event{}
	seen := map[int64]bool{}
	for i := range t.Postings {
		q := &t.Postings[i]
		sum += q.Amount
		l.balances[q.AccountID] += q.Amount
		q.BalanceAfter = l.balances[q.AccountID]
		if !seen[q.AccountID] {
			seen[q.AccountID] = true
			ev.Parties = append(ev.Parties, l.parties[q.AccountID])
		}
	}
	if sum != 0 {
		panic("unbalanced test transfer")
	}
	ev.Transfer = t
	return ev
}

// legs is a transfer of the merchant kinds as wallet/batch.go posts them:
// the principal from src, credited to each payee (dst alone when none is
// given), then the fee leg, paid by src out of the principal for a
// settlement (the payees share what is left) and on top of it otherwise.
func (l *ledger) legs(ref string, kind wallet.TransferKind, src, dst, amount, fee int64, reference string, when time.Time, payees map[int64]int64) wallet.Event {
	t := wallet.Transfer{ID: mustRef(ref), Ref: ref, Kind: kind, Source: src, Target: dst, Amount: amount, Fee: fee,
		Reference: reference, Created: when}
	t.Postings = []wallet.Posting{{AccountID: src, Leg: wallet.LegPrincipal, Amount: -amount}}
	if len(payees) == 0 {
		payees = map[int64]int64{dst: amount - fee}
		if kind != wallet.TransferSettle {
			payees[dst] = amount
		}
	}
	for _, id := range slices.Sorted(maps.Keys(payees)) {
		t.Postings = append(t.Postings, wallet.Posting{AccountID: id, Leg: wallet.LegPrincipal, Amount: payees[id]})
	}
	if fee > 0 {
		if kind != wallet.TransferSettle {
			t.Postings = append(t.Postings, wallet.Posting{AccountID: src, Leg: wallet.LegFee, Amount: -fee})
		}
		t.Postings = append(t.Postings, wallet.Posting{AccountID: feesID, Leg: wallet.LegFee, Amount: fee})
	}
	return l.apply(t)
}

// day is one day's transfers on the hand-built ledger, in order, with the
// parties speaking lang. Balances (KES): the agent gets 100,000.00 of float
// and deposits 1,707.00 for John; John sends Jane 500.00 (fee 7.00: new
// balance 1,200.00) and reverses it (back to 1,707.00); then buys airtime,
// pays a till and two bills, and withdraws (779.00). Then the merchant
// kinds: the till pays Jane 100.00 (fee 1.00) and refunds John 50.00 of his
// payment (829.00); John loads a prepaid tab with 40.00 (789.00), settles a
// postpaid one of 10.00 split between the till and KPLC after a fee of 0.10
// (779.00), and gets 15.00 back from the prepaid one (794.00).
func day(lang string) map[string]wallet.Event {
	l := newLedger(lang)
	evs := map[string]wallet.Event{}
	evs["float"] = l.post("QK7M29AAAA", wallet.TransferFloat, trustID, agentID, 100_000_00, 0, 0, "EQ-778812", at("08:00"))
	evs["deposit"] = l.post("QK7M2X0D0A", wallet.TransferDeposit, agentID, johnID, 1_707_00, 0, 17_00, "", at("09:30"))
	evs["send"] = l.post("QK7M2X9A1B", wallet.TransferSend, johnID, janeID, 500_00, 7_00, 0, "", at("10:15"))
	evs["reversal"] = l.reverse("QM1A2B3C4D", evs["send"], at("10:40"))
	evs["airtime"] = l.post("QM1A2B3C5E", wallet.TransferAirtime, johnID, airtimeID, 50_00, 0, 0, "+254722000002", at("11:02"))
	evs["till"] = l.post("QM1A2B3C6F", wallet.TransferTill, johnID, tillID, 300_00, 1_50, 0, "", at("12:30"))
	evs["paybill"] = l.post("QM1A2B3C7G", wallet.TransferPaybill, johnID, kplcID, 250_00, 1_25, 0, "ACC 12345", at("13:45"))
	evs["paybill-phoneless"] = l.post("QM1A2B3C8H", wallet.TransferPaybill, johnID, waterID, 100_00, 50, 0, "W-778", at("14:00"))
	evs["withdraw"] = l.post("QM1A2B3C9J", wallet.TransferWithdraw, johnID, agentID, 200_00, 28_00, 10_00, "", at("18:05"))
	evs["payout"] = l.legs("QM1A2B3DA1", wallet.TransferPayout, tillID, janeID, 100_00, 1_00, "BONUS-7", at("19:00"), nil)
	refund := l.legs("QM1A2B3DB2", wallet.TransferRefund, tillID, johnID, 50_00, 0, "QM1A2B3C6F", at("19:10"), nil)
	refund.Transfer.Refunds = evs["till"].Transfer.ID
	evs["refund"] = refund
	evs["hold"] = l.legs("QM1A2B3DC3", wallet.TransferHold, johnID, tabsID, 40_00, 0, "tab_prepaid", at("19:20"), nil)
	evs["settle"] = l.legs("QM1A2B3DD4", wallet.TransferSettle, johnID, tillID, 10_00, 10, "tab_postpaid", at("19:30"),
		map[int64]int64{tillID: 6_93, kplcID: 2_97})
	evs["release"] = l.legs("QM1A2B3DE5", wallet.TransferRelease, tabsID, johnID, 15_00, 0, "tab_prepaid", at("19:40"), nil)
	return evs
}

// prepaidSettle is a prepaid tab's settlement: from the tabs account to the
// till, which pays a fee of 0.25 out of it.
func prepaidSettle(lang string) wallet.Event {
	l := newLedger(lang)
	l.balances[tabsID] = 40_00
	return l.legs("QM1A2B3DF6", wallet.TransferSettle, tabsID, tillID, 25_00, 25, "tab_prepaid", at("19:50"), nil)
}

type who struct {
	account int64
	to      string
}

func (w who) String() string { return fmt.Sprintf("%d→%s", w.account, w.to) }

// TestReceiptsParties checks who gets a receipt for every kind, in every
// language: keys, phones, languages, and that every text is GSM-7 within
// two parts and says its own Ref.
func TestReceiptsParties(t *testing.T) {
	c := catalog(t)
	john, jane := who{johnID, "+254722000001"}, who{janeID, "+254722000002"}
	agent, till, kplc := who{agentID, "+254733000001"}, who{tillID, "+254733000002"}, who{kplcID, "+254733000003"}
	tests := []struct {
		event string
		want  []who
	}{
		{"float", []who{agent}},            // not the trust account
		{"deposit", []who{agent, john}},    // agent (source), customer (target)
		{"send", []who{john, jane}},        // sender, recipient
		{"reversal", []who{john, jane}},    // original sender (the reversal's target) first
		{"airtime", []who{john}},           // not the airtime account
		{"till", []who{john, till}},        // payer, merchant's contact phone
		{"paybill", []who{john, kplc}},     // payer, business
		{"paybill-phoneless", []who{john}}, // a business without a phone gets none
		{"withdraw", []who{john, agent}},   // customer (source), agent (target)
		{"payout", []who{jane}},            // the customer paid; the till gets a webhook
		{"refund", []who{john}},            // the customer refunded
		{"hold", []who{john}},              // the customer; not the tabs account
		{"settle", []who{john}},            // the postpaid tab's customer; not the payees
		{"release", []who{john}},           // the customer; not the tabs account
	}
	for _, lang := range langs {
		evs := day(lang)
		for _, tt := range tests {
			ev := evs[tt.event]
			got := Receipts(c, kes, nairobi, ev)
			var gotWho []who
			for _, r := range got {
				gotWho = append(gotWho, who{r.Account, r.To})
				if want := fmt.Sprintf("%d:%d", ev.Transfer.ID, r.Account); r.Key != want || r.Transfer != ev.Transfer.ID {
					t.Errorf("%s %s: key %q, transfer %d, want %q, %d", lang, tt.event, r.Key, r.Transfer, want, ev.Transfer.ID)
				}
				if r.Language != lang {
					t.Errorf("%s %s: language %q, want %q", lang, tt.event, r.Language, lang)
				}
				checkSMS(t, lang+" "+tt.event, r)
				if !strings.HasPrefix(r.Text, ev.Transfer.Ref+" ") {
					t.Errorf("%s %s: text does not start with the ref %s: %q", lang, tt.event, ev.Transfer.Ref, r.Text)
				}
			}
			if !slices.Equal(gotWho, tt.want) {
				t.Errorf("%s %s: receipts to\n%v\nwant\n%v", lang, tt.event, gotWho, tt.want)
			}
		}
	}
}

func checkSMS(t *testing.T, what string, r Receipt) {
	t.Helper()
	enc, parts := locales.Segments(r.Text)
	if r.Encoding != enc || r.Parts != parts {
		t.Errorf("%s: Encoding %s, Parts %d, want %s, %d", what, r.Encoding, r.Parts, enc, parts)
	}
	if enc != locales.GSM7 || parts < 1 || parts > 2 {
		t.Errorf("%s: %s in %d parts, want GSM-7 in 1 or 2: %q", what, enc, parts, r.Text)
	}
}

// TestReceiptsText pins whole texts: the example, every kind in
// English, and the other languages' money and date formats.
func TestReceiptsText(t *testing.T) {
	c := catalog(t)
	tests := []struct {
		lang, event string
		account     int64
		want        string
	}{
		{"en", "send", johnID,
			"QK7M2X9A1B Confirmed. KES 500.00 sent to JANE DOE +254722000002 on 21/11/26 at 10:15. New balance KES 1,200.00. Fee KES 7.00."},
		{"en", "send", janeID,
			"QK7M2X9A1B Confirmed. You have received KES 500.00 from JOHN KAMAU +254722000001 on 21/11/26 at 10:15. New balance KES 500.00."},
		{"en", "float", agentID,
			"QK7M29AAAA Confirmed. KES 100,000.00 float issued to you on 21/11/26 at 08:00, bank reference EQ-778812. New float balance KES 100,000.00."},
		{"en", "deposit", agentID,
			"QK7M2X0D0A Confirmed. KES 1,707.00 deposited to JOHN KAMAU +254722000001 on 21/11/26 at 09:30. Commission KES 17.00. New float balance KES 98,310.00."},
		{"en", "deposit", johnID,
			"QK7M2X0D0A Confirmed. KES 1,707.00 deposited by agent 123456 MAMA MBOGA SHOP on 21/11/26 at 09:30. New balance KES 1,707.00."},
		// The reversal's target is the original sender: the money and the fee come back.
		{"en", "reversal", johnID,
			"QM1A2B3C4D Confirmed. QK7M2X9A1B to JANE DOE +254722000002 reversed on 21/11/26 at 10:40. KES 500.00 is back in your account. New balance KES 1,707.00."},
		{"en", "reversal", janeID,
			"QM1A2B3C4D Confirmed. QK7M2X9A1B from JOHN KAMAU +254722000001 reversed on 21/11/26 at 10:40. KES 500.00 was taken back from your account. New balance KES 0.00."},
		{"en", "airtime", johnID,
			"QM1A2B3C5E Confirmed. You bought KES 50.00 of airtime for +254722000002 on 21/11/26 at 11:02. New balance KES 1,657.00. Fee KES 0.00."},
		{"en", "till", johnID,
			"QM1A2B3C6F Confirmed. KES 300.00 paid to DUKA LA AWA till 445566 on 21/11/26 at 12:30. New balance KES 1,357.00."},
		{"en", "till", tillID,
			"QM1A2B3C6F Confirmed. KES 300.00 received from JOHN KAMAU +254722000001 on 21/11/26 at 12:30. Fee KES 1.50. New balance KES 298.50."},
		{"en", "paybill", johnID,
			"QM1A2B3C7G Confirmed. KES 250.00 paid to KPLC PREPAID 888880 for account ACC 12345 on 21/11/26 at 13:45. New balance KES 1,107.00."},
		{"en", "paybill", kplcID,
			"QM1A2B3C7G Confirmed. KES 250.00 received from JOHN KAMAU +254722000001 for account ACC 12345 on 21/11/26 at 13:45. Fee KES 1.25. New balance KES 248.75."},
		{"en", "withdraw", johnID,
			"QM1A2B3C9J Confirmed. KES 200.00 withdrawn from 123456 MAMA MBOGA SHOP on 21/11/26 at 18:05. New balance KES 779.00. Fee KES 28.00."},
		{"en", "withdraw", agentID,
			"QM1A2B3C9J Confirmed. Give KES 200.00 cash to JOHN KAMAU +254722000001, withdrawn on 21/11/26 at 18:05. Commission KES 10.00. New float balance KES 98,520.00."},
		{"sw", "send", johnID,
			"QK7M2X9A1B Imethibitishwa. KES 500.00 imetumwa kwa JANE DOE +254722000002 21/11/26 saa 10:15. Salio KES 1,200.00. Ada KES 7.00."},
		{"sw", "reversal", janeID,
			"QM1A2B3C4D Imethibitishwa. Muamala QK7M2X9A1B kutoka kwa JOHN KAMAU +254722000001 umerudishwa 21/11/26 saa 10:40. KES 500.00 imeondolewa kwenye akaunti yako. Salio KES 0.00."},
		{"fr", "send", johnID,
			"QK7M2X9A1B confirmé. 500,00 KES envoyé à JANE DOE +254722000002 le 21/11/26 à 10:15. Nouveau solde 1 200,00 KES. Frais 7,00 KES."},
		{"fr", "withdraw", agentID,
			"QM1A2B3C9J confirmé. Remettez 200,00 KES en espèces à JOHN KAMAU +254722000001, retrait du 21/11/26 à 18:05. Commission 10,00 KES. Nouveau solde float 98 520,00 KES."},
		{"en", "payout", janeID,
			"QM1A2B3DA1 Confirmed. You have received KES 100.00 from DUKA LA AWA on 21/11/26 at 19:00. New balance KES 100.00."},
		// The refunded payment's ref comes from Refunds.
		{"en", "refund", johnID,
			"QM1A2B3DB2 Confirmed. DUKA LA AWA refunded KES 50.00 of QM1A2B3C6F on 21/11/26 at 19:10. New balance KES 829.00."},
		{"en", "hold", johnID,
			"QM1A2B3DC3 Confirmed. KES 40.00 set aside for your prepaid tab on 21/11/26 at 19:20. New balance KES 789.00."},
		// The customer pays the whole settlement; the payees share it after the fee.
		{"en", "settle", johnID,
			"QM1A2B3DD4 Confirmed. KES 10.00 paid to DUKA LA AWA for your tab on 21/11/26 at 19:30. New balance KES 779.00."},
		{"en", "release", johnID,
			"QM1A2B3DE5 Confirmed. KES 15.00 not spent on your prepaid tab is back in your account on 21/11/26 at 19:40. New balance KES 794.00."},
		{"sw", "refund", johnID,
			"QM1A2B3DB2 Imethibitishwa. DUKA LA AWA amekurudishia KES 50.00 ya muamala QM1A2B3C6F 21/11/26 saa 19:10. Salio KES 829.00."},
		{"fr", "settle", johnID,
			"QM1A2B3DD4 confirmé. 10,00 KES payé à DUKA LA AWA pour votre ardoise le 21/11/26 à 19:30. Nouveau solde 779,00 KES."},
		{"fr", "payout", janeID,
			"QM1A2B3DA1 confirmé. DUKA LA AWA vous a versé 100,00 KES le 21/11/26 à 19:00. Nouveau solde 100,00 KES."},
	}
	for _, tt := range tests {
		var got string
		for _, r := range Receipts(c, kes, nairobi, day(tt.lang)[tt.event]) {
			if r.Account == tt.account {
				got = r.Text
			}
		}
		if got != tt.want {
			t.Errorf("%s %s to %d:\ngot  %q\nwant %q", tt.lang, tt.event, tt.account, got, tt.want)
		}
	}
}

// TestReceiptsBalance checks that a party's balance is its last posting's:
// the sender's fee leg follows the principal, a reversal refunds the fee
// after the principal, and an agent's commission follows its principal.
func TestReceiptsBalance(t *testing.T) {
	c := catalog(t)
	evs := day("en")
	tests := []struct {
		event       string
		account     int64
		first, last string // the balances after its first and its last posting
	}{
		{"send", johnID, "KES 1,207.00", "KES 1,200.00"},
		{"reversal", johnID, "KES 1,700.00", "KES 1,707.00"},
		{"deposit", agentID, "KES 98,293.00", "KES 98,310.00"},
		{"withdraw", johnID, "KES 807.00", "KES 779.00"},
		{"withdraw", agentID, "KES 98,510.00", "KES 98,520.00"},
		{"till", tillID, "KES 300.00", "KES 298.50"},
	}
	for _, tt := range tests {
		var r *Receipt
		for _, x := range Receipts(c, kes, nairobi, evs[tt.event]) {
			if x.Account == tt.account {
				r = &x
			}
		}
		if r == nil {
			t.Errorf("%s: no receipt for %d", tt.event, tt.account)
			continue
		}
		if got := strings.Contains(r.Text, "balance "+tt.last+"."); !got || strings.Contains(r.Text, "balance "+tt.first) {
			t.Errorf("%s to %d: %q; want the balance %s, not %s", tt.event, tt.account, r.Text, tt.last, tt.first)
		}
	}
}

// TestReceiptsLanguage checks the fallback to English and the matching of
// regional tags.
func TestReceiptsLanguage(t *testing.T) {
	c := catalog(t)
	tests := []struct{ party, want string }{
		{"", "en"}, {"en", "en"}, {"sw", "sw"}, {"fr", "fr"}, {"sw-KE", "sw"}, {"fr-CI", "fr"},
		{"rw", "en"}, {"xx-!!", "en"}, {"kiswahili", "en"},
	}
	for _, tt := range tests {
		rs := Receipts(c, kes, nairobi, day(tt.party)["send"])
		if len(rs) != 2 {
			t.Fatalf("%q: %d receipts", tt.party, len(rs))
		}
		for _, r := range rs {
			if r.Language != tt.want {
				t.Errorf("party language %q: receipt in %q, want %q", tt.party, r.Language, tt.want)
			}
		}
		if want := Receipts(c, kes, nairobi, day(tt.want)["send"]); rs[0].Text != want[0].Text {
			t.Errorf("party language %q: %q, want %q", tt.party, rs[0].Text, want[0].Text)
		}
	}
}

// TestReceiptsNoPhone checks that parties without a phone and system
// accounts get nothing, whatever the kind.
func TestReceiptsNoPhone(t *testing.T) {
	c := catalog(t)
	for name, ev := range day("en") {
		for i := range ev.Parties {
			ev.Parties[i].Phone = ""
		}
		if got := Receipts(c, kes, nairobi, ev); len(got) != 0 {
			t.Errorf("%s without phones: %d receipts, want none: %+v", name, len(got), got)
		}
	}
	for name, ev := range day("en") {
		for _, r := range Receipts(c, kes, nairobi, ev) {
			for _, p := range ev.Parties {
				if p.ID == r.Account && p.Kind == wallet.KindSystem {
					t.Errorf("%s: a receipt to system account %s", name, p.Number)
				}
			}
		}
	}
}

// TestReceiptsFit renders every kind and role in every language with the
// longest data: names past NameCharsMax with letters outside GSM-7, a
// 32-byte reference, an agent's, merchant's and business's balance at
// wallet.AmountMax. Each receipt must stay GSM-7 in at most two parts.
func TestReceiptsFit(t *testing.T) {
	c := catalog(t)
	longName := "Wanjirũ Nyambura-Odhiambo Kamaû wa Njoroge [Ïsiolo] Çé€" // clipped, and made GSM-7
	for _, lang := range langs {
		for name, ev := range day(lang) {
			for i := range ev.Parties {
				ev.Parties[i].Name = longName
			}
			t2 := &ev.Transfer
			if t2.Kind == wallet.TransferPaybill || t2.Kind == wallet.TransferFloat {
				t2.Reference = "ACC-2024-1234567/890-ÀÉÎÕÜ-ŒÆ~" // 32 bytes and more, clipped
			}
			t2.Amount, t2.Fee, t2.Commission = 500_000_00, 9_999_00, 9_999_00
			for i := range t2.Postings {
				q := &t2.Postings[i]
				q.BalanceAfter = 500_000_00
				if k := kindOf(ev, q.AccountID); k != wallet.KindCustomer {
					q.BalanceAfter = wallet.AmountMax
				}
			}
			if t2.Kind == wallet.TransferFloat {
				t2.Amount = wallet.AmountMax
			}
			rs := Receipts(c, kes, nairobi, ev)
			if len(rs) == 0 {
				t.Errorf("%s %s: no receipts", lang, name)
			}
			for _, r := range rs {
				checkSMS(t, lang+" "+name, r)
				t.Logf("%s %-18s %d part(s) %s", lang, name, r.Parts, r.Text)
			}
		}
	}
}

func kindOf(ev wallet.Event, id int64) wallet.AccountKind {
	for _, p := range ev.Parties {
		if p.ID == id {
			return p.Kind
		}
	}
	return ""
}

func TestSMSText(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"JANE DOE", 30, "JANE DOE"},
		{"  Jane Doe  ", 30, "Jane Doe"},
		{"Zoë Kamaû", 30, "Zoe Kamau"}, // GSM-7 has ä ö ñ ü à è é ù ì ò, not ë or û
		{"Wanjiru Nyambura-Odhiambo Kamau", 30, "Wanjiru Nyambura-Odhiambo Kama"},
		{"Duka € Jamii [Best]", 12, "Duka € Jami"}, // € takes two septets
		{"abc     defgh", 5, "abc"},                // no trailing space after the cut
		{"李小龙", 30, "???"},
		{"", 30, ""},
	}
	for _, tt := range tests {
		got := smsText(tt.in, tt.max)
		n, ok := locales.Septets(got)
		if !ok || n > tt.max {
			t.Errorf("smsText(%q, %d) = %q: %d septets, GSM-7 %v", tt.in, tt.max, got, n, ok)
		}
		if got != tt.want {
			t.Errorf("smsText(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

// TestRoles checks that every wallet kind has roles, at most two, on
// distinct sides, and that every role's message renders in every language
// (Receipts panics on a missing one).
func TestRoles(t *testing.T) {
	c := catalog(t)
	evs := day("en")
	for _, k := range allKinds {
		rs := roles[k]
		if !Handles(k) || len(rs) == 0 || len(rs) > 2 || len(rs) == 2 && rs[0].self == rs[1].self {
			t.Errorf("%s: roles %+v", k, rs)
		}
		seen := false
		for _, ev := range evs {
			seen = seen || ev.Transfer.Kind == k
		}
		if !seen {
			t.Errorf("the test day has no %s", k)
		}
	}
	if Handles("loan") {
		t.Error("Handles(loan)")
	}
	ev := evs["send"]
	ev.Transfer.Kind = "loan"
	if got := Receipts(c, kes, nairobi, ev); got != nil {
		t.Errorf("an unknown kind: %+v, want none", got)
	}
}

// TestReceiptsMissingMessage checks that a known kind whose message the
// catalog lacks is a panic, not a silent skip. Such a kind cannot be made
// from the real catalog, so it adds a role to the table for the test.
func TestReceiptsMissingMessage(t *testing.T) {
	c := catalog(t)
	ev := day("en")["send"]
	ev.Transfer.Kind = "bogus"
	roles["bogus"] = []role{{name: "sender", self: source}}
	defer delete(roles, "bogus")
	defer func() {
		if recover() == nil {
			t.Error("no panic for a kind without messages")
		}
	}()
	Receipts(c, kes, nairobi, ev)
}

// TestReceiptsRandom is a property test: for random events of every kind
// (and an unknown one), well formed or not, Receipts does not panic and
// returns at most two receipts, with distinct keys, each to a party of the
// event with a phone, in GSM-7.
func TestReceiptsRandom(t *testing.T) {
	c := catalog(t)
	rng := rand.New(rand.NewPCG(4, 2))
	kinds := append(slices.Clone(allKinds), "loan")
	accountKinds := []wallet.AccountKind{wallet.KindCustomer, wallet.KindAgent, wallet.KindTill, wallet.KindPaybill, wallet.KindSystem}
	languages := []string{"", "en", "sw", "fr", "sw-KE", "rw", "fr;q=0.5, sw", "zz-!"}
	alphabet := []rune("ABCabc xyz-.'€[]{}^~|\\ÏçêŌ李😀0123456789")
	text := func(n int) string {
		r := make([]rune, rng.IntN(n+1))
		for i := range r {
			r[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(r)
	}
	money := func() int64 {
		switch rng.IntN(4) {
		case 0:
			return 0
		case 1:
			return rng.Int64N(wallet.AmountMax + 1)
		default:
			return rng.Int64N(500_000_00 + 1)
		}
	}
	const events = 5000
	for i := range events {
		var ev wallet.Event
		n := 1 + rng.IntN(5)
		for j := range n {
			p := wallet.Party{ID: int64(1 + rng.IntN(6)), Kind: accountKinds[rng.IntN(len(accountKinds))],
				Number: fmt.Sprintf("+2547%08d", rng.IntN(1e8)), Name: text(64), Language: languages[rng.IntN(len(languages))]}
			if rng.IntN(4) > 0 {
				p.Phone = p.Number
			}
			if j > 0 && rng.IntN(10) == 0 {
				p.ID = ev.Parties[0].ID // a duplicate party
			}
			ev.Parties = append(ev.Parties, p)
		}
		tr := &ev.Transfer
		tr.ID = rng.Int64N(1 << 50)
		tr.Ref = wallet.Ref(tr.ID)
		tr.Kind = kinds[rng.IntN(len(kinds))]
		tr.Source, tr.Target = int64(1+rng.IntN(6)), int64(1+rng.IntN(6))
		tr.Amount, tr.Fee, tr.Commission = money(), rng.Int64N(9_999_00+1), rng.Int64N(9_999_00+1)
		tr.Reference = text(32)
		if rng.IntN(2) == 0 {
			tr.Reverses = rng.Int64N(1 << 50)
		}
		tr.Created = time.Unix(rng.Int64N(4e9), 0)
		for range rng.IntN(7) {
			tr.Postings = append(tr.Postings, wallet.Posting{AccountID: int64(1 + rng.IntN(6)), Amount: money(), BalanceAfter: money()})
		}

		var got []Receipt
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("event %d panics: %v\n%+v", i, p, ev)
				}
			}()
			got = Receipts(c, kes, nairobi, ev)
		}()
		if len(got) > 2 {
			t.Fatalf("event %d: %d receipts", i, len(got))
		}
		if len(got) == 2 && got[0].Key == got[1].Key {
			t.Fatalf("event %d: two receipts with key %s", i, got[0].Key)
		}
		for _, r := range got {
			if r.To == "" || (r.Account != tr.Source && r.Account != tr.Target) || r.Transfer != tr.ID {
				t.Fatalf("event %d: receipt %+v", i, r)
			}
			if r.Encoding != locales.GSM7 {
				t.Fatalf("event %d: %s text %q", i, r.Encoding, r.Text)
			}
		}
	}
}

// TestReceiptsFromWallet posts one transfer of every kind through a real
// wallet on a real store, reads the events it wrote to its outbox, and
// checks who gets which receipt: the role mapping against the wallet's own
// events, reversal included.
func TestReceiptsFromWallet(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, storetest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 21, 7, 15, 0, 0, time.UTC)
	w, err := wallet.New(ctx, st, wallet.Config{Currency: kes, Region: "KE", Location: nairobi,
		Pepper: []byte("0123456789abcdef0123456789abcdef"), Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait(); st.Close() })

	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	const pin = "2580"
	john, jane, agentPhone := "+254722000001", "+254722000002", "+254733000001"
	startKeys := map[string]string{} // the start keys of the operator's openings
	for _, c := range []struct{ phone, name, lang string }{{john, "JOHN KAMAU", "sw"}, {jane, "JANE DOE", "fr"}} {
		a, err := w.Register(ctx, c.phone, c.name, wallet.TierFull, c.lang)
		must(a, err)
		startKeys[c.phone] = a.StartKey
	}
	agent, err := w.AddAgent(ctx, agentPhone, "Mama Mboga Shop")
	must(agent, err)
	till, err := w.AddMerchant(ctx, "+254733000002", "Duka la Awa", false)
	must(till, err)
	bill, err := w.AddMerchant(ctx, "+254733000003", "KPLC Prepaid", true)
	must(bill, err)
	for _, p := range []string{john, jane} {
		must(w.SetPINWithStartKey(ctx, p, startKeys[p], pin))
	}
	must(w.SetPINWithStartKey(ctx, agentPhone, agent.StartKey, pin))
	keys := 0
	transfer := func(req wallet.TransferRequest) *wallet.TransferResult {
		t.Helper()
		keys++
		req.Key = fmt.Sprintf("notify-test-%d", keys)
		now = now.Add(time.Minute)
		switch req.Kind {
		case wallet.TransferFloat, wallet.TransferPayout, wallet.TransferRefund, wallet.TransferSettle, wallet.TransferRelease:
		default:
			req.PIN = pin
		}
		r, err := w.Transfer(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", req.Kind, err)
		}
		return r
	}
	transfer(wallet.TransferRequest{Kind: wallet.TransferFloat, To: agent.Number, Amount: 100_000_00, Reference: "EQ-778812"})
	transfer(wallet.TransferRequest{Kind: wallet.TransferDeposit, From: agentPhone, To: john, Amount: 5_000_00})
	send := transfer(wallet.TransferRequest{Kind: wallet.TransferSend, From: john, To: jane, Amount: 500_00})
	transfer(wallet.TransferRequest{Kind: wallet.TransferReversal, From: john, Reference: send.Transfer.Ref})
	transfer(wallet.TransferRequest{Kind: wallet.TransferAirtime, From: john, To: jane, Amount: 50_00})
	paid := transfer(wallet.TransferRequest{Kind: wallet.TransferTill, From: john, To: till.Number, Amount: 300_00})
	transfer(wallet.TransferRequest{Kind: wallet.TransferPaybill, From: john, To: bill.Number, Reference: "ACC 12345", Amount: 250_00})
	transfer(wallet.TransferRequest{Kind: wallet.TransferWithdraw, From: john, To: agent.Number, Amount: 200_00})
	// The merchant kinds, as the wallet's merchant services post them.
	transfer(wallet.TransferRequest{Kind: wallet.TransferPayout, From: till.Number, To: jane, Amount: 100_00})
	transfer(wallet.TransferRequest{Kind: wallet.TransferRefund, From: till.Number, Reference: paid.Transfer.Ref, Amount: 50_00})
	transfer(wallet.TransferRequest{Kind: wallet.TransferHold, From: john, Reference: "tab_prepaid", Amount: 40_00})
	transfer(wallet.TransferRequest{Kind: wallet.TransferSettle, From: john, To: till.Number, Reference: "tab_postpaid", Amount: 10_00,
		Splits: []wallet.Share{{To: till.Number, Weight: 70}, {To: bill.Number, Weight: 30}}})
	transfer(wallet.TransferRequest{Kind: wallet.TransferSettle, From: wallet.SystemTabs, To: till.Number, Reference: "tab_prepaid", Amount: 25_00})
	transfer(wallet.TransferRequest{Kind: wallet.TransferRelease, To: john, Reference: "tab_prepaid", Amount: 15_00})

	var events []wallet.Event
	for {
		n, err := st.Relay(ctx, 100, func(obs []wallet.OutboxEvent) error {
			for _, o := range obs {
				var ev wallet.Event
				if err := json.Unmarshal(o.Payload, &ev); err != nil {
					return err
				}
				events = append(events, ev)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	want := map[string][]string{ // phone:language, in Receipts' order
		"float":               {agentPhone + ":en"},
		"deposit":             {agentPhone + ":en", john + ":sw"},
		"send":                {john + ":sw", jane + ":fr"},
		"reversal":            {john + ":sw", jane + ":fr"},
		"airtime":             {john + ":sw"},
		"till":                {john + ":sw", "+254733000002:en"},
		"paybill":             {john + ":sw", "+254733000003:en"},
		"withdraw":            {john + ":sw", agentPhone + ":en"},
		"payout":              {jane + ":fr"},
		"refund":              {john + ":sw"},
		"hold":                {john + ":sw"},
		"settle:tab_postpaid": {john + ":sw"},
		"settle:tab_prepaid":  nil, // the money left at the hold
		"release":             {john + ":sw"},
	}
	// The merchants' webhooks of the same events: merchant:type.
	wantHooks := map[string][]string{
		"till":                {till.Number + ":payment.received"},
		"paybill":             {bill.Number + ":payment.received"},
		"payout":              {till.Number + ":payout.paid"},
		"refund":              {till.Number + ":refund.completed"},
		"settle:tab_postpaid": {till.Number + ":payment.received", bill.Number + ":payment.received"},
		"settle:tab_prepaid":  {till.Number + ":payment.received"},
	}
	c := catalog(t)
	var kinds []string
	for _, ev := range events {
		k := string(ev.Transfer.Kind)
		if ev.Transfer.Kind == wallet.TransferSettle {
			k += ":" + ev.Transfer.Reference
		}
		kinds = append(kinds, k)
		rs := Receipts(c, kes, nairobi, ev)
		var got []string
		for _, r := range rs {
			got = append(got, r.To+":"+r.Language)
			checkSMS(t, k, r)
			t.Logf("%-8s %s %s", k, r.To, r.Text)
		}
		if !slices.Equal(got, want[k]) {
			t.Errorf("%s: receipts to %v, want %v", k, got, want[k])
		}
		var hooks []string
		for _, e := range TransferEvents(kes, ev) {
			hooks = append(hooks, e.Merchant+":"+string(e.Type))
		}
		slices.Sort(hooks)
		slices.Sort(wantHooks[k])
		if !slices.Equal(hooks, wantHooks[k]) {
			t.Errorf("%s: webhooks %v, want %v", k, hooks, wantHooks[k])
		}
		if ev.Transfer.Kind == wallet.TransferRefund {
			var tx merchant.TransactionView
			json.Unmarshal(TransferEvents(kes, ev)[0].Data, &tx)
			if tx.Refunds != paid.Transfer.Ref || tx.Amount != "50.00" || tx.Counterparty != john {
				t.Errorf("the refund as the merchant sees it: %+v", tx)
			}
			if len(rs) == 0 || !strings.Contains(rs[0].Text, paid.Transfer.Ref) {
				t.Errorf("the refund's receipt %+v does not name the payment %s", rs, paid.Transfer.Ref)
			}
		}
		if ev.Transfer.Kind == wallet.TransferReversal {
			// The original sender hears whom it had paid, by the original's ref.
			if w := "Muamala " + send.Transfer.Ref + " kwa JANE DOE " + jane; len(rs) == 0 || !strings.Contains(rs[0].Text, w) {
				t.Errorf("reversal receipts %+v; want the first to contain %q", rs, w)
			}
		}
	}
	if len(kinds) != len(want) {
		t.Errorf("events of kinds %v, want one of each of %d", kinds, len(want))
	}
}

// TestReceiptsSettle checks the settlements' receipts: none for a prepaid
// tab's (from the tabs account), and the payee credited the most named
// when the tab's merchant took no share of a split.
func TestReceiptsSettle(t *testing.T) {
	c := catalog(t)
	if got := Receipts(c, kes, nairobi, prepaidSettle("en")); len(got) != 0 {
		t.Errorf("a prepaid settlement: %d receipts, want none: %+v", len(got), got)
	}
	l := newLedger("en")
	ev := l.legs("QM1A2B3DG7", wallet.TransferSettle, johnID, tillID, 10_00, 0, "tab_x", at("20:00"),
		map[int64]int64{kplcID: 7_00, waterID: 3_00})
	got := Receipts(c, kes, nairobi, ev)
	want := "QM1A2B3DG7 Confirmed. KES 10.00 paid to KPLC PREPAID for your tab on 21/11/26 at 20:00. New balance KES -10.00."
	if len(got) != 1 || got[0].Text != want {
		t.Errorf("a split without the tab's merchant: %+v\nwant one receipt %q", got, want)
	}
}

// TestPrompt words the prompts of payment requests and tabs in every
// language: the key, the phone and language, the expiry on the day or
// another, the cap rounded up, clipping; and none for other events, an error
// for one it cannot word.
func TestPrompt(t *testing.T) {
	c := catalog(t)
	created := at("14:00")
	request := merchant.PaymentRequest{ID: "pr_1", Merchant: "445566", MerchantName: "Duka la Awa", Phone: "+254722000001",
		Amount: 150_00, Reference: "INV-1", Status: merchant.RequestPending, Created: created, Expires: created.Add(5 * time.Minute)}
	tab := merchant.Tab{ID: "tab_1", Merchant: "445566", MerchantName: "News Daily", Phone: "+254722000001",
		Cap: kes.Micro(50_00) + 25, Status: merchant.TabPending, Created: created,
		Expires: time.Date(2026, 12, 21, 20, 59, 0, 0, time.UTC)}
	prepaid := tab
	prepaid.Prepaid, prepaid.Cap = true, kes.Micro(50_00)
	longRef := request
	longRef.Reference, longRef.MerchantName = "INVOICE-2026-000000000123456", "Wanjirũ Nyambura-Odhiambo Kamaû wa Njoroge"
	event := func(typ merchant.EventType, obj any, lang string) merchant.OutboxEvent {
		data, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		return merchant.OutboxEvent{Event: merchant.Event{ID: "evt_" + string(typ), Type: typ, Merchant: "445566",
			Created: created, Data: data}, Phone: "+254722000001", Language: lang}
	}
	tests := []struct {
		name string
		ev   merchant.OutboxEvent
		lang string
		want string
	}{
		{"request en", event(merchant.EventRequestCreated, request, "en"), "en",
			"Duka la Awa asks you to pay KES 150.00 for INV-1. Reply with your PIN to pay or NO and your PIN to decline, or dial *384# and choose 6 Approvals. Expires 14:05."},
		{"request sw-KE", event(merchant.EventRequestCreated, request, "sw-KE"), "sw",
			"Duka la Awa anakuomba ulipe KES 150.00 kwa INV-1. Jibu kwa PIN kulipa au HAPANA na PIN kukataa, au piga *384# uchague 6 Idhini. Inaisha 14:05."},
		{"request fr", event(merchant.EventRequestCreated, request, "fr"), "fr",
			"Duka la Awa vous demande de payer 150,00 KES pour INV-1. Envoyez votre PIN pour payer ou NON suivi du PIN pour refuser, ou composez le *384# et choisissez 6 Approbations. Valable jusqu'à 14:05."},
		{"request, no language", event(merchant.EventRequestCreated, request, ""), "en",
			"Duka la Awa asks you to pay KES 150.00 for INV-1. Reply with your PIN to pay or NO and your PIN to decline, or dial *384# and choose 6 Approvals. Expires 14:05."},
		{"request, clipped", event(merchant.EventRequestCreated, longRef, "en"), "en",
			"Wanjiru Nyambura-Odhiambo Kama asks you to pay KES 150.00 for INVOICE-2026-0000000. Reply with your PIN to pay or NO and your PIN to decline, or dial *384# and choose 6 Approvals. Expires 14:05."},
		// The cap is rounded up to whole cents; the tab ends on another day.
		{"tab en", event(merchant.EventTabCreated, tab, "en"), "en",
			"News Daily asks to open a tab of up to KES 50.01 until 21/12/26 23:59, paid from your account as you use it. Reply with your PIN to approve or NO and your PIN to decline, or dial *384# and choose 6 Approvals."},
		{"tab sw", event(merchant.EventTabCreated, tab, "sw"), "sw",
			"News Daily anaomba kufungua tab ya hadi KES 50.01 mpaka 21/12/26 23:59, inayolipwa kutoka akaunti yako unapoitumia. Jibu kwa PIN kukubali au HAPANA na PIN kukataa, au piga *384# uchague 6 Idhini."},
		{"prepaid tab fr", event(merchant.EventTabCreated, prepaid, "fr"), "fr",
			"News Daily demande à ouvrir une ardoise prépayée de 50,00 KES jusqu'à 21/12/26 23:59 : 50,00 KES est réservé maintenant, le reste vous revient. Envoyez votre PIN pour accepter ou NON suivi du PIN pour refuser, ou composez le *384# et choisissez 6 Approbations."},
		{"prepaid tab en", event(merchant.EventTabCreated, prepaid, "en"), "en",
			"News Daily asks to open a prepaid tab of KES 50.00 until 21/12/26 23:59: KES 50.00 is set aside now, the rest comes back. Reply with your PIN to approve or NO and your PIN to decline, or dial *384# and choose 6 Approvals."},
	}
	for _, tt := range tests {
		got, err := Prompt(c, kes, nairobi, "*384#", tt.ev)
		if err != nil || got == nil {
			t.Errorf("%s: %+v, %v", tt.name, got, err)
			continue
		}
		if got.Text != tt.want || got.Key != "prompt:"+tt.ev.ID || got.To != tt.ev.Phone || got.Language != tt.lang || got.Kind != KindMessage {
			t.Errorf("%s:\ngot  %+v\nwant %q to %s in %s", tt.name, got, tt.want, tt.ev.Phone, tt.lang)
		}
		if enc, parts := locales.Segments(got.Text); enc != locales.GSM7 || parts > 2 {
			t.Errorf("%s: %s in %d parts", tt.name, enc, parts)
		}
	}

	none := []merchant.OutboxEvent{
		event(merchant.EventRequestPaid, request, "en"),
		event(merchant.EventTabApproved, tab, "en"),
		event(merchant.EventPayoutFailed, merchant.Payout{}, "en"),
	}
	for _, ev := range none {
		if got, err := Prompt(c, kes, nairobi, "*384#", ev); got != nil || err != nil {
			t.Errorf("%s: %+v, %v; want no prompt", ev.Type, got, err)
		}
	}
	noPhone := event(merchant.EventRequestCreated, request, "en")
	noPhone.Phone = ""
	zero := request
	zero.Amount = 0
	garbled := event(merchant.EventTabCreated, tab, "en")
	garbled.Data = json.RawMessage(`{"cap": "lots"}`)
	for name, ev := range map[string]merchant.OutboxEvent{
		"no phone": noPhone, "zero amount": event(merchant.EventRequestCreated, zero, "en"), "garbled": garbled,
	} {
		if got, err := Prompt(c, kes, nairobi, "*384#", ev); got != nil || err == nil {
			t.Errorf("%s: %+v, %v; want an error", name, got, err)
		}
	}
}
