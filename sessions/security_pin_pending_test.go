package sessions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

// bucketSnapshot is every value in the session bucket, by key.
func (h *harness) bucketSnapshot() map[string][]byte {
	h.t.Helper()
	ctx := context.Background()
	keys, err := h.kv.ListKeys(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string][]byte{}
	for k := range keys.Keys() {
		e, err := h.kv.Get(ctx, k)
		if err != nil {
			continue // expired or deleted since the listing
		}
		out[k] = e.Value()
	}
	return out
}

// keyedHashes are, for one bucket key, the keyed hashes of every 4-digit
// PIN under the session key (sealKey) as the engine made them: what an
// attacker holding the bucket and session.key compares a state against.
type keyedHashes map[string]string // hash → PIN

func allPINHashes(bucketKey string) keyedHashes {
	hs := keyedHashes{}
	for n := range 10_000 {
		p := fmt.Sprintf("%04d", n)
		hs[mac(bucketKey, p)] = p
	}
	return hs
}

// base64ish finds the runs of characters a base64 (std or url) value is
// made of, long enough to be a hash.
var base64ish = regexp.MustCompile(`[A-Za-z0-9+/_-]{20,}`)

// randomFields are the state's values that are random by construction (a
// session's nonce, the wallet's token for a pending new PIN): they are
// searched for keyed hashes, not for digits, which random text holds by
// chance.
var randomFields = map[string]bool{"nonce": true, "pending": true}

// pinIn returns where the digits pin appear in the JSON value v as a
// value, a '*'-separated part of one, or a run of digits of one.
func pinIn(v any, pin, path string) []string {
	var found []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if randomFields[k] {
				continue
			}
			found = append(found, pinIn(x, pin, path+"."+k)...)
		}
	case []any:
		for i, x := range v {
			found = append(found, pinIn(x, pin, fmt.Sprintf("%s[%d]", path, i))...)
		}
	case string:
		for _, run := range regexp.MustCompile(`[0-9]+`).FindAllString(v, -1) {
			if run == pin {
				found = append(found, path)
			}
		}
	}
	return found
}

// Finding "low: keyed hashes of PIN inputs in the session bucket", its last
// case: between "choose a new PIN" and "confirm it" (registration, the
// first PIN after a start key, a PIN change) the state held a keyed hash of
// the new PIN under session.key, so whoever had the bucket and the key
// found the PIN in 10,000 tries. At every hop of those flows, no value in
// the session bucket is the keyed hash of any 4-digit PIN, and no value
// holds the PINs typed.
func TestSecurityNoNewPINDerivedValueInSession(t *testing.T) {
	h := start(t)
	checked := 0
	hashes := map[string]keyedHashes{}
	// look checks every entry of the bucket against the PINs typed so far.
	look := func(t *testing.T, hop string, pins ...string) {
		t.Helper()
		for k, v := range h.bucketSnapshot() {
			hs := hashes[k]
			if hs == nil {
				hs = allPINHashes(k)
				hashes[k] = hs
			}
			for _, s := range base64ish.FindAllString(string(v), -1) {
				for _, cand := range []string{s, strings.TrimRight(s, "=")} {
					if p, ok := hs[cand]; ok {
						t.Errorf("%s: %s holds %q, the keyed hash of PIN %s:\n%s", hop, k, cand, p, v)
					}
				}
			}
			var doc any
			if err := json.Unmarshal(v, &doc); err != nil {
				t.Fatalf("%s: %s is not JSON: %q", hop, k, v)
			}
			for _, p := range pins {
				if at := pinIn(doc, p, k); len(at) > 0 {
					t.Errorf("%s: PIN %s in %v:\n%s", hop, p, at, v)
				}
			}
			checked++
		}
	}
	// drive sends each input and looks at the bucket after each hop.
	drive := func(t *testing.T, c *call, pins []string, inputs ...string) sessions.Screen {
		t.Helper()
		var s sessions.Screen
		for _, in := range inputs {
			s = c.say(in)
			look(t, fmt.Sprintf("after %q", in), pins...)
		}
		return s
	}

	t.Run("registration", func(t *testing.T) {
		phone := wallettest.NewPhone()
		c := h.dialWith("africastalking", phone, "en")
		pins := []string{"3907", "3917"}
		got := drive(t, c, pins, "1", "Wanjiku", "Kamau", "3907", "3917", "3907", "3907")
		h.check("registered", got, end("en", "ussd.register.done", map[string]any{"Name": "Wanjiku Kamau"}))
		if _, err := h.w.Client.VerifyPIN(context.Background(), phone, "3907"); err != nil {
			t.Errorf("the PIN chosen does not verify: %v", err)
		}
	})
	t.Run("PIN change", func(t *testing.T) {
		alice := h.w.Customer("Alice", pin, 0)
		pins := []string{pin, "4826", "4862"}
		for _, proto := range []string{"africastalking", "hubtel", "nalo"} {
			c := h.dialWith(proto, alice, "")
			got := drive(t, c, pins, "5", "3", pin, "4826", "4862", "4826", "4826")
			h.check(proto+": changed", got, end("en", "ussd.pin.changed", nil))
			if _, err := h.w.Client.ChangePIN(context.Background(), alice, "4826", pin); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("first PIN with a start key", func(t *testing.T) {
		phone := wallettest.NewPhone()
		a, err := h.w.Client.AddAgent(context.Background(), phone, "Duka Nne")
		if err != nil {
			t.Fatal(err)
		}
		c := h.dial(phone)
		got := drive(t, c, []string{"2468", a.StartKey}, a.StartKey, "2468", "2468")
		h.check("set", got, end("en", "ussd.pin.set", nil))
	})
	if checked == 0 {
		t.Fatal("no bucket entry was checked")
	}
}

// A session saved by a version that kept the new PIN's keyed hash (seal)
// and no pending token: its confirm hop goes back to choosing the PIN, as
// a mismatch does, and the flow goes on from there.
func TestPINConfirmOfAnOldSessionChoosesAgain(t *testing.T) {
	h := start(t)
	phone := wallettest.NewPhone()
	c := h.dialWith("africastalking", phone, "en")
	c.say("1", "Wanjiku", "Kamau", "3907")
	k := sessionKey("africastalking", c.id)
	ctx := context.Background()
	e, err := h.kv.Get(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		t.Fatal(err)
	}
	delete(st, "pending")
	st["seal"] = mac(k, "3907")
	old, _ := json.Marshal(st)
	if _, err := h.kv.Update(ctx, k, old, e.Revision()); err != nil {
		t.Fatal(err)
	}
	h.check("back to choosing", c.say("3907"), sessions.Screen{Text: render("en", "ussd.invalid.pin_mismatch", nil) + "\n" +
		render("en", "ussd.pin.new", map[string]any{"Digits": 4}) + nav("en")})
	h.check("registered", c.say("3907", "3907"), end("en", "ussd.register.done", map[string]any{"Name": "Wanjiku Kamau"}))
	if p, err := h.w.Client.Lookup(ctx, phone); err != nil || !p.HasPIN || p.Tier != wallet.TierBasic {
		t.Errorf("registered %+v, %v: want a basic account with a PIN", p, err)
	}
}
