package gateway

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/kibubu/kibubu/sessions"
)

// The harness every adapter's table runs on, after courier's handlertest:
// a raw request in, the raw response and what the engine received out.

const (
	// testPIN is typed as the last input in several cases: it must reach
	// the engine and never the log.
	testPIN = "73190482"
	// testSecret is every table's aggregator secret; wrongSecret is what an
	// impostor sends. Neither may be logged.
	testSecret  = "s3cr3t-0123456789abcdef"
	wrongSecret = "guess-0123456789abcdef"
	// peerOK is inside allowNet, peerOut outside it.
	peerOK  = "196.201.214.7:40211"
	peerOut = "203.0.113.9:40211"
)

var allowNet = netip.MustParsePrefix("196.201.214.0/24")

// fakeUSSD records the hops and ends the adapters hand it and answers
// every hop with screen, err.
type fakeUSSD struct {
	screen sessions.Screen
	err    error

	mu         sync.Mutex
	hops       []sessions.Hop
	ends       []sessions.End
	noDeadline bool // a call came without a deadline
}

var _ USSD = (*fakeUSSD)(nil)

func (f *fakeUSSD) Hop(ctx context.Context, h sessions.Hop) (sessions.Screen, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hops = append(f.hops, h)
	if _, ok := ctx.Deadline(); !ok {
		f.noDeadline = true
	}
	return f.screen, f.err
}

func (f *fakeUSSD) End(ctx context.Context, e sessions.End) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ends = append(f.ends, e)
	if _, ok := ctx.Deadline(); !ok {
		f.noDeadline = true
	}
}

// ussdCase is one raw request and everything expected of it.
type ussdCase struct {
	name string

	// The request, as rawRequest documents it.
	method, path, query, contentType, body, remoteAddr string
	header                                             map[string]string
	unsized                                            bool
	sends                                              int

	auth map[string]USSDAuth // the table's auth when nil

	screen sessions.Screen // the engine's answer
	err    error           // the engine's error

	wantStatus      int
	wantBody        string        // the raw body, less echo's trailing newline
	wantContentType string        // checked when not empty
	wantHop         *sessions.Hop // what the engine got on every send; nil: never called
	wantEnd         *sessions.End // what End got on every send; nil: never called
	wantLog         string        // a substring the log must hold, when not empty
}

// request gathers the case's request for the harness.
func (tc ussdCase) request() rawRequest {
	return rawRequest{method: tc.method, path: tc.path, query: tc.query, contentType: tc.contentType, header: tc.header,
		body: tc.body, unsized: tc.unsized, remoteAddr: tc.remoteAddr, sends: tc.sends}
}

// runUSSDCases sends each case's request through New's middleware and
// MountUSSD, as production does, and checks the response, the engine's
// calls and the log.
func runUSSDCases(t *testing.T, path string, auth map[string]USSDAuth, cases []ussdCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logged bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
			e := New(log)
			fake := &fakeUSSD{screen: tc.screen, err: tc.err}
			a := auth
			if tc.auth != nil {
				a = tc.auth
			}
			MountUSSD(e, fake, a, log)

			req := tc.request()
			method, target := req.target(path)
			rec := req.send(e, method, target, nil)
			checkResponse(t, method, target, rec, tc.wantStatus, tc.wantBody, tc.wantContentType)
			checkCalls(t, "Hop", fake.hops, tc.wantHop, req.times())
			checkCalls(t, "End", fake.ends, tc.wantEnd, req.times())
			if fake.noDeadline {
				t.Errorf("the engine was called without a deadline")
			}
			checkLog(t, logged.String(), []string{testPIN, testSecret, wrongSecret}, tc.wantLog)
		})
	}
}

// checkCalls checks that the engine got want on every one of sends, or
// nothing when want is nil.
func checkCalls[T any](t *testing.T, what string, got []T, want *T, sends int) {
	t.Helper()
	if want == nil {
		if len(got) > 0 {
			t.Errorf("engine %s got %+v, want no call", what, got)
		}
		return
	}
	if len(got) != sends {
		t.Errorf("engine %s got %d calls %+v, want %d of %+v", what, len(got), got, sends, *want)
		return
	}
	for _, g := range got {
		if !reflect.DeepEqual(g, *want) {
			t.Errorf("engine %s got\n  %+v\nwant\n  %+v", what, g, *want)
		}
	}
}

