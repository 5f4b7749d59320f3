package wallet

import (
	"context"
	"encoding/json"
	"time"
)

// SIMSwapAction names what a SIM-swap check guards; a checker may fail
// open or closed per action.
type SIMSwapAction string

const (
	SIMSwapPIN      SIMSwapAction = "pin"      // a PIN reset, a first PIN set with a start key, a PIN change
	SIMSwapTransfer SIMSwapAction = "transfer" // a send, withdrawal or payment above Config.SIMSwapAbove
	SIMSwapDetails  SIMSwapAction = "details"  // a change of the account's registered details
)

// SIMSwapActions lists every SIMSwapAction.
var SIMSwapActions = []SIMSwapAction{SIMSwapPIN, SIMSwapTransfer, SIMSwapDetails}

// SIMSwapChecker answers whether a phone's SIM changed recently (within
// the checker's configured age). It is the wallet's only view of the
// mobile networks: wallet/simswap implements it over HTTP.
//
// The commonest theft from a mobile wallet is a fraudster who has the
// victim's SIM swapped to one of theirs, then resets the PIN (the start key
// arrives by SMS on the new SIM) and empties the account. Before the actions
// that make this possible, the wallet asks a SIMSwapChecker (Config.SIMSwap;
// wallet/simswap asks the mobile networks' CAMARA SIM Swap API) whether the
// phone's SIM changed recently:
//
//   - SIMSwapPIN: a PIN reset (an operator's, whose start key goes to the
//     phone), a first PIN set with a start key, a PIN change;
//   - SIMSwapTransfer: a send, withdrawal, till or paybill payment or
//     airtime purchase of more than Config.SIMSwapAbove;
//   - SIMSwapDetails: a change of the account's registered details (its
//     language, the only one a customer changes today).
//
// A recent change refuses the action with CodeSIMSwapHold and puts the
// account on StatusSIMSwapHold (recorded in the audit log as
// account.simswap_hold): every gated action is refused, without asking the
// network again, until an operator who has re-verified the holder clears
// it (`kibubu account clear-simswap`: SetStatus to active, which the wallet
// records as account.simswap_clear). The owner is told of the hold and of
// its clearance by SMS, once each (Notice, NoticeSIMSwapHold and
// NoticeSIMSwapClear). Other actions (a balance, a send at or
// below the amount, money received) go on. A checker that cannot answer
// returns an error when its policy for the action is to fail closed: the
// action is refused with CodeUnavailable and the account is not held.
//
// A clearance covers the SIM changes before it: once cleared, the gate asks
// the checker only about a change after the clearance (the CAMARA
// retrieve-date), so the same swap does not hold the account again, and a
// new one does. The clearance is found in the audit log (the account's last
// simswap_hold or simswap_clear record within simSwapClearLookback), read
// only when the network says the SIM changed.
//
// The check is made before the writer sees the command, so a refusal is
// not remembered under the command's idempotency key (the same key works
// once the hold is cleared), and a replay of a transfer already made is not
// checked: it returns its first result.
type SIMSwapChecker interface {
	// SIMSwapped reports whether the SIM of phone (E.164) changed
	// recently (within the checker's maximum age) and, if after is not
	// zero, after it. A checker that cannot tell returns false and nil
	// when its policy for action is to fail open, and an error when it is
	// to fail closed. A phone no configured network covers is not swapped.
	SIMSwapped(ctx context.Context, phone string, after time.Time, action SIMSwapAction) (bool, error)
}

// StatusSIMSwapHold is an account whose SIM changed recently: the gated
// actions are refused (CodeSIMSwapHold) until an operator sets it active
// again. Only the wallet sets it, and only on an active account (a freeze
// stays a freeze).
const StatusSIMSwapHold Status = "sim_swap_hold"

// simSwapActor names the wallet in the audit records of a hold it placed
// and of its clearance (the operator is named in the records of their
// request, just before).
const simSwapActor = "wallet:simswap"

// The audit actions of a SIM-swap hold and of its clearance.
const (
	AuditSIMSwapHold  = "account.simswap_hold"
	AuditSIMSwapClear = "account.simswap_clear"
)

// simSwapClearLookback is how far back the gate looks for a clearance:
// CAMARA's largest maximum age (2400 hours); a change older than the
// checker's maximum age does not count anyway.
const simSwapClearLookback = 2400 * time.Hour

// simSwapChecksMax bounds the transfers waiting for a SIM-swap answer at
// once in TransferAsync, each on a goroutine of its own; past it the
// caller (a NATS handler) waits, which pushes back on its callers.
const simSwapChecksMax = 256

func errSIMSwapHold() *Error {
	return Errorf(CodeSIMSwapHold, "this SIM changed recently: the account is held until customer care verifies you")
}

