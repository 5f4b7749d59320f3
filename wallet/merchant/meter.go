package merchant

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

// meterOp is one charge waiting for the meter, or a batch of them
// (ChargeBatch): an op with batch set is not a charge itself but carries
// its batch's charges, which the meter takes as one unit, so that they
// land in the same group commit, contiguous and in order.
type meterOp struct {
	merchant string
	req      ChargeRequest
	splits   string  // req.Splits encoded, as stored
	weights  []int64 // req.Splits' weights
	// done receives the op's result. A batch's charges share one, of
	// capacity len(batch): the meter answers them in order.
	done  chan meterResult
	batch []meterOp
}

type meterResult struct {
	charge *Charge
	err    error
	// charged and cap are the tab's once the charge was judged (zero when
	// the tab is not the merchant's).
	charged, cap wallet.Micro
}

var errMeterStopped = &wallet.Error{Code: wallet.CodeUnavailable, Message: "the wallet is shutting down; retry with the same key"}

// Charge records a charge on one of p's merchant's active tabs. It does not
// touch the ledger: the amount accrues on the tab, split among the payees
// if req.Splits says so, and settles later (see the package documentation
// on tabs). It returns once the charge is committed.
//
// req.Key makes it idempotent within the tab: a replay returns the first
// charge with Replayed set; the same key with a different amount,
// reference or splits is CodeConflict. Errors: CodeNotFound (no such tab,
// or another merchant's), CodeInvalidAmount, CodeInvalid (key, reference,
// splits: at most 16 rules, positive weights, each to a till or paybill,
// at most 64 merchants on a tab), CodeInvalidState (the tab is pending,
// suspended, closed, declined or expired), CodeLimitExceeded with
// LimitTabCap (over the cap), CodeUnavailable (no answer in time: retry
// with the same key).
func (s *Service) Charge(ctx context.Context, p Principal, req ChargeRequest) (*Charge, error) {
	if p.Merchant == "" {
		return nil, wallet.Errorf(wallet.CodeForbidden, "an operator key cannot act for a merchant")
	}
	if !validID("tab", req.Tab) {
		return nil, notFound("tab", req.Tab)
	}
	op := &meterOp{merchant: p.Merchant, req: req, done: make(chan meterResult, 1)}
	if err := s.tabs.prepare(ctx, op); err != nil {
		return nil, err
	}
	if err := s.tabs.enqueue(op); err != nil {
		return nil, err
	}
	select {
	case r := <-op.done:
		return r.charge, r.err
	case <-ctx.Done():
		return nil, &wallet.Error{Code: wallet.CodeUnavailable, Message: "no answer in time; retry with the same key"}
	}
}

// prepare checks the key, amount, reference and split rules of op's
// charge, as Charge documents, and encodes its splits.
func (t *tabs) prepare(ctx context.Context, op *meterOp) error {
	req := &op.req
	if err := checkIdem(req.Key); err != nil {
		return err
	}
	if req.Amount <= 0 || req.Amount > wallet.MicroMax {
		return wallet.Errorf(wallet.CodeInvalidAmount, "a charge must be more than zero and at most %s", t.s.cur.FormatMicro(wallet.MicroMax))
	}
	if err := checkText("reference", req.Reference, false, wallet.ReferenceBytesMax, 0); err != nil {
		return err
	}
	var err error
	op.splits, op.weights, err = t.checkSplits(ctx, req.Splits)
	return err
}

// checkSplits validates a charge's split rules and returns them encoded
// and their weights. Each rule pays an existing till or paybill (looked up
// once per process: accounts are never deleted).
func (t *tabs) checkSplits(ctx context.Context, splits []Split) (string, []int64, error) {
	enc, weights, err := parseSplits(splits)
	if err != nil {
		return "", nil, err
	}
	for _, sp := range splits {
		if err := t.knownMerchant(ctx, sp.To); err != nil {
			return "", nil, err
		}
	}
	return enc, weights, nil
}

