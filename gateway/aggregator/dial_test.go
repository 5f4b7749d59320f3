package aggregator

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kibubu/kibubu/internal/cmdline"
)

// dialFake is a scripted Africa's Talking peer of the simulator: it answers
// each hop by its text from script and records every hop it was sent.
type dialFake struct {
	script map[string]string // text → reply body
	status int               // if set, every hop gets this status and "boom"
	block  bool              // if set, never answer (until the client gives up)

	mu   sync.Mutex
	hops []dialHop
}

// dialScript is an dialFake's behaviour, for tables.
type dialScript struct {
	script map[string]string
	status int
	block  bool
}

// dialHop is what the fake received in one hop.
type dialHop struct {
	method, path, contentType               string
	session, code, phone, network, text     string
	lang, secret                            string
	hasText, hasLangHeader, hasSecretHeader bool
}

func (f *dialFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	_, hasText := r.PostForm["text"]
	h := dialHop{
		method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"),
		session: r.PostFormValue("sessionId"), code: r.PostFormValue("serviceCode"), phone: r.PostFormValue("phoneNumber"),
		network: r.PostFormValue("networkCode"), text: r.PostFormValue("text"), hasText: hasText,
		lang: r.Header.Get("Accept-Language"), secret: r.Header.Get("X-USSD-Secret"),
		hasLangHeader: len(r.Header.Values("Accept-Language")) > 0, hasSecretHeader: len(r.Header.Values("X-USSD-Secret")) > 0,
	}
	f.mu.Lock()
	f.hops = append(f.hops, h)
	f.mu.Unlock()
	switch {
	case f.block:
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	case f.status != 0:
		http.Error(w, "boom", f.status)
		return
	}
	reply, ok := f.script[h.text]
	if !ok {
		http.Error(w, "the fake has no screen for text "+h.text, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, reply)
}

func (f *dialFake) received() []dialHop {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]dialHop(nil), f.hops...)
}

// clearDialEnv unsets the KIBUBU_* variables of dial's flags for the test,
// so a developer's environment cannot steer it.
func clearDialEnv(t *testing.T) {
	t.Helper()
	for _, name := range []string{"phone", "lang", "server", "data", "secret", "timeout"} {
		t.Setenv(cmdline.EnvName(name), "") // restored after the test
		os.Unsetenv(cmdline.EnvName(name))
	}
}

// screen is the framed display of lines, built independently of
// writeDialScreen: fmt pads by characters.
func dialFrame(lines ...string) string {
	border := "+" + strings.Repeat("-", 42) + "+\n"
	var b strings.Builder
	b.WriteString(border)
	for _, l := range lines {
		b.WriteString("| " + dialPad(l, 40) + " |\n")
	}
	b.WriteString(border)
	return b.String()
}

func dialPad(s string, n int) string {
	return (s + strings.Repeat(" ", n))[:len(s)+max(0, n-len([]rune(s)))]
}

var dialSessionIDPattern = regexp.MustCompile(`^sim-[0-9a-f]{12}$`)

