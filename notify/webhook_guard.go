package notify

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The address guard. A merchant chooses its webhook URL, and the sender
// POSTs to it from inside the operator's network: without the guard a
// merchant could point it at the operator's own services (a database's
// HTTP port, an admin page, the cloud's metadata service at
// 169.254.169.254 and the credentials it hands out), and learn from the
// deliveries listing what answered there (statuses, errors, timings), or
// change something with the POST. So a guarded sender refuses to
// connect to any address below, checked on the address it actually
// connects to, after DNS (a net.Dialer Control function): a name that
// resolves to a public address when the URL is set and to a private one
// when the POST is made (DNS rebinding) is refused all the same. URLs are
// also refused when they are set if their host is a literal address of
// these ranges or a localhost name, so a merchant learns at once.

// guardKeepAlive is the TCP keep-alive period of the webhook connections.
const guardKeepAlive = 30 * time.Second

// refusedRanges are the networks a guarded sender refuses, first match
// wins, with what the refusal calls them. IPv4-mapped IPv6 addresses are
// checked as IPv4; NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses by
// the IPv4 address inside (refusedAddr).
var refusedRanges = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"}, // "this network": 0.0.0.0 reaches the host itself
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.169.254/32"), "link-local (cloud metadata)"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"}, // IETF protocol assignments
	{netip.MustParsePrefix("192.0.2.0/24"), "reserved"}, // documentation
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved"}, // benchmarking, often used inside networks
	{netip.MustParsePrefix("198.51.100.0/24"), "reserved"},
	{netip.MustParsePrefix("203.0.113.0/24"), "reserved"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"}, // and the broadcast 255.255.255.255
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "private"}, // local-use NAT64 (RFC 8215), inside ::/8
	{netip.MustParsePrefix("::/8"), "reserved"},          // IPv4-compatible and other; mapped ones are unmapped first
	{netip.MustParsePrefix("100::/64"), "reserved"},      // discard-only
	{netip.MustParsePrefix("2001:db8::/32"), "reserved"}, // documentation
	{netip.MustParsePrefix("fc00::/7"), "private"},       // unique local
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "private"}, // site-local, deprecated but still routed by some
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

var (
	// nat64 is the well-known NAT64 prefix: the last 32 bits are an IPv4
	// address a NAT64 gateway connects to.
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
	// sixToFour is 6to4: bits 16 to 48 are an IPv4 address.
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// refusedAddr says why a guarded sender must not connect to a ("private",
// "loopback", …), or "" when it may: a public unicast address.
func refusedAddr(a netip.Addr) string {
	if !a.IsValid() {
		return "not an IP address"
	}
	// Prefix.Contains is false for an address with a zone.
	a = a.WithZone("").Unmap()
	// NAT64 and 6to4 lie inside ::/8 and 2000::/3: what they reach is the
	// IPv4 address inside.
	if a.Is6() && (nat64.Contains(a) || sixToFour.Contains(a)) {
		b := a.As16()
		inner := netip.AddrFrom4([4]byte(b[12:16]))
		if sixToFour.Contains(a) {
			inner = netip.AddrFrom4([4]byte(b[2:6]))
		}
		if why := refusedAddr(inner); why != "" {
			return why + " (" + inner.String() + " inside)"
		}
		return ""
	}
	for _, r := range refusedRanges {
		if r.prefix.Contains(a) {
			return r.why
		}
	}
	return ""
}

// refusal is a connection the address guard refused: what is refused (an
// address or a host) and why.
type refusal struct {
	kind    string // "address" or "host"
	subject string // "10.0.0.5", "localhost"
	why     string // "private"
}

// Error reads "address 10.0.0.5 is private: refused", as an attempt
// records it.
func (e *refusal) Error() string { return e.kind + " " + e.subject + " is " + e.why + ": refused" }

// refuseHost checks a URL's host as written (url.URL.Hostname) for a
// guarded sender: a literal address of refusedRanges, a localhost name
// (RFC 6761: they resolve to loopback), or a host whose last label is a
// number but which is not a plain IP address ("0x7f000001", "2130706433",
// "010.0.0.1"), which some resolvers read as an address (inet_aton) and
// others as a name. It returns a *refusal, or nil. Other names are checked
// on the addresses they resolve to, when the POST connects.
func refuseHost(host string) error {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if a, err := netip.ParseAddr(h); err == nil {
		if why := refusedAddr(a); why != "" {
			return &refusal{kind: "address", subject: a.String(), why: why}
		}
		return nil
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return &refusal{kind: "host", subject: host, why: "loopback"}
	}
	if numericLabel(h[strings.LastIndexByte(h, '.')+1:]) {
		return &refusal{kind: "host", subject: host, why: "numeric but not a plain IP address"}
	}
	return nil
}

// numericLabel reports whether a host's label is a number, as the WHATWG
// URL standard's "ends in a number" reads one: decimal digits, or 0x and
// hexadecimal digits.
func numericLabel(s string) bool {
	if rest, ok := strings.CutPrefix(s, "0x"); ok {
		for i := 0; i < len(rest); i++ {
			if !strings.ContainsRune("0123456789abcdef", rune(rest[i])) {
				return false
			}
		}
		return true
	}
	return digits(s)
}

// guardControl is the net.Dialer Control function of a guarded sender: it
// runs on the address the dialer is about to connect to, after DNS, and
// refuses one of refusedRanges with a *refusal.
func guardControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &refusal{kind: "address", subject: address, why: "not an IP address and port"}
	}
	if why := refusedAddr(ap.Addr()); why != "" {
		return &refusal{kind: "address", subject: ap.Addr().String(), why: why}
	}
	return nil
}

// dialGuard dials a guarded sender's connections: through guardControl,
// except to the HTTP proxy the environment names (HTTPS_PROXY and the
// like), which is the operator's own and usually on its private network.
// Through a proxy, the proxy connects to the merchant's host: refusing
// private addresses there is the proxy's job; the sender still refuses a
// literal address or a localhost name in the URL (refuseHost).
type dialGuard struct {
	proxy   func(*http.Request) (*url.URL, error)
	plain   *net.Dialer // to a proxy
	guarded *net.Dialer // to anything else
	mu      sync.Mutex
	proxies map[string]bool // the host:port of each proxy proxyFor returned
}

func newDialGuard(proxy func(*http.Request) (*url.URL, error)) *dialGuard {
	return &dialGuard{
		proxy:   proxy,
		plain:   &net.Dialer{Timeout: webhookDialTimeout, KeepAlive: guardKeepAlive},
		guarded: &net.Dialer{Timeout: webhookDialTimeout, KeepAlive: guardKeepAlive, Control: guardControl},
		proxies: map[string]bool{},
	}
}

// proxyFor is the transport's Proxy: the environment's, noting the
// proxy's address so that dial lets it through. The proxies are the
// environment's, read once: the map stays as small as they are few.
func (g *dialGuard) proxyFor(r *http.Request) (*url.URL, error) {
	u, err := g.proxy(r)
	if err == nil && u != nil {
		g.mu.Lock()
		g.proxies[proxyAddr(u)] = true
		g.mu.Unlock()
	}
	return u, err
}

// dial is the transport's DialContext.
func (g *dialGuard) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	g.mu.Lock()
	proxy := g.proxies[addr]
	g.mu.Unlock()
	if proxy {
		return g.plain.DialContext(ctx, network, addr)
	}
	return g.guarded.DialContext(ctx, network, addr)
}

// proxyAddr is the address net/http dials for a proxy URL: its host and
// port, the scheme's default port when it has none.
func proxyAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		case "socks5", "socks5h":
			port = "1080"
		default:
			port = "80"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}
