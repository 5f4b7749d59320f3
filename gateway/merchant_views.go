package gateway

import (
	"time"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/wallet/commerce"
)

// The merchant API's answers: the wallet's objects with amounts as decimal
// strings in major units ("150.00"; metered amounts with up to 6 decimals,
// "0.0025") and the currency beside them. A field without omitempty is
// always present; the doc tags describe them in the OpenAPI document.

// paymentRequestView is a payment request.
type paymentRequestView struct {
	ID           string    `json:"id" example:"pr_0f1k3c9r2d5b8a7e6h4j3k2m1n"`
	Merchant     string    `json:"merchant" doc:"the till or paybill number"`
	MerchantName string    `json:"merchant_name"`
	Phone        string    `json:"phone" doc:"the customer's, E.164"`
	Amount       string    `json:"amount" example:"150.00"`
	Currency     string    `json:"currency" example:"KES"`
	Reference    string    `json:"reference"`
	Description  string    `json:"description,omitempty"`
	Status       string    `json:"status" enum:"pending,paid,declined,expired,failed"`
	Reason       string    `json:"reason,omitempty" doc:"why it failed: an error code"`
	Transaction  string    `json:"transaction,omitempty" doc:"the payment's transaction id, once paid"`
	Created      time.Time `json:"created"`
	Expires      time.Time `json:"expires"`
	Updated      time.Time `json:"updated"`
}

func (m *merchant) paymentRequestView(pr *commerce.PaymentRequest) paymentRequestView {
	return paymentRequestView{
		ID: pr.ID, Merchant: pr.Merchant, MerchantName: pr.MerchantName, Phone: pr.Phone,
		Amount: m.cur.FormatAmount(pr.Amount), Currency: m.cur.Code, Reference: pr.Reference, Description: pr.Description,
		Status: string(pr.Status), Reason: pr.Reason, Transaction: pr.Transaction,
		Created: pr.Created.UTC(), Expires: pr.Expires.UTC(), Updated: pr.Updated.UTC(),
	}
}

