package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
)

// Reading the merchant API's requests: bodies (JSON, or a CSV file),
// query strings and path ids. Every reader is bounded, refuses what it
// does not know (unknown fields and parameters, trailing data), and answers
// a *wallet.Error (400) whose message names the field, quoting at most a
// short excerpt of a value.

const (
	// idBytesMax bounds an object id in a path: the wallet's are 30
	// characters (pr_…, tab_…) or shorter (transaction refs).
	idBytesMax = 64
	// merchantBytesMax bounds a till or paybill number.
	merchantBytesMax = 32
	// cursorBytesMax bounds a page cursor, opaque and made by the wallet
	// or the notifier.
	cursorBytesMax = 256
	// urlBytesMax bounds a webhook URL.
	urlBytesMax = 2048
	// scopesMax bounds an API key's scopes (there are 6).
	scopesMax = 16
	// timeBytesMax bounds a timestamp in a query or a body.
	timeBytesMax = 64
	// fieldNameBytesMax bounds the name of an unknown field quoted back.
	fieldNameBytesMax = 40
	// csvField is the multipart form field of a bulk payout's file.
	csvField = "file"
	// bodyKey is the echo context key of the request body read.
	bodyKey = "gateway.merchant.body"
)

// invalid returns a CodeInvalid error.
func invalid(format string, args ...any) error {
	return wallet.Errorf(wallet.CodeInvalid, format, args...)
}

// readBody returns the request body, read once (the idempotency layer
// reads it first) and bounded: a JSON body as sent (jsonBodyBytesMax; a
// batch of charges batchBodyBytesMax, less by its route's BodyLimit), a
// bulk payout's CSV file (at most csvMax bytes) from the raw body
// (text/csv) or the multipart field "file".
func readBody(c echo.Context, kind bodyKind, csvMax int64) ([]byte, error) {
	if b, ok := c.Get(bodyKey).([]byte); ok {
		return b, nil
	}
	req := c.Request()
	var b []byte
	var err error
	switch kind {
	case bodyCSV:
		b, err = readCSVUpload(req.Header.Get(echo.HeaderContentType), req.Body, csvMax)
	case bodyBatchJSON:
		b, err = readAll(req.Body, batchBodyBytesMax)
	default:
		b, err = readAll(req.Body, jsonBodyBytesMax)
	}
	if err != nil {
		return nil, err
	}
	c.Set(bodyKey, b)
	return b, nil
}

// readAll reads r to its end, at most limit bytes (413 past it).
func readAll(r io.Reader, limit int64) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		return nil, he
	case err != nil:
		return nil, invalid("the body could not be read")
	case int64(len(b)) > limit:
		return nil, echo.ErrStatusRequestEntityTooLarge
	}
	return b, nil
}

// readFile reads a bulk payout file of at most max bytes.
func readFile(r io.Reader, max int64) ([]byte, error) {
	b, err := readAll(r, max)
	if errors.Is(err, echo.ErrStatusRequestEntityTooLarge) {
		return nil, wallet.Errorf(codeTooLarge, "the file is larger than %d bytes: split it", max)
	}
	return b, err
}

// readCSVUpload returns a bulk payout's file from a body of the given
// content type: text/csv (the body is the file), or multipart/form-data
// with the file in the field "file" and no other part.
func readCSVUpload(contentType string, body io.Reader, max int64) ([]byte, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mt = ""
	}
	switch mt {
	case "text/csv", "application/csv":
		return readFile(body, max)
	case "multipart/form-data":
	default:
		return nil, wallet.Errorf(codeUnsupportedMedia, "send the file as text/csv, or as multipart/form-data in the field %q", csvField)
	}
	boundary := params["boundary"]
	if boundary == "" || len(boundary) > 70 {
		return nil, invalid("the multipart body has no valid boundary")
	}
	mr := multipart.NewReader(body, boundary)
	var file []byte
	for parts := 0; ; parts++ {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var he *echo.HTTPError
			if errors.As(err, &he) {
				return nil, he
			}
			return nil, invalid("the multipart body is malformed")
		}
		if p.FormName() != csvField || file != nil || parts > 0 {
			return nil, invalid("the multipart body must hold one part, the field %q", csvField)
		}
		if file, err = readFile(p, max); err != nil {
			return nil, err
		}
		if file == nil {
			file = []byte{}
		}
	}
	if file == nil {
		return nil, invalid("the multipart body has no field %q", csvField)
	}
	return file, nil
}

