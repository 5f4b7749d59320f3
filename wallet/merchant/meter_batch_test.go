package merchant_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// batchWant is what one result of a batch must be: a charge (replayed or
// not) or a refusal's code, and the tab's totals after it.
type batchWant struct {
	code      wallet.Code
	replayed  bool
	charged   string
	remaining string
}

func (f *tabFixture) checkBatch(t *testing.T, tab string, got []merchant.ChargeResult, reqs []merchant.ChargeRequest, want []batchWant) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	micro := func(s string) wallet.Micro {
		if s == "0" {
			return 0 // ParseMicro takes amounts only
		}
		return f.micro(s)
	}
	for i, w := range want {
		r := got[i]
		var code wallet.Code
		if r.Err != nil {
			code = r.Err.Code
			if r.Err.Message == "" || r.Charge != nil {
				t.Errorf("charge %d: refusal %+v with charge %+v", i+1, r.Err, r.Charge)
			}
		}
		if code != w.code || r.Charged != micro(w.charged) || r.Remaining != micro(w.remaining) {
			t.Errorf("charge %d: code %q, charged %d, remaining %d; want %q, %d, %d", i+1, code, r.Charged, r.Remaining,
				w.code, micro(w.charged), micro(w.remaining))
		}
		if r.Err != nil {
			continue
		}
		c := r.Charge
		if c == nil || c.Replayed != w.replayed || c.Amount != reqs[i].Amount || c.Reference != reqs[i].Reference || c.Tab != tab {
			t.Errorf("charge %d: %+v, want replayed %v of %+v", i+1, c, w.replayed, reqs[i])
		}
	}
}

