package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/twilio/twilio-go/client"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/sessions"
)

// The harness every SMS table runs on, after courier's handlertest (and
// runUSSDCases): a raw request in; the raw response, what the engine and
// the notifier received and the outcome observed out.

const (
	// testTwilioToken signs the tables' Twilio requests; wrongTwilioToken
	// is an impostor's. Neither may be logged.
	testTwilioToken  = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
	wrongTwilioToken = "0123456789abcdef0123456789abcdef"
	// testPublicURL is where the tables' Twilio thinks the server is: the
	// TLS proxy in front of the in-process server.
	testPublicURL = "https://pay.example.com"
)

// testSMSConfig mounts both providers.
var testSMSConfig = SMSConfig{PublicURL: testPublicURL, TwilioAuthToken: testTwilioToken, AfricasTalkingSecret: testSecret}

// fakeSMSEngine records the messages the adapters hand it and answers each
// with reply, err.
type fakeSMSEngine struct {
	reply sessions.SMSReply
	err   error

	mu         sync.Mutex
	calls      []sessions.SMS
	noDeadline bool
}

var _ SMSEngine = (*fakeSMSEngine)(nil)

func (f *fakeSMSEngine) SMS(ctx context.Context, m sessions.SMS) (sessions.SMSReply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, m)
	if _, ok := ctx.Deadline(); !ok {
		f.noDeadline = true
	}
	return f.reply, f.err
}

// fakeSMSOut records what the adapters hand the notifier, as the notifier
// would send it, and fails every Reply and Report with err. A Reply is
// checked as the notifier decodes one, must answer an Inbound of its
// phone handed over before, and is recorded rendered from the catalogue.
type fakeSMSOut struct {
	err error

	mu         sync.Mutex
	inbound    map[string]string // id → phone
	sent       []notify.Message
	reports    []notify.Report
	noDeadline bool
}

var _ SMSOut = (*fakeSMSOut)(nil)

var testCatalog = func() *locales.Catalog {
	c, err := locales.New()
	if err != nil {
		panic(err)
	}
	return c
}()

func (f *fakeSMSOut) Inbound(ctx context.Context, in notify.Inbound) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inbound == nil {
		f.inbound = map[string]string{}
	}
	f.inbound[in.ID] = in.Phone
	if _, ok := ctx.Deadline(); !ok {
		f.noDeadline = true
	}
	return nil
}

func (f *fakeSMSOut) Reply(ctx context.Context, r notify.Reply) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		f.noDeadline = true
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if r, err = notify.DecodeReply(data, testCatalog); err != nil {
		return fmt.Errorf("%w: %w", notify.ErrNotReply, err) // as Client.Reply
	}
	if f.inbound[r.Inbound] != r.To {
		return errors.New("a reply to a phone that did not write in")
	}
	text, err := testCatalog.RenderWords(r.Language, r.Words)
	if err != nil {
		return err
	}
	f.sent = append(f.sent, notify.Message{Key: r.Key(), To: r.To, Language: r.Language, Text: text})
	return f.err
}

func (f *fakeSMSOut) Report(ctx context.Context, r notify.Report) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, r)
	if _, ok := ctx.Deadline(); !ok {
		f.noDeadline = true
	}
	return f.err
}

// smsCase is one raw request and everything expected of it.
type smsCase struct {
	name string

	// The request, as rawRequest documents it.
	method, path, query, contentType, body, remoteAddr string
	header                                             map[string]string
	unsized                                            bool
	sends                                              int

	cfg *SMSConfig // the table's config when nil

	// Twilio signing, for tables that sign: by default the harness signs
	// body at testPublicURL + the request target with testTwilioToken.
	unsigned  bool   // send no X-Twilio-Signature
	sig       string // send this signature instead
	signURL   string // sign this URL instead
	signBody  string // sign this body instead (a tampered request)
	signToken string // sign with this token instead

	reply   sessions.SMSReply // the engine's answer
	err     error             // the engine's error
	sendErr error             // the notifier's error

	wantStatus      int
	wantBody        string          // the raw body, less echo's trailing newline
	wantContentType string          // checked when not empty
	wantSMS         *sessions.SMS   // what the engine got on every send; nil: never called
	wantSent        *notify.Message // what Send got on every send; nil: never called
	wantReport      *notify.Report  // what Report got on every send; nil: never called
	wantResult      string          // the observed outcome's Result
	wantLog         string          // a substring the log must hold, when not empty
}

