package simswap

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/kibubu/kibubu/wallet"
)

// Policy says what an action does when no network answers in time.
type Policy string

const (
	FailClosed Policy = "closed" // refuse the action
	FailOpen   Policy = "open"   // allow it, with a warning log line and the metric outcome error_open
)

// The defaults and bounds of a Config.
const (
	// DefaultMaxAge is how recent a SIM change holds an account: 72 hours,
	// the usual fraud window (CAMARA's own default is 240).
	DefaultMaxAge = 72 * time.Hour
	// MaxAgeMin and MaxAgeMax are CAMARA's bounds on maxAge (1 to 2400
	// hours).
	MaxAgeMin = time.Hour
	MaxAgeMax = 2400 * time.Hour
	// DefaultTimeout bounds one check, token included: a USSD hop must be
	// answered within 15 s, and the wallet's own work comes on top.
	DefaultTimeout = 3 * time.Second
	// TimeoutMax keeps a check well inside a USSD hop.
	TimeoutMax = 10 * time.Second
	// DefaultCacheTTL is how long an answer is reused: short, since a swap
	// can happen at any moment, long enough that one USSD session's few
	// gated steps ask the network once.
	DefaultCacheTTL = 5 * time.Minute
	// CacheTTLMax bounds the cache's age.
	CacheTTLMax = time.Hour
	// DefaultCacheEntries bounds the cache (about 100 bytes an entry).
	DefaultCacheEntries = 100_000
	// networksMax bounds the networks one wallet asks.
	networksMax = 32
	// prefixesMax bounds the prefixes of one network.
	prefixesMax = 256
	// secretBytesMax bounds a client secret file.
	secretBytesMax = 4096
)

// DefaultPolicies are the policies of actions a Config does not name: a
// PIN reset or change and a change of details fail closed (the owner
// retries later; a thief must not slip through an outage); a transfer fails
// open (payments keep working in an outage, and the gate alerts).
var DefaultPolicies = map[wallet.SIMSwapAction]Policy{
	wallet.SIMSwapPIN:      FailClosed,
	wallet.SIMSwapTransfer: FailOpen,
	wallet.SIMSwapDetails:  FailClosed,
}

// Network is one mobile network's SIM Swap API.
type Network struct {
	// Name names it in metrics and logs, e.g. safaricom.
	Name string `toml:"name"`
	// BaseURL is the API's root: the check is POST
	// {BaseURL}/sim-swap/v2/check.
	BaseURL string `toml:"base_url"`
	// TokenURL is the OAuth2 token endpoint (client credentials).
	TokenURL string `toml:"token_url"`
	ClientID string `toml:"client_id"`
	// ClientSecretFile names the file holding the client secret (Load
	// reads it into ClientSecret); ClientSecret is never in the file.
	ClientSecretFile string `toml:"client_secret_file"`
	ClientSecret     string `toml:"-"`
	// Scopes, if any, are asked for with the token, e.g.
	// "sim-swap:check" (some networks want them).
	Scopes []string `toml:"scopes"`
	// Prefixes are the E.164 prefixes of the numbers it serves, e.g.
	// "+25470": the longest matching prefix of all networks wins.
	Prefixes []string `toml:"prefixes"`
}

// Config is the SIM-swap gate's configuration: the file `kibubu wallet
// --simswap-config` reads (TOML), or a Config built in code.
type Config struct {
	// MaxAge: a SIM changed less than this ago is swapped. Default
	// DefaultMaxAge; whole hours from MaxAgeMin to MaxAgeMax.
	MaxAge Duration `toml:"max_age"`
	// Timeout bounds one check, its token included; default DefaultTimeout.
	Timeout Duration `toml:"timeout"`
	// CacheTTL is how long an answer is reused; default DefaultCacheTTL,
	// negative for no cache.
	CacheTTL Duration `toml:"cache_ttl"`
	// CacheEntries bounds the cache; default DefaultCacheEntries.
	CacheEntries int `toml:"cache_entries"`
	// Above: transfers of more than this amount, in the currency's
	// major units as a customer types it ("1000", "1000.50"), are checked;
	// empty or "0" for every amount. The wallet parses it.
	Above string `toml:"above"`
	// Policy per action (pin, transfer, details): "closed" or "open";
	// the missing take DefaultPolicies'.
	Policy   map[wallet.SIMSwapAction]Policy `toml:"policy"`
	Networks []Network                       `toml:"network"`
}

// Duration is a time.Duration written "72h", "3s" in the file.
type Duration time.Duration

// UnmarshalText reads a Go duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 72h or 3s", b)
	}
	*d = Duration(v)
	return nil
}

