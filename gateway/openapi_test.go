package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/notify"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsapi/natstest"
)

var updateOpenAPI = flag.Bool("update", false, "rewrite gateway/openapi.json from the route table")

// openAPIDoc checks answers against an OpenAPI document: a small checker
// of what the document uses (types, required and documented properties,
// enums, date-times, $refs), not a general validator.
type openAPIDoc struct {
	raw map[string]any
	mu  sync.Mutex
	// checked records each operation and status an answer was checked
	// against: "GET /v1/tabs/{id} 200".
	checked map[string]bool
}

func parseOpenAPIDoc(data []byte) (*openAPIDoc, error) {
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is not JSON: %w", err)
	}
	if _, ok := raw["paths"].(map[string]any); !ok {
		return nil, fmt.Errorf("the OpenAPI document has no paths")
	}
	return &openAPIDoc{raw: raw, checked: map[string]bool{}}, nil
}

// template returns the documented path that path is an instance of:
// the one with the most literal segments.
func (d *openAPIDoc) template(method, path string) (string, map[string]any) {
	segs := strings.Split(path, "/")
	best, bestLiterals := "", -1
	var bestOp map[string]any
	for tmpl, item := range d.raw["paths"].(map[string]any) {
		op, ok := item.(map[string]any)[strings.ToLower(method)].(map[string]any)
		if !ok {
			continue
		}
		ts := strings.Split(tmpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		literals := 0
		match := true
		for i := range ts {
			switch {
			case strings.HasPrefix(ts[i], "{"):
			case ts[i] == segs[i]:
				literals++
			default:
				match = false
			}
		}
		if match && literals > bestLiterals {
			best, bestLiterals, bestOp = tmpl, literals, op
		}
	}
	return best, bestOp
}

// check checks an answer to method path: its status is documented for the
// operation and its body fits the status's schema. An answer to a path
// no operation has must be an error of the Error schema.
func (d *openAPIDoc) check(method, path string, status int, contentType string, body []byte) error {
	tmpl, op := d.template(method, path)
	var resp map[string]any
	if op == nil {
		if status < 400 {
			return fmt.Errorf("no operation %s %s in the document", method, path)
		}
		resp = d.resolve(map[string]any{"$ref": "#/components/responses/" + strconv.Itoa(status)})
		if resp == nil {
			resp = d.resolve(map[string]any{"$ref": "#/components/responses/400"})
			resp = map[string]any{"content": resp["content"]}
		}
	} else {
		r, ok := op["responses"].(map[string]any)[strconv.Itoa(status)].(map[string]any)
		if !ok {
			return fmt.Errorf("status %d is not documented for %s %s", status, method, tmpl)
		}
		resp = d.resolve(r)
		d.mu.Lock()
		d.checked[method+" "+tmpl+" "+strconv.Itoa(status)] = true
		d.mu.Unlock()
	}
	content, _ := resp["content"].(map[string]any)
	if !strings.HasPrefix(contentType, "application/json") {
		return fmt.Errorf("content type %q, want application/json", contentType)
	}
	media, ok := content["application/json"].(map[string]any)
	if !ok {
		return fmt.Errorf("no application/json schema documented")
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("the body is not JSON: %w", err)
	}
	return d.validate(media["schema"].(map[string]any), v, "body")
}

// checkEvent checks a webhook's body against the Event schema.
func (d *openAPIDoc) checkEvent(body []byte) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("the event is not JSON: %w", err)
	}
	return d.validate(map[string]any{"$ref": "#/components/schemas/Event"}, v, "event")
}

// resolve follows a $ref.
func (d *openAPIDoc) resolve(s map[string]any) map[string]any {
	for {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		var cur any = d.raw
		for _, p := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			m, _ := cur.(map[string]any)
			cur = m[p]
		}
		next, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		merged := map[string]any{}
		for k, v := range next {
			merged[k] = v
		}
		for k, v := range s { // a $ref's siblings (3.1) add to it
			if k != "$ref" {
				merged[k] = v
			}
		}
		s = merged
	}
}

