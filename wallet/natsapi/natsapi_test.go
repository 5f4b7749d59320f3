package natsapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsapi/natstest"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/wallettest"
)

var pepper = []byte("0123456789abcdef0123456789abcdef")

type env struct {
	t      testing.TB
	ctx    context.Context
	nc     *nats.Conn
	c      *natsapi.Client
	st     *store.Store
	w      *wallet.Service
	js     jetstream.JetStream
	prefix string
	ns     *natstest.Server
}

// start runs a wallet, its NATS service and its relay, as kibubu serve
// does, logging to the test log.
func start(t testing.TB) *env {
	t.Helper()
	w := wallettest.Start(t, func(c *wallet.Config) { c.Pepper, c.Logger = pepper, testLogger(t) })
	return &env{t: t, ctx: context.Background(), nc: w.Conn, c: w.Client, st: w.Store, w: w.Service, js: w.JS, prefix: w.Prefix, ns: w.NATS}
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

var phoneN atomic.Int64

func newPhone() string { return fmt.Sprintf("+2547%08d", 20000000+phoneN.Add(1)) }

func (e *env) customer() string {
	p := newPhone()
	a, err := e.c.Register(e.ctx, natsapi.RegisterRequest{Phone: p, Name: "Customer " + p[9:], Tier: wallet.TierFull})
	e.must(err)
	_, err = e.c.SetPINWithStartKey(e.ctx, p, a.StartKey, "2580")
	e.must(err)
	return p
}

func (e *env) agent(float int64) (phone, number string) {
	phone = newPhone()
	a, err := e.c.AddAgent(e.ctx, phone, "Agent")
	e.must(err)
	_, err = e.c.SetPINWithStartKey(e.ctx, phone, a.StartKey, "1357")
	e.must(err)
	_, err = e.c.IssueFloat(e.ctx, a.Number, float, "BANK-"+a.Number)
	e.must(err)
	return phone, a.Number
}

func TestAPI(t *testing.T) {
	e := start(t)
	alice, bob := e.customer(), e.customer()
	agentPhone, agentNo := e.agent(1_000_000)
	till, err := e.c.AddMerchant(e.ctx, newPhone(), "Duka", false)
	e.must(err)
	_, err = e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "dep-1", Kind: wallet.TransferDeposit, From: agentPhone, To: alice, Amount: 50_000, PIN: "1357"})
	e.must(err)

	calls := []struct {
		name string
		call func() (any, error)
		code wallet.Code
		want func(any) string // "" when the reply is right
	}{
		{"send", func() (any, error) {
			return e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "s-1", Kind: wallet.TransferSend, From: alice, To: bob, Amount: 10_000, PIN: "2580"})
		}, "", func(v any) string {
			r := v.(*wallet.TransferResult)
			if r.Balance != 50_000-10_000 || len(r.Transfer.Ref) != 10 {
				return fmt.Sprintf("balance %d ref %q", r.Balance, r.Transfer.Ref)
			}
			return ""
		}},
		{"send replayed", func() (any, error) {
			return e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "s-1", Kind: wallet.TransferSend, From: alice, To: bob, Amount: 10_000, PIN: "2580"})
		}, "", func(v any) string {
			if !v.(*wallet.TransferResult).Replayed {
				return "not marked replayed"
			}
			return ""
		}},
		{"send conflict", func() (any, error) {
			return e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "s-1", Kind: wallet.TransferSend, From: alice, To: bob, Amount: 10_001, PIN: "2580"})
		}, wallet.CodeConflict, nil},
		{"wrong PIN carries tries left", func() (any, error) {
			return e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "s-2", Kind: wallet.TransferSend, From: alice, To: bob, Amount: 100, PIN: "0000"})
		}, wallet.CodePINInvalid, func(v any) string { return "" }},
		{"insufficient funds carries the balance", func() (any, error) {
			return e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "s-3", Kind: wallet.TransferSend, From: alice, To: bob, Amount: 1_000_000, PIN: "2580"})
		}, wallet.CodeInsufficientFunds, nil},
		{"float refused on the customer subject", func() (any, error) {
			return e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "f-1", Kind: wallet.TransferFloat, To: agentNo, Amount: 100, Reference: "X"})
		}, wallet.CodeInvalid, nil},
		{"float issue is idempotent by reference", func() (any, error) { return e.c.IssueFloat(e.ctx, agentNo, 1_000_000, "BANK-"+agentNo) }, "", func(v any) string {
			if !v.(*wallet.TransferResult).Replayed {
				return "second float issue with the same reference was not a replay"
			}
			return ""
		}},
		{"withdraw", func() (any, error) {
			return e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "w-1", Kind: wallet.TransferWithdraw, From: bob, To: agentNo, Amount: 5_000, PIN: "2580"})
		}, "", nil},
		{"buy goods", func() (any, error) {
			return e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "t-1", Kind: wallet.TransferTill, From: alice, To: till.Number, Amount: 1_000, PIN: "2580"})
		}, "", nil},
		{"quote", func() (any, error) { return e.c.Quote(e.ctx, wallet.TransferSend, 100_000) }, "", func(v any) string {
			fee, _, _ := e.w.Quote(wallet.TransferSend, 100_000)
			if v.(*natsapi.QuoteReply).Fee != fee {
				return "wrong fee"
			}
			return ""
		}},
		{"lookup shows the name, not the balance", func() (any, error) { return e.c.Lookup(e.ctx, "0"+bob[4:]) }, "", func(v any) string {
			if p := v.(*wallet.Profile); p.Number != bob || p.Name == "" {
				return fmt.Sprintf("profile %+v", p)
			}
			return ""
		}},
		{"lookup unknown", func() (any, error) { return e.c.Lookup(e.ctx, "+254799000000") }, wallet.CodeNotFound, nil},
		{"balance", func() (any, error) { return e.c.Balance(e.ctx, alice, "2580") }, "", func(v any) string {
			if b := v.(*wallet.Account).Balance; b != 50_000-10_000-1_000 {
				return fmt.Sprintf("balance %d", b)
			}
			return ""
		}},
		{"statement", func() (any, error) {
			return e.c.Statement(e.ctx, wallet.StatementQuery{Phone: alice, PIN: "2580", Limit: 5})
		}, "", func(v any) string {
			if n := len(v.(*natsapi.StatementReply).Lines); n != 3 {
				return fmt.Sprintf("%d lines, want 3", n)
			}
			return ""
		}},
		{"language", func() (any, error) { return e.c.SetLanguage(e.ctx, alice, "sw") }, "", nil},
		{"freeze", func() (any, error) { return e.c.SetStatus(e.ctx, bob, wallet.StatusFrozen) }, "", nil},
		{"frozen cannot send", func() (any, error) {
			return e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "s-4", Kind: wallet.TransferSend, From: bob, To: alice, Amount: 100, PIN: "2580"})
		}, wallet.CodeAccountFrozen, nil},
		{"show", func() (any, error) { return e.c.Show(e.ctx, agentNo) }, "", nil},
		{"tariff", func() (any, error) { return e.c.Tariff(e.ctx) }, "", func(v any) string {
			if r := v.(*natsapi.TariffReply); r.Currency.Code != "KES" || len(r.Tariff.Send) == 0 || r.Limits[wallet.TierFull].PerTransaction == 0 || r.PINLength != 4 {
				return fmt.Sprintf("%+v", r)
			}
			return ""
		}},
		{"check", func() (any, error) { return e.c.Check(e.ctx) }, "", func(v any) string {
			if r := v.(*wallet.CheckReport); !r.OK() || r.Transfers < 5 {
				return fmt.Sprintf("%+v", r)
			}
			return ""
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			v, err := c.call()
			we := checkError(t, err, c.code)
			if c.code == wallet.CodeInsufficientFunds && (we.Balance == nil || *we.Balance != 40_000) {
				t.Fatalf("balance %v, want 40000", we.Balance)
			}
			if err == nil && c.want != nil {
				if msg := c.want(v); msg != "" {
					t.Fatal(msg)
				}
			}
		})
	}
}

