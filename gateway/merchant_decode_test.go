package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

var kes = wallet.Currency{Code: "KES", Exponent: 2}

// codeOf returns err's code, "" for nil, and the HTTP status's code for an
// echo error.
func codeOf(err error) wallet.Code {
	if err == nil {
		return ""
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return httpCode(he.Code)
	}
	return wallet.ErrorCode(err)
}

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		name, body string
		want       wallet.Code
		wantMsg    string
	}{
		{"ok", `{"phone":"+254712345678","amount":"150.00","reference":"A1"}`, "", ""},
		{"whitespace around", " \n{\"phone\":\"1\",\"amount\":\"1\",\"reference\":\"r\"}\n\t", "", ""},
		{"empty", ``, wallet.CodeInvalid, "the body is empty"},
		{"blank", "  \n", wallet.CodeInvalid, "the body is empty"},
		{"not UTF-8", "{\"phone\":\"\xff\"}", wallet.CodeInvalid, "not UTF-8"},
		{"unknown field", `{"phone":"1","amount":"1","reference":"r","tip":"5"}`, wallet.CodeInvalid, `unknown field "tip"`},
		{"trailing object", `{"phone":"1"}{"amount":"2"}`, wallet.CodeInvalid, "unexpected data after the JSON object"},
		{"trailing junk", `{"phone":"1"} x`, wallet.CodeInvalid, "unexpected data"},
		{"trailing brace", `{"phone":"1"}}`, wallet.CodeInvalid, "unexpected data"},
		{"number amount", `{"amount":150}`, wallet.CodeInvalid, `amount must be a string (amounts too: "150.00")`},
		{"array", `[1,2]`, wallet.CodeInvalid, "the body must be a JSON object"},
		{"string", `"hi"`, wallet.CodeInvalid, "the body must be a JSON object"},
		{"cut short", `{"phone":"1"`, wallet.CodeInvalid, "the JSON is cut short"},
		{"syntax", `{"phone":}`, wallet.CodeInvalid, "malformed JSON at byte"},
		{"long unknown field", `{"` + strings.Repeat("x", 200) + `":1}`, wallet.CodeInvalid, "…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v paymentRequestBody
			err := decodeJSON([]byte(tc.body), &v)
			if got := codeOf(err); got != tc.want || (err != nil && !strings.Contains(err.Error(), tc.wantMsg)) {
				t.Errorf("decodeJSON(%q) = %v, want %s %q", tc.body, err, tc.want, tc.wantMsg)
			}
			if err != nil && len(err.Error()) > 200 {
				t.Errorf("message of %d bytes: %s", len(err.Error()), err)
			}
		})
	}
}

func TestPaymentRequestBody(t *testing.T) {
	ok := paymentRequestBody{Phone: "+254712345678", Amount: "150.00", Reference: "ORDER-1"}
	tests := []struct {
		name   string
		edit   func(*paymentRequestBody)
		want   wallet.Code
		amount int64
	}{
		{"ok", func(*paymentRequestBody) {}, "", 15000},
		{"one decimal", func(b *paymentRequestBody) { b.Amount = "12.5" }, "", 1250},
		{"three decimals", func(b *paymentRequestBody) { b.Amount = "1.234" }, wallet.CodeInvalidAmount, 0},
		{"letters", func(b *paymentRequestBody) { b.Amount = "abc" }, wallet.CodeInvalidAmount, 0},
		{"negative", func(b *paymentRequestBody) { b.Amount = "-5" }, wallet.CodeInvalidAmount, 0},
		{"zero", func(b *paymentRequestBody) { b.Amount = "0.00" }, wallet.CodeInvalidAmount, 0},
		{"no amount", func(b *paymentRequestBody) { b.Amount = "" }, wallet.CodeInvalidAmount, 0},
		{"comma", func(b *paymentRequestBody) { b.Amount = "1,000" }, wallet.CodeInvalidAmount, 0},
		{"exponent", func(b *paymentRequestBody) { b.Amount = "1e3" }, wallet.CodeInvalidAmount, 0},
		{"huge", func(b *paymentRequestBody) { b.Amount = "99999999999999999999" }, wallet.CodeInvalidAmount, 0},
		{"national phone", func(b *paymentRequestBody) { b.Phone = "0712 345-678" }, "", 15000},
		{"letters in phone", func(b *paymentRequestBody) { b.Phone = "07123abc" }, wallet.CodeInvalidPhone, 0},
		{"no phone", func(b *paymentRequestBody) { b.Phone = " " }, wallet.CodeInvalidPhone, 0},
		{"plus inside", func(b *paymentRequestBody) { b.Phone = "254+712" }, wallet.CodeInvalidPhone, 0},
		{"long phone", func(b *paymentRequestBody) { b.Phone = strings.Repeat("1", 40) }, wallet.CodeInvalidPhone, 0},
		{"no reference", func(b *paymentRequestBody) { b.Reference = "" }, wallet.CodeInvalid, 0},
		{"long reference", func(b *paymentRequestBody) { b.Reference = strings.Repeat("r", 33) }, wallet.CodeInvalid, 0},
		{"control in reference", func(b *paymentRequestBody) { b.Reference = "a\nb" }, wallet.CodeInvalid, 0},
		{"description of 100 runes", func(b *paymentRequestBody) { b.Description = strings.Repeat("é", 100) }, "", 15000},
		{"description of 101 runes", func(b *paymentRequestBody) { b.Description = strings.Repeat("é", 101) }, wallet.CodeInvalid, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := ok
			tc.edit(&b)
			amount, err := b.validate(kes)
			if got := codeOf(err); got != tc.want || amount != tc.amount {
				t.Errorf("validate(%+v) = %d, %v, want %d, %s", b, amount, err, tc.amount, tc.want)
			}
		})
	}
}

