package sessions_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// failingRate is a session bucket whose reads of the SMS rate records fail,
// as a store in trouble does.
type failingRate struct{ jetstream.KeyValue }

func (f failingRate) Get(ctx context.Context, k string) (jetstream.KeyValueEntry, error) {
	if strings.HasPrefix(k, "sms.rate.") {
		return nil, errors.New("store unavailable")
	}
	return f.KeyValue.Get(ctx, k)
}

// Finding 10 (medium): the SMS rate limit failed open on a store error and
// on lost compare-and-set races. 50 messages at once from one phone get at
// most the limit's answers and one sms.rate_limited; a store error answers
// nothing and does nothing.
func TestSecuritySMSRateLimitFailsClosed(t *testing.T) {
	const limit = 3
	x := smsHarness(t, func(c *sessions.Config) { c.SMSRateMessages = limit })
	h := x.h
	alice := h.w.Customer("Alice", pin, 100_000)
	h.setLang(alice, "fr")

	const messages = 50
	replies := make([]sessions.SMSReply, messages)
	var wg sync.WaitGroup
	for i := range messages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := x.e.SMS(context.Background(), sessions.SMS{Provider: "twilio", ID: newID(), From: alice, Body: "HELP"})
			if err != nil {
				t.Errorf("message %d: %v", i, err)
			}
			replies[i] = r
		}()
	}
	wg.Wait()
	counts := map[string]int{}
	for _, r := range replies {
		if r.Text != "" {
			checkWords(t, "a reply", r)
		}
		switch {
		case r.Language == "fr" && r.Text == render("fr", "sms.help", nil):
			counts["help"]++
		case r.Language == "fr" && r.Text == render("fr", "sms.rate_limited", nil):
			counts["rate_limited"]++
		case r.Text == "" && r.Language == "":
			counts["none"]++
		default:
			t.Errorf("unexpected reply %+v", r)
		}
	}
	t.Logf("50 messages at once: %v", counts)
	if counts["help"] > limit || counts["rate_limited"] > 1 {
		t.Errorf("got %d answers and %d rate_limited notices, want at most %d and 1", counts["help"], counts["rate_limited"], limit)
	}
	if counts["help"] == 0 {
		t.Errorf("no message was answered: the limit let none through")
	}

	// A store that fails: nothing done, nothing answered.
	broken := h.texter(sessions.WalletClient(h.w.Client), func(c *sessions.Config) { c.Bucket = failingRate{h.kv} })
	bob := h.w.Customer("Bob", pin, 0)
	for i, body := range []string{"HELP", "BAL", pin} {
		h.checkSMS(fmt.Sprint("store error ", i), broken.send(bob, body), sessions.SMSReply{})
	}
	h.checkSMS("nothing awaited a PIN", x.send(bob, pin), reply("en", "sms.pin.expired", nil))
}

// postRaw posts a raw aggregator request to the harness's gateway and
// returns the screen it answers, as the aggregator client reads it.
func (h *harness) postRaw(aggregator, body string) sessions.Screen {
	h.t.Helper()
	ct := "application/json"
	if aggregator == "africastalking" {
		ct = "application/x-www-form-urlencoded"
	}
	resp, err := http.Post(h.base+"/ussd/"+aggregator, ct, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("%s %s: HTTP %d %s", aggregator, body, resp.StatusCode, raw)
	}
	if aggregator == "africastalking" {
		if text, ok := strings.CutPrefix(string(raw), "END "); ok {
			return sessions.Screen{Text: text, End: true}
		}
		return sessions.Screen{Text: strings.TrimPrefix(string(raw), "CON ")}
	}
	var r struct{ Type, Message string }
	if err := json.Unmarshal(raw, &r); err != nil {
		h.t.Fatal(err)
	}
	return sessions.Screen{Text: r.Message, End: strings.EqualFold(r.Type, "release")}
}

