package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	walletstore "github.com/kibubu/kibubu/wallet/store"
)

// requestModels are the merchant services' tables of API keys, payment
// requests and payouts.
var requestModels = []any{&apiKeyRow{}, &paymentRequestRow{}, &payoutRow{}, &payoutBatchRow{}}

// The time columns are named created/updated rather than created_at and
// updated_at so that gorm does not stamp them with the wall clock: the
// service's clock (which tests set) decides them.

type apiKeyRow struct {
	ID       string     `gorm:"primaryKey;size:40"`
	Merchant string     `gorm:"size:32;not null;default:'';index"`
	Operator bool       `gorm:"not null;default:false"`
	Scopes   string     `gorm:"size:128;not null"` // comma-separated
	Hash     []byte     `gorm:"not null"`          // SHA-256 of the secret
	Created  time.Time  `gorm:"not null"`
	Revoked  *time.Time `gorm:""`
	Expires  *time.Time `gorm:""`
}

func (apiKeyRow) TableName() string { return "api_keys" }

// paymentRequestRow: idx_payment_requests_phone serves a customer's
// approvals; idx_payment_requests_due the sweeper;
// idx_payment_requests_merchant a merchant's requests newest first
// (PaymentRequests: the back-office's merchant page, the merchant API's
// list), without sorting all of them.
type paymentRequestRow struct {
	ID           string    `gorm:"primaryKey;size:40;index:idx_payment_requests_merchant,priority:2"`
	Merchant     string    `gorm:"size:32;not null;uniqueIndex:idx_payment_requests_idem,priority:1;index:idx_payment_requests_merchant,priority:1"`
	Idem         string    `gorm:"size:64;not null;uniqueIndex:idx_payment_requests_idem,priority:2"`
	RequestHash  []byte    `gorm:"not null"`
	MerchantName string    `gorm:"size:64;not null"`
	Paybill      bool      `gorm:"not null;default:false"`
	Phone        string    `gorm:"size:20;not null;index:idx_payment_requests_phone,priority:1"`
	Amount       int64     `gorm:"not null"`
	Reference    string    `gorm:"size:32;not null"`
	Description  string    `gorm:"size:400;not null;default:''"`
	Status       string    `gorm:"size:16;not null;index:idx_payment_requests_phone,priority:2;index:idx_payment_requests_due,priority:1"`
	Reason       string    `gorm:"size:32;not null;default:''"`
	TransferRef  string    `gorm:"size:16;not null;default:''"`
	Attempt      int       `gorm:"not null;default:0"`
	Created      time.Time `gorm:"not null"`
	Expires      time.Time `gorm:"not null;index:idx_payment_requests_due,priority:2"`
	Updated      time.Time `gorm:"not null"`
}

func (paymentRequestRow) TableName() string { return "payment_requests" }

// payoutRow is a single payout or a row of a batch. wallet_key is unique: a
// payout is made at most once per key, and the key is the wallet's.
// idx_payouts_work serves the sweeper and the batch workers' claims.
type payoutRow struct {
	ID          string    `gorm:"primaryKey;size:40"`
	Merchant    string    `gorm:"size:32;not null;index"`
	WalletKey   string    `gorm:"size:128;not null;uniqueIndex"`
	RequestHash []byte    `gorm:""`
	Phone       string    `gorm:"size:40;not null"`
	Amount      int64     `gorm:"not null"`
	Fee         int64     `gorm:"not null;default:0"`
	Reference   string    `gorm:"size:32;not null;default:''"`
	Status      string    `gorm:"size:16;not null;index:idx_payouts_work,priority:1"`
	Reason      string    `gorm:"size:32;not null;default:''"`
	Message     string    `gorm:"size:256;not null;default:''"`
	TransferRef string    `gorm:"size:16;not null;default:''"`
	Batch       string    `gorm:"size:40;not null;default:'';index:idx_payouts_batch,priority:1"`
	Line        int       `gorm:"not null;default:0;index:idx_payouts_batch,priority:2"`
	LeaseUntil  time.Time `gorm:"not null;index:idx_payouts_work,priority:2"`
	Created     time.Time `gorm:"not null"`
	Updated     time.Time `gorm:"not null"`
}

