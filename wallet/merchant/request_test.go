package merchant_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

func TestRequestPaymentValidation(t *testing.T) {
	f := newMerchantFixture(t)
	p := f.merchant("Duka", false)
	cust := f.customer(0)
	basic := fixturePhone()
	_, err := f.w.Register(f.ctx, basic, "Basic", wallet.TierBasic, "")
	f.must(err)
	agentNo, err := f.w.Lookup(f.ctx, f.agent)
	f.must(err)
	opKey, err := f.s.CreateAPIKey(f.ctx, "", true, nil)
	f.must(err)
	op, err := f.s.Authenticate(f.ctx, opKey.Secret)
	f.must(err)
	tests := []struct {
		name        string
		p           merchant.Principal
		idem, phone string
		amount      int64
		ref, desc   string
		code        wallet.Code
	}{
		{"ok", p, "k1", cust, 1000, "INV-1", "two sodas", ""},
		{"national phone", p, "k2", "07" + cust[5:], 1000, "INV-2", "", ""},
		{"no key", p, "", cust, 1000, "INV-1", "", wallet.CodeInvalid},
		{"long key", p, strings.Repeat("k", 65), cust, 1000, "INV-1", "", wallet.CodeInvalid},
		{"key with a space", p, "a b", cust, 1000, "INV-1", "", wallet.CodeInvalid},
		{"bad phone", p, "k3", "12", 1000, "INV-1", "", wallet.CodeInvalidPhone},
		{"unknown customer", p, "k3", fixturePhone(), 1000, "INV-1", "", wallet.CodeNotFound},
		{"an agent's phone", p, "k3", agentNo.Phone, 1000, "INV-1", "", wallet.CodeWrongKind},
		{"zero", p, "k3", cust, 0, "INV-1", "", wallet.CodeInvalidAmount},
		{"negative", p, "k3", cust, -5, "INV-1", "", wallet.CodeInvalidAmount},
		{"over the tier limit", p, "k3", basic, 50_000_01, "INV-1", "", wallet.CodeLimitExceeded},
		{"no reference", p, "k3", cust, 1000, "", "", wallet.CodeInvalid},
		{"long reference", p, "k3", cust, 1000, strings.Repeat("r", 33), "", wallet.CodeInvalid},
		{"control character", p, "k3", cust, 1000, "INV\n1", "", wallet.CodeInvalid},
		// TestSecurityNamesRefuseControlCharacters: what a customer reads.
		{"bidi override in the description", p, "k3", cust, 1000, "INV-1", "Refund \u202eGNP", wallet.CodeInvalid},
		{"bidi isolate in the reference", p, "k3", cust, 1000, "INV\u2067-1", "", wallet.CodeInvalid},
		{"zero-width space in the description", p, "k3", cust, 1000, "INV-1", "two\u200bsodas", wallet.CodeInvalid},
		{"long description", p, "k3", cust, 1000, "INV-1", strings.Repeat("d", 101), wallet.CodeInvalid},
		{"invalid UTF-8", p, "k3", cust, 1000, "INV-1", "\xff", wallet.CodeInvalid},
		{"operator key", op, "k3", cust, 1000, "INV-1", "", wallet.CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := f.s.RequestPayment(f.ctx, tt.p, tt.idem, tt.phone, tt.amount, tt.ref, tt.desc)
			wantCode(t, err, tt.code)
			if err == nil && (r.Status != merchant.RequestPending || r.Phone != cust || r.Merchant != p.Merchant || r.MerchantName != "Duka" ||
				!r.Expires.Equal(r.Created.Add(merchant.DefaultRequestTTL))) {
				t.Errorf("got %+v", r)
			}
		})
	}
}

