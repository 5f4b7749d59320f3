package notify

import (
	"net/netip"
	"strings"
)

// refusedRanges are the networks a guarded sender refuses, first match
// wins, with what the refusal calls them. IPv4-mapped IPv6 addresses are
// checked as IPv4; NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses by
// the IPv4 address inside (RefusedAddr).
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

// RefusedAddr says why a guarded sender must not connect to a ("private",
// "loopback", …), or "" when it may: a public unicast address.
func RefusedAddr(a netip.Addr) string {
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
		if why := RefusedAddr(inner); why != "" {
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

// Refusal is a connection the address guard refused: what is refused (an
// address or a host) and why.
type Refusal struct {
	Kind    string // "address" or "host"
	Subject string // "10.0.0.5", "localhost"
	Why     string // "private"
}

// Error reads "address 10.0.0.5 is private: refused", as an attempt
// records it.
func (e *Refusal) Error() string { return e.Kind + " " + e.Subject + " is " + e.Why + ": refused" }

// RefuseHost checks a URL's host as written (url.URL.Hostname) for a
// guarded sender: a literal address of refusedRanges, a localhost name
// (RFC 6761: they resolve to loopback), or a host whose last label is a
// number but which is not a plain IP address ("0x7f000001", "2130706433",
// "010.0.0.1"), which some resolvers read as an address (inet_aton) and
// others as a name. It returns a *Refusal, or nil. Other names are checked
// on the addresses they resolve to, when the POST connects.
func RefuseHost(host string) error {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if a, err := netip.ParseAddr(h); err == nil {
		if why := RefusedAddr(a); why != "" {
			return &Refusal{Kind: "address", Subject: a.String(), Why: why}
		}
		return nil
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return &Refusal{Kind: "host", Subject: host, Why: "loopback"}
	}
	if numericLabel(h[strings.LastIndexByte(h, '.')+1:]) {
		return &Refusal{Kind: "host", Subject: host, Why: "numeric but not a plain IP address"}
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

var (
	// nat64 is the well-known NAT64 prefix: the last 32 bits are an IPv4
	// address a NAT64 gateway connects to.
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
	// sixToFour is 6to4: bits 16 to 48 are an IPv4 address.
	sixToFour = netip.MustParsePrefix("2002::/16")
)
