package ops

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/notify"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	notifystore "github.com/kibubu/kibubu/notify/store"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// sms records an SMS to phone and gives it status (and a reason when it
// failed), as the notifier's senders would; it returns its id.
func (e *env) sms(phone, key, text, status string) int64 {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.notify.Record(ctx, []notify.Outgoing{{Key: key, Kind: notify.KindMessage, To: phone, Language: "en", Text: text}}); err != nil {
		e.t.Fatal(err)
	}
	reason, attempts := "", 1
	if status == notify.StatusFailed {
		reason, attempts = "carrier rejected the number", 5
	}
	if err := e.w.Store.Gorm().WithContext(ctx).Exec(`UPDATE sms_messages SET status = ?, last_error = ?, attempts = ? WHERE "key" = ?`,
		status, reason, attempts, key).Error; err != nil {
		e.t.Fatal(err)
	}
	p, err := notifyapi.NewOpsClient(e.w.Conn, 0, e.w.Prefix).SMS(ctx, notifyapi.OpsSMSListRequest{Phone: phone})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range p.SMS {
		if m.Key == key {
			return m.ID
		}
	}
	e.t.Fatalf("sms %s not recorded", key)
	return 0
}

// smsStatus is the SMS's status now.
func (e *env) smsStatus(id int64) string {
	e.t.Helper()
	m, err := e.notify.SMS(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return m.Status
}

// TestSMSPage lists the outbox by status and phone with the failure
// reasons, and retries a failed SMS once with a reason; it refuses a
// missing CSRF token or reason, a bad filter, another role, and the retry
// of a sent (or already retried) SMS with a clear message and nothing
// changed. The retry is in the wallet's audit log with its operator and
// reason.
func TestSMSPage(t *testing.T) {
	e := newEnv(t)
	phone := e.w.Customer("Wanjiru Kamau", "2580", 0)
	failed := e.sms(phone, "t-failed", "Your balance is KES 0.00", notify.StatusFailed)
	sent := e.sms(phone, "t-sent", "Welcome to Kibubu", notify.StatusSent)
	b := e.as(wallet.RoleSupport)
	p := b.get(Prefix + "/sms?status=failed")
	if p.status != http.StatusOK || !strings.Contains(p.body, "carrier rejected the number") || strings.Contains(p.body, "Welcome to Kibubu") {
		t.Fatalf("failed SMS: %d\n%s", p.status, p.body)
	}
	token := p.csrf(t)
	retry := func(id int64) string { return Prefix + "/sms/" + itoa(id) + "/retry" }
	auditor := e.as(wallet.RoleAuditor)
	for _, tc := range []struct {
		name   string
		do     func() page
		status int
		says   string
	}{
		{"by local phone", func() page { return b.get(Prefix + "/sms?phone=" + url.QueryEscape("0"+phone[4:])) }, http.StatusOK, "Welcome to Kibubu"},
		{"a malformed phone", func() page { return b.get(Prefix + "/sms?phone=07123") }, http.StatusBadRequest, text(t, "ops.sms.bad_filter")},
		{"an unknown status", func() page { return b.get(Prefix + "/sms?status=lost") }, http.StatusBadRequest, text(t, "ops.sms.bad_filter")},
		{"a bad page", func() page { return b.get(Prefix + "/sms?before=-1") }, http.StatusBadRequest, text(t, "ops.sms.bad_filter")},
		{"no CSRF token", func() page { return b.post(retry(failed), url.Values{"reason": {"customer asked"}}) }, http.StatusForbidden, text(t, "ops.forbidden.csrf")},
		{"no reason", func() page { return b.post(retry(failed), url.Values{"csrf": {token}}) }, http.StatusBadRequest, text(t, "ops.error.reason_required")},
		{"an over-long reason", func() page {
			return b.post(retry(failed), url.Values{"csrf": {token}, "reason": {strings.Repeat("x", ReasonBytesMax+1)}})
		}, http.StatusBadRequest, text(t, "ops.error.reason_long")},
		{"an auditor", func() page {
			return auditor.post(retry(failed), url.Values{"csrf": {auditor.get(Prefix + "/sms").csrf(t)}, "reason": {"x"}})
		}, http.StatusForbidden, text(t, "ops.forbidden.role")},
		{"a sent SMS", func() page { return b.post(retry(sent), url.Values{"csrf": {token}, "reason": {"customer asked"}}) }, http.StatusConflict, "only a failed SMS is sent again"},
		{"an unknown SMS", func() page { return b.post(retry(999999), url.Values{"csrf": {token}, "reason": {"customer asked"}}) }, http.StatusNotFound, text(t, "ops.notfound")},
		{"a malformed id", func() page {
			return b.post(Prefix+"/sms/x/retry", url.Values{"csrf": {token}, "reason": {"customer asked"}})
		}, http.StatusNotFound, text(t, "ops.notfound")},
	} {
		p := tc.do()
		if p.status != tc.status || !strings.Contains(p.body, tc.says) {
			t.Errorf("%s: %d, want %d saying %q:\n%s", tc.name, p.status, tc.status, tc.says, p.body)
		}
		if e.smsStatus(failed) != notify.StatusFailed || e.smsStatus(sent) != notify.StatusSent {
			t.Fatalf("%s: the SMS changed: %s, %s", tc.name, e.smsStatus(failed), e.smsStatus(sent))
		}
	}
	p = b.post(retry(failed), url.Values{"csrf": {token}, "reason": {"customer changed SIM"}})
	if p.status != http.StatusSeeOther || e.smsStatus(failed) != notify.StatusPending {
		t.Fatalf("retry: %d %s, SMS %s\n%s", p.status, p.location, e.smsStatus(failed), p.body)
	}
	if p := b.get(p.location); !strings.Contains(p.body, text(t, "ops.sms.retried")) {
		t.Errorf("the page does not say the SMS is queued")
	}
	if p := b.post(retry(failed), url.Values{"csrf": {token}, "reason": {"again"}}); p.status != http.StatusConflict || !strings.Contains(p.body, "pending, not failed") {
		t.Errorf("retry twice: %d\n%s", p.status, p.body)
	}
	recs, err := e.client.AuditLog(context.Background(), natsapi.AuditRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Each retry asked of the notifier is noted twice: requested, then its
	// outcome; one refused before (no reason, no token, another role) is not.
	var got []string
	for _, r := range recs {
		if r.Action == "ops.note" && r.Outcome == wallet.AuditRequested {
			var d struct{ Kind, Status string }
			if err := json.Unmarshal([]byte(r.Detail), &d); err != nil {
				t.Fatalf("detail %q: %v", r.Detail, err)
			}
			got = append(got, strings.Join([]string{r.Actor, d.Kind, r.Target, d.Status, r.Reason}, " "))
		}
	}
	note := func(id int64, status, reason string) string {
		return "support@example.org sms.retry " + itoa(id) + " " + status + " " + reason
	}
	want := []string{note(sent, "requested", "customer asked"), note(sent, "invalid_state", "customer asked"),
		note(999999, "requested", "customer asked"), note(999999, "not_found", "customer asked"),
		note(failed, "requested", "customer changed SIM"), note(failed, "ok", "customer changed SIM"),
		note(failed, "requested", "again"), note(failed, "invalid_state", "again")}
	if !slices.Equal(got, want) {
		t.Errorf("audit log:\n got %q\nwant %q", got, want)
	}
}

// TestWebhooksPage lists a merchant's deliveries with their failures and
// re-sends a failed one once; a pending one is refused, as are bad input
// and another role.
func TestWebhooksPage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const till = "555001"
	if _, err := e.notify.SetWebhook(ctx, till, "https://shop.example/hooks", false); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(merchant.Event{ID: "evt_1", Type: merchant.EventPaymentReceived, Merchant: till, Created: time.Now().UTC()})
	if _, _, err := e.notify.RecordBatch(ctx, nil, []notify.OutgoingWebhook{{Merchant: till, Event: "evt_1", Type: merchant.EventPaymentReceived, Payload: body, Seq: 1}}); err != nil {
		t.Fatal(err)
	}
	db := e.w.Store.Gorm().WithContext(ctx)
	if err := db.Exec(`UPDATE webhook_deliveries SET status = ? WHERE merchant = ?`, string(notify.DeliveryFailed), till).Error; err != nil {
		t.Fatal(err)
	}
	ds, _, err := e.notify.Deliveries(ctx, notifyStoreFilter(till))
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries %v %v", ds, err)
	}
	id := ds[0].ID
	b := e.as(wallet.RoleSupport)
	hooks := Prefix + "/merchants/" + till + "/webhooks"
	p := b.get(hooks + "?status=failed")
	if p.status != http.StatusOK || !strings.Contains(p.body, id) || !strings.Contains(p.body, "evt_1") {
		t.Fatalf("webhooks page: %d\n%s", p.status, p.body)
	}
	token := p.csrf(t)
	resend := hooks + "/" + id + "/resend"
	for _, tc := range []struct {
		name   string
		do     func() page
		status int
		says   string
	}{
		{"a bad status", func() page { return b.get(hooks + "?status=lost") }, http.StatusBadRequest, "status must be"},
		{"no CSRF token", func() page { return b.post(resend, url.Values{"reason": {"merchant asked"}}) }, http.StatusForbidden, text(t, "ops.forbidden.csrf")},
		{"no reason", func() page { return b.post(resend, url.Values{"csrf": {token}}) }, http.StatusBadRequest, text(t, "ops.error.reason_required")},
		{"a malformed delivery", func() page { return b.post(hooks+"/whd_x/resend", url.Values{"csrf": {token}, "reason": {"r"}}) }, http.StatusNotFound, text(t, "ops.notfound")},
		{"another merchant's", func() page {
			return b.post(Prefix+"/merchants/555002/webhooks/"+id+"/resend", url.Values{"csrf": {token}, "reason": {"r"}})
		}, http.StatusNotFound, text(t, "ops.notfound")},
	} {
		p := tc.do()
		if p.status != tc.status || !strings.Contains(p.body, tc.says) {
			t.Errorf("%s: %d, want %d saying %q:\n%s", tc.name, p.status, tc.status, tc.says, p.body)
		}
	}
	if ds, _, _ := e.notify.Deliveries(ctx, notifyStoreFilter(till)); ds[0].Status != notify.DeliveryFailed {
		t.Fatalf("the refusals changed the delivery: %s", ds[0].Status)
	}
	if p := b.post(resend, url.Values{"csrf": {token}, "reason": {"merchant fixed their endpoint"}}); p.status != http.StatusSeeOther {
		t.Fatalf("resend: %d\n%s", p.status, p.body)
	}
	if ds, _, _ := e.notify.Deliveries(ctx, notifyStoreFilter(till)); ds[0].Status != notify.DeliveryPending {
		t.Errorf("after the re-send: %s, want pending", ds[0].Status)
	}
	if p := b.post(resend, url.Values{"csrf": {token}, "reason": {"again"}}); p.status != http.StatusConflict || !strings.Contains(p.body, "still pending") {
		t.Errorf("resend twice: %d\n%s", p.status, p.body)
	}
}