func TestChargeBody(t *testing.T) {
	tests := []struct {
		name string
		body chargeBody
		want wallet.Code
		req  merchant.ChargeRequest
	}{
		{"quarter cent", chargeBody{Amount: "0.0025"}, "", merchant.ChargeRequest{Amount: 2500}},
		{"six decimals", chargeBody{Amount: "0.000001"}, "", merchant.ChargeRequest{Amount: 1}},
		{"seven decimals", chargeBody{Amount: "0.0000001"}, wallet.CodeInvalidAmount, merchant.ChargeRequest{}},
		{"splits", chargeBody{Amount: "1", Reference: "c1", Splits: []splitBody{{"111", 70}, {"222", 30}}}, "",
			merchant.ChargeRequest{Amount: 1_000_000, Reference: "c1", Splits: []merchant.Split{{To: "111", Weight: 70}, {To: "222", Weight: 30}}}},
		{"zero weight", chargeBody{Amount: "1", Splits: []splitBody{{"111", 0}}}, wallet.CodeInvalid, merchant.ChargeRequest{}},
		{"negative weight", chargeBody{Amount: "1", Splits: []splitBody{{"111", -1}}}, wallet.CodeInvalid, merchant.ChargeRequest{}},
		{"no to", chargeBody{Amount: "1", Splits: []splitBody{{"", 1}}}, wallet.CodeInvalid, merchant.ChargeRequest{}},
		{"too many splits", chargeBody{Amount: "1", Splits: make([]splitBody, merchant.SplitRulesMax+1)}, wallet.CodeInvalid, merchant.ChargeRequest{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := tc.body.request(kes)
			if got := codeOf(err); got != tc.want || (err == nil && !sameCharge(req, tc.req)) {
				t.Errorf("request(%+v) = %+v, %v, want %+v, %s", tc.body, req, err, tc.req, tc.want)
			}
		})
	}
}

func sameCharge(a, b merchant.ChargeRequest) bool {
	if a.Amount != b.Amount || a.Reference != b.Reference || len(a.Splits) != len(b.Splits) {
		return false
	}
	for i := range a.Splits {
		if a.Splits[i] != b.Splits[i] {
			return false
		}
	}
	return true
}

