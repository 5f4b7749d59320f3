package sessions

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// The fuzz targets feed every parser of outside input in this package with
// arbitrary text: a hop's history and sequence (FuzzInput), the session id
// and language hint (FuzzSessionKey), each read (FuzzReads), and the menus'
// handling of a run of inputs (FuzzHandle). Each checks the contract the
// rest of the engine relies on, not only that nothing panics. Run one with
//
//	go test -run='^$' -fuzz=FuzzHandle -fuzztime=1m ./sessions/
//
// Inputs that found a bug not yet fixed wait in testdata/crashers (see its
// README); once fixed, they move to testdata/fuzz to guard against its return.

// fuzzKey seals the fuzzed sessions' histories and PINs (KeyBytes long).
var fuzzKey = []byte("fuzz-seal-key-0123456789abcdefgh")

// fuzzSession is the bucket key of every fuzzed session.
var fuzzSession = key("africastalking", "ATUid_fuzz")

// fuzzPhone is the caller of every fuzzed session.
const fuzzPhone = "+254711000001"

// fuzzInputsMax bounds the inputs FuzzHandle applies in one run: the
// deepest flow (pay bill) takes 7 hops, so 16 leave room for detours.
const fuzzInputsMax = 16

// noBucket is a Config.Bucket for targets that never load or save a state:
// any call would panic on the nil interface.
type noBucket struct{ jetstream.KeyValue }

// noWallet is a Config.Wallet for targets that must not reach the wallet:
// any call would panic on the nil interface.
type noWallet struct{ Wallet }

var fuzzCatalog = sync.OnceValue(func() *locales.Catalog {
	c, err := locales.New()
	if err != nil {
		panic(err)
	}
	return c
})

var fuzzKES = sync.OnceValue(func() wallet.Currency {
	c, err := wallet.LookupCurrency("KES")
	if err != nil {
		panic(err)
	}
	return c
})

