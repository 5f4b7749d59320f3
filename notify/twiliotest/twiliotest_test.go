package twiliotest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"
)

// rest is twilio-go pointed at the fake, as notify.NewTwilio does it.
func rest(s *Server, sid, token string) *twilio.RestClient {
	base, _ := url.Parse(s.URL)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host, r.Host = base.Scheme, base.Host, ""
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := &client.Client{Credentials: client.NewCredentials(sid, token), HTTPClient: hc}
	c.SetAccountSid(sid)
	return twilio.NewRestClientWithParams(twilio.ClientParams{Client: c})
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func create(c *twilio.RestClient, to, from, service, body, callback string) (*api.ApiV2010Message, error) {
	p := &api.CreateMessageParams{}
	if to != "" {
		p.SetTo(to)
	}
	if from != "" {
		p.SetFrom(from)
	}
	if service != "" {
		p.SetMessagingServiceSid(service)
	}
	if body != "" {
		p.SetBody(body)
	}
	if callback != "" {
		p.SetStatusCallback(callback)
	}
	return c.Api.CreateMessage(p)
}

func restCode(err error) (status, code int) {
	var re *client.TwilioRestError
	if errors.As(err, &re) {
		return re.Status, re.Code
	}
	return 0, 0
}

var sidPattern = regexp.MustCompile(`^SM[0-9a-f]{32}$`)

func TestCreate(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	s.Unsubscribe("+254700000099")
	good := rest(s, s.AccountSID, s.AuthToken)
	cases := []struct {
		name                 string
		c                    *twilio.RestClient
		to, from, svc, body  string
		wantStatus, wantCode int // of the error; 0 for success
		wantMsgStatus        string
		wantSegments         string
	}{
		{"from", good, "+254700000001", "+15005550006", "", "Hello", 0, 0, "queued", "1"},
		{"service", good, "+254700000001", "", "MG" + strings.Repeat("0", 32), "Hello", 0, 0, "accepted", "0"},
		{"two parts", good, "+254700000001", "+15005550006", "", strings.Repeat("a", 161), 0, 0, "queued", "2"},
		{"ucs-2", good, "+254700000001", "+15005550006", "", "Habari ✓", 0, 0, "queued", "1"},
		{"bad token", rest(s, s.AccountSID, "wrong"), "+254700000001", "+15005550006", "", "Hi", 401, CodeAuthenticate, "", ""},
		{"other account", rest(s, "AC"+strings.Repeat("1", 32), s.AuthToken), "+254700000001", "+15005550006", "", "Hi", 401, CodeAuthenticate, "", ""},
		{"no to", good, "", "+15005550006", "", "Hi", 400, CodeToRequired, "", ""},
		{"bad to", good, "0712345678", "+15005550006", "", "Hi", 400, CodeInvalidTo, "", ""},
		{"no from", good, "+254700000001", "", "", "Hi", 400, CodeFromRequired, "", ""},
		{"no body", good, "+254700000001", "+15005550006", "", "", 400, CodeBodyRequired, "", ""},
		{"too long", good, "+254700000001", "+15005550006", "", strings.Repeat("a", 1601), 400, CodeBodyTooLong, "", ""},
		{"stop", good, "+254700000099", "+15005550006", "", "Hi", 400, CodeUnsubscribed, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := create(tc.c, tc.to, tc.from, tc.svc, tc.body, "")
			status, code := restCode(err)
			if tc.wantStatus != 0 {
				if status != tc.wantStatus || code != tc.wantCode {
					t.Fatalf("got %d %d (%v), want %d %d", status, code, err, tc.wantStatus, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !sidPattern.MatchString(*msg.Sid) || *msg.Status != tc.wantMsgStatus || *msg.NumSegments != tc.wantSegments ||
				*msg.Body != tc.body || *msg.To != tc.to || *msg.Direction != "outbound-api" {
				t.Fatalf("got sid %s status %s segments %s, want SM… %s %s", *msg.Sid, *msg.Status, *msg.NumSegments,
					tc.wantMsgStatus, tc.wantSegments)
			}
		})
	}
	if got := len(s.Messages()); got != 4 {
		t.Errorf("got %d messages, want 4", got)
	}
	if got := s.Requests().Creates; got != len(cases) {
		t.Errorf("got %d creates counted, want %d", got, len(cases))
	}
}

func TestFailures(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	c := rest(s, s.AccountSID, s.AuthToken)
	s.FailNext(2, 500, CodeInternal)
	s.FailNext(1, 429, CodeTooManyRequests)
	var got []string
	for range 4 {
		_, err := create(c, "+254700000001", "+15005550006", "", "Hi", "")
		status, code := restCode(err)
		got = append(got, fmt.Sprint(status, code))
	}
	if want := []string{"500 20500", "500 20500", "429 20429", "0 0"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}

	s.SetOutage(503)
	if _, err := c.Api.ListMessage(&api.ListMessageParams{}); err == nil {
		t.Error("list in an outage: got no error")
	}
	if _, err := create(c, "+254700000001", "+15005550006", "", "Hi", ""); err == nil {
		t.Error("create in an outage: got no error")
	}
	s.SetOutage(0)

	s.DropNext(1)
	_, err := create(c, "+254700000001", "+15005550006", "", "dropped", "")
	if err == nil {
		t.Fatal("dropped create: got no error")
	}
	if ms := s.Messages(); len(ms) != 2 || ms[1].Body != "dropped" {
		t.Errorf("got %+v, want the dropped message kept", ms)
	}

	s.SetDelay(50 * time.Millisecond)
	start := time.Now()
	if _, err := create(c, "+254700000001", "+15005550006", "", "slow", ""); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Errorf("delayed create took %v", took)
	}
}

func TestList(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	c := rest(s, s.AccountSID, s.AuthToken)
	const n = 120
	for i := range n {
		if _, err := create(c, "+254700000001", "+15005550006", "", fmt.Sprint("m", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := create(c, "+254700000002", "+15005550006", "", "other", ""); err != nil {
		t.Fatal(err)
	}
	ms := s.Messages()
	mid := time.Now().UTC().Add(-time.Hour)
	for i, m := range ms[:10] {
		status := "delivered"
		if i < 5 {
			// Delivered long ago: before the DateSent> filter below.
			s.mu.Lock()
			s.bySID[m.SID].Sent = mid.Add(-time.Hour)
			s.mu.Unlock()
			continue
		}
		if err := s.Deliver(context.Background(), m.SID, status, 0); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		s.mu.Lock()
		s.bySID[ms[i].SID].Status = "delivered"
		s.mu.Unlock()
	}
	cases := []struct {
		name  string
		p     *api.ListMessageParams
		want  int
		first string // body of the first message listed
	}{
		{"all to one phone, paged", (&api.ListMessageParams{}).SetTo("+254700000001").SetPageSize(50), n, "m119"},
		{"limit", (&api.ListMessageParams{}).SetTo("+254700000001").SetPageSize(50).SetLimit(50), 50, "m119"},
		{"other phone", (&api.ListMessageParams{}).SetTo("+254700000002"), 1, "other"},
		{"sent after", (&api.ListMessageParams{}).SetTo("+254700000001").SetDateSentAfter(mid), 5, "m9"},
		{"sent before", (&api.ListMessageParams{}).SetTo("+254700000001").SetDateSentBefore(mid), 5, "m4"},
		{"nobody", (&api.ListMessageParams{}).SetTo("+254700000003"), 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Api.ListMessage(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want || (tc.want > 0 && *got[0].Body != tc.first) {
				first := ""
				if len(got) > 0 {
					first = *got[0].Body
				}
				t.Fatalf("got %d messages, first %q; want %d, first %q", len(got), first, tc.want, tc.first)
			}
		})
	}
}

func TestDeliverSigned(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	type callback struct {
		form  url.Values
		valid bool
	}
	got := make(chan callback, 1)
	var hook *httptest.Server
	hook = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		params := map[string]string{}
		for k, v := range r.PostForm {
			params[k] = v[0]
		}
		v := client.NewRequestValidator(s.AuthToken)
		got <- callback{r.PostForm, v.Validate(hook.URL+r.URL.RequestURI(), params, r.Header.Get("X-Twilio-Signature"))}
	}))
	defer hook.Close()
	c := rest(s, s.AccountSID, s.AuthToken)
	msg, err := create(c, "+254700000001", "+15005550006", "", "Hi", hook.URL+"/sms/status?x=1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Deliver(ctx, *msg.Sid, "undelivered", 30003); err != nil {
		t.Fatal(err)
	}
	cb := <-got
	if !cb.valid || cb.form.Get("MessageSid") != *msg.Sid || cb.form.Get("MessageStatus") != "undelivered" ||
		cb.form.Get("ErrorCode") != "30003" {
		t.Errorf("got %v valid=%v, want a valid undelivered callback for %s", cb.form, cb.valid, *msg.Sid)
	}
	if m := s.Messages()[0]; m.Status != "undelivered" || m.Sent.IsZero() {
		t.Errorf("got %+v, want undelivered with a date sent", m)
	}
	if err := s.Deliver(ctx, "SMnope", "delivered", 0); err == nil {
		t.Error("unknown sid: got no error")
	}
	if ms, err := s.Wait(ctx, 1); err != nil || len(ms) != 1 {
		t.Errorf("got %d, %v; want 1 message", len(ms), err)
	}
	short, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	if _, err := s.Wait(short, 2); err == nil {
		t.Error("wait for more than there are: got no error")
	}
}