// validate checks v against schema s, at names where it is.
func (d *openAPIDoc) validate(s map[string]any, v any, at string) error {
	s = d.resolve(s)
	if s == nil {
		return fmt.Errorf("%s: a $ref to nothing", at)
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, v) {
		return fmt.Errorf("%s: %v is not one of %v", at, v, enum)
	}
	if branches, ok := s["oneOf"].([]any); ok {
		var fits []int
		var misfits []string
		for i, b := range branches {
			if err := d.validate(b.(map[string]any), v, fmt.Sprintf("%s (oneOf %d)", at, i)); err != nil {
				misfits = append(misfits, err.Error())
			} else {
				fits = append(fits, i)
			}
		}
		if len(fits) != 1 {
			return fmt.Errorf("%s: fits oneOf branches %v, want exactly one (%s)", at, fits, strings.Join(misfits, "; "))
		}
	}
	switch s["type"] {
	case nil:
		// A schema without a type constrains what it names (a oneOf
		// branch): the required properties and those it describes.
		props, _ := s["properties"].(map[string]any)
		if props == nil {
			_, oneOf := s["oneOf"]
			_, enum := s["enum"]
			if oneOf || enum {
				return nil
			}
			return fmt.Errorf("%s: a schema without a type, properties, oneOf or enum", at)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %T, want an object", at, v)
		}
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := obj[r.(string)]; !ok {
				return fmt.Errorf("%s: required property %s is missing", at, r)
			}
		}
		for k, ps := range props {
			if pv, ok := obj[k]; ok {
				if err := d.validate(ps.(map[string]any), pv, at+"."+k); err != nil {
					return err
				}
			}
		}
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %T, want an object", at, v)
		}
		props, _ := s["properties"].(map[string]any)
		req, _ := s["required"].([]any)
		for _, r := range req {
			if _, ok := obj[r.(string)]; !ok {
				return fmt.Errorf("%s: required property %s is missing", at, r)
			}
		}
		if props == nil {
			return nil // a free-form object
		}
		for k, pv := range obj {
			ps, ok := props[k].(map[string]any)
			if !ok {
				return fmt.Errorf("%s: property %s is not documented", at, k)
			}
			if err := d.validate(ps, pv, at+"."+k); err != nil {
				return err
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: %T, want an array", at, v)
		}
		for i, e := range arr {
			if err := d.validate(s["items"].(map[string]any), e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: %T, want a string", at, v)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				return fmt.Errorf("%s: %q is not a date-time", at, str)
			}
		}
	case "integer", "number":
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("%s: %T, want a number", at, v)
		}
		f, err := n.Float64()
		if err != nil || (s["type"] == "integer" && f != math.Trunc(f)) {
			return fmt.Errorf("%s: %s, want %s", at, n, s["type"])
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: %T, want a boolean", at, v)
		}
	default:
		return fmt.Errorf("%s: schema type %v is not one this checker knows", at, s["type"])
	}
	return nil
}

// mountNoWallet mounts the API on a NATS where no wallet and no notifier
// answer: enough for what is refused before either is asked.
func mountNoWallet(t *testing.T) (*stack, *syncBuffer) {
	t.Helper()
	ns := natstest.Start(t)
	nc := ns.Connect()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { js.DeleteKeyValue(context.Background(), IdempotencyBucket+"_"+ns.Prefix) })
	logged := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logged, nil))
	s := &stack{t: t, e: New(log), js: js, prefix: ns.Prefix, cur: kes, logged: logged}
	client := natsapi.NewClient(nc, 200*time.Millisecond, natsapi.WithPrefix(ns.Prefix), natsapi.AsOperator(natsapi.Operator{Actor: "test"}))
	hooks := notifyapi.NewWebhookClient(nc, 200*time.Millisecond, ns.Prefix)
	if err := MountMerchantAPI(s.e, client, hooks, MerchantConfig{Currency: kes, JS: js, Prefix: ns.Prefix}, log); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil))
	if s.doc, err = parseOpenAPIDoc(rec.Body.Bytes()); err != nil {
		t.Fatal(err)
	}
	return s, logged
}

// TestOpenAPIRoutes: every /v1 route echo serves is in the document with
// its method, and every operation of the document is a route echo serves.
func TestOpenAPIRoutes(t *testing.T) {
	s, _ := mountNoWallet(t)
	served := map[string]bool{}
	for _, r := range s.e.Routes() {
		if !underMerchantAPI(r.Path) || r.Method == "echo_route_not_found" {
			continue
		}
		served[r.Method+" "+openAPIPath(strings.TrimPrefix(r.Path, merchantPrefix))] = true
	}
	documented := map[string]bool{}
	for path, item := range s.doc.raw["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	for r := range served {
		if !documented[r] {
			t.Errorf("%s is served but not documented", r)
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("%s is documented but not served", r)
		}
	}
	if len(served) < 20 {
		t.Errorf("only %d routes served under /v1: %v", len(served), served)
	}
}

