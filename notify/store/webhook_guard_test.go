package store

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kibubu/kibubu/notify"
)

func TestRefusedAddr(t *testing.T) {
	tests := []struct {
		addr string
		want string // "" when a guarded sender may connect
	}{
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"100.63.255.255", ""}, // just below CGNAT
		{"100.128.0.0", ""},    // just above
		{"172.15.255.255", ""}, // just below 172.16/12
		{"172.32.0.0", ""},
		{"169.253.255.255", ""},
		{"2001:4860:4860::8888", ""},
		{"64:ff9b::808:808", ""},  // 8.8.8.8 through NAT64
		{"2002:808:808::1", ""},   // 8.8.8.8 through 6to4
		{"::ffff:8.8.8.8", ""},    // IPv4-mapped public
		{"127.0.0.1", "loopback"}, //
		{"127.255.255.254", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"10.0.0.5", "private"},
		{"10.255.255.255", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.0.1", "private"},
		{"fc00::1", "private"},
		{"fd12:3456::1", "private"},
		{"fd00:ec2::254", "private"}, // AWS's IPv6 metadata
		{"fec0::1", "private"},
		{"64:ff9b:1::a00:5", "private"},
		{"::ffff:10.0.0.5", "private"},
		{"169.254.169.254", "link-local (cloud metadata)"},
		{"169.254.0.1", "link-local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"febf::1", "link-local"},
		{"100.64.0.0", "shared (carrier-grade NAT)"},
		{"100.127.255.255", "shared (carrier-grade NAT)"},
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"::", "unspecified"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"ff02::1", "multicast"},
		{"ff05::1:3", "multicast"},
		{"255.255.255.255", "reserved"},
		{"240.0.0.1", "reserved"},
		{"192.0.0.8", "reserved"},
		{"198.18.0.1", "reserved"},
		{"192.0.2.1", "reserved"},
		{"2001:db8::1", "reserved"},
		{"::10.0.0.5", "reserved"}, // IPv4-compatible, deprecated
		{"100::1", "reserved"},
		{"64:ff9b::a00:5", "private (10.0.0.5 inside)"},
		{"64:ff9b::a9fe:a9fe", "link-local (cloud metadata) (169.254.169.254 inside)"},
		{"2002:7f00:1::1", "loopback (127.0.0.1 inside)"},
	}
	for _, tt := range tests {
		a, err := netip.ParseAddr(tt.addr)
		if err != nil {
			t.Fatalf("%s: %v", tt.addr, err)
		}
		if got := notify.RefusedAddr(a); got != tt.want {
			t.Errorf("refusedAddr(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
	if got := notify.RefusedAddr(netip.Addr{}); got == "" {
		t.Error("the zero Addr is allowed")
	}
}

func TestGuardControl(t *testing.T) {
	tests := []struct {
		address string
		want    string // the error, "" for none
	}{
		{"10.0.0.5:443", "address 10.0.0.5 is private: refused"},
		{"127.0.0.1:8080", "address 127.0.0.1 is loopback: refused"},
		{"[::1]:80", "address ::1 is loopback: refused"},
		{"[fe80::1%eth0]:80", "address fe80::1%eth0 is link-local: refused"},
		{"169.254.169.254:80", "address 169.254.169.254 is link-local (cloud metadata): refused"},
		{"93.184.215.14:443", ""},
		{"[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443", ""},
		{"shop.example:443", "address shop.example:443 is not an IP address and port: refused"},
	}
	for _, tt := range tests {
		err := guardControl("tcp4", tt.address, nil)
		got := ""
		if err != nil {
			got = err.Error()
			if !errors.As(err, new(*notify.Refusal)) {
				t.Errorf("guardControl(%s) = %T, want a *refusal", tt.address, err)
			}
		}
		if got != tt.want {
			t.Errorf("guardControl(%s) = %q, want %q", tt.address, got, tt.want)
		}
	}
}

// FuzzRefuseHost feeds refuseHost the hosts of merchants' URLs: it never
// panics; a literal address is refused exactly when refusedAddr refuses
// it; a refusal is a *refusal naming the host.
func FuzzRefuseHost(f *testing.F) {
	for _, s := range []string{"shop.example", "10.0.0.5", "::1", "fe80::1%eth0", "localhost", "a.localhost.",
		"0x7f000001", "2130706433", "127.1", "0x", ".", "", "1.2.3.4.", "xn--80ak6aa92e.com", "64:ff9b::a00:5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		err := notify.RefuseHost(host)
		if err != nil {
			var rf *notify.Refusal
			if !errors.As(err, &rf) || rf.Why == "" || !strings.HasSuffix(err.Error(), ": refused") {
				t.Fatalf("refuseHost(%q) = %v, want a *refusal", host, err)
			}
		}
		if a, perr := netip.ParseAddr(strings.ToLower(strings.TrimSuffix(host, "."))); perr == nil {
			if (err != nil) != (notify.RefusedAddr(a) != "") {
				t.Fatalf("refuseHost(%q) = %v, but refusedAddr says %q", host, err, notify.RefusedAddr(a))
			}
		}
	})
}

// TestWebhookGuard runs a guarded sender against a receiver on loopback, as
// a merchant pointing its URL into the operator's network would: nothing
// reaches the receiver, every attempt records why, and the delivery fails
// when its retry window ends. The same receiver gets it from a sender with
// AllowPrivate.
func TestWebhookGuard(t *testing.T) {
	ctx := context.Background()
	st := smsStore(t, smsDB(t))
	rcv := hookEndpoint(t, st, "445566", func(int64) (int, time.Duration) { return http.StatusOK, 0 })
	if _, _, err := st.RecordBatch(ctx, nil, []notify.OutgoingWebhook{hookEvent("445566", 1, 1)}); err != nil {
		t.Fatal(err)
	}
	cfg := hookConfig(st)
	cfg.AllowPrivate = false
	cfg.RetryFor = 100 * time.Millisecond
	guarded, err := NewWebhookSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctxRun, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- guarded.Run(ctxRun) }()
	ds := hooksSettled(t, st, "445566")["445566"]
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Status != notify.DeliveryFailed || len(ds[0].Attempts) < 2 {
		t.Fatalf("guarded: %+v; want failed after several attempts", ds)
	}
	for _, a := range ds[0].Attempts {
		if a.Status != 0 || a.Error != "address 127.0.0.1 is loopback: refused" {
			t.Errorf("a guarded attempt: %+v", a)
		}
	}
	if got := rcv.Received(); len(got) != 0 {
		t.Errorf("the receiver got %d requests through the guard", len(got))
	}

	// Unguarded, a re-send is delivered.
	hookRun(t, hookConfig(st))
	if _, err := st.Resend(ctx, "445566", ds[0].ID); err != nil {
		t.Fatal(err)
	}
	ds = hooksSettled(t, st, "445566")["445566"]
	if len(ds) != 1 || ds[0].Status != notify.DeliveryDelivered {
		t.Fatalf("unguarded: %+v", ds)
	}
	if got := rcv.Received(); len(got) != 1 || !got[0].Verified {
		t.Errorf("unguarded, the receiver got %+v", got)
	}
}

// TestWebhookGuardDial checks the guard where it holds against DNS: on the
// address the transport connects to, after the name is resolved. Through
// the guarded client, a name that resolves to loopback is refused on its
// address, with nothing reaching the receiver.
func TestWebhookGuardDial(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	s, err := NewWebhookSender(WebhookSenderConfig{Store: smsStore(t, smsDB(t)), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{srv.URL, "http://localhost:" + port + "/"} {
		resp, err := s.client.Post(target, "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: answered %s through the guard", target, resp.Status)
			continue
		}
		var rf *notify.Refusal
		if got := postError(err, s.timeout); !errors.As(err, &rf) || rf.Why != "loopback" || !strings.HasSuffix(got, "is loopback: refused") {
			t.Errorf("%s: %v, recorded as %q; want a loopback refusal", target, err, got)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("the receiver got %d requests", hits.Load())
	}
}

// TestWebhookGuardProxy checks a guarded sender behind the operator's HTTP
// proxy (HTTPS_PROXY and the like), itself on a private address: the
// sender connects to the proxy, which connects to the merchant's host; a
// URL at a refused literal address is refused before the proxy sees it.
func TestWebhookGuardProxy(t *testing.T) {
	ctx := context.Background()
	st := smsStore(t, smsDB(t))
	var proxied atomic.Value // the last URL the proxy was asked for
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Store(r.URL.String())
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(proxy.Close)
	proxyURL, _ := url.Parse(proxy.URL)
	if _, err := st.SetWebhook(ctx, "445566", "http://shop.example/hooks", false); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetWebhook(ctx, "888880", "http://10.0.0.5/hooks", false); err != nil {
		t.Fatal(err)
	}
	cfg := hookConfig(st)
	cfg.AllowPrivate = false
	cfg.RetryFor = 100 * time.Millisecond
	s, err := NewWebhookSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.client.Transport = s.transport(http.ProxyURL(proxyURL))
	runUntilEnd(t, s.Run)
	if _, _, err := st.RecordBatch(ctx, nil, []notify.OutgoingWebhook{hookEvent("445566", 1, 1), hookEvent("888880", 1, 2)}); err != nil {
		t.Fatal(err)
	}
	got := hooksSettled(t, st, "445566", "888880")
	if d := got["445566"]; len(d) != 1 || d[0].Status != notify.DeliveryDelivered {
		t.Errorf("through the proxy: %+v", d)
	}
	if p, _ := proxied.Load().(string); p != "http://shop.example/hooks" {
		t.Errorf("the proxy was asked for %q", p)
	}
	d := got["888880"]
	if len(d) != 1 || d[0].Status != notify.DeliveryFailed || len(d[0].Attempts) == 0 ||
		d[0].Attempts[0].Error != "address 10.0.0.5 is private: refused" {
		t.Errorf("a private address through the proxy: %+v", d)
	}
}