// checkError fails the test unless err has the code want ("" for none) and,
// when it is an error, is a *wallet.Error with a message; a pin_invalid
// must say 2 tries are left. It returns the *wallet.Error, nil for none.
func checkError(t *testing.T, err error, want wallet.Code) *wallet.Error {
	t.Helper()
	if got := wallet.ErrorCode(err); got != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	var we *wallet.Error
	if err != nil && (!errors.As(err, &we) || we.Message == "") {
		t.Fatalf("got error %v, want a *wallet.Error with a message", err)
	}
	if want == wallet.CodePINInvalid && (we.TriesLeft == nil || *we.TriesLeft != 2) {
		t.Fatalf("got tries left %v, want 2", we.TriesLeft)
	}
	return we
}

// TestScreenQueries covers what the menus ask besides money commands: a
// transfer for the screen that confirms a reversal (no PIN, the sender
// only), an agent's commission (after a PIN) and the PIN length, through the
// client and as raw JSON on the wire.
func TestScreenQueries(t *testing.T) {
	e := start(t)
	alice, bob := e.customer(), e.customer()
	agentPhone, agentNo := e.agent(1_000_000)
	dep, err := e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "dep", Kind: wallet.TransferDeposit, From: agentPhone, To: alice, Amount: 50_000, PIN: "1357"})
	e.must(err)
	sent, err := e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "send", Kind: wallet.TransferSend, From: alice, To: bob, Amount: 10_000, PIN: "2580"})
	e.must(err)
	_, com, err := e.w.Quote(wallet.TransferDeposit, 50_000)
	e.must(err)

	calls := []struct {
		name string
		call func() (any, error)
		code wallet.Code
		want any // the reply, where it is checked whole
	}{
		{"the sender sees a transfer", func() (any, error) { return e.c.TransferInfo(e.ctx, alice, sent.Transfer.Ref) }, "",
			&wallet.TransferInfo{Ref: sent.Transfer.Ref, Kind: wallet.TransferSend, Amount: 10_000, Fee: sent.Transfer.Fee,
				Counterparty: bob, Name: "Customer " + bob[9:], Created: sent.Transfer.Created, Reversible: true}},
		{"an agent sees its deposit", func() (any, error) { return e.c.TransferInfo(e.ctx, agentPhone, dep.Transfer.Ref) }, "",
			&wallet.TransferInfo{Ref: dep.Transfer.Ref, Kind: wallet.TransferDeposit, Amount: 50_000,
				Counterparty: alice, Name: "Customer " + alice[9:], Created: dep.Transfer.Created, Reversible: true}},
		{"the recipient does not", func() (any, error) { return e.c.TransferInfo(e.ctx, bob, sent.Transfer.Ref) }, wallet.CodeNotFound, nil},
		{"a garbage ref", func() (any, error) { return e.c.TransferInfo(e.ctx, alice, "garbage") }, wallet.CodeNotFound, nil},
		{"an agent's earnings", func() (any, error) { return e.c.Earnings(e.ctx, agentPhone, "1357") }, "", com},
		{"a customer's earnings", func() (any, error) { return e.c.Earnings(e.ctx, alice, "2580") }, "", int64(0)},
		{"earnings with a wrong PIN", func() (any, error) { return e.c.Earnings(e.ctx, agentPhone, "0000") }, wallet.CodePINInvalid, nil},
		{"the PIN length", func() (any, error) { return e.c.Tariff(e.ctx) }, "", 4},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			v, err := c.call()
			checkError(t, err, c.code)
			if err != nil {
				return
			}
			switch r := v.(type) {
			case *wallet.TransferInfo:
				want := *c.want.(*wallet.TransferInfo)
				if r.Created.Sub(want.Created).Abs() > time.Microsecond { // PostgreSQL keeps microseconds
					t.Errorf("got created %v, want %v", r.Created, want.Created)
				}
				want.Created = r.Created
				if *r != want {
					t.Errorf("got %+v, want %+v", *r, want)
				}
			case *wallet.Earnings:
				if want := c.want.(int64); r.Today != want || r.Month != want || r.Account.Phone == "" {
					t.Errorf("got %+v, want %d today and this month", r, want)
				}
				if r.Account.Kind == wallet.KindAgent && r.Account.Number != agentNo {
					t.Errorf("got account %s, want %s", r.Account.Number, agentNo)
				}
			case *natsapi.TariffReply:
				if r.PINLength != c.want.(int) {
					t.Errorf("got PIN length %d, want %d", r.PINLength, c.want)
				}
			}
		})
	}

	// The JSON names are the wire contract the README documents.
	for _, tt := range []struct {
		subject, body string
		want          []string
	}{
		{natsapi.SubjectTransferShow, `{"phone":"` + alice + `","ref":"` + sent.Transfer.Ref + `"}`,
			[]string{`"ref":"` + sent.Transfer.Ref + `"`, `"kind":"send"`, `"amount":10000`, `"fee":`, `"counterparty":"` + bob + `"`, `"name":"`, `"created":"`, `"reversible":true`}},
		{natsapi.SubjectEarnings, `{"phone":"` + agentPhone + `","pin":"1357"}`,
			[]string{`"account":{`, `"number":"` + agentNo + `"`, fmt.Sprintf(`"today":%d`, com), fmt.Sprintf(`"month":%d`, com)}},
		{natsapi.SubjectTariff, `{}`, []string{`"pin_length":4`}},
	} {
		t.Run("wire "+tt.subject, func(t *testing.T) {
			msg, err := e.nc.Request(e.prefix+"."+tt.subject, []byte(tt.body), 5*time.Second)
			e.must(err)
			if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
				t.Fatalf("got error %s %s, want a reply", code, msg.Data)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(msg.Data), w) {
					t.Errorf("got %s, want it to contain %s", msg.Data, w)
				}
			}
		})
	}
}