// parseSplits checks the form of split rules from a merchant: at most
// SplitRulesMax, each to a business number (digits) with a weight from 1
// to SplitWeightMax, no number twice. It returns them encoded, and their
// weights (nil for no rules).
func parseSplits(splits []Split) (string, []int64, error) {
	if len(splits) == 0 {
		return "", nil, nil
	}
	if len(splits) > SplitRulesMax {
		return "", nil, wallet.Errorf(wallet.CodeInvalid, "a charge has at most %d split rules", SplitRulesMax)
	}
	weights := make([]int64, len(splits))
	for i, sp := range splits {
		if sp.Weight <= 0 || sp.Weight > SplitWeightMax {
			return "", nil, wallet.Errorf(wallet.CodeInvalid, "split rule %d: a weight is from 1 to %d", i+1, SplitWeightMax)
		}
		if !merchantNumber(sp.To) {
			return "", nil, wallet.Errorf(wallet.CodeInvalid, "split rule %d: %q is not a till or paybill number", i+1, clip(sp.To))
		}
		for _, prev := range splits[:i] {
			if prev.To == sp.To {
				return "", nil, wallet.Errorf(wallet.CodeInvalid, "split rule %d: %s has a rule already", i+1, sp.To)
			}
		}
		weights[i] = sp.Weight
	}
	return encodeSplits(splits), weights, nil
}

// merchantNumber reports whether s looks like a business number: 1 to 32
// ASCII digits.
func merchantNumber(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// knownMerchant checks that number is a till or paybill.
func (t *tabs) knownMerchant(ctx context.Context, number string) error {
	if _, ok := t.merchants.Load(number); ok {
		return nil
	}
	pr, err := t.s.w.Lookup(ctx, number)
	switch {
	case wallet.ErrorCode(err) == wallet.CodeNotFound:
		return wallet.Errorf(wallet.CodeInvalid, "split: no till or paybill %s", number)
	case err != nil:
		return err
	case pr.Number != number || (pr.Kind != wallet.KindTill && pr.Kind != wallet.KindPaybill):
		return wallet.Errorf(wallet.CodeInvalid, "split: %s is not a till or paybill", number)
	}
	t.merchants.Store(number, struct{}{})
	return nil
}

// encodeSplits writes split rules as stored: "to:weight" joined by commas.
// Numbers are digits, so neither separator can occur inside a rule.
func encodeSplits(splits []Split) string {
	var b strings.Builder
	for i, sp := range splits {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(sp.To)
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(sp.Weight, 10))
	}
	return b.String()
}

// decodeSplits reads what encodeSplits wrote; it refuses anything else.
func decodeSplits(s string) ([]Split, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > SplitRulesMax {
		return nil, wallet.Errorf(wallet.CodeInternal, "stored splits: %d rules", len(parts))
	}
	out := make([]Split, len(parts))
	for i, p := range parts {
		to, w, ok := strings.Cut(p, ":")
		weight, err := strconv.ParseInt(w, 10, 64)
		if !ok || !merchantNumber(to) || err != nil || weight <= 0 || weight > SplitWeightMax || strconv.FormatInt(weight, 10) != w {
			return nil, wallet.Errorf(wallet.CodeInternal, "stored splits: malformed rule %d", i+1)
		}
		out[i] = Split{To: to, Weight: weight}
	}
	return out, nil
}

// enqueue hands op to the meter, which answers it (each of a batch's
// charges) exactly once; when it returns an error, nothing is answered.
func (t *tabs) enqueue(op *meterOp) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.stopped {
		return errMeterStopped
	}
	select {
	case t.queue <- op:
		return nil
	case <-t.stopping:
		return errMeterStopped
	}
}

// meter applies queued charges until ctx ends, then refuses new ones,
// applies those already queued, and returns.
func (t *tabs) meter(ctx context.Context) {
	for {
		select {
		case op := <-t.queue:
			t.meterBatch(t.collect(op))
		case <-ctx.Done():
			close(t.stopping) // unblocks enqueuers waiting on a full queue
			t.mu.Lock()       // waits for enqueues in progress
			t.stopped = true
			t.mu.Unlock()
			for {
				select {
				case op := <-t.queue:
					t.meterBatch(t.collect(op))
				default:
					return
				}
			}
		}
	}
}