func (payoutRow) TableName() string { return "payouts" }

type payoutBatchRow struct {
	ID         string     `gorm:"primaryKey;size:40"`
	Merchant   string     `gorm:"size:32;not null;uniqueIndex:idx_payout_batches_idem,priority:1"`
	Idem       string     `gorm:"size:64;not null;uniqueIndex:idx_payout_batches_idem,priority:2"`
	FileHash   []byte     `gorm:"not null"`
	Status     string     `gorm:"size:16;not null"`
	Rows       int        `gorm:"not null"`
	Done       int        `gorm:"not null;default:0"`
	Paid       int        `gorm:"not null;default:0"`
	Failed     int        `gorm:"not null;default:0"`
	Amount     int64      `gorm:"not null"`
	PaidAmount int64      `gorm:"not null;default:0"`
	Created    time.Time  `gorm:"not null"`
	Finished   *time.Time `gorm:""`
}

func (payoutBatchRow) TableName() string { return "payout_batches" }

// writeTx runs fn in a transaction, running it again from the start on
// a transient conflict (a deadlock, a lock timeout, a unique key a
// concurrent writer took first: the retry then sees its row).
func (s *Store) writeTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.w.GormTx(ctx, func(err error) bool { return walletstore.Retryable(err) || walletstore.IsUnique(err) }, fn)
}

// CreateAPIKey inserts an API key.
func (s *Store) CreateAPIKey(ctx context.Context, k *merchant.KeyRecord) error {
	scopes := make([]string, len(k.Scopes))
	for i, sc := range k.Scopes {
		scopes[i] = string(sc)
	}
	row := apiKeyRow{ID: k.ID, Merchant: k.Merchant, Operator: k.Operator, Scopes: strings.Join(scopes, ","),
		Hash: k.Hash, Created: k.Created.UTC()}
	if k.Expires != nil {
		t := k.Expires.UTC()
		row.Expires = &t
	}
	if err := s.gdb.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("create API key: %w", err)
	}
	return nil
}

func (r *apiKeyRow) key() merchant.APIKey {
	k := merchant.APIKey{ID: r.ID, Merchant: r.Merchant, Operator: r.Operator, Scopes: []merchant.Scope{}, Created: r.Created.UTC()}
	for _, sc := range strings.Split(r.Scopes, ",") {
		if sc != "" {
			k.Scopes = append(k.Scopes, merchant.Scope(sc))
		}
	}
	if r.Revoked != nil {
		t := r.Revoked.UTC()
		k.Revoked = &t
	}
	if r.Expires != nil {
		t := r.Expires.UTC()
		k.Expires = &t
	}
	return k
}

// APIKey returns an API key with the hash of its secret.
func (s *Store) APIKey(ctx context.Context, id string) (*merchant.KeyRecord, error) {
	row, err := walletstore.ByID[apiKeyRow](ctx, s.gdb, "API key", id)
	if err != nil {
		return nil, err
	}
	return &merchant.KeyRecord{APIKey: row.key(), Hash: row.Hash}, nil
}

// APIKeys lists a merchant's API keys, or every key, oldest first.
func (s *Store) APIKeys(ctx context.Context, owner string, limit int) ([]merchant.APIKey, error) {
	q := s.gdb.WithContext(ctx).Order("created, id").Limit(limit)
	if owner != "" {
		q = q.Where("merchant = ?", owner)
	}
	var rows []apiKeyRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	out := make([]merchant.APIKey, len(rows))
	for i := range rows {
		out[i] = rows[i].key()
	}
	return out, nil
}

