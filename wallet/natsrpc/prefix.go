package natsrpc

// A deployment's prefix (--nats-prefix, "" for none) puts every subject it
// serves and publishes, and every stream and bucket it makes, apart from
// another deployment's on the same NATS cluster (staging and production,
// or parallel test runs).

// prefixBytesMax bounds a prefix: it lengthens every subject and every
// stream and bucket name.
const prefixBytesMax = 32

// ValidPrefix reports whether p can prefix subjects and stream and bucket
// names: at most prefixBytesMax letters, digits, - and _.
func ValidPrefix(p string) bool {
	for _, c := range p {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return len(p) <= prefixBytesMax
}

// Subject returns subject s under prefix: "staging.wallet.v1.transfer".
func Subject(prefix, s string) string {
	if prefix == "" {
		return s
	}
	return prefix + "." + s
}

// Unprefixed returns subject s without prefix, as Subject made it.
func Unprefixed(prefix, s string) string {
	if prefix == "" {
		return s
	}
	if len(s) > len(prefix) && s[:len(prefix)] == prefix && s[len(prefix)] == '.' {
		return s[len(prefix)+1:]
	}
	return s
}

// Name returns a stream's or a bucket's name under prefix:
// "WALLET_EVENTS_staging". (A name cannot hold a dot.)
func Name(name, prefix string) string {
	if prefix == "" {
		return name
	}
	return name + "_" + prefix
}
