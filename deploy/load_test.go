package deploy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kibubu/kibubu/gateway/aggregator"
	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
)

// The load's bounds.
const (
	// hopTimeout is an aggregator's patience with one hop (Africa's
	// Talking waits 15 s).
	hopTimeout = 15 * time.Second
	// hopRetryFor bounds how long the aggregator (a load balancer in front
	// of the gateways) keeps trying a hop on the other gateway when one
	// drops it; past it the session is abandoned.
	hopRetryFor = 30 * time.Second
	// hopRetryPause paces those tries.
	hopRetryPause = 100 * time.Millisecond
	customerPIN   = "4826"
	agentPIN      = "1357"
	serviceCode   = "*334#"
	smsShortcode  = "22334"
	replyBytesMax = 64 << 10
	// The notifier sends one phone at most 600 SMS a minute (the ceiling
	// of --sms-rate-per-phone, the fleet's setting): more wait their turn.
	// Each client paces itself so that no phone's receipts and prompts
	// pass about 400 a minute, or some would still be queued when the
	// checks run; the test is of faults, not of the rate limit.
	sessionPause = 150 * time.Millisecond // a send: a receipt to each side
	requestPause = 300 * time.Millisecond // a payment request: a prompt and a receipt
	chargePause  = 150 * time.Millisecond // a tab charge
	smsPause     = 300 * time.Millisecond // an SMS payment: a reply, and a receipt to each side
	// approveRetryFor bounds retrying an approval: a payment request a
	// killed wallet left being paid is settled from its key once its lease
	// (a minute, wallet/merchant) has passed.
	approveRetryFor = 90 * time.Second
)

// failure is a hop or call answered with a 5xx, a dropped connection or
// an unclean screen: each must fall in a failover window.
type failure struct {
	started, at time.Time // when the failed try began, and when it failed
	what        string
}

// ussdSession is one send-money session and what the client was told.
type ussdSession struct {
	id       string
	from, to string
	amount   int64  // minor units
	acked    string // the ref of "… confirmed" on the last screen; "" when not told
	ended    string // the last screen when not confirmed
	start    time.Time
}

// smsPayment is one SEND by SMS keyword, confirmed with the PIN.
type smsPayment struct {
	from, to string
	amount   int64
}

// merchantCall is a payment request or a tab charge and its outcome.
type paymentRequest struct {
	id, phone string
	amount    int64
	paid      bool
	ref       string // the transaction, once paid
}

// loader runs the load and records everything the clients were told.
type loader struct {
	f        *fleet
	hc       *http.Client
	phones   []string
	agent    string
	prTill   string // the merchant taking payment requests
	tabTill  string // the merchant charging a tab
	prKey    string
	tabKey   string
	tab      string
	receiver *receiver

	hops atomic.Int64

	mu       sync.Mutex
	sessions []*ussdSession
	sms      []smsPayment
	requests []*paymentRequest
	charges  []string // tab charge ids acknowledged
	failures []failure
	errs     []string // what no fault explains: the test fails on any
}

// fail records a failed try that began at started.
func (l *loader) fail(started time.Time, what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, failure{started, time.Now(), what})
}

func (l *loader) errorf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) < 50 {
		l.errs = append(l.errs, fmt.Sprintf(format, args...))
	}
}

// post sends one request to gateway g, and to the other while it is
// dropped or answered with a 5xx, as a load balancer with retries does,
// each failed try recorded; it returns the answer's status and body, and
// when the try that got it began.
func (l *loader) post(ctx context.Context, g int, path, contentType string, body []byte, header http.Header) (int, []byte, time.Time, error) {
	deadline := time.Now().Add(hopRetryFor)
	for try := 0; ; try++ {
		started := time.Now()
		base := l.f.gateways[(g+try)%len(l.f.gateways)].base
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		status, reply, err := l.do(req)
		switch {
		case err == nil && status == http.StatusConflict && inFlight(reply) && time.Now().Before(deadline):
			// The same Idempotency-Key is still being processed (its first
			// try went to a gateway that died, say): a merchant's client
			// asks again in a moment, as the answer says. Not a failure.
			time.Sleep(hopRetryPause)
			continue
		case err == nil && status < 500:
			return status, reply, started, nil
		case ctx.Err() != nil:
			return 0, nil, started, ctx.Err()
		case err != nil:
			l.fail(started, fmt.Sprintf("%s %s: %v", base, path, err))
		default:
			l.fail(started, fmt.Sprintf("%s %s: HTTP %d: %.200s", base, path, status, reply))
		}
		if time.Now().After(deadline) {
			return status, reply, started, fmt.Errorf("%s: no gateway answered within %s: %v", path, hopRetryFor, err)
		}
		time.Sleep(hopRetryPause)
	}
}