// RevokeAPIKey marks an API key revoked, once.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) (*merchant.APIKey, error) {
	var out merchant.APIKey
	err := s.writeTx(ctx, func(tx *gorm.DB) error {
		if err := tx.Model(&apiKeyRow{}).Where("id = ? AND revoked IS NULL", id).Update("revoked", at.UTC()).Error; err != nil {
			return err
		}
		row, err := walletstore.ByID[apiKeyRow](ctx, tx, "API key", id)
		if err != nil {
			return err
		}
		out = row.key()
		return nil
	})
	if err != nil {
		if wallet.ErrorCode(err) == wallet.CodeNotFound {
			return nil, err
		}
		return nil, fmt.Errorf("revoke API key: %w", err)
	}
	return &out, nil
}

func (r *paymentRequestRow) record() *merchant.RequestRecord {
	return &merchant.RequestRecord{
		PaymentRequest: merchant.PaymentRequest{
			ID: r.ID, Merchant: r.Merchant, MerchantName: r.MerchantName, Phone: r.Phone, Amount: r.Amount,
			Reference: r.Reference, Description: r.Description, Status: merchant.RequestStatus(r.Status),
			Reason: r.Reason, Transaction: r.TransferRef,
			Created: r.Created.UTC(), Expires: r.Expires.UTC(), Updated: r.Updated.UTC(),
		},
		Idem: r.Idem, Hash: r.RequestHash, Paybill: r.Paybill, Attempt: r.Attempt,
	}
}

// CreatePaymentRequest inserts a payment request and its event, unless the
// merchant already used the idempotency key.
func (s *Store) CreatePaymentRequest(ctx context.Context, r *merchant.RequestRecord, ev merchant.OutboxEvent, gate merchant.PromptGate) (*merchant.RequestRecord, error) {
	var out *merchant.RequestRecord
	err := s.writeTx(ctx, func(tx *gorm.DB) error {
		found, err := walletstore.First[paymentRequestRow](tx, "merchant = ? AND idem = ?", r.Merchant, r.Idem)
		if err != nil {
			return err
		}
		if found != nil {
			out = found.record()
			return nil
		}
		if err := admitPrompt(tx, gate, r.Merchant, r.Phone); err != nil {
			return err
		}
		row := paymentRequestRow{
			ID: r.ID, Merchant: r.Merchant, Idem: r.Idem, RequestHash: r.Hash, MerchantName: r.MerchantName,
			Paybill: r.Paybill, Phone: r.Phone, Amount: r.Amount, Reference: r.Reference, Description: r.Description,
			Status: string(r.Status), Reason: r.Reason, TransferRef: r.Transaction, Attempt: r.Attempt,
			Created: r.Created.UTC(), Expires: r.Expires.UTC(), Updated: r.Updated.UTC(),
		}
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		out = r
		return insertEvents(tx, []merchant.OutboxEvent{ev})
	})
	if err != nil {
		return nil, fmt.Errorf("create payment request: %w", err)
	}
	return out, nil
}

// PaymentRequest returns a payment request.
func (s *Store) PaymentRequest(ctx context.Context, id string) (*merchant.RequestRecord, error) {
	row, err := walletstore.ByID[paymentRequestRow](ctx, s.gdb, "payment request", id)
	if err != nil {
		return nil, err
	}
	return row.record(), nil
}

// UpdatePaymentRequest changes a payment request's state if it is still
// in state from at attempt attempt.
func (s *Store) UpdatePaymentRequest(ctx context.Context, r *merchant.RequestRecord, from merchant.RequestStatus, attempt int, evs []merchant.OutboxEvent) (bool, error) {
	var changed bool
	err := s.writeTx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&paymentRequestRow{}).Where("id = ? AND status = ? AND attempt = ?", r.ID, string(from), attempt).
			Updates(map[string]any{"status": string(r.Status), "reason": r.Reason, "transfer_ref": r.Transaction,
				"attempt": r.Attempt, "updated": r.Updated.UTC()})
		if res.Error != nil {
			return res.Error
		}
		changed = res.RowsAffected == 1
		if !changed {
			return nil
		}
		return insertEvents(tx, evs)
	})
	if err != nil {
		return false, fmt.Errorf("update payment request: %w", err)
	}
	return changed, nil
}

