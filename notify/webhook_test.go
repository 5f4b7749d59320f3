package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// TestSignWebhook pins the signature against an HMAC computed elsewhere
// (Python's hmac module), so that a receiver in any language can check it.
func TestSignWebhook(t *testing.T) {
	got := SignWebhook([]byte("whsec_test"), time.Unix(1795000000, 0), []byte(`{"id":"evt_1"}`))
	want := "t=1795000000,v1=9768205fbb644a6a645cdd13f225c6791ed91580e4d16c14b9a8e73cd4ba4393"
	if got != want {
		t.Errorf("SignWebhook = %q, want %q", got, want)
	}
}

func TestVerifyWebhook(t *testing.T) {
	secret := []byte("whsec_0123")
	body := []byte(`{"id":"evt_1","type":"payment.received"}`)
	at := time.Unix(1795000000, 0)
	good := SignWebhook(secret, at, body)
	sig := strings.TrimPrefix(good, "t=1795000000,")
	other := strings.TrimPrefix(SignWebhook([]byte("whsec_old"), at, body), "t=1795000000,")
	tests := []struct {
		name   string
		secret []byte
		header string
		body   []byte
		now    time.Time
		want   wallet.Code // "" for valid
	}{
		{"valid", secret, good, body, at, ""},
		{"valid, 4 minutes late", secret, good, body, at.Add(4 * time.Minute), ""},
		{"valid, clock 4 minutes behind", secret, good, body, at.Add(-4 * time.Minute), ""},
		{"two signatures, one matches (rotation)", secret, "t=1795000000," + other + "," + sig, body, at, ""},
		{"spaces and an unknown scheme", secret, "t=1795000000, v0=abc, " + sig, body, at, ""},
		{"signature first", secret, sig + ",t=1795000000", body, at, ""},
		{"wrong secret", []byte("whsec_other"), good, body, at, wallet.CodeUnauthenticated},
		{"body changed", secret, good, []byte(`{"id":"evt_2","type":"payment.received"}`), at, wallet.CodeUnauthenticated},
		{"body reformatted", secret, good, []byte(`{"id": "evt_1", "type": "payment.received"}`), at, wallet.CodeUnauthenticated},
		{"timestamp changed", secret, strings.Replace(good, "1795000000", "1795000001", 1), body, at, wallet.CodeUnauthenticated},
		{"replayed an hour later", secret, good, body, at.Add(time.Hour), wallet.CodeUnauthenticated},
		{"from the future", secret, good, body, at.Add(-6 * time.Minute), wallet.CodeUnauthenticated},
		{"no header", secret, "", body, at, wallet.CodeInvalid},
		{"no timestamp", secret, sig, body, at, wallet.CodeInvalid},
		{"no signature", secret, "t=1795000000", body, at, wallet.CodeInvalid},
		{"two timestamps", secret, "t=1795000000,t=1795000000," + sig, body, at, wallet.CodeInvalid},
		{"timestamp not a number", secret, "t=soon," + sig, body, at, wallet.CodeInvalid},
		{"negative timestamp", secret, "t=-1," + sig, body, at, wallet.CodeInvalid},
		{"short signature", secret, "t=1795000000,v1=abcd", body, at, wallet.CodeInvalid},
		{"signature not hex", secret, "t=1795000000,v1=" + strings.Repeat("zz", 32), body, at, wallet.CodeInvalid},
		{"not key=value", secret, "t=1795000000;" + sig, body, at, wallet.CodeInvalid},
		{"too long", secret, good + strings.Repeat(",x=y", 300), body, at, wallet.CodeInvalid},
		{"too many signatures", secret, "t=1795000000" + strings.Repeat(","+other, 9) + "," + sig, body, at, wallet.CodeInvalid},
	}
	for _, tt := range tests {
		err := VerifyWebhook(tt.secret, tt.header, tt.body, 0, tt.now)
		if got := wallet.ErrorCode(err); got != tt.want {
			t.Errorf("%s: %v (code %q), want code %q", tt.name, err, got, tt.want)
		}
	}
	// A tolerance of its own.
	if err := VerifyWebhook(secret, good, body, time.Hour, at.Add(59*time.Minute)); err != nil {
		t.Errorf("an hour's tolerance, 59 minutes late: %v", err)
	}
}