// fuzzEngine returns an Engine on w, closed when tb ends.
func fuzzEngine(tb testing.TB, w Wallet) *Engine {
	tb.Helper()
	e, err := New(Config{
		Wallet: w, Bucket: noBucket{}, Locales: fuzzCatalog(), Currency: fuzzKES(), Key: fuzzKey,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.Close(ctx); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return e
}

// atInput is the latest input of an Africa's Talking text, as the gateway
// takes it: what follows the last '*'.
func atInput(history string) string {
	return history[strings.LastIndexByte(history, '*')+1:]
}

// FuzzInput checks how a hop's history or sequence becomes the latest input,
// a repeat or a mismatch, for each protocol's way of telling them apart.
func FuzzInput(f *testing.F) {
	type seed struct {
		prev, x, input string
		seq, lastSeq   int
		isNew          bool
	}
	for _, s := range []seed{
		{"", "1", "1", 0, 0, false},
		{"1", "0712345678", "0712345678", 0, 0, false},
		{"1*0712345678", "500", "500", 0, 0, false},
		{"1*0712345678*500", "1", "1", 0, 0, false},
		{"1*0712345678*500*1", "2580", "2580", 0, 0, false},
		{"4*2*888880", "ACC*12", "12", 0, 0, false}, // a '*' typed inside an input
		{"1*2", "*", "", 0, 0, false},               // a lone '*' as the input
		{"1", "", "", 0, 0, false},                  // an empty input
		{"1*0*00", "98", "98", 0, 0, false},
		{"1*Zoë", "Wanjiru Kamau", "Wanjiru Kamau", 0, 0, false},
		{strings.Repeat("1*", 200) + "1", strings.Repeat("9", 300), "9", 0, 0, false},
		{"", "", "1", 1, 0, true},      // Hubtel's initiation sent twice
		{"", "", "1,000", 3, 2, false}, // Hubtel's next hop
		{"", "", "1", 2, 2, false},     // Hubtel's hop sent twice
		{"", "", "1", 5, 2, false},     // Hubtel's sequence skipping
		{"", "", "0.5", 1, 7, false},
		{"2580", "", "2580", 0, 0, false}, // Nalo's final hop sent twice
		{"", "", "", -1, math.MinInt, false},
	} {
		f.Add(s.prev, s.x, s.input, s.seq, s.lastSeq, s.isNew)
	}
	f.Fuzz(func(t *testing.T, prev, x, input string, seq, lastSeq int, isNew bool) {
		e := fuzzEngine(t, noWallet{})
		check := func(what string, st *state, h Hop, want heard) {
			t.Helper()
			if got := e.input(st, h); got != want {
				t.Fatalf("%s: hop %+v on state %+v: got %+v, want %+v", what, h, *st, got, want)
			}
		}

		// Africa's Talking: the session's history so far is prev, its
		// inputs kept as typed (kept) or masked (a PIN).
		var parts []string
		if prev != "" {
			parts = strings.Split(prev, "*")
		}
		for _, kept := range []bool{true, false} {
			at := &state{}
			for _, p := range parts {
				at.Hist = append(at.Hist, entry(p, 1, kept))
			}
			check("a new session's first hop sent again", at, Hop{New: true, History: prev, Input: input}, heard{repeat: true})
			if prev != "" {
				check("the last hop sent again", at, Hop{History: prev, Input: atInput(prev)}, heard{repeat: true})
				check("the last hop sent again, any Input", at, Hop{History: prev, Input: input}, heard{repeat: true})
			}
			next := x
			if prev != "" {
				next = prev + "*" + x
			}
			want := heard{input: x, parts: strings.Count(x, "*") + 1}
			if next != "" {
				// The input is taken from the history, whatever the
				// adapter put in Input: a '*' typed inside it is kept.
				check("the next hop", at, Hop{History: next, Input: atInput(next)}, want)
				check("the next hop, any Input", at, Hop{History: next, Input: input}, want)
			}
			if prev != "" && kept {
				// A history that differs in an input kept as typed is
				// refused, whatever follows.
				forged := []byte(prev)
				forged[0] ^= 1
				check("a history that is not ours", at, Hop{History: string(forged) + "*" + x, Input: input}, heard{mismatch: true})
				check("a history of our length that is not ours", at, Hop{History: string(forged), Input: input}, heard{mismatch: true})
			}
			if len(parts) > 1 {
				// Fewer inputs than the session took: refused.
				short := strings.Join(parts[1:], "*")
				check("a history missing an input", at, Hop{History: short, Input: input}, heard{mismatch: true})
			}
		}

		// Hubtel: the last hop seen had sequence lastSeq.
		hub := &state{Seq: lastSeq}
		switch {
		case seq <= 0:
			check("an unsequenced hop", hub, Hop{Seq: seq, Input: input}, heard{input: input})
		case seq <= lastSeq:
			check("an earlier hop", hub, Hop{Seq: seq, Input: input}, heard{input: input, repeat: true})
		case lastSeq < math.MaxInt && seq == lastSeq+1:
			check("the next hop", hub, Hop{Seq: seq, Input: input}, heard{input: input})
		default:
			check("a hop that skips", hub, Hop{Seq: seq, Input: input}, heard{mismatch: true})
		}
		if seq > 0 {
			// The hop just handled is a repeat when sent again, as
			// Engine.step leaves the state.
			after := hub.clone()
			after.Seq = seq
			check("a sequenced hop sent again", after, Hop{Seq: seq, Input: input}, heard{input: input, repeat: true})
		}
		check("a new session's first hop sent again", hub, Hop{New: true, Seq: seq, Input: input}, heard{repeat: true})

		// Nalo: no history and no sequence; after the end, the same input
		// is the final hop repeated; after a final PIN, any input is.
		nalo := &state{Last: entry(prev, 1, true)}
		check("an input mid-session", nalo, Hop{Input: input}, heard{input: input})
		nalo.Ended = true
		check("an input after the end", nalo, Hop{Input: input}, heard{input: input, repeat: input == nalo.Last})
		nalo.Last = masked(1)
		check("an input after a final PIN", nalo, Hop{Input: input}, heard{input: input, repeat: true})

		// Any hop on any state: no panic, and the input is the hop's
		// Input or a suffix of its history.
		odd := &state{Hist: []string{x, masked(int(uint(lastSeq) % 4)), input}, Seq: lastSeq, Ended: isNew, Last: x}
		h := Hop{History: prev, Input: input, Seq: seq, New: isNew}
		got := e.input(odd, h)
		if !got.repeat && !got.mismatch && got.input != input && !strings.HasSuffix(prev, got.input) {
			t.Fatalf("hop %+v on state %+v: got input %q, neither the hop's Input nor a suffix of its history", h, *odd, got.input)
		}
	})
}

// kvKey matches the keys a JetStream key-value bucket accepts (nats.go's
// keyValid), besides the dots checked apart.
var kvKey = regexp.MustCompile(`^[-/_=.a-zA-Z0-9]+$`)

// FuzzSessionKey checks the hop fields that name a session and its
// language: every aggregator and session id Hop accepts makes a key the
// bucket accepts, and a different session makes a different key; any
// language hint becomes a language the catalog has.
func FuzzSessionKey(f *testing.F) {
	for _, s := range [][3]string{
		{"africastalking", "ATUid_4e2f1a9c0b7d4f3e8a6b5c4d3e2f1a0b", "en-GB,en;q=0.9"},
		{"hubtel", "0c4fbb0b1d8c4f5e9e6a2b3c4d5e6f70", "sw-KE"},
		{"nalo", "233244123456_1700000000", "fr"},
		{"nalo", "a.b..c/d*e>f g", "rw, fr;q=0.5"},
		{"Hubtel", "1", "*"},
		{"africas.talking", "\x00\xff", ""},
		{"a", strings.Repeat("9", sessionIDBytesMax+1), strings.Repeat("en-", 200)},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, aggregator, sessionID, language string) {
		if lang := hintLang(language); !slices.Contains(fuzzCatalog().Languages(), lang) {
			t.Fatalf("hintLang(%q) = %q, not a language of the catalog", language, lang)
		}
		if !validAggregator(aggregator) || sessionID == "" || len(sessionID) > sessionIDBytesMax {
			return // Hop and End refuse it
		}
		k := key(aggregator, sessionID)
		if !kvKey.MatchString(k) || k[0] == '.' || k[len(k)-1] == '.' || strings.Contains(k, "..") {
			t.Fatalf("key(%q, %q) = %q, which a bucket refuses", aggregator, sessionID, k)
		}
		agg, id, ok := strings.Cut(k, ".")
		raw, err := base64.RawURLEncoding.DecodeString(id)
		if !ok || agg != aggregator || err != nil || string(raw) != sessionID {
			t.Fatalf("key(%q, %q) = %q does not name that session alone", aggregator, sessionID, k)
		}
	})
}

// readCase is one read and the bounds of what it keeps.
type readCase struct {
	name  string
	read  func(*turn, string) string
	field string
	// check returns why v, kept for input in, breaks the read's contract.
	check func(in, v string) error
}

var fuzzReads = []readCase{
	{"readPhone", readPhone("to"), "to", func(_, v string) error {
		if len(v) < 8 || len(v) > 16 || v[0] != '+' || strings.Trim(v[1:], "0123456789") != "" {
			return fmt.Errorf("not E.164")
		}
		for _, region := range []string{"KE", "UG", "US"} {
			if again, err := wallet.NormalizePhone(v, region); again != v || err != nil {
				return fmt.Errorf("normalised again in %s: %q, %v", region, again, err)
			}
		}
		return nil
	}},
	{"readAmount", readAmount, "amount", func(_, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		switch {
		case err != nil || strconv.FormatInt(n, 10) != v:
			return fmt.Errorf("not a canonical integer: %v", err)
		case n <= 0 || n > wallet.AmountMax:
			return fmt.Errorf("outside (0, %d]", wallet.AmountMax)
		}
		if back, err := fuzzKES().ParseAmount(fuzzKES().FormatAmount(n)); back != n || err != nil {
			return fmt.Errorf("FormatAmount does not read back: %d, %v", back, err)
		}
		return nil
	}},
	{"readNumber", readNumber("till"), "till", func(in, v string) error {
		if v != in || len(v) < 1 || len(v) > numberDigitsMax || strings.Trim(v, "0123456789") != "" {
			return fmt.Errorf("not the 1 to %d ASCII digits typed", numberDigitsMax)
		}
		return nil
	}},
	{"readAccount", readAccount, "account", func(in, v string) error {
		switch {
		case v != strings.TrimSpace(in) || v == "":
			return fmt.Errorf("not the input trimmed")
		case utf8.RuneCountInString(v) > locales.AccountCharsMax:
			return fmt.Errorf("longer than %d characters", locales.AccountCharsMax)
		case !utf8.ValidString(v) || !locales.IsGSM7(v):
			return fmt.Errorf("not GSM-7")
		case strings.ContainsAny(v, "\n\r"):
			return fmt.Errorf("holds a line break")
		}
		return nil
	}},
	{"readName", readName("first"), "first", func(_, v string) error {
		letters := 0
		for _, r := range v {
			switch {
			case unicode.IsLetter(r):
				letters++
			case r == ' ' || r == '-' || r == '\'' || r == '.':
			default:
				return fmt.Errorf("holds %q", r)
			}
		}
		switch {
		case letters == 0:
			return fmt.Errorf("no letter")
		case utf8.RuneCountInString(v) > namePartCharsMax:
			return fmt.Errorf("longer than %d characters", namePartCharsMax)
		case !utf8.ValidString(v) || !locales.IsGSM7(v):
			return fmt.Errorf("not GSM-7")
		case v != strings.Join(strings.Fields(v), " "):
			return fmt.Errorf("spaces not collapsed")
		case screenName(v+" "+v) != v+" "+v:
			return fmt.Errorf("a full name of two such parts is clipped on screens")
		}
		return nil
	}},
	{"readRef", readRef, "ref", func(in, v string) error {
		id, ok := wallet.ParseRef(v)
		if !ok || wallet.Ref(id) != v {
			return fmt.Errorf("does not round-trip through ParseRef: %d, %v", id, ok)
		}
		// The ref kept is the one typed, in Crockford's canonical form.
		typed := strings.NewReplacer("O", "0", "I", "1", "L", "1").Replace(strings.ToUpper(strings.TrimSpace(in)))
		if v != typed {
			return fmt.Errorf("not the ref typed (%q)", typed)
		}
		return nil
	}},
}

// FuzzReads checks each read on a fresh state: it refuses an input with a
// re-prompt line the catalog has and keeps nothing, or keeps one value
// within the bounds the screens and the wallet rely on.
func FuzzReads(f *testing.F) {
	for _, in := range []string{
		// Phones, as Kenyans type them.
		"0712345678", "+254712345678", "254712345678", "712345678", "+254 712 345 678", "0712-345-678",
		"(0712) 345678", "0712.345.678", "00254712345678", "+1 202 555 0143", "+44 20 7946 0958", "07123", "++254712345678",
		"0712345678x", "+254712345678901234567890123456789",
		// Amounts.
		"500", "1,000", "0.5", "1000.00", "0.001", "1e3", "-5", "+5", "0", "00", "98", "1 000", ".5", "5.",
		"1000000000000000", "10000000000000", "9999999999999.99", "٥٠٠", "５００",
		// Numbers, accounts, refs.
		"123456", "0000000000", "12345678901", "ACC-001", "ACC*12", "  INV 2024/07  ", "A€[]{}~^\\|",
		"QK7M2X9A1B", "qk7m2x9a1b", "OIL0123456", " QK7M2X9A1B ", "QK7M2X9A1U",
		// Names.
		"Zoë", "Wanjiru", "O'Brien", "Jean-Luc", "Ng'ang'a", "St. John", "Ζωή", "张伟", "Ａｍｉｎａ", "Mũthoni",
		"Zoe\u0308", "Kamau  Otieno", "*", "-", "…", "’", "Ἀθηνᾶ",
		// Controls, bad UTF-8, long text.
		"", " ", "\x00", "\xff\xfe", "a\nb", "a\rb", "a\fb", "\x1b", strings.Repeat("9", 40), strings.Repeat("é", 30),
		strings.Repeat("Wanjiru ", 20),
	} {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		e := fuzzEngine(t, noWallet{})
		ids := fuzzCatalog().IDs()
		for _, r := range fuzzReads {
			st := &state{Phone: fuzzPhone, Lang: locales.Default, Kind: kindCustomer, Path: []string{"main"}}
			tr := &turn{e: e, st: st, key: fuzzSession, ctx: context.Background()}
			invalid := r.read(tr, in)
			if invalid != "" {
				if !strings.HasPrefix(invalid, "ussd.invalid.") || !slices.Contains(ids, invalid) {
					t.Fatalf("%s(%q): re-prompt %q is not a ussd.invalid.* message of the catalog", r.name, in, invalid)
				}
				if len(st.Vals) != 0 {
					t.Fatalf("%s(%q) refused the input but kept %v", r.name, in, st.Vals)
				}
				for _, lang := range fuzzCatalog().Languages() {
					st.Lang = lang
					if line := tr.line(invalid); !locales.FitsScreen(line) {
						t.Fatalf("%s(%q): re-prompt %q in %s does not fit a screen", r.name, in, line, lang)
					}
				}
				continue
			}
			v, ok := st.Vals[r.field]
			if !ok || len(st.Vals) != 1 {
				t.Fatalf("%s(%q) accepted the input but kept %v, not one %s", r.name, in, st.Vals, r.field)
			}
			if err := r.check(in, v); err != nil {
				t.Errorf("%s(%q) kept %q: %v", r.name, in, v, err)
			}
		}
	})
}

