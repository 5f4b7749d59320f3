package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/notify"
	walletstore "github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// smsDB opens a fresh database (SQLite, or PostgreSQL when
// KIBUBU_TEST_POSTGRES is set) and returns its DSN, so a test can open it
// again as another process would.
func smsDB(t testing.TB) string {
	t.Helper()
	return storetest.DSN(t)
}

// smsStore opens a Store on dsn through its own connection pool.
func smsStore(t testing.TB, dsn string) *Store {
	t.Helper()
	ctx := context.Background()
	db, err := walletstore.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeGorm(db) })
	st, err := Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func closeGorm(db *gorm.DB) {
	if sqlDB, err := db.DB(); err == nil {
		sqlDB.Close()
	}
}

// smsOut is a message to phone with text, keyed by key.
func smsOut(key, phone, text string) notify.Outgoing {
	return notify.Outgoing{Key: key, Kind: notify.KindMessage, To: phone, Language: "en", Text: text}
}

func TestRecord(t *testing.T) {
	ctx := context.Background()
	st := smsStore(t, smsDB(t))
	long := strings.Repeat("a", 200)
	swahili := "Umepokea ✓"
	cases := []struct {
		name     string
		out      []notify.Outgoing
		want     int    // inserted
		wantErr  string // a substring of the error; "" for none
		wantRows int    // in the table afterwards
	}{
		{"new", []notify.Outgoing{smsOut("a", "+254700000001", "one"), smsOut("b", "+254700000001", "two")}, 2, "", 2},
		{"again", []notify.Outgoing{smsOut("a", "+254700000001", "one"), smsOut("b", "+254700000001", "two")}, 0, "", 2},
		{"one new of two", []notify.Outgoing{smsOut("b", "+254700000001", "two"), smsOut("c", "+254700000002", long)}, 1, "", 3},
		{"twice in one call", []notify.Outgoing{smsOut("d", "+254700000002", swahili), smsOut("d", "+254700000002", swahili)}, 1, "", 4},
		{"same key, other text", []notify.Outgoing{smsOut("a", "+254700000009", "changed")}, 0, "", 4},
		{"no key", []notify.Outgoing{smsOut("", "+254700000001", "x")}, 0, "key", 4},
		{"local phone", []notify.Outgoing{smsOut("e", "0712345678", "x")}, 0, "E.164", 4},
		{"no text", []notify.Outgoing{smsOut("e", "+254700000001", "")}, 0, "no text", 4},
		{"too long", []notify.Outgoing{smsOut("e", "+254700000001", strings.Repeat("a", 1601))}, 0, "longer", 4},
		{"bad kind", []notify.Outgoing{{Key: "e", Kind: "promo", To: "+254700000001", Text: "x"}}, 0, "kind", 4},
		{"one bad of two", []notify.Outgoing{smsOut("e", "+254700000001", "x"), smsOut("f", "", "x")}, 0, "E.164", 4},
		{"none", nil, 0, "", 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := st.Record(ctx, tc.out)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			rows, err := st.List(ctx, Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.want || len(rows) != tc.wantRows {
				t.Fatalf("got %d inserted, %d rows; want %d, %d", n, len(rows), tc.want, tc.wantRows)
			}
		})
	}
	rows, err := st.List(ctx, Filter{Key: "a"})
	if err != nil || len(rows) != 1 {
		t.Fatalf("got %v, %v", rows, err)
	}
	if r := rows[0]; r.Text != "one" || r.To != "+254700000001" || r.Status != notify.StatusPending || r.Attempts != 0 ||
		r.Encoding != locales.GSM7 || r.Parts != 1 || r.Created.IsZero() || r.Created.Location() != time.UTC {
		t.Errorf("got %+v, want the first text, pending, GSM-7, 1 part", r)
	}
	for key, want := range map[string]string{"c": locales.GSM7 + " 2", "d": locales.UCS2 + " 1"} {
		rows, _ := st.List(ctx, Filter{Key: key})
		if got := fmt.Sprint(rows[0].Encoding, " ", rows[0].Parts); got != want {
			t.Errorf("%s: got %s, want %s", key, got, want)
		}
	}
}

