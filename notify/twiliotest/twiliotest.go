// Package twiliotest is a fake of Twilio's Messages API for tests: enough of
// POST and GET /2010-04-01/Accounts/{AccountSid}/Messages.json, in Twilio's
// own JSON shapes, for twilio-go's CreateMessage and ListMessage, with
// failures to inject and signed status callbacks to send.
//
// Point the code under test at Server.URL: notify.TwilioConfig.APIURL, or
// KIBUBU_TWILIO_API_URL for a `kibubu serve` subprocess, with the Server's
// AccountSID and AuthToken. Everything is in memory and safe for concurrent
// use; nothing here talks to the real Twilio.
//
// What it checks, as Twilio does: HTTP basic auth (401, code 20003), the
// account in the path (404, 20404), To in E.164 (400, 21211 when invalid,
// 21604 when missing), From or MessagingServiceSid (400, 21603), Body
// (400, 21602 when empty, 21617 over 1600 characters), and recipients who
// sent STOP (Unsubscribe: 400, 21610). A message is created queued (or
// accepted, through a messaging service) with no date_sent, as Twilio
// does; Deliver moves it on.
package twiliotest

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/kibubu/kibubu/locales"
)

const (
	// APIVersion is the version in the paths and in callbacks.
	APIVersion = "2010-04-01"
	// bodyBytesMax bounds a request body; Twilio's largest message is 1600
	// characters.
	bodyBytesMax = 64 << 10
	// textCharsMax is Twilio's limit on a message body.
	textCharsMax = 1600
	// pageSizeDefault and pageSizeMax are Twilio's.
	pageSizeDefault = 50
	pageSizeMax     = 1000
	// callbackTimeout bounds one status callback to the code under test.
	callbackTimeout = 10 * time.Second
	// serverTimeout bounds reading a request and writing an answer, beyond
	// any SetDelay.
	serverTimeout = time.Minute
)

// Twilio's error codes that the fake answers with.
const (
	CodeAuthenticate       = 20003 // 401: wrong account sid or auth token
	CodeNotFound           = 20404 // 404: another account's path
	CodeTooManyRequests    = 20429 // 429
	CodeInvalidTo          = 21211 // 400: To is not a valid phone number
	CodeBodyRequired       = 21602 // 400
	CodeFromRequired       = 21603 // 400: neither From nor MessagingServiceSid
	CodeToRequired         = 21604 // 400
	CodeUnsubscribed       = 21610 // 400: the recipient sent STOP
	CodeBodyTooLong        = 21617 // 400
	CodeInternal           = 20500 // 500
	CodeServiceUnavailable = 20503 // 503
)

// Message is a message the fake accepted.
type Message struct {
	SID                 string // "SM" and 32 hex digits
	AccountSID          string
	To                  string
	From                string // empty when sent through a messaging service
	MessagingServiceSID string
	Body                string
	Status              string // queued or accepted, then as Deliver set it
	StatusCallback      string
	NumSegments         int
	ErrorCode           int
	Created             time.Time
	Sent                time.Time // zero until Deliver made it sent, delivered or undelivered
}

// Requests counts the requests the fake answered (or dropped), failures included.
type Requests struct {
	Creates int // POST Messages.json
	Lists   int // GET Messages.json
}

// Config sets a Server's credentials; zero fields are generated.
type Config struct {
	AccountSID string // "AC" and 32 hex digits
	AuthToken  string // 32 hex digits
}

// Server is a running fake Twilio.
type Server struct {
	// URL is the base URL to use instead of https://api.twilio.com.
	URL        string
	AccountSID string
	AuthToken  string

	srv      *httptest.Server
	callback *http.Client

	mu           sync.Mutex
	msgs         []*Message // in creation order
	bySID        map[string]*Message
	fails        []failure // for the next creates, in order
	drops        int       // next creates to accept without answering
	outage       int       // an HTTP status every request gets; 0 for none
	delay        time.Duration
	unsubscribed map[string]bool
	requests     Requests
	accepted     chan struct{} // closed and replaced on each new message
}

type failure struct{ status, code int }

