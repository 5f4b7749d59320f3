package ops

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// notices are the ?done= values a redirect after an action shows, by message id.
var notices = map[string]string{
	"frozen": "ops.account.frozen_done", "active": "ops.account.active_done", "pin": "ops.account.pin_reset_done",
	"proposed": "ops.proposals.proposed", "decided": "ops.proposals.decided",
	"tier": "ops.account.tier_proposed", "simswap": "ops.account.simswap_cleared",
}

func (v *view) notice(r *http.Request) {
	if id, ok := notices[r.URL.Query().Get("done")]; ok {
		v.Notice = v.T(id)
	}
}

// formError shows message id on the page, with status 400: the input was
// refused and nothing changed.
func (v *view) formError(id string) {
	v.status, v.Error = http.StatusBadRequest, v.T(id)
}

// walletError shows the wallet's refusal on the page, with its status.
func (v *view) walletError(err error) {
	v.status, v.Error, v.Detail = statusOf(wallet.ErrorCode(err)), v.T("ops.error.wallet"), errMessage(err)
	if v.status == http.StatusNotFound {
		v.Error = v.T("ops.notfound")
	}
}

// reason returns the form's reason, or false (and the page's error) when
// it is missing or longer than the audit log keeps.
func (v *view) reason(r *http.Request) (string, bool) {
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	switch {
	case reason == "":
		v.formError("ops.error.reason_required")
		return "", false
	case len(reason) > ReasonBytesMax:
		v.formError("ops.error.reason_long")
		return "", false
	}
	return reason, true
}

// signInPage shows the sign-in form, with a fresh CSRF cookie: before a
// session, the form's token is a random one the cookie must match.
func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	v := s.newView(r)
	if r.URL.Query().Get("expired") != "" {
		v.Notice = v.T("ops.signin.expired")
	}
	s.signInForm(w, r, v)
}

func (s *Server) signInForm(w http.ResponseWriter, r *http.Request, v *view) {
	b := make([]byte, 24)
	rand.Read(b)
	v.CSRF = base64.RawURLEncoding.EncodeToString(b)
	s.setCookie(w, r, preCookie, v.CSRF, 0)
	s.render(w, "signin", v)
}

// signIn checks the form with the wallet and sets the session cookie.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	v := s.newView(r)
	pre, err := r.Cookie(preCookie)
	if err != nil || pre.Value == "" || r.PostFormValue("csrf") != pre.Value {
		v.status, v.Error = http.StatusForbidden, v.T("ops.forbidden.csrf")
		s.signInForm(w, r, v)
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	actor := email
	if e, err := wallet.NormalizeEmail(email); err == nil {
		actor = e
	} else {
		actor = "invalid-email" // the log's actor must be a valid one; the page says only "wrong"
	}
	ctx := natsapi.WithOperator(r.Context(), natsapi.Operator{Actor: actor})
	reply, err := s.cfg.Wallet.SignIn(ctx, email, r.PostFormValue("password"), r.PostFormValue("code"))
	switch wallet.ErrorCode(err) {
	case "":
	case wallet.CodeUnauthenticated, wallet.CodeInvalid:
		v.status, v.Error = http.StatusUnauthorized, v.T("ops.signin.failed")
		s.signInForm(w, r, v)
		return
	case wallet.CodeRateLimited:
		v.status, v.Error = http.StatusTooManyRequests, v.T("ops.signin.locked")
		s.signInForm(w, r, v)
		return
	default:
		s.fail(w, r, v, err)
		return
	}
	s.setCookie(w, r, preCookie, "", -1)
	s.setCookie(w, r, sessionCookie, reply.Token, 0)
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
}

// signOut ends the session (with its CSRF token) and shows the sign-in page.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && r.PostFormValue("csrf") == s.csrf(c.Value) {
		if sess, err := s.cfg.Wallet.Session(r.Context(), c.Value); err == nil {
			ctx := natsapi.WithOperator(r.Context(), natsapi.Operator{Actor: sess.Operator.Email})
			if err := s.cfg.Wallet.SignOut(ctx, c.Value); err != nil {
				s.fail(w, r, s.newView(r), err)
				return
			}
		}
	}
	s.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, Prefix+"/signin", http.StatusSeeOther)
}

// setLanguage stores the chosen language and goes home.
func (s *Server) setLanguage(w http.ResponseWriter, r *http.Request) {
	if code := r.PathValue("code"); slices.Contains(pageLanguages, code) {
		s.setCookie(w, r, langCookie, code, 365*24*3600)
	}
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
}

func (s *Server) home(w http.ResponseWriter, r *http.Request, v *view) {
	s.render(w, "home", v)
}

