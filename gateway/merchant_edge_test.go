package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/kibubu/kibubu/wallet"
)

// TestBodyLimitQuotesTheRoutes: a 413 quotes the limit of the route that
// refused the body, not the server's default (RequestBodyBytesMax), and
// every route documents it (each has a limit). TestMerchantAPIRefusesAmbiguousJSON
// has a body that runs over while read.
func TestBodyLimitQuotesTheRoutes(t *testing.T) {
	s, _ := mountNoWallet(t)
	over := strings.Repeat("x", jsonBodyBytesMax+1)
	tests := []struct {
		name   string
		target string
		want   int64
	}{
		{"a JSON route", "/v1/payment-requests", jsonBodyBytesMax},
		{"a route without a body", "/v1/webhooks/deliveries/whd_1/resend", jsonBodyBytesMax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, tc.target, strings.NewReader(over))
			req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
			req.Header.Set(echo.HeaderAuthorization, "Bearer kbk_x")
			req.Header.Set(HeaderIdempotencyKey, "k")
			rec := httptest.NewRecorder()
			s.e.ServeHTTP(rec, req)
			if err := s.doc.check(http.MethodPost, req.URL.Path, rec.Code, rec.Header().Get(echo.HeaderContentType), rec.Body.Bytes()); err != nil {
				t.Errorf("POST %s = %d %s: not as documented: %v", tc.target, rec.Code, rec.Body, err)
			}
			want := "at most " + strconv.FormatInt(tc.want, 10) + " bytes"
			if got := rec.Body.String(); rec.Code != http.StatusRequestEntityTooLarge || errorCode(rec.Body.Bytes()) != codeTooLarge || !strings.Contains(got, want) {
				t.Errorf("POST %s = %d %s, want 413 %s saying %q", tc.target, rec.Code, got, codeTooLarge, want)
			}
		})
	}
}

// TestJSONContentType: a JSON body must say it is JSON (application/json,
// with a charset only if UTF-8); anything else is 415 before the API key
// is looked up. An optional body left out needs no Content-Type.
func TestJSONContentType(t *testing.T) {
	s, _ := mountNoWallet(t)
	pay := `{"phone":"+254712345678","amount":"1.00","reference":"r"}`
	tests := []struct {
		name        string
		target      string
		body        string
		contentType string // "-": none
		wantStatus  int    // 503: accepted, then the missing wallet
	}{
		{"json", "/v1/payment-requests", pay, "application/json", 503},
		{"json, utf-8", "/v1/payment-requests", pay, "application/json; charset=utf-8", 503},
		{"json, any case", "/v1/payment-requests", pay, "Application/JSON; Charset=\"UTF-8\"", 503},
		{"text/plain", "/v1/payment-requests", pay, "text/plain", 415},
		{"text/plain, utf-8", "/v1/payment-requests", pay, "text/plain; charset=utf-8", 415},
		{"a form", "/v1/payment-requests", pay, "application/x-www-form-urlencoded", 415},
		{"no content type", "/v1/payment-requests", pay, "-", 415},
		{"json in latin-1", "/v1/payment-requests", pay, "application/json; charset=iso-8859-1", 415},
		{"json with another parameter", "/v1/payment-requests", pay, "application/json; profile=x", 415},
		{"unparseable", "/v1/payment-requests", pay, "application/json; charset", 415},
		{"a lookalike", "/v1/payment-requests", pay, "application/jsonx", 415},
		{"a batch as text", "/v1/tabs/tab_1/charges/batch", `{"charges":[]}`, "text/plain", 415},
		{"an optional body as text", "/v1/tabs/tab_1/close", `{}`, "text/plain", 415},
		{"an optional body left out", "/v1/tabs/tab_1/close", "", "-", 503},
		{"webhook as text", "/v1/webhooks", `{"url":"https://a.example"}`, "text/plain", 415},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := apiCall{method: http.MethodPost, target: tc.target, key: "kbk_x", idem: "k", body: tc.body, contentType: tc.contentType}
			if tc.target == "/v1/webhooks" {
				c.method, c.idem = http.MethodPut, ""
			}
			if tc.contentType == "-" {
				c.contentType, c.header = "", map[string]string{echo.HeaderContentType: ""}
			}
			r := s.do(c)
			if r.status != tc.wantStatus {
				t.Fatalf("%s %s (%s) = %s, want %d", c.method, c.target, tc.contentType, r, tc.wantStatus)
			}
			if tc.wantStatus == 415 && (r.code() != codeUnsupportedMedia || !strings.Contains(string(r.body), "application/json")) {
				t.Errorf("%s %s (%s) = %s, want %s naming application/json", c.method, c.target, tc.contentType, r, codeUnsupportedMedia)
			}
		})
	}
}

