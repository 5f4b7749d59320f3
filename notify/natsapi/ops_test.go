package natsapi

import (
	"context"
	"testing"
	"time"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/wallet"
	walletapi "github.com/kibubu/kibubu/wallet/natsapi"
)

// TestOpsService calls every operator endpoint over NATS on a real store:
// the outbox by status and phone, paged, with a start key's text withheld;
// the retry of a failed SMS, once, only with an operator and a reason;
// webhook deliveries and re-sends refused for bad input; failure rates.
func TestOpsService(t *testing.T) {
	ctx := context.Background()
	w, st, c := startOps(t)
	const a, b = "+254712000101", "+254712000102"
	if _, err := st.Record(ctx, []notify.Outgoing{
		{Key: "m1", Kind: notify.KindMessage, To: a, Language: "en", Text: "first"},
		{Key: "m2", Kind: notify.KindMessage, To: a, Language: "en", Text: "second"},
		{Key: "secret:pin:reset:1:1", Kind: notify.KindMessage, To: b, Language: "en", Text: "your start key is 123456"},
	}); err != nil {
		t.Fatal(err)
	}
	db := w.Store.Gorm().WithContext(ctx)
	if err := db.Exec(`UPDATE sms_messages SET status = ?, last_error = ? WHERE "key" IN ?`, notify.StatusFailed, "provider refused", []string{"m1", "secret:pin:reset:1:1"}).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(`UPDATE sms_messages SET status = ? WHERE "key" = ?`, notify.StatusSent, "m2").Error; err != nil {
		t.Fatal(err)
	}
	all, err := c.SMS(ctx, OpsSMSListRequest{})
	if err != nil || len(all.SMS) != 3 {
		t.Fatalf("all SMS: %+v %v", all, err)
	}
	ids := map[string]int64{}
	for _, m := range all.SMS {
		ids[m.Key] = m.ID
		if notify.IsSecret(m.Key) && m.Text != notify.RedactedText {
			t.Errorf("a start key's text is shown: %q", m.Text)
		}
	}
	for _, tc := range []struct {
		name string
		q    OpsSMSListRequest
		n    int
		next bool
		code wallet.Code
	}{
		{"failed", OpsSMSListRequest{Status: notify.StatusFailed}, 2, false, ""},
		{"by phone", OpsSMSListRequest{Phone: a}, 2, false, ""},
		{"a page of one", OpsSMSListRequest{Limit: 1}, 1, true, ""},
		{"the page after", OpsSMSListRequest{Before: ids["m2"]}, 1, false, ""},
		{"unknown status", OpsSMSListRequest{Status: "lost"}, 0, false, wallet.CodeInvalid},
		{"a page too large", OpsSMSListRequest{Limit: OpsSMSPageMax + 1}, 0, false, wallet.CodeInvalid},
	} {
		p, err := c.SMS(ctx, tc.q)
		if code := wallet.ErrorCode(err); code != tc.code || (err == nil && (len(p.SMS) != tc.n || (p.Next != 0) != tc.next)) {
			t.Errorf("%s: %+v %v, want %d SMS (more: %v), code %q", tc.name, p, err, tc.n, tc.next, tc.code)
		}
	}
	op := func(actor, reason string) context.Context {
		return walletapi.WithOperator(ctx, walletapi.Operator{Actor: actor, Reason: reason})
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		id   int64
		code wallet.Code
	}{
		{"no operator", ctx, ids["m1"], wallet.CodeForbidden},
		{"no reason", op("support@example.org", ""), ids["m1"], wallet.CodeForbidden},
		{"a sent SMS", op("support@example.org", "customer called"), ids["m2"], wallet.CodeInvalidState},
		{"a start key", op("support@example.org", "customer called"), ids["secret:pin:reset:1:1"], wallet.CodeInvalidState},
		{"unknown", op("support@example.org", "customer called"), 999_999, wallet.CodeNotFound},
		{"the failed one", op("support@example.org", "customer called"), ids["m1"], ""},
		{"again", op("support@example.org", "customer called"), ids["m1"], wallet.CodeInvalidState},
	} {
		m, err := c.RetrySMS(tc.ctx, tc.id)
		if code := wallet.ErrorCode(err); code != tc.code || (err == nil && m.Status != notify.StatusPending) {
			t.Errorf("retry %s: %+v %v, want code %q", tc.name, m, err, tc.code)
		}
	}
	if p, _ := c.SMS(ctx, OpsSMSListRequest{Status: notify.StatusPending}); len(p.SMS) != 1 || p.SMS[0].ID != ids["m1"] {
		t.Errorf("pending after the retries: %+v, want m1 alone", p)
	}
	for _, tc := range []struct {
		name string
		call func() error
		code wallet.Code
	}{
		{"deliveries of no merchant", func() error { _, err := c.Deliveries(ctx, OpsDeliveriesRequest{}); return err }, wallet.CodeInvalid},
		{"deliveries of a bad status", func() error {
			_, err := c.Deliveries(ctx, OpsDeliveriesRequest{Merchant: "m1", Status: "lost"})
			return err
		}, wallet.CodeInvalid},
		{"deliveries of a merchant with none", func() error {
			r, err := c.Deliveries(ctx, OpsDeliveriesRequest{Merchant: "m1"})
			if err == nil && len(r.Deliveries) != 0 {
				t.Errorf("deliveries: %+v", r)
			}
			return err
		}, ""},
		{"resend without an operator", func() error { _, err := c.Resend(ctx, "m1", "whd_x"); return err }, wallet.CodeForbidden},
		{"resend of an unknown delivery", func() error { _, err := c.Resend(op("s@example.org", "r"), "m1", "whd_x"); return err }, wallet.CodeNotFound},
		{"no days", func() error { _, err := c.FailureRates(ctx, time.Now(), 0); return err }, wallet.CodeInvalid},
		{"failure rates", func() error {
			today := time.Now().UTC().Truncate(24 * time.Hour)
			r, err := c.FailureRates(ctx, today, 1)
			if err == nil && (len(r.Days) != 1 || r.Days[0].SMS != 3 || r.Days[0].SMSFailed != 1) {
				t.Errorf("failure rates: %+v, want 3 SMS, 1 failed", r)
			}
			return err
		}, ""},
	} {
		if err := tc.call(); wallet.ErrorCode(err) != tc.code {
			t.Errorf("%s: %v, want code %q", tc.name, err, tc.code)
		}
	}
}