// TestChargeBatch: charges applied in order in one group commit, partial
// refusals at the cap, a conflict, and replays inside a batch, across
// batches and with single charges.
func TestChargeBatch(t *testing.T) {
	f := newTabFixture(t)
	phone := f.customer(100_000)
	tab := f.active(phone, "1", false)
	network := f.merchant("Ad Network")
	single, err := f.s.Charge(f.ctx, f.p, merchant.ChargeRequest{Tab: tab.ID, Key: "single", Amount: f.micro("0.05"), Reference: "s"})
	f.must(err)

	req := func(key, amount, ref string, splits ...merchant.Split) merchant.ChargeRequest {
		return merchant.ChargeRequest{Key: key, Amount: f.micro(amount), Reference: ref, Splits: splits}
	}
	split := merchant.Split{To: network.Merchant, Weight: 30}
	reqs := []merchant.ChargeRequest{
		req("a", "0.25", "click-1"),
		req("b", "0.25", "click-2", split),
		req("a", "0.25", "click-1"),        // the same charge again: a replay of the first
		req("single", "0.05", "s"),         // a single charge's key: its replay
		req("b", "0.26", "click-2"),        // the same key, another charge: a conflict
		req("c", "0.25", "click-3"),        // up to 0.75
		req("d", "0.30", "click-4"),        // over the cap
		req("e", "0.20", "click-5"),        // what is left: the cap exactly
		req("f", "0.000001", "c-6"),        // nothing left
		req("g", "0.05", "click-7"),        // nothing left
		req("h", "0.000001", "c-8"),        // nothing left
		{Tab: tab.ID, Key: "i", Amount: 1}, // the tab named: the same
	}
	got, err := f.s.ChargeBatch(f.ctx, f.p, tab.ID, reqs)
	f.must(err)
	f.checkBatch(t, tab.ID, got, reqs, []batchWant{
		{"", false, "0.30", "0.70"},
		{"", false, "0.55", "0.45"},
		{"", true, "0.55", "0.45"},
		{"", true, "0.55", "0.45"},
		{wallet.CodeConflict, false, "0.55", "0.45"},
		{"", false, "0.80", "0.20"},
		{wallet.CodeLimitExceeded, false, "0.80", "0.20"},
		{"", false, "1", "0"},
		{wallet.CodeLimitExceeded, false, "1", "0"},
		{wallet.CodeLimitExceeded, false, "1", "0"},
		{wallet.CodeLimitExceeded, false, "1", "0"},
		{wallet.CodeLimitExceeded, false, "1", "0"},
	})
	if got[6].Err.Limit != wallet.LimitTabCap {
		t.Errorf("over the cap: %+v", got[6].Err)
	}
	// In order and in one group commit: the new charges' totals grow by
	// their amounts, and they were all made at the same instant.
	first, replay := got[0].Charge, got[2].Charge
	if replay.ID != first.ID || replay.Charged != first.Charged || got[3].Charge.ID != single.ID {
		t.Errorf("replays %+v and %+v, want %s and %s", replay, got[3].Charge, first.ID, single.ID)
	}
	prev := single.Charged
	for _, i := range []int{0, 1, 5, 7} {
		c := got[i].Charge
		if c.Charged != prev+c.Amount || !c.Created.Equal(first.Created) || c.Replayed {
			t.Errorf("charge %d: %+v, want charged %d at %v", i+1, c, prev+c.Amount, first.Created)
		}
		prev = c.Charged
	}
	if len(got[1].Charge.Splits) != 1 || got[1].Charge.Splits[0] != split {
		t.Errorf("splits %+v", got[1].Charge.Splits)
	}
	if tb := f.tab(tab.ID); tb.Charged != f.micro("1") {
		t.Errorf("tab charged %d, want the cap", tb.Charged)
	}

	// Across batches: what was recorded is replayed, what was refused is
	// judged again.
	again, err := f.s.ChargeBatch(f.ctx, f.p, tab.ID, reqs)
	f.must(err)
	f.checkBatch(t, tab.ID, again, reqs, []batchWant{
		{"", true, "1", "0"},
		{"", true, "1", "0"},
		{"", true, "1", "0"},
		{"", true, "1", "0"},
		{wallet.CodeConflict, false, "1", "0"},
		{"", true, "1", "0"},
		{wallet.CodeLimitExceeded, false, "1", "0"},
		{"", true, "1", "0"},
		{wallet.CodeLimitExceeded, false, "1", "0"},
		{wallet.CodeLimitExceeded, false, "1", "0"},
		{wallet.CodeLimitExceeded, false, "1", "0"},
		{wallet.CodeLimitExceeded, false, "1", "0"},
	})
	for _, i := range []int{0, 1, 5, 7} {
		if again[i].Charge.ID != got[i].Charge.ID || again[i].Charge.Charged != got[i].Charge.Charged {
			t.Errorf("charge %d replayed as %+v, first %+v", i+1, again[i].Charge, got[i].Charge)
		}
	}
	// A single charge with a batch's key is its replay.
	c, err := f.s.Charge(f.ctx, f.p, merchant.ChargeRequest{Tab: tab.ID, Key: "e", Amount: f.micro("0.20"), Reference: "click-5"})
	f.must(err)
	if !c.Replayed || c.ID != got[7].Charge.ID {
		t.Errorf("single replay of a batch's charge: %+v", c)
	}
	var rows int64
	f.must(f.st.Gorm().Raw("SELECT COUNT(*) FROM tab_charges WHERE tab_id = ?", tab.ID).Row().Scan(&rows))
	if rows != 5 {
		t.Errorf("%d charges stored, want 5", rows)
	}
}