// searchData is the search page's data.
type searchData struct {
	Query      string
	Page       int
	Result     *wallet.SearchResult
	Prev, Next string
}

func (s *Server) search(w http.ResponseWriter, r *http.Request, v *view) {
	d := &searchData{Query: strings.TrimSpace(r.URL.Query().Get("q"))}
	v.Data = d
	if d.Query == "" {
		s.render(w, "search", v)
		return
	}
	d.Page = pageNumber(r)
	res, err := s.cfg.Wallet.Search(r.Context(), d.Query, d.Page)
	if err != nil {
		v.walletError(err)
		s.render(w, "search", v)
		return
	}
	if res.Transfer != nil {
		http.Redirect(w, r, Prefix+"/transfer/"+url.PathEscape(res.Transfer.Ref), http.StatusSeeOther)
		return
	}
	d.Result = res
	d.Prev, d.Next = pageLinks("/search", d.Query, d.Page, res.More)
	s.render(w, "search", v)
}

// accountData is the account page's data.
type accountData struct {
	Statement *wallet.AccountView
	From, To  string
	Reversals []wallet.Reversal
	Reason    string // the reason typed, kept when an action is refused
	// Tiers are the tiers a maker may propose (all but the account's own);
	// TierReason the tier form's reason, kept when refused.
	Tiers      []wallet.Tier
	TierReason string
	SMS        *accountSMS // the latest SMS to its phone (sms.go)
	// SIMSwap is the gate's last record of a held or frozen account
	// (when it was held; whether a freeze covers a hold not cleared).
	SIMSwap simSwapRecord
}

func (s *Server) account(w http.ResponseWriter, r *http.Request, v *view) {
	v.notice(r)
	s.accountPage(w, r, v)
}

// accountPage renders the account named in the path, with the statement
// in the dates the query gives.
func (s *Server) accountPage(w http.ResponseWriter, r *http.Request, v *view) {
	d := &accountData{From: r.URL.Query().Get("from"), To: r.URL.Query().Get("to"), Reason: r.PostFormValue("reason")}
	q := natsapi.OpsStatementRequest{Number: r.PathValue("number"), Limit: statementLinesShown}
	var bad bool
	if q.From, bad = parseDate(d.From); bad {
		v.formError("ops.error.date")
	}
	var badTo bool
	if q.To, badTo = parseDate(d.To); badTo {
		v.formError("ops.error.date")
	}
	if bad || badTo {
		q.From, q.To = time.Time{}, time.Time{}
	}
	st, err := s.cfg.Wallet.AccountStatement(r.Context(), q)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	d.Statement = st
	if st.Account.Status == wallet.StatusSIMSwapHold || st.Account.Status == wallet.StatusFrozen {
		d.SIMSwap = s.simSwapLast(r.Context(), st.Account.Number)
	}
	if st.Account.Kind == wallet.KindCustomer {
		for _, t := range []wallet.Tier{wallet.TierBasic, wallet.TierFull} {
			if t != st.Account.Tier {
				d.Tiers = append(d.Tiers, t)
			}
		}
	}
	if r.PostFormValue("tier") != "" {
		d.Reason, d.TierReason = "", r.PostFormValue("reason")
	}
	d.SMS = s.accountSMSOf(r.Context(), v, st.Account.Phone)
	if rs, err := s.cfg.Wallet.Reversals(r.Context(), nil, 0); err == nil {
		for _, rv := range rs {
			if rv.Sender == st.Account.ID || rv.Recipient == st.Account.ID {
				d.Reversals = append(d.Reversals, rv)
			}
		}
	}
	v.Data = d
	s.render(w, "account", v)
}

// parseDate reads a YYYY-MM-DD date (UTC); bad is true for anything else
// but an empty one.
func parseDate(s string) (t time.Time, bad bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s)
	return t, err != nil
}

func setStatus(st wallet.Status) handler {
	return func(s *Server, w http.ResponseWriter, r *http.Request, v *view) {
		var ok bool
		if st == wallet.StatusActive {
			ok = s.unfreezable(w, r, v)
		} else if _, ok = v.reason(r); !ok {
			s.accountPage(w, r, v)
		}
		if !ok {
			return
		}
		a, err := s.cfg.Wallet.SetStatus(r.Context(), r.PathValue("number"), st)
		if err != nil {
			v.walletError(err)
			s.accountPage(w, r, v)
			return
		}
		done := "frozen"
		if st == wallet.StatusActive {
			done = "active"
		}
		http.Redirect(w, r, Prefix+"/account/"+url.PathEscape(a.Number)+"?done="+done, http.StatusSeeOther)
	}
}

