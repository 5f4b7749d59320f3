package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// The OpenAPI 3.1 document of the merchant API, served at
// GET /v1/openapi.json. It is made from the route table (merchant.go) and
// the request and answer types themselves (their json, doc, enum, format
// and example tags), so that it cannot drift from what is served; the
// tests check it against the routes echo serves and every answer they get
// against its schemas. gateway/openapi.json is a copy for reading (a test
// keeps it equal).

// webhookSignatureHeader is the header of a webhook delivery's signature.
const webhookSignatureHeader = notify.HeaderSignature

// hours writes d, whole hours, as the document says it: "24 hours".
func hours(d time.Duration) string { return strconv.Itoa(int(d/time.Hour)) + " hours" }

// sizeText writes a byte limit as the document says it: "16 KB", "2 MB"
// (to the nearest megabyte: a batch of charges' 2,048,000 bytes is 2 MB).
func sizeText(n int64) string {
	if n >= 1<<20 {
		return strconv.FormatInt((n+1<<19)>>20, 10) + " MB"
	}
	return strconv.FormatInt(n>>10, 10) + " KB"
}

// openAPIVersion is the version of the API the document describes.
const openAPIVersion = "1.0.0"

// apiDescription is the document's description: what holds for every
// route. The limits it quotes are the constants that enforce them.
var apiDescription = `Kibubu's merchant API: payment requests (request to pay), transactions and refunds,
payouts alone and in bulk, metered micropayment tabs, and signed webhooks.

## Authentication
Every route but this document takes an API key: ` + "`Authorization: Bearer kbk_…`" + `. Operators create
keys (` + "`kibubu apikey create --merchant TILL --scopes payments,transactions`" + ` or POST /v1/operator/apikeys);
a key is shown once. A missing, unknown or revoked key is 401; a key without the route's scope is 403,
as is a merchant key on an operator route and the reverse. A key sees only its own merchant's
objects: another merchant's id is 404, as an unknown one.

## Idempotency
Every route that moves money (the POSTs of payment requests, refunds, payouts, bulk payouts, tabs,
charges and close) needs an ` + "`Idempotency-Key`" + ` header: up to ` + strconv.Itoa(idempotencyKeyBytesMax) + ` printable ASCII characters, a UUID
for instance, made once per operation and sent again with every retry of it. Keys are per merchant
and kept ` + hours(idempotencyTTL) + `.
- The first request with a key is processed; a retry while it is in flight is 409 ` + "`in_flight`" + `
  (Retry-After: 1).
- Once it has a final answer (2xx, or 4xx but 409 and 429), a retry gets that answer again, status and
  body byte for byte, with the header ` + "`Idempotent-Replayed: true`" + `. An answer over ` + sizeText(storedResponseBytesMax) + ` (a large
  batch of charges) is not kept: a retry is processed again, and the wallet answers it from what it
  recorded (each charge replayed, none made twice).
- The same key with another method, path or body is 422 ` + "`conflict`" + `.
- An answer of 5xx (` + "`unavailable`" + `: the wallet did not answer in time) is not kept: retry with the
  same key. The key also goes to the wallet, which keeps what it did: money never moves twice.

## Errors
Every error has one shape: ` + "`" + `{"error": {"code": "…", "message": "…", "request_id": "…"}}` + "`" + `. Branch on the code:

| status | codes |
|---|---|
| 400 | invalid_request, invalid_amount, invalid_phone (malformed input: bad JSON, unknown fields or query parameters, a field given twice, trailing data, a missing Idempotency-Key) |
| 401 | unauthenticated |
| 403 | forbidden |
| 404 | not_found |
| 405 | method_not_allowed |
| 409 | invalid_state (the object's state forbids it), in_flight, already_exists |
| 413 | too_large (JSON bodies are at most ` + sizeText(jsonBodyBytesMax) + `, a batch of charges ` + sizeText(batchBodyBytesMax) + `, a bulk payout file ` + sizeText(csvBytesMax) + `) |
| 415 | unsupported_media_type (a JSON body must be sent as ` + "`application/json`" + `, with no charset but UTF-8) |
| 422 | conflict (an Idempotency-Key reused), insufficient_funds, limit_exceeded (with limit), same_account, not_reversible, wrong_kind, account_frozen |
| 500 | internal |
| 503 | unavailable: retry, with the same Idempotency-Key |

## Amounts
Amounts are decimal strings in major units, with the currency beside them in answers: "150.00".
An amount has at most the currency's decimals, except a tab's cap and charges, which have up to 6
("0.0025"). No signs, separators or exponents.

## Lists
Lists are newest first, a page at a time (limit, 1 to ` + strconv.Itoa(pageLimitMax) + `, default ` + strconv.Itoa(pageLimitDefault) + `): pass the answer's ` + "`next`" + ` as
` + "`cursor`" + ` until it is absent. The Link header (rel="next") holds the next page's URL.

## Webhooks
Register a URL with PUT /v1/webhooks. Every event for the merchant is POSTed to it as JSON (the Event
schema: its data is the object in the very shape this API answers for it, a payment.received's the
Transaction that GET /v1/transactions/{id} gives), in order, retried with exponential backoff for at least ` + hours(notify.WebhookRetryForMin) + ` until it answers 2xx; the
deliveries and their attempts are listed at GET /v1/webhooks/deliveries. The header
` + "`" + webhookSignatureHeader + `: t=<unix seconds>,v1=<hex>` + "`" + ` signs each one: v1 is the HMAC-SHA256, under the secret
PUT /v1/webhooks answered, of the timestamp, a dot, and the raw body. Check it in constant time and
refuse a timestamp more than ` + strconv.Itoa(int(notify.WebhookTolerance/time.Minute)) + ` minutes old. An event may arrive more than once: its id is the dedupe key.`