// requireJSON refuses a request whose body is not declared JSON
// (checkJSONContentType), before its API key is looked up. A request with no
// body passes: an optional body left out needs no Content-Type, and a
// required one is refused as empty when read.
func requireJSON(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.ContentLength == 0 {
			return next(c)
		}
		if err := checkJSONContentType(req.Header.Get(echo.HeaderContentType)); err != nil {
			return err
		}
		return next(c)
	}
}

// checkJSONContentType accepts application/json, in any case, with at most
// a charset parameter, UTF-8 (RFC 8259 allows JSON no other). Anything else
// is codeUnsupportedMedia (415): a body sent as text/plain or as a form was
// not written as this API's JSON, and guessing would hide the client's bug.
func checkJSONContentType(contentType string) error {
	mt, params, err := mime.ParseMediaType(contentType)
	ok := err == nil && mt == echo.MIMEApplicationJSON
	for k, v := range params {
		ok = ok && k == "charset" && strings.EqualFold(v, "utf-8")
	}
	if !ok {
		return wallet.Errorf(codeUnsupportedMedia, "send the body as JSON, with Content-Type: application/json (UTF-8)")
	}
	return nil
}

// decodeBody decodes the request's JSON body into v.
func decodeBody(c echo.Context, v any) error {
	b, err := readBody(c, bodyJSON, 0)
	if err != nil {
		return err
	}
	return decodeJSON(b, v)
}

// decodeOptionalBody is decodeBody for a body that may be left out.
func decodeOptionalBody(c echo.Context, v any) error {
	b, err := readBody(c, bodyOptionalJSON, 0)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	return decodeJSON(b, v)
}

// decodeJSON decodes one JSON object into v, refusing fields v lacks,
// anything after the object, and invalid UTF-8.
func decodeJSON(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return invalid("the body is empty: send a JSON object")
	}
	if !utf8.Valid(data) {
		return invalid("the body is not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("unexpected data after the JSON object")
	}
	if key, ok := duplicateKey(data); ok {
		if len(key) > fieldNameBytesMax {
			key = key[:fieldNameBytesMax] + "…"
		}
		return invalid("field %q is given twice: send each field once", strings.ToValidUTF8(key, "?"))
	}
	return nil
}

// duplicateKey returns the path (splits[1].to) of the first key that an
// object of data, a valid JSON value, holds twice, comparing keys as Go's
// decoder matches them to fields: unescaped, and without regard to case
// ("Amount" is "amount"). encoding/json keeps the last of two, so
// {"amount":"1.00","amount":"2.00"} would pay 2.00: a client that sends
// both has a bug, and the API refuses to guess which it meant.
func duplicateKey(data []byte) (string, bool) {
	type frame struct {
		object    bool
		path      string
		index     int             // an array's element
		keys      map[string]bool // an object's keys, folded
		key       string          // an object's last key
		expectKey bool
	}
	var stack []*frame
	child := func() string { // the path of the value starting now
		if len(stack) == 0 {
			return ""
		}
		top := stack[len(stack)-1]
		switch {
		case !top.object:
			return top.path + "[" + strconv.Itoa(top.index) + "]"
		case top.path == "":
			return top.key
		}
		return top.path + "." + top.key
	}
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{':
			stack = append(stack, &frame{object: true, path: child(), expectKey: true})
		case '[':
			stack = append(stack, &frame{path: child()})
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if len(stack) > 0 {
				top := stack[len(stack)-1]
				top.index++
				top.expectKey = top.object
			}
		case '"':
			start := i
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
			if len(stack) == 0 || !stack[len(stack)-1].object || !stack[len(stack)-1].expectKey || i >= len(data) {
				continue
			}
			top := stack[len(stack)-1]
			top.expectKey = false
			key := string(data[start+1 : i])
			if strings.IndexByte(key, '\\') >= 0 {
				if err := json.Unmarshal(data[start:i+1], &key); err != nil {
					continue // not valid JSON: the decoder has said so
				}
			}
			top.key = key
			if top.keys == nil {
				top.keys = map[string]bool{}
			}
			folded := strings.ToLower(key)
			if top.keys[folded] {
				path := top.path + "." + key
				if top.path == "" {
					path = key
				}
				return path, true
			}
			top.keys[folded] = true
		}
	}
	return "", false
}