// stepKey marks the context of FuzzHandle's step n, so that the fake
// wallet can tell the calls a step made from a pending step's retries.
type stepKey struct{}

// fakeWallet answers the menus from fuzzed bytes. The low 7 bits of answer
// pick the outcome of the calls that take a PIN (0 success, else a refusal
// code), its top bit refuses the lookups as well, and bit 6 makes a transfer
// not reversible; size scales the amounts it answers with, 255 the largest. What it answers is within the bounds the
// locales package renders screens for: names of any text (the sessions clip
// them), amounts up to KES 500,000.00, fees up to KES 9,999.00. It records
// every call and every PIN it is given.
type fakeWallet struct {
	answer uint8
	size   uint8
	name   string

	mu       sync.Mutex
	start    *wallet.Profile // Lookup's answer while the session starts
	startErr error
	kind     wallet.AccountKind // Lookup's kind of account afterwards
	calls    map[int]int        // calls by step
	pins     []string           // every PIN passed
	newPINs  []string           // every PIN set
	pending  map[string]string  // new PINs by PendPIN's token
}

var _ Wallet = (*fakeWallet)(nil)

// fuzzCodes are the refusals the fake wallet gives, by answer.
var fuzzCodes = []wallet.Code{
	wallet.CodeInvalid, wallet.CodeInvalidAmount, wallet.CodeInvalidPhone, wallet.CodeNotFound, wallet.CodeExists,
	wallet.CodeInsufficientFunds, wallet.CodeLimitExceeded, wallet.CodePINInvalid, wallet.CodePINLocked,
	wallet.CodePINNotSet, wallet.CodeAccountFrozen, wallet.CodeConflict, wallet.CodeSameAccount,
	wallet.CodeNotReversible, wallet.CodeWrongKind, wallet.CodeUnavailable, wallet.CodeInternal,
	wallet.CodeInvalidState, wallet.CodeInFlight,
}