// FuzzVerifyWebhook feeds VerifyWebhook arbitrary headers and bodies: it must
// never panic, must answer with a *wallet.Error of a known code, and must
// accept only a header holding the true signature of the body.
func FuzzVerifyWebhook(f *testing.F) {
	secret := []byte("whsec_fuzz")
	at := time.Unix(1795000000, 0)
	body := []byte(`{"id":"evt_1"}`)
	f.Add(SignWebhook(secret, at, body), body)
	f.Add("t=1795000000,v1=00", body)
	f.Add("t=,v1=", []byte{})
	f.Add(",,,=,=", []byte("x"))
	f.Add("t=99999999999999999999,v1="+strings.Repeat("a", 64), body)
	f.Add("t=1795000000,v1="+strings.Repeat("A", 64)+",v1="+strings.Repeat("0", 64), body)
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := VerifyWebhook(secret, header, body, time.Hour, at)
		if err == nil {
			// Accepted: the header must hold the HMAC of its own timestamp
			// and this body, and that timestamp be within the hour.
			ts, sigs, perr := parseSignature(header)
			if perr != nil {
				t.Fatalf("accepted %q, which does not parse: %v", header, perr)
			}
			want := webhookMAC(secret, ts, body)
			if !slices.ContainsFunc(sigs, func(s []byte) bool { return bytes.Equal(s, want) }) {
				t.Fatalf("accepted %q for %q without its signature", header, body)
			}
			if sec, _ := strconv.ParseInt(ts, 10, 64); at.Sub(time.Unix(sec, 0)).Abs() > time.Hour {
				t.Fatalf("accepted %q, outside the tolerance", header)
			}
			return
		}
		var we *wallet.Error
		if !errors.As(err, &we) || (we.Code != wallet.CodeInvalid && we.Code != wallet.CodeUnauthenticated) {
			t.Fatalf("VerifyWebhook(%q) = %v, want a *wallet.Error invalid_request or unauthenticated", header, err)
		}
	})
}

