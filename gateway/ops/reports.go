package ops

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// The report pages on wallet.Reports: agents (float, commission, the
// low-float flag) and reconciliation (the trust account's bank statement
// against the ledger). Both only read: nothing here moves money.

// agentsData is the agents page's data.
type agentsData struct {
	Page    *wallet.AgentPage
	LowOnly bool
	Next    string // the next page's URL; empty on the last
}

func (s *Server) agents(w http.ResponseWriter, r *http.Request, v *view) {
	q := r.URL.Query()
	d := &agentsData{LowOnly: q.Get("low") == "1"}
	v.Data = d
	after, err := strconv.ParseInt(q.Get("after"), 10, 64)
	if q.Get("after") != "" && (err != nil || after < 0) {
		v.formError("ops.error.bad_page")
		s.render(w, "agents", v)
		return
	}
	d.Page, err = s.cfg.Wallet.AgentsReport(r.Context(), wallet.AgentQuery{After: after, LowOnly: d.LowOnly})
	if err != nil {
		v.walletError(err)
		s.render(w, "agents", v)
		return
	}
	if d.Page.Next != 0 {
		next := url.Values{"after": {strconv.FormatInt(d.Page.Next, 10)}}
		if d.LowOnly {
			next.Set("low", "1")
		}
		d.Next = Prefix + "/agents?" + next.Encode()
	}
	s.render(w, "agents", v)
}

// reconcileData is the reconciliation page's data: the result once a
// statement was read.
type reconcileData struct {
	Result *wallet.Reconciliation
	Listed int // ReconcileListMax: how many entries a list shows at most
}

func (s *Server) reconcilePage(w http.ResponseWriter, r *http.Request, v *view) {
	v.Data = &reconcileData{Listed: wallet.ReconcileListMax}
	s.render(w, "reconcile", v)
}

// reconcile reads the uploaded bank statement (multipart, bounded by
// uploadBytesMax in ServeHTTP and by wallet.BankStatementBytesMax here),
// checks it with the wallet's own parser so a bad file is refused with its
// line number before anything is sent, and shows the wallet's
// reconciliation. Reconciling only reads: a refused file changes nothing.
func (s *Server) reconcile(w http.ResponseWriter, r *http.Request, v *view) {
	d := &reconcileData{Listed: wallet.ReconcileListMax}
	v.Data = d
	f, _, err := r.FormFile("statement")
	if err != nil {
		v.formError("ops.recon.no_file")
		s.render(w, "reconcile", v)
		return
	}
	defer f.Close()
	csv, err := io.ReadAll(io.LimitReader(f, wallet.BankStatementBytesMax+1))
	if err == nil {
		// The wallet's parser refuses a file over BankStatementBytesMax.
		_, err = wallet.ParseBankStatement(bytes.NewReader(csv), s.cfg.Currency)
	}
	if err != nil {
		v.formError("ops.recon.bad_csv")
		v.Detail = errMessage(err)
		s.render(w, "reconcile", v)
		return
	}
	d.Result, err = s.cfg.Wallet.Reconcile(r.Context(), natsapi.ReconcileRequest{CSV: string(csv)})
	if err != nil {
		v.walletError(err)
	}
	s.render(w, "reconcile", v)
}