func TestTabOpenBody(t *testing.T) {
	ok := tabOpenBody{Phone: "+254712345678", Cap: "500", ExpiresAt: "2030-01-02T03:04:05+03:00"}
	tests := []struct {
		name string
		edit func(*tabOpenBody)
		want wallet.Code
	}{
		{"ok", func(*tabOpenBody) {}, ""},
		{"micro cap", func(b *tabOpenBody) { b.Cap = "0.000500" }, ""},
		{"bad cap", func(b *tabOpenBody) { b.Cap = "5.0000001" }, wallet.CodeInvalidAmount},
		{"no expiry", func(b *tabOpenBody) { b.ExpiresAt = "" }, wallet.CodeInvalid},
		{"a date", func(b *tabOpenBody) { b.ExpiresAt = "2030-01-02" }, wallet.CodeInvalid},
		{"long expiry", func(b *tabOpenBody) { b.ExpiresAt = strings.Repeat("9", 100) }, wallet.CodeInvalid},
		{"bad phone", func(b *tabOpenBody) { b.Phone = "x" }, wallet.CodeInvalidPhone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := ok
			tc.edit(&b)
			req, err := b.request(kes)
			if got := codeOf(err); got != tc.want {
				t.Errorf("request(%+v) = %v, want %s", b, err, tc.want)
			}
			if err == nil && (req.Expires.Location() != time.UTC || req.Cap <= 0) {
				t.Errorf("request(%+v) = %+v: want a UTC expiry and a cap", b, req)
			}
		})
	}
}

func TestCheckBulkCSV(t *testing.T) {
	tests := []struct {
		name, file string
		want       wallet.Code
		wantMsg    string
	}{
		{"ok", "phone,amount,reference\n+254712345678,150.00,A\n0712345679,99.5,B\n", "", ""},
		{"any order and case, more columns", "Amount, PHONE ,note\n1,+254712345678,hi\n", "", ""},
		{"byte order mark and CRLF", "\uFEFFphone,amount\r\n+254712345678,1\r\n", "", ""},
		{"a bad row is the wallet's", "phone,amount\nnot a phone,abc\n", "", ""},
		{"blank rows skipped", "phone,amount\n\n , \n1,1\n", "", ""},
		{"empty", "", wallet.CodeInvalid, "empty"},
		{"header only", "phone,amount\n", wallet.CodeInvalid, "no rows"},
		{"only blank rows", "phone,amount\n,\n", wallet.CodeInvalid, "no rows"},
		{"no amount column", "phone,value\n1,1\n", wallet.CodeInvalid, "line 1"},
		{"twice", "phone,amount,phone\n1,1,1\n", wallet.CodeInvalid, "twice"},
		{"not UTF-8", "phone,amount\n\xff,1\n", wallet.CodeInvalid, "UTF-8"},
		{"bad quote", "phone,amount\n\"1,1\n", wallet.CodeInvalid, "line 2"},
		{"too many rows", "phone,amount\n" + strings.Repeat("1,1\n", merchant.BulkRowsMax+1), wallet.CodeInvalid, "more than"},
		{"most rows", "phone,amount\n" + strings.Repeat("1,1\n", merchant.BulkRowsMax), "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := checkBulkCSV([]byte(tc.file))
			if got := codeOf(err); got != tc.want || (err != nil && !strings.Contains(err.Error(), tc.wantMsg)) {
				t.Errorf("checkBulkCSV = %v, want %s %q", err, tc.want, tc.wantMsg)
			}
		})
	}
}

// multipartBody returns a multipart form with the given fields and its
// content type.
func multipartBody(t testing.TB, fields ...[2]string) (string, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, f := range fields {
		fw, err := w.CreateFormFile(f[0], "payouts.csv")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write([]byte(f[1]))
	}
	w.Close()
	return b.String(), w.FormDataContentType()
}

func TestReadCSVUpload(t *testing.T) {
	file := "phone,amount\n+254712345678,1\n"
	mp, mpType := multipartBody(t, [2]string{"file", file})
	two, twoType := multipartBody(t, [2]string{"file", file}, [2]string{"other", "x"})
	wrong, wrongType := multipartBody(t, [2]string{"upload", file})
	none, noneType := multipartBody(t)
	tests := []struct {
		name, contentType, body string
		want                    wallet.Code
	}{
		{"text/csv", "text/csv; charset=utf-8", file, ""},
		{"application/csv", "application/csv", file, ""},
		{"multipart", mpType, mp, ""},
		{"json", "application/json", file, codeUnsupportedMedia},
		{"no type", "", file, codeUnsupportedMedia},
		{"two parts", twoType, two, wallet.CodeInvalid},
		{"wrong field", wrongType, wrong, wallet.CodeInvalid},
		{"no part", noneType, none, wallet.CodeInvalid},
		{"no boundary", "multipart/form-data", mp, wallet.CodeInvalid},
		{"wrong boundary", "multipart/form-data; boundary=xyz", mp, wallet.CodeInvalid},
		{"too large", "text/csv", file + strings.Repeat("1,1\n", 100), codeTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readCSVUpload(tc.contentType, strings.NewReader(tc.body), 128)
			if codeOf(err) != tc.want || (err == nil && string(got) != file) {
				t.Errorf("readCSVUpload = %q, %v, want %q, %s", got, err, file, tc.want)
			}
		})
	}
}

