package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
)

// POST /v1/tabs/{id}/charges/batch: up to merchant.BatchChargesMax charges
// on one tab in one request, each with its own idempotency key, which the
// wallet applies in order in one group commit of its meter
// (merchant.Service.ChargeBatch). A single charge costs an HTTP round trip,
// two writes of the Idempotency-Key bucket and a NATS request; a batch
// spreads them over its charges.

const (
	// batchBodyBytesMax bounds a batch of charges' body:
	// merchant.BatchChargesMax of the largest charge (a 64-byte key, a
	// 32-byte reference and 16 split rules, under 2 KB). A thousand clicks
	// with short keys and two split rules each take about 150 KB. Less where
	// NATS's max_payload cannot carry the batch and its answer
	// (chargesLimit).
	batchBodyBytesMax = merchant.BatchChargesMax * (2 << 10)
	// natsBatchOverheadBytes is what the wallet's request may add to a
	// batch's body: per charge, its tab's field and an amount in millionths
	// where the body has decimals; and the API key.
	natsBatchOverheadBytes = merchant.BatchChargesMax*16 + 4<<10
)

// chargesLimit is the largest batch of charges' body whose request to the
// wallet leaves room in a NATS message of payloadMax bytes for the answer
// (merchantapi.TabChargesReplyOverheadBytes): at most batchBodyBytesMax, and
// never below a single charge's limit (the wallet refuses a batch too large
// for its NATS, 400).
func chargesLimit(payloadMax int64) int64 {
	fits := payloadMax - merchantapi.TabChargesReplyOverheadBytes - natsBatchOverheadBytes
	return max(min(fits, batchBodyBytesMax), jsonBodyBytesMax)
}

// chargesBody is POST /v1/tabs/{id}/charges/batch.
type chargesBody struct {
	Charges []batchChargeBody `json:"charges" doc:"1 to 1000 charges on the tab, applied in this order"`
}

// batchChargeBody is one charge of a batch: a charge's body and its own
// idempotency key.
type batchChargeBody struct {
	Key string `json:"key" doc:"the charge's idempotency key, as a single charge's Idempotency-Key: up to 64 printable ASCII characters, unique per charge on the tab" example:"click-88412"`
	chargeBody
}

// requests checks b and returns the wallet's charges, less their tab. A
// malformed charge refuses the whole batch, and the error names it
// (charges[i], from 0).
func (b chargesBody) requests(cur wallet.Currency) ([]merchant.ChargeRequest, error) {
	switch {
	case len(b.Charges) == 0:
		return nil, invalid("charges is empty: send 1 to %d charges", merchant.BatchChargesMax)
	case len(b.Charges) > merchant.BatchChargesMax:
		return nil, invalid("charges holds %d charges: a batch has at most %d", len(b.Charges), merchant.BatchChargesMax)
	}
	out := make([]merchant.ChargeRequest, len(b.Charges))
	for i, c := range b.Charges {
		field := "charges[" + strconv.Itoa(i) + "]"
		if err := checkToken(field+".key", c.Key, idempotencyKeyBytesMax, true); err != nil {
			return nil, err
		}
		r, err := c.request(cur)
		if err != nil {
			return nil, fieldError(field, err)
		}
		r.Key = c.Key
		out[i] = r
	}
	return out, nil
}

// chargesView is the answer to a batch of charges.
type chargesView struct {
	Charges   []chargeResultView `json:"charges" doc:"per charge, in the request's order: the charge, or why it alone was refused"`
	Charged   string             `json:"charged" doc:"the tab's total after the batch" example:"0.0125"`
	Remaining string             `json:"remaining" doc:"what the cap leaves after the batch" example:"499.9875"`
	Currency  string             `json:"currency" example:"KES"`
}

// chargeResultView is one charge's result in a batch: a merchant.ChargeView,
// or a chargeErrorView (oneOf them, in the document).
type chargeResultView struct{ v any }

// MarshalJSON writes the result it holds.
func (r chargeResultView) MarshalJSON() ([]byte, error) { return json.Marshal(r.v) }

// oneOf lists the schemas of a result (openapi.go).
func (chargeResultView) oneOf() []reflect.Type {
	return []reflect.Type{reflect.TypeFor[merchant.ChargeView](), reflect.TypeFor[chargeErrorView]()}
}

// chargeErrorView is a charge of a batch that was refused; the others
// were not.
type chargeErrorView struct {
	Code    wallet.Code  `json:"code" doc:"limit_exceeded (the cap is reached: the later charges are refused unless they fit what is left), conflict (the key was used for another charge), invalid_state (the tab takes no charges), invalid_request (the charge would make the tab pay more than 64 merchants)" example:"limit_exceeded"`
	Message string       `json:"message" doc:"for people: why"`
	Limit   wallet.Limit `json:"limit,omitempty" doc:"with limit_exceeded: tab_cap"`
}

func (m *merchantServer) chargeBatch(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	body, err := readBody(c, bodyBatchJSON, 0)
	if err != nil {
		return err
	}
	var in chargesBody
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	reqs, err := in.requests(m.cur)
	if err != nil {
		return err
	}
	ctx, cancel := call(c)
	defer cancel()
	r, err := merchantapi.NewClient(m.api).ChargeBatch(ctx, apiKeyOf(c), id, reqs)
	if err != nil {
		return err
	}
	if len(r.Results) != len(reqs) {
		return fmt.Errorf("the wallet answered %d results for %d charges", len(r.Results), len(reqs))
	}
	out := chargesView{Charges: make([]chargeResultView, len(r.Results)),
		Charged: m.cur.FormatMicro(r.Charged), Remaining: m.cur.FormatMicro(r.Remaining), Currency: m.cur.Code}
	for i, res := range r.Results {
		switch {
		case res.Err != nil:
			_, e := apiErrorOf(res.Err)
			out.Charges[i].v = chargeErrorView{Code: e.Code, Message: e.Message, Limit: e.Limit}
		case res.Charge != nil:
			out.Charges[i].v = merchant.ViewCharge(m.cur, res.Charge)
		default:
			return fmt.Errorf("the wallet answered charge %d of %d with neither a charge nor an error", i+1, len(reqs))
		}
	}
	return c.JSON(http.StatusOK, out)
}