// jsonError says what is wrong with a JSON body, naming the field but
// never quoting a value.
func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return invalid("malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return invalid("the body must be a JSON object")
		}
		return invalid("%s must be %s", typ.Field, jsonKind(typ.Type.Kind().String()))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("the JSON is cut short")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if len(name) > fieldNameBytesMax {
			name = name[:fieldNameBytesMax] + "…"
		}
		return invalid("unknown field %s", strings.ToValidUTF8(name, "?"))
	}
	return invalid("malformed JSON")
}

// jsonKind names a Go kind as JSON.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return `a string (amounts too: "150.00")`
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "an integer"
}

// parseAmount reads a field's amount in major units ("150.00") as minor units.
func parseAmount(cur wallet.Currency, field, s string) (int64, error) {
	v, err := cur.ParseAmount(s)
	if err != nil {
		return 0, fieldError(field, err)
	}
	return v, nil
}

// parseMicro reads a field's metered amount, up to 6 decimals ("0.0025").
func parseMicro(cur wallet.Currency, field, s string) (wallet.Micro, error) {
	v, err := cur.ParseMicro(s)
	if err != nil {
		return 0, fieldError(field, err)
	}
	return v, nil
}

// fieldError prefixes a *wallet.Error's message with the field it is about.
func fieldError(field string, err error) error {
	var we *wallet.Error
	if errors.As(err, &we) {
		e := *we
		e.Message = field + ": " + e.Message
		return &e
	}
	return err
}

// checkPhone checks a phone number's shape: what wallet.NormalizePhone
// accepts (digits, a leading +, spaces, dashes, dots, parentheses), at most
// phoneBytesMax. Whether it is a valid number of the region is the wallet's
// to say.
func checkPhone(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return wallet.Errorf(wallet.CodeInvalidPhone, "%s is missing", field)
	}
	if len(v) > phoneBytesMax {
		return wallet.Errorf(wallet.CodeInvalidPhone, "%s is longer than %d bytes", field, phoneBytesMax)
	}
	digits := 0
	for i := 0; i < len(v); i++ {
		switch b := v[i]; {
		case '0' <= b && b <= '9':
			digits++
		case b == '+' && strings.TrimLeft(v[:i], " ") == "":
		case b == ' ' || b == '-' || b == '.' || b == '(' || b == ')':
		default:
			return wallet.Errorf(wallet.CodeInvalidPhone, "%s may contain only digits, spaces, dashes and a leading +", field)
		}
	}
	if digits == 0 {
		return wallet.Errorf(wallet.CodeInvalidPhone, "%s has no digits", field)
	}
	return nil
}

// checkLine checks a one-line free-text field: UTF-8 without control
// characters, at most bytesMax bytes and runesMax characters (0: no bound).
func checkLine(field, v string, bytesMax, runesMax int, required bool) error {
	switch {
	case required && strings.TrimSpace(v) == "":
		return invalid("%s is missing", field)
	case !utf8.ValidString(v):
		return invalid("%s is not UTF-8", field)
	case bytesMax > 0 && len(v) > bytesMax:
		return invalid("%s is longer than %d bytes", field, bytesMax)
	case runesMax > 0 && utf8.RuneCountInString(v) > runesMax:
		return invalid("%s is longer than %d characters", field, runesMax)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return invalid("%s may not contain control characters", field)
		}
	}
	return nil
}