// answerFor is the answer that refuses the PIN calls with code.
func answerFor(code wallet.Code) uint8 { return uint8(slices.Index(fuzzCodes, code) + 1) }

func (w *fakeWallet) called(ctx context.Context, pin, newPIN string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n, ok := ctx.Value(stepKey{}).(int); ok {
		w.calls[n]++
	}
	if pin != "" {
		w.pins = append(w.pins, pin)
	}
	if newPIN != "" {
		w.newPINs = append(w.newPINs, newPIN)
	}
}

// refusal is the refusal w.answer picks, or nil for success.
func (w *fakeWallet) refusal() error {
	a := w.answer & 0x7f
	if a == 0 {
		return nil
	}
	e := wallet.Errorf(fuzzCodes[int(a-1)%len(fuzzCodes)], "fuzzed refusal")
	switch e.Code {
	case wallet.CodeInsufficientFunds:
		if a&1 == 0 {
			e.Balance = new(bounded(w.size, fuzzAmountMax))
		}
	case wallet.CodePINInvalid:
		if a&1 == 0 {
			e.TriesLeft = new(int(a % 3))
		}
	case wallet.CodeLimitExceeded:
		e.Limit = []wallet.Limit{"", wallet.LimitPerTransaction, wallet.LimitDaily, wallet.LimitBalance}[a%4]
	}
	return e
}

// fuzzAmountMax is the largest amount the fake wallet moves or shows, in
// minor units: KES 500,000.00, the largest balance (locales' doc.go).
const fuzzAmountMax = 50_000_000

// bounded is size's share of limit: 0 for 0, limit for 255.
func bounded(size uint8, limit int64) int64 { return limit * int64(size) / 255 }

func (w *fakeWallet) pinErr() error { return w.refusal() }

func (w *fakeWallet) lookupErr() error {
	if w.answer&0x80 == 0 {
		return nil
	}
	if err := w.refusal(); err != nil {
		return err
	}
	return wallet.Errorf(wallet.CodeNotFound, "fuzzed refusal")
}

func (w *fakeWallet) account() *wallet.Account {
	return &wallet.Account{
		Profile: wallet.Profile{Kind: wallet.KindCustomer, Number: fuzzPhone, Phone: fuzzPhone, Name: w.name,
			Status: wallet.StatusActive, HasPIN: true},
		Balance: bounded(w.size, fuzzAmountMax),
	}
}

func (w *fakeWallet) Lookup(ctx context.Context, numberOrPhone string) (*wallet.Profile, error) {
	w.called(ctx, "", "")
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.start != nil || w.startErr != nil {
		return w.start, w.startErr
	}
	if err := w.lookupErr(); err != nil {
		return nil, err
	}
	return &wallet.Profile{Kind: w.kind, Number: numberOrPhone, Phone: fuzzPhone, Name: w.name,
		Status: wallet.StatusActive, HasPIN: true}, nil
}

func (w *fakeWallet) Quote(ctx context.Context, _ wallet.TransferKind, _ int64) (*wallet.Quote, error) {
	w.called(ctx, "", "")
	if err := w.lookupErr(); err != nil {
		return nil, err
	}
	return &wallet.Quote{Fee: bounded(w.size, 999_900), Commission: bounded(w.size, 999_900)}, nil
}

func (w *fakeWallet) TransferInfo(ctx context.Context, _, ref string) (*wallet.TransferInfo, error) {
	w.called(ctx, "", "")
	if err := w.lookupErr(); err != nil {
		return nil, err
	}
	return &wallet.TransferInfo{Ref: ref, Kind: wallet.TransferSend, Amount: bounded(w.size, fuzzAmountMax),
		Counterparty: "+254722000002", Name: w.name, Reversible: w.answer&0x40 == 0,
		Created: time.Date(2026, 7, 31, 23, 59, 0, 0, time.UTC)}, nil
}