// Finding 8 (medium): a hop that does not continue the stored history
// exactly (Africa's Talking's text) or skips sequence numbers (Hubtel) was
// taken, its latest input trusted. It is refused with a clear END screen in
// the caller's language, and the session goes on for the real next hop; the
// same hop sent again is still answered with the screen it got.
func TestSecurityUSSDSessionInjection(t *testing.T) {
	h := start(t)
	for _, lang := range catalog.Languages() {
		t.Run(lang, func(t *testing.T) {
			alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)
			h.setLang(alice, lang)
			recipient := con(lang, "ussd.send.recipient", nil)
			amount := con(lang, "ussd.send.amount", map[string]any{"Currency": "KES"})
			mismatch := end(lang, "ussd.session.mismatch", nil)
			menu := sessions.Screen{Text: render(lang, "ussd.main.customer", nil)}

			at := func(id, text string) string {
				return url.Values{"sessionId": {id}, "serviceCode": {"*334#"}, "phoneNumber": {alice},
					"networkCode": {"63902"}, "text": {text}}.Encode()
			}
			hub := func(id, typ, msg string, seq int) string {
				return fmt.Sprintf(`{"Type":%q,"Mobile":%q,"SessionId":%q,"ServiceCode":"334","Message":%q,"Operator":"mtn","Sequence":%d}`,
					typ, strings.TrimPrefix(alice, "+"), id, msg, seq)
			}
			atID, hubID := "ATUid_"+lang+newID(), "hub"+lang+newID()
			steps := []struct {
				name, aggregator, body string
				want                   sessions.Screen
			}{
				{"at: start", "africastalking", at(atID, ""), menu},
				{"at: send money", "africastalking", at(atID, "1"), recipient},
				{"at: the same hop again", "africastalking", at(atID, "1"), recipient},
				{"at: the start again", "africastalking", at(atID, ""), recipient},
				{"at: a first input rewritten", "africastalking", at(atID, "3"), mismatch},
				{"at: a first input rewritten, with a next one", "africastalking", at(atID, "2*"+national(bob)), mismatch},
				{"at: inputs dropped", "africastalking", at(atID, national(bob)), mismatch},
				{"at: a longer input in place of ours", "africastalking", at(atID, "11*"+national(bob)), mismatch},
				{"at: the real next hop", "africastalking", at(atID, "1*"+national(bob)), amount},

				{"hubtel: start", "hubtel", hub(hubID, "Initiation", "*334#", 1), menu},
				{"hubtel: send money", "hubtel", hub(hubID, "Response", "1", 2), recipient},
				{"hubtel: the same hop again", "hubtel", hub(hubID, "Response", "1", 2), recipient},
				{"hubtel: a sequence skipped", "hubtel", hub(hubID, "Response", national(bob), 4), mismatch},
				{"hubtel: far ahead", "hubtel", hub(hubID, "Response", national(bob), 1_000), mismatch},
				{"hubtel: the real next hop", "hubtel", hub(hubID, "Response", national(bob), 3), amount},
			}
			for _, s := range steps {
				h.check(s.name, h.postRaw(s.aggregator, s.body), s.want)
			}
		})
	}
}

// sessionKey is the bucket key of an aggregator's session, as the engine
// makes it.
func sessionKey(aggregator, id string) string {
	return aggregator + "." + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// mac is a keyed hash of input bound to a session, as an attacker holding
// the bucket and session.key would compute it to test a guess.
func mac(sessionKey, input string) string {
	m := hmac.New(sha256.New, sealKey)
	m.Write([]byte(sessionKey))
	m.Write([]byte{0})
	m.Write([]byte(input))
	return base64.RawStdEncoding.EncodeToString(m.Sum(nil))
}

// Finding "low: keyed hashes of PIN inputs in the session bucket": the state
// of a session that took a PIN, wrong or right, holds nothing an attacker
// with the bucket and the key could test PIN guesses against: no keyed
// hash of the PIN, nor of any history that holds it, nor the PIN itself.
func TestSecurityNoPINDerivedValueInSession(t *testing.T) {
	h := start(t)
	alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)
	const wrong = "8642"
	for _, proto := range []string{"africastalking", "hubtel", "nalo"} {
		c := h.dialWith(proto, alice, "")
		c.say("1", bob, "10", "1", wrong)
		k := sessionKey(proto, c.id)
		for _, pinTyped := range []string{wrong, pin} {
			var guesses []string
			inputs := c.inputs
			for i := range inputs {
				guesses = append(guesses, mac(k, inputs[i]), mac(k, strings.Join(inputs[:i+1], "*")))
			}
			guesses = append(guesses, mac(k, pinTyped), pinTyped)
			e, err := h.kv.Get(context.Background(), k)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range guesses {
				if strings.Contains(string(e.Value()), g) {
					t.Errorf("%s: after PIN %s the state holds %q, a value a PIN guess can be tested against:\n%s", proto, pinTyped, g, e.Value())
				}
			}
			if pinTyped == wrong {
				c.say(pin) // the right one ends the session
			}
		}
	}
}

// Finding "low: USSD money keys never expire": an aggregator that reuses a
// session id once the first session has expired gets a new payment, not
// the first one's transfer back as "confirmed".
func TestSecurityUSSDKeyNotReusedAcrossSessions(t *testing.T) {
	h := start(t)
	alice, bob := h.w.Customer("Alice", pin, 100_000), h.w.Customer("Bob", pin, 0)
	for _, proto := range []string{"africastalking", "hubtel", "nalo"} {
		before := h.balance(bob)
		c := h.dialWith(proto, alice, "")
		c.say("1", bob, "10", "1", pin)
		// The session expires (the bucket's TTL), and the aggregator gives
		// a new dial the same id.
		if err := h.kv.Purge(context.Background(), sessionKey(proto, c.id)); err != nil {
			t.Fatal(err)
		}
		again := &call{h: h, e: h.e, proto: proto, phone: alice, id: c.id}
		again.hop(again.next(""))
		again.say("1", bob, "10", "1", pin)
		if got := h.balance(bob) - before; got != 2_000 {
			t.Errorf("%s: two sessions under one reused id paid bob %d, want 2000 (the second was answered with the first's transfer)", proto, got)
		}
	}
}