// TestChargeBatchRefused: a batch refused as a whole records nothing;
// a tab that takes no charges refuses each charge alone.
func TestChargeBatchRefused(t *testing.T) {
	f := newTabFixture(t)
	phone := f.customer(0)
	tab := f.active(phone, "1", false)
	other := f.merchant("Other Shop")
	ok := func(n int) []merchant.ChargeRequest {
		reqs := make([]merchant.ChargeRequest, n)
		for i := range reqs {
			reqs[i] = merchant.ChargeRequest{Key: fmt.Sprint("k", i), Amount: 1}
		}
		return reqs
	}
	with := func(i int, edit func(*merchant.ChargeRequest)) []merchant.ChargeRequest {
		reqs := ok(4)
		edit(&reqs[i])
		return reqs
	}
	tests := []struct {
		name string
		p    merchant.Principal
		tab  string
		reqs []merchant.ChargeRequest
		code wallet.Code
		msg  string // in the message
	}{
		{"operator key", merchant.Principal{Operator: true}, tab.ID, ok(1), wallet.CodeForbidden, ""},
		{"another merchant's tab", other, tab.ID, ok(3), wallet.CodeNotFound, ""},
		{"unknown tab", f.p, "tab_0000000000000000000000000a", ok(3), wallet.CodeNotFound, ""},
		{"malformed tab", f.p, "tab_x", ok(1), wallet.CodeNotFound, ""},
		{"no charges", f.p, tab.ID, nil, wallet.CodeInvalid, "at least one"},
		{"too many charges", f.p, tab.ID, ok(merchant.BatchChargesMax + 1), wallet.CodeInvalid, "at most 1000"},
		{"no key", f.p, tab.ID, with(2, func(r *merchant.ChargeRequest) { r.Key = "" }), wallet.CodeInvalid, "charge 3: "},
		{"key with a space", f.p, tab.ID, with(0, func(r *merchant.ChargeRequest) { r.Key = "a b" }), wallet.CodeInvalid, "charge 1: "},
		{"zero amount", f.p, tab.ID, with(1, func(r *merchant.ChargeRequest) { r.Amount = 0 }), wallet.CodeInvalidAmount, "charge 2: "},
		{"amount over MaxMicro", f.p, tab.ID, with(3, func(r *merchant.ChargeRequest) { r.Amount = wallet.MicroMax + 1 }), wallet.CodeInvalidAmount, "charge 4: "},
		{"another tab's charge", f.p, tab.ID, with(1, func(r *merchant.ChargeRequest) { r.Tab = "tab_0000000000000000000000000a" }), wallet.CodeInvalid, "charge 2: "},
		{"long reference", f.p, tab.ID, with(1, func(r *merchant.ChargeRequest) { r.Reference = strings.Repeat("r", 33) }), wallet.CodeInvalid, "charge 2: "},
		{"split to nobody", f.p, tab.ID, with(3, func(r *merchant.ChargeRequest) { r.Splits = []merchant.Split{{To: "999999", Weight: 1}} }), wallet.CodeInvalid, "charge 4: "},
		{"17 split rules", f.p, tab.ID, with(0, func(r *merchant.ChargeRequest) { r.Splits = make([]merchant.Split, 17) }), wallet.CodeInvalid, "charge 1: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.s.ChargeBatch(f.ctx, tt.p, tt.tab, tt.reqs)
			wantTabCode(t, err, tt.code)
			if got != nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("results %+v, error %v, want %q in it", got, err, tt.msg)
			}
		})
	}
	if tb := f.tab(tab.ID); tb.Charged != 0 {
		t.Errorf("refused batches charged %d", tb.Charged)
	}

	// A tab that takes no charges refuses each of them: the batch is not
	// malformed, and a replay on a closed tab still answers.
	got, err := f.s.ChargeBatch(f.ctx, f.p, tab.ID, ok(2))
	f.must(err)
	if got[0].Err != nil || got[1].Err != nil {
		t.Fatalf("results %+v", got)
	}
	_, err = f.s.CloseTab(f.ctx, f.p, tab.ID, "close")
	f.must(err)
	eventually(t, "the tab to close", func() bool { return f.tab(tab.ID).Status == merchant.TabClosed })
	reqs := append(ok(2), merchant.ChargeRequest{Key: "new", Amount: 1})
	got, err = f.s.ChargeBatch(f.ctx, f.p, tab.ID, reqs)
	f.must(err)
	f.checkBatch(t, tab.ID, got, reqs, []batchWant{
		{"", true, "0.000002", "0.999998"},
		{"", true, "0.000002", "0.999998"},
		{wallet.CodeInvalidState, false, "0.000002", "0.999998"},
	})
	pending := f.open(phone, "1", false)
	got, err = f.s.ChargeBatch(f.ctx, f.p, pending.ID, ok(2))
	f.must(err)
	f.checkBatch(t, pending.ID, got, ok(2), []batchWant{{wallet.CodeInvalidState, false, "0", "1"}, {wallet.CodeInvalidState, false, "0", "1"}})
}