func TestReadQuery(t *testing.T) {
	tests := []struct {
		name, raw string
		allowed   []string
		want      wallet.Code
	}{
		{"none", "", nil, ""},
		{"known", "from=2026-01-01&limit=5", []string{"from", "limit"}, ""},
		{"unknown", "from=1&x=2", []string{"from"}, wallet.CodeInvalid},
		{"none taken", "x=2", nil, wallet.CodeInvalid},
		{"repeated", "from=1&from=2", []string{"from"}, wallet.CodeInvalid},
		{"malformed", "from=%zz", []string{"from"}, wallet.CodeInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readQuery(tc.raw, tc.allowed...)
			if got := codeOf(err); got != tc.want {
				t.Errorf("readQuery(%q) = %v, want %s", tc.raw, err, tc.want)
			}
		})
	}
}

func TestParseQueryTime(t *testing.T) {
	nairobi := time.FixedZone("EAT", 3*3600)
	tests := []struct {
		v    string
		end  bool
		want time.Time
		code wallet.Code
	}{
		{"", false, time.Time{}, ""},
		{"2026-01-31T12:00:00Z", false, time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC), ""},
		{"2026-01-31T12:00:00+03:00", true, time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC), ""},
		{"2026-01-31", false, time.Date(2026, 1, 30, 21, 0, 0, 0, time.UTC), ""},
		{"2026-01-31", true, time.Date(2026, 1, 31, 21, 0, 0, 0, time.UTC), ""},
		{"31/01/2026", false, time.Time{}, wallet.CodeInvalid},
		{"2026-02-30", false, time.Time{}, wallet.CodeInvalid},
		{strings.Repeat("2", 100), false, time.Time{}, wallet.CodeInvalid},
	}
	for _, tc := range tests {
		got, err := parseQueryTime("from", tc.v, tc.end, nairobi)
		if codeOf(err) != tc.code || !got.Equal(tc.want) {
			t.Errorf("parseQueryTime(%q, %v) = %v, %v, want %v, %s", tc.v, tc.end, got, err, tc.want, tc.code)
		}
	}
}

func TestPageQuery(t *testing.T) {
	tests := []struct {
		raw    string
		cursor string
		limit  int
		code   wallet.Code
	}{
		{"", "", pageLimitDefault, ""},
		{"limit=1&cursor=abc", "abc", 1, ""},
		{"limit=100", "", 100, ""},
		{"limit=101", "", 0, wallet.CodeInvalid},
		{"limit=0", "", 0, wallet.CodeInvalid},
		{"limit=-1", "", 0, wallet.CodeInvalid},
		{"limit=ten", "", 0, wallet.CodeInvalid},
		{"cursor=" + strings.Repeat("c", cursorBytesMax+1), "", 0, wallet.CodeInvalid},
		{"cursor=a%20b", "", 0, wallet.CodeInvalid},
	}
	for _, tc := range tests {
		q, _ := readQuery(tc.raw, "cursor", "limit")
		cursor, limit, err := pageQuery(q)
		if codeOf(err) != tc.code || cursor != tc.cursor || limit != tc.limit {
			t.Errorf("pageQuery(%q) = %q, %d, %v, want %q, %d, %s", tc.raw, cursor, limit, err, tc.cursor, tc.limit, tc.code)
		}
	}
}

func TestBearer(t *testing.T) {
	tests := []struct {
		header, want string
		code         wallet.Code
	}{
		{"Bearer kbk_abc_def", "kbk_abc_def", ""},
		{"bearer  kbk_abc ", "kbk_abc", ""},
		{"", "", wallet.CodeUnauthenticated},
		{"Basic dXNlcjpwYXNz", "", wallet.CodeUnauthenticated},
		{"Bearer", "", wallet.CodeUnauthenticated},
		{"Bearer ", "", wallet.CodeUnauthenticated},
		{"Bearer a b", "", wallet.CodeUnauthenticated},
		{"Bearer " + strings.Repeat("k", apiKeyBytesMax+1), "", wallet.CodeUnauthenticated},
		{"Bearer k\x7f", "", wallet.CodeUnauthenticated},
	}
	for _, tc := range tests {
		got, err := bearer(tc.header)
		if got != tc.want || codeOf(err) != tc.code {
			t.Errorf("bearer(%q) = %q, %v, want %q, %s", tc.header, got, err, tc.want, tc.code)
		}
	}
}