// collect returns first's charges and those of the ops waiting, up to
// meterBatchMax charges. A batch is never split: with one, a group commit
// may take up to meterBatchMax + BatchChargesMax - 1 charges.
func (t *tabs) collect(first *meterOp) []*meterOp {
	ops := first.appendTo(nil)
	for len(ops) < meterBatchMax {
		select {
		case op := <-t.queue:
			ops = op.appendTo(ops)
		default:
			return ops
		}
	}
	return ops
}

// appendTo appends op's charges to ops: op itself, or its batch's.
func (op *meterOp) appendTo(ops []*meterOp) []*meterOp {
	if op.batch == nil {
		return append(ops, op)
	}
	for i := range op.batch {
		ops = append(ops, &op.batch[i])
	}
	return ops
}

// meterBatch applies ops in one transaction and answers each of them; it
// then schedules the settlement of the tabs that reached the threshold.
func (t *tabs) meterBatch(ops []*meterOp) {
	ctx, cancel := context.WithTimeout(context.Background(), meterCommitTimeout)
	defer cancel()
	ids := make([]string, 0, 8)
	keys := make([]ChargeKey, len(ops))
	for i, op := range ops {
		ids = append(ids, op.req.Tab)
		keys[i] = ChargeKey{Tab: op.req.Tab, Key: op.req.Key}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)

	var results []meterResult
	var due []string
	err := t.s.st.Meter(ctx, func(tx MeterTx) error {
		st, err := tx.Load(ids, keys)
		if err != nil {
			return err
		}
		b := newMeterState(t, st, ids)
		results = make([]meterResult, len(ops))
		for i, op := range ops {
			c, tab, err := b.apply(op)
			results[i] = meterResult{charge: c, err: err}
			if tab != nil {
				results[i].charged, results[i].cap = tab.Charged, tab.Cap
			}
		}
		due = b.due()
		if len(b.write.Charges) == 0 {
			return nil
		}
		return tx.Save(&b.write)
	})
	if err != nil {
		t.s.log.Error("tab meter batch failed", "charges", len(ops), "err", err)
		failed := &wallet.Error{Code: wallet.CodeUnavailable, Message: "the charge could not be recorded; retry with the same key"}
		for _, op := range ops {
			op.done <- meterResult{err: failed}
		}
		return
	}
	for i, op := range ops {
		op.done <- results[i]
	}
	for _, id := range due {
		t.schedule(id)
	}
}

// meterState is one meter batch: the tabs it touches, loaded and locked in
// its transaction and authoritative for its duration.
type meterState struct {
	t       *tabs
	now     time.Time
	tabs    map[string]*TabRecord
	payees  map[string][]TabPayee
	charges map[ChargeKey]*ChargeRecord
	ids     []string        // the batch's tabs, sorted
	touched map[string]bool // tabs charged in this batch
	write   MeterWrite
}

func newMeterState(t *tabs, st *MeterState, ids []string) *meterState {
	return &meterState{t: t, now: t.now(), tabs: st.Tabs, payees: st.Payees, charges: st.Charges, ids: ids,
		touched: map[string]bool{}}
}

// chargeable says why tab takes no charge at now, or nil.
func chargeable(tab *TabRecord, now time.Time) *wallet.Error {
	switch {
	case tab.CloseKey != "" || tab.Status == TabClosed:
		return wallet.Errorf(wallet.CodeInvalidState, "this tab is closed")
	case tab.Status == TabPending:
		return wallet.Errorf(wallet.CodeInvalidState, "the customer has not approved this tab yet")
	case tab.Status == TabDeclined:
		return wallet.Errorf(wallet.CodeInvalidState, "the customer declined this tab")
	case tab.Status == TabSuspended:
		return wallet.Errorf(wallet.CodeInvalidState, "this tab is suspended: its last settlement was refused (%s)", tab.Reason)
	case !now.Before(tab.Expires):
		return wallet.Errorf(wallet.CodeInvalidState, "this tab has expired")
	}
	return nil
}