// schemaNames renames the types whose Go names do not say what they are.
var schemaNames = map[reflect.Type]string{
	reflect.TypeFor[errorBody](): "Error",
	reflect.TypeFor[apiError]():  "ErrorDetail",
	reflect.TypeFor[eventDoc]():  "Event",
}

// eventDoc documents a webhook's body (merchant.Event); eventSchemas adds
// which schema its data is for each type.
type eventDoc struct {
	ID       string          `json:"id" doc:"unique per event and merchant: the receiver's dedupe key" example:"evt_0f1k3c9r2d5b8a7e6h4j3k2m1n"`
	Type     string          `json:"type" doc:"what happened"`
	Merchant string          `json:"merchant"`
	Created  time.Time       `json:"created"`
	Data     json.RawMessage `json:"data" doc:"the object the event is about, exactly as this API answers it (amounts as decimal strings, with the currency): which schema, by type, is in oneOf"`
}

// eventSchemas completes the Event schema: its type's enum (every
// merchant.EventType) and a oneOf with a branch per view, the types whose
// data it is and its schema, in the order of merchant.EventTypes.
func (g *schemaGen) eventSchemas() error {
	var views []reflect.Type
	typesOf := map[reflect.Type][]string{}
	all := make([]string, 0, len(merchant.EventTypes))
	for _, t := range merchant.EventTypes {
		v, ok := merchant.EventView(t)
		if !ok {
			return fmt.Errorf("openapi: the event type %s has no view", t)
		}
		vt := reflect.TypeOf(v)
		if _, seen := typesOf[vt]; !seen {
			views = append(views, vt)
		}
		typesOf[vt] = append(typesOf[vt], string(t))
		all = append(all, string(t))
	}
	branches := make([]any, 0, len(views))
	var by []string
	for _, vt := range views {
		branches = append(branches, map[string]any{
			"title":      schemaName(vt),
			"required":   []string{"type", "data"},
			"properties": map[string]any{"type": map[string]any{"type": "string", "enum": typesOf[vt]}, "data": g.schema(vt)},
		})
		by = append(by, schemaName(vt)+" for "+strings.Join(typesOf[vt], ", "))
	}
	event := g.defs["Event"].(map[string]any)
	event["properties"].(map[string]any)["type"].(map[string]any)["enum"] = all
	event["oneOf"] = branches
	event["description"] = "A webhook's body. Its data is the object the event is about, in the schema this API answers " +
		"for it: " + strings.Join(by, "; ") + ". A bulk payout's event lacks the per-row results (GET the bulk payout " +
		"for them); a tab's has its settlement in tab.settled and tab.suspended."
	return nil
}

