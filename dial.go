package main

import (
	"bufio"
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
	"unicode/utf8"
)

// `kibubu dial` is a phone for people at a terminal: it plays the part of
// Africa's Talking (AT) towards a running server, one form POST per screen,
// so a menu can be tried, or a whole session scripted through a pipe,
// without an aggregator account or a handset.

const (
	// dialServiceCodeDefault is the code dialled when none is given.
	dialServiceCodeDefault = "*334#"
	// dialPhoneDefault is the simulated phone when --phone is not given.
	dialPhoneDefault = "+254700000001"
	// dialPath is where the server mounts its Africa's Talking adapter.
	dialPath = "/ussd/africastalking"
	// dialNetworkCode is the MCC+MNC AT sends as networkCode: Safaricom, Kenya.
	dialNetworkCode = "63902"

	// dialHopTimeoutDefault is AT's own limit: the app must answer a hop
	// within 15 s or the session ends.
	dialHopTimeoutDefault = 15 * time.Second
	// dialHopTimeoutMax caps --timeout at AT's whole-session lifetime; a
	// longer wait tests nothing a real phone would see.
	dialHopTimeoutMax = 180 * time.Second
	// dialConnectTimeout is AT's connect limit, 10 s (or --timeout if less).
	dialConnectTimeout = 10 * time.Second
	// dialReplyBytesMax bounds the reply read: a screen is 182 GSM-7
	// characters at most, so 4 KiB leaves room for UTF-8 and still stops a
	// runaway body.
	dialReplyBytesMax = 4 << 10
	// dialInputMax is the longest input a handset sends: a USSD string is
	// 182 characters at most. Longer lines are refused locally.
	dialInputMax = 182
	// dialLineBytesMax bounds one line read from stdin, in bytes.
	dialLineBytesMax = 64 << 10
	// dialHopsMax bounds one session. A real one lasts 180 s at about 30 s
	// a screen; a scripted one has no such clock, so a server that never
	// sends END stops here instead of looping on a pipe for ever.
	dialHopsMax = 100
	// dialServiceCodeMax bounds the dialled code; operators' codes, with
	// their sub-menus (*334*1*2#), are far shorter.
	dialServiceCodeMax = 32
	// dialLangBytesMax is the server's own bound on a language preference
	// (locales.maxAcceptBytes); anything longer it ignores.
	dialLangBytesMax = 256
	// dialScreenWidth is the inner width, in characters, of the framed
	// screen; longer lines wrap at spaces, as on a handset's display.
	dialScreenWidth = 40
	// dialErrorBodyMax bounds how much of an error reply is quoted.
	dialErrorBodyMax = 120
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
// command line is a *usageError; a server that fails, answers other than
// 200, or replies without "CON " or "END " ends the session with an error of
// one line, as the aggregator would end it. An END screen, end of input and
// ctx ending (Ctrl-C) all end it cleanly, with nil.
func runDial(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("dial", flag.ContinueOnError)
	phone := fs.String("phone", dialPhoneDefault, "the `phone` number dialling, sent as typed (0712345678, 254712345678, +254712345678)")
	lang := fs.String("lang", "", "`language` code (en, sw, fr) sent as Accept-Language; the server uses it only for phones with no account")
	server := fs.String("server", "", "the server's base `url`, e.g. http://127.0.0.1:8080 (default: read from <data>/http.url)")
	data := fs.String("data", DefaultConfig().Data, "data `dir`ectory of the running server, where it writes http.url")
	secret := fs.String("secret", "", "shared `secret` sent as X-USSD-Secret, if the server asks for one")
	timeout := fs.Duration("timeout", dialHopTimeoutDefault, "how long to wait for each screen (Africa's Talking waits 15s)")
	pos, err := parseInterleaved(fs, args, dialSynopsis, stdout)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef(fs, "takes one service code, got %q", pos)
	}
	if err := applyEnv(fs, os.LookupEnv); err != nil {
		return err
	}
	code := dialServiceCodeDefault
	if len(pos) == 1 {
		code = pos[0]
	}
	if !validDialCode(code) {
		return usagef(fs, "%q is not a USSD code: want * then digits (and *), then #, such as *334# or *334*1#", code)
	}
	if strings.TrimSpace(*phone) == "" {
		return usagef(fs, "--phone is empty")
	}
	if err := checkDialLang(*lang); err != nil {
		return usagef(fs, "--lang %q: %v", *lang, err)
	}
	if *timeout <= 0 || *timeout > dialHopTimeoutMax {
		return usagef(fs, "--timeout %v: must be above 0 and at most %v", *timeout, dialHopTimeoutMax)
	}
	base, hint := *server, "is the server running there?"
	if base != "" {
		if err := checkDialServerURL(base); err != nil {
			return usagef(fs, "--server %q: %v", base, err)
		}
	} else {
		if *data == "" {
			return usagef(fs, "give --server, or --data with the server's data directory")
		}
		if base, err = readServerURL(*data); err != nil {
			return err
		}
		hint = fmt.Sprintf("is `kibubu serve --data %s` running?", *data)
	}
	u, _ := url.Parse(base) // checked above
	d := &dialCall{
		endpoint: u.JoinPath(dialPath).String(),
		hint:     hint,
		session:  newDialSessionID(),
		code:     code,
		phone:    *phone, // as typed: normalising it is the server's job
		lang:     *lang,
		secret:   *secret,
		timeout:  *timeout,
		client:   newDialClient(*timeout),
	}
	defer d.client.CloseIdleConnections()
	return d.run(ctx, stdin, stdout)
}