// apply applies one charge against the batch's tabs. It returns the tab
// the charge was judged on, nil when it is not the merchant's.
func (b *meterState) apply(op *meterOp) (*Charge, *TabRecord, error) {
	req := &op.req
	tab := b.tabs[req.Tab]
	if tab == nil || tab.Merchant != op.merchant {
		return nil, nil, notFound("tab", req.Tab)
	}
	key := ChargeKey{Tab: req.Tab, Key: req.Key}
	if prior := b.charges[key]; prior != nil {
		c, err := b.replay(prior, op, tab)
		return c, tab, err
	}
	if err := chargeable(tab, b.now); err != nil {
		return nil, tab, err
	}
	payees := b.payees[tab.ID]
	var shares []int64
	if op.weights == nil {
		shares = []int64{int64(req.Amount)}
	} else {
		shares = wallet.Split(int64(req.Amount), op.weights)
	}
	added := 0
	for i, share := range shares {
		if share > 0 && payeeIndex(payees, b.payee(op, tab, i)) < 0 {
			added++
		}
	}
	if len(payees)+added > tabPayeesMax {
		return nil, tab, wallet.Errorf(wallet.CodeInvalid, "a tab pays at most %d merchants; this charge would add more", tabPayeesMax)
	}
	acc := wallet.Accrual{Cap: tab.Cap, Charged: tab.Charged, Settled: tab.Settled}
	if err := acc.Charge(req.Amount); err != nil {
		return nil, tab, err
	}
	tab.Charged, tab.Updated = acc.Charged, b.now
	b.touched[tab.ID] = true
	for i, share := range shares {
		if share == 0 {
			continue
		}
		m := b.payee(op, tab, i)
		j := payeeIndex(payees, m)
		if j < 0 {
			payees = append(payees, TabPayee{Tab: tab.ID, Merchant: m, Pos: len(payees)})
			j = len(payees) - 1
		}
		payees[j].Accrued += wallet.Micro(share)
	}
	b.payees[tab.ID] = payees
	c := &ChargeRecord{ID: newID("ch", b.now), Tab: tab.ID, Key: req.Key, Amount: req.Amount, Reference: req.Reference,
		Splits: op.splits, Charged: tab.Charged, Created: b.now}
	b.charges[key] = c
	b.write.Charges = append(b.write.Charges, *c)
	return &Charge{ID: c.ID, Tab: c.Tab, Amount: c.Amount, Reference: c.Reference, Splits: req.Splits,
		Charged: c.Charged, Remaining: tab.Cap - c.Charged, Created: c.Created}, tab, nil
}

// payee is the merchant of share i of op: its i-th split rule's, or the
// tab's own.
func (b *meterState) payee(op *meterOp, tab *TabRecord, i int) string {
	if op.weights == nil {
		return tab.Merchant
	}
	return op.req.Splits[i].To
}

// replay answers a repeated key with the charge it first made.
func (b *meterState) replay(prior *ChargeRecord, op *meterOp, tab *TabRecord) (*Charge, error) {
	if prior.Amount != op.req.Amount || prior.Reference != op.req.Reference || prior.Splits != op.splits {
		return nil, wallet.Errorf(wallet.CodeConflict, "this idempotency key was used for a different charge")
	}
	splits, err := decodeSplits(prior.Splits)
	if err != nil {
		return nil, err
	}
	return &Charge{ID: prior.ID, Tab: prior.Tab, Amount: prior.Amount, Reference: prior.Reference, Splits: splits,
		Charged: prior.Charged, Remaining: tab.Cap - prior.Charged, Created: prior.Created, Replayed: true}, nil
}

// due fills the batch's writes of tabs and payees and returns the touched
// tabs whose unsettled total reached the settlement threshold.
func (b *meterState) due() []string {
	threshold := b.t.s.cur.Micro(b.t.s.cfg.SettleThreshold)
	var due []string
	for _, id := range b.ids {
		if !b.touched[id] {
			continue
		}
		tab := b.tabs[id]
		b.write.Tabs = append(b.write.Tabs, tab)
		for _, p := range b.payees[id] {
			b.write.Payees = append(b.write.Payees, p)
		}
		if tab.PendingSeq == 0 && tab.Charged-tab.Settled >= threshold {
			due = append(due, id)
		}
	}
	return due
}