// checkToken checks an identifier: printable ASCII without spaces, at
// most max bytes.
func checkToken(field, v string, max int, required bool) error {
	if v == "" {
		if required {
			return invalid("%s is missing", field)
		}
		return nil
	}
	if len(v) > max {
		return invalid("%s is longer than %d bytes", field, max)
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] > '~' {
			return invalid("%s may contain only printable ASCII without spaces", field)
		}
	}
	return nil
}

// pathID returns the route's :id, or CodeNotFound for one that cannot be
// any object's (too long, or characters no id has): it is not looked up.
func pathID(c echo.Context) (string, error) {
	id := c.Param("id")
	if id == "" || len(id) > idBytesMax {
		return "", wallet.Errorf(wallet.CodeNotFound, "no such object")
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !('0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || b == '_' || b == '-') {
			return "", wallet.Errorf(wallet.CodeNotFound, "no such object")
		}
	}
	return id, nil
}

// readQuery parses a raw query string, refusing parameters not in allowed
// and repeated ones.
func readQuery(raw string, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, invalid("the query string is malformed")
	}
	for k, v := range q {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		switch {
		case !ok && len(allowed) == 0:
			return nil, invalid("this route takes no query parameters")
		case !ok:
			if len(k) > fieldNameBytesMax {
				k = k[:fieldNameBytesMax] + "…"
			}
			return nil, invalid("unknown query parameter %q (known: %s)", strings.ToValidUTF8(k, "?"), strings.Join(allowed, ", "))
		case len(v) > 1:
			return nil, invalid("query parameter %s is repeated", k)
		}
	}
	return q, nil
}

// parseQueryTime reads a time bound: RFC 3339, or a date (2006-01-02) in
// loc, which means its first instant, or for an end (to) the first
// instant of the next day, so that the day is included. Empty: no bound.
func parseQueryTime(field, v string, end bool, loc *time.Location) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if len(v) > timeBytesMax {
		return time.Time{}, invalid("%s is too long", field)
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	d, err := time.ParseInLocation(time.DateOnly, v, loc)
	if err != nil {
		return time.Time{}, invalid("%s must be an RFC 3339 time (2026-01-31T12:00:00Z) or a date (2026-01-31)", field)
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d.UTC(), nil
}

// pageQuery reads a page's cursor and limit (pageLimitDefault when absent).
func pageQuery(q url.Values) (cursor string, limit int, err error) {
	cursor = q.Get("cursor")
	if err := checkToken("cursor", cursor, cursorBytesMax, false); err != nil {
		return "", 0, err
	}
	limit = pageLimitDefault
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > pageLimitMax {
			return "", 0, invalid("limit must be a whole number from 1 to %d", pageLimitMax)
		}
		limit = n
	}
	return cursor, limit, nil
}

// The request bodies. A field without omitempty is required; the doc tags
// describe them in the OpenAPI document.

// paymentRequestBody is POST /v1/payment-requests.
type paymentRequestBody struct {
	Phone       string `json:"phone" doc:"the customer's phone number, international (+254712345678) or national" example:"+254712345678"`
	Amount      string `json:"amount" doc:"in major units, at most the currency's decimals" example:"150.00"`
	Reference   string `json:"reference" doc:"the merchant's reference (an order number), at most 32 bytes" example:"ORDER-1042"`
	Description string `json:"description,omitempty" doc:"shown to the customer, at most 100 characters" example:"2 bags of maize flour"`
}

// validate checks b and returns its amount in minor units.
func (b paymentRequestBody) validate(cur wallet.Currency) (int64, error) {
	if err := checkPhone("phone", b.Phone); err != nil {
		return 0, err
	}
	amount, err := parseAmount(cur, "amount", b.Amount)
	if err != nil {
		return 0, err
	}
	if err := checkLine("reference", b.Reference, wallet.ReferenceBytesMax, 0, true); err != nil {
		return 0, err
	}
	if err := checkLine("description", b.Description, 0, merchant.DescriptionRunesMax, false); err != nil {
		return 0, err
	}
	return amount, nil
}

