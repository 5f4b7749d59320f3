package ops

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kibubu/kibubu/gateway/ops/chart"
	"github.com/kibubu/kibubu/notify"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// The notifier's pages: the SMS outbox (sms.go), a merchant's webhook
// deliveries (webhooks.go), the SMS of an account (its page) and the
// failure rates (the dashboard). They ask the notifier's operator service
// (notify.ops.v1.*, a Notifier); the two actions, an SMS retry and a
// webhook re-send, are first noted in the wallet's audit log
// (Wallet.Note: the operator's session and reason), then asked for. When
// the notifier does not answer, the page says so; the rest of the
// back-office does not depend on it.

// Notifier is what the back-office asks the notifier; *notifyapi.OpsClient
// is one.
type Notifier interface {
	SMS(ctx context.Context, q notifyapi.OpsSMSListRequest) (*notifyapi.OpsSMSPage, error)
	RetrySMS(ctx context.Context, id int64) (*notify.Stored, error)
	Deliveries(ctx context.Context, q notifyapi.OpsDeliveriesRequest) (*notify.DeliveriesReply, error)
	Resend(ctx context.Context, merchant, id string) (*notify.Delivery, error)
	FailureRates(ctx context.Context, from time.Time, days int) (*notifyapi.OpsFailureRatesReply, error)
	Transfer(ctx context.Context, q notifyapi.OpsTransferRequest) (*notifyapi.OpsTransferReply, error) // transfer.go
}

var _ Notifier = (*notifyapi.OpsClient)(nil)

const (
	// smsPageShown is how many SMS the outbox page shows at once.
	smsPageShown = 50
	// accountSMSShown is how many of an account's latest SMS its page shows.
	accountSMSShown = 10
)

// smsStatuses are the outbox page's filters, in the order an SMS moves
// through them.
var smsStatuses = []string{notify.StatusPending, notify.StatusSending, notify.StatusAccepted, notify.StatusQueued,
	notify.StatusSent, notify.StatusDelivered, notify.StatusUndelivered, notify.StatusFailed}

// smsData is the outbox page's data.
type smsData struct {
	Statuses      []string
	Status, Phone string // the filters as typed
	Page          *notifyapi.OpsSMSPage
	Next          string // the next page's URL; empty on the last
	Reason        string // the reason typed, kept when a retry is refused
}

// notifier returns the configured Notifier, or nil and the page's error.
func (s *Server) notifier(v *view) Notifier {
	if s.cfg.Notifier == nil {
		v.status, v.Error = http.StatusServiceUnavailable, v.T("ops.notify.none")
	}
	return s.cfg.Notifier
}

// notifierError shows the notifier's refusal, or that it did not answer.
func (v *view) notifierError(err error) {
	v.walletError(err)
	if c := wallet.ErrorCode(err); c == wallet.CodeUnavailable || c == wallet.CodeInternal || c == "" {
		v.Error = v.T("ops.notify.unavailable")
	}
}

func (s *Server) sms(w http.ResponseWriter, r *http.Request, v *view) {
	if r.URL.Query().Get("done") == "retried" {
		v.Notice = v.T("ops.sms.retried")
	}
	s.smsPage(w, r, v)
}

// smsPage lists the outbox, newest first, by the status and phone the
// query gives, a page at a time.
func (s *Server) smsPage(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	d := &smsData{Statuses: smsStatuses, Status: q.Get("status"), Phone: strings.TrimSpace(q.Get("phone")), Reason: r.PostFormValue("reason")}
	v.Data = d
	req := notifyapi.OpsSMSListRequest{Status: d.Status, Limit: smsPageShown}
	bad := d.Status != "" && !slices.Contains(smsStatuses, d.Status)
	if d.Phone != "" && !bad {
		p, err := wallet.NormalizePhone(d.Phone, s.cfg.Region)
		bad = err != nil
		req.Phone = p
	}
	if b := q.Get("before"); b != "" && !bad {
		n, err := strconv.ParseInt(b, 10, 64)
		bad = err != nil || n <= 0
		req.Before = n
	}
	if bad {
		if v.Error == "" {
			v.formError("ops.sms.bad_filter")
		}
		s.render(w, "sms", v)
		return
	}
	n := s.notifier(v)
	if n == nil {
		s.render(w, "sms", v)
		return
	}
	page, err := n.SMS(r.Context(), req)
	if err != nil {
		if v.Error == "" {
			v.notifierError(err)
		}
		s.render(w, "sms", v)
		return
	}
	d.Page = page
	if page.Next != 0 {
		next := url.Values{"before": {strconv.FormatInt(page.Next, 10)}}
		if d.Status != "" {
			next.Set("status", d.Status)
		}
		if d.Phone != "" {
			next.Set("phone", d.Phone)
		}
		d.Next = Prefix + "/sms?" + next.Encode()
	}
	s.render(w, "sms", v)
}