// The auth cases every adapter's table includes, given a valid request.
func authCases(aggregator, contentType, body string, screen sessions.Screen, wantStatus int, wantBody string, wantHop *sessions.Hop, wantEnd *sessions.End) []ussdCase {
	withSecret := map[string]USSDAuth{aggregator: {Secret: testSecret}}
	withAllow := map[string]USSDAuth{aggregator: {AllowIPs: []netip.Prefix{allowNet, netip.MustParsePrefix("10.0.0.1/32")}}}
	both := map[string]USSDAuth{aggregator: {Secret: testSecret, AllowIPs: []netip.Prefix{allowNet}}}
	other := aggregatorNalo
	if aggregator == other {
		other = aggregatorHubtel
	}
	forbidden := `{"message":"Forbidden"}`
	ok := func(name string, c ussdCase) ussdCase {
		c.name, c.contentType, c.body, c.screen = name, contentType, body, screen
		c.wantStatus, c.wantBody, c.wantHop, c.wantEnd = wantStatus, wantBody, wantHop, wantEnd
		return c
	}
	refused := func(name, reason string, c ussdCase) ussdCase {
		c.name, c.contentType, c.body, c.screen = name, contentType, body, screen
		c.wantStatus, c.wantBody, c.wantLog = http.StatusForbidden, forbidden, "reason=\""+reason+"\""
		return c
	}
	return []ussdCase{
		ok("auth: secret in header", ussdCase{auth: withSecret, header: map[string]string{"X-USSD-Secret": testSecret}}),
		ok("auth: secret in query", ussdCase{auth: withSecret, query: "secret=" + testSecret}),
		refused("auth: secret missing", "secret missing", ussdCase{auth: withSecret}),
		refused("auth: secret wrong in header", "secret wrong", ussdCase{auth: withSecret, header: map[string]string{"X-USSD-Secret": wrongSecret}}),
		refused("auth: secret wrong in query", "secret wrong", ussdCase{auth: withSecret, query: "secret=" + wrongSecret}),
		refused("auth: header wins over query", "secret wrong", ussdCase{auth: withSecret,
			header: map[string]string{"X-USSD-Secret": wrongSecret}, query: "secret=" + testSecret}),
		ok("auth: peer in allowed prefix", ussdCase{auth: withAllow, remoteAddr: peerOK}),
		ok("auth: peer is the allowed address", ussdCase{auth: withAllow, remoteAddr: "10.0.0.1:5000"}),
		ok("auth: IPv4-mapped peer in allowed prefix", ussdCase{auth: withAllow, remoteAddr: "[::ffff:196.201.214.200]:443"}),
		refused("auth: peer outside the allow-list", "peer not in allow-list", ussdCase{auth: withAllow, remoteAddr: peerOut}),
		refused("auth: forwarded-for is not trusted", "peer not in allow-list", ussdCase{auth: withAllow, remoteAddr: peerOut,
			header: map[string]string{"X-Forwarded-For": "196.201.214.7", "X-Real-Ip": "196.201.214.7"}}),
		refused("auth: right secret, wrong peer", "peer not in allow-list", ussdCase{auth: both, remoteAddr: peerOut,
			header: map[string]string{"X-USSD-Secret": testSecret}}),
		refused("auth: right peer, no secret", "secret missing", ussdCase{auth: both}),
		ok("auth: right peer and secret", ussdCase{auth: both, header: map[string]string{"X-USSD-Secret": testSecret}}),
		refused("auth: aggregator not named in a non-empty auth", "aggregator not enabled", ussdCase{auth: map[string]USSDAuth{other: {Secret: testSecret}}}),
		ok("auth: an empty auth opens every aggregator", ussdCase{auth: map[string]USSDAuth{}}),
	}
}

// openAuth enables every aggregator without authentication.
var openAuth = map[string]USSDAuth{aggregatorAfricasTalking: {}, aggregatorHubtel: {}, aggregatorNalo: {}}