// request gathers the case's request for the harness.
func (tc smsCase) request() rawRequest {
	return rawRequest{method: tc.method, path: tc.path, query: tc.query, contentType: tc.contentType, header: tc.header,
		body: tc.body, unsized: tc.unsized, remoteAddr: tc.remoteAddr, sends: tc.sends}
}

// runSMSCases sends each case's request through New's middleware and
// MountSMS, as production does, and checks the response, the calls on the
// engine and the notifier, the observed outcome and the log. sign says
// whether the table's requests carry Twilio signatures.
func runSMSCases(t *testing.T, path string, cfg SMSConfig, sign bool, cases []smsCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logged bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
			e := New(log)
			engine := &fakeSMSEngine{reply: tc.reply, err: tc.err}
			out := &fakeSMSOut{err: tc.sendErr}
			c := cfg
			if tc.cfg != nil {
				c = *tc.cfg
			}
			var mu sync.Mutex
			var outcomes []SMSOutcome
			c.Observe = func(o SMSOutcome) {
				mu.Lock()
				defer mu.Unlock()
				outcomes = append(outcomes, o)
			}
			MountSMS(e, engine, out, c, log)

			req := tc.request()
			method, target := req.target(path)
			sig := ""
			if sign && !tc.unsigned {
				sig = tc.sig
				if sig == "" {
					signURL, signBody, token := c.PublicURL+target, tc.body, c.TwilioAuthToken
					if tc.signURL != "" {
						signURL = tc.signURL
					}
					if tc.signBody != "" {
						signBody = tc.signBody
					}
					if tc.signToken != "" {
						token = tc.signToken
					}
					form, err := url.ParseQuery(signBody)
					if err != nil {
						t.Fatalf("the case's signed body does not parse: %v", err)
					}
					sig = twilioSign(token, signURL, form)
				}
			}
			var more map[string]string
			if sig != "" {
				more = map[string]string{"X-Twilio-Signature": sig}
			}
			rec := req.send(e, method, target, more)
			checkResponse(t, method, target, rec, tc.wantStatus, tc.wantBody, tc.wantContentType)
			sends := req.times()
			checkCalls(t, "SMS", engine.calls, tc.wantSMS, sends)
			checkCalls(t, "Send", out.sent, tc.wantSent, sends)
			checkCalls(t, "Report", out.reports, tc.wantReport, sends)
			if engine.noDeadline || out.noDeadline {
				t.Errorf("the engine or the notifier was called without a deadline")
			}
			if tc.wantResult != "" {
				for _, o := range outcomes {
					if o.Result != tc.wantResult || o.Duration < 0 {
						t.Errorf("observed %+v, want result %s", o, tc.wantResult)
					}
				}
				if len(outcomes) != sends {
					t.Errorf("observed %d outcomes %+v, want %d", len(outcomes), outcomes, sends)
				}
			}
			secrets := []string{testPIN, testSecret, wrongSecret, testTwilioToken, wrongTwilioToken}
			if sig != "" {
				secrets = append(secrets, sig)
			}
			checkLog(t, logged.String(), secrets, tc.wantLog)
		})
	}
}