func TestValidateWebhookURL(t *testing.T) {
	tests := []struct {
		url     string
		https   bool // RequireHTTPS
		private bool // AllowPrivate
		ok      bool
		msg     string // in the refusal
	}{
		{"https://shop.example/hooks/kibubu", true, false, true, ""},
		{"https://shop.example:8443/hooks?merchant=1", true, false, true, ""},
		{"https://shop.example./hooks", true, false, true, ""},
		{"http://shop.example/hooks", false, false, true, ""},
		{"https://8.8.8.8/hooks", true, false, true, ""},
		{"https://[2001:4860:4860::8888]/hooks", true, false, true, ""},
		{"https://123.example/", true, false, true, ""},        // a number first, a name last
		{"https://[64:ff9b::808:808]/", true, false, true, ""}, // 8.8.8.8 through NAT64
		{"http://127.0.0.1:8080/", false, true, true, ""},      // a developer's receiver
		{"http://localhost:8080/", false, true, true, ""},
		{"http://10.0.0.5/", false, true, true, ""},
		{"http://shop.example/hooks", true, false, false, "must be https"}, // production: https only
		{"ftp://shop.example/", false, false, false, "http or https"},
		{"shop.example/hooks", false, false, false, ""},
		{"/hooks", false, false, false, ""},
		{"https://", false, false, false, "no host"},
		{"https://:443/", false, false, false, "no host"},
		{"https://user:pass@shop.example/", false, false, false, "credentials"},
		{"https://shop.example/#frag", false, false, false, "fragment"},
		{"https://shop.example/a b", false, false, false, ""},
		{"https://shop.example/" + strings.Repeat("a", 2048), false, false, false, "2048 bytes"},
		{"", false, false, false, ""},
		{"javascript:alert(1)", false, false, false, ""},
		{"https://shop.example/\n", false, false, false, ""},
		// The guard: the operator's network is not a merchant's to reach.
		{"http://127.0.0.1:8080/", false, false, false, "address 127.0.0.1 is loopback"},
		{"https://127.9.9.9/", false, false, false, "address 127.9.9.9 is loopback"},
		{"https://[::1]:8443/", false, false, false, "address ::1 is loopback"},
		{"https://10.0.0.5/hooks", true, false, false, "address 10.0.0.5 is private"},
		{"https://172.16.4.4/", false, false, false, "is private"},
		{"https://192.168.1.1/", false, false, false, "is private"},
		{"https://[fd00::1]/", false, false, false, "is private"},
		{"https://[::ffff:10.0.0.5]/", false, false, false, "is private"},
		{"https://169.254.169.254/latest/meta-data/", false, false, false, "link-local (cloud metadata)"},
		{"https://169.254.1.1/", false, false, false, "is link-local"},
		{"https://[fe80::1%25eth0]/", false, false, false, "is link-local"},
		{"https://100.64.0.1/", false, false, false, "carrier-grade NAT"},
		{"https://0.0.0.0:8080/", false, false, false, "unspecified"},
		{"https://[::]/", false, false, false, "unspecified"},
		{"https://224.0.0.1/", false, false, false, "multicast"},
		{"https://[ff02::1]/", false, false, false, "multicast"},
		{"https://255.255.255.255/", false, false, false, "reserved"},
		{"https://[64:ff9b::a00:5]/", false, false, false, "private (10.0.0.5 inside)"},
		{"https://[2002:a9fe:a9fe::1]/", false, false, false, "cloud metadata"},
		{"https://localhost/", false, false, false, "host localhost is loopback"},
		{"https://LocalHost.:8443/", false, false, false, "is loopback"},
		{"https://admin.localhost/", false, false, false, "is loopback"},
		{"https://2130706433/", false, false, false, "numeric but not a plain IP address"},
		{"https://0x7f000001/", false, false, false, "numeric"},
		{"https://127.1/", false, false, false, "numeric"},
		{"https://010.0.0.1/", false, false, false, "numeric"},
	}
	for _, tt := range tests {
		var opts []WebhookOption
		if tt.https {
			opts = append(opts, RequireHTTPS())
		}
		if tt.private {
			opts = append(opts, AllowPrivate())
		}
		err := ValidateWebhookURL(tt.url, opts...)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateWebhookURL(%.60q, https %v, private %v) = %v, want ok %v", tt.url, tt.https, tt.private, err, tt.ok)
		}
		if err != nil && (wallet.ErrorCode(err) != wallet.CodeInvalid || !strings.Contains(err.Error(), tt.msg)) {
			t.Errorf("ValidateWebhookURL(%.60q): %v, want invalid_request saying %q", tt.url, err, tt.msg)
		}
	}
	// A long host is shown cut short.
	long := "https://" + strings.Repeat("a", 300) + ".localhost/"
	if err := ValidateWebhookURL(long); err == nil || len(err.Error()) > 200 {
		t.Errorf("a long localhost name: %v", err)
	}
}