var errEngineDown = errors.New("engine exploded")

func TestMountUSSDPanicsOnWiringMistakes(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for name, call := range map[string]func(){
		"unknown aggregator": func() { MountUSSD(New(log), &fakeUSSD{}, map[string]USSDAuth{"mpesa": {}}, log) },
		"invalid prefix": func() {
			MountUSSD(New(log), &fakeUSSD{}, map[string]USSDAuth{"nalo": {AllowIPs: []netip.Prefix{{}}}}, log)
		},
		"nil engine": func() { MountUSSD(New(log), nil, nil, log) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("MountUSSD did not panic")
				}
			}()
			call()
		})
	}
}

func TestMountUSSDWarnsAboutOpenAggregators(t *testing.T) {
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	MountUSSD(New(log), &fakeUSSD{}, map[string]USSDAuth{"nalo": {}, "hubtel": {Secret: testSecret}}, log)
	out := logged.String()
	for _, want := range []string{
		`level=WARN msg="ussd aggregator accepts unauthenticated requests" aggregator=nalo`,
		`msg="ussd aggregator disabled: no auth entry" aggregator=africastalking`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "aggregator=hubtel") {
		t.Errorf("log mentions hubtel, which has a secret:\n%s", out)
	}
}

func TestParseUSSDAuth(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		spec    string
		want    map[string]USSDAuth
		wantErr string // a substring of the error; "" for none
	}{
		{"", map[string]USSDAuth{}, ""},
		{"  ", map[string]USSDAuth{}, ""},
		{"nalo", map[string]USSDAuth{"nalo": {}}, ""},
		{"nalo:", map[string]USSDAuth{"nalo": {}}, ""},
		{"africastalking:secret=" + testSecret + ",allow=196.201.214.0/24+10.0.0.1;hubtel:allow=2001:db8::/32",
			map[string]USSDAuth{
				"africastalking": {Secret: testSecret, AllowIPs: []netip.Prefix{p("196.201.214.0/24"), p("10.0.0.1/32")}},
				"hubtel":         {AllowIPs: []netip.Prefix{p("2001:db8::/32")}},
			}, ""},
		{" hubtel : allow = 52.50.116.54 + ::ffff:18.202.122.131 , secret = " + testSecret + " ; nalo ",
			map[string]USSDAuth{
				"hubtel": {Secret: testSecret, AllowIPs: []netip.Prefix{p("52.50.116.54/32"), p("18.202.122.131/32")}},
				"nalo":   {},
			}, ""},
		{"mpesa:allow=10.0.0.1", nil, `unknown aggregator "mpesa" (want one of africastalking, hubtel, nalo)`},
		{"Hubtel", nil, "entry 1: missing or malformed aggregator name"},
		{"nalo;;hubtel", nil, "entry 2: missing or malformed aggregator name"},
		{"nalo;nalo", nil, "nalo given twice"},
		{"nalo:allow=10.0.0.0/8,allow=10.0.0.1", nil, "nalo: allow given twice (join addresses with '+')"},
		{"nalo:allow=10.0.0.1/8", nil, `nalo: allow: "10.0.0.1/8" has host bits set (did you mean 10.0.0.0/8?)`},
		{"nalo:allow=10.0.0.300", nil, `nalo: allow: "10.0.0.300" is not an IP address or prefix`},
		{"nalo:allow=10.0.0.0/33", nil, `nalo: allow: "10.0.0.0/33" is not an IP prefix`},
		{"nalo:allow=fe80::1%eth0", nil, "is not an IP address or prefix"},
		{"nalo:allow=::ffff:10.0.0.0/104", nil, "write IPv4-mapped prefixes in IPv4 form"},
		{"nalo:allow=", nil, "nalo: allow needs at least one address"},
		{"nalo:allow=10.0.0.1+", nil, `"" is not an IP address`},
		{"nalo:secret=short", nil, "nalo: secret must be 16 to 256 characters"},
		{"nalo:secret=" + strings.Repeat("x", 257), nil, "secret must be 16 to 256 characters"},
		{"nalo:secret=has space inside 0123456789", nil, "secret may only hold A-Z a-z 0-9 - . _ ~"},
		{"nalo:secret=semi%3Bcolon0123456789", nil, "secret may only hold"},
		{"nalo:" + testSecret, nil, "nalo: option 1 has no '='"},
		{"nalo:allow=10.0.0.1,tls=on", nil, `nalo: unknown option "tls" (want secret or allow)`},
		{"nalo:allow=" + strings.TrimSuffix(strings.Repeat("10.0.0.1+", 65), "+"), nil, "allow lists more than 64 addresses"},
		{strings.Repeat(" ", authSpecBytesMax+1), nil, "spec longer than 4096 bytes"},
	}
	for _, tc := range tests {
		got, err := ParseUSSDAuth(tc.spec)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseUSSDAuth(%q) = %v, %v; want error containing %q", tc.spec, got, err, tc.wantErr)
			}
		case err != nil || !reflect.DeepEqual(got, tc.want):
			t.Errorf("ParseUSSDAuth(%q) = %v, %v; want %v", tc.spec, got, err, tc.want)
		}
	}
}

