package store

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/kibubu/kibubu/notify"
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

// guardControl is the net.Dialer Control function of a guarded sender: it
// runs on the address the dialer is about to connect to, after DNS, and
// refuses one of refusedRanges with a *refusal.
func guardControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &notify.Refusal{Kind: "address", Subject: address, Why: "not an IP address and port"}
	}
	if why := notify.RefusedAddr(ap.Addr()); why != "" {
		return &notify.Refusal{Kind: "address", Subject: ap.Addr().String(), Why: why}
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