// errorStatuses describes the error statuses routes document.
var errorStatuses = map[int]string{
	http.StatusBadRequest:            "Malformed input (invalid_request, invalid_amount, invalid_phone)",
	http.StatusUnauthorized:          "No API key, or an unknown or revoked one (unauthenticated)",
	http.StatusForbidden:             "The key lacks the route's scope, or is of the wrong kind (forbidden)",
	http.StatusNotFound:              "No such object for this merchant (not_found)",
	http.StatusConflict:              "The object's state forbids it (invalid_state), or the same Idempotency-Key is in flight (in_flight)",
	http.StatusRequestEntityTooLarge: "The body is over the route's limit (too_large)",
	http.StatusUnsupportedMediaType:  "The body's Content-Type is not the route's: application/json (UTF-8), or for a bulk payout file text/csv or multipart/form-data (unsupported_media_type)",
	http.StatusUnprocessableEntity:   "The Idempotency-Key was used with another request (conflict), or the ledger refuses (insufficient_funds, limit_exceeded …)",
	http.StatusTooManyRequests:       "Too many payment requests and tabs to this customer or from this merchant just now (rate_limited): retry after Retry-After seconds",
	http.StatusInternalServerError:   "A bug or an infrastructure failure (internal)",
	http.StatusServiceUnavailable:    "The wallet or the notifier did not answer in time (unavailable): retry",
}

// errorsOf returns the error statuses r documents.
func errorsOf(r route) []int {
	if r.public {
		return []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge} // a query parameter, a body
	}
	// Every route bounds its body (BodyLimit), one without a body too: a
	// body sent to it anyway is 413 past the limit.
	s := []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusRequestEntityTooLarge, http.StatusInternalServerError, http.StatusServiceUnavailable}
	if r.body != bodyNone {
		s = append(s, http.StatusUnsupportedMediaType) // a Content-Type not the route's
	}
	if r.prompts {
		s = append(s, http.StatusTooManyRequests)
	}
	if r.money || r.path == "/webhooks/deliveries/:id/resend" {
		s = append(s, http.StatusConflict, http.StatusUnprocessableEntity)
	}
	slices.Sort(s)
	return s
}

// openAPIPath is an echo path under /v1 as OpenAPI writes it.
func openAPIPath(echoPath string) string {
	parts := strings.Split(merchantPrefix+echoPath, "/")
	for i, p := range parts {
		if name, ok := strings.CutPrefix(p, ":"); ok {
			parts[i] = "{" + name + "}"
		}
	}
	return strings.Join(parts, "/")
}