// actionAccount checks an action's reason and reads the account in the
// path, as it is now; else it renders the account page with why, and
// returns false.
func (s *Server) actionAccount(w http.ResponseWriter, r *http.Request, v *view) (*wallet.AccountView, bool) {
	if _, ok := v.reason(r); !ok {
		s.accountPage(w, r, v)
		return nil, false
	}
	st, err := s.cfg.Wallet.AccountStatement(r.Context(), natsapi.OpsStatementRequest{Number: r.PathValue("number"), Limit: 1})
	if err != nil {
		v.walletError(err)
		s.accountPage(w, r, v)
		return nil, false
	}
	return st, true
}

// unfreezable reports whether the account in the path may be set active
// by the unfreeze form (with a reason): not one on a SIM-swap hold.
// Setting a held account active clears its hold, which is the clearance
// form's (same role, but the operator says they verified the holder); an
// unfreeze never does it silently. Else it renders the refusal, nothing
// changed.
func (s *Server) unfreezable(w http.ResponseWriter, r *http.Request, v *view) bool {
	st, ok := s.actionAccount(w, r, v)
	if ok && st.Account.Status == wallet.StatusSIMSwapHold {
		v.status, v.Error = http.StatusConflict, v.T("ops.account.unfreeze_held")
		s.accountPage(w, r, v)
		return false
	}
	return ok
}

// pinReset clears the PIN of the account and issues a start key, sent to
// the owner by SMS; the page never shows it (the person on the phone may
// not be the owner).
func (s *Server) pinReset(w http.ResponseWriter, r *http.Request, v *view) {
	// The wallet resets by the phone that operates the account.
	st, ok := s.actionAccount(w, r, v)
	if !ok {
		return
	}
	if _, err := s.cfg.Wallet.ResetPIN(r.Context(), st.Account.Phone); err != nil {
		v.walletError(err)
		s.accountPage(w, r, v)
		return
	}
	http.Redirect(w, r, Prefix+"/account/"+url.PathEscape(st.Account.Number)+"?done=pin", http.StatusSeeOther)
}

// proposeTier records a maker's proposal to move the account to another
// tier; a checker approves it on the proposals page. The wallet refuses an
// unknown or the same tier, a frozen account or one that is not a
// customer's, and a second pending change: the page says why, nothing
// changes.
func (s *Server) proposeTier(w http.ResponseWriter, r *http.Request, v *view) {
	if _, ok := v.reason(r); !ok {
		s.accountPage(w, r, v)
		return
	}
	tier, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("tier")))
	if err != nil {
		v.formError("ops.error.tier")
		s.accountPage(w, r, v)
		return
	}
	p, err := s.cfg.Wallet.Propose(r.Context(), natsapi.ProposalRequest{Session: v.token, Kind: wallet.ProposalTierChange,
		Target: r.PathValue("number"), Tier: wallet.Tier(tier)})
	if err != nil {
		v.walletError(err)
		s.accountPage(w, r, v)
		return
	}
	http.Redirect(w, r, Prefix+"/account/"+url.PathEscape(p.Target)+"?done=tier", http.StatusSeeOther)
}

// proposalsData is the proposals page's data.
type proposalsData struct {
	Proposals                []wallet.Proposal
	Agent, Amount, Reference string // the form as typed, kept when refused
	Reason                   string
}

func (s *Server) proposals(w http.ResponseWriter, r *http.Request, v *view) {
	v.notice(r)
	s.proposalsPage(w, r, v)
}

func (s *Server) proposalsPage(w http.ResponseWriter, r *http.Request, v *view) {
	ps, err := s.cfg.Wallet.Proposals(r.Context(), nil, 0)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	v.Data = &proposalsData{Proposals: ps, Agent: r.PostFormValue("agent"), Amount: r.PostFormValue("amount"),
		Reference: r.PostFormValue("reference"), Reason: r.PostFormValue("reason")}
	s.render(w, "proposals", v)
}

// propose records a maker's float issue proposal.
func (s *Server) propose(w http.ResponseWriter, r *http.Request, v *view) {
	if _, ok := v.reason(r); !ok {
		s.proposalsPage(w, r, v)
		return
	}
	amount, err := s.cfg.Currency.ParseAmount(strings.TrimSpace(r.PostFormValue("amount")))
	if err != nil {
		v.formError("ops.error.amount")
		v.Detail = errMessage(err)
		s.proposalsPage(w, r, v)
		return
	}
	_, err = s.cfg.Wallet.Propose(r.Context(), natsapi.ProposalRequest{Session: v.token, Kind: wallet.ProposalFloatIssue,
		Target: strings.TrimSpace(r.PostFormValue("agent")), Amount: amount, Reference: strings.TrimSpace(r.PostFormValue("reference"))})
	if err != nil {
		v.walletError(err)
		s.proposalsPage(w, r, v)
		return
	}
	http.Redirect(w, r, Prefix+"/proposals?done=proposed", http.StatusSeeOther)
}

