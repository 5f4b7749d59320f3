package merchant

import (
	"encoding/json"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

// Views: the objects as a merchant sees them, in the REST API's answers
// (the gateway) and in the data of webhook events (the notifier) alike, so
// that a merchant parses one shape. Amounts are decimal strings in major
// units ("150.00"; metered amounts with up to 6 decimals, "0.0025") with
// the currency beside them; times are UTC, to the microsecond (viewTime).
// A field without omitempty is always present. The doc, enum and example
// tags describe the fields in the gateway's OpenAPI document, which names
// each schema after its type less View (PaymentRequestView is
// PaymentRequest).

// PaymentRequestView is a payment request.
type PaymentRequestView struct {
	ID           string    `json:"id" example:"pr_0f1k3c9r2d5b8a7e6h4j3k2m1n"`
	Merchant     string    `json:"merchant" doc:"the till or paybill number"`
	MerchantName string    `json:"merchant_name"`
	Phone        string    `json:"phone" doc:"the customer's, E.164"`
	Amount       string    `json:"amount" example:"150.00"`
	Currency     string    `json:"currency" example:"KES"`
	Reference    string    `json:"reference"`
	Description  string    `json:"description,omitempty"`
	Status       string    `json:"status" enum:"pending,paid,declined,expired,failed,refunded" doc:"refunded: paid, then refunded in full"`
	Reason       string    `json:"reason,omitempty" doc:"why it failed: an error code"`
	Transaction  string    `json:"transaction,omitempty" doc:"the payment's transaction id, once paid"`
	Refunded     string    `json:"refunded,omitempty" doc:"of the payment: refunded so far"`
	Created      time.Time `json:"created"`
	Expires      time.Time `json:"expires"`
	Updated      time.Time `json:"updated"`
}

// ViewPaymentRequest is pr with its amount in cur.
func ViewPaymentRequest(cur wallet.Currency, pr *PaymentRequest) PaymentRequestView {
	v := PaymentRequestView{
		ID: pr.ID, Merchant: pr.Merchant, MerchantName: pr.MerchantName, Phone: pr.Phone,
		Amount: cur.FormatAmount(pr.Amount), Currency: cur.Code, Reference: pr.Reference, Description: pr.Description,
		Status: string(pr.Status), Reason: pr.Reason, Transaction: pr.Transaction,
		Created: viewTime(pr.Created), Expires: viewTime(pr.Expires), Updated: viewTime(pr.Updated),
	}
	if pr.Refunded != 0 {
		v.Refunded = cur.FormatAmount(pr.Refunded)
	}
	return v
}

// TransactionView is a transfer as the merchant sees it.
type TransactionView struct {
	ID           string    `json:"id" doc:"the transfer's reference" example:"TX7K2M9QPL"`
	Kind         string    `json:"kind" doc:"the transfer's kind: merchant (a till), paybill, refund, payout, settle (a tab) …"`
	Direction    string    `json:"direction" enum:"in,out" doc:"in: paid to the merchant"`
	Amount       string    `json:"amount" doc:"the principal" example:"150.00"`
	Fee          string    `json:"fee" doc:"what the merchant paid in fees" example:"0.75"`
	Net          string    `json:"net" doc:"the change to the merchant's balance (negative for out)" example:"149.25"`
	Currency     string    `json:"currency" example:"KES"`
	Counterparty string    `json:"counterparty,omitempty" doc:"the customer's phone, or the other account's number"`
	Name         string    `json:"name,omitempty" doc:"the counterparty's name"`
	Reference    string    `json:"reference,omitempty"`
	Refunded     string    `json:"refunded,omitempty" doc:"of a payment: refunded so far"`
	Refunds      string    `json:"refunds,omitempty" doc:"of a refund: the payment it refunds"`
	Created      time.Time `json:"created"`
}

// ViewTransaction is tx with its amounts in cur.
func ViewTransaction(cur wallet.Currency, tx *Transaction) TransactionView {
	v := TransactionView{
		ID: tx.ID, Kind: string(tx.Kind), Direction: tx.Direction, Amount: cur.FormatAmount(tx.Amount),
		Fee: cur.FormatAmount(tx.Fee), Net: cur.FormatAmount(tx.Net), Currency: cur.Code,
		Counterparty: tx.Counterparty, Name: tx.Name, Reference: tx.Reference, Refunds: tx.Refunds, Created: viewTime(tx.Created),
	}
	if tx.Refunded != 0 {
		v.Refunded = cur.FormatAmount(tx.Refunded)
	}
	return v
}

// TransactionOf is the transfer of ev as merchant m (one of ev's parties)
// sees it, by the rules Service.Transaction answers with: the principal
// that reached or left m, the fees m paid, the change to m's balance
// (net), and the other side of the principal (the source of money in,
// the target of money out) as the counterparty. Refunded is left 0: at
// the transfer's event nothing has refunded it yet.
func TransactionOf(ev wallet.Event, m wallet.Party) Transaction {
	tx, other := merchantSide(&ev.Transfer, m.ID)
	for _, p := range ev.Parties {
		if p.ID == other && other != m.ID {
			tx.Counterparty, tx.Name = p.Number, p.Name
			break
		}
	}
	return tx
}

// merchantSide is transfer t as the merchant with account mid sees it,
// less the counterparty's number and name: other is the counterparty's
// account (mid itself when there is none).
func merchantSide(t *wallet.Transfer, mid int64) (tx Transaction, other int64) {
	tx = Transaction{ID: t.Ref, Kind: t.Kind, Reference: t.Reference, Created: t.Created}
	var principal int64
	for _, q := range t.Postings {
		if q.AccountID != mid {
			continue
		}
		tx.Net += q.Amount
		switch q.Leg {
		case wallet.LegPrincipal:
			principal += q.Amount
		case wallet.LegFee:
			tx.Fee -= q.Amount
		}
	}
	other = t.Source
	tx.Direction, tx.Amount = "in", principal
	if principal < 0 || principal == 0 && tx.Net < 0 {
		tx.Direction, tx.Amount, other = "out", -principal, t.Target
	}
	if other == mid { // a merchant paying itself is refused by the wallet; a split may name the payer
		other = t.Source
	}
	if t.Kind == wallet.TransferRefund {
		tx.Refunds = t.Reference
	}
	return tx, other
}

// PayoutView is a payout.
type PayoutView struct {
	ID          string    `json:"id" example:"po_0f1k3c9r2d5b8a7e6h4j3k2m1n"`
	Merchant    string    `json:"merchant"`
	Phone       string    `json:"phone"`
	Amount      string    `json:"amount" example:"1000.00"`
	Fee         string    `json:"fee" example:"15.00"`
	Currency    string    `json:"currency" example:"KES"`
	Reference   string    `json:"reference,omitempty"`
	Status      string    `json:"status" enum:"pending,paid,failed"`
	Reason      string    `json:"reason,omitempty" doc:"why it failed: an error code"`
	Message     string    `json:"message,omitempty" doc:"why it failed, for people"`
	Transaction string    `json:"transaction,omitempty" doc:"the transfer's reference, once paid"`
	Batch       string    `json:"batch,omitempty" doc:"the bulk payout it is a row of"`
	Line        int       `json:"line,omitempty" doc:"its line in the bulk payout's file"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
}

// ViewPayout is po with its amounts in cur.
func ViewPayout(cur wallet.Currency, po *Payout) PayoutView {
	return PayoutView{
		ID: po.ID, Merchant: po.Merchant, Phone: po.Phone, Amount: cur.FormatAmount(po.Amount), Fee: cur.FormatAmount(po.Fee),
		Currency: cur.Code, Reference: po.Reference, Status: string(po.Status), Reason: po.Reason, Message: po.Message,
		Transaction: po.Transaction, Batch: po.Batch, Line: po.Line, Created: viewTime(po.Created), Updated: viewTime(po.Updated),
	}
}

// BulkPayoutView is a bulk payout.
type BulkPayoutView struct {
	ID         string       `json:"id" example:"pb_0f1k3c9r2d5b8a7e6h4j3k2m1n"`
	Merchant   string       `json:"merchant"`
	Status     string       `json:"status" enum:"processing,done"`
	Rows       int          `json:"rows"`
	Done       int          `json:"done" doc:"rows paid or failed so far"`
	Paid       int          `json:"paid"`
	Failed     int          `json:"failed"`
	Amount     string       `json:"amount" doc:"the sum of the rows"`
	PaidAmount string       `json:"paid_amount" doc:"the sum of the rows paid"`
	Currency   string       `json:"currency" example:"KES"`
	Created    time.Time    `json:"created"`
	Finished   *time.Time   `json:"finished,omitempty"`
	Results    []PayoutView `json:"results,omitempty" doc:"per row, in line order; not in the payout_batch.done event (GET the bulk payout for them)"`
}

// ViewBulkPayout is b with its amounts in cur.
func ViewBulkPayout(cur wallet.Currency, b *BulkPayout) BulkPayoutView {
	v := BulkPayoutView{
		ID: b.ID, Merchant: b.Merchant, Status: string(b.Status), Rows: b.Rows, Done: b.Done, Paid: b.Paid, Failed: b.Failed,
		Amount: cur.FormatAmount(b.Amount), PaidAmount: cur.FormatAmount(b.PaidOut), Currency: cur.Code, Created: viewTime(b.Created),
	}
	if b.Finished != nil {
		f := viewTime(*b.Finished)
		v.Finished = &f
	}
	for i := range b.Results {
		v.Results = append(v.Results, ViewPayout(cur, &b.Results[i]))
	}
	return v
}

// TabView is a tab; in a tab.settled or tab.suspended event, with the
// settlement that was posted or refused.
type TabView struct {
	ID           string          `json:"id" example:"tab_0f1k3c9r2d5b8a7e6h4j3k2m1n"`
	Merchant     string          `json:"merchant"`
	MerchantName string          `json:"merchant_name"`
	Phone        string          `json:"phone"`
	Prepaid      bool            `json:"prepaid"`
	Reference    string          `json:"reference,omitempty"`
	Description  string          `json:"description,omitempty"`
	Cap          string          `json:"cap" example:"500.00"`
	Charged      string          `json:"charged" doc:"every charge so far" example:"12.3475"`
	Settled      string          `json:"settled" doc:"moved to the ledger, in whole minor units" example:"12.34"`
	Remaining    string          `json:"remaining" doc:"what the cap leaves" example:"487.6525"`
	Currency     string          `json:"currency" example:"KES"`
	Status       string          `json:"status" enum:"pending,active,suspended,closed,declined"`
	Reason       string          `json:"reason,omitempty" doc:"why it is suspended or declined"`
	Created      time.Time       `json:"created"`
	Expires      time.Time       `json:"expires"`
	Updated      time.Time       `json:"updated"`
	Settlement   *SettlementView `json:"settlement,omitempty" doc:"only in the tab.settled and tab.suspended events: the settlement posted, or refused"`
}

// ViewTab is t with its amounts in cur.
func ViewTab(cur wallet.Currency, t *Tab) TabView {
	return TabView{
		ID: t.ID, Merchant: t.Merchant, MerchantName: t.MerchantName, Phone: t.Phone, Prepaid: t.Prepaid,
		Reference: t.Reference, Description: t.Description, Cap: cur.FormatMicro(t.Cap), Charged: cur.FormatMicro(t.Charged),
		Settled: cur.FormatMicro(t.Settled), Remaining: cur.FormatMicro(t.Cap - t.Charged), Currency: cur.Code,
		Status: string(t.Status), Reason: t.Reason, Created: viewTime(t.Created), Expires: viewTime(t.Expires), Updated: viewTime(t.Updated),
	}
}

// ViewTabEvent is the data of a tab event: the tab, with its settlement
// when it has one.
func ViewTabEvent(cur wallet.Currency, ev *TabEvent) TabView {
	v := ViewTab(cur, &ev.Tab)
	if ev.Settlement != nil {
		s := ViewSettlement(cur, ev.Settlement)
		v.Settlement = &s
	}
	return v
}

// SettlementView is one settlement of a tab: whole minor units moved to
// the ledger as one transfer.
type SettlementView struct {
	Seq         int                   `json:"seq" doc:"the tab's settlements are numbered from 1"`
	Amount      string                `json:"amount" doc:"whole minor units, from the customer (from the prepaid load, for a prepaid tab)" example:"12.34"`
	Fee         string                `json:"fee" doc:"the ledger's settlement fee, paid by the payees" example:"0.00"`
	Currency    string                `json:"currency" example:"KES"`
	Source      string                `json:"source" doc:"the customer's phone, or the tabs account for a prepaid tab"`
	Shares      []SettlementShareView `json:"shares" doc:"per payee (the tab's merchant, and those of the charges' splits)"`
	Status      string                `json:"status" enum:"pending,done,failed" doc:"done: posted; failed: refused (reason), the amount back to unsettled"`
	Reason      string                `json:"reason,omitempty" doc:"why it was refused: an error code"`
	Transaction string                `json:"transaction,omitempty" doc:"the settle transfer's id, once posted"`
	Created     time.Time             `json:"created"`
	Updated     time.Time             `json:"updated"`
}

// SettlementShareView is one payee's part of a settlement.
type SettlementShareView struct {
	Merchant string `json:"merchant" doc:"the till or paybill number"`
	Weight   string `json:"weight" doc:"what the payee had unsettled, its weight in the split of the amount" example:"8.6425"`
	Gross    string `json:"gross" doc:"its share of the amount before the fee (largest remainder)" example:"8.64"`
}

// ViewSettlement is st with its amounts in cur.
func ViewSettlement(cur wallet.Currency, st *Settlement) SettlementView {
	v := SettlementView{
		Seq: st.Seq, Amount: cur.FormatAmount(st.Amount), Fee: cur.FormatAmount(st.Fee), Currency: cur.Code, Source: st.Source,
		Shares: make([]SettlementShareView, 0, len(st.Shares)), Status: string(st.Status), Reason: st.Reason,
		Transaction: st.Transfer, Created: viewTime(st.Created), Updated: viewTime(st.Updated),
	}
	for _, sh := range st.Shares {
		v.Shares = append(v.Shares, SettlementShareView{Merchant: sh.Merchant, Weight: cur.FormatMicro(sh.Weight), Gross: cur.FormatAmount(sh.Gross)})
	}
	return v
}

// ChargeView is a charge on a tab.
type ChargeView struct {
	ID        string      `json:"id" example:"ch_0f1k3c9r2d5b8a7e6h4j3k2m1n"`
	Tab       string      `json:"tab"`
	Amount    string      `json:"amount" example:"0.0025"`
	Currency  string      `json:"currency" example:"KES"`
	Reference string      `json:"reference,omitempty"`
	Splits    []SplitView `json:"splits,omitempty"`
	Charged   string      `json:"charged" doc:"the tab's total after it"`
	Remaining string      `json:"remaining" doc:"what the cap leaves after it"`
	Created   time.Time   `json:"created"`
	Replayed  bool        `json:"replayed,omitempty" doc:"its key was used before (in a batch, or a request with another Idempotency-Key): this is the charge it made then"`
}

// SplitView is one split rule of a charge.
type SplitView struct {
	To     string `json:"to" doc:"the till or paybill number that gets this part" example:"123456"`
	Weight int64  `json:"weight" doc:"its weight: a percentage, or any positive integers" example:"70"`
}

// ViewCharge is ch with its amounts in cur.
func ViewCharge(cur wallet.Currency, ch *Charge) ChargeView {
	v := ChargeView{
		ID: ch.ID, Tab: ch.Tab, Amount: cur.FormatMicro(ch.Amount), Currency: cur.Code, Reference: ch.Reference,
		Charged: cur.FormatMicro(ch.Charged), Remaining: cur.FormatMicro(ch.Remaining), Created: viewTime(ch.Created),
		Replayed: ch.Replayed,
	}
	for _, s := range ch.Splits {
		v.Splits = append(v.Splits, SplitView(s))
	}
	return v
}

// EventTypes lists every merchant event type, as the API documents them.
var EventTypes = []EventType{
	EventPaymentReceived, EventRefund, EventPayoutPaid, EventPayoutFailed, EventBatchDone,
	EventRequestCreated, EventRequestPaid, EventRequestDeclined, EventRequestExpired, EventRequestFailed,
	EventTabCreated, EventTabApproved, EventTabDeclined, EventTabSettled, EventTabSuspended, EventTabClosed,
}

// EventView returns the zero value of the view the data of an event of
// type typ is (TransactionView{}, PayoutView{}, BulkPayoutView{},
// PaymentRequestView{} or TabView{}), and false for a type this package
// does not know.
func EventView(typ EventType) (view any, ok bool) {
	switch typ {
	case EventPaymentReceived, EventRefund, EventPayoutPaid:
		return TransactionView{}, true
	case EventPayoutFailed:
		return PayoutView{}, true
	case EventBatchDone:
		return BulkPayoutView{}, true
	case EventRequestCreated, EventRequestPaid, EventRequestDeclined, EventRequestExpired, EventRequestFailed:
		return PaymentRequestView{}, true
	case EventTabCreated, EventTabApproved, EventTabDeclined, EventTabSettled, EventTabSuspended, EventTabClosed:
		return TabView{}, true
	}
	return nil, false
}

// ViewEventData turns the data of a merchant event of type typ, as the
// wallet stores it (Event.Data: a Transaction, Payout, BulkPayout,
// PaymentRequest or TabEvent, amounts in minor units and Micro), into its
// view (EventView), the JSON the REST API answers for the same object.
// Errors, a *wallet.Error with CodeInvalid: a type this package does not
// know, data that is not the type's object, or an object without an id.
func ViewEventData(cur wallet.Currency, typ EventType, data json.RawMessage) (json.RawMessage, error) {
	view, err := viewEvent(cur, typ, data)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(view)
	if err != nil {
		panic("merchant: an event view: " + err.Error()) // strings, ints and times: cannot fail
	}
	return out, nil
}

// viewEvent decodes data as typ's stored object and returns its view.
func viewEvent(cur wallet.Currency, typ EventType, data json.RawMessage) (any, error) {
	switch zero, _ := EventView(typ); zero.(type) {
	case TransactionView:
		var tx Transaction
		if err := decodeEventData(typ, data, "a transaction", &tx, &tx.ID); err != nil {
			return nil, err
		}
		return ViewTransaction(cur, &tx), nil
	case PayoutView:
		var po Payout
		if err := decodeEventData(typ, data, "a payout", &po, &po.ID); err != nil {
			return nil, err
		}
		return ViewPayout(cur, &po), nil
	case BulkPayoutView:
		var b BulkPayout
		if err := decodeEventData(typ, data, "a bulk payout", &b, &b.ID); err != nil {
			return nil, err
		}
		return ViewBulkPayout(cur, &b), nil
	case PaymentRequestView:
		var pr PaymentRequest
		if err := decodeEventData(typ, data, "a payment request", &pr, &pr.ID); err != nil {
			return nil, err
		}
		return ViewPaymentRequest(cur, &pr), nil
	case TabView:
		var te TabEvent
		if err := decodeEventData(typ, data, "a tab", &te, &te.ID); err != nil {
			return nil, err
		}
		return ViewTabEvent(cur, &te), nil
	}
	return nil, wallet.Errorf(wallet.CodeInvalid, "no view of the event type %q", clip(string(typ)))
}

// decodeEventData decodes data into obj, what an event of type typ holds,
// and checks that it has an id.
func decodeEventData(typ EventType, data json.RawMessage, what string, obj any, id *string) error {
	if err := json.Unmarshal(data, obj); err != nil {
		return wallet.Errorf(wallet.CodeInvalid, "the data of a %s event is not %s: %v", typ, what, err)
	}
	if *id == "" {
		return wallet.Errorf(wallet.CodeInvalid, "the data of a %s event is %s without an id", typ, what)
	}
	return nil
}

// viewTime is t as views write it: in UTC, to the microsecond, what both
// databases keep (PostgreSQL truncates the nanoseconds SQLite and the
// events' JSON keep), so that an object's view is the same whether it was
// read back from the database (the REST API) or came in an event (webhooks).
func viewTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