func TestStatusOf(t *testing.T) {
	tests := []struct {
		code wallet.Code
		want int
	}{
		{wallet.CodeInvalidAmount, 400},
		{wallet.CodeUnauthenticated, 401},
		{wallet.CodeForbidden, 403},
		{wallet.CodeNotFound, 404},
		{wallet.CodeInvalidState, 409},
		{wallet.CodeInFlight, 409},
		{wallet.CodeConflict, 422},
		{wallet.CodeInsufficientFunds, 422},
		{wallet.CodeUnavailable, 503},
		{wallet.CodeInternal, 500},
		{"invalid_something_new", 400},
		{"something_new", 422},
	}
	for _, tc := range tests {
		if got := statusOf(tc.code); got != tc.want {
			t.Errorf("statusOf(%s) = %d, want %d", tc.code, got, tc.want)
		}
	}
}

// checkNoPanic runs a decoder on fuzzed input: it may refuse, with a
// *wallet.Error (or 413), never panic or fail otherwise.
func checkDecoderError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var we *wallet.Error
	var he *echo.HTTPError
	if !errors.As(err, &we) && !errors.As(err, &he) {
		t.Fatalf("error %T %v is not a *wallet.Error", err, err)
	}
	if we != nil && (we.Code == "" || we.Code == wallet.CodeInternal || statusOf(we.Code) >= 500) {
		t.Fatalf("bad input answered %s: %v", we.Code, err)
	}
}