func TestRequestPaymentIdempotent(t *testing.T) {
	f := newMerchantFixture(t)
	p, other := f.merchant("Duka", false), f.merchant("Soko", false)
	cust := f.customer(0)
	first, err := f.s.RequestPayment(f.ctx, p, "order-7", cust, 1500, "ORDER-7", "")
	f.must(err)
	again, err := f.s.RequestPayment(f.ctx, p, "order-7", "0"+cust[4:], 1500, "ORDER-7", "")
	f.must(err)
	if again.ID != first.ID {
		t.Errorf("replay made %s, want the first request %s", again.ID, first.ID)
	}
	_, err = f.s.RequestPayment(f.ctx, p, "order-7", cust, 1501, "ORDER-7", "")
	wantCode(t, err, wallet.CodeConflict)
	// Another merchant's key space is its own.
	theirs, err := f.s.RequestPayment(f.ctx, other, "order-7", cust, 1501, "ORDER-7", "")
	f.must(err)
	if theirs.ID == first.ID {
		t.Error("two merchants' keys collided")
	}
	if evs := f.events(merchant.EventRequestCreated); len(evs) != 2 || evs[0].Phone != cust || evs[0].Language != "sw" || evs[0].Merchant != p.Merchant {
		t.Fatalf("created events: %+v", evs)
	}

	got, err := f.s.PaymentRequest(f.ctx, p, first.ID)
	f.must(err)
	if got.ID != first.ID || got.Amount != 1500 {
		t.Errorf("get: %+v", got)
	}
	_, err = f.s.PaymentRequest(f.ctx, other, first.ID)
	wantCode(t, err, wallet.CodeNotFound)
	_, err = f.s.PaymentRequest(f.ctx, p, "pr_nonsense")
	wantCode(t, err, wallet.CodeNotFound)
	_, err = f.s.PaymentRequest(f.ctx, p, merchant.NewObjectID("pr", time.Now()))
	wantCode(t, err, wallet.CodeNotFound)
}

func TestApproveRequest(t *testing.T) {
	f := newMerchantFixture(t)
	till, paybill := f.merchant("Duka", false), f.merchant("Umeme", true)
	rich, poor := f.customer(100_000), f.customer(500)

	// Right PIN: paid once, with the reference.
	r, err := f.s.RequestPayment(f.ctx, paybill, "k1", rich, 20_000, "ACC-42", "power bill")
	f.must(err)
	as, err := f.s.Approvals(f.ctx, rich)
	f.must(err)
	if len(as) != 1 || as[0].ID != r.ID || as[0].Kind != merchant.ApprovalRequest || as[0].Amount != 20_000 || as[0].MerchantName != "Umeme" {
		t.Fatalf("approvals: %+v", as)
	}
	res, err := f.s.Approve(f.ctx, rich, r.ID, fixturePIN)
	f.must(err)
	if res.Transfer == nil || res.Transfer.Transfer.Kind != wallet.TransferPaybill || res.Transfer.Transfer.Reference != "ACC-42" {
		t.Fatalf("approve: %+v", res)
	}
	got, err := f.s.PaymentRequest(f.ctx, paybill, r.ID)
	f.must(err)
	if got.Status != merchant.RequestPaid || got.Transaction != res.Transfer.Transfer.Ref {
		t.Fatalf("after approval: %+v", got)
	}
	_, err = f.s.Approve(f.ctx, rich, r.ID, fixturePIN)
	wantCode(t, err, wallet.CodeInvalidState)
	if f.balance(rich) != 80_000 {
		t.Errorf("customer balance %d, want 80000", f.balance(rich))
	}
	if evs := f.events(merchant.EventRequestPaid); len(evs) != 1 || !strings.Contains(string(evs[0].Data), res.Transfer.Transfer.Ref) {
		t.Errorf("paid events: %+v", evs)
	}
	if as, _ := f.s.Approvals(f.ctx, rich); len(as) != 0 {
		t.Errorf("approvals after paying: %+v", as)
	}

	// Wrong PIN: still pending, tries left said.
	r2, err := f.s.RequestPayment(f.ctx, till, "k2", rich, 1_000, "T-2", "")
	f.must(err)
	_, err = f.s.Approve(f.ctx, rich, r2.ID, "9999")
	wantCode(t, err, wallet.CodePINInvalid)
	var we *wallet.Error
	if e, ok := err.(*wallet.Error); ok {
		we = e
	}
	if we == nil || we.TriesLeft == nil {
		t.Fatalf("wrong PIN error %#v carries no tries left", err)
	}
	got, err = f.s.PaymentRequest(f.ctx, till, r2.ID)
	f.must(err)
	if got.Status != merchant.RequestPending {
		t.Fatalf("after a wrong PIN: %+v", got)
	}
	if _, err := f.s.Approve(f.ctx, rich, r2.ID, fixturePIN); err != nil {
		t.Fatalf("approve after a wrong PIN: %v", err)
	}

	// Another customer cannot see or approve it.
	r3, err := f.s.RequestPayment(f.ctx, till, "k3", poor, 1_000, "T-3", "")
	f.must(err)
	_, err = f.s.Approve(f.ctx, rich, r3.ID, fixturePIN)
	wantCode(t, err, wallet.CodeNotFound)
	_, err = f.s.Decline(f.ctx, rich, r3.ID, fixturePIN)
	wantCode(t, err, wallet.CodeNotFound)

	// Insufficient funds: failed, final.
	_, err = f.s.Approve(f.ctx, poor, r3.ID, fixturePIN)
	wantCode(t, err, wallet.CodeInsufficientFunds)
	got, err = f.s.PaymentRequest(f.ctx, till, r3.ID)
	f.must(err)
	if got.Status != merchant.RequestFailed || got.Reason != string(wallet.CodeInsufficientFunds) {
		t.Fatalf("after a refusal: %+v", got)
	}
	_, err = f.s.Approve(f.ctx, poor, r3.ID, fixturePIN)
	wantCode(t, err, wallet.CodeInvalidState)
	if evs := f.events(merchant.EventRequestFailed); len(evs) != 1 {
		t.Errorf("failed events: %+v", evs)
	}

	// Unknown ids.
	_, err = f.s.Approve(f.ctx, rich, "xx_1", fixturePIN)
	wantCode(t, err, wallet.CodeNotFound)
	_, err = f.s.Approve(f.ctx, rich, "pr_1", fixturePIN)
	wantCode(t, err, wallet.CodeNotFound)
	_, err = f.s.Approve(f.ctx, rich, r2.ID, "")
	wantCode(t, err, wallet.CodeInvalid)
	f.checkLedger()
}