// FuzzValidateWebhookURL feeds ValidateWebhookURL what a merchant might
// send: it never panics, refuses with invalid_request, and what it accepts
// is an absolute http(s) URL with a host and no credentials, which the
// sender can POST to; guarded, not at a refused literal address.
func FuzzValidateWebhookURL(f *testing.F) {
	for _, s := range []string{"https://shop.example/hooks", "http://127.0.0.1:8080/", "https://user@x/", "https://[::1]:443/a?b=c",
		"https://%zz/", "http://a b/", "https://\x00/", "//x.example/", "HTTPS://SHOP.EXAMPLE/", "https://[::ffff:a00:5]/",
		"https://[fe80::1%25en0]/", "https://0x7f.1/", "https://localhost./", "https://[64:ff9b::7f00:1]/"} {
		f.Add(s, false, false)
		f.Add(s, true, true)
	}
	f.Fuzz(func(t *testing.T, raw string, https, private bool) {
		var opts []WebhookOption
		if https {
			opts = append(opts, RequireHTTPS())
		}
		if private {
			opts = append(opts, AllowPrivate())
		}
		err := ValidateWebhookURL(raw, opts...)
		if err != nil {
			if wallet.ErrorCode(err) != wallet.CodeInvalid {
				t.Fatalf("%q: %v, want invalid_request", raw, err)
			}
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil || (u.Scheme != "https" && (https || u.Scheme != "http")) || u.Hostname() == "" || u.User != nil {
			t.Fatalf("accepted %q: %+v, %v", raw, u, perr)
		}
		if _, err := http.NewRequest(http.MethodPost, raw, nil); err != nil {
			t.Fatalf("accepted %q, which cannot be POSTed to: %v", raw, err)
		}
		if a, err := netip.ParseAddr(strings.TrimSuffix(u.Hostname(), ".")); err == nil && !private && RefusedAddr(a) != "" {
			t.Fatalf("accepted %q, at %s address %s", raw, RefusedAddr(a), a)
		}
	})
}

func TestDeliveryID(t *testing.T) {
	a := NewDeliveryID(time.Unix(1795000000, 0))
	b := NewDeliveryID(time.Unix(1795000000, 1))
	if !ValidDeliveryID(a) || !ValidDeliveryID(b) || a >= b {
		t.Errorf("ids %q, %q: want valid and increasing", a, b)
	}
	for _, id := range []string{"", "whd_", "whd_short", "pr_" + a[4:], a + "x", strings.ToUpper(a), "whd_" + strings.Repeat("!", 26)} {
		if ValidDeliveryID(id) {
			t.Errorf("ValidDeliveryID(%q) = true", id)
		}
	}
	if s := NewWebhookSecret(); !strings.HasPrefix(s, WebhookSecretPrefix) || len(s) != len(WebhookSecretPrefix)+64 || s == NewWebhookSecret() {
		t.Errorf("secret %q", s)
	}
}

// TestTransferEvents checks which merchant gets which event of each
// transfer of the hand-built day, and what the event says: the transfer as
// the merchant sees it, in the REST API's shape (merchant.TransactionView).
func TestTransferEvents(t *testing.T) {
	evs := day("en")
	type hook struct {
		merchant string
		typ      merchant.EventType
		amount   string
		fee      string
		net      string
		dir      string
		cp       string
	}
	tests := []struct {
		event string
		want  []hook
	}{
		{"float", nil},
		{"deposit", nil},
		{"send", nil},
		{"reversal", nil},
		{"airtime", nil},
		{"withdraw", nil},
		{"hold", nil},
		{"release", nil},
		{"till", []hook{{"445566", merchant.EventPaymentReceived, "300.00", "1.50", "298.50", "in", "+254722000001"}}},
		{"paybill", []hook{{"888880", merchant.EventPaymentReceived, "250.00", "1.25", "248.75", "in", "+254722000001"}}},
		// A business without a contact phone gets its webhook all the same.
		{"paybill-phoneless", []hook{{"600100", merchant.EventPaymentReceived, "100.00", "0.50", "99.50", "in", "+254722000001"}}},
		{"payout", []hook{{"445566", merchant.EventPayoutPaid, "100.00", "1.00", "-101.00", "out", "+254722000002"}}},
		{"refund", []hook{{"445566", merchant.EventRefund, "50.00", "0.00", "-50.00", "out", "+254722000001"}}},
		// Each payee of a split settlement, with its own share.
		{"settle", []hook{
			{"445566", merchant.EventPaymentReceived, "6.93", "0.00", "6.93", "in", "+254722000001"},
			{"888880", merchant.EventPaymentReceived, "2.97", "0.00", "2.97", "in", "+254722000001"},
		}},
	}
	for _, tt := range tests {
		ev := evs[tt.event]
		var got []hook
		for _, e := range TransferEvents(kes, ev) {
			var tx merchant.TransactionView
			dec := json.NewDecoder(bytes.NewReader(e.Data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&tx); err != nil {
				t.Fatalf("%s: %s: %v", tt.event, e.Data, err)
			}
			got = append(got, hook{e.Merchant, e.Type, tx.Amount, tx.Fee, tx.Net, tx.Direction, tx.Counterparty})
			if want := "evt_" + ev.Transfer.Ref + "_" + e.Merchant; e.ID != want {
				t.Errorf("%s: id %q, want %q", tt.event, e.ID, want)
			}
			if tx.ID != ev.Transfer.Ref || tx.Kind != string(ev.Transfer.Kind) || tx.Currency != "KES" || tx.Refunded != "" ||
				!tx.Created.Equal(ev.Transfer.Created) || !e.Created.Equal(ev.Transfer.Created) {
				t.Errorf("%s: %+v of %+v", tt.event, tx, ev.Transfer)
			}
			// The data is the view of the transaction the merchant would be
			// answered: ViewEventData of it gives the same bytes.
			var p wallet.Party
			for _, q := range ev.Parties {
				if q.Number == e.Merchant {
					p = q
				}
			}
			stored, _ := json.Marshal(merchant.TransactionOf(ev, p))
			if again, err := merchant.ViewEventData(kes, e.Type, stored); err != nil || !bytes.Equal(again, e.Data) {
				t.Errorf("%s: data %s, ViewEventData of the transaction %s (%v)", tt.event, e.Data, again, err)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: events\n%+v\nwant\n%+v", tt.event, got, tt.want)
		}
	}
	var tx merchant.TransactionView
	json.Unmarshal(TransferEvents(kes, evs["refund"])[0].Data, &tx)
	if tx.Refunds != "QM1A2B3C6F" || tx.Name != "JOHN KAMAU" || tx.Reference != "QM1A2B3C6F" {
		t.Errorf("refund view %+v: want it to name the refunded payment and the customer", tx)
	}
	json.Unmarshal(TransferEvents(kes, prepaidSettle("en"))[0].Data, &tx)
	if tx.Amount != "24.75" || tx.Counterparty != wallet.SystemTabs {
		t.Errorf("prepaid settlement view %+v: want 24.75 from the tabs account", tx)
	}
	// The events of a redelivered transfer are the same.
	a, _ := json.Marshal(TransferEvents(kes, evs["settle"]))
	b, _ := json.Marshal(TransferEvents(kes, evs["settle"]))
	if string(a) != string(b) {
		t.Error("TransferEvents is not a function of its event")
	}
	// In a currency without decimals, the amounts have none.
	ugx := wallet.Currency{Code: "UGX", Exponent: 0}
	json.Unmarshal(TransferEvents(ugx, evs["till"])[0].Data, &tx)
	if tx.Amount != "30000" || tx.Fee != "150" || tx.Currency != "UGX" {
		t.Errorf("till view in UGX %+v: want 30000 with a fee of 150", tx)
	}
}

// TestMerchantWebhook checks the body of a merchant event's delivery: the
// event without the customer's phone and language, its data the object's
// view; an unknown type's data as it came; a known type's garbled data an
// error.
func TestMerchantWebhook(t *testing.T) {
	created := time.Date(2026, 11, 21, 11, 0, 0, 123456789, time.UTC)
	pr := merchant.PaymentRequest{ID: "pr_1", Merchant: "445566", MerchantName: "Duka la Awa", Phone: "+254722000001", Amount: 150_00,
		Reference: "INV-1", Status: merchant.RequestPaid, Transaction: "QM1A2B3C4D", Created: created, Expires: created.Add(2 * time.Minute),
		Updated: created.Add(time.Minute)}
	data, _ := json.Marshal(pr)
	ev := merchant.OutboxEvent{Event: merchant.Event{ID: "evt_1", Type: merchant.EventRequestPaid, Merchant: "445566", Created: created, Data: data},
		Phone: "+254722000001", Language: "sw"}
	w, err := MerchantWebhook(kes, ev, 7)
	if err != nil {
		t.Fatal(err)
	}
	if w.Merchant != "445566" || w.Event != "evt_1" || w.Type != merchant.EventRequestPaid || w.Seq != 7 {
		t.Errorf("delivery %+v", w)
	}
	want, _ := json.Marshal(merchant.Event{ID: "evt_1", Type: merchant.EventRequestPaid, Merchant: "445566", Created: created,
		Data: mustJSON(t, merchant.ViewPaymentRequest(kes, &pr))})
	if !bytes.Equal(w.Payload, want) {
		t.Errorf("payload\n%s\nwant\n%s", w.Payload, want)
	}
	if bytes.Contains(w.Payload, []byte(`"language"`)) || !bytes.Contains(w.Payload, []byte(`"amount":"150.00","currency":"KES"`)) {
		t.Errorf("payload %s: want the view, without the language", w.Payload)
	}

	future := ev
	future.Type, future.Data = "loyalty.points", json.RawMessage(`{"points":3}`)
	if w, err := MerchantWebhook(kes, future, 8); err != nil || !bytes.Contains(w.Payload, []byte(`"data":{"points":3}`)) {
		t.Errorf("an unknown type: %s, %v; want its data as it came", w.Payload, err)
	}
	for _, bad := range []string{`{"id":"pr_1","amount":"150.00"}`, `[]`, `{}`, `null`} {
		garbled := ev
		garbled.Data = json.RawMessage(bad)
		if _, err := MerchantWebhook(kes, garbled, 9); err == nil {
			t.Errorf("data %s: no error", bad)
		}
	}
}

// mustJSON is v in JSON.
func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
