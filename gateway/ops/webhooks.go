package ops

import (
	"net/http"
	"net/url"

	"github.com/kibubu/kibubu/notify"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// webhooksData is the page of a merchant's webhook deliveries.
type webhooksData struct {
	Merchant string
	Status   string // the filter: "", pending, delivered or failed
	Statuses []notify.DeliveryStatus
	Reply    *notify.DeliveriesReply
	Next     string // the next page's URL; empty on the last
	Reason   string // the reason typed, kept when a re-send is refused
}

var deliveryStatuses = []notify.DeliveryStatus{notify.DeliveryPending, notify.DeliveryDelivered, notify.DeliveryFailed}

func (s *Server) webhooks(w http.ResponseWriter, r *http.Request, v *view) {
	if r.URL.Query().Get("done") == "resent" {
		v.Notice = v.T("ops.webhooks.resent")
	}
	s.webhooksPage(w, r, v)
}

// webhooksPath is the webhooks page of merchant.
func webhooksPath(merchant string) string {
	return Prefix + "/merchants/" + url.PathEscape(merchant) + "/webhooks"
}

// webhooksPage lists the merchant's deliveries, newest first, with their
// attempts, by the status the query gives, a page at a time.
func (s *Server) webhooksPage(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	d := &webhooksData{Merchant: r.PathValue("number"), Status: q.Get("status"), Statuses: deliveryStatuses, Reason: r.PostFormValue("reason")}
	v.Data = d
	n := s.notifier(v)
	if n == nil {
		s.render(w, "webhooks", v)
		return
	}
	rep, err := n.Deliveries(r.Context(), notifyapi.OpsDeliveriesRequest{Merchant: d.Merchant, Status: notify.DeliveryStatus(d.Status), Cursor: q.Get("cursor")})
	if err != nil {
		if v.Error == "" {
			v.notifierError(err)
		}
		s.render(w, "webhooks", v)
		return
	}
	d.Reply = rep
	if rep.Next != "" {
		next := url.Values{"cursor": {rep.Next}}
		if d.Status != "" {
			next.Set("status", d.Status)
		}
		d.Next = webhooksPath(d.Merchant) + "?" + next.Encode()
	}
	s.render(w, "webhooks", v)
}

// webhookResend queues a delivered or failed delivery again (the
// notifier's own re-send: same event id, so a receiver dedupes it), noted
// in the audit log with the operator's reason first. A pending delivery is
// refused: it is retried on its own.
func (s *Server) webhookResend(w http.ResponseWriter, r *http.Request, v *view) {
	merchant, id := r.PathValue("number"), r.PathValue("delivery")
	_, ok := v.reason(r)
	n := s.notifier(v)
	if !ok || n == nil {
		s.webhooksPage(w, r, v)
		return
	}
	if !notify.ValidDeliveryID(id) {
		v.status, v.Error = http.StatusNotFound, v.T("ops.notfound")
		s.webhooksPage(w, r, v)
		return
	}
	err := s.noted(r.Context(), v, natsapi.OpsNote{Kind: "webhook.resend", ID: id, Merchant: merchant}, func() error {
		_, err := n.Resend(r.Context(), merchant, id)
		return err
	})
	if err != nil {
		s.webhooksPage(w, r, v)
		return
	}
	http.Redirect(w, r, webhooksPath(merchant)+"?done=resent", http.StatusSeeOther)
}