// twilioSign signs as Twilio documents it, independently of twilio-go:
// Base64(HMAC-SHA1(token, URL + each field's name and value, sorted by
// name; a repeated field's values sorted too)). TestTwilioSignVector checks
// it against Twilio's published vector.
func twilioSign(token, fullURL string, form url.Values) string {
	names := make([]string, 0, len(form))
	for name := range form {
		names = append(names, name)
	}
	sort.Strings(names)
	s := fullURL
	for _, name := range names {
		vs := slices.Clone(form[name])
		sort.Strings(vs)
		for _, v := range vs {
			s += name + v
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Twilio's published test vector for X-Twilio-Signature (in its docs and in
// every helper library's request validator tests).
const (
	vectorToken     = "12345"
	vectorURL       = "https://mycompany.com/myapp.php?foo=1&bar=2"
	vectorSignature = "vOEb5UThFn24KEfnOFLQY2AE5FY="
)

var vectorForm = url.Values{
	"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"}, "From": {"+14158675309"},
	"To": {"+18005551212"}, "ReasonConferenceEnded": {"test"}, "Reason": {"Participant"},
}

func TestTwilioSignVector(t *testing.T) {
	if got := twilioSign(vectorToken, vectorURL, vectorForm); got != vectorSignature {
		t.Fatalf("twilioSign(vector) = %s, want %s", got, vectorSignature)
	}
}

// The vector through the adapter's own steps (twilioForm: the URL built
// from the public base and the request target, the form parsed as the
// handler parses it, the validator MountSMS builds), and every kind of
// forgery of it failing.
func TestTwilioSignatureVector(t *testing.T) {
	const target = "/myapp.php?foo=1&bar=2"
	valid := func(publicURL, target string, form url.Values, sig string) bool {
		h := &smsHandlers{cfg: SMSConfig{PublicURL: publicURL}, twilio: client.NewRequestValidator(vectorToken),
			log: slog.New(slog.DiscardHandler)}
		req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", formContentType)
		if sig != "" {
			req.Header.Set("X-Twilio-Signature", sig)
		}
		got, _, err := h.twilioForm(echo.New().NewContext(req, httptest.NewRecorder()))
		return got != nil && err == nil
	}
	with := func(name, value string) url.Values {
		f := url.Values{}
		for k, v := range vectorForm {
			f[k] = v
		}
		if value == "" {
			delete(f, name)
		} else {
			f.Set(name, value)
		}
		return f
	}
	if !valid("https://mycompany.com", target, vectorForm, vectorSignature) {
		t.Fatalf("the published vector does not validate")
	}
	if !valid("https://mycompany.com:443", target, vectorForm, vectorSignature) {
		t.Errorf("the vector does not validate with the default port in the public URL")
	}
	for _, tc := range []struct {
		name              string
		publicURL, target string
		form              url.Values
		sig               string
	}{
		{"missing signature", "https://mycompany.com", target, vectorForm, ""},
		{"wrong signature", "https://mycompany.com", target, vectorForm, "WRONG SIGNATURE"},
		{"another token's signature", "https://mycompany.com", target, vectorForm, twilioSign("54321", vectorURL, vectorForm)},
		{"a field changed", "https://mycompany.com", target, with("Digits", "1235"), vectorSignature},
		{"a field added", "https://mycompany.com", target, with("Extra", "x"), vectorSignature},
		{"a field removed", "https://mycompany.com", target, with("Reason", ""), vectorSignature},
		{"another path", "https://mycompany.com", "/other.php?foo=1&bar=2", vectorForm, vectorSignature},
		{"the query reordered", "https://mycompany.com", "/myapp.php?bar=2&foo=1", vectorForm, vectorSignature},
		{"the query dropped", "https://mycompany.com", "/myapp.php", vectorForm, vectorSignature},
		{"http, not https", "http://mycompany.com", target, vectorForm, vectorSignature},
		{"the internal address, not the public one", "http://10.0.0.5:8080", target, vectorForm, vectorSignature},
	} {
		if valid(tc.publicURL, tc.target, tc.form, tc.sig) {
			t.Errorf("%s: validates", tc.name)
		}
	}
}

func TestTwilioSignedURL(t *testing.T) {
	for _, tc := range []struct {
		name, base, target string
		absolute           bool // send the target in absolute form, as to a proxy
		want               string
	}{
		{"path", "https://pay.example.com", "/sms/twilio", false, "https://pay.example.com/sms/twilio"},
		{"query kept byte for byte", "https://pay.example.com", "/sms/twilio?b=2&a=%2B1&a=3", false,
			"https://pay.example.com/sms/twilio?b=2&a=%2B1&a=3"},
		{"escaped path kept", "https://pay.example.com", "/sms/twilio%2Fx", false, "https://pay.example.com/sms/twilio%2Fx"},
		{"a prefix the proxy strips", "https://example.com/kibubu", "/sms/twilio", false, "https://example.com/kibubu/sms/twilio"},
		{"absolute-form target", "https://pay.example.com", "http://10.0.0.5:8080/sms/twilio?x=1", true,
			"https://pay.example.com/sms/twilio?x=1"},
	} {
		req := httptest.NewRequest(http.MethodPost, tc.target, nil)
		if tc.absolute {
			req.RequestURI = tc.target
		}
		if got := twilioSignedURL(tc.base, req); got != tc.want {
			t.Errorf("%s: twilioSignedURL = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestSMSConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     SMSConfig
		wantErr string // a substring; "" for none
	}{
		{"zero value: nothing mounted", SMSConfig{}, ""},
		{"both providers", testSMSConfig, ""},
		{"a public URL with a path prefix and trailing slash", SMSConfig{PublicURL: "https://example.com/kibubu/", TwilioAuthToken: testTwilioToken}, ""},
		{"http for a local tunnel", SMSConfig{PublicURL: "http://localhost:8080", TwilioAuthToken: testTwilioToken}, ""},
		{"region in lower case", SMSConfig{Region: "ug"}, ""},
		{"token without a public URL", SMSConfig{TwilioAuthToken: testTwilioToken}, "needs the public URL"},
		{"public URL without a scheme", SMSConfig{PublicURL: "pay.example.com", TwilioAuthToken: testTwilioToken}, "must be an absolute http(s) URL"},
		{"public URL with another scheme", SMSConfig{PublicURL: "ftp://pay.example.com", TwilioAuthToken: testTwilioToken}, "must be an absolute http(s) URL"},
		{"public URL with a query", SMSConfig{PublicURL: "https://pay.example.com?x=1", TwilioAuthToken: testTwilioToken}, "scheme, host and path only"},
		{"public URL with a fragment", SMSConfig{PublicURL: "https://pay.example.com#rc=2", TwilioAuthToken: testTwilioToken}, "scheme, host and path only"},
		{"public URL with credentials", SMSConfig{PublicURL: "https://u:" + testSecret + "@pay.example.com", TwilioAuthToken: testTwilioToken},
			"scheme, host and path only"},
		{"public URL that does not parse", SMSConfig{PublicURL: "https://u:" + testSecret + "@pay example.com/%zz", TwilioAuthToken: testTwilioToken},
			"does not parse"},
		{"short token", SMSConfig{PublicURL: testPublicURL, TwilioAuthToken: "abc"}, "Twilio auth token must be 16 to 256 characters"},
		{"token with a space", SMSConfig{PublicURL: testPublicURL, TwilioAuthToken: testTwilioToken + " "}, "printable ASCII without spaces"},
		{"short Africa's Talking secret", SMSConfig{AfricasTalkingSecret: "short"}, "Africa's Talking secret must be 16 to 256 characters"},
		{"Africa's Talking secret not URL-safe", SMSConfig{AfricasTalkingSecret: "has&amp0123456789abcdef"}, "secret may only hold"},
		{"unknown region", SMSConfig{Region: "XX"}, `region "XX" is not a region`},
	} {
		err := tc.cfg.Validate()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: Validate() = %v, want nil", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: Validate() = %v, want an error containing %q", tc.name, err, tc.wantErr)
		case err != nil:
			for _, secret := range []string{testTwilioToken, testSecret, "has&amp0123456789abcdef"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("%s: Validate() = %v repeats a credential", tc.name, err)
				}
			}
		}
	}
}

func TestMountSMSOnlyConfiguredProviders(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      SMSConfig
		mounted  []string
		wantLogs []string
	}{
		{"none", SMSConfig{}, nil, []string{
			`msg="sms provider not mounted: no auth token" provider=twilio`,
			`msg="sms provider not mounted: no shared secret" provider=africastalking`}},
		{"Twilio only", SMSConfig{PublicURL: testPublicURL, TwilioAuthToken: testTwilioToken}, []string{twilioPath, twilioStatusPath},
			[]string{`provider=africastalking`}},
		{"Africa's Talking only", SMSConfig{AfricasTalkingSecret: testSecret}, []string{africasTalkingSMSPath},
			[]string{`provider=twilio`}},
		{"both", testSMSConfig, []string{twilioPath, twilioStatusPath, africasTalkingSMSPath}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logged bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logged, nil))
			e := New(log)
			engine, out := &fakeSMSEngine{}, &fakeSMSOut{}
			MountSMS(e, engine, out, tc.cfg, log)
			for _, path := range []string{twilioPath, twilioStatusPath, africasTalkingSMSPath} {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodPost, path, strings.NewReader("From=%2B254711082300"))
				req.Header.Set("Content-Type", formContentType)
				e.ServeHTTP(rec, req)
				if mounted := slices.Contains(tc.mounted, path); mounted != (rec.Code != http.StatusNotFound) {
					t.Errorf("POST %s = %d, want mounted %t", path, rec.Code, mounted)
				}
			}
			if len(engine.calls) > 0 || len(out.sent) > 0 || len(out.reports) > 0 {
				t.Errorf("an unauthenticated request reached the engine or the notifier")
			}
			for _, want := range tc.wantLogs {
				if !strings.Contains(logged.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, logged.String())
				}
			}
		})
	}
}