// smsRetry sends a failed SMS again: noted in the audit log with the
// operator's reason, then asked of the notifier, which refuses an SMS
// that is not failed (sent, or already retried): nothing is sent twice.
func (s *Server) smsRetry(w http.ResponseWriter, r *http.Request, v *view) {
	id, ok := v.pathID(r)
	if ok {
		_, ok = v.reason(r)
	}
	n := s.notifier(v)
	if !ok || n == nil {
		s.smsPage(w, r, v)
		return
	}
	err := s.noted(r.Context(), v, natsapi.OpsNote{Kind: "sms.retry", ID: strconv.FormatInt(id, 10)}, func() error {
		_, err := n.RetrySMS(r.Context(), id)
		return err
	})
	if err != nil {
		s.smsPage(w, r, v)
		return
	}
	http.Redirect(w, r, Prefix+"/sms?done=retried", http.StatusSeeOther)
}

// noted runs act, an action the notifier takes for the signed-in
// operator, between two notes in the wallet's audit log (Wallet.Note, with
// the operator's session and reason): the request, which must be recorded
// or act does not run, and its outcome ("ok" or the refusal's code). A
// refusal is shown on v and returned.
func (s *Server) noted(ctx context.Context, v *view, q natsapi.OpsNote, act func() error) error {
	q.Session, q.Status = v.token, "requested"
	if err := s.cfg.Wallet.Note(ctx, q); err != nil {
		v.walletError(err)
		return err
	}
	err := act()
	q.Status = "ok"
	if err != nil {
		v.notifierError(err)
		q.Status = string(cmp.Or(wallet.ErrorCode(err), wallet.CodeInternal))
	}
	if nerr := s.cfg.Wallet.Note(ctx, q); nerr != nil {
		// The action is done (or refused): the request's note shows it was
		// asked for; an operator reading the log checks its outcome by hand.
		s.log.Error("ops: outcome not noted", "kind", q.Kind, "id", q.ID, "outcome", q.Status, "err", nerr)
	}
	return err
}

// accountSMS is the SMS section of an account's page: its latest SMS, or
// why they cannot be shown.
type accountSMS struct {
	SMS     []notify.Stored
	Problem string // the notifier's silence or refusal, in words
}

// accountSMSOf returns the latest SMS to phone; a notifier that does not
// answer leaves the rest of the page as it is.
func (s *Server) accountSMSOf(ctx context.Context, v *view, phone string) *accountSMS {
	if phone == "" {
		return nil
	}
	if s.cfg.Notifier == nil {
		return &accountSMS{Problem: v.T("ops.notify.none")}
	}
	p, err := s.cfg.Notifier.SMS(ctx, notifyapi.OpsSMSListRequest{Phone: phone, Limit: accountSMSShown})
	if err != nil {
		s.log.Warn("ops: account SMS", "err", err)
		return &accountSMS{Problem: v.T("ops.notify.unavailable")}
	}
	return &accountSMS{SMS: p.SMS}
}

// failureChart is the dashboard's chart of the SMS and webhook failure
// rates on the days the report covers, or its figure saying why there is
// none: the dashboard stays up when the notifier is down.
func (s *Server) failureChart(ctx context.Context, v *view, days []time.Time, labels []string) dashboardChart {
	const id = "chart-failures"
	title := v.T("ops.dashboard.failures")
	out := dashboardChart{ID: id, Title: title}
	if len(days) == 0 {
		return out
	}
	if s.cfg.Notifier == nil {
		out.Problem = v.T("ops.notify.none")
		return out
	}
	rep, err := s.cfg.Notifier.FailureRates(ctx, days[0], len(days))
	if err != nil {
		s.log.Warn("ops: failure rates", "err", err)
		out.Problem = v.T("ops.notify.unavailable")
		return out
	}
	series := []chart.Series{
		{Name: v.T("ops.dashboard.sms_failed"), Values: make([]int64, len(days))},
		{Name: v.T("ops.dashboard.webhooks_failed"), Values: make([]int64, len(days))},
		{Name: v.T("ops.dashboard.attempts_failed"), Values: make([]int64, len(days))},
	}
	for i, d := range rep.Days[:min(len(rep.Days), len(days))] {
		series[0].Values[i] = rate(d.SMSFailed, d.SMS)
		series[1].Values[i] = rate(d.WebhooksFailed, d.Webhooks)
		series[2].Values[i] = rate(d.AttemptsFailed, d.Attempts)
	}
	return s.drawChart(id, title, chart.Lines, chart.Chart{ID: id, Title: title, Labels: labels, Series: series, Format: percent})
}

// rate is failed/total in basis points, 0 when total is 0 (as
// notify/store.Rate, which this package does not import: it is the
// notifier's database side).
func rate(failed, total int64) int64 {
	if total <= 0 {
		return 0
	}
	return failed * 10_000 / total
}

// percent writes basis points as a percentage.
func percent(bp int64) string { return fmt.Sprintf("%d.%02d%%", bp/100, bp%100) }