// An error must not repeat a secret, even one mistyped into the wrong place.
func TestParseUSSDAuthErrorsHideSecrets(t *testing.T) {
	for _, spec := range []string{
		"nalo:secret=" + testSecret + ",secret=" + testSecret,
		"nalo:" + testSecret,
		testSecret,
		"secret=" + testSecret,
		"nalo:secret=" + testSecret + "!",
		"nalo:" + testSecret + "=x",
		"nalo:secret=" + testSecret + ";" + testSecret,
	} {
		_, err := ParseUSSDAuth(spec)
		if err == nil {
			t.Errorf("ParseUSSDAuth(%q) = nil error, want one", spec)
			continue
		}
		if strings.Contains(err.Error(), testSecret[:8]) {
			t.Errorf("ParseUSSDAuth(%q) error %q repeats the secret", spec, err)
		}
	}
}

func FuzzParseUSSDAuth(f *testing.F) {
	for _, s := range []string{
		"", "nalo", "africastalking:secret=" + testSecret + ",allow=196.201.214.0/24+10.0.0.1;hubtel:allow=2001:db8::/32",
		"nalo:allow=10.0.0.1/8", "hubtel:allow=::ffff:1.2.3.4", ";;", "nalo:secret=,allow=+",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		got, err := ParseUSSDAuth(spec)
		if err != nil {
			return
		}
		for name, a := range got {
			if !isAggregator(name) {
				t.Fatalf("ParseUSSDAuth(%q) has aggregator %q", spec, name)
			}
			if a.Secret != "" && checkSecret(a.Secret) != nil {
				t.Fatalf("ParseUSSDAuth(%q) has an invalid secret", spec)
			}
			for _, p := range a.AllowIPs {
				if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
					t.Fatalf("ParseUSSDAuth(%q) has prefix %v", spec, p)
				}
			}
		}
	})
}

func TestSecretEqual(t *testing.T) {
	for _, tc := range []struct {
		got, want string
		equal     bool
	}{
		{testSecret, testSecret, true},
		{testSecret[:len(testSecret)-1], testSecret, false},
		{testSecret + "x", testSecret, false},
		{"", testSecret, false},
	} {
		if got := secretEqual(tc.got, tc.want); got != tc.equal {
			t.Errorf("secretEqual(%q, %q) = %t, want %t", tc.got, tc.want, got, tc.equal)
		}
	}
}

func TestPeerAddr(t *testing.T) {
	for _, tc := range []struct {
		remote string
		want   string // "" for none
	}{
		{"196.201.214.7:40211", "196.201.214.7"},
		{"[::ffff:196.201.214.7]:443", "196.201.214.7"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"10.0.0.1", "10.0.0.1"},
		{"pipe", ""},
		{"", ""},
	} {
		a, ok := peerAddr(tc.remote)
		got := ""
		if ok {
			got = a.String()
		}
		if got != tc.want {
			t.Errorf("peerAddr(%q) = %q, want %q", tc.remote, got, tc.want)
		}
	}
}
