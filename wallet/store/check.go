package store

import (
	"context"
	"fmt"

	"github.com/kibubu/kibubu/wallet"
)

// violationsMax bounds the offending rows each check lists.
const violationsMax = 10

// Check verifies the ledger's invariants over the whole database: every
// transfer balanced and posted, every balance the sum of its postings and
// the balance after its last posting, no account below its floor (the tabs
// account included), all money summing to zero, no merchant refunding more
// of a payment than it received, no payment both refunded and reversed. It
// reports the money held for prepaid tabs (the tabs account's balance),
// which is part of the e-money issued.
func (s *Store) Check(ctx context.Context) (*wallet.CheckReport, error) {
	r := &wallet.CheckReport{Violations: []string{}}
	for _, c := range []struct {
		q   string
		dst *int64
	}{
		{"SELECT COUNT(*) FROM accounts", &r.Accounts},
		{"SELECT COUNT(*) FROM transfers", &r.Transfers},
		{"SELECT COUNT(*) FROM postings", &r.Postings},
		{"SELECT COUNT(*) FROM outbox_events", &r.Pending},
		{"SELECT COALESCE(-SUM(balance), 0) FROM accounts WHERE number = '" + wallet.SystemTrust + "'", &r.Issued},
		{"SELECT COALESCE(SUM(balance), 0) FROM accounts WHERE number = '" + wallet.SystemTabs + "'", &r.Held},
	} {
		if err := s.db.QueryRowContext(ctx, c.q).Scan(c.dst); err != nil {
			return nil, fmt.Errorf("check: %w", err)
		}
	}
	checks := []struct {
		what string
		q    string
	}{
		{"postings do not sum to zero", "SELECT 'all postings', SUM(amount) FROM postings HAVING SUM(amount) <> 0"},
		{"balances do not sum to zero", "SELECT 'all accounts', SUM(balance) FROM accounts HAVING SUM(balance) <> 0"},
		{"unbalanced transfer", "SELECT transfer_id, SUM(amount) FROM postings GROUP BY transfer_id HAVING SUM(amount) <> 0"},
		{"balance is not the sum of postings", `SELECT a.number, a.balance - COALESCE(p.s, 0) FROM accounts a
			LEFT JOIN (SELECT account_id, SUM(amount) AS s FROM postings GROUP BY account_id) p ON p.account_id = a.id
			WHERE a.balance <> COALESCE(p.s, 0)`},
		{"balance is not the balance after the last posting", `SELECT a.number, a.balance - p.balance_after FROM accounts a
			JOIN postings p ON p.id = (SELECT MAX(id) FROM postings WHERE account_id = a.id) WHERE p.balance_after <> a.balance`},
		{"account below its floor", "SELECT number, balance FROM accounts WHERE balance < 0 AND NOT allow_negative"},
		{"transfer without postings", `SELECT t.id, 0 FROM transfers t WHERE NOT EXISTS (SELECT 1 FROM postings p WHERE p.transfer_id = t.id)`},
		{"posting without transfer", `SELECT p.id, p.transfer_id FROM postings p WHERE NOT EXISTS (SELECT 1 FROM transfers t WHERE t.id = p.transfer_id)`},
		{"reversal that does not negate its original", `SELECT r.id, SUM(p.amount) FROM transfers r JOIN postings p
			ON p.transfer_id IN (r.id, r.reverses) AND p.leg <> 'hold' WHERE r.reverses IS NOT NULL GROUP BY r.id, p.account_id HAVING SUM(p.amount) <> 0`},
		{"refunds exceed what the merchant received", `SELECT x.refunds, x.refunded - COALESCE(SUM(p.amount), 0) FROM
			(SELECT refunds, source, SUM(amount) AS refunded FROM transfers WHERE refunds IS NOT NULL GROUP BY refunds, source) x
			LEFT JOIN postings p ON p.transfer_id = x.refunds AND p.account_id = x.source AND p.leg = 'principal' AND p.amount > 0
			GROUP BY x.refunds, x.source, x.refunded HAVING x.refunded > COALESCE(SUM(p.amount), 0)`},
		{"idempotency key with both a transfer and a rejection", `SELECT t.idem_key, t.id FROM transfers t
			JOIN rejections r ON r.idem_key = t.idem_key`},
		{"refund of a reversed transfer", `SELECT r.id, r.refunds FROM transfers r JOIN transfers v ON v.reverses = r.refunds
			WHERE r.refunds IS NOT NULL`},
		{"transfer totals disagree with the transfers (count difference)", transferTotalsCheck},
	}
	for _, c := range checks {
		rows, err := s.db.QueryContext(ctx, c.q+fmt.Sprintf(" LIMIT %d", violationsMax))
		if err != nil {
			return nil, fmt.Errorf("check %s: %w", c.what, err)
		}
		for rows.Next() {
			var who any
			var n int64
			if err := rows.Scan(&who, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("check %s: %w", c.what, err)
			}
			if b, ok := who.([]byte); ok {
				who = string(b)
			}
			r.Violations = append(r.Violations, fmt.Sprintf("%s: %v (%d)", c.what, who, n))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("check %s: %w", c.what, err)
		}
	}
	if err := s.checkAudit(ctx, r); err != nil {
		return nil, fmt.Errorf("check the audit log: %w", err)
	}
	return r, nil
}