func TestRecordConcurrent(t *testing.T) {
	// Several processes record the same event's receipts at once: each key
	// is inserted once in all.
	ctx := context.Background()
	dsn := smsDB(t)
	stores := []*Store{smsStore(t, dsn), smsStore(t, dsn), smsStore(t, dsn)}
	var out []notify.Outgoing
	for i := range 300 {
		out = append(out, smsOut(fmt.Sprint("k", i), "+254700000001", fmt.Sprint("text ", i)))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for _, st := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := st.Record(ctx, out)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	rows, err := stores[0].List(ctx, Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if total != len(out) || len(rows) != len(out) {
		t.Errorf("got %d inserted, %d rows; want %d", total, len(rows), len(out))
	}
}

func TestOutgoing(t *testing.T) {
	rs := []notify.Receipt{{Key: "7:10", Transfer: 7, Account: 10, To: "+254700000010", Language: "sw", Text: "Umetuma"}}
	got := notify.OutgoingReceipts(rs)
	want := notify.Outgoing{Key: "7:10", Kind: notify.KindReceipt, Transfer: 7, Account: 10, To: "+254700000010", Language: "sw",
		Text: "Umetuma"}
	if len(got) != 1 || got[0] != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	m := notify.Message{Key: "reply:at:1", To: "+254700000010", Language: "fr", Text: "Solde"}
	if got, want := m.Outgoing(), (notify.Outgoing{Key: "reply:at:1", Kind: notify.KindMessage, To: "+254700000010",
		Language: "fr", Text: "Solde"}); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// smsHandOver claims the row of key and records it as taken by provider
// with id and status, as a Sender would.
func smsHandOver(t *testing.T, st *Store, key, provider, id, status string) {
	t.Helper()
	ctx := context.Background()
	rows, err := st.claim(ctx, 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var outs []outcome
	for i := range rows {
		r := &rows[i]
		if r.Key == key {
			outs = append(outs, outcome{row: r, status: status, provider: provider, providerID: id})
		} else {
			outs = append(outs, outcome{row: r, status: notify.StatusPending, next: time.Now(), uncount: true})
		}
	}
	if _, err := st.apply(ctx, outs); err != nil {
		t.Fatal(err)
	}
}

func TestReport(t *testing.T) {
	type step struct {
		status, code string
	}
	cases := []struct {
		name      string
		steps     []step
		want      string
		wantCode  string
		delivered bool
	}{
		{"in order", []step{{"sent", ""}, {"delivered", ""}}, notify.StatusDelivered, "", true},
		{"late sent", []step{{"delivered", ""}, {"sent", ""}}, notify.StatusDelivered, "", true},
		{"late queued", []step{{"sent", ""}, {"queued", ""}}, notify.StatusSent, "", false},
		{"undelivered", []step{{"sent", ""}, {"undelivered", "30003"}}, notify.StatusUndelivered, "30003", true},
		{"final then other final", []step{{"failed", "30008"}, {"delivered", ""}}, notify.StatusFailed, "30008", true},
		{"twilio's sending", []step{{"sending", ""}}, notify.StatusQueued, "", false},
		{"read", []step{{"read", ""}}, notify.StatusDelivered, "", true},
		{"upper case", []step{{"DELIVERED", ""}}, notify.StatusDelivered, "", true},
	}
	ctx := context.Background()
	st := smsStore(t, smsDB(t))
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key, sid := fmt.Sprint("r", i), fmt.Sprintf("SM%032d", i)
			if _, err := st.Record(ctx, []notify.Outgoing{smsOut(key, "+254700000001", tc.name)}); err != nil {
				t.Fatal(err)
			}
			smsHandOver(t, st, key, notify.ProviderTwilio, sid, notify.StatusQueued)
			for _, s := range tc.steps {
				if err := st.Report(ctx, notify.Report{Provider: notify.ProviderTwilio, ID: sid, Status: s.status, ErrorCode: s.code,
					At: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			rows, _ := st.List(ctx, Filter{Key: key})
			r := rows[0]
			if r.Status != tc.want || r.ErrorCode != tc.wantCode || r.Delivered.IsZero() == tc.delivered ||
				r.ProviderID != sid || r.Sent.IsZero() {
				t.Fatalf("got %s code %q delivered %v, want %s code %q delivered %v", r.Status, r.ErrorCode,
					r.Delivered, tc.want, tc.wantCode, tc.delivered)
			}
		})
	}
	err := st.Report(ctx, notify.Report{Provider: notify.ProviderTwilio, ID: "SMunknown", Status: "delivered"})
	if !errors.Is(err, notify.ErrUnknownMessage) {
		t.Errorf("unknown sid: got %v, want ErrUnknownMessage", err)
	}
	err = st.Report(ctx, notify.Report{Provider: notify.ProviderOutbox, ID: fmt.Sprintf("SM%032d", 0), Status: "delivered"})
	if !errors.Is(err, notify.ErrUnknownMessage) {
		t.Errorf("other provider's id: got %v, want ErrUnknownMessage", err)
	}
	err = st.Report(ctx, notify.Report{Provider: notify.ProviderTwilio, ID: fmt.Sprintf("SM%032d", 0), Status: "exploded"})
	if !errors.Is(err, notify.ErrUnknownStatus) {
		t.Errorf("unknown status: got %v, want ErrUnknownStatus", err)
	}
}

func TestList(t *testing.T) {
	ctx := context.Background()
	st := smsStore(t, smsDB(t))
	var out []notify.Outgoing
	for i := range 12 {
		o := smsOut(fmt.Sprint("m", i), fmt.Sprint("+25470000000", i%3), fmt.Sprint("text ", i))
		if i%4 == 0 {
			o.Kind, o.Transfer, o.Account = notify.KindReceipt, int64(100+i), 10
		}
		out = append(out, o)
	}
	if _, err := st.Record(ctx, out); err != nil {
		t.Fatal(err)
	}
	smsHandOver(t, st, "m5", notify.ProviderOutbox, "outbox-6", notify.StatusSent)
	cases := []struct {
		name string
		f    Filter
		want string // keys, newest first
	}{
		{"all", Filter{}, "m11 m10 m9 m8 m7 m6 m5 m4 m3 m2 m1 m0"},
		{"limit", Filter{Limit: 3}, "m11 m10 m9"},
		{"phone", Filter{Phone: "+254700000001"}, "m10 m7 m4 m1"},
		{"kind", Filter{Kind: notify.KindReceipt}, "m8 m4 m0"},
		{"transfer", Filter{Transfer: 104}, "m4"},
		{"provider", Filter{Provider: notify.ProviderOutbox}, "m5"},
		{"status", Filter{Status: notify.StatusSent}, "m5"},
		{"phone and status", Filter{Phone: "+254700000002", Status: notify.StatusPending}, "m11 m8 m2"},
		{"nobody", Filter{Phone: "+254700000009"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := st.List(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, r := range rows {
				keys = append(keys, r.Key)
			}
			if got := strings.Join(keys, " "); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	// Paging: the page after the last id seen.
	first, _ := st.List(ctx, Filter{Limit: 5})
	next, _ := st.List(ctx, Filter{Limit: 5, Before: first[len(first)-1].ID})
	if len(next) != 5 || next[0].Key != "m6" {
		t.Errorf("got %+v, want m6 first", next)
	}
}

func TestBacklogRequeue(t *testing.T) {
	ctx := context.Background()
	st := smsStore(t, smsDB(t))
	if b, err := st.Backlog(ctx); err != nil || b != (Backlog{}) {
		t.Fatalf("empty: got %+v, %v", b, err)
	}
	if _, err := st.Record(ctx, []notify.Outgoing{smsOut("a", "+254700000001", "a"), smsOut("b", "+254700000001", "b"),
		smsOut("c", "+254700000001", "c")}); err != nil {
		t.Fatal(err)
	}
	smsHandOver(t, st, "a", notify.ProviderTwilio, "", notify.StatusFailed)
	rows, err := st.claim(ctx, 1, time.Minute) // b stays claimed
	if err != nil || len(rows) != 1 {
		t.Fatal(rows, err)
	}
	b, err := st.Backlog(ctx)
	if err != nil || b.Pending != 1 || b.Sending != 1 || b.OldestDue.IsZero() {
		t.Fatalf("got %+v, %v; want 1 pending, 1 sending", b, err)
	}
	failed, _ := st.List(ctx, Filter{Status: notify.StatusFailed})
	if len(failed) != 1 {
		t.Fatalf("got %d failed", len(failed))
	}
	n, err := st.Requeue(ctx, failed[0].ID, rows[0].ID)
	if err != nil || n != 1 {
		t.Fatalf("got %d, %v; want only the failed one requeued", n, err)
	}
	again, _ := st.List(ctx, Filter{Key: "a"})
	if again[0].Status != notify.StatusPending || again[0].Attempts != 0 {
		t.Errorf("got %+v, want pending with no attempts", again[0])
	}
}

// TestClaimTakeOver checks the compare-and-set: a claim whose lease ran out
// and was taken over writes nothing.
func TestClaimTakeOver(t *testing.T) {
	ctx := context.Background()
	st := smsStore(t, smsDB(t))
	if _, err := st.Record(ctx, []notify.Outgoing{smsOut("a", "+254700000001", "a")}); err != nil {
		t.Fatal(err)
	}
	first, err := st.claim(ctx, 10, time.Hour)
	if err != nil || len(first) != 1 || first[0].InDoubt || first[0].Attempts != 1 {
		t.Fatalf("got %+v, %v", first, err)
	}
	if again, err := st.claim(ctx, 10, time.Minute); err != nil || len(again) != 0 {
		t.Fatalf("a row under lease was claimed again: %+v, %v", again, err)
	}
	smsExpire(t, st)
	second, err := st.claim(ctx, 10, time.Minute)
	if err != nil || len(second) != 1 || !second[0].InDoubt || second[0].Attempts != 2 ||
		!second[0].ClaimedAt.Equal(*first[0].ClaimedAt) {
		t.Fatalf("got %+v, %v; want it in doubt, with the first claim's time", second, err)
	}
	lost, err := st.apply(ctx, []outcome{{row: &first[0], status: notify.StatusQueued, provider: notify.ProviderTwilio,
		providerID: "SMfirst"}})
	if err != nil || len(lost) != 1 {
		t.Fatalf("got %v lost, %v; want the first claim's outcome lost", lost, err)
	}
	lost, err = st.apply(ctx, []outcome{{row: &second[0], status: notify.StatusQueued, provider: notify.ProviderTwilio,
		providerID: "SMsecond"}})
	if err != nil || len(lost) != 0 {
		t.Fatalf("got %v lost, %v", lost, err)
	}
	rows, _ := st.List(ctx, Filter{Key: "a"})
	if rows[0].ProviderID != "SMsecond" || rows[0].Status != notify.StatusQueued {
		t.Errorf("got %+v, want the second claim's outcome", rows[0])
	}
}

// smsExpire ends every lease, as if the Senders holding them had died long ago.
func smsExpire(t testing.TB, st *Store) {
	t.Helper()
	err := st.db.Model(&smsRow{}).Where("status = ?", notify.StatusSending).
		Update("next_attempt_at", time.Now().UTC().Add(-time.Second)).Error
	if err != nil {
		t.Fatal(err)
	}
}