// operationID names an operation: its method and path in camel case.
func operationID(method, echoPath string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	up := true
	for _, r := range echoPath {
		switch {
		case r == ':':
			b.WriteString("By")
			up = true
		case r == '/' || r == '-' || r == '.':
			up = true
		case up:
			b.WriteRune(unicode.ToUpper(r))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// openAPIDocument returns the document for routes, amounts in cur.
func openAPIDocument(routes []route, cur wallet.Currency) ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}}
	errRef := g.schema(reflect.TypeFor[errorBody]())
	paths := map[string]map[string]any{}
	for _, r := range routes {
		p := openAPIPath(r.path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		method := strings.ToLower(r.method)
		if _, dup := paths[p][method]; dup {
			return nil, fmt.Errorf("openapi: %s %s is twice in the route table", r.method, p)
		}
		paths[p][method] = g.operation(r)
	}
	responses := map[string]any{}
	for status, desc := range errorStatuses {
		resp := map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": errRef}}}
		switch status {
		case http.StatusUnauthorized:
			resp["headers"] = map[string]any{"WWW-Authenticate": map[string]any{"schema": map[string]any{"type": "string"}, "description": `Bearer realm="kibubu"`}}
		case http.StatusServiceUnavailable, http.StatusConflict, http.StatusTooManyRequests:
			resp["headers"] = map[string]any{"Retry-After": map[string]any{"schema": map[string]any{"type": "integer"}, "description": "seconds to wait (503, 429 rate_limited, and 409 in_flight)"}}
		}
		responses[strconv.Itoa(status)] = resp
	}
	event := g.schema(reflect.TypeFor[eventDoc]())
	if err := g.eventSchemas(); err != nil {
		return nil, err
	}
	codes := make([]string, 0, len(codeStatus))
	for c := range codeStatus {
		codes = append(codes, string(c))
	}
	slices.Sort(codes)
	g.defs["ErrorDetail"].(map[string]any)["properties"].(map[string]any)["code"].(map[string]any)["enum"] = codes
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title": "Kibubu merchant API", "version": openAPIVersion,
			"description": apiDescription + "\n\nThis deployment's currency is " + cur.Code + " (" + strconv.Itoa(cur.Exponent) + " decimals).",
		},
		"servers":  []any{map[string]any{"url": "/"}},
		"security": []any{map[string]any{"apiKey": []any{}}},
		"paths":    paths,
		"components": map[string]any{
			"schemas":   g.defs,
			"responses": responses,
			"securitySchemes": map[string]any{"apiKey": map[string]any{
				"type": "http", "scheme": "bearer", "bearerFormat": "kbk_<id>_<secret>",
				"description": "An API key, as created by an operator: Authorization: Bearer kbk_…",
			}},
			"parameters": map[string]any{
				"IdempotencyKey": map[string]any{
					"name": HeaderIdempotencyKey, "in": "header", "required": true,
					"description": "Makes a money command safe to retry: see Idempotency above.",
					"schema":      map[string]any{"type": "string", "minLength": 1, "maxLength": idempotencyKeyBytesMax},
				},
				"id": map[string]any{
					"name": "id", "in": "path", "required": true, "description": "the object's id",
					"schema": map[string]any{"type": "string", "maxLength": idBytesMax},
				},
			},
			"headers": map[string]any{
				"IdempotentReplayed": map[string]any{
					"description": "true when the answer is a replay of the first answer to this Idempotency-Key",
					"schema":      map[string]any{"type": "string", "enum": []string{"true"}},
				},
				"Link": map[string]any{
					"description": `the next page: <URL>; rel="next" (absent on the last page)`,
					"schema":      map[string]any{"type": "string"},
				},
			},
		},
		"webhooks": map[string]any{
			"event": map[string]any{"post": map[string]any{
				"summary":     "An event for the merchant, POSTed to its webhook URL",
				"description": "In order per merchant, retried with exponential backoff for at least " + hours(notify.WebhookRetryForMin) + " until a 2xx.",
				"parameters": []any{map[string]any{
					"name": webhookSignatureHeader, "in": "header", "required": true,
					"description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\" under the webhook secret>",
					"schema":      map[string]any{"type": "string"},
				}},
				"requestBody": map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": event}}},
				"responses":   map[string]any{"2XX": map[string]any{"description": "Received; any other answer is retried"}},
			}},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// operation documents r.
func (g *schemaGen) operation(r route) map[string]any {
	tag := strings.Split(strings.TrimPrefix(r.path, "/"), "/")[0]
	if r.operator {
		tag = "operator"
	}
	op := map[string]any{"operationId": operationID(r.method, r.path), "summary": r.summary, "tags": []string{tag}}
	if r.doc != "" {
		op["description"] = r.doc
	}
	switch {
	case r.public:
		op["security"] = []any{}
	case r.operator:
		op["x-kibubu-operator"] = true
	default:
		op["x-kibubu-scope"] = string(r.scope)
	}
	var params []any
	if strings.Contains(r.path, ":id") {
		params = append(params, map[string]any{"$ref": "#/components/parameters/id"})
	}
	if r.money {
		params = append(params, map[string]any{"$ref": "#/components/parameters/IdempotencyKey"})
	}
	for _, q := range r.query {
		s := map[string]any{"type": "string"}
		switch {
		case q.format == "integer":
			s = map[string]any{"type": "integer", "minimum": 1, "maximum": pageLimitMax}
		case q.format != "":
			s["format"] = q.format
		}
		if q.enum != nil {
			s["enum"] = q.enum
		}
		params = append(params, map[string]any{"name": q.name, "in": "query", "description": q.doc, "schema": s})
	}
	if params != nil {
		op["parameters"] = params
	}
	switch r.body {
	case bodyJSON, bodyOptionalJSON, bodyBatchJSON:
		op["requestBody"] = map[string]any{"required": r.body == bodyJSON,
			"content": map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(r.request))}}}
	case bodyCSV:
		file := map[string]any{"type": "string", "description": "phone,amount[,reference] under a header row",
			"example": "phone,amount,reference\n+254712345678,150.00,JAN-1\n+254712345679,99.50,JAN-2\n"}
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			"text/csv": map[string]any{"schema": file},
			"multipart/form-data": map[string]any{"schema": map[string]any{
				"type": "object", "required": []string{csvField},
				"properties": map[string]any{csvField: map[string]any{"type": "string", "format": "binary"}},
			}},
		}}
	}
	ok := map[string]any{"description": r.summary,
		"content": map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(r.response))}}}
	headers := map[string]any{}
	if r.money {
		headers[HeaderIdempotentReplayed] = map[string]any{"$ref": "#/components/headers/IdempotentReplayed"}
	}
	for _, q := range r.query {
		if q.name == "cursor" {
			headers["Link"] = map[string]any{"$ref": "#/components/headers/Link"}
		}
	}
	if len(headers) > 0 {
		ok["headers"] = headers
	}
	responses := map[string]any{strconv.Itoa(r.status): ok}
	for _, s := range errorsOf(r) {
		responses[strconv.Itoa(s)] = map[string]any{"$ref": "#/components/responses/" + strconv.Itoa(s)}
	}
	op["responses"] = responses
	return op
}