// Finding 7 (medium), replays: a Twilio webhook delivered again (the same
// MessageSid) is refused for at least 7 days, longer than anything a PIN
// reply can approve: the message record's time to live on the server.
func TestSecurityTwilioReplayRefusedForAWeek(t *testing.T) {
	x := smsHarness(t)
	h := x.h
	alice := h.w.Customer("Alice", pin, 100_000)
	id := newID()
	first := x.sendID(id, alice, "HELP")
	stream, err := h.w.JS.Stream(context.Background(), "KV_"+h.kv.Bucket())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.GetLastMsgForSubject(context.Background(), "$KV."+h.kv.Bucket()+".sms.msg."+sessionKey("twilio", id))
	if err != nil {
		t.Fatal(err)
	}
	// A server with per-message TTLs (NATS 2.11+) keeps the record's own
	// TTL; an older one (KIBUBU_TEST_NATS may be 2.9) keeps it for the
	// bucket's age limit. Either way: at least a week.
	if h := msg.Header.Get("Nats-TTL"); h != "" {
		ttl, err := time.ParseDuration(h)
		if err != nil {
			t.Fatalf("the message record's TTL %q: %v", h, err)
		}
		if ttl < 7*24*time.Hour {
			t.Errorf("a message id is remembered %s, want at least 7 days", ttl)
		}
	}
	cfg, err := stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.MaxAge != 0 && cfg.Config.MaxAge < 7*24*time.Hour {
		t.Errorf("the bucket keeps records %s, want at least 7 days", cfg.Config.MaxAge)
	}
	x.clock.advance(6 * 24 * time.Hour)
	h.checkSMS("the same MessageSid six days later", x.sendID(id, alice, "BAL"), first)
}

// Finding 7 (medium): a bare PIN by SMS paid the newest merchant request.
// A PIN that may have been meant for a command (a BAL whose wait ended
// after the request was made: the PIN arrives late) does nothing, and the
// reply names the request and asks for its PIN again; the next PIN pays
// it. A request made after the command's wait ended is paid by a PIN, as
// its prompt asked.
func TestSecuritySMSLatePINDoesNotPayMerchant(t *testing.T) {
	for _, lang := range catalog.Languages() {
		t.Run(lang, func(t *testing.T) {
			x := smsHarness(t, func(c *sessions.Config) { c.SMSRateMessages = 100 })
			h := x.h
			alice := h.w.Customer("Alice Wanjiru", pin, 100_000)
			h.setLang(alice, lang)
			duka := h.shop("Duka La Juma")

			h.checkSMS("balance", x.send(alice, smsWords[lang]["bal"]), reply(lang, "sms.confirm.balance", map[string]any{"Minutes": 5}))
			req := duka.request(alice, 10_000, "INV-1") // while BAL awaits its PIN
			x.clock.advance(6 * time.Minute)            // BAL's wait ends; its PIN arrives late
			h.checkSMS("the late PIN", x.send(alice, pin), reply(lang, "sms.pin.which", map[string]any{
				"Name": "Duka La Juma", "Amount": money(lang, 10_000), "Minutes": 5}))
			h.checkBalance("alice, after the late PIN", alice, 100_000)
			if s := duka.requestStatus(req.ID); s != merchant.RequestPending {
				t.Errorf("after the late PIN the request is %s, want pending", s)
			}
			h.checkSMS("the PIN asked for", x.send(alice, pin), sessions.SMSReply{}) // its receipt is the answer
			if s := duka.requestStatus(req.ID); s != merchant.RequestPaid {
				t.Errorf("after the PIN asked for the request is %s, want paid", s)
			}
			h.checkBalance("alice", alice, 90_000)

			// A request made after BAL's wait ended: its prompt is the last
			// thing that asked for a PIN.
			x.send(alice, smsWords[lang]["bal"])
			x.clock.advance(6 * time.Minute)
			h.shopClock.advance(12 * time.Minute)
			later := duka.request(alice, 5_000, "INV-2")
			h.checkSMS("a PIN for a request made later", x.send(alice, pin), sessions.SMSReply{})
			if s := duka.requestStatus(later.ID); s != merchant.RequestPaid {
				t.Errorf("the later request is %s, want paid", s)
			}
		})
	}
}
