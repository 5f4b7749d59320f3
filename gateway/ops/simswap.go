package ops

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// simSwapAuditPagesMax bounds the audit pages read to find when a held
// account was held: an account's audit records are operator actions, a
// handful; past this many pages the page shows the hold without its time.
const simSwapAuditPagesMax = 4

// simSwapRecord is what the account page says of the SIM-swap gate: the
// wallet's last hold or clearance of the account, if any.
type simSwapRecord struct {
	Held bool      // the last record is a hold (not cleared since)
	At   time.Time // when; zero when not found
}

// simSwapLast reads the wallet's last SIM-swap record of the account
// number from the audit log (the wallet records each hold and clearance
// there, see wallet.SIMSwapChecker). A read that fails returns the zero
// record: the page still shows the status.
func (s *Server) simSwapLast(ctx context.Context, number string) simSwapRecord {
	var last simSwapRecord
	q := natsapi.AuditRequest{AuditQuery: wallet.AuditQuery{Targets: []string{number}, Limit: wallet.AuditPageMax}}
	for range simSwapAuditPagesMax {
		recs, err := s.cfg.Wallet.AuditLog(ctx, q)
		if err != nil {
			s.log.Warn("ops: the SIM-swap record of an account could not be read", "account", number, "err", err)
			return simSwapRecord{}
		}
		for _, r := range recs {
			switch r.Action {
			case wallet.AuditSIMSwapHold:
				last = simSwapRecord{Held: true, At: r.Time}
			case wallet.AuditSIMSwapClear:
				last = simSwapRecord{At: r.Time}
			}
		}
		if len(recs) < q.Limit {
			break
		}
		q.After = recs[len(recs)-1].Seq
	}
	return last
}

// clearSIMSwap reactivates an account the SIM-swap gate held, once the
// operator has verified its holder: the same audited wallet call as
// `kibubu account clear-simswap` (SetStatus active over account.status,
// with the signed-in operator and the reason; the wallet adds its
// simswap_clear record and tells the owner by SMS). An account not held
// (active, frozen) is refused with nothing changed: an unfreeze is the
// freeze form's, and a frozen account's hold is not cleared by this form.
func (s *Server) clearSIMSwap(w http.ResponseWriter, r *http.Request, v *view) {
	st, ok := s.actionAccount(w, r, v)
	if !ok {
		return
	}
	if st.Account.Status != wallet.StatusSIMSwapHold {
		v.status, v.Error = http.StatusConflict, v.T("ops.account.simswap_not_held")
		s.accountPage(w, r, v)
		return
	}
	a, err := s.cfg.Wallet.SetStatus(r.Context(), st.Account.Number, wallet.StatusActive)
	if err != nil {
		v.walletError(err)
		s.accountPage(w, r, v)
		return
	}
	http.Redirect(w, r, Prefix+"/account/"+url.PathEscape(a.Number)+"?done=simswap", http.StatusSeeOther)
}
