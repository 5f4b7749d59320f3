package aggregator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/kibubu/kibubu/internal/cmdline"
)

// `kibubu dial` is a phone for people at a terminal: it plays the part of
// Africa's Talking (AT) towards a running server, one form POST per screen,
// so a menu can be tried, or a whole session scripted through a pipe,
// without an aggregator account or a handset.

const (
	// dialServiceCodeDefault is the code dialled when none is given.
	dialServiceCodeDefault = "*334#"

	// dialHopTimeoutDefault is AT's own limit: the app must answer a hop
	// within 15 s or the session ends.
	dialHopTimeoutDefault = 15 * time.Second
	// dialHopTimeoutMax caps --timeout at AT's whole-session lifetime; a
	// longer wait tests nothing a real phone would see.
	dialHopTimeoutMax = 180 * time.Second
	// dialConnectTimeout is AT's connect limit, 10 s (or --timeout if less).
	dialConnectTimeout = 10 * time.Second
	// dialLangBytesMax is the server's own bound on a language preference
	// (locales.acceptBytesMax); anything longer it ignores.
	dialLangBytesMax = 256
)

const dialSynopsis = `kibubu dial [flags] [SERVICE-CODE]

Dials SERVICE-CODE (default *334#) on a simulated phone, speaking Africa's
Talking's USSD protocol to a running server: each screen is a POST to
<server>/ussd/africastalking. Each screen is shown framed; after a CON screen
type your answer at the "> " prompt, an END screen closes the session. End of
input (Ctrl-D) or Ctrl-C hangs up. Input may be a pipe, to script a session:

  printf '1\nJane\n' | kibubu dial --phone 0712345678 '*334#'
`

// runDial runs `kibubu dial`: one USSD session against the server, reading
// the person's answers from stdin and showing the screens on stdout. A bad
// command line is a *cmdline.UsageError; a server that fails, answers other than
// 200, or replies without "CON " or "END " ends the session with an error of
// one line, as the aggregator would end it. An END screen, end of input and
// ctx ending (Ctrl-C) all end it cleanly, with nil.
func Dial(ctx context.Context, args []string, dataDefault string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("dial", flag.ContinueOnError)
	phone := fs.String("phone", PhoneDefault, "the `phone` number dialling, sent as typed (0712345678, 254712345678, +254712345678)")
	lang := fs.String("lang", "", "`language` code (en, sw, fr) sent as Accept-Language; the server uses it only for phones with no account")
	server := fs.String("server", "", "the server's base `url`, e.g. http://127.0.0.1:8080 (default: read from <data>/http.url)")
	data := fs.String("data", dataDefault, "data `dir`ectory of the running server, where it writes http.url")
	secret := fs.String("secret", "", "shared `secret` sent as X-USSD-Secret, if the server asks for one")
	timeout := fs.Duration("timeout", dialHopTimeoutDefault, "how long to wait for each screen (Africa's Talking waits 15s)")
	pos, err := cmdline.ParseInterleaved(fs, args, dialSynopsis, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return cmdline.Usagef(fs, "takes one service code, got %q", pos)
	}
	if err := cmdline.ApplyEnv(fs, os.LookupEnv); err != nil {
		return err
	}
	code := dialServiceCodeDefault
	if len(pos) == 1 {
		code = pos[0]
	}
	if !ValidServiceCode(code) {
		return cmdline.Usagef(fs, "%q is not a USSD code: want * then digits (and *), then #, such as *334# or *334*1#", code)
	}
	if strings.TrimSpace(*phone) == "" {
		return cmdline.Usagef(fs, "--phone is empty")
	}
	if err := checkDialLang(*lang); err != nil {
		return cmdline.Usagef(fs, "--lang %q: %v", *lang, err)
	}
	if *timeout <= 0 || *timeout > dialHopTimeoutMax {
		return cmdline.Usagef(fs, "--timeout %v: must be above 0 and at most %v", *timeout, dialHopTimeoutMax)
	}
	base, hint := *server, "is the server running there?"
	if base != "" {
		if err := CheckServerURL(base); err != nil {
			return cmdline.Usagef(fs, "--server %q: %v", base, err)
		}
	} else {
		if *data == "" {
			return cmdline.Usagef(fs, "give --server, or --data with the server's data directory")
		}
		if base, err = ReadServerURL(*data); err != nil {
			return err
		}
		hint = fmt.Sprintf("is `kibubu serve --data %s` running?", *data)
	}
	client := &Client{Base: base, HTTP: newDialClient(*timeout), USSDSecret: *secret, UserAgent: "kibubu-dial"}
	defer client.HTTP.CloseIdleConnections()
	d := &Terminal{Client: client, SessionID: newDialSessionID(), ServiceCode: code, Phone: *phone,
		Language: *lang, Timeout: *timeout, Hint: hint}
	return d.Run(ctx, stdin, stdout)
}