// PaymentRequests lists a merchant's requests, newest first: ids sort by
// their time (merchant.newID).
func (s *Store) PaymentRequests(ctx context.Context, owner, before string, limit int) ([]merchant.RequestRecord, error) {
	var rows []paymentRequestRow
	if err := s.paymentRequestsQuery(ctx, owner, before).Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("payment requests: %w", err)
	}
	return walletstore.Records(rows, (*paymentRequestRow).record), nil
}

// paymentRequestsQuery is PaymentRequests' query, before its limit: it
// reads idx_payment_requests_merchant in order.
func (s *Store) paymentRequestsQuery(ctx context.Context, owner, before string) *gorm.DB {
	q := s.gdb.WithContext(ctx).Model(&paymentRequestRow{}).Where("merchant = ?", owner)
	if before != "" {
		q = q.Where("id < ?", before)
	}
	return q.Order("id DESC")
}

// PendingPaymentRequests lists the pending requests to a phone.
func (s *Store) PendingPaymentRequests(ctx context.Context, phone string, now time.Time, limit int) ([]merchant.RequestRecord, error) {
	var rows []paymentRequestRow
	if err := s.gdb.WithContext(ctx).Where("phone = ? AND status = ? AND expires > ?", phone, string(merchant.RequestPending), now.UTC()).
		Order("created, id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("pending payment requests: %w", err)
	}
	return walletstore.Records(rows, (*paymentRequestRow).record), nil
}

// DuePaymentRequests lists the requests the sweeper must look at.
func (s *Store) DuePaymentRequests(ctx context.Context, now, leased time.Time, limit int) ([]merchant.RequestRecord, error) {
	var rows []paymentRequestRow
	if err := s.gdb.WithContext(ctx).
		Where("(status = ? AND expires <= ?) OR (status = ? AND updated < ?)",
			string(merchant.RequestPending), now.UTC(), "approving", leased.UTC()).
		Order("expires").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("due payment requests: %w", err)
	}
	return walletstore.Records(rows, (*paymentRequestRow).record), nil
}

func (r *payoutRow) record() *merchant.PayoutRecord {
	return &merchant.PayoutRecord{
		Payout: merchant.Payout{
			ID: r.ID, Merchant: r.Merchant, Phone: r.Phone, Amount: r.Amount, Fee: r.Fee, Reference: r.Reference,
			Status: merchant.PayoutStatus(r.Status), Reason: r.Reason, Message: r.Message, Transaction: r.TransferRef,
			Batch: r.Batch, Line: r.Line, Created: r.Created.UTC(), Updated: r.Updated.UTC(),
		},
		Key: r.WalletKey, Hash: r.RequestHash,
	}
}

func payoutRowOf(p *merchant.PayoutRecord) payoutRow {
	return payoutRow{
		ID: p.ID, Merchant: p.Merchant, WalletKey: p.Key, RequestHash: p.Hash, Phone: p.Phone, Amount: p.Amount,
		Fee: p.Fee, Reference: p.Reference, Status: string(p.Status), Reason: p.Reason, Message: p.Message,
		TransferRef: p.Transaction, Batch: p.Batch, Line: p.Line, LeaseUntil: time.Unix(0, 0).UTC(),
		Created: p.Created.UTC(), Updated: p.Updated.UTC(),
	}
}