func TestDialSession(t *testing.T) {
	clearDialEnv(t)
	menu := "CON Karibu Kibubu\n1. Register\n2. Help"
	tests := []struct {
		name      string
		args      []string // --server is added
		stdin     string
		fake      dialScript
		phone     string // want phoneNumber, default +254700000001
		code      string // want serviceCode, default *334#
		lang      string // want Accept-Language, none if empty
		secret    string // want X-USSD-Secret, none if empty
		wantTexts []string
		wantOut   string
		wantErr   string // in the error; "" for none
	}{
		{
			name:  "full session to END",
			args:  []string{"--phone", "0712345678", "--lang", "sw", "--secret", "s3cret", "*334#"},
			stdin: "1\nJane\n",
			fake: dialScript{script: map[string]string{
				"":       menu,
				"1":      "CON Your name?",
				"1*Jane": "END Asante Jane, you are registered.",
			}},
			phone: "0712345678", lang: "sw", secret: "s3cret",
			wantTexts: []string{"", "1", "1*Jane"},
			wantOut: dialFrame("Karibu Kibubu", "1. Register", "2. Help") + "> 1\n" +
				dialFrame("Your name?") + "> Jane\n" +
				dialFrame("Asante Jane, you are registered.") + "(session ended)\n",
		},
		{
			name: "defaults, flags after the code, spaces trimmed, empty lines re-prompt, * inside an input, no final newline",
			args: []string{"*334*1#", "--phone", "+254 712 345 678"},
			// Empty and blank lines are refused locally; AT never sends them.
			stdin: "\n  2 \n   \n1*2",
			fake: dialScript{script: map[string]string{
				"":      menu,
				"2":     "CON Code?",
				"2*1*2": "END Done",
			}},
			phone: "+254 712 345 678", code: "*334*1#",
			wantTexts: []string{"", "2", "2*1*2"},
			wantOut: dialFrame("Karibu Kibubu", "1. Register", "2. Help") + "> \n> 2\n" +
				dialFrame("Code?") + "> \n> 1*2\n" +
				dialFrame("Done") + "(session ended)\n",
		},
		{
			name:  "an input longer than a handset sends is not sent",
			stdin: strings.Repeat("9", 183) + "\n1\n",
			fake: dialScript{script: map[string]string{
				"":  "CON Amount?",
				"1": "END OK",
			}},
			wantTexts: []string{"", "1"},
			wantOut: dialFrame("Amount?") + "> " + strings.Repeat("9", 183) + "\n(not sent: 183 characters, a phone sends at most 182)\n> 1\n" +
				dialFrame("OK") + "(session ended)\n",
		},
		{
			name:      "end of input mid-session hangs up",
			stdin:     "1\n",
			fake:      dialScript{script: map[string]string{"": menu, "1": "CON Your name?"}},
			wantTexts: []string{"", "1"},
			wantOut: dialFrame("Karibu Kibubu", "1. Register", "2. Help") + "> 1\n" +
				dialFrame("Your name?") + "> \n(hung up)\n",
		},
		{
			name:      "no input at all hangs up after the first screen",
			stdin:     "",
			fake:      dialScript{script: map[string]string{"": menu}},
			wantTexts: []string{""},
			wantOut:   dialFrame("Karibu Kibubu", "1. Register", "2. Help") + "> \n(hung up)\n",
		},
		{
			name:      "server 500 ends the session",
			stdin:     "1\n",
			fake:      dialScript{status: http.StatusInternalServerError},
			wantTexts: []string{""},
			wantErr:   `/ussd/africastalking answered 500 Internal Server Error "boom\n"; the aggregator would end the session`,
		},
		{
			name:      "reply without CON or END",
			stdin:     "1\n",
			fake:      dialScript{script: map[string]string{"": "Welcome\n1. Send"}},
			wantTexts: []string{""},
			wantErr:   `hop 1: the reply "Welcome\n1. Send" starts with neither "CON " nor "END "`,
		},
		{
			name:      "CON without its space",
			stdin:     "1\n",
			fake:      dialScript{script: map[string]string{"": menu, "1": "CONYour name?"}},
			wantTexts: []string{"", "1"},
			wantOut:   dialFrame("Karibu Kibubu", "1. Register", "2. Help") + "> 1\n",
			wantErr:   `hop 2: the reply "CONYour name?" starts with neither`,
		},
		{
			name:      "no answer within --timeout",
			args:      []string{"--timeout", "200ms"},
			fake:      dialScript{block: true},
			wantTexts: []string{""},
			wantErr:   "hop 1: no answer within 200ms",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := &dialFake{script: tc.fake.script, status: tc.fake.status, block: tc.fake.block}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			var out strings.Builder
			args := append([]string{"--server", srv.URL}, tc.args...)
			err := Dial(context.Background(), args, "./data", strings.NewReader(tc.stdin), &out)

			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Dial: got error %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Dial: got error %v, want one containing %q", err, tc.wantErr)
			}
			var u *cmdline.UsageError
			if errors.As(err, &u) {
				t.Errorf("Dial: got usage error %v, want a plain error (exit 1)", err)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("Dial: got error %q over several lines, want one line", err)
			}
			if got := out.String(); got != tc.wantOut {
				t.Errorf("output:\n%s\nwant:\n%s", got, tc.wantOut)
			}

			hops := fake.received()
			var texts []string
			for _, h := range hops {
				texts = append(texts, h.text)
			}
			if strings.Join(texts, "|") != strings.Join(tc.wantTexts, "|") || len(texts) != len(tc.wantTexts) {
				t.Errorf("texts sent: got %q, want %q", texts, tc.wantTexts)
			}
			phone, code := tc.phone, tc.code
			if phone == "" {
				phone = "+254700000001"
			}
			if code == "" {
				code = "*334#"
			}
			for i, h := range hops {
				if !dialSessionIDPattern.MatchString(h.session) || h.session != hops[0].session {
					t.Errorf("hop %d: sessionId got %q, want sim-<12 hex>, the same as hop 1 (%q)", i+1, h.session, hops[0].session)
				}
				got := []string{h.method, h.path, h.contentType, h.code, h.phone, h.network}
				want := []string{"POST", "/ussd/africastalking", "application/x-www-form-urlencoded", code, phone, "63902"}
				if strings.Join(got, "|") != strings.Join(want, "|") {
					t.Errorf("hop %d: method, path, content type, serviceCode, phoneNumber, networkCode got %q, want %q", i+1, got, want)
				}
				if !h.hasText {
					t.Errorf("hop %d: got no text field, want one (empty on the first hop)", i+1)
				}
				if h.lang != tc.lang || h.hasLangHeader != (tc.lang != "") {
					t.Errorf("hop %d: Accept-Language got %q (sent %v), want %q", i+1, h.lang, h.hasLangHeader, tc.lang)
				}
				if h.secret != tc.secret || h.hasSecretHeader != (tc.secret != "") {
					t.Errorf("hop %d: X-USSD-Secret got %q (sent %v), want %q", i+1, h.secret, h.hasSecretHeader, tc.secret)
				}
			}
		})
	}
}

