package simulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kibubu/kibubu/gateway/aggregator"
	"github.com/kibubu/kibubu/sessions"
)

const (
	// phonesMax bounds the phones whose state is kept: a trainer's room
	// uses a few dozen; past the bound the one untouched longest goes.
	phonesMax = 1000
	// sessionLifetime is Africa's Talking's: a USSD session lasts 180 s at
	// most, after which the network ends it. The inputs kept for it (the
	// protocol resends them every hop) go with it.
	sessionLifetime = 180 * time.Second
	// hopTimeout bounds one hop to the adapter. The adapter itself gives up
	// after 10 s; this stays under the server's 15 s write timeout, so the
	// page always gets its answer.
	hopTimeout = 12 * time.Second
	// sessionIDBytes is the entropy of a session id.
	sessionIDBytes = 12
)

// phone is one simulated handset's state.
type phone struct {
	mu      sync.Mutex // held across a hop: one hop at a time per phone
	touched time.Time  // under phones.mu

	session string   // the Africa's Talking session id; "" when none is open
	code    string   // the code dialled
	inputs  []string // the session's inputs, resent each hop; PINs included
	started time.Time
	screen  string // the last screen shown; "" when idle
	ended   bool   // screen ended its session
	notice  notice // for the person, shown once
}

// notice is a message for the person: a locales id and its data.
type notice struct {
	id   string
	data map[string]any
}

// hangUp drops the session, and with it every input kept.
func (p *phone) hangUp() {
	clear(p.inputs)
	p.session, p.code, p.inputs = "", "", nil
}

// phones holds the handsets' state, by E.164 number.
type phones struct {
	mu      sync.Mutex
	byPhone map[string]*phone
	now     func() time.Time
}

func newPhones() *phones {
	return &phones{byPhone: map[string]*phone{}, now: time.Now}
}

// get returns number's phone, made on first use; past phonesMax the phone
// untouched longest is forgotten.
func (ps *phones) get(number string) *phone {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.byPhone[number]
	if p == nil {
		if len(ps.byPhone) >= phonesMax {
			var oldest string
			for n, q := range ps.byPhone {
				if oldest == "" || q.touched.Before(ps.byPhone[oldest].touched) {
					oldest = n
				}
			}
			delete(ps.byPhone, oldest)
		}
		p = &phone{}
		ps.byPhone[number] = p
	}
	p.touched = ps.now()
	return p
}

// view is what the page shows of a phone, taking its notice.
type view struct {
	screen string
	ended  bool
	open   bool
	notice notice
}

func (ps *phones) view(number string) view {
	p := ps.get(number)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.session != "" && ps.now().Sub(p.started) > sessionLifetime {
		p.hangUp()
		p.screen, p.ended, p.notice = "", false, notice{id: "simulator.error.expired"}
	}
	v := view{screen: p.screen, ended: p.ended, open: p.session != "", notice: p.notice}
	p.notice = notice{}
	return v
}

// hangUp ends number's session, as the End key does.
func (ps *phones) hangUp(number string) {
	p := ps.get(number)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hangUp()
	p.screen, p.ended = "", false
}

// call is the Call key: with no session open it dials typed, else it sends
// typed as the reply. What the person gets wrong, and what the network
// would end the session for, becomes the phone's notice.
func (ps *phones) call(ctx context.Context, c *aggregator.Client, number, typed, lang string) {
	p := ps.get(number)
	p.mu.Lock()
	defer p.mu.Unlock()
	typed = strings.TrimSpace(typed)
	p.notice = notice{}
	if p.session != "" && ps.now().Sub(p.started) > sessionLifetime {
		p.hangUp()
		p.screen, p.ended, p.notice = "", false, notice{id: "simulator.error.expired"}
		return
	}
	if p.session == "" {
		switch {
		case aggregator.ValidServiceCode(typed):
		case p.ended && typed != "" && !strings.HasPrefix(typed, "*"):
			// A reply to a screen that ended the session.
			p.notice = notice{id: "simulator.error.no_session"}
			return
		default:
			p.notice = notice{id: "simulator.error.code"}
			return
		}
		p.session, p.code, p.started = newSessionID(), typed, ps.now()
	} else {
		if id := checkReply(typed); id != "" {
			p.notice = notice{id: id, data: map[string]any{"Number": aggregator.InputRunesMax}}
			return
		}
		p.inputs = append(p.inputs, typed)
	}
	ctx, cancel := context.WithTimeout(ctx, hopTimeout)
	defer cancel()
	s, err := c.Hop(ctx, sessions.Hop{Aggregator: "africastalking", SessionID: p.session, ServiceCode: p.code,
		Phone: number, History: strings.Join(p.inputs, "*"), Language: lang})
	if err != nil {
		// The aggregator ends the session on a failed hop; so does the page.
		p.hangUp()
		p.screen, p.ended = "", false
		var re *aggregator.ReplyError
		if errors.As(err, &re) {
			p.notice = notice{id: "simulator.error.refused"}
		} else {
			p.notice = notice{id: "simulator.error.unreachable"}
		}
		return
	}
	p.screen, p.ended = s.Text, s.End
	if s.End {
		p.hangUp()
	}
}

// checkReply returns the notice for a reply no handset would send, or "".
func checkReply(typed string) string {
	switch {
	case typed == "":
		return "simulator.error.empty"
	case utf8.RuneCountInString(typed) > aggregator.InputRunesMax:
		return "simulator.error.long"
	case !utf8.ValidString(typed) || strings.ContainsFunc(typed, unicode.IsControl):
		return "simulator.error.chars"
	}
	return ""
}

// newSessionID returns a session id unlike any other, as an aggregator's.
func newSessionID() string {
	b := make([]byte, sessionIDBytes)
	rand.Read(b)
	return "sim-" + hex.EncodeToString(b)
}

// asksSecret reports whether screen prompts for a PIN or a start key, so
// the page masks what is typed: a prompt line (one ending in ':') naming a
// PIN, or the start key sent by SMS. Menus that name a PIN ("5 Change
// PIN") are no prompt.
func asksSecret(screen string) bool {
	for _, line := range strings.Split(screen, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasSuffix(line, ":") && (strings.Contains(line, "PIN") || strings.Contains(line, "SMS")) {
			return true
		}
	}
	return false
}

// pageQuery is the query of the page showing phones in lang.
func pageQuery(numbers []string, lang string) string {
	q := url.Values{"phone": numbers}
	if lang != "" {
		q.Set("lang", lang)
	}
	return q.Encode()
}