// refundBody is POST /v1/transactions/{id}/refund.
type refundBody struct {
	Amount string `json:"amount,omitempty" doc:"in major units; without it, what is left of the payment" example:"50.00"`
}

// payoutBody is POST /v1/payouts.
type payoutBody struct {
	Phone     string `json:"phone" doc:"the customer's phone number" example:"+254712345678"`
	Amount    string `json:"amount" doc:"in major units" example:"1000.00"`
	Reference string `json:"reference,omitempty" doc:"the merchant's reference, at most 32 bytes" example:"SALARY-2026-01"`
}

// validate checks b and returns its amount in minor units.
func (b payoutBody) validate(cur wallet.Currency) (int64, error) {
	if err := checkPhone("phone", b.Phone); err != nil {
		return 0, err
	}
	amount, err := parseAmount(cur, "amount", b.Amount)
	if err != nil {
		return 0, err
	}
	if err := checkLine("reference", b.Reference, wallet.ReferenceBytesMax, 0, false); err != nil {
		return 0, err
	}
	return amount, nil
}

// tabOpenBody is POST /v1/tabs.
type tabOpenBody struct {
	Phone       string `json:"phone" doc:"the customer's phone number" example:"+254712345678"`
	Cap         string `json:"cap" doc:"the most the tab may be charged, in major units, up to 6 decimals" example:"500.00"`
	ExpiresAt   string `json:"expires_at" doc:"when the tab closes, RFC 3339" format:"date-time" example:"2026-12-31T23:59:59Z"`
	Prepaid     bool   `json:"prepaid,omitempty" doc:"the customer loads the cap at approval and charges spend it down"`
	Reference   string `json:"reference,omitempty" doc:"the merchant's reference, at most 32 bytes"`
	Description string `json:"description,omitempty" doc:"shown to the customer, at most 100 characters"`
}

// request checks b and returns the wallet's request, less its keys.
func (b tabOpenBody) request(cur wallet.Currency) (merchantapi.TabOpenRequest, error) {
	var r merchantapi.TabOpenRequest
	if err := checkPhone("phone", b.Phone); err != nil {
		return r, err
	}
	capMicro, err := parseMicro(cur, "cap", b.Cap)
	if err != nil {
		return r, err
	}
	if b.ExpiresAt == "" {
		return r, invalid("expires_at is missing")
	}
	if len(b.ExpiresAt) > timeBytesMax {
		return r, invalid("expires_at is too long")
	}
	expires, err := time.Parse(time.RFC3339Nano, b.ExpiresAt)
	if err != nil {
		return r, invalid("expires_at must be an RFC 3339 time (2026-12-31T23:59:59Z)")
	}
	if err := checkLine("reference", b.Reference, wallet.ReferenceBytesMax, 0, false); err != nil {
		return r, err
	}
	if err := checkLine("description", b.Description, 0, merchant.DescriptionRunesMax, false); err != nil {
		return r, err
	}
	return merchantapi.TabOpenRequest{Phone: b.Phone, Cap: capMicro, Prepaid: b.Prepaid, Expires: expires.UTC(),
		Reference: b.Reference, Description: b.Description}, nil
}

// chargeBody is POST /v1/tabs/{id}/charges.
type chargeBody struct {
	Amount    string      `json:"amount" doc:"in major units, up to 6 decimals" example:"0.0025"`
	Reference string      `json:"reference,omitempty" doc:"the merchant's reference (a click, a request), at most 32 bytes" example:"click-88412"`
	Splits    []splitBody `json:"splits,omitempty" doc:"divide the charge among merchants by weight; without it, all goes to the tab's merchant"`
}