// pathID is the {id} in the path, or false (and a 404 page's error).
func (v *view) pathID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		v.status, v.Error = http.StatusNotFound, v.T("ops.notfound")
		return 0, false
	}
	return id, true
}

// decision is an approve or reject button of a queue: the id in the path,
// a reason, then decideFn; on a refusal the queue's page again, with why.
func decision(page func(*Server, http.ResponseWriter, *http.Request, *view), done string, decideFn func(s *Server, r *http.Request, v *view, id int64) error) handler {
	return func(s *Server, w http.ResponseWriter, r *http.Request, v *view) {
		id, ok := v.pathID(r)
		if ok {
			_, ok = v.reason(r)
		}
		if !ok {
			page(s, w, r, v)
			return
		}
		if err := decideFn(s, r, v, id); err != nil {
			v.walletError(err)
			page(s, w, r, v)
			return
		}
		http.Redirect(w, r, Prefix+done, http.StatusSeeOther)
	}
}

// decide approves or rejects a maker-checker proposal.
func decide(approve bool) handler {
	return decision((*Server).proposalsPage, "/proposals?done=decided", func(s *Server, r *http.Request, v *view, id int64) error {
		_, err := s.cfg.Wallet.Decide(r.Context(), natsapi.ProposalDecision{Session: v.token, ID: id}, approve)
		return err
	})
}

func (s *Server) reversals(w http.ResponseWriter, r *http.Request, v *view) {
	v.notice(r)
	s.reversalsPage(w, r, v)
}

func (s *Server) reversalsPage(w http.ResponseWriter, r *http.Request, v *view) {
	rs, err := s.cfg.Wallet.Reversals(r.Context(), []wallet.ReversalState{wallet.ReversalObjected, wallet.ReversalReview, wallet.ReversalHeld}, 0)
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	v.Data = rs
	s.render(w, "reversals", v)
}

// decideReversal approves or rejects a reversal request in the queue.
func decideReversal(approve bool) handler {
	return decision((*Server).reversalsPage, "/reversals?done=decided", func(s *Server, r *http.Request, _ *view, id int64) error {
		_, err := s.cfg.Wallet.DecideReversal(r.Context(), id, approve)
		return err
	})
}

// auditData is the audit page's data: the newest records, and the chain
// verified from the first record to the last.
type auditData struct {
	Records  []wallet.AuditRecord
	Verified int64
	Head     string
	Problem  string
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request, v *view) {
	d := &auditData{}
	var chain wallet.AuditChain
	q := natsapi.AuditRequest{AuditQuery: wallet.AuditQuery{Limit: wallet.AuditPageMax}}
	for {
		recs, err := s.cfg.Wallet.AuditLog(r.Context(), q)
		if err != nil {
			s.fail(w, r, v, err)
			return
		}
		for i := range recs {
			if d.Problem == "" {
				if err := chain.Next(&recs[i]); err != nil {
					d.Problem = err.Error()
				}
			}
		}
		d.Records = append(d.Records, recs...)
		if len(d.Records) > auditPageShown {
			d.Records = d.Records[len(d.Records)-auditPageShown:]
		}
		if len(recs) < q.Limit {
			break
		}
		q.After = recs[len(recs)-1].Seq
	}
	slices.Reverse(d.Records)
	d.Verified, d.Head = chain.Seq, chain.Hash
	v.Data = d
	s.render(w, "audit", v)
}

func (s *Server) operators(w http.ResponseWriter, r *http.Request, v *view) {
	os, err := s.cfg.Wallet.Operators(r.Context())
	if err != nil {
		s.fail(w, r, v, err)
		return
	}
	v.Data = os
	s.render(w, "operators", v)
}

func (s *Server) disableOperator(w http.ResponseWriter, r *http.Request, v *view) {
	if _, ok := v.reason(r); !ok {
		s.operators(w, r, v)
		return
	}
	if _, err := s.cfg.Wallet.DisableOperator(r.Context(), r.PathValue("email")); err != nil {
		v.walletError(err)
		s.operators(w, r, v)
		return
	}
	http.Redirect(w, r, Prefix+"/operators", http.StatusSeeOther)
}