func (w *fakeWallet) Transfer(ctx context.Context, req wallet.TransferRequest) (*wallet.TransferResult, error) {
	w.called(ctx, req.PIN, "")
	if err := w.pinErr(); err != nil {
		return nil, err
	}
	if req.Amount > fuzzAmountMax {
		// As the tier limits do: the largest balance is KES 500,000.00.
		return nil, &wallet.Error{Code: wallet.CodeLimitExceeded, Message: "fuzzed limit", Limit: wallet.LimitPerTransaction}
	}
	return &wallet.TransferResult{
		Transfer: wallet.Transfer{ID: 1, Ref: wallet.Ref(int64(w.answer)<<40 | 0x2468ace), Kind: req.Kind,
			Amount: req.Amount, Fee: bounded(w.size, 999_900), Commission: bounded(w.size, 999_900)},
		Balance: bounded(w.size, fuzzAmountMax),
	}, nil
}

func (w *fakeWallet) Register(ctx context.Context, _ natsapi.RegisterRequest) (*wallet.Account, error) {
	w.called(ctx, "", "")
	if err := w.pinErr(); err != nil {
		return nil, err
	}
	return w.account(), nil
}

func (w *fakeWallet) SetPIN(ctx context.Context, _, pin string) (*wallet.Account, error) {
	w.called(ctx, pin, pin)
	if err := w.pinErr(); err != nil {
		return nil, err
	}
	return w.account(), nil
}

// PendPIN keeps the new PIN under a token, as the wallet does.
func (w *fakeWallet) PendPIN(ctx context.Context, n wallet.NewPIN) (string, error) {
	w.called(ctx, n.PIN, n.PIN)
	if err := w.pinErr(); err != nil {
		return "", err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending == nil {
		w.pending = map[string]string{}
	}
	token := fmt.Sprintf("token%d", len(w.pending))
	w.pending[token] = n.PIN
	return token, nil
}

func (w *fakeWallet) ConfirmPIN(ctx context.Context, _, token, pin string) (*wallet.Account, error) {
	w.called(ctx, pin, "")
	w.mu.Lock()
	chosen, ok := w.pending[token]
	delete(w.pending, token)
	w.mu.Unlock()
	if !ok || chosen != pin {
		return nil, wallet.Errorf(wallet.CodePINMismatch, "fuzzed mismatch")
	}
	if err := w.pinErr(); err != nil {
		return nil, err
	}
	return w.account(), nil
}

func (w *fakeWallet) StartKeyProof(ctx context.Context, _, key string) (string, error) {
	w.called(ctx, key, "")
	if err := w.pinErr(); err != nil {
		return "", err
	}
	return "startkey-proof-" + strconv.Itoa(int(w.answer)), nil
}

func (w *fakeWallet) SetPINWithProof(ctx context.Context, _, _, pin string) (*wallet.Account, error) {
	w.called(ctx, pin, pin)
	if err := w.pinErr(); err != nil {
		return nil, err
	}
	return w.account(), nil
}

func (w *fakeWallet) PINProof(ctx context.Context, _, pin string) (string, error) {
	w.called(ctx, pin, "")
	if err := w.pinErr(); err != nil {
		return "", err
	}
	return "proof-" + strconv.Itoa(int(w.answer)), nil
}

func (w *fakeWallet) ChangePINWithProof(ctx context.Context, _, _, newPIN string) (*wallet.Account, error) {
	w.called(ctx, newPIN, newPIN)
	if err := w.pinErr(); err != nil {
		return nil, err
	}
	return w.account(), nil
}

func (w *fakeWallet) RequestReversal(ctx context.Context, _, ref, pin string) (*wallet.Reversal, error) {
	w.called(ctx, pin, "")
	if err := w.pinErr(); err != nil {
		return nil, err
	}
	state := wallet.ReversalHeld
	if w.answer&0x40 != 0 {
		state = wallet.ReversalReview
	}
	return &wallet.Reversal{ID: 1, OriginalRef: ref, State: state}, nil
}

func (w *fakeWallet) ObjectReversal(ctx context.Context, _, ref, _ string) (*wallet.Reversal, error) {
	w.called(ctx, "", "")
	if err := w.lookupErr(); err != nil {
		return nil, err
	}
	return &wallet.Reversal{ID: 1, OriginalRef: ref, State: wallet.ReversalObjected}, nil
}

func (w *fakeWallet) Balance(ctx context.Context, _, pin string) (*wallet.Account, error) {
	w.called(ctx, pin, "")
	if err := w.pinErr(); err != nil {
		return nil, err
	}
	return w.account(), nil
}

func (w *fakeWallet) Statement(ctx context.Context, q wallet.StatementQuery) (*wallet.Statement, error) {
	w.called(ctx, q.PIN, "")
	if err := w.pinErr(); err != nil {
		return nil, err
	}
	r := &wallet.Statement{Account: *w.account()}
	for i := range min(int(w.size), q.Limit) {
		amount := bounded(w.size, fuzzAmountMax)
		if i%2 == 1 {
			amount = -amount
		}
		r.Lines = append(r.Lines, wallet.StatementLine{Ref: wallet.Ref(int64(i+1) << 45), Kind: wallet.TransferSend,
			Created: time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), Amount: amount})
	}
	return r, nil
}

func (w *fakeWallet) Earnings(ctx context.Context, _, pin string) (*wallet.Earnings, error) {
	w.called(ctx, pin, "")
	if err := w.pinErr(); err != nil {
		return nil, err
	}
	return &wallet.Earnings{Account: *w.account(), Today: bounded(w.size, fuzzAmountMax),
		Month: bounded(w.size, fuzzAmountMax)}, nil
}