// simSwapGated reports whether p is a transfer the gate checks.
func (s *Service) simSwapGated(p *plan) bool {
	if s.cfg.SIMSwap == nil || p.actor == 0 || p.amount <= s.cfg.SIMSwapAbove {
		return false
	}
	switch p.kind {
	case TransferSend, TransferWithdraw, TransferTill, TransferPaybill, TransferAirtime:
		return true
	}
	return false
}

// simSwapTransfer gates the transfer p (simSwapGated): a replay of a key
// already used is let through to return its first result.
func (s *Service) simSwapTransfer(ctx context.Context, p *plan) error {
	if _, err := s.store.Outcome(ctx, p.key); err == nil {
		return nil
	} else if ErrorCode(err) != CodeNotFound {
		return err
	}
	return s.simSwapGate(ctx, p.actor, SIMSwapTransfer)
}

// simSwapGatePhone is simSwapGate for the account phone operates; an
// unknown phone is let through for the command itself to refuse.
func (s *Service) simSwapGatePhone(ctx context.Context, phone string, action SIMSwapAction) error {
	if s.cfg.SIMSwap == nil {
		return nil
	}
	k, _, err := s.byPhone(ctx, phone)
	if err != nil {
		return nil
	}
	return s.simSwapGate(ctx, k.id, action)
}

// simSwapGate refuses action on the account id if it is held, or if its
// SIM changed recently, which holds it. See SIMSwapChecker.
func (s *Service) simSwapGate(ctx context.Context, id int64, action SIMSwapAction) error {
	if s.cfg.SIMSwap == nil {
		return nil
	}
	a, err := s.store.AccountByID(ctx, id)
	if err != nil {
		return err
	}
	if a.Kind != KindCustomer && a.Kind != KindAgent || a.Phone == "" {
		return nil // only customers and agents dial from a SIM
	}
	switch a.Status {
	case StatusSIMSwapHold:
		return errSIMSwapHold()
	case StatusActive:
	default:
		return nil // frozen: the writer refuses it as such
	}
	swapped, err := s.cfg.SIMSwap.SIMSwapped(ctx, a.Phone, time.Time{}, action)
	if err == nil && swapped {
		// An operator may have cleared this change already: ask only
		// about one after the clearance.
		var cleared time.Time
		if cleared, err = s.simSwapCleared(ctx, a); err == nil && !cleared.IsZero() {
			swapped, err = s.cfg.SIMSwap.SIMSwapped(ctx, a.Phone, cleared, action)
		}
	}
	if err != nil {
		// The checker fails closed for this action: refuse, hold nothing.
		s.log.Warn("SIM-swap check failed; action refused", "action", action, "account", a.Number, "err", err)
		return Errorf(CodeUnavailable, "the SIM check did not answer; try again later")
	}
	if !swapped {
		return nil
	}
	if r := s.call(ctx, &op{kind: opSetStatus, account: id, status: StatusSIMSwapHold}); r.Err != nil {
		return r.Err
	}
	s.simSwapAudit(ctx, AuditSIMSwapHold, a.Number, map[string]string{"action": string(action)})
	s.log.Warn("SIM changed recently: account held until an operator clears it", "action", action, "account", a.Number)
	return errSIMSwapHold()
}

// simSwapCleared returns when an operator last cleared a SIM-swap hold on
// a, if that is later than the last hold; else the zero time.
func (s *Service) simSwapCleared(ctx context.Context, a *AccountRecord) (time.Time, error) {
	var last *AuditRecord
	q := AuditQuery{Since: s.cfg.Now().Add(-simSwapClearLookback), Targets: []string{a.Number}, Limit: AuditPageMax}
	for {
		recs, err := s.store.AuditRecords(ctx, q)
		if err != nil {
			return time.Time{}, err
		}
		for i := range recs {
			if recs[i].Actor == simSwapActor && (recs[i].Action == AuditSIMSwapHold || recs[i].Action == AuditSIMSwapClear) {
				last = &recs[i]
			}
		}
		if len(recs) < AuditPageMax {
			break
		}
		q.After = recs[len(recs)-1].Seq
	}
	if last == nil || last.Action != AuditSIMSwapClear {
		return time.Time{}, nil
	}
	return last.Time, nil
}

// simSwapAudit records a hold or its clearance; a failure is logged, not
// returned: the status change it records is made.
func (s *Service) simSwapAudit(ctx context.Context, action, target string, detail map[string]string) {
	d, _ := json.Marshal(detail)
	if _, err := s.Audit(ctx, AuditEntry{Actor: simSwapActor, Action: action, Target: target, Outcome: AuditOK, Detail: string(d)}); err != nil {
		s.log.Error("SIM-swap hold or clearance not recorded in the audit log", "action", action, "account", target, "err", err)
	}
}