// PhoneDefault is the simulated phone of kibubu dial and kibubu sms send
// when --phone is not given.
const PhoneDefault = "+254700000001"

// ServerURLFile, in the data dir, holds the URL kibubu serve answers HTTP
// on: kibubu dial, kibubu sms send find the server through it.
const ServerURLFile = "http.url"

// WriteServerURL writes ServerURLFile in dataDir for a server listening on
// addr (an unspecified host is reached on loopback).
func WriteServerURL(dataDir, addr string) error {
	u := ServerURL(addr) + "\n"
	if err := os.WriteFile(filepath.Join(dataDir, ServerURLFile), []byte(u), 0o600); err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	return nil
}

// ServerURL is the URL this machine reaches the HTTP listener at addr on:
// an unspecified host (every interface) is reached on loopback.
func ServerURL(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// ReadServerURL reads the running server's HTTP base URL from
// <dataDir>/http.url, which `kibubu serve` writes. Its errors say which file
// is missing or malformed and how to start a server.
func ReadServerURL(dataDir string) (string, error) {
	path := filepath.Join(dataDir, ServerURLFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("no server found: %s does not exist (is `kibubu serve` running with --data %s? or pass --server)", path, dataDir)
	}
	if err != nil {
		return "", fmt.Errorf("no server found: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<10)) // one short line
	if err != nil {
		return "", fmt.Errorf("no server found: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSpace(line)
	if err := CheckServerURL(line); err != nil {
		return "", fmt.Errorf("no server found: %s is not what `kibubu serve` writes (one line such as http://127.0.0.1:8080): %v", path, err)
	}
	return line, nil
}

// CheckServerURL accepts an absolute http or https URL with a host.
func CheckServerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || s == "" {
		return errors.New("want a URL such as http://127.0.0.1:8080")
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return errors.New("want an http:// or https:// URL with a host, such as http://127.0.0.1:8080")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errors.New("want a base URL, without ? or #")
	}
	return nil
}

// checkDialLang accepts a language code or a short Accept-Language list.
func checkDialLang(s string) error {
	if len(s) > dialLangBytesMax {
		return fmt.Errorf("longer than %d bytes", dialLangBytesMax)
	}
	for _, c := range s {
		if c > unicode.MaxASCII || !(unicode.IsLetter(c) || unicode.IsDigit(c) || strings.ContainsRune("-_,;=.* ", c)) {
			return errors.New("want a language code such as en, sw or fr")
		}
	}
	return nil
}

// newDialSessionID returns a fresh session id: "sim-" and 12 hex digits.
func newDialSessionID() string {
	b := make([]byte, 6)
	rand.Read(b) // never fails (crypto/rand)
	return "sim-" + hex.EncodeToString(b)
}

// newDialClient is an HTTP client with AT's limits: connect within 10 s,
// an answer within timeout. It does not follow redirects: AT does not
// either, so a redirect is a misconfigured server to report.
func newDialClient(timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: min(dialConnectTimeout, timeout)}).DialContext
	t.TLSHandshakeTimeout = min(dialConnectTimeout, timeout)
	t.ResponseHeaderTimeout = timeout
	return &http.Client{
		Transport:     t,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