// transactionView is a transfer as the merchant sees it.
type transactionView struct {
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

func (m *merchant) transactionView(tx *commerce.Transaction) transactionView {
	v := transactionView{
		ID: tx.ID, Kind: string(tx.Kind), Direction: tx.Direction, Amount: m.cur.FormatAmount(tx.Amount),
		Fee: m.cur.FormatAmount(tx.Fee), Net: m.cur.FormatAmount(tx.Net), Currency: m.cur.Code,
		Counterparty: tx.Counterparty, Name: tx.Name, Reference: tx.Reference, Refunds: tx.Refunds, Created: tx.Created.UTC(),
	}
	if tx.Refunded != 0 {
		v.Refunded = m.cur.FormatAmount(tx.Refunded)
	}
	return v
}

// transactionsPage is a page of transactions.
type transactionsPage struct {
	Transactions []transactionView `json:"transactions"`
	Next         string            `json:"next,omitempty" doc:"the next page's cursor; absent on the last page"`
}

// payoutView is a payout.
type payoutView struct {
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

func (m *merchant) payoutView(po *commerce.Payout) payoutView {
	return payoutView{
		ID: po.ID, Merchant: po.Merchant, Phone: po.Phone, Amount: m.cur.FormatAmount(po.Amount), Fee: m.cur.FormatAmount(po.Fee),
		Currency: m.cur.Code, Reference: po.Reference, Status: string(po.Status), Reason: po.Reason, Message: po.Message,
		Transaction: po.Transaction, Batch: po.Batch, Line: po.Line, Created: po.Created.UTC(), Updated: po.Updated.UTC(),
	}
}

// bulkPayoutView is a bulk payout.
type bulkPayoutView struct {
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
	Results    []payoutView `json:"results,omitempty" doc:"per row, in line order"`
}

func (m *merchant) bulkPayoutView(b *commerce.BulkPayout) bulkPayoutView {
	v := bulkPayoutView{
		ID: b.ID, Merchant: b.Merchant, Status: string(b.Status), Rows: b.Rows, Done: b.Done, Paid: b.Paid, Failed: b.Failed,
		Amount: m.cur.FormatAmount(b.Amount), PaidAmount: m.cur.FormatAmount(b.PaidOut), Currency: m.cur.Code, Created: b.Created.UTC(),
	}
	if b.Finished != nil {
		f := b.Finished.UTC()
		v.Finished = &f
	}
	for i := range b.Results {
		v.Results = append(v.Results, m.payoutView(&b.Results[i]))
	}
	return v
}

// tabView is a tab.
type tabView struct {
	ID           string    `json:"id" example:"tab_0f1k3c9r2d5b8a7e6h4j3k2m1n"`
	Merchant     string    `json:"merchant"`
	MerchantName string    `json:"merchant_name"`
	Phone        string    `json:"phone"`
	Prepaid      bool      `json:"prepaid"`
	Reference    string    `json:"reference,omitempty"`
	Description  string    `json:"description,omitempty"`
	Cap          string    `json:"cap" example:"500.00"`
	Charged      string    `json:"charged" doc:"every charge so far" example:"12.3475"`
	Settled      string    `json:"settled" doc:"moved to the ledger, in whole minor units" example:"12.34"`
	Remaining    string    `json:"remaining" doc:"what the cap leaves" example:"487.6525"`
	Currency     string    `json:"currency" example:"KES"`
	Status       string    `json:"status" enum:"pending,active,suspended,closed,declined"`
	Reason       string    `json:"reason,omitempty" doc:"why it is suspended or declined"`
	Created      time.Time `json:"created"`
	Expires      time.Time `json:"expires"`
	Updated      time.Time `json:"updated"`
}

func (m *merchant) tabView(t *commerce.Tab) tabView {
	return tabView{
		ID: t.ID, Merchant: t.Merchant, MerchantName: t.MerchantName, Phone: t.Phone, Prepaid: t.Prepaid,
		Reference: t.Reference, Description: t.Description, Cap: m.cur.FormatMicro(t.Cap), Charged: m.cur.FormatMicro(t.Charged),
		Settled: m.cur.FormatMicro(t.Settled), Remaining: m.cur.FormatMicro(t.Cap - t.Charged), Currency: m.cur.Code,
		Status: string(t.Status), Reason: t.Reason, Created: t.Created.UTC(), Expires: t.Expires.UTC(), Updated: t.Updated.UTC(),
	}
}

// chargeView is a charge on a tab.
type chargeView struct {
	ID        string      `json:"id" example:"ch_0f1k3c9r2d5b8a7e6h4j3k2m1n"`
	Tab       string      `json:"tab"`
	Amount    string      `json:"amount" example:"0.0025"`
	Currency  string      `json:"currency" example:"KES"`
	Reference string      `json:"reference,omitempty"`
	Splits    []splitBody `json:"splits,omitempty"`
	Charged   string      `json:"charged" doc:"the tab's total after it"`
	Remaining string      `json:"remaining" doc:"what the cap leaves after it"`
	Created   time.Time   `json:"created"`
}

func (m *merchant) chargeView(ch *commerce.Charge) chargeView {
	v := chargeView{
		ID: ch.ID, Tab: ch.Tab, Amount: m.cur.FormatMicro(ch.Amount), Currency: m.cur.Code, Reference: ch.Reference,
		Charged: m.cur.FormatMicro(ch.Charged), Remaining: m.cur.FormatMicro(ch.Remaining), Created: ch.Created.UTC(),
	}
	for _, s := range ch.Splits {
		v.Splits = append(v.Splits, splitBody(s))
	}
	return v
}

// webhookView is the merchant's webhook endpoint.
type webhookView struct {
	URL     string    `json:"url"`
	Secret  string    `json:"secret,omitempty" doc:"the HMAC-SHA256 key of the signatures: only in the answer that made it"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

func webhookViewOf(ep *notify.Endpoint) webhookView {
	return webhookView{URL: ep.URL, Secret: ep.Secret, Created: ep.Created.UTC(), Updated: ep.Updated.UTC()}
}

// deliveryView is a webhook delivery with its attempts.
type deliveryView struct {
	ID          string        `json:"id" example:"whd_0f1k3c9r2d5b8a7e6h4j3k2m1n"`
	Event       string        `json:"event" doc:"the event's id: the receiver's dedupe key"`
	Type        string        `json:"type" doc:"the event's type" example:"payment_request.paid"`
	Status      string        `json:"status" enum:"pending,delivered,failed"`
	URL         string        `json:"url"`
	Attempts    []attemptView `json:"attempts"`
	NextAttempt *time.Time    `json:"next_attempt,omitempty"`
	Created     time.Time     `json:"created"`
	Delivered   *time.Time    `json:"delivered,omitempty"`
}

// attemptView is one POST of a delivery.
type attemptView struct {
	At         time.Time `json:"at"`
	Status     int       `json:"status,omitempty" doc:"the endpoint's HTTP status; absent when it did not answer"`
	Error      string    `json:"error,omitempty" doc:"why it failed"`
	DurationMS float64   `json:"duration_ms"`
}

func deliveryViewOf(d *notify.Delivery) deliveryView {
	v := deliveryView{
		ID: d.ID, Event: d.Event, Type: string(d.Type), Status: string(d.Status), URL: d.URL,
		Attempts: make([]attemptView, 0, len(d.Attempts)), NextAttempt: utcPtr(d.NextAttempt), Created: d.Created.UTC(),
		Delivered: utcPtr(d.Delivered),
	}
	for _, a := range d.Attempts {
		v.Attempts = append(v.Attempts, attemptView{At: a.At.UTC(), Status: a.Status, Error: a.Error, DurationMS: a.Duration})
	}
	return v
}

// deliveriesPage is a page of deliveries.
type deliveriesPage struct {
	Deliveries []deliveryView `json:"deliveries"`
	Next       string         `json:"next,omitempty" doc:"the next page's cursor; absent on the last page"`
}

// apiKeyView is an API key.
type apiKeyView struct {
	ID       string     `json:"id" example:"kbk_0f1k3c9r2d5b8a7e6h4j3k2m1n"`
	Merchant string     `json:"merchant,omitempty"`
	Operator bool       `json:"operator,omitempty"`
	Scopes   []string   `json:"scopes"`
	Created  time.Time  `json:"created"`
	Revoked  *time.Time `json:"revoked,omitempty"`
	Secret   string     `json:"secret,omitempty" doc:"the whole bearer token: only in the answer that created it"`
}

func apiKeyViewOf(k *commerce.APIKey) apiKeyView {
	v := apiKeyView{ID: k.ID, Merchant: k.Merchant, Operator: k.Operator, Scopes: make([]string, 0, len(k.Scopes)),
		Created: k.Created.UTC(), Revoked: utcPtr(k.Revoked), Secret: k.Secret}
	for _, s := range k.Scopes {
		v.Scopes = append(v.Scopes, string(s))
	}
	return v
}

// apiKeysView is a list of API keys.
type apiKeysView struct {
	Keys []apiKeyView `json:"keys"`
}

// utcPtr returns *t in UTC, or nil.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