// New starts a fake Twilio on a loopback port. Close it when done.
func New(cfg Config) *Server {
	s := &Server{AccountSID: cfg.AccountSID, AuthToken: cfg.AuthToken, bySID: map[string]*Message{},
		unsubscribed: map[string]bool{}, accepted: make(chan struct{}),
		callback: &http.Client{Timeout: callbackTimeout}}
	if s.AccountSID == "" {
		s.AccountSID = "AC" + randomHex(16)
	}
	if s.AuthToken == "" {
		s.AuthToken = randomHex(16)
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Config.ReadHeaderTimeout = serverTimeout
	s.srv.Config.ReadTimeout = serverTimeout
	s.srv.Config.WriteTimeout = serverTimeout
	s.srv.Start()
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// FailNext makes the next n message creates fail with the HTTP status and
// Twilio error code given, without creating anything: 500 or 503 for an
// outage, 429 for throttling, 400 and a 21xxx code for a refusal. Calls add
// up in order. Lists are not affected.
func (s *Server) FailNext(n, status, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fails = append(s.fails, failure{status, code})
	}
}

// DropNext makes the next n message creates succeed at the fake (they are
// in Messages) but closes the connection without answering: the client
// cannot know whether the message was created.
func (s *Server) DropNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drops += n
}

// SetOutage makes every request, creates and lists, fail with the HTTP
// status given (500, 503) until it is called with 0.
func (s *Server) SetOutage(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outage = status
}

// SetDelay makes every request wait d before it is handled, as a slow
// network or API would; 0 for none.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Unsubscribe makes messages to phone fail as Twilio does after the
// recipient sent STOP (400, 21610).
func (s *Server) Unsubscribe(phone string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unsubscribed[phone] = true
}

// Messages returns a copy of every message accepted, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = *m
	}
	return out
}