// schemaGen makes JSON schemas of Go types, named ones under
// components/schemas.
type schemaGen struct {
	defs map[string]any
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

// oneOfType is a type whose JSON is one of several types' (an item of a
// batch's answer: a charge or a refusal): its schema is oneOf theirs.
type oneOfType interface{ oneOf() []reflect.Type }

var oneOfIface = reflect.TypeFor[oneOfType]()

// schema returns t's schema, a $ref for a struct.
func (g *schemaGen) schema(t reflect.Type) map[string]any {
	if t.Kind() != reflect.Interface && t.Implements(oneOfIface) {
		var branches []any
		for _, b := range reflect.Zero(t).Interface().(oneOfType).oneOf() {
			branches = append(branches, g.schema(b))
		}
		return map[string]any{"oneOf": branches}
	}
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case rawType:
		return map[string]any{"type": "object"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map, reflect.Interface:
		return map[string]any{"type": "object"}
	case reflect.Struct:
		name := schemaName(t)
		if _, done := g.defs[name]; !done {
			g.defs[name] = map[string]any{} // a placeholder while its fields are made
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	panic("openapi: no schema for " + t.String())
}

// object returns a struct's schema: its json fields, required unless
// omitempty or omitzero; a request body's (a type named …Body) refuses
// other properties, as decodeJSON does.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	required := []string{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct && f.Tag.Get("json") == "" {
			// An embedded struct's fields are the object's, as encoding/json
			// writes and reads them.
			emb := g.object(f.Type)
			for k, v := range emb["properties"].(map[string]any) {
				props[k] = v
			}
			if r, ok := emb["required"].([]string); ok {
				required = append(required, r...)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		s := map[string]any{}
		for k, v := range g.schema(f.Type) {
			s[k] = v
		}
		target := s
		if s["type"] == "array" {
			items := map[string]any{}
			for k, v := range s["items"].(map[string]any) {
				items[k] = v
			}
			s["items"] = items
			target = items
		}
		if d := f.Tag.Get("doc"); d != "" {
			s["description"] = d
		}
		if e := f.Tag.Get("enum"); e != "" {
			target["enum"] = strings.Split(e, ",")
		}
		if fm := f.Tag.Get("format"); fm != "" {
			s["format"] = fm
		}
		if ex := f.Tag.Get("example"); ex != "" {
			s["examples"] = []string{ex}
		}
		props[name] = s
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			required = append(required, name)
		}
	}
	o := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	if strings.HasSuffix(t.Name(), "Body") {
		o["additionalProperties"] = false
	}
	return o
}

// schemaName names a struct's schema: its Go name, capitalized, less a
// View suffix, unless schemaNames renames it.
func schemaName(t reflect.Type) string {
	if n, ok := schemaNames[t]; ok {
		return n
	}
	n := strings.TrimSuffix(t.Name(), "View")
	if n == "" {
		panic("openapi: an anonymous struct in the API")
	}
	return strings.ToUpper(n[:1]) + n[1:]
}