// readServerURL reads the running server's HTTP base URL from
// <dataDir>/http.url, which `kibubu serve` writes. Its errors say which file
// is missing or malformed and how to start a server.
func readServerURL(dataDir string) (string, error) {
	path := filepath.Join(dataDir, httpURLFile)
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
	if err := checkDialServerURL(line); err != nil {
		return "", fmt.Errorf("no server found: %s is not what `kibubu serve` writes (one line such as http://127.0.0.1:8080): %v", path, err)
	}
	return line, nil
}

// checkDialServerURL accepts an absolute http or https URL with a host.
func checkDialServerURL(s string) error {
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

// validDialCode reports whether s looks like a USSD code: *, digits
// and *, #, with at least one digit.
func validDialCode(s string) bool {
	if len(s) < 3 || len(s) > dialServiceCodeMax || s[0] != '*' || s[len(s)-1] != '#' {
		return false
	}
	digit := false
	for _, c := range s[1 : len(s)-1] {
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case c != '*':
			return false
		}
	}
	return digit
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

// dialCall is one simulated session.
type dialCall struct {
	endpoint string // <server>/ussd/africastalking
	hint     string // what to check when the server cannot be reached
	session  string
	code     string
	phone    string
	lang     string // Accept-Language, if set
	secret   string // X-USSD-Secret, if set
	timeout  time.Duration
	client   *http.Client
}

// dialScreen is one reply: its text and whether it ends the session.
type dialScreen struct {
	text string
	end  bool
}

// run plays the session: a hop, its screen, the person's answer, until an
// END screen, a hang-up or a failed hop.
func (d *dialCall) run(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	in := newDialInput(stdin)
	defer in.stop()
	var inputs []string
	for hop := 1; ; hop++ {
		if hop > dialHopsMax {
			return fmt.Errorf("hop %d: the server sent %d CON screens without an END; a real session would have timed out long ago", hop, dialHopsMax)
		}
		s, err := d.hop(ctx, hop, strings.Join(inputs, "*"))
		if ctx.Err() != nil {
			fmt.Fprint(stdout, "\n(hung up)\n")
			return nil
		}
		if err != nil {
			return err
		}
		writeDialScreen(stdout, s.text)
		if s.end {
			fmt.Fprint(stdout, "(session ended)\n")
			return nil
		}
		answer, ok := in.answer(ctx, stdout)
		if !ok {
			fmt.Fprint(stdout, "\n(hung up)\n")
			return nil
		}
		inputs = append(inputs, answer)
	}
}

// hop sends one AT request with text, every input so far joined by '*',
// and returns the screen the server answers.
func (d *dialCall) hop(ctx context.Context, n int, text string) (dialScreen, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	form := url.Values{
		"sessionId":   {d.session},
		"serviceCode": {d.code},
		"phoneNumber": {d.phone},
		"networkCode": {dialNetworkCode},
		"text":        {text},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return dialScreen{}, fmt.Errorf("hop %d: %w", n, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/plain")
	req.Header.Set("User-Agent", "kibubu-dial")
	if d.lang != "" {
		req.Header.Set("Accept-Language", d.lang)
	}
	if d.secret != "" {
		req.Header.Set("X-USSD-Secret", d.secret)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return dialScreen{}, fmt.Errorf("hop %d: no answer within %v, so the aggregator would end the session: %w", n, d.timeout, err)
		}
		return dialScreen{}, fmt.Errorf("hop %d: cannot reach the server (%s): %w", n, d.hint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, dialReplyBytesMax+1))
	if err != nil {
		return dialScreen{}, fmt.Errorf("hop %d: reading the reply from %s: %w", n, d.endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		return dialScreen{}, fmt.Errorf("hop %d: %s answered %s %s; the aggregator would end the session", n, d.endpoint, resp.Status, quoteDialReply(body))
	}
	if len(body) > dialReplyBytesMax {
		return dialScreen{}, fmt.Errorf("hop %d: the reply is longer than %d bytes; the aggregator would end the session", n, dialReplyBytesMax)
	}
	s := string(body)
	switch {
	case strings.HasPrefix(s, "CON "):
		return dialScreen{text: s[len("CON "):]}, nil
	case strings.HasPrefix(s, "END "):
		return dialScreen{text: s[len("END "):], end: true}, nil
	}
	return dialScreen{}, fmt.Errorf(`hop %d: the reply %s starts with neither "CON " nor "END "; the aggregator would end the session`, n, quoteDialReply(body))
}

// quoteDialReply quotes the start of a reply body for an error message.
func quoteDialReply(body []byte) string {
	s := string(body)
	if utf8.RuneCountInString(s) > dialErrorBodyMax {
		s = string([]rune(s)[:dialErrorBodyMax]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

// writeDialScreen shows a screen framed like a handset's display, 40
// characters wide:
//
//	+------------------------------------------+
//	| Welcome to Kibubu                        |
//	| 1. Send money                            |
//	+------------------------------------------+
//
// Control characters from the server are shown as '?', so a reply cannot
// drive the terminal. Wide (East Asian) characters may misalign the right
// edge; USSD alphabets rarely have them.
func writeDialScreen(w io.Writer, text string) {
	var b strings.Builder
	border := "+" + strings.Repeat("-", dialScreenWidth+2) + "+\n"
	b.WriteString(border)
	text = strings.ReplaceAll(text, "\r\n", "\n")
	for _, line := range strings.Split(text, "\n") {
		line = strings.Map(func(r rune) rune {
			if r == '\t' {
				return ' '
			}
			if unicode.IsControl(r) || r == utf8.RuneError {
				return '?'
			}
			return r
		}, line)
		for _, row := range wrapDialRow(line, dialScreenWidth) {
			fmt.Fprintf(&b, "| %s%s |\n", row, strings.Repeat(" ", dialScreenWidth-utf8.RuneCountInString(row)))
		}
	}
	b.WriteString(border)
	io.WriteString(w, b.String())
}

// wrapDialRow splits line into rows of at most width characters, at spaces
// where it can; an empty line is one empty row.
func wrapDialRow(line string, width int) []string {
	var rows []string
	r := []rune(strings.TrimRight(line, " "))
	for len(r) > width {
		cut := width
		for i := width; i > 0; i-- {
			if r[i] == ' ' {
				cut = i
				break
			}
		}
		rows = append(rows, strings.TrimRight(string(r[:cut]), " "))
		r = r[cut:]
		for len(r) > 0 && r[0] == ' ' {
			r = r[1:]
		}
	}
	return append(rows, string(r))
}

// dialInput reads answers from stdin in the background, so that ctx
// (Ctrl-C) can end a session that waits for one.
type dialInput struct {
	lines chan string // closed at end of input
	done  chan struct{}
	echo  bool // stdin is not a terminal: echo answers, for a readable transcript
}

func newDialInput(stdin io.Reader) *dialInput {
	in := &dialInput{lines: make(chan string), done: make(chan struct{}), echo: !dialIsTerminal(stdin)}
	go func() {
		defer close(in.lines)
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 0, 4<<10), dialLineBytesMax)
		for sc.Scan() {
			select {
			case in.lines <- sc.Text():
			case <-in.done:
				return
			}
		}
		// A read error or an over-long line ends input like EOF: the
		// person hangs up.
	}()
	return in
}

// stop lets the reader goroutine go once it next has a line; a read that
// blocks on a terminal stays blocked until the process exits.
func (in *dialInput) stop() { close(in.done) }

// answer prompts for and returns one non-empty answer, spaces trimmed. An
// empty line or one longer than a handset sends is refused locally, since
// AT never sends such an input: the prompt repeats. ok is false at end of
// input or when ctx ends.
func (in *dialInput) answer(ctx context.Context, stdout io.Writer) (string, bool) {
	for {
		fmt.Fprint(stdout, "> ")
		var line string
		var ok bool
		select {
		case line, ok = <-in.lines:
		case <-ctx.Done():
		}
		if !ok {
			return "", false
		}
		line = strings.TrimSpace(line)
		if in.echo {
			fmt.Fprintln(stdout, line)
		}
		if n := utf8.RuneCountInString(line); n > dialInputMax {
			fmt.Fprintf(stdout, "(not sent: %d characters, a phone sends at most %d)\n", n, dialInputMax)
			continue
		}
		if line != "" {
			return line, true
		}
	}
}

// dialIsTerminal reports whether r is a terminal, where the person's typing
// already shows their answers.
func dialIsTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