func (w *fakeWallet) SetLanguage(ctx context.Context, _, _ string) (*wallet.Account, error) {
	w.called(ctx, "", "")
	if err := w.pinErr(); err != nil {
		return nil, err
	}
	return w.account(), nil
}

// approvalList is what the fake wallet says waits for approval: size
// picks how many (up to two more than a session keeps), of every kind in
// turn, from a merchant with the fuzzed name, for the fuzzed amount, with a
// reference longer than a screen shows.
func (w *fakeWallet) approvalList() []merchant.Approval {
	var out []merchant.Approval
	for i := range int(w.size) % (approvalsListedMax + 3) {
		a := merchant.Approval{ID: fmt.Sprintf("pr_%026d", i), Kind: merchant.ApprovalRequest, Merchant: "123456",
			MerchantName: w.name, Amount: bounded(w.size, fuzzAmountMax), Reference: w.name + "/INV-2026-" + strconv.Itoa(i),
			Expires: time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC)}
		if i%3 > 0 {
			a.ID, a.Kind, a.Prepaid = fmt.Sprintf("tab_%026d", i), merchant.ApprovalTab, i%3 == 2
		}
		out = append(out, a)
	}
	return out
}

func (w *fakeWallet) Approvals(ctx context.Context, _ string) ([]merchant.Approval, error) {
	w.called(ctx, "", "")
	if err := w.lookupErr(); err != nil {
		return nil, err
	}
	return w.approvalList(), nil
}

func (w *fakeWallet) Approve(ctx context.Context, _, id, pin string) (*merchant.ApproveResult, error) {
	w.called(ctx, pin, "")
	if err := w.pinErr(); err != nil {
		return nil, err
	}
	for _, a := range w.approvalList() {
		if a.ID != id {
			continue
		}
		r := &merchant.ApproveResult{Approval: a}
		if a.Kind == merchant.ApprovalTab {
			r.Tab = &merchant.Tab{ID: a.ID, MerchantName: a.MerchantName, Prepaid: a.Prepaid, Status: merchant.TabActive}
		}
		if a.Kind == merchant.ApprovalRequest || a.Prepaid {
			r.Transfer = &wallet.TransferResult{Transfer: wallet.Transfer{ID: 1, Ref: wallet.Ref(int64(w.answer)<<40 | 0x2468ace),
				Kind: wallet.TransferTill, Amount: a.Amount}, Balance: bounded(w.size, fuzzAmountMax)}
		}
		return r, nil
	}
	return nil, wallet.Errorf(wallet.CodeNotFound, "no approval %s", id)
}

func (w *fakeWallet) Decline(ctx context.Context, _, id, pin string) (*merchant.Approval, error) {
	w.called(ctx, pin, "")
	if err := w.pinErr(); err != nil {
		return nil, err
	}
	for _, a := range w.approvalList() {
		if a.ID == id {
			return &a, nil
		}
	}
	return nil, wallet.Errorf(wallet.CodeNotFound, "no approval %s", id)
}

// startProfiles are who dials, by FuzzHandle's who: the wallet's answer to
// the session's first lookup.
var startProfiles = []struct {
	p   *wallet.Profile
	err error
}{
	{nil, wallet.Errorf(wallet.CodeNotFound, "no account")},
	{&wallet.Profile{Kind: wallet.KindCustomer, Status: wallet.StatusActive, HasPIN: true}, nil},
	{&wallet.Profile{Kind: wallet.KindAgent, Status: wallet.StatusActive, HasPIN: true}, nil},
	{&wallet.Profile{Kind: wallet.KindAgent, Status: wallet.StatusActive}, nil},
	{&wallet.Profile{Kind: wallet.KindCustomer, Status: wallet.StatusFrozen, HasPIN: true}, nil},
	{&wallet.Profile{Kind: wallet.KindCustomer, Status: wallet.StatusPINLocked, HasPIN: true}, nil},
	{&wallet.Profile{Kind: wallet.KindPaybill, Status: wallet.StatusActive, HasPIN: true}, nil},
	{&wallet.Profile{Kind: wallet.KindTill, Status: wallet.StatusActive}, nil},
	{nil, wallet.Errorf(wallet.CodeUnavailable, "timeout")},
}

// lookupKinds is the kind of account the wallet answers a confirmation's
// lookup with, by the confirmation: the one the flow looks for.
var lookupKinds = map[string]wallet.AccountKind{
	"send.confirm": wallet.KindCustomer, "dep.confirm": wallet.KindCustomer, "wd.confirm": wallet.KindAgent,
	"till.confirm": wallet.KindTill, "bill.confirm": wallet.KindPaybill,
}

// actEdges are the moves the acts make by entering a node; the other moves
// are in the nodes' choices and next.
var actEdges = map[string][]string{
	"reg.pin": {"reg.confirm"}, "setup.pin": {"setup.confirm"}, "chg.old": {"chg.new"}, "chg.new": {"chg.confirm"},
	"air": {"air.amount", "air.phone"}, "appr": {"appr.item"}, "appr.item": {"appr.pin", "appr.decline"},
}

// isEdge reports whether a session may move from node a to node b.
func isEdge(a, b string) bool {
	n := nodes[a]
	if n.read != nil && n.next == b || slices.Contains(actEdges[a], b) {
		return true
	}
	for _, next := range n.choices {
		if next == b {
			return true
		}
	}
	return false
}

// mayCallWallet reports whether handling in may reach the wallet:
// navigation, a menu choice and a read do only through the next node's
// enter hook; an act decides for itself.
func mayCallWallet(t *turn, in string) bool {
	st := t.st
	n := nodes[st.node()]
	switch {
	case in == navHome && len(st.Path) > 1, in == navBack && n.nav && len(st.Path) > 1,
		in == navMore && st.Page+1 < t.pages():
		return false
	case n.choices != nil:
		next, ok := n.choices[in]
		return ok && next != cancel && nodes[next].enter != nil
	case n.read != nil:
		return nodes[n.next].enter != nil
	}
	return true
}