// TestDuplicateKeys: a key given twice in any object of a JSON body is
// refused, naming it, rather than the last one winning ("amount":"1.00",
// "amount":"2.00" would pay 2.00). Go matches field names without regard to
// case, so "Amount" after "amount" is the same key.
func TestDuplicateKeys(t *testing.T) {
	tests := []struct {
		name, body string
		wantMsg    string // "": accepted
	}{
		{"once each", `{"amount":"1.00","reference":"r","splits":[{"to":"1","weight":1},{"to":"2","weight":1}]}`, ""},
		{"top level", `{"amount":"1.00","amount":"2.00"}`, `"amount" is given twice`},
		{"apart", `{"amount":"1.00","reference":"r","amount":"2.00"}`, `"amount" is given twice`},
		{"another case", `{"amount":"1.00","AMOUNT":"2.00"}`, `"AMOUNT" is given twice`},
		{"escaped", `{"amount":"1.00","\u0061mount":"2.00"}`, `"amount" is given twice`},
		{"nested", `{"amount":"1.00","splits":[{"to":"1","weight":1},{"to":"2","to":"3","weight":1}]}`, `"splits[1].to" is given twice`},
		{"nested, same value", `{"amount":"1.00","splits":[{"to":"1","weight":1,"weight":1}]}`, `"splits[0].weight" is given twice`},
		{"a key inside a string", `{"amount":"1.00","reference":"\"amount\":\"2\""}`, ""},
		{"null twice", `{"amount":"1.00","reference":null,"reference":null}`, `"reference" is given twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v chargeBody
			err := decodeJSON([]byte(tc.body), &v)
			switch {
			case tc.wantMsg == "" && err != nil:
				t.Errorf("decodeJSON(%s) = %v, want it accepted", tc.body, err)
			case tc.wantMsg != "" && (codeOf(err) != wallet.CodeInvalid || !strings.Contains(err.Error(), tc.wantMsg)):
				t.Errorf("decodeJSON(%s) = %v, want %s %q", tc.body, err, wallet.CodeInvalid, tc.wantMsg)
			}
		})
	}
}

// TestMerchantAPIRefusesAmbiguousJSON: with a wallet behind it, a payment
// request whose amount is given twice, or sent as text/plain, is refused
// before it reaches the wallet.
func TestMerchantAPIRefusesAmbiguousJSON(t *testing.T) {
	s := startStack(t)
	_, key := s.merchant("Duka")
	customer := s.customer(500_000)
	tests := []struct {
		name        string
		body        string
		contentType string
		wantStatus  int
		wantCode    wallet.Code
		wantMsg     string
	}{
		{"amount twice", `{"phone":"` + customer + `","amount":"1.00","amount":"2.00","reference":"r"}`, "", 400, wallet.CodeInvalid, `"amount" is given twice`},
		{"phone twice", `{"phone":"` + customer + `","amount":"1.00","reference":"r","phone":"+254700000000"}`, "", 400, wallet.CodeInvalid, `"phone" is given twice`},
		{"as text/plain", `{"phone":"` + customer + `","amount":"1.00","reference":"r"}`, "text/plain", 415, codeUnsupportedMedia, "application/json"},
	}
	// A body without a Content-Length runs over the route's limit while
	// read, after the key is checked; the 413 quotes the route's limit.
	req := httptest.NewRequest(http.MethodPost, "/v1/payment-requests", io.MultiReader(strings.NewReader(strings.Repeat("x", jsonBodyBytesMax+1))))
	req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	req.Header.Set(echo.HeaderAuthorization, "Bearer "+key)
	req.Header.Set(HeaderIdempotencyKey, "chunked")
	rec := httptest.NewRecorder()
	s.e.ServeHTTP(rec, req)
	if want := "at most " + strconv.Itoa(jsonBodyBytesMax) + " bytes"; rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), want) {
		t.Errorf("a body over the limit without a length = %d %s, want 413 saying %q", rec.Code, rec.Body, want)
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(apiCall{method: http.MethodPost, target: "/v1/payment-requests", key: key, idem: "dup-" + strconv.Itoa(i),
				body: tc.body, contentType: tc.contentType})
			var e errorBody
			r.decode(t, &e)
			if r.status != tc.wantStatus || e.Error.Code != tc.wantCode || !strings.Contains(e.Error.Message, tc.wantMsg) {
				t.Errorf("POST /v1/payment-requests %s = %s, want %d %s %q", tc.body, r, tc.wantStatus, tc.wantCode, tc.wantMsg)
			}
		})
	}
}

// TestEveryRouteDocumentsItsRefusals sends every route the refusals it can
// give before it asks the wallet (a body over its limit, a JSON body under
// another Content-Type, no API key) and checks each answer is one the
// document lists for that route, with the limit the route enforces.
func TestEveryRouteDocumentsItsRefusals(t *testing.T) {
	s, _ := mountNoWallet(t)
	for _, r := range (&merchantServer{}).routes() {
		target := merchantPrefix + strings.ReplaceAll(r.path, ":id", "x_1")
		json := r.body == bodyJSON || r.body == bodyOptionalJSON || r.body == bodyBatchJSON
		cases := []struct {
			what        string
			contentType string
			length      int64 // the Content-Length claimed; -1: the body's
			key         bool
			want        int
		}{
			{"a body over the limit", echo.MIMEApplicationJSON, 1 << 40, true, http.StatusRequestEntityTooLarge},
			{"no API key", echo.MIMEApplicationJSON, -1, false, http.StatusUnauthorized},
		}
		if json {
			cases = append(cases, struct {
				what        string
				contentType string
				length      int64
				key         bool
				want        int
			}{"JSON as text/plain", echo.MIMETextPlain, -1, true, http.StatusUnsupportedMediaType})
		}
		for _, tc := range cases {
			if r.public && tc.want == http.StatusUnauthorized {
				continue
			}
			req := httptest.NewRequest(r.method, target, strings.NewReader("{}"))
			req.Header.Set(echo.HeaderContentType, tc.contentType)
			if tc.length >= 0 {
				req.ContentLength = tc.length
			}
			if tc.key {
				req.Header.Set(echo.HeaderAuthorization, "Bearer kbk_x")
			}
			rec := httptest.NewRecorder()
			s.e.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("%s %s, %s = %d %s, want %d", r.method, r.path, tc.what, rec.Code, rec.Body, tc.want)
			}
			if err := s.doc.check(r.method, req.URL.Path, rec.Code, rec.Header().Get(echo.HeaderContentType), rec.Body.Bytes()); err != nil {
				t.Errorf("%s %s, %s = %d: not as documented: %v", r.method, r.path, tc.what, rec.Code, err)
			}
			// The CSV and batch routes' limits shrink to the NATS server's
			// max_payload (csvLimit, chargesLimit); the others are 16 KB.
			want := "at most " + strconv.Itoa(jsonBodyBytesMax) + " bytes"
			if r.body == bodyCSV || r.body == bodyBatchJSON {
				want = "at most "
			}
			if got := rec.Body.String(); tc.want == http.StatusRequestEntityTooLarge &&
				(!strings.Contains(got, want) || strings.Contains(got, strconv.Itoa(RequestBodyBytesMax))) {
				t.Errorf("%s %s, %s = %s, want it to say %q, not the server's default", r.method, r.path, tc.what, got, want)
			}
		}
	}
}