// TestOpenAPIDocument checks what the document must say besides the
// routes, and that every $ref in it resolves.
func TestOpenAPIDocument(t *testing.T) {
	s, _ := mountNoWallet(t)
	raw := s.doc.raw
	if v := raw["openapi"]; v != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", v)
	}
	comp := raw["components"].(map[string]any)
	if sch := comp["securitySchemes"].(map[string]any)["apiKey"].(map[string]any); sch["scheme"] != "bearer" {
		t.Errorf("security scheme = %v, want http bearer", sch)
	}
	if p := comp["parameters"].(map[string]any)["IdempotencyKey"].(map[string]any); p["name"] != HeaderIdempotencyKey || p["in"] != "header" {
		t.Errorf("IdempotencyKey parameter = %v", p)
	}
	desc := raw["info"].(map[string]any)["description"].(string)
	for _, want := range []string{HeaderIdempotencyKey, HeaderIdempotentReplayed, notify.HeaderSignature, "HMAC-SHA256", "request_id", "in_flight", "dedupe"} {
		if !strings.Contains(desc, want) {
			t.Errorf("the description does not mention %s", want)
		}
	}
	hook := raw["webhooks"].(map[string]any)["event"].(map[string]any)["post"].(map[string]any)
	if p := hook["parameters"].([]any)[0].(map[string]any); p["name"] != notify.HeaderSignature {
		t.Errorf("the webhook's signature header = %v, want %s", p["name"], notify.HeaderSignature)
	}
	// Every money route takes the Idempotency-Key, and only those.
	for _, r := range (&merchantServer{}).routes() {
		op := raw["paths"].(map[string]any)[openAPIPath(r.path)].(map[string]any)[strings.ToLower(r.method)].(map[string]any)
		params, _ := json.Marshal(op["parameters"])
		if got := strings.Contains(string(params), "IdempotencyKey"); got != r.money {
			t.Errorf("%s %s: Idempotency-Key documented %v, want %v", r.method, r.path, got, r.money)
		}
		if _, ok := op["security"]; ok != r.public {
			t.Errorf("%s %s: security override %v, want %v", r.method, r.path, ok, r.public)
		}
	}
	// Every $ref resolves.
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && s.doc.resolve(map[string]any{"$ref": ref}) == nil {
				t.Errorf("%s: $ref %s resolves to nothing", at, ref)
			}
			for k, e := range v {
				walk(e, at+"/"+k)
			}
		case []any:
			for i, e := range v {
				walk(e, fmt.Sprintf("%s/%d", at, i))
			}
		}
	}
	walk(raw, "#")
}