func TestMountSMSPanicsOnWiringMistakes(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for name, call := range map[string]func(){
		"nil engine": func() { MountSMS(New(log), nil, &fakeSMSOut{}, SMSConfig{}, log) },
		"nil out":    func() { MountSMS(New(log), &fakeSMSEngine{}, nil, SMSConfig{}, log) },
		"nil log":    func() { MountSMS(New(log), &fakeSMSEngine{}, &fakeSMSOut{}, SMSConfig{}, nil) },
		"invalid config": func() {
			MountSMS(New(log), &fakeSMSEngine{}, &fakeSMSOut{}, SMSConfig{TwilioAuthToken: testTwilioToken}, log)
		},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("MountSMS did not panic")
				}
			}()
			call()
		})
	}
}

func TestSMSMetrics(t *testing.T) {
	m := NewMetrics()
	e := New(slog.New(slog.DiscardHandler))
	MountMetrics(e, m)
	cfg := testSMSConfig
	cfg.Observe = m.ObserveSMS
	balance := sessions.SMSReply{Text: "Your balance is KES 1,250.00.", Language: "en",
		Words: locales.NewWords("sms.balance", map[string]any{"Balance": "KES 1,250.00"})}
	MountSMS(e, &fakeSMSEngine{reply: balance}, &fakeSMSOut{}, cfg,
		slog.New(slog.DiscardHandler))
	post := func(path, body, sig, secret string) {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", formContentType)
		if sig != "" {
			req.Header.Set("X-Twilio-Signature", sig)
		}
		if secret != "" {
			req.Header.Set("X-SMS-Secret", secret)
		}
		e.ServeHTTP(httptest.NewRecorder(), req)
	}
	in := twilioInbound("BAL " + testPIN)
	post(twilioPath, in, signFor(twilioPath, in), "")
	post(twilioPath, in, signFor(twilioPath, in), "")
	post(twilioPath, in, "forged", "")
	post(twilioStatusPath, twStatus("delivered", ""), signFor(twilioStatusPath, twStatus("delivered", "")), "")
	post(twilioStatusPath, twStatus("read", ""), signFor(twilioStatusPath, twStatus("read", "")), "")
	post(africasTalkingSMSPath, atInbound("BAL"), "", testSecret)
	post(africasTalkingSMSPath, "id=x", "", testSecret)

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`kibubu_sms_webhooks_total{provider="twilio",result="reply",webhook="message"} 2`,
		`kibubu_sms_webhooks_total{provider="twilio",result="forbidden",webhook="message"} 1`,
		`kibubu_sms_webhooks_total{provider="twilio",result="report",webhook="status"} 1`,
		`kibubu_sms_webhooks_total{provider="twilio",result="ignored",webhook="status"} 1`,
		`kibubu_sms_webhooks_total{provider="africastalking",result="reply",webhook="message"} 1`,
		`kibubu_sms_webhooks_total{provider="africastalking",result="bad",webhook="message"} 1`,
		`kibubu_sms_webhook_seconds_count{provider="twilio",webhook="message"} 3`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(string(body), testPIN) {
		t.Error("/metrics shows a body")
	}
}

// signFor signs body as Twilio would for path under testSMSConfig.
func signFor(path, body string) string {
	form, err := url.ParseQuery(body)
	if err != nil {
		panic(err)
	}
	return twilioSign(testTwilioToken, testPublicURL+path, form)
}

var errOutboxDown = errors.New("outbox unreachable")