// Requests returns how many requests the fake has had.
func (s *Server) Requests() Requests {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Wait waits until at least n messages were accepted and returns them all,
// or fails when ctx ends first.
func (s *Server) Wait(ctx context.Context, n int) ([]Message, error) {
	for {
		s.mu.Lock()
		have, ch := len(s.msgs), s.accepted
		s.mu.Unlock()
		if have >= n {
			return s.Messages(), nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("twiliotest: %d of %d messages: %w", have, n, ctx.Err())
		}
	}
}

// Deliver sets message sid's status (sent, delivered, undelivered, failed)
// and error code (0 for none), as the carrier's answer would, and, if the
// message has a StatusCallback, posts Twilio's status callback there,
// signed with X-Twilio-Signature. It fails for an unknown sid, or when the
// callback does not answer 2xx.
func (s *Server) Deliver(ctx context.Context, sid, status string, errorCode int) error {
	s.mu.Lock()
	m := s.bySID[sid]
	if m == nil {
		s.mu.Unlock()
		return fmt.Errorf("twiliotest: no message %s", sid)
	}
	m.Status, m.ErrorCode = status, errorCode
	if m.Sent.IsZero() && (status == "sent" || status == "delivered" || status == "undelivered") {
		m.Sent = time.Now().UTC()
	}
	msg := *m
	s.mu.Unlock()
	if msg.StatusCallback == "" {
		return nil
	}
	form := url.Values{
		"AccountSid":    {msg.AccountSID},
		"ApiVersion":    {APIVersion},
		"MessageSid":    {msg.SID},
		"SmsSid":        {msg.SID},
		"MessageStatus": {status},
		"SmsStatus":     {status},
		"To":            {msg.To},
	}
	if msg.From != "" {
		form.Set("From", msg.From)
	}
	if msg.MessagingServiceSID != "" {
		form.Set("MessagingServiceSid", msg.MessagingServiceSID)
	}
	if errorCode != 0 {
		form.Set("ErrorCode", strconv.Itoa(errorCode))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, msg.StatusCallback, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("twiliotest: status callback: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", Signature(s.AuthToken, msg.StatusCallback, form))
	resp, err := s.callback.Do(req)
	if err != nil {
		return fmt.Errorf("twiliotest: status callback: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, bodyBytesMax))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("twiliotest: status callback answered %s", resp.Status)
	}
	return nil
}

// Signature is Twilio's X-Twilio-Signature of a request to fullURL with the
// form params: Base64(HMAC-SHA1(authToken, fullURL followed by each param
// name and value, sorted by name)).
func Signature(authToken, fullURL string, params url.Values) string {
	var b strings.Builder
	b.WriteString(fullURL)
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vs := slices.Clone(params[k])
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	delay, outage := s.delay, s.outage
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	path := "/" + APIVersion + "/Accounts/"
	rest, ok := strings.CutPrefix(r.URL.Path, path)
	account, file, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || file != "Messages.json" {
		writeError(w, http.StatusNotFound, CodeNotFound, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	switch r.Method {
	case http.MethodPost:
		s.count(func(q *Requests) { q.Creates++ })
	case http.MethodGet:
		s.count(func(q *Requests) { q.Lists++ })
	default:
		writeError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed")
		return
	}
	if outage != 0 {
		writeError(w, outage, outageCode(outage), "Service unavailable (twiliotest outage)")
		return
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != s.AccountSID || pass != s.AuthToken {
		writeError(w, http.StatusUnauthorized, CodeAuthenticate, "Authenticate")
		return
	}
	if account != s.AccountSID {
		writeError(w, http.StatusNotFound, CodeNotFound, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	if r.Method == http.MethodPost {
		s.create(w, r)
	} else {
		s.list(w, r)
	}
}

func (s *Server) count(f func(*Requests)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.requests)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, bodyBytesMax)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, 20001, "Unreadable form: "+err.Error())
		return
	}
	to, from, service := r.PostForm.Get("To"), r.PostForm.Get("From"), r.PostForm.Get("MessagingServiceSid")
	body := r.PostForm.Get("Body")
	s.mu.Lock()
	if len(s.fails) > 0 {
		f := s.fails[0]
		s.fails = s.fails[1:]
		s.mu.Unlock()
		writeError(w, f.status, f.code, "Injected failure (twiliotest)")
		return
	}
	unsubscribed := s.unsubscribed[to]
	s.mu.Unlock()
	switch {
	case to == "":
		writeError(w, http.StatusBadRequest, CodeToRequired, "A 'To' phone number is required.")
		return
	case !isE164(to):
		writeError(w, http.StatusBadRequest, CodeInvalidTo, "The 'To' number "+to+" is not a valid phone number.")
		return
	case from == "" && service == "":
		writeError(w, http.StatusBadRequest, CodeFromRequired, "A 'From' or 'MessagingServiceSid' parameter is required.")
		return
	case body == "":
		writeError(w, http.StatusBadRequest, CodeBodyRequired, "Message body is required.")
		return
	case utf8.RuneCountInString(body) > textCharsMax:
		writeError(w, http.StatusBadRequest, CodeBodyTooLong, "The concatenated message body exceeds the 1600 character limit.")
		return
	case unsubscribed:
		writeError(w, http.StatusBadRequest, CodeUnsubscribed, "Attempt to send to unsubscribed recipient")
		return
	}
	_, parts := locales.Segments(body)
	m := &Message{SID: "SM" + randomHex(16), AccountSID: s.AccountSID, To: to, From: from,
		MessagingServiceSID: service, Body: body, Status: "queued", StatusCallback: r.PostForm.Get("StatusCallback"),
		NumSegments: parts, Created: time.Now().UTC()}
	if from == "" {
		// Through a messaging service Twilio picks the sender later, and
		// counts segments only then.
		m.Status, m.NumSegments = "accepted", 0
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.bySID[m.SID] = m
	close(s.accepted)
	s.accepted = make(chan struct{})
	drop := s.drops > 0
	if drop {
		s.drops--
	}
	view := s.resource(m)
	s.mu.Unlock()
	if drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // HTTP/2: abort the stream without an answer
	}
	writeJSON(w, http.StatusCreated, view)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after, before, on *time.Time
	var onDay bool
	for name, dst := range map[string]**time.Time{"DateSent>": &after, "DateSent<": &before, "DateSent": &on} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		t, day, err := parseDate(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, 20001, "Invalid "+name+": "+v)
			return
		}
		*dst = &t
		if name == "DateSent" {
			onDay = day
		}
	}
	size := pageSizeDefault
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, 20001, "Invalid PageSize: "+v)
			return
		}
		size = min(n, pageSizeMax)
	}
	page := 0
	if v := q.Get("Page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, 20001, "Invalid Page: "+v)
			return
		}
		page = n
	}
	to, from := q.Get("To"), q.Get("From")
	s.mu.Lock()
	var match []map[string]any
	// Newest first, as Twilio lists.
	for i := len(s.msgs) - 1; i >= 0; i-- {
		m := s.msgs[i]
		if (to != "" && m.To != to) || (from != "" && m.From != from) {
			continue
		}
		if after != nil || before != nil || on != nil {
			if m.Sent.IsZero() {
				continue
			}
			if after != nil && m.Sent.Before(*after) {
				continue
			}
			if before != nil && m.Sent.After(*before) {
				continue
			}
			if on != nil && !sameDate(m.Sent, *on, onDay) {
				continue
			}
		}
		match = append(match, s.resource(m))
	}
	s.mu.Unlock()
	start := min(page*size, len(match))
	end := min(start+size, len(match))
	base := "/" + APIVersion + "/Accounts/" + s.AccountSID + "/Messages.json"
	pageURI := func(p int) string {
		v := url.Values{}
		for _, k := range []string{"To", "From", "DateSent>", "DateSent<", "DateSent"} {
			if q.Has(k) {
				v.Set(k, q.Get(k))
			}
		}
		v.Set("PageSize", strconv.Itoa(size))
		v.Set("Page", strconv.Itoa(p))
		return base + "?" + v.Encode()
	}
	resp := map[string]any{
		"messages":          match[start:end],
		"page":              page,
		"page_size":         size,
		"start":             start,
		"end":               max(end-1, start),
		"uri":               pageURI(page),
		"first_page_uri":    pageURI(0),
		"next_page_uri":     nil,
		"previous_page_uri": nil,
	}
	if end < len(match) {
		resp["next_page_uri"] = pageURI(page + 1)
	}
	if page > 0 {
		resp["previous_page_uri"] = pageURI(page - 1)
	}
	writeJSON(w, http.StatusOK, resp)
}