// TestApproveConcurrently approves one request from many goroutines at
// once: it is paid exactly once.
func TestApproveConcurrently(t *testing.T) {
	f := newMerchantFixture(t)
	p := f.merchant("Duka", false)
	cust := f.customer(100_000)
	r, err := f.s.RequestPayment(f.ctx, p, "k", cust, 10_000, "R", "")
	f.must(err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	paid := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.s.Approve(f.ctx, cust, r.ID, fixturePIN)
			switch wallet.ErrorCode(err) {
			case "":
				mu.Lock()
				paid++
				mu.Unlock()
			case wallet.CodeInFlight, wallet.CodeInvalidState:
			default:
				t.Errorf("approve: %v", err)
			}
		}()
	}
	wg.Wait()
	if paid != 1 || f.balance(cust) != 90_000 {
		t.Fatalf("%d approvals paid; balance %d, want 1 and 90000", paid, f.balance(cust))
	}
	f.checkLedger()
}

func TestDeclineAndExpire(t *testing.T) {
	f := newMerchantFixture(t)
	p := f.merchant("Duka", false)
	cust := f.customer(100_000)
	r1, err := f.s.RequestPayment(f.ctx, p, "k1", cust, 1_000, "R1", "")
	f.must(err)
	r2, err := f.s.RequestPayment(f.ctx, p, "k2", cust, 2_000, "R2", "")
	f.must(err)

	a, err := f.s.Decline(f.ctx, cust, r1.ID, fixturePIN)
	f.must(err)
	if a.ID != r1.ID {
		t.Errorf("declined %+v", a)
	}
	_, err = f.s.Decline(f.ctx, cust, r1.ID, fixturePIN)
	wantCode(t, err, wallet.CodeInvalidState)
	_, err = f.s.Approve(f.ctx, cust, r1.ID, fixturePIN)
	wantCode(t, err, wallet.CodeInvalidState)
	if got, _ := f.s.PaymentRequest(f.ctx, p, r1.ID); got.Status != merchant.RequestDeclined {
		t.Errorf("after decline: %+v", got)
	}

	// The sweeper expires r2 once its time has passed.
	merchant.SweepMerchant(f.s, f.ctx)
	if got, _ := f.ms.PaymentRequest(f.ctx, r2.ID); got.Status != merchant.RequestPending {
		t.Fatalf("expired early: %+v", got)
	}
	f.clock.Add(merchant.DefaultRequestTTL + time.Second)
	merchant.SweepMerchant(f.s, f.ctx)
	got, err := f.ms.PaymentRequest(f.ctx, r2.ID)
	f.must(err)
	if got.Status != merchant.RequestExpired {
		t.Fatalf("after the sweep: %+v", got)
	}
	_, err = f.s.Approve(f.ctx, cust, r2.ID, fixturePIN)
	if wallet.ErrorCode(err) != wallet.CodeInvalidState || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("approving an expired request: %v", err)
	}
	if n := len(f.events(merchant.EventRequestDeclined)); n != 1 {
		t.Errorf("%d declined events, want 1", n)
	}
	if n := len(f.events(merchant.EventRequestExpired)); n != 1 {
		t.Errorf("%d expired events, want 1", n)
	}
	if f.balance(cust) != 100_000 {
		t.Errorf("balance %d: money moved", f.balance(cust))
	}
}

