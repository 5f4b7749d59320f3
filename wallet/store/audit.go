package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/kibubu/kibubu/wallet"
)

// auditLockKey is the PostgreSQL advisory lock an append holds until it
// commits: appends from every wallet process take turns, so each reads the
// chain's head as the previous append left it. (SQLite's write transactions
// already take turns: BEGIN IMMEDIATE.) 4211 is the migration lock.
const auditLockKey = 4212

// auditRow is one audit record. The store has no statement that updates or
// deletes one: the table only grows.
type auditRow struct {
	Seq      int64     `gorm:"primaryKey;autoIncrement:false"`
	Time     time.Time `gorm:"not null;index"`
	Actor    string    `gorm:"size:64;not null"`
	Action   string    `gorm:"size:64;not null"`
	Target   string    `gorm:"size:64;not null;default:'';index"`
	Reason   string    `gorm:"size:256;not null;default:''"`
	Outcome  string    `gorm:"size:32;not null"`
	Detail   string    `gorm:"size:1024;not null;default:''"`
	PrevHash string    `gorm:"size:64;not null"`
	Hash     string    `gorm:"size:64;not null"`
}

func (auditRow) TableName() string { return "audit_log" }

func (r *auditRow) record() *wallet.AuditRecord {
	return &wallet.AuditRecord{Seq: r.Seq, Time: r.Time.UTC(), PrevHash: r.PrevHash, Hash: r.Hash,
		AuditEntry: wallet.AuditEntry{Actor: r.Actor, Action: r.Action, Target: r.Target, Reason: r.Reason, Outcome: r.Outcome, Detail: r.Detail}}
}

// AppendAudit appends e at time at (kept to the microsecond, as PostgreSQL
// keeps it) after the chain's last record, in one transaction holding the
// chain's lock.
func (s *Store) AppendAudit(ctx context.Context, e wallet.AuditEntry, at time.Time) (*wallet.AuditRecord, error) {
	var out *wallet.AuditRecord
	err := s.gormTx(ctx, retryable, func(tx *gorm.DB) error {
		if s.pg {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", auditLockKey).Error; err != nil {
				return err
			}
		}
		var head []auditRow
		if err := tx.Order("seq DESC").Limit(1).Find(&head).Error; err != nil {
			return err
		}
		r := wallet.AuditRecord{Seq: 1, Time: at.UTC().Truncate(time.Microsecond), AuditEntry: e, PrevHash: wallet.AuditGenesis}
		if len(head) == 1 {
			r.Seq, r.PrevHash = head[0].Seq+1, head[0].Hash
		}
		r.Hash = r.ComputeHash()
		row := auditRow{Seq: r.Seq, Time: r.Time, Actor: e.Actor, Action: e.Action, Target: e.Target, Reason: e.Reason,
			Outcome: e.Outcome, Detail: e.Detail, PrevHash: r.PrevHash, Hash: r.Hash}
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		out = &r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("append audit record: %w", err)
	}
	return out, nil
}

// AuditRecords returns the records q selects, in Seq order.
func (s *Store) AuditRecords(ctx context.Context, q wallet.AuditQuery) ([]wallet.AuditRecord, error) {
	db := s.gdb.WithContext(ctx).Where("seq > ?", q.After).Order("seq").Limit(q.Limit)
	if !q.Since.IsZero() {
		db = db.Where("time >= ?", q.Since.UTC())
	}
	if len(q.Targets) > 0 {
		db = db.Where("target IN ?", q.Targets)
	}
	var rows []auditRow
	if err := db.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list audit records: %w", err)
	}
	return records(rows, (*auditRow).record), nil
}

// checkAudit verifies the whole audit chain, page by page, into r: the
// first broken record is a violation (the chain after it cannot be trusted
// either, so it stops there).
func (s *Store) checkAudit(ctx context.Context, r *wallet.CheckReport) error {
	var chain wallet.AuditChain
	for {
		recs, err := s.AuditRecords(ctx, wallet.AuditQuery{After: chain.Seq, Limit: wallet.AuditPageMax})
		if err != nil {
			return err
		}
		for i := range recs {
			if err := chain.Next(&recs[i]); err != nil {
				r.Violations = append(r.Violations, "audit log broken: "+err.Error())
				return nil
			}
			r.Audit++
			r.AuditHead = chain.Hash
		}
		if len(recs) < wallet.AuditPageMax {
			return nil
		}
	}
}