// resource is m in Twilio's JSON shape. Call it with s.mu held.
func (s *Server) resource(m *Message) map[string]any {
	uri := "/" + APIVersion + "/Accounts/" + m.AccountSID + "/Messages/" + m.SID
	v := map[string]any{
		"account_sid":           m.AccountSID,
		"api_version":           APIVersion,
		"body":                  m.Body,
		"date_created":          m.Created.Format(time.RFC1123Z),
		"date_updated":          m.Created.Format(time.RFC1123Z),
		"date_sent":             nil,
		"direction":             "outbound-api",
		"error_code":            nil,
		"error_message":         nil,
		"from":                  nil,
		"messaging_service_sid": nil,
		"num_media":             "0",
		"num_segments":          strconv.Itoa(m.NumSegments),
		"price":                 nil,
		"price_unit":            "USD",
		"sid":                   m.SID,
		"status":                m.Status,
		"subresource_uris":      map[string]any{"media": uri + "/Media.json"},
		"to":                    m.To,
		"uri":                   uri + ".json",
	}
	if m.From != "" {
		v["from"] = m.From
	}
	if m.MessagingServiceSID != "" {
		v["messaging_service_sid"] = m.MessagingServiceSID
	}
	if !m.Sent.IsZero() {
		v["date_sent"] = m.Sent.Format(time.RFC1123Z)
	}
	if m.ErrorCode != 0 {
		v["error_code"] = m.ErrorCode
	}
	return v
}

// parseDate reads a DateSent filter: a time in RFC 3339 (what twilio-go
// sends) or a day, YYYY-MM-DD.
func parseDate(v string) (t time.Time, day bool, err error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), false, nil
	}
	t, err = time.Parse(time.DateOnly, v)
	return t, true, err
}

func sameDate(a, b time.Time, day bool) bool {
	if day {
		return a.UTC().Format(time.DateOnly) == b.UTC().Format(time.DateOnly)
	}
	return a.Truncate(time.Second).Equal(b.Truncate(time.Second))
}

func outageCode(status int) int {
	switch status {
	case http.StatusTooManyRequests:
		return CodeTooManyRequests
	case http.StatusServiceUnavailable:
		return CodeServiceUnavailable
	}
	return CodeInternal
}

func writeError(w http.ResponseWriter, status, code int, message string) {
	writeJSON(w, status, map[string]any{"code": code, "message": message, "status": status,
		"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// isE164 reports whether s is "+" and 7 to 15 digits, the first not 0.
func isE164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("twiliotest: no randomness"))
	}
	return hex.EncodeToString(b)
}