// checkState fails t unless st is a state Engine.Hop may save and answer
// from.
func checkState(t *testing.T, e *Engine, st *state, after string) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("after %s, at %v (ended %v): %s", after, st.Path, st.Ended, fmt.Sprintf(format, args...))
	}
	s := st.Screen
	switch {
	case s.Text == "":
		fail("an empty screen")
	case !locales.FitsScreen(s.Text):
		fail("screen %q does not fit one USSD screen", s.Text)
	case !locales.IsGSM7(s.Text):
		fail("screen %q is not GSM-7", s.Text)
	case len(st.Path) == 0:
		fail("an empty path (load refuses such a state)")
	}
	for _, name := range st.Path {
		if nodes[name] == nil {
			fail("node %q does not exist", name)
		}
	}
	if data, err := marshal(st); err != nil || len(data) > stateBytesMax {
		fail("state of %d bytes (at most %d): %v", len(data), stateBytesMax, err)
	}
	if st.Ended {
		if !s.End || st.Vals != nil || st.Pending != "" || st.Proof != "" {
			fail("an ended session with End %v, values %v, pending %q, proof %q", s.End, st.Vals, st.Pending, st.Proof)
		}
		return
	}
	if s.End {
		fail("screen %q ends a session that goes on", s.Text)
	}
	if root := roots[st.Kind]; st.Path[0] != root {
		fail("the path of a %s starts at %q, not %q", st.Kind, st.Path[0], root)
	}
	for i := 1; i < len(st.Path); i++ {
		if !isEdge(st.Path[i-1], st.Path[i]) {
			fail("no move from %q to %q", st.Path[i-1], st.Path[i])
		}
	}
	if pages := (&turn{e: e, st: st}).pages(); st.Page < 0 || st.Page >= pages {
		fail("page %d of %d", st.Page, pages)
	}
}