func FuzzPaymentRequestBody(f *testing.F) {
	f.Add([]byte(`{"phone":"+254712345678","amount":"150.00","reference":"A1","description":"x"}`))
	f.Add([]byte(`{"phone":"0712345678","amount":".5","reference":"r"}`))
	f.Add([]byte(`{"amount":150}`))
	f.Add([]byte(`{"phone":"1"}{}`))
	f.Add([]byte(`{"phone":"0712345678","amount":"1.00","amount":"2.00","reference":"r"}`))
	f.Add([]byte(`{"phone":"0712345678","Amount":"1.00","\u0061mount":"2.00","reference":"r"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var b paymentRequestBody
		err := decodeJSON(body, &b)
		checkDecoderError(t, err)
		if err != nil {
			return
		}
		amount, err := b.validate(kes)
		checkDecoderError(t, err)
		if err == nil && (amount <= 0 || amount > wallet.AmountMax || kes.FormatAmount(amount) == "") {
			t.Fatalf("validate(%+v) = %d", b, amount)
		}
	})
}

func FuzzChargeBody(f *testing.F) {
	f.Add([]byte(`{"amount":"0.0025","reference":"c1","splits":[{"to":"111","weight":70},{"to":"222","weight":30}]}`))
	f.Add([]byte(`{"amount":"1","splits":[{"to":"1","weight":1e3}]}`))
	f.Add([]byte(`{"amount":"0.0000001"}`))
	f.Add([]byte(`{"amount":"1","splits":[{"to":"1","weight":1},{"to":"2","to":"3","weight":1}]}`))
	f.Add([]byte(`{"amount":"1","reference":"\"amount\":","splits":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var b chargeBody
		err := decodeJSON(body, &b)
		checkDecoderError(t, err)
		if err != nil {
			return
		}
		req, err := b.request(kes)
		checkDecoderError(t, err)
		if err != nil {
			return
		}
		if req.Amount <= 0 || req.Amount > wallet.MicroMax {
			t.Fatalf("request(%+v) = amount %d", b, req.Amount)
		}
		// What the API writes back, it reads back.
		if back, err := kes.ParseMicro(kes.FormatMicro(req.Amount)); err != nil || back != req.Amount {
			t.Fatalf("FormatMicro(%d) reads back as %d, %v", req.Amount, back, err)
		}
	})
}

func FuzzTabOpenBody(f *testing.F) {
	f.Add([]byte(`{"phone":"+254712345678","cap":"500.25","expires_at":"2030-01-01T00:00:00Z","prepaid":true}`))
	f.Add([]byte(`{"phone":"1","cap":"1","expires_at":"2030-01-01"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var b tabOpenBody
		err := decodeJSON(body, &b)
		checkDecoderError(t, err)
		if err != nil {
			return
		}
		_, err = b.request(kes)
		checkDecoderError(t, err)
	})
}

func FuzzBulkCSV(f *testing.F) {
	f.Add("phone,amount,reference\n+254712345678,150.00,A\n")
	f.Add("\uFEFFAmount,Phone\r\n1,2\r\n")
	f.Add("phone,amount\n\"1\n")
	f.Add("phone,amount\n,\n")
	f.Fuzz(func(t *testing.T, file string) {
		checkDecoderError(t, checkBulkCSV([]byte(file)))
	})
}

func FuzzCSVUpload(f *testing.F) {
	body, ct := multipartBody(f, [2]string{"file", "phone,amount\n1,1\n"})
	f.Add(ct, body)
	f.Add("text/csv", "phone,amount\n1,1\n")
	f.Add("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nab\r\n--x--\r\n")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		got, err := readCSVUpload(contentType, strings.NewReader(body), 1<<10)
		checkDecoderError(t, err)
		if len(got) > 1<<10 {
			t.Fatalf("read %d bytes, over the limit", len(got))
		}
	})
}

func FuzzQuery(f *testing.F) {
	f.Add("from=2026-01-01&to=2026-01-31T00:00:00Z&cursor=abc&limit=10")
	f.Add("limit=-1&from=%zz")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := readQuery(raw, "from", "to", "cursor", "limit")
		checkDecoderError(t, err)
		if err != nil {
			return
		}
		_, err = parseQueryTime("from", q.Get("from"), false, time.UTC)
		checkDecoderError(t, err)
		_, err = parseQueryTime("to", q.Get("to"), true, time.UTC)
		checkDecoderError(t, err)
		_, limit, err := pageQuery(q)
		checkDecoderError(t, err)
		if err == nil && (limit < 1 || limit > pageLimitMax) {
			t.Fatalf("limit %d", limit)
		}
	})
}

func FuzzBearer(f *testing.F) {
	f.Add("Bearer kbk_abc_def")
	f.Add("bearer \x00")
	f.Fuzz(func(t *testing.T, header string) {
		key, err := bearer(header)
		if err != nil {
			if codeOf(err) != wallet.CodeUnauthenticated {
				t.Fatalf("bearer(%q) = %v", header, err)
			}
			return
		}
		if key == "" || len(key) > apiKeyBytesMax || strings.ContainsAny(key, " \t\r\n") {
			t.Fatalf("bearer(%q) = %q", header, key)
		}
	})
}

// FuzzDuplicateKey: duplicateKey finds a key held twice by an object of a
// valid JSON value exactly when a walk of encoding/json's tokens does,
// comparing keys as the decoder matches fields (case aside).
func FuzzDuplicateKey(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":{"a":2,"c":[{"a":1},{"a":2,"A":3}]}}`))
	f.Add([]byte(`{"amount":"1.00","amount":"2.00"}`))
	f.Add([]byte(`{"x":"\\\"","x\u0000":1,"X\u0000":2}`))
	f.Add([]byte(`[{"a":1},{"a":1},"{\"a\":1,\"a\":1}"]`))
	f.Add([]byte(`{"\u00e9":1,"\u00c9":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		_, got := duplicateKey(data)
		if want := tokenDuplicate(t, data); got != want {
			t.Fatalf("duplicateKey(%s) = %v, want %v", data, got, want)
		}
	})
}

// tokenDuplicate is duplicateKey written on json.Decoder's tokens.
func tokenDuplicate(t *testing.T, data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		object, expectKey bool
		keys              map[string]bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return false
		}
		if err != nil {
			t.Fatalf("valid JSON %s: %v", data, err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if top != nil && top.object {
					top.expectKey = true
				}
				stack = append(stack, &frame{object: d == '{', expectKey: d == '{', keys: map[string]bool{}})
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].expectKey = true
				}
			}
			continue
		}
		if top == nil || !top.object {
			continue
		}
		if !top.expectKey {
			top.expectKey = true
			continue
		}
		k := strings.ToLower(tok.(string))
		if top.keys[k] {
			return true
		}
		top.keys[k] = true
		top.expectKey = false
	}
}