// TestExpiryWithoutSweeper: a request read after its time is expired by
// the read, before any sweep.
func TestExpiryWithoutSweeper(t *testing.T) {
	f := newMerchantFixture(t)
	p := f.merchant("Duka", false)
	cust := f.customer(100_000)
	r, err := f.s.RequestPayment(f.ctx, p, "k", cust, 1_000, "R", "")
	f.must(err)
	f.clock.Add(merchant.DefaultRequestTTL)
	if as, _ := f.s.Approvals(f.ctx, cust); len(as) != 0 {
		t.Errorf("an expired request is listed: %+v", as)
	}
	got, err := f.s.PaymentRequest(f.ctx, p, r.ID)
	f.must(err)
	if got.Status != merchant.RequestExpired {
		t.Fatalf("got %+v, want expired", got)
	}
}

// TestApprovingRecovery leaves requests approving as a crash would, at
// each point of the payment, and has the sweeper settle them from the
// wallet's answer for their key.
func TestApprovingRecovery(t *testing.T) {
	f := newMerchantFixture(t)
	p := f.merchant("Duka", false)
	cust, poor := f.customer(100_000), f.customer(0)
	// crash moves r to approving (attempt 1) as approveRequest does, then
	// optionally posts the payment, and "crashes".
	n := 0
	crash := func(phone string, post bool) *merchant.RequestRecord {
		t.Helper()
		n++
		pr, err := f.s.RequestPayment(f.ctx, p, fmt.Sprint("k-", n), phone, 1_000, "R", "")
		f.must(err)
		r, err := f.ms.PaymentRequest(f.ctx, pr.ID)
		f.must(err)
		next := *r
		next.Status, next.Attempt, next.Updated = merchant.RequestApproving, 1, f.clock.Now().UTC()
		ok, err := f.ms.UpdatePaymentRequest(f.ctx, &next, merchant.RequestPending, 0, nil)
		f.must(err)
		if !ok {
			t.Fatal("could not move the request to approving")
		}
		if post {
			_, err := f.w.Transfer(f.ctx, wallet.TransferRequest{Key: merchant.PaymentRequestKey(r.ID, 1), Kind: wallet.TransferTill,
				From: phone, To: p.Merchant, Amount: 1_000, Reference: "R", PIN: fixturePIN})
			if wallet.ErrorCode(err) != "" && wallet.ErrorCode(err) != wallet.CodeInsufficientFunds {
				t.Fatal(err)
			}
		}
		return &next
	}
	paid := crash(cust, true)
	refused := crash(poor, true)
	unposted := crash(cust, false)

	// Within the lease nothing is touched: the payment may still be under way.
	merchant.SweepMerchant(f.s, f.ctx)
	if got, _ := f.s.PaymentRequest(f.ctx, p, paid.ID); got.Status != merchant.RequestPending { // approving shows as pending
		t.Fatalf("within the lease: %+v", got)
	}
	if got, _ := f.ms.PaymentRequest(f.ctx, paid.ID); got.Status != merchant.RequestApproving {
		t.Fatalf("within the lease: %+v", got)
	}
	_, err := f.s.Approve(f.ctx, cust, unposted.ID, fixturePIN)
	wantCode(t, err, wallet.CodeInFlight)

	f.clock.Add(merchant.LeaseDuration + time.Second)
	merchant.SweepMerchant(f.s, f.ctx)
	// A request whose time passed while it was being paid expires instead.
	late := crash(cust, false)
	f.clock.Add(merchant.DefaultRequestTTL + time.Second)
	merchant.SweepMerchant(f.s, f.ctx)
	for _, c := range []struct {
		r    *merchant.RequestRecord
		want merchant.RequestStatus
	}{{paid, merchant.RequestPaid}, {refused, merchant.RequestFailed}, {unposted, merchant.RequestExpired}, {late, merchant.RequestExpired}} {
		got, err := f.ms.PaymentRequest(f.ctx, c.r.ID)
		f.must(err)
		if got.Status != c.want {
			t.Errorf("%s: %s, want %s", c.r.ID, got.Status, c.want)
		}
	}
	if f.balance(cust) != 99_000 {
		t.Errorf("balance %d, want 99000: paid once", f.balance(cust))
	}
	if n := len(f.events(merchant.EventRequestPaid)); n != 1 {
		t.Errorf("%d paid events, want 1", n)
	}
}