// TestMalformedRequests sends raw payloads: each gets a coded error reply.
func TestMalformedRequests(t *testing.T) {
	e := start(t)
	for _, tt := range []struct {
		name    string
		subject string
		body    []byte
		code    wallet.Code
	}{
		{"not JSON", natsapi.SubjectTransfer, []byte("send 500 to bob"), wallet.CodeInvalid},
		{"wrong types", natsapi.SubjectTransfer, []byte(`{"key":"x","kind":"send","amount":"500"}`), wallet.CodeInvalid},
		{"oversized", natsapi.SubjectBalance, []byte(`{"phone":"` + strings.Repeat("7", 9000) + `"}`), wallet.CodeInvalid},
		{"empty", natsapi.SubjectRegister, nil, wallet.CodeInvalid},
		{"missing fields", natsapi.SubjectRegister, []byte(`{}`), wallet.CodeInvalidPhone},
		{"amount as float", natsapi.SubjectQuote, []byte(`{"kind":"send","amount":12.5}`), wallet.CodeInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := e.nc.Request(e.prefix+"."+tt.subject, tt.body, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if got := msg.Header.Get(micro.ErrorCodeHeader); got != string(tt.code) {
				t.Fatalf("code %q (%s), want %q", got, msg.Header.Get(micro.ErrorHeader), tt.code)
			}
			var we wallet.Error
			if err := json.Unmarshal(msg.Data, &we); err != nil || we.Code != tt.code {
				t.Fatalf("body %q is not the coded error", msg.Data)
			}
		})
	}
}