// CreatePayout inserts a payout unless one with its wallet key exists.
func (s *Store) CreatePayout(ctx context.Context, p *merchant.PayoutRecord) (*merchant.PayoutRecord, error) {
	var out *merchant.PayoutRecord
	err := s.writeTx(ctx, func(tx *gorm.DB) error {
		found, err := walletstore.First[payoutRow](tx, "wallet_key = ?", p.Key)
		if err != nil {
			return err
		}
		if found != nil {
			out = found.record()
			return nil
		}
		row := payoutRowOf(p)
		out = p
		return tx.Create(&row).Error
	})
	if err != nil {
		return nil, fmt.Errorf("create payout: %w", err)
	}
	return out, nil
}

// Payout returns a payout.
func (s *Store) Payout(ctx context.Context, id string) (*merchant.PayoutRecord, error) {
	row, err := walletstore.ByID[payoutRow](ctx, s.gdb, "payout", id)
	if err != nil {
		return nil, err
	}
	return row.record(), nil
}

// FinishPayout records a payout's result, and a batch row's in its batch.
func (s *Store) FinishPayout(ctx context.Context, p *merchant.PayoutRecord, evs []merchant.OutboxEvent, done func(merchant.BulkPayout) merchant.OutboxEvent) (bool, error) {
	var changed bool
	err := s.writeTx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&payoutRow{}).Where("id = ? AND status = ?", p.ID, string(merchant.PayoutPending)).
			Updates(map[string]any{"status": string(p.Status), "fee": p.Fee, "reason": p.Reason, "message": p.Message,
				"transfer_ref": p.Transaction, "updated": p.Updated.UTC()})
		if res.Error != nil {
			return res.Error
		}
		changed = res.RowsAffected == 1
		if !changed {
			return nil
		}
		all := evs
		if p.Batch != "" {
			paid, failed, amount := 0, 1, int64(0)
			if p.Status == merchant.PayoutPaid {
				paid, failed, amount = 1, 0, p.Amount
			}
			if err := tx.Model(&payoutBatchRow{}).Where("id = ?", p.Batch).Updates(map[string]any{
				"done":        gorm.Expr("done + 1"),
				"paid":        gorm.Expr("paid + ?", paid),
				"failed":      gorm.Expr("failed + ?", failed),
				"paid_amount": gorm.Expr("paid_amount + ?", amount),
			}).Error; err != nil {
				return err
			}
			var b payoutBatchRow
			if err := tx.Where("id = ?", p.Batch).Take(&b).Error; err != nil {
				return err
			}
			if b.Done == b.Rows && b.Status == string(merchant.BatchProcessing) {
				at := p.Updated.UTC()
				if err := tx.Model(&payoutBatchRow{}).Where("id = ?", b.ID).
					Updates(map[string]any{"status": string(merchant.BatchDone), "finished": at}).Error; err != nil {
					return err
				}
				b.Status, b.Finished = string(merchant.BatchDone), &at
				if done != nil {
					all = append(append([]merchant.OutboxEvent{}, evs...), done(b.record().BulkPayout))
				}
			}
		}
		return insertEvents(tx, all)
	})
	if err != nil {
		return false, fmt.Errorf("finish payout: %w", err)
	}
	return changed, nil
}

// StalePayouts lists single payouts pending since before before.
func (s *Store) StalePayouts(ctx context.Context, before time.Time, limit int) ([]merchant.PayoutRecord, error) {
	var rows []payoutRow
	if err := s.gdb.WithContext(ctx).Where("status = ? AND batch = '' AND updated < ?", string(merchant.PayoutPending), before.UTC()).
		Order("updated").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("stale payouts: %w", err)
	}
	return walletstore.Records(rows, (*payoutRow).record), nil
}

func (r *payoutBatchRow) record() *merchant.BatchRecord {
	b := &merchant.BatchRecord{
		BulkPayout: merchant.BulkPayout{
			ID: r.ID, Merchant: r.Merchant, Status: merchant.BatchStatus(r.Status), Rows: r.Rows, Done: r.Done,
			Paid: r.Paid, Failed: r.Failed, Amount: r.Amount, PaidOut: r.PaidAmount, Created: r.Created.UTC(),
		},
		Idem: r.Idem, Hash: r.FileHash,
	}
	if r.Finished != nil {
		t := r.Finished.UTC()
		b.Finished = &t
	}
	return b
}