// inFlight reports whether a merchant API error body has the code
// in_flight.
func inFlight(reply []byte) bool {
	var e struct{ Error struct{ Code string } }
	return json.Unmarshal(reply, &e) == nil && e.Error.Code == string(wallet.CodeInFlight)
}

func (l *loader) do(req *http.Request) (int, []byte, error) {
	resp, err := l.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, replyBytesMax))
	return resp.StatusCode, b, err
}

// ussdSession runs one send-money session whose hops alternate between
// the gateways, starting on gateway g.
func (l *loader) ussdSession(ctx context.Context, s *ussdSession, g int) error {
	inputs := []string{"1", "0" + s.to[4:], major(s.amount), "1", customerPIN}
	var screen string
	for i := 0; i <= len(inputs); i++ {
		form := url.Values{"sessionId": {s.id}, "serviceCode": {serviceCode}, "phoneNumber": {s.from},
			"networkCode": {"63902"}, "text": {strings.Join(inputs[:i], "*")}}
		status, reply, started, err := l.post(ctx, g+i, "/ussd/africastalking", "application/x-www-form-urlencoded", []byte(form.Encode()),
			http.Header{http.CanonicalHeaderKey(aggregator.USSDSecretHeader): {l.f.ussdSecret}})
		if err != nil {
			return err
		}
		l.hops.Add(1)
		screen = string(reply)
		if status != http.StatusOK {
			l.fail(started, fmt.Sprintf("session %s hop %d: HTTP %d: %.200s", s.id, i, status, reply))
			s.ended = screen
			return nil
		}
		if text, ok := strings.CutPrefix(screen, "END "); ok {
			if i == len(inputs) {
				if ref, _, ok := strings.Cut(text, " confirmed. "); ok && !strings.Contains(ref, " ") {
					s.acked = ref
					return nil
				}
			}
			// An END before the PIN, or without the confirmation: a
			// clean end, but only a fault explains it.
			l.fail(started, fmt.Sprintf("session %s hop %d: %q", s.id, i, text))
			s.ended = screen
			return nil
		}
		if !strings.HasPrefix(screen, "CON ") || i == len(inputs) {
			l.fail(started, fmt.Sprintf("session %s hop %d: unclean screen %q", s.id, i, screen))
			s.ended = screen
			return nil
		}
	}
	return nil
}

// loadAmount is the amount of a phone's k-th payment of a kind, in minor
// units: 10.00 and a cent more each time, distinct per phone, and a
// minute's worth well within fundingMinor (amounts growing by a whole unit
// each time spent 100,000.00 in 450 payments, and phones ran dry mid-load).
func loadAmount(k int) int64 { return 10_00 + int64(k) }

// major formats minor units as a person types the amount: "10.05".
func major(minor int64) string { return fmt.Sprintf("%d.%02d", minor/100, minor%100) }

// runUSSD runs sessions from phone index w to the others until ctx ends.
// Each phone's amounts go up by a cent per session (loadAmount), so a
// transfer is found in the database by its sender and amount.
func (l *loader) runUSSD(ctx context.Context, w, phones int) {
	for k := 0; ctx.Err() == nil; k++ {
		to := (w + 1 + k%(phones-1)) % phones
		s := &ussdSession{id: fmt.Sprintf("fleet-%d-%d", w, k), from: l.phones[w], to: l.phones[to],
			amount: loadAmount(k), start: time.Now()}
		if err := l.ussdSession(ctx, s, w+k); err != nil && ctx.Err() == nil {
			l.errorf("session %s: %v", s.id, err)
		}
		if ctx.Err() != nil && s.acked == "" {
			// Cut off by the end of the load, not by a fault: the
			// unfinished session is still checked (stored once or not).
			s.ended = "cut off at the end of the load"
		}
		l.mu.Lock()
		l.sessions = append(l.sessions, s)
		l.mu.Unlock()
		time.Sleep(sessionPause)
	}
}