// TestMerchantKindsRefused proves the NATS transfer subjects refuse the
// merchant kinds, which move a merchant's money or a customer's without a
// PIN: requests that the wallet posts when its merchant services make them
// in-process are refused over NATS, and move nothing.
func TestMerchantKindsRefused(t *testing.T) {
	e := start(t)
	alice, bob := e.customer(), e.customer()
	agentPhone, _ := e.agent(1_000_000)
	_, err := e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "fund-" + alice, Kind: wallet.TransferDeposit, From: agentPhone, To: alice, Amount: 500_000, PIN: "1357"})
	e.must(err)
	till, err := e.c.AddMerchant(e.ctx, newPhone(), "Duka", false)
	e.must(err)
	paid, err := e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "pay-" + alice, Kind: wallet.TransferTill, From: alice, To: till.Number, Amount: 200_000, PIN: "2580"})
	e.must(err)
	_, err = e.w.Transfer(e.ctx, wallet.TransferRequest{Key: "load-" + alice, Kind: wallet.TransferHold, From: alice, Amount: 10_000, Reference: "tab_1", PIN: "2580"})
	e.must(err)

	requests := []wallet.TransferRequest{
		{Kind: wallet.TransferPayout, From: till.Number, To: bob, Amount: 1_000},
		{Kind: wallet.TransferRefund, From: till.Number, Reference: paid.Transfer.Ref, Amount: 1_000},
		{Kind: wallet.TransferSettle, From: alice, To: till.Number, Amount: 1_000, Splits: []wallet.Share{{To: till.Number, Weight: 1}}},
		{Kind: wallet.TransferSettle, From: wallet.SystemTabs, To: till.Number, Amount: 1_000},
		{Kind: wallet.TransferHold, From: alice, Amount: 1_000, Reference: "tab_2", PIN: "2580"},
		{Kind: wallet.TransferRelease, To: alice, Amount: 1_000, Reference: "tab_1"},
	}
	balances := func() []int64 {
		var out []int64
		for _, n := range []string{alice, bob, till.Number, wallet.SystemTabs, wallet.SystemFees} {
			a, err := e.c.Show(e.ctx, n)
			e.must(err)
			out = append(out, a.Balance)
		}
		return out
	}
	for i, req := range requests {
		t.Run(fmt.Sprint(req.Kind, i), func(t *testing.T) {
			req.Key = fmt.Sprintf("merchant-kind-%d", i)
			before := balances()
			if _, err := e.c.Transfer(e.ctx, req); wallet.ErrorCode(err) != wallet.CodeInvalid || !strings.Contains(err.Error(), "merchant services only") {
				t.Errorf("transfer subject: got %v, want invalid_request from the merchant services only", err)
			}
			data, _ := json.Marshal(req)
			msg, err := e.nc.RequestMsg(&nats.Msg{Subject: e.prefix + "." + natsapi.SubjectFloat, Data: data,
				Header: nats.Header{natsapi.HeaderActor: []string{"test"}}}, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if got := msg.Header.Get(micro.ErrorCodeHeader); got != string(wallet.CodeInvalid) {
				t.Errorf("float subject: code %q (%s), want invalid_request", got, msg.Header.Get(micro.ErrorHeader))
			}
			if after := balances(); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("balances changed from %v to %v", before, after)
			}
			// The same request made in-process, as the merchant services
			// make it, is posted; a NATS replay of its key is still refused.
			if _, err := e.w.Transfer(e.ctx, req); err != nil {
				t.Fatalf("in-process: %v", err)
			}
			if _, err := e.c.Transfer(e.ctx, req); wallet.ErrorCode(err) != wallet.CodeInvalid {
				t.Errorf("NATS replay of a posted key: got %v, want invalid_request", err)
			}
		})
	}
}