// splitBody is one split rule of a charge.
type splitBody struct {
	To     string `json:"to" doc:"the till or paybill number that gets this part" example:"123456"`
	Weight int64  `json:"weight" doc:"its weight: a percentage, or any positive integers" example:"70"`
}

// request checks b and returns the wallet's request, less its tab and key.
func (b chargeBody) request(cur wallet.Currency) (merchant.ChargeRequest, error) {
	var r merchant.ChargeRequest
	amount, err := parseMicro(cur, "amount", b.Amount)
	if err != nil {
		return r, err
	}
	if err := checkLine("reference", b.Reference, wallet.ReferenceBytesMax, 0, false); err != nil {
		return r, err
	}
	if len(b.Splits) > merchant.SplitRulesMax {
		return r, invalid("at most %d splits", merchant.SplitRulesMax)
	}
	var splits []merchant.Split
	for i, s := range b.Splits {
		if err := checkToken(fmt.Sprintf("splits[%d].to", i), s.To, merchantBytesMax, true); err != nil {
			return r, err
		}
		if s.Weight < 1 || s.Weight > merchant.SplitWeightMax {
			return r, invalid("splits[%d].weight must be from 1 to %d", i, merchant.SplitWeightMax)
		}
		splits = append(splits, merchant.Split{To: s.To, Weight: s.Weight})
	}
	return merchant.ChargeRequest{Amount: amount, Reference: b.Reference, Splits: splits}, nil
}

// emptyBody is a command's body: nothing, or {}.
type emptyBody struct{}

// webhookBody is PUT /v1/webhooks.
type webhookBody struct {
	URL    string `json:"url" doc:"where events are POSTed: https, at most 2048 bytes" format:"uri" example:"https://shop.example.com/kibubu/events"`
	Rotate bool   `json:"rotate,omitempty" doc:"make a new signing secret (the answer holds it)"`
}

func (b webhookBody) validate() error {
	if err := checkToken("url", b.URL, urlBytesMax, true); err != nil {
		return err
	}
	u, err := url.Parse(b.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return invalid("url must be an absolute https (or http) URL")
	}
	return nil
}

// apiKeyBody is POST /v1/operator/apikeys.
type apiKeyBody struct {
	Merchant string           `json:"merchant" doc:"the till or paybill number the key acts for" example:"123456"`
	Scopes   []merchant.Scope `json:"scopes" doc:"what the key may do: only scopes the operator key creating it holds" enum:"payments,transactions,refunds,payouts,tabs,webhooks"`
	Expires  *time.Time       `json:"expires,omitempty" doc:"when the key stops working (RFC 3339); no later than the operator key creating it; absent: never"`
}

func (b apiKeyBody) validate() error {
	if err := checkToken("merchant", b.Merchant, merchantBytesMax, true); err != nil {
		return err
	}
	if len(b.Scopes) == 0 || len(b.Scopes) > scopesMax {
		return invalid("scopes must list 1 to %d scopes", scopesMax)
	}
	for _, s := range b.Scopes {
		known := false
		for _, m := range merchant.MerchantScopes {
			known = known || s == m
		}
		if !known {
			return invalid("unknown scope %q", excerptASCII(string(s)))
		}
	}
	return nil
}

// csvUpload documents the bulk payout body (openapi.go).
type csvUpload struct{}

// checkBulkCSV checks a bulk payout file as a whole, as the wallet will
// (merchant.ReadBulkFile is both checks), so that a file the wallet would
// refuse is refused before it crosses NATS. A row's phone and amount are the
// wallet's to check: a bad one fails that row alone.
func checkBulkCSV(file []byte) error {
	_, err := merchant.ReadBulkFile(file)
	return err
}

// excerptASCII returns a short, printable excerpt of s for a message.
func excerptASCII(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < fieldNameBytesMax; i++ {
		if s[i] < ' ' || s[i] > '~' {
			b.WriteByte('?')
		} else {
			b.WriteByte(s[i])
		}
	}
	if len(s) > fieldNameBytesMax {
		b.WriteString("…")
	}
	return b.String()
}