// CreateBatch inserts a bulk payout with its rows, unless the merchant
// already used the idempotency key.
func (s *Store) CreateBatch(ctx context.Context, b *merchant.BatchRecord, rows []merchant.PayoutRecord, evs []merchant.OutboxEvent) (*merchant.BatchRecord, error) {
	var out *merchant.BatchRecord
	err := s.writeTx(ctx, func(tx *gorm.DB) error {
		found, err := walletstore.First[payoutBatchRow](tx, "merchant = ? AND idem = ?", b.Merchant, b.Idem)
		if err != nil {
			return err
		}
		if found != nil {
			out = found.record()
			return nil
		}
		row := payoutBatchRow{
			ID: b.ID, Merchant: b.Merchant, Idem: b.Idem, FileHash: b.Hash, Status: string(b.Status), Rows: b.Rows,
			Done: b.Done, Paid: b.Paid, Failed: b.Failed, Amount: b.Amount, PaidAmount: b.PaidOut, Created: b.Created.UTC(),
		}
		if b.Finished != nil {
			t := b.Finished.UTC()
			row.Finished = &t
		}
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		prs := make([]payoutRow, len(rows))
		for i := range rows {
			prs[i] = payoutRowOf(&rows[i])
		}
		if len(prs) > 0 {
			if err := tx.CreateInBatches(prs, 100).Error; err != nil {
				return err
			}
		}
		out = b
		return insertEvents(tx, evs)
	})
	if err != nil {
		return nil, fmt.Errorf("create bulk payout: %w", err)
	}
	return out, nil
}

// Batch returns a bulk payout without its rows.
func (s *Store) Batch(ctx context.Context, id string) (*merchant.BatchRecord, error) {
	row, err := walletstore.ByID[payoutBatchRow](ctx, s.gdb, "bulk payout", id)
	if err != nil {
		return nil, err
	}
	return row.record(), nil
}

// BatchRows returns a bulk payout's rows in line order.
func (s *Store) BatchRows(ctx context.Context, id string) ([]merchant.Payout, error) {
	var rows []payoutRow
	if err := s.gdb.WithContext(ctx).Where("batch = ?", id).Order("line").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("bulk payout rows: %w", err)
	}
	out := make([]merchant.Payout, len(rows))
	for i := range rows {
		out[i] = rows[i].record().Payout
	}
	return out, nil
}

// ClaimRows leases pending batch rows whose lease has ended. On PostgreSQL
// the rows are locked with SKIP LOCKED, so that workers in several wallet
// processes claim different rows without waiting for each other.
func (s *Store) ClaimRows(ctx context.Context, now, until time.Time, limit int) ([]merchant.PayoutRecord, error) {
	var out []merchant.PayoutRecord
	err := s.writeTx(ctx, func(tx *gorm.DB) error {
		out = nil
		q := tx.Where("status = ? AND batch <> '' AND lease_until < ?", string(merchant.PayoutPending), now.UTC()).
			Order("batch, line").Limit(limit)
		if s.pg {
			q = q.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
		}
		var rows []payoutRow
		if err := q.Find(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		ids := make([]string, len(rows))
		for i := range rows {
			ids[i] = rows[i].ID
		}
		if err := tx.Model(&payoutRow{}).Where("id IN ? AND status = ? AND lease_until < ?", ids, string(merchant.PayoutPending), now.UTC()).
			Update("lease_until", until.UTC()).Error; err != nil {
			return err
		}
		out = walletstore.Records(rows, (*payoutRow).record)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim bulk payout rows: %w", err)
	}
	return out, nil
}