// TestApprovingRecoveryUnused: a request whose payment never reached the
// wallet goes back to pending, and can then be approved (a new key).
func TestApprovingRecoveryUnused(t *testing.T) {
	f := newMerchantFixture(t)
	p := f.merchant("Duka", false)
	cust := f.customer(100_000)
	pr, err := f.s.RequestPayment(f.ctx, p, "k", cust, 1_000, "R", "")
	f.must(err)
	r, err := f.ms.PaymentRequest(f.ctx, pr.ID)
	f.must(err)
	next := *r
	next.Status, next.Attempt, next.Updated = merchant.RequestApproving, 1, f.clock.Now().UTC()
	if ok, err := f.ms.UpdatePaymentRequest(f.ctx, &next, merchant.RequestPending, 0, nil); err != nil || !ok {
		t.Fatal(ok, err)
	}
	f.clock.Add(merchant.LeaseDuration + time.Second)
	merchant.SweepMerchant(f.s, f.ctx)
	got, err := f.ms.PaymentRequest(f.ctx, r.ID)
	f.must(err)
	if got.Status != merchant.RequestPending || got.Attempt != 1 {
		t.Fatalf("after the sweep: %+v", got)
	}
	res, err := f.s.Approve(f.ctx, cust, r.ID, fixturePIN)
	f.must(err)
	if stored, _ := f.ms.PaymentRequest(f.ctx, r.ID); stored.Attempt != 2 || stored.Status != merchant.RequestPaid || res.Transfer == nil {
		t.Fatalf("after approving: %+v", stored)
	}
}

// Issue 11, High #1: a refund touches the merchant's payment request: the
// request shows what was refunded, and "refunded" once all of it was (it
// no longer says "paid" for money the customer has back).
func TestSecurityRefundShowsOnPaymentRequest(t *testing.T) {
	f := newMerchantFixture(t)
	till := f.merchant("Duka", false)
	rich := f.customer(100_000)
	r, err := f.s.RequestPayment(f.ctx, till, "k1", rich, 20_000, "ORDER-7", "")
	f.must(err)
	res, err := f.s.Approve(f.ctx, rich, r.ID, fixturePIN)
	f.must(err)
	ref := res.Transfer.Transfer.Ref
	// Another payment, so that the till covers a full refund (it paid a fee).
	_, err = f.w.Transfer(f.ctx, wallet.TransferRequest{Key: "float-till", Kind: wallet.TransferTill, From: rich, To: till.Merchant, Amount: 1_000, PIN: fixturePIN})
	f.must(err)
	for _, step := range []struct {
		amount       int64
		wantStatus   merchant.RequestStatus
		wantRefunded int64
		wantView     string
	}{
		{0, merchant.RequestPaid, 0, ""},
		{5_000, merchant.RequestPaid, 5_000, "50.00"},
		{15_000, merchant.RequestRefunded, 20_000, "200.00"},
	} {
		if step.amount > 0 {
			_, err := f.s.Refund(f.ctx, till, fmt.Sprintf("rf-%d", step.amount), ref, step.amount)
			f.must(err)
		}
		got, err := f.s.PaymentRequest(f.ctx, till, r.ID)
		f.must(err)
		if got.Status != step.wantStatus || got.Refunded != step.wantRefunded || got.Transaction != ref {
			t.Errorf("after refunding %d: got status %s refunded %d, want %s %d", step.amount, got.Status, got.Refunded, step.wantStatus, step.wantRefunded)
		}
		if v := merchant.ViewPaymentRequest(f.w.Config().Currency, got); v.Refunded != step.wantView || v.Status != string(step.wantStatus) {
			t.Errorf("after refunding %d: got view %s refunded %q, want %s %q", step.amount, v.Status, v.Refunded, step.wantStatus, step.wantView)
		}
	}
}