// TestChargeBatchOneCommit: batches and single charges race on the same
// tabs; each batch lands whole in one group commit (its new charges share
// one instant and their totals follow each other), nothing exceeds a cap,
// and every tab's total is the sum of its stored charges.
func TestChargeBatchOneCommit(t *testing.T) {
	f := newTabFixture(t)
	phone := f.customer(0)
	const tabsN = 3
	var ids [tabsN]string
	for i := range ids {
		ids[i] = f.active(phone, "1", false).ID
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var batches [][]merchant.ChargeResult
	for w := range 8 {
		wg.Go(func() {
			for i := range 30 {
				tab := ids[(w+i)%tabsN]
				if w%2 == 0 {
					_, err := f.s.Charge(f.ctx, f.p, merchant.ChargeRequest{Tab: tab, Key: fmt.Sprintf("s%d-%d", w, i), Amount: 997})
					if err != nil && wallet.ErrorCode(err) != wallet.CodeLimitExceeded {
						t.Error(err)
					}
					continue
				}
				reqs := make([]merchant.ChargeRequest, 1+(w*7+i*13)%60)
				for j := range reqs {
					reqs[j] = merchant.ChargeRequest{Key: fmt.Sprintf("b%d-%d-%d", w, i, j), Amount: wallet.Micro(1000 + j)}
				}
				got, err := f.s.ChargeBatch(f.ctx, f.p, tab, reqs)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				batches = append(batches, got)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	capped := 0
	for _, got := range batches {
		var prev *merchant.Charge
		for j, r := range got {
			if r.Err != nil {
				if r.Err.Code != wallet.CodeLimitExceeded {
					t.Fatalf("charge %d: %v", j+1, r.Err)
				}
				capped++
				continue
			}
			c := r.Charge
			if prev != nil && (c.Charged != prev.Charged+c.Amount || !c.Created.Equal(prev.Created)) {
				t.Fatalf("charge %d of a batch: %+v after %+v: not in the same commit, in order", j+1, c, prev)
			}
			prev = c
		}
	}
	if capped == 0 {
		t.Fatal("no batch reached a cap: the test proves less than it says")
	}
	for _, id := range ids {
		tb := f.tab(id)
		var sum int64
		f.must(f.st.Gorm().Raw("SELECT COALESCE(SUM(amount), 0) FROM tab_charges WHERE tab_id = ?", id).Row().Scan(&sum))
		if tb.Charged > tb.Cap || int64(tb.Charged) != sum {
			t.Errorf("tab %s: charged %d (cap %d), its charges sum to %d", id, tb.Charged, tb.Cap, sum)
		}
	}
}

// TestChargeBatchSettles: a batch that takes a tab past the settlement
// threshold settles it, with its splits.
func TestChargeBatchSettles(t *testing.T) {
	f := newTabFixtureWith(t, tabOptions{config: func(c *merchant.Config) { c.SettleThreshold = 1_00 }})
	network := f.merchant("Ad Network")
	phone := f.customer(10_00)
	tab := f.active(phone, "5", false)
	reqs := make([]merchant.ChargeRequest, 400)
	for i := range reqs {
		reqs[i] = merchant.ChargeRequest{Key: fmt.Sprint("click-", i), Amount: f.micro("0.0025"),
			Splits: []merchant.Split{{To: f.p.Merchant, Weight: 70}, {To: network.Merchant, Weight: 30}}}
	}
	got, err := f.s.ChargeBatch(f.ctx, f.p, tab.ID, reqs)
	f.must(err)
	if last := got[len(got)-1]; last.Err != nil || last.Charged != f.micro("1") || last.Remaining != f.micro("4") {
		t.Fatalf("last result %+v", last)
	}
	eventually(t, "the threshold settlement", func() bool {
		sts := f.settlements(tab.ID)
		return len(sts) == 1 && sts[0].Status == merchant.SettlementDone
	})
	if st := f.settlements(tab.ID)[0]; st.Amount != 1_00 || len(st.Shares) != 2 || st.Shares[0].Gross != 70 || st.Shares[1].Gross != 30 {
		t.Errorf("settlement %+v", st)
	}
	if b := f.balance(phone); b != 9_00 {
		t.Errorf("customer balance %d, want 9.00", b)
	}
	f.checkLedger()
}