// runSMS sends money by SMS keyword from phone index w: the command to one
// gateway, the PIN to the other, each message once with its own id
// (retried with the same id when dropped, as Africa's Talking does).
func (l *loader) runSMS(ctx context.Context, w, to int) {
	for k := 0; ctx.Err() == nil; k++ {
		p := smsPayment{from: l.phones[w], to: l.phones[to], amount: loadAmount(k)}
		l.mu.Lock()
		l.sms = append(l.sms, p)
		l.mu.Unlock()
		for i, text := range []string{fmt.Sprintf("SEND 0%s %s", p.to[4:], major(p.amount)), customerPIN} {
			var id [8]byte
			rand.Read(id[:])
			form := url.Values{"from": {p.from}, "to": {smsShortcode}, "text": {text}, "id": {"ATXid_" + hex.EncodeToString(id[:])},
				"date": {time.Now().UTC().Format("2006-01-02 15:04:05")}}
			status, reply, _, err := l.post(ctx, w+k+i, "/sms/africastalking", "application/x-www-form-urlencoded", []byte(form.Encode()),
				http.Header{"X-Sms-Secret": {l.f.smsSecret}})
			if err != nil {
				if ctx.Err() == nil {
					l.errorf("sms %s %q: %v", p.from, text, err)
				}
				return
			}
			if status != http.StatusOK {
				l.errorf("sms %s %q: HTTP %d: %.200s", p.from, text, status, reply)
				return
			}
			// The PIN must find the pending confirmation: give the
			// command's reply time to be recorded.
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(smsPause)
	}
}

// api calls the merchant API through gateway g with key, retried with the
// same Idempotency-Key while the gateways drop it.
func (l *loader) api(ctx context.Context, g int, key, method, path, idem string, body, out any) (int, error) {
	var data []byte
	if body != nil {
		data, _ = json.Marshal(body)
	}
	h := http.Header{"Authorization": {"Bearer " + key}}
	if idem != "" {
		h.Set("Idempotency-Key", idem)
	}
	var status int
	var reply []byte
	var err error
	if method == http.MethodPost {
		status, reply, _, err = l.post(ctx, g, path, "application/json", data, h)
	} else {
		deadline := time.Now().Add(hopRetryFor)
		for try := 0; ; try++ {
			started := time.Now()
			req, _ := http.NewRequestWithContext(ctx, method, l.f.gateways[(g+try)%len(l.f.gateways)].base+path, nil)
			req.Header = h
			status, reply, err = l.do(req)
			if err == nil && status < 500 || ctx.Err() != nil || time.Now().After(deadline) {
				break
			}
			l.fail(started, fmt.Sprintf("GET %s: %d %v", path, status, err))
			time.Sleep(hopRetryPause)
		}
	}
	if err != nil {
		return status, err
	}
	if status >= 300 {
		return status, fmt.Errorf("%s %s: HTTP %d: %.300s", method, path, status, reply)
	}
	if out != nil {
		return status, json.Unmarshal(reply, out)
	}
	return status, nil
}

// runRequests makes payment requests to phone index w, approved with the
// PIN as USSD "Approvals" does, until ctx ends.
func (l *loader) runRequests(ctx context.Context, w int) {
	for k := 0; ctx.Err() == nil; k++ {
		var pr struct{ ID, Status, Transaction string }
		amount := loadAmount(k)
		idem := fmt.Sprintf("pr-%d-%d", w, k)
		if _, err := l.api(ctx, w+k, l.prKey, http.MethodPost, "/v1/payment-requests", idem,
			map[string]any{"phone": l.phones[w], "amount": major(amount), "reference": idem}, &pr); err != nil {
			if ctx.Err() == nil {
				l.errorf("payment request %s: %v", idem, err)
			}
			return
		}
		r := &paymentRequest{id: pr.ID, phone: l.phones[w], amount: amount}
		l.mu.Lock()
		l.requests = append(l.requests, r)
		l.mu.Unlock()
		l.approve(ctx, r, idem)
		time.Sleep(requestPause)
	}
}

// approve approves r with the PIN, retrying while the wallet is
// unavailable or still deciding an earlier try, then reads the request
// until it is decided.
func (l *loader) approve(ctx context.Context, r *paymentRequest, idem string) {
	actx := wallet.WithPINAttempt(ctx, wallet.PINAttempt{Source: "fleet-test", Key: "approve:" + idem})
	deadline := time.Now().Add(approveRetryFor)
	var last error
	for ctx.Err() == nil {
		started := time.Now()
		res, err := merchantapi.NewClient(l.f.op).Approve(actx, r.phone, r.id, customerPIN)
		if err == nil {
			if res.Transfer != nil {
				r.paid, r.ref = true, res.Transfer.Transfer.Ref
			}
			break
		}
		last = err
		// In flight: an earlier try is being paid (or was, by a wallet
		// that died: the request is settled from its key once its lease
		// passes). A clean answer, "try again in a moment", not a failure.
		inFlight := wallet.ErrorCode(err) == wallet.CodeInFlight
		retry := inFlight || wallet.ErrorCode(err) == wallet.CodeUnavailable || errors.Is(err, context.DeadlineExceeded)
		if !retry || time.Now().After(deadline) || ctx.Err() != nil {
			break // decided otherwise, no answer, or the load is over: the request's state says what happened
		}
		if !inFlight {
			l.fail(started, fmt.Sprintf("approve %s: %v", r.id, err))
		}
		time.Sleep(hopRetryPause)
	}
	deadline = time.Now().Add(hopRetryFor)
	for ctx.Err() == nil && !r.paid {
		var pr struct{ Status, Transaction, Reason string }
		if _, err := l.api(ctx, 0, l.prKey, http.MethodGet, "/v1/payment-requests/"+r.id, "", nil, &pr); err != nil {
			if ctx.Err() == nil {
				l.errorf("payment request %s: %v", r.id, err)
			}
			return
		}
		if pr.Status != "pending" {
			r.paid, r.ref = pr.Status == "paid", pr.Transaction
			if !r.paid {
				l.errorf("payment request %s approved with the PIN is %s (%s)", r.id, pr.Status, pr.Reason)
			}
			return
		}
		if time.Now().After(deadline) {
			l.errorf("payment request %s still pending %s after its approval (the approval's last error: %v)", r.id, hopRetryFor, last)
			return
		}
		time.Sleep(hopRetryPause)
	}
}

// runCharges charges the tab until ctx ends.
func (l *loader) runCharges(ctx context.Context) {
	for k := 0; ctx.Err() == nil; k++ {
		var ch struct{ ID string }
		idem := fmt.Sprintf("charge-%d", k)
		if _, err := l.api(ctx, k, l.tabKey, http.MethodPost, "/v1/tabs/"+l.tab+"/charges", idem,
			map[string]any{"amount": "0.25", "reference": idem}, &ch); err != nil {
			if ctx.Err() == nil {
				l.errorf("tab charge %s: %v", idem, err)
			}
			return
		}
		l.mu.Lock()
		l.charges = append(l.charges, ch.ID)
		l.mu.Unlock()
		time.Sleep(chargePause)
	}
}

// receiver is a merchant's webhook endpoint: it verifies every POST's
// signature and records the events in the order they arrive.
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	secrets map[string][]byte // merchant → signing secret
	got     map[string][]hookEvent
	bad     []string
}

