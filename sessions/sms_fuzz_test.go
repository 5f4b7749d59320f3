package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

// smsFuzzKinds is the kind of account the fake wallet answers lookups with,
// by FuzzSMS's size: the sender's and the recipient's alike.
var smsFuzzKinds = []wallet.AccountKind{wallet.KindCustomer, wallet.KindTill, wallet.KindPaybill, wallet.KindAgent}

var smsFuzzN atomic.Int64

// FuzzSMS runs a command and a reply (a PIN, NO, another command) through
// the engine, on a real bucket and a wallet answering from fuzzed bytes,
// and checks what every message must get: an SMS-sized GSM-7 reply in a
// supported language, the same reply again for a repeated message id with
// no wallet call, a wallet PIN call only for a message that is a PIN, and
// no body kept. Each run is a new phone, so runs share nothing.
func FuzzSMS(f *testing.F) {
	type seed struct {
		body, then   string
		answer, size uint8
	}
	for _, s := range []seed{
		{"SEND 0712345678 500", "2580", 0, 0},
		{"tuma 0712 345 678 1000", "2580", 0, 255},
		{"PAY 123456 50", "2580", 0, 1},
		{"LIPA 123456 50", "9999", answerFor(wallet.CodePINInvalid), 1},
		{"bill 888880 ACC 12 500", "2580", 0, 2},
		{"AIRTIME 50", "2580", answerFor(wallet.CodeUnavailable), 0},
		{"CREDIT 0722000111 20", "NON", 0, 0},
		{"BAL", "2580", 0, 3},
		{"MINI", "2580", 0, 255},
		{"SOLDE", "2580", answerFor(wallet.CodePINLocked), 0},
		{"LANG sw", "MSAADA", 0, 0},
		{"SEND 0712345678 250001", "2580", answerFor(wallet.CodeLimitExceeded), 0},
		{"SEND 0712345678 500", "2580", 0x80 | answerFor(wallet.CodeNotFound), 0},
		{"STOP", "START", 0, 0},
		{"2580", "NO", 0, 0},
		{"hello", "", 0, 0},
		{"SEND 0712345678 500", "25", 0, 0},
		{"BAL", "HELP", answerFor(wallet.CodeInsufficientFunds), 255},
		{"2580", "APPROVALS", 0, 1}, // a PIN approves the newest approval; the keyword lists them
		{"NO", "idhini", 0, 2},      // NO alone asks for the PIN that declines the newest
		{"NO 2580", "idhini", 0, 2}, // NO and the PIN decline the newest
		{"hapana 9999", "NON 2580", answerFor(wallet.CodePINInvalid), 1},
		{"Approbations", "2580", 0, 255}, // the longest list, then a PIN
		{"2580", "2580", answerFor(wallet.CodePINInvalid) &^ 1, 3},
		{"25801", "HAPANA", 0, 4}, // a PIN of the wrong length
		{"2580", "NON", answerFor(wallet.CodeInvalidState), 1},
		{"APPROVALS", "2580", answerFor(wallet.CodeUnavailable), 2},
		{"PAY 123456 50", "NO", 0, 3}, // a conversation comes first
	} {
		f.Add(s.body, s.then, s.answer, s.size)
	}
	ctx := context.Background()
	js, prefix := testBucket(f)
	kv, err := EnsureBucket(ctx, js, prefix, time.Minute, 1)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body, then string, answer, size uint8) {
		w := &fakeWallet{answer: answer, size: size, name: "Wanjiru Kamau", kind: smsFuzzKinds[int(size)%len(smsFuzzKinds)],
			calls: make(map[int]int)}
		e, err := New(Config{
			Wallet: w, Bucket: kv, Locales: fuzzCatalog(), Currency: fuzzKES(), Key: fuzzKey,
			WalletTimeout: time.Second, SMSRateMessages: smsRateMessagesMax,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if err := e.Close(ctx); err != nil {
				t.Errorf("close: %v", err)
			}
		}()
		phone := wallettest.NewPhone()
		run := strconv.FormatInt(smsFuzzN.Add(1), 10)
		send := func(step int, id, body string) SMSReply {
			t.Helper()
			r, err := e.SMS(context.WithValue(ctx, stepKey{}, step), SMS{Provider: "fuzz", ID: run + id, From: phone, Body: body})
			smsFuzzCheck(t, e, body, r, err)
			return r
		}
		pinCalls := func() int {
			w.mu.Lock()
			defer w.mu.Unlock()
			return len(w.pins)
		}
		send(1, "a", body)
		if parseSMS(body).PIN == "" && pinCalls() != 0 {
			t.Fatalf("%q, without a PIN, reached the wallet with a PIN", body)
		}
		before := pinCalls()
		r := send(2, "b", then)
		if parseSMS(then).PIN == "" && pinCalls() != before {
			t.Fatalf("%q, without a PIN, reached the wallet with a PIN", then)
		}
		if again := send(3, "b", then); !reflect.DeepEqual(again, r) {
			t.Fatalf("%q repeated: %+v, first %+v", then, again, r)
		}
		w.mu.Lock()
		repeatCalls := w.calls[3]
		w.mu.Unlock()
		if repeatCalls != 0 {
			t.Fatalf("%q repeated made %d wallet calls", then, repeatCalls)
		}
		if len(then) > smsBodyCharsMax {
			return
		}
		entry, err := kv.Get(ctx, messageKey("fuzz", run+"b"))
		if err != nil {
			t.Fatal(err)
		}
		var m smsMessage
		if err := json.Unmarshal(entry.Value(), &m); err != nil {
			t.Fatal(err)
		}
		if want := parseSMS(then).redacted(); m.Command != want || !m.Done || m.Reply != r.Text {
			t.Fatalf("%q recorded as %+v, want %q and the reply %q", then, m, want, r.Text)
		}
	})
}

// smsFuzzCheck checks one reply of FuzzSMS.
func smsFuzzCheck(t *testing.T, e *Engine, body string, r SMSReply, err error) {
	t.Helper()
	if err != nil {
		if errors.Is(err, ErrBadSMS) && len(body) > smsBodyCharsMax {
			return
		}
		t.Fatalf("%q: %v", body, err)
	}
	if r.Text == "" {
		return
	}
	if !slices.Contains(e.cfg.Locales.Languages(), r.Language) {
		t.Fatalf("%q: reply in %q", body, r.Language)
	}
	if _, parts := locales.Segments(r.Text); !locales.IsGSM7(r.Text) || parts > 2 {
		t.Fatalf("%q: reply %q is not GSM-7 within 2 parts", body, r.Text)
	}
}