// TestEventsPublishedOnce checks every posted transfer reaches the stream
// once, with its transaction id as Nats-Msg-Id, and the outbox empties.
func TestEventsPublishedOnce(t *testing.T) {
	e := start(t)
	alice, bob := e.customer(), e.customer()
	agentPhone, _ := e.agent(1_000_000)
	want := map[string]bool{}
	r, err := e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "d", Kind: wallet.TransferDeposit, From: agentPhone, To: alice, Amount: 100_000, PIN: "1357"})
	e.must(err)
	want[r.Transfer.Ref] = true
	for i := range 20 {
		r, err := e.c.Transfer(e.ctx, wallet.TransferRequest{Key: fmt.Sprint("s", i), Kind: wallet.TransferSend, From: alice, To: bob, Amount: 1_000, PIN: "2580"})
		e.must(err)
		want[r.Transfer.Ref] = true
	}
	stream := natsapi.StreamName + "_" + e.prefix
	cons, err := e.js.OrderedConsumer(e.ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{e.prefix + "." + wallet.EventSubjectPrefix + ">"}})
	e.must(err)
	got := map[string]int{}
	deadline := time.Now().Add(10 * time.Second)
	missing := func() bool {
		for ref := range want {
			if got[ref] == 0 {
				return true
			}
		}
		return false
	}
	for missing() && time.Now().Before(deadline) {
		batch, err := cons.FetchNoWait(100)
		e.must(err)
		for m := range batch.Messages() {
			var ev wallet.Event
			e.must(json.Unmarshal(m.Data(), &ev))
			if id := m.Headers().Get(jetstream.MsgIDHeader); id != ev.Transfer.Ref {
				t.Fatalf("Nats-Msg-Id %q for transfer %s", id, ev.Transfer.Ref)
			}
			if len(ev.Parties) < 2 || ev.Parties[0].Name == "" {
				t.Fatalf("event parties %+v", ev.Parties)
			}
			got[ev.Transfer.Ref]++
		}
		time.Sleep(20 * time.Millisecond)
	}
	for ref := range want {
		if got[ref] != 1 {
			t.Errorf("%s published %d times", ref, got[ref])
		}
	}
	// A relay that crashed after publishing re-publishes: JetStream drops the copy.
	info, err := e.js.Stream(e.ctx, stream)
	e.must(err)
	before, _ := info.Info(e.ctx)
	m := nats.NewMsg(e.prefix + "." + wallet.EventSubjectPrefix + "send")
	m.Header.Set(jetstream.MsgIDHeader, r.Transfer.Ref)
	m.Data = []byte(`{}`)
	ack, err := e.js.PublishMsg(e.ctx, m)
	e.must(err)
	if !ack.Duplicate {
		t.Error("a re-published event was not recognised as a duplicate")
	}
	after, _ := info.Info(e.ctx)
	if after.State.Msgs != before.State.Msgs {
		t.Errorf("stream grew from %d to %d on a duplicate", before.State.Msgs, after.State.Msgs)
	}
	// The relay deletes an event from the outbox once JetStream has
	// acknowledged it, a moment after the consumer above may see it.
	var rep *wallet.CheckReport
	for deadline := time.Now().Add(10 * time.Second); ; {
		rep, err = e.w.Check(e.ctx)
		e.must(err)
		if rep.Pending == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rep.Pending != 0 {
		t.Errorf("%d events still in the outbox", rep.Pending)
	}
}

