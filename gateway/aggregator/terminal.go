package aggregator

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kibubu/kibubu/sessions"
)

const (
	// inputRunesMax is the longest input a handset sends: a USSD string is
	// 182 characters at most. Longer lines are refused locally.
	inputRunesMax = 182
	// lineBytesMax bounds one line read from stdin, in bytes.
	lineBytesMax = 64 << 10
	// hopsMax bounds one session. A real one lasts 180 s at about 30 s
	// a screen; a scripted one has no such clock, so a server that never
	// sends END stops here instead of looping on a pipe for ever.
	hopsMax = 100
	// screenWidth is the inner width, in characters, of the framed
	// screen; longer lines wrap at spaces, as on a handset's display.
	screenWidth = 40
)

// Terminal is a phone for a person at a terminal (kibubu dial): one USSD
// session through Africa's Talking's protocol, each screen shown framed as
// on a handset's display and each answer read from a line of input.
type Terminal struct {
	Client      *Client
	SessionID   string
	ServiceCode string
	Phone       string        // as typed: normalising it is the server's job
	Language    string        // Accept-Language, if set
	Timeout     time.Duration // for each screen
	Hint        string        // what to check when the server cannot be reached
}

// Run plays the session: a hop, its screen, the person's answer, until an
// END screen, a hang-up or a failed hop.
func (d *Terminal) Run(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	in := newTerminalInput(stdin)
	defer in.stop()
	var inputs []string
	for hop := 1; ; hop++ {
		if hop > hopsMax {
			return fmt.Errorf("hop %d: the server sent %d CON screens without an END; a real session would have timed out long ago", hop, hopsMax)
		}
		s, err := d.hop(ctx, hop, strings.Join(inputs, "*"))
		if ctx.Err() != nil {
			fmt.Fprint(stdout, "\n(hung up)\n")
			return nil
		}
		if err != nil {
			return err
		}
		WriteScreen(stdout, s.Text)
		if s.End {
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
func (d *Terminal) hop(ctx context.Context, n int, text string) (sessions.Screen, error) {
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	s, err := d.Client.Hop(ctx, sessions.Hop{Aggregator: "africastalking", SessionID: d.SessionID, ServiceCode: d.ServiceCode,
		Phone: d.Phone, History: text, Language: d.Language})
	var ue *url.Error
	switch {
	case err == nil:
		return s, nil
	case errors.As(err, &ue) && ue.Timeout():
		return s, fmt.Errorf("hop %d: no answer within %v, so the aggregator would end the session: %w", n, d.Timeout, err)
	case errors.As(err, &ue):
		return s, fmt.Errorf("hop %d: cannot reach the server (%s): %w", n, d.Hint, err)
	}
	return s, fmt.Errorf("hop %d: %w", n, err)
}

// WriteScreen shows a screen framed like a handset's display, 40
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
func WriteScreen(w io.Writer, text string) {
	var b strings.Builder
	border := "+" + strings.Repeat("-", screenWidth+2) + "+\n"
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
		for _, row := range wrapRow(line, screenWidth) {
			fmt.Fprintf(&b, "| %s%s |\n", row, strings.Repeat(" ", screenWidth-utf8.RuneCountInString(row)))
		}
	}
	b.WriteString(border)
	io.WriteString(w, b.String())
}

// wrapRow splits line into rows of at most width characters, at spaces
// where it can; an empty line is one empty row.
func wrapRow(line string, width int) []string {
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

// terminalInput reads answers from stdin in the background, so that ctx
// (Ctrl-C) can end a session that waits for one.
type terminalInput struct {
	lines chan string // closed at end of input
	done  chan struct{}
	echo  bool // stdin is not a terminal: echo answers, for a readable transcript
}

func newTerminalInput(stdin io.Reader) *terminalInput {
	in := &terminalInput{lines: make(chan string), done: make(chan struct{}), echo: !isTerminal(stdin)}
	go func() {
		defer close(in.lines)
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 0, 4<<10), lineBytesMax)
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
func (in *terminalInput) stop() { close(in.done) }

// answer prompts for and returns one non-empty answer, spaces trimmed. An
// empty line or one longer than a handset sends is refused locally, since
// AT never sends such an input: the prompt repeats. ok is false at end of
// input or when ctx ends.
func (in *terminalInput) answer(ctx context.Context, stdout io.Writer) (string, bool) {
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
		if n := utf8.RuneCountInString(line); n > inputRunesMax {
			fmt.Fprintf(stdout, "(not sent: %d characters, a phone sends at most %d)\n", n, inputRunesMax)
			continue
		}
		if line != "" {
			return line, true
		}
	}
}

// isTerminal reports whether r is a terminal, where the person's typing
// already shows their answers.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