// Load reads the configuration file at path and the client secrets its
// networks name, and validates it.
func Load(path string) (*Config, error) {
	var c Config
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return nil, fmt.Errorf("simswap config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("simswap config %s: unknown setting %q", path, und[0].String())
	}
	for i := range c.Networks {
		n := &c.Networks[i]
		if n.ClientSecretFile == "" {
			return nil, fmt.Errorf("simswap config %s: network %q: client_secret_file is required", path, n.Name)
		}
		b, err := os.ReadFile(n.ClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("simswap config %s: network %q: client secret: %w", path, n.Name, err)
		}
		if len(b) > secretBytesMax {
			return nil, fmt.Errorf("simswap config %s: network %q: the client secret file %s is over %d bytes", path, n.Name, n.ClientSecretFile, secretBytesMax)
		}
		n.ClientSecret = strings.TrimSpace(string(b))
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("simswap config %s: %w", path, err)
	}
	return &c, nil
}

// Validate fills in c's defaults and reports the first thing wrong with it,
// naming the setting.
func (c *Config) Validate() error {
	if c.MaxAge == 0 {
		c.MaxAge = Duration(DefaultMaxAge)
	}
	if m := time.Duration(c.MaxAge); m < MaxAgeMin || m > MaxAgeMax || m%time.Hour != 0 {
		return fmt.Errorf("max_age %s: whole hours from %s to %s", m, MaxAgeMin, MaxAgeMax)
	}
	if c.Timeout == 0 {
		c.Timeout = Duration(DefaultTimeout)
	}
	if t := time.Duration(c.Timeout); t <= 0 || t > TimeoutMax {
		return fmt.Errorf("timeout %s: more than 0 and at most %s", t, TimeoutMax)
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = Duration(DefaultCacheTTL)
	}
	if time.Duration(c.CacheTTL) > CacheTTLMax {
		return fmt.Errorf("cache_ttl %s: at most %s", time.Duration(c.CacheTTL), CacheTTLMax)
	}
	if c.CacheEntries == 0 {
		c.CacheEntries = DefaultCacheEntries
	}
	if c.CacheEntries < 0 {
		return fmt.Errorf("cache_entries %d: must be positive", c.CacheEntries)
	}
	policy := map[wallet.SIMSwapAction]Policy{}
	for a, p := range DefaultPolicies {
		policy[a] = p
	}
	for a, p := range c.Policy {
		if !slices.Contains(wallet.SIMSwapActions, a) {
			return fmt.Errorf("policy: unknown action %q (pin, transfer, details)", a)
		}
		if p != FailClosed && p != FailOpen {
			return fmt.Errorf("policy.%s = %q: %q or %q", a, p, FailClosed, FailOpen)
		}
		policy[a] = p
	}
	c.Policy = policy
	if len(c.Networks) == 0 {
		return errors.New("no [[network]]: name at least one, or leave the SIM-swap check off")
	}
	if len(c.Networks) > networksMax {
		return fmt.Errorf("%d networks: at most %d", len(c.Networks), networksMax)
	}
	names, prefixes := map[string]bool{}, map[string]string{}
	for i, n := range c.Networks {
		if n.Name == "" {
			return fmt.Errorf("network %d: a name is required", i+1)
		}
		if names[n.Name] {
			return fmt.Errorf("network %q: named twice", n.Name)
		}
		names[n.Name] = true
		for _, u := range []struct{ key, v string }{{"base_url", n.BaseURL}, {"token_url", n.TokenURL}} {
			p, err := url.Parse(u.v)
			if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
				return fmt.Errorf("network %q: %s %q: an http(s) URL is required", n.Name, u.key, u.v)
			}
		}
		if n.ClientID == "" || n.ClientSecret == "" {
			return fmt.Errorf("network %q: client_id and the client secret are required", n.Name)
		}
		if len(n.Prefixes) == 0 || len(n.Prefixes) > prefixesMax {
			return fmt.Errorf("network %q: 1 to %d prefixes are required (E.164, e.g. \"+25470\")", n.Name, prefixesMax)
		}
		for _, p := range n.Prefixes {
			if !validPrefix(p) {
				return fmt.Errorf("network %q: prefix %q: a + and 1 to 15 digits, e.g. \"+25470\"", n.Name, p)
			}
			if other, ok := prefixes[p]; ok {
				return fmt.Errorf("network %q: prefix %s is also %q's", n.Name, p, other)
			}
			prefixes[p] = n.Name
		}
	}
	return nil
}

// validPrefix reports whether p is "+" and 1 to 15 digits, the first not 0.
func validPrefix(p string) bool {
	if len(p) < 2 || len(p) > 16 || p[0] != '+' || p[1] == '0' {
		return false
	}
	for _, r := range p[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