// TestBank: many clients move money at random through NATS while others
// run the whole-ledger check. Every check passes (money sums to zero, every
// balance is its postings, none below its floor), every acknowledged transfer
// is stored exactly once, and no refused one is stored at all.
func TestBank(t *testing.T) {
	e := start(t)
	const people, clients, perClient = 20, 16, 40
	agentPhone, _ := e.agent(100_000_000)
	phones := make([]string, people)
	for i := range phones {
		phones[i] = e.customer()
		_, err := e.c.Transfer(e.ctx, wallet.TransferRequest{Key: "fund-" + phones[i], Kind: wallet.TransferDeposit, From: agentPhone, To: phones[i], Amount: 20_000, PIN: "1357"})
		e.must(err)
	}
	var mu sync.Mutex
	acked := map[string]string{} // key → ref
	var refused []string
	stop := make(chan struct{})
	var checks, checkErrs atomic.Int64
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := e.c.Check(e.ctx)
				if err != nil || !r.OK() {
					checkErrs.Add(1)
					t.Errorf("check under load: %v %+v", err, r)
					return
				}
				checks.Add(1)
			}
		}()
	}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for i := range perClient {
				from, to := rng.IntN(people), rng.IntN(people)
				if from == to {
					continue
				}
				key := fmt.Sprintf("bank-%d-%d", c, i)
				r, err := e.c.Transfer(e.ctx, wallet.TransferRequest{Key: key, Kind: wallet.TransferSend, From: phones[from], To: phones[to], Amount: int64(rng.IntN(3_000) + 1), PIN: "2580"})
				mu.Lock()
				switch wallet.ErrorCode(err) {
				case "":
					acked[key] = r.Transfer.Ref
				case wallet.CodeInsufficientFunds:
					refused = append(refused, key)
				default:
					t.Errorf("transfer %s: %v", key, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	if checks.Load() == 0 {
		t.Error("no check ran during the load")
	}
	var rows []struct {
		IdemKey string
		ID      int64
	}
	e.must(e.st.Gorm().Table("transfers").Select("idem_key, id").Where("idem_key LIKE ?", natsapi.ExternalKeyPrefix+"bank-%").Find(&rows).Error)
	stored := map[string]int{}
	for _, r := range rows {
		r.IdemKey = strings.TrimPrefix(r.IdemKey, natsapi.ExternalKeyPrefix) // the caller's key
		stored[r.IdemKey]++
		if acked[r.IdemKey] != wallet.Ref(r.ID) {
			t.Errorf("stored transfer %s under %s was acknowledged as %q", wallet.Ref(r.ID), r.IdemKey, acked[r.IdemKey])
		}
	}
	for key := range acked {
		if stored[key] != 1 {
			t.Errorf("acknowledged %s stored %d times", key, stored[key])
		}
	}
	for _, key := range refused {
		if stored[key] != 0 {
			t.Errorf("refused %s was stored", key)
		}
	}
	r, err := e.c.Check(e.ctx)
	e.must(err)
	if !r.OK() {
		t.Fatalf("final check: %v", r.Violations)
	}
	t.Logf("%d transfers acknowledged, %d refused, %d checks under load", len(acked), len(refused), checks.Load())
}