func TestDialSessionIDsDiffer(t *testing.T) {
	clearDialEnv(t)
	fake := &dialFake{script: map[string]string{"": "END Bye"}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	for range 2 {
		if err := Dial(context.Background(), []string{"--server", srv.URL}, "./data", strings.NewReader(""), io.Discard); err != nil {
			t.Fatalf("Dial: %v", err)
		}
	}
	if hops := fake.received(); len(hops) != 2 || hops[0].session == hops[1].session {
		t.Errorf("two dials: got hops %+v, want two with different session ids", hops)
	}
}

func TestDialUsage(t *testing.T) {
	clearDialEnv(t)
	tests := []struct {
		name string
		args []string // --server is added
		want string   // in the message
	}{
		{"no star", []string{"334#"}, `"334#" is not a USSD code`},
		{"no hash", []string{"*334"}, `"*334" is not a USSD code`},
		{"letter inside", []string{"*33a4#"}, `"*33a4#" is not a USSD code`},
		{"no digits", []string{"**#"}, `"**#" is not a USSD code`},
		{"hash inside", []string{"*334#1#"}, `"*334#1#" is not a USSD code`},
		{"two codes", []string{"*334#", "*144#"}, "takes one service code"},
		{"empty phone", []string{"--phone", " "}, "--phone is empty"},
		{"zero timeout", []string{"--timeout", "0s"}, "--timeout 0s"},
		{"bad language", []string{"--lang", "sw\r\nX-Evil: 1"}, "--lang"},
		{"unknown flag", []string{"--nope"}, "flag provided but not defined"},
		{"server without scheme", []string{"--server", "127.0.0.1:8080"}, `--server "127.0.0.1:8080"`},
		{"server not http", []string{"--server", "ftp://example.com"}, `--server "ftp://example.com"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := &dialFake{script: map[string]string{"": "END Bye"}}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			var out strings.Builder
			err := Dial(context.Background(), append([]string{"--server", srv.URL}, tc.args...), "./data", strings.NewReader(""), &out)
			var u *cmdline.UsageError
			if !errors.As(err, &u) || !strings.Contains(u.Msg, tc.want) || !strings.HasPrefix(u.Msg, "dial: ") {
				t.Errorf("Dial %q: got %v (%T), want a usage error \"dial: …\" containing %q", tc.args, err, err, tc.want)
			}
			if hops := fake.received(); len(hops) != 0 || out.Len() != 0 {
				t.Errorf("Dial %q: got %d hops and output %q, want none", tc.args, len(hops), out.String())
			}
		})
	}
}

func TestDialHelp(t *testing.T) {
	clearDialEnv(t)
	var out strings.Builder
	err := Dial(context.Background(), []string{"-h"}, "./data", strings.NewReader(""), &out)
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "kibubu dial [flags] [SERVICE-CODE]") || !strings.Contains(out.String(), "-secret") {
		t.Errorf("dial -h: got %v and %q, want flag.ErrHelp and the synopsis with the flags", err, out.String())
	}
}

func TestDialHangUpOnCancel(t *testing.T) {
	clearDialEnv(t)
	fake := &dialFake{script: map[string]string{"": "CON Your name?"}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	stdin, typing := io.Pipe() // nobody types
	defer typing.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cancelAtPrompt{cancel: cancel}
	done := make(chan error, 1)
	go func() { done <- Dial(ctx, []string{"--server", srv.URL}, "./data", stdin, out) }()
	select {
	case err := <-done:
		want := dialFrame("Your name?") + "> \n(hung up)\n"
		if got := out.String(); err != nil || got != want {
			t.Errorf("Ctrl-C at the prompt: got %v and output\n%s\nwant nil and\n%s", err, got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Ctrl-C at the prompt: Dial still waits for input after 10s, want it to hang up")
	}
}

// cancelAtPrompt records output and cancels once the prompt shows.
type cancelAtPrompt struct {
	mu     sync.Mutex
	b      strings.Builder
	cancel context.CancelFunc
}

func (w *cancelAtPrompt) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if string(p) == "> " {
		w.cancel()
	}
	return w.b.Write(p)
}

func (w *cancelAtPrompt) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestDialServerURL(t *testing.T) {
	clearDialEnv(t)
	fake := &dialFake{script: map[string]string{"": "END Karibu"}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	tests := []struct {
		name    string
		file    *string // http.url content; nil: no file
		viaEnv  bool    // give the dir as KIBUBU_DATA, not --data
		wantErr string  // "" for none
	}{
		{name: "one line", file: dialStrPtr(srv.URL + "\n")},
		{name: "no newline, trailing slash", file: dialStrPtr(srv.URL + "/")},
		{name: "CRLF", file: dialStrPtr(srv.URL + "\r\n")},
		{name: "KIBUBU_DATA", file: dialStrPtr(srv.URL + "\n"), viaEnv: true},
		{name: "no file", wantErr: "http.url does not exist (is `kibubu serve` running with --data "},
		{name: "empty file", file: dialStrPtr(""), wantErr: "is not what `kibubu serve` writes"},
		{name: "not a URL", file: dialStrPtr("127.0.0.1:8080\n"), wantErr: "is not what `kibubu serve` writes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.file != nil {
				if err := os.WriteFile(filepath.Join(dir, "http.url"), []byte(*tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ReadServerURL(dir)
			switch {
			case tc.wantErr == "" && (err != nil || got != strings.TrimSpace(*tc.file)):
				t.Errorf("readServerURL: got %q, %v; want %q", got, err, strings.TrimSpace(*tc.file))
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), dir)):
				t.Errorf("readServerURL: got %q, %v; want an error naming %s and containing %q", got, err, dir, tc.wantErr)
			}

			args := []string{"--data", dir}
			if tc.viaEnv {
				t.Setenv("KIBUBU_DATA", dir)
				args = nil
			}
			before := len(fake.received())
			var out strings.Builder
			err = Dial(context.Background(), args, "./data", strings.NewReader(""), &out)
			hops := len(fake.received()) - before
			if tc.wantErr == "" {
				if want := dialFrame("Karibu") + "(session ended)\n"; err != nil || out.String() != want || hops != 1 {
					t.Errorf("Dial %q: got %v, %d hops, output\n%s\nwant nil, 1 hop and\n%s", args, err, hops, out.String(), want)
				}
				return
			}
			var u *cmdline.UsageError
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || errors.As(err, &u) || hops != 0 {
				t.Errorf("Dial %q: got %v, %d hops; want a plain error containing %q and no hop", args, err, hops, tc.wantErr)
			}
		})
	}
}

func dialStrPtr(s string) *string { return &s }