// FuzzHandle starts a session for any kind of caller (who, see
// startProfiles) in any language and applies a run of inputs to it ('#'
// between them, as no keypad sends one inside an input), the wallet
// answering as answer and size say. After every hop the state must be one
// the engine can save and answer from, with a screen that fits; the wallet
// must have been reached only by the steps that may, and only with a
// well-formed PIN; and 98 must turn the page of a screen that offers it.
func FuzzHandle(f *testing.F) {
	type seed struct {
		who, lang, answer, size uint8
		name, script            string
	}
	const (
		customer = 1
		agent    = 2
		setup    = 3
	)
	for _, s := range []seed{
		{customer, 0, 0, 0, "Wanjiru Kamau", "1#0712345678#500#1#2580"},
		{customer, 2, 0, 255, "Zoë Achieng'", "1#+254 712 345 678#1,000#1000#2#"},
		{customer, 0, answerFor(wallet.CodePINInvalid) &^ 1, 0, "Otieno", "1#254712345678#0.5#1#2580#2580"},
		{customer, 1, answerFor(wallet.CodeInsufficientFunds), 255, "Otieno", "1#0712345678#99999999999.99#1#2580"},
		{customer, 3, 0x80 | answerFor(wallet.CodeNotFound), 0, "", "1#0712345678#500#0#00#2"},
		{customer, 0, 0, 255, strings.Repeat("Wanjiku wa Kamau ", 4), "2#123456#1000000000000000#500000#1#2580"},
		{customer, 0, answerFor(wallet.CodeUnavailable), 0, "Mama Mboga", "3#1#50#2580"},
		{customer, 0, 0, 255, "", "3#2#0712-345-678#100#2580"},
		{customer, 2, answerFor(wallet.CodeLimitExceeded), 0, "Naivas Supermarket Westlands Branch", "4#1#555555#1000#1#2580"},
		{customer, 0, 0, 255, "Kenya Power and Lighting Co", "4#2#888880#ACC*12#2500#1#2580"},
		{customer, 1, 0, 255, "KPLC", "4#2#888880#ACC-2024/07/000123#500000#1#2580"},
		{customer, 0, 5, 0, "", "5#1#2580"},
		{customer, 0, 0, 255, "", "5#2#2580"},
		{customer, 0, 0, 0, "", "5#3#2580#1357#1357"},
		{customer, 0, 0, 0, "", "5#3#2580#1234#0#1357#2468"},
		{customer, 0, 0, 0, "", "5#4#2"},
		{customer, 0, 0x40, 255, "Juma", "5#5#qk7m2x9a1b#1#2580"},
		{customer, 0, 0, 0, "Juma", "5#5#QK7M2X9A1B#0#0#0#00#98#98"},
		{customer, 3, 0, 0, "", "9#abc#*#98#00#0"},
		{0, 0, 0, 0, "", "1#Zoë#Wanjiru Kamau#1357#1357"},
		{0, 1, answerFor(wallet.CodeExists), 0, "", "1#Ng'ang'a#O'Brien-Otieno#1234#1357#2468#1357#1357"},
		{0, 0, 0, 0, "", "2#3#1#张伟#Ζωή#Ａｍｉｎａ#A#1357#1357"},
		{0, 0, 0, 0, "", "1#" + strings.Repeat("A", 15) + "#" + strings.Repeat("é", 14) + "#B#1357#1357"},
		{agent, 0, 0, 255, "Duka la Mama", "1#0712345678#500#1#2580"},
		{agent, 1, 0, 255, "", "2#2580"},
		{agent, 2, 7, 0, "", "3#2580"},
		{agent, 0, 0, 255, "", "4#2580"},
		{agent, 0, 0, 0, "", "5#2580#1357#1357"},
		{setup, 0, 0, 0, "Agent Wambui", "1357#1357"},
		{setup, 2, 0, 0, "Agent Wambui", "1111#1357#0#2468#2468"},
		{4, 0, 0, 0, "", "1"},
		{5, 1, 0, 0, "", "1"},
		{6, 0, 0, 0, "Paybill", "1"},
		{7, 0, 0, 0, "Till", "1"},
		{8, 2, 0, 0, "", "1"},
		{customer, 0, 0, 0, "", strings.Repeat("98#", 20)},
		{customer, 3, 0, 0, strings.Repeat("Wanjiku wa Kamau ", 3), "2#123456#99999999999.99#9#98#98#1#2580"},
		{customer, 2, answerFor(wallet.CodePINInvalid) &^ 1, 0, strings.Repeat("Kenya Power ", 4), "4#2#888880#A€[]{}~^|#99999999999.99#1#1234#98"},
		{customer, 0, 0, 0, "", strings.Repeat("9", 300)},
		{customer, 0, 0, 0, "", "6"},                      // nothing waits
		{customer, 0, 0, 1, "Duka La Juma", "6#1#1#2580"}, // a payment request approved
		{customer, 1, 0, 2, "Duka La Juma", "6#2#1#2580"}, // a postpaid tab approved
		{customer, 2, 0, 3, "Duka La Juma", "6#3#1#2580"}, // a prepaid tab approved
		{customer, 0, 0, 4, "Duka La Juma", "6#4#2"},      // declined
		{customer, 0, answerFor(wallet.CodePINInvalid) &^ 1, 2, "Duka", "6#1#1#1234#2580#0#0#2"},
		{customer, 3, answerFor(wallet.CodeInvalidState), 1, "Duka", "6#1#1#2580"}, // expired meanwhile
		{customer, 2, answerFor(wallet.CodeInsufficientFunds), 1, "Duka", "6#1#1#2580"},
		{customer, 0, answerFor(wallet.CodeUnavailable), 1, "Duka", "6#1#1#2580"},
		{customer, 0, 0x80 | answerFor(wallet.CodeUnavailable), 1, "Duka", "6"},
		{customer, 1, 0, 255, "Naivas Supermarket Westlands Branch &<>€", "6#98#98#98#98#0#00#6#10#9#8#2"},
		{customer, 2, 0, 10, strings.Repeat("Ζωή & Agnès ", 5), "6#98#98#7#0#12#1#12345#2580"},
	} {
		f.Add(s.who, s.lang, s.answer, s.size, s.name, s.script)
	}
	f.Fuzz(func(t *testing.T, who, lang, answer, size uint8, name, script string) {
		w := &fakeWallet{answer: answer, size: size, name: name, calls: map[int]int{}}
		e := fuzzEngine(t, w)
		start := startProfiles[int(who)%len(startProfiles)]
		w.start, w.startErr = start.p, start.err
		if w.start != nil {
			p := *w.start
			p.Number, p.Phone, p.Name = fuzzPhone, fuzzPhone, name
			if l := int(lang) % 4; l > 0 {
				p.Language = fuzzCatalog().Languages()[l-1]
			}
			w.start = &p
		}
		ctx := context.Background()
		st := e.start(ctx, fuzzSession, fuzzPhone, Hop{New: true})
		w.start, w.startErr = nil, nil
		checkState(t, e, st, "the start")

		inputs := strings.Split(script, "#")
		var history []string
		for i, in := range inputs[:min(len(inputs), fuzzInputsMax)] {
			if st.Ended {
				break
			}
			hop := i + 1
			at, page := st.node(), st.Page
			before := &turn{e: e, st: st}
			mayCall := mayCallWallet(before, in)
			offersMore := slices.Contains(strings.Split(st.Screen.Text, "\n"), before.text("ussd.nav.more", nil))
			w.mu.Lock()
			w.kind = lookupKinds[nodes[at].next]
			if next, ok := nodes[at].choices[in]; ok {
				w.kind = lookupKinds[next]
			}
			w.mu.Unlock()
			history = append(history, in)
			text := strings.Join(history, "*")
			heard := e.input(st, Hop{History: text, Input: in})
			if heard.repeat || heard.mismatch || heard.input != in {
				t.Fatalf("input %d %q: the history %q on %v gives %+v", hop, in, text, st.Hist, heard)
			}
			st = e.step(context.WithValue(ctx, stepKey{}, hop), fuzzSession, st, heard, Hop{History: text, Input: in})
			what := fmt.Sprintf("input %d %q at %s (page %d)", hop, in, at, page)
			checkState(t, e, st, what)
			if _, isMasked := entryParts(st.Hist[len(st.Hist)-1]); nodes[at].act != nil && !isMasked && in != navBack && in != navHome && in != navMore {
				// Every PIN is an act node's input: none is kept (a
				// navigation input is taken as such, never as a PIN).
				t.Fatalf("%s: the history keeps an act node's input as typed: %q", what, st.Hist)
			}
			w.mu.Lock()
			calls := w.calls[hop]
			w.mu.Unlock()
			if calls > 0 && !mayCall {
				t.Fatalf("%s called the wallet %d times", what, calls)
			}
			if in == navMore && offersMore && (st.Ended || st.Page != page+1) {
				t.Fatalf("%s: the screen offered %s but the input turned to page %d (ended %v): %q",
					what, navMore, st.Page, st.Ended, st.Screen.Text)
			}
			if st.Hops != hop {
				t.Fatalf("%s: hops %d, want %d", what, st.Hops, hop)
			}
		}

		w.mu.Lock()
		defer w.mu.Unlock()
		for _, pin := range w.pins {
			if !(&turn{e: e}).pinOK(pin) {
				t.Fatalf("PIN %q reached the wallet: a typo would cost a try", pin)
			}
		}
		for _, pin := range w.newPINs {
			if err := wallet.CheckPIN(pin, e.cfg.PINLength); err != nil {
				t.Fatalf("new PIN %q reached the wallet: %v", pin, err)
			}
		}

	})
}