type hookEvent struct {
	id, typ, data string
}

func newReceiver() *receiver {
	r := &receiver{secrets: map[string][]byte{}, got: map[string][]hookEvent{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

func (r *receiver) url(merchant string) string { return r.srv.URL + "/hooks/" + merchant }

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	merchant := strings.TrimPrefix(req.URL.Path, "/hooks/")
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	secret, ok := r.secrets[merchant]
	if !ok {
		r.bad = append(r.bad, "a delivery for "+merchant+", whose secret is not known yet")
		http.Error(w, "unknown merchant", http.StatusServiceUnavailable) // retried once the secret is set
		return
	}
	if err := notify.VerifyWebhook(secret, req.Header.Get(notify.HeaderSignature), body, notify.WebhookTolerance, time.Now()); err != nil {
		r.bad = append(r.bad, fmt.Sprintf("%s: %v", req.Header.Get(notify.HeaderEventID), err))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev struct {
		ID       string          `json:"id"`
		Type     string          `json:"type"`
		Merchant string          `json:"merchant"`
		Data     json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.Merchant != merchant || ev.ID != req.Header.Get(notify.HeaderEventID) {
		r.bad = append(r.bad, fmt.Sprintf("event %.200s for %s: %v", body, merchant, err))
	}
	r.got[merchant] = append(r.got[merchant], hookEvent{id: ev.ID, typ: ev.Type, data: string(ev.Data)})
	w.WriteHeader(http.StatusOK)
}

func (r *receiver) setSecret(merchant, secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets[merchant] = []byte(secret)
}