// TestOpenAPIFile keeps gateway/openapi.json, the document for reading,
// equal to the one served (go test ./gateway -run TestOpenAPIFile -update
// rewrites it).
func TestOpenAPIFile(t *testing.T) {
	doc, err := openAPIDocument((&merchantServer{}).routes(), kes)
	if err != nil {
		t.Fatal(err)
	}
	doc = append(doc, '\n')
	if *updateOpenAPI {
		if err := os.WriteFile("openapi.json", doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, doc) {
		t.Errorf("gateway/openapi.json differs from the document served: run go test ./gateway -run TestOpenAPIFile -update")
	}
}

// TestOpenAPIEvent: the Event schema's oneOf has a branch per view, each
// naming the types whose data it is and that view's schema, every event
// type in exactly one; and the checker takes an event's data by its type.
func TestOpenAPIEvent(t *testing.T) {
	s, _ := mountNoWallet(t)
	event := s.doc.raw["components"].(map[string]any)["schemas"].(map[string]any)["Event"].(map[string]any)
	branches, _ := event["oneOf"].([]any)
	if len(branches) != 5 {
		t.Fatalf("the Event's oneOf has %d branches, want 5 (transaction, payout, bulk payout, payment request, tab)", len(branches))
	}
	seen := map[string]bool{}
	for _, b := range branches {
		props := b.(map[string]any)["properties"].(map[string]any)
		ref := props["data"].(map[string]any)["$ref"].(string)
		for _, typ := range props["type"].(map[string]any)["enum"].([]any) {
			typ := merchant.EventType(typ.(string))
			if seen[string(typ)] {
				t.Errorf("%s in two branches", typ)
			}
			seen[string(typ)] = true
			view, ok := merchant.EventView(typ)
			if want := "#/components/schemas/" + schemaName(reflect.TypeOf(view)); !ok || ref != want {
				t.Errorf("%s: data %s, want %s", typ, ref, want)
			}
		}
	}
	for _, typ := range merchant.EventTypes {
		if !seen[string(typ)] {
			t.Errorf("%s is in no branch", typ)
		}
	}
	if d, _ := event["description"].(string); !strings.Contains(d, "Transaction for payment.received, refund.completed, payout.paid") {
		t.Errorf("the Event's description %q does not say which data each type has", d)
	}

	at := time.Date(2026, 11, 21, 11, 15, 16, 0, time.UTC)
	tab := merchant.Tab{ID: "tab_1", Merchant: "445566", MerchantName: "M", Phone: "+254722000001", Cap: 1_500_000,
		Status: merchant.TabActive, Created: at, Expires: at, Updated: at}
	settlement := merchant.Settlement{Seq: 1, Amount: 1_23, Source: "+254722000001", Status: merchant.SettlementDone,
		Shares: []merchant.SettlementShare{{Merchant: "445566", Weight: 12_345, Gross: 1_23}}, Transfer: "QM1", Created: at, Updated: at}
	pr := merchant.PaymentRequest{ID: "pr_1", Merchant: "445566", MerchantName: "M", Phone: "+254722000001", Amount: 150_00,
		Reference: "R", Status: merchant.RequestPaid, Created: at, Expires: at, Updated: at}
	body := func(typ merchant.EventType, data any) string {
		d, _ := json.Marshal(data)
		b, _ := json.Marshal(merchant.Event{ID: "evt_1", Type: typ, Merchant: "445566", Created: at, Data: d})
		return string(b)
	}
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"a payment request", body(merchant.EventRequestPaid, merchant.ViewPaymentRequest(kes, &pr)), true},
		{"a settled tab", body(merchant.EventTabSettled, merchant.ViewTabEvent(kes, &merchant.TabEvent{Tab: tab, Settlement: &settlement})), true},
		{"a tab", body(merchant.EventTabClosed, merchant.ViewTab(kes, &tab)), true},
		{"a transaction", body(merchant.EventPaymentReceived, merchant.ViewTransaction(kes, &merchant.Transaction{ID: "QM1",
			Kind: wallet.TransferTill, Direction: "in", Amount: 1, Created: at})), true},
		{"a tab under a payment request's type", body(merchant.EventRequestPaid, merchant.ViewTab(kes, &tab)), false},
		{"the stored form", body(merchant.EventRequestPaid, pr), false},
		{"an unknown type", body("loyalty.points", merchant.ViewPaymentRequest(kes, &pr)), false},
		{"no data", strings.Replace(body(merchant.EventTabClosed, nil), `,"data":null`, "", 1), false},
	}
	for _, tc := range tests {
		if err := s.doc.checkEvent([]byte(tc.body)); (err == nil) != tc.ok {
			t.Errorf("%s: check = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// TestOpenAPIChecker: the checker refuses what does not fit.
func TestOpenAPIChecker(t *testing.T) {
	s, _ := mountNoWallet(t)
	tab := `{"id":"tab_1","merchant":"1","merchant_name":"M","phone":"+2547","prepaid":false,"cap":"1.00","charged":"0.00",` +
		`"settled":"0.00","remaining":"1.00","currency":"KES","status":"active","created":"2026-01-01T00:00:00Z",` +
		`"expires":"2026-01-02T00:00:00Z","updated":"2026-01-01T00:00:00Z"}`
	tests := []struct {
		name, method, path string
		status             int
		body               string
		ok                 bool
	}{
		{"fits", "GET", "/v1/tabs/tab_1", 200, tab, true},
		{"missing property", "GET", "/v1/tabs/tab_1", 200, strings.Replace(tab, `"cap":"1.00",`, "", 1), false},
		{"undocumented property", "GET", "/v1/tabs/tab_1", 200, strings.Replace(tab, `{`, `{"x":1,`, 1), false},
		{"wrong type", "GET", "/v1/tabs/tab_1", 200, strings.Replace(tab, `"cap":"1.00"`, `"cap":1`, 1), false},
		{"not in the enum", "GET", "/v1/tabs/tab_1", 200, strings.Replace(tab, `"active"`, `"open"`, 1), false},
		{"not a date-time", "GET", "/v1/tabs/tab_1", 200, strings.Replace(tab, `"2026-01-02T00:00:00Z"`, `"tomorrow"`, 1), false},
		{"undocumented status", "GET", "/v1/tabs/tab_1", 418, `{}`, false},
		{"error", "GET", "/v1/tabs/tab_1", 404, `{"error":{"code":"not_found","message":"m","request_id":"r"}}`, true},
		{"error without a request id", "GET", "/v1/tabs/tab_1", 404, `{"error":{"code":"not_found","message":"m"}}`, false},
		{"unknown error code", "GET", "/v1/tabs/tab_1", 404, `{"error":{"code":"oops","message":"m","request_id":"r"}}`, false},
		{"no such route", "GET", "/v1/nothing", 404, `{"error":{"code":"not_found","message":"m","request_id":"r"}}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.doc.check(tc.method, tc.path, tc.status, "application/json", []byte(tc.body))
			if (err == nil) != tc.ok {
				t.Errorf("check = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