// TestNotifierFigures shows an account's latest SMS on its page, with a
// start key's text withheld, and charts the day's SMS failure rate on the
// dashboard; when the notifier does not answer, both pages stay up and say
// so, and the outbox says so.
func TestNotifierFigures(t *testing.T) {
	e := newEnv(t)
	phone := e.w.Customer("Baraka Otieno", "2580", 0)
	e.sms(phone, "a-1", "You received KES 50.00", notify.StatusDelivered)
	e.sms(phone, "secret:pin:reset:9:9", "Your start key is 482913", notify.StatusPending)
	e.sms(phone, "a-2", "Your balance is KES 0.00", notify.StatusFailed)
	e.sms(phone, "a-3", "Your balance is KES 0.00", notify.StatusUndelivered)
	b := e.as(wallet.RoleAuditor) // reads accounts and the dashboard
	acct := Prefix + "/account/" + url.PathEscape(phone)
	p := b.get(acct)
	if p.status != http.StatusOK || !strings.Contains(p.body, text(t, "ops.account.sms")) || !strings.Contains(p.body, "You received KES 50.00") {
		t.Fatalf("account page: %d\n%s", p.status, p.body)
	}
	if strings.Contains(p.body, "482913") || !strings.Contains(p.body, notify.RedactedText) {
		t.Errorf("the start key's text is on the page")
	}
	p = b.get(Prefix + "/dashboard")
	i := strings.Index(p.body, `<figure id="chart-failures"`)
	if p.status != http.StatusOK || i < 0 {
		t.Fatalf("dashboard: %d\n%s", p.status, p.body)
	}
	// 2 of the day's 4 SMS failed (failed, undelivered).
	if fig := p.body[i : i+strings.Index(p.body[i:], "</figure>")]; !strings.Contains(fig, "<svg") || !strings.Contains(fig, "50.00%") {
		t.Errorf("the failure chart does not show 50.00%%:\n%s", fig)
	}
	e.opsSvc.Stop()
	unavailable := text(t, "ops.notify.unavailable")
	if p := b.get(acct); p.status != http.StatusOK || !strings.Contains(p.body, "Baraka Otieno") || !strings.Contains(p.body, unavailable) {
		t.Errorf("the account with the notifier down: %d\n%s", p.status, p.body)
	}
	if p := b.get(Prefix + "/dashboard"); p.status != http.StatusOK || !strings.Contains(p.body, `id="circulation"`) || !strings.Contains(p.body, unavailable) {
		t.Errorf("the dashboard with the notifier down: %d\n%s", p.status, p.body)
	}
	if p := b.get(Prefix + "/sms"); p.status != http.StatusServiceUnavailable || !strings.Contains(p.body, unavailable) {
		t.Errorf("the outbox with the notifier down: %d", p.status)
	}
}

func notifyStoreFilter(merchant string) notifystore.DeliveryFilter {
	return notifystore.DeliveryFilter{Merchant: merchant}
}
