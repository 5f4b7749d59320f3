package store

import (
	"context"
	"fmt"
	"math"
	"time"

	"gorm.io/gorm"

	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
)

// webhookEndpoint is a row of webhook_endpoints: a merchant's URL and
// signing secret. The secret is kept as is: signing needs it (as a
// receiver's verification does), so it is as sensitive as the database.
type webhookEndpoint struct {
	Merchant  string    `gorm:"primaryKey;size:32"`
	URL       string    `gorm:"size:2048;not null"`
	Secret    string    `gorm:"size:80;not null"`
	CreatedAt time.Time `gorm:"not null;autoCreateTime:false"`
	UpdatedAt time.Time `gorm:"not null;autoUpdateTime:false"`
}

// TableName is the table's name for gorm.
func (webhookEndpoint) TableName() string { return "webhook_endpoints" }

// Internal statuses of a delivery. Sending is a claim, with a lease: the
// API shows it as pending. Pending and sending are the words of an SMS's
// StatusPending and StatusSending, which claimStatement checks for both.
const (
	hookPending   = string(notify.DeliveryPending)
	hookSending   = notify.StatusSending
	hookDelivered = string(notify.DeliveryDelivered)
	hookFailed    = string(notify.DeliveryFailed)
)

// webhookDelivery is a row of webhook_deliveries: one event on its way to a
// merchant, unique per (merchant, event id). A merchant's pending deliveries
// are sent one at a time in (Seq, ID) order: only the first of them may be
// claimed, and only while none of the merchant's is claimed (see
// claimWebhooks). NextAttemptAt is when a pending row is due, when a
// sending row's lease ends, and when a delivered or failed row finished:
// its retention counts from then (purgeWebhooks, on the index of the due
// rows).
type webhookDelivery struct {
	ID            string    `gorm:"primaryKey;size:32"`
	Merchant      string    `gorm:"size:32;not null;uniqueIndex:idx_webhook_deliveries_event,priority:1;index:idx_webhook_deliveries_queue,priority:1"`
	EventID       string    `gorm:"size:96;not null;uniqueIndex:idx_webhook_deliveries_event,priority:2"`
	Type          string    `gorm:"size:64;not null"`
	Payload       string    `gorm:"not null"`
	Status        string    `gorm:"size:16;not null;index:idx_webhook_deliveries_due,priority:1;index:idx_webhook_deliveries_queue,priority:2;index:idx_webhook_deliveries_created,priority:2"`
	Seq           int64     `gorm:"not null;default:0;index:idx_webhook_deliveries_queue,priority:3"`
	NextAttemptAt time.Time `gorm:"not null;index:idx_webhook_deliveries_due,priority:2"`
	// Attempts counts every POST; Retries the failed ones since the
	// delivery was (re)queued, which set its backoff.
	Attempts int    `gorm:"not null;default:0"`
	Retries  int    `gorm:"not null;default:0"`
	Claim    string `gorm:"size:32;not null;default:''"`
	// URL is the endpoint's URL when recorded, then the one last POSTed to.
	URL string `gorm:"size:2048;not null;default:''"`
	// FirstAttemptAt starts the retry window (WebhookSenderConfig.RetryFor);
	// a re-send starts a new one.
	FirstAttemptAt *time.Time
	LastError      string `gorm:"size:512;not null;default:''"`
	LastStatus     int    `gorm:"not null;default:0"`
	// CreatedAt and Status index FailureRates' range by day, covering it.
	CreatedAt   time.Time `gorm:"not null;autoCreateTime:false;index:idx_webhook_deliveries_created,priority:1"`
	UpdatedAt   time.Time `gorm:"not null;autoUpdateTime:false"`
	DeliveredAt *time.Time
}

// TableName is the table's name for gorm.
func (webhookDelivery) TableName() string { return "webhook_deliveries" }

// webhookAttempt is a row of webhook_attempts: one POST of a delivery.
type webhookAttempt struct {
	ID         int64  `gorm:"primaryKey;autoIncrement"`
	DeliveryID string `gorm:"size:32;not null;index"`
	// At and Status index FailureRates' range by day, covering it.
	At         time.Time `gorm:"not null;index:idx_webhook_attempts_at,priority:1"`
	Status     int       `gorm:"not null;default:0;index:idx_webhook_attempts_at,priority:2"`
	Error      string    `gorm:"size:512;not null;default:''"`
	DurationUS int64     `gorm:"not null;default:0"`
}

// TableName is the table's name for gorm.
func (webhookAttempt) TableName() string { return "webhook_attempts" }

// webhookModels are the tables Open migrates for webhooks.
var webhookModels = []any{&webhookEndpoint{}, &webhookDelivery{}, &webhookAttempt{}}

const (
	// webhookChunkRows bounds the rows of one INSERT of deliveries: 13
	// parameters a row, well under SQLite's 32,766.
	webhookChunkRows = 500
	// attemptsShownMax bounds the attempts the listing shows per delivery,
	// the latest: a delivery retried for a day has about 30.
	attemptsShownMax = 50
)

// recordWebhooks inserts in tx a delivery of each of hooks whose merchant
// has an endpoint now; one recorded before (same merchant and event id) is
// skipped. It returns how many it inserted.
func recordWebhooks(tx *gorm.DB, hooks []notify.OutgoingWebhook, now time.Time) (int64, error) {
	if len(hooks) == 0 {
		return 0, nil
	}
	var merchants []string
	seen := map[string]bool{}
	for _, h := range hooks {
		if !seen[h.Merchant] {
			seen[h.Merchant] = true
			merchants = append(merchants, h.Merchant)
		}
	}
	var eps []webhookEndpoint
	for len(merchants) > 0 {
		chunk := merchants[:min(len(merchants), webhookChunkRows)]
		merchants = merchants[len(chunk):]
		var part []webhookEndpoint
		if err := tx.Select("merchant", "url").Where("merchant IN ?", chunk).Find(&part).Error; err != nil {
			return 0, err
		}
		eps = append(eps, part...)
	}
	urls := make(map[string]string, len(eps))
	for _, e := range eps {
		urls[e.Merchant] = e.URL
	}
	var rows []webhookDelivery
	for _, h := range hooks {
		url, ok := urls[h.Merchant]
		if !ok {
			continue
		}
		rows = append(rows, webhookDelivery{ID: notify.NewDeliveryID(now), Merchant: h.Merchant, EventID: h.Event,
			Type: string(h.Type), Payload: string(h.Payload), Status: hookPending, Seq: int64(h.Seq),
			NextAttemptAt: now, URL: url, CreatedAt: now, UpdatedAt: now})
	}
	return deliveryInsertion.exec(tx, rows)
}

// deliveryInsertion records deliveries, skipping the events already
// recorded for their merchant.
var deliveryInsertion = &insertion[webhookDelivery]{
	table: "webhook_deliveries",
	cols: `(id, merchant, event_id, type, payload, status, seq, next_attempt_at, attempts, retries, claim, url,
		last_error, last_status, created_at, updated_at)`,
	marks:    "(?, ?, ?, ?, ?, ?, ?, ?, 0, 0, '', ?, '', 0, ?, ?)",
	conflict: "(merchant, event_id)",
	rowsMax:  webhookChunkRows,
	values: func(args []any, r *webhookDelivery) []any {
		return append(args, r.ID, r.Merchant, r.EventID, r.Type, r.Payload, r.Status, r.Seq, r.NextAttemptAt, r.URL,
			r.CreatedAt, r.UpdatedAt)
	},
}

// SetWebhook registers merchant's webhook URL, or replaces it. A first set
// makes the signing secret, and so does rotate; the Endpoint returned holds
// the secret only then. Deliveries not yet made go to the new URL, signed
// with the new secret. It does not check the URL (ValidateWebhookURL does).
func (s *Store) SetWebhook(ctx context.Context, merchant, url string, rotate bool) (*notify.Endpoint, error) {
	now := time.Now().UTC()
	secret := notify.NewWebhookSecret()
	defer s.writing()()
	db := s.db.WithContext(ctx)
	res := db.Exec(`INSERT INTO webhook_endpoints (merchant, url, secret, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (merchant) DO NOTHING`, merchant, url, secret, now, now)
	if res.Error != nil {
		return nil, fmt.Errorf("set webhook: %w", res.Error)
	}
	created := res.RowsAffected == 1
	if !created {
		set := map[string]any{"url": url, "updated_at": now}
		if rotate {
			set["secret"] = secret
		}
		if err := db.Model(&webhookEndpoint{}).Where("merchant = ?", merchant).Updates(set).Error; err != nil {
			return nil, fmt.Errorf("set webhook: %w", err)
		}
	}
	var e webhookEndpoint
	if err := db.Where("merchant = ?", merchant).Take(&e).Error; err != nil {
		return nil, fmt.Errorf("set webhook: %w", err)
	}
	out := e.endpoint()
	if created || rotate {
		out.Secret = e.Secret
	}
	return &out, nil
}

// Webhook returns merchant's endpoint without its secret, or a
// CodeNotFound *wallet.Error when it has none.
func (s *Store) Webhook(ctx context.Context, merchant string) (*notify.Endpoint, error) {
	var rows []webhookEndpoint
	if err := s.db.WithContext(ctx).Where("merchant = ?", merchant).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	if len(rows) == 0 {
		return nil, wallet.Errorf(wallet.CodeNotFound, "no webhook url is set")
	}
	e := rows[0].endpoint()
	return &e, nil
}

func (e *webhookEndpoint) endpoint() notify.Endpoint {
	return notify.Endpoint{Merchant: e.Merchant, URL: e.URL, Created: e.CreatedAt.UTC(), Updated: e.UpdatedAt.UTC()}
}

// DeliveryFilter selects a merchant's deliveries for Deliveries.
type DeliveryFilter struct {
	Merchant string                // required
	Status   notify.DeliveryStatus // "" for all
	Before   string                // only deliveries with a smaller id: the last id of the previous page
	Limit    int                   // at most this many (default 20, at most 100)
}

// Deliveries returns the merchant's deliveries newest first, with their
// attempts (the latest 50, oldest first), and the Before of the next page
// ("" when this is the last).
func (s *Store) Deliveries(ctx context.Context, f DeliveryFilter) ([]notify.Delivery, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = notify.DeliveriesDefault
	}
	limit = min(limit, notify.DeliveriesMax)
	q := s.db.WithContext(ctx).Where("merchant = ?", f.Merchant)
	switch f.Status {
	case "":
	case notify.DeliveryPending:
		q = q.Where("status IN ?", []string{hookPending, hookSending})
	default:
		q = q.Where("status = ?", string(f.Status))
	}
	if f.Before != "" {
		q = q.Where("id < ?", f.Before)
	}
	var rows []webhookDelivery
	if err := q.Order("id DESC").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, "", fmt.Errorf("webhook deliveries: %w", err)
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		next = rows[limit-1].ID
	}
	out, err := s.withAttempts(ctx, rows)
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// withAttempts returns rows as Deliveries with their attempts.
func (s *Store) withAttempts(ctx context.Context, rows []webhookDelivery) ([]notify.Delivery, error) {
	out := make([]notify.Delivery, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	ids := make([]string, len(rows))
	at := make(map[string]int, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
		at[rows[i].ID] = i
		out[i] = rows[i].delivery()
	}
	var atts []webhookAttempt
	if err := s.db.WithContext(ctx).Where("delivery_id IN ?", ids).Order("id").Find(&atts).Error; err != nil {
		return nil, fmt.Errorf("webhook attempts: %w", err)
	}
	for _, a := range atts {
		d := &out[at[a.DeliveryID]]
		d.Attempts = append(d.Attempts, notify.Attempt{At: a.At.UTC(), Status: a.Status, Error: a.Error,
			Duration: float64(a.DurationUS) / 1000})
	}
	for i := range out {
		if n := len(out[i].Attempts); n > attemptsShownMax {
			out[i].Attempts = out[i].Attempts[n-attemptsShownMax:]
		}
	}
	return out, nil
}

func (r *webhookDelivery) delivery() notify.Delivery {
	d := notify.Delivery{ID: r.ID, Event: r.EventID, Type: merchant.EventType(r.Type), Status: notify.DeliveryStatus(r.Status),
		URL: r.URL, Attempts: []notify.Attempt{}, Created: r.CreatedAt.UTC()}
	if r.Status == hookSending {
		d.Status = notify.DeliveryPending
	}
	if d.Status == notify.DeliveryPending {
		next := r.NextAttemptAt.UTC()
		d.NextAttempt = &next
	}
	if r.DeliveredAt != nil && r.Status == hookDelivered {
		t := r.DeliveredAt.UTC()
		d.Delivered = &t
	}
	return d
}

// Resend queues merchant's delivery id again, due now, behind the
// merchant's other pending deliveries, with a fresh retry window. It keeps
// its event id, so a receiver that had it dedupes it. It returns a
// CodeNotFound *wallet.Error for an id that is not the merchant's, and
// CodeInvalidState for a delivery still pending.
func (s *Store) Resend(ctx context.Context, merchant, id string) (*notify.Delivery, error) {
	now := time.Now().UTC()
	release := s.writing()
	res := s.db.WithContext(ctx).Exec(`UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, retries = 0,
		first_attempt_at = NULL, delivered_at = NULL, claim = '', updated_at = ?,
		seq = (SELECT COALESCE(MAX(q.seq), 0) + 1 FROM webhook_deliveries q WHERE q.merchant = ?)
		WHERE id = ? AND merchant = ? AND status IN (?, ?)`,
		hookPending, now, now, merchant, id, merchant, hookDelivered, hookFailed)
	release()
	if res.Error == nil && res.RowsAffected > 0 {
		s.failures.reset() // the delivery's day counts it failed no more
	}
	if res.Error != nil {
		return nil, fmt.Errorf("resend webhook: %w", res.Error)
	}
	var rows []webhookDelivery
	if err := s.db.WithContext(ctx).Where("id = ? AND merchant = ?", id, merchant).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("resend webhook: %w", err)
	}
	if len(rows) == 0 {
		return nil, wallet.Errorf(wallet.CodeNotFound, "no webhook delivery %s", id)
	}
	if res.RowsAffected == 0 {
		return nil, wallet.Errorf(wallet.CodeInvalidState, "webhook delivery %s is still pending: it is retried on its own", id)
	}
	s.hookWakers.wake()
	out, err := s.withAttempts(ctx, rows)
	if err != nil {
		return nil, err
	}
	return &out[0], nil
}

// claimedDelivery is a claimed row with its endpoint, as the sender needs it.
type claimedDelivery struct {
	webhookDelivery
	endpoint webhookEndpoint
}

// claimWebhooks takes up to n due deliveries for a WebhookSender, at most
// one per merchant, and returns them with their endpoints. A delivery may
// be claimed when it is due (pending, or sending with its lease run out)
// and it is its merchant's first pending one in (seq, id) order, and none of
// the merchant's deliveries is claimed under a live lease: so a merchant's
// deliveries go one at a time, in order, however many senders share the
// database. On PostgreSQL the chosen rows are locked with SKIP LOCKED and
// checked again once locked; SQLite runs one write statement at a time.
//
// Only deliveries of events at stream sequence through or below are
// claimed: through is how far every event has been recorded (the
// WebhookSender's Recorded), so a merchant's next delivery never goes
// before an earlier event, recorded late (redelivered after a notifier
// died, or after a failed batch), has its row. A delivery attempted before
// (a re-send, numbered after its merchant's last by Resend, or a retry) is
// of an event recorded long ago and does not wait: a re-sent one would
// otherwise wait for the next event of the stream.
func (s *Store) claimWebhooks(ctx context.Context, n int, lease time.Duration, through uint64) ([]claimedDelivery, error) {
	now := time.Now().UTC()
	token := newClaimToken()
	set := `SET status = ?, claim = ?, next_attempt_at = ?, updated_at = ?`
	setArgs := []any{hookSending, token, now.Add(lease), now}
	// Each NOT EXISTS names one status, so that it is a range of the
	// queue index (merchant, status, seq) that ends at its first row: with
	// "status IN (pending, sending)" PostgreSQL walked every earlier row of
	// the merchant, delivered ones included, for every due row, and a
	// merchant's backlog of a few thousand took seconds a claim, slower
	// than deliveries arrived (issue 12's fault test: the queue stalled).
	before := `SELECT 1 FROM webhook_deliveries e
		WHERE e.merchant = d.merchant AND e.status = ? AND e.seq <= d.seq AND (e.seq < d.seq OR e.id < d.id)`
	due := `SELECT d.id FROM webhook_deliveries d
		WHERE d.status IN (?, ?) AND d.next_attempt_at <= ? AND (d.seq <= ? OR d.attempts > 0)
		AND NOT EXISTS (` + before + `) AND NOT EXISTS (` + before + `)
		AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
			WHERE e.merchant = d.merchant AND e.status = ? AND e.next_attempt_at > ? AND e.id <> d.id)
		ORDER BY d.next_attempt_at LIMIT ?`
	dueArgs := []any{hookPending, hookSending, now, seqArg(through), hookPending, hookSending, hookSending, now, n}
	q, args := s.claimStatement("webhook_deliveries", set, due, "FOR UPDATE OF d SKIP LOCKED", setArgs, dueArgs, now)
	var rows []webhookDelivery
	release := s.writing()
	err := s.db.WithContext(ctx).Raw(q, args...).Scan(&rows).Error
	release()
	if err != nil {
		return nil, fmt.Errorf("claim webhooks: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	merchants := make([]string, len(rows))
	for i := range rows {
		merchants[i] = rows[i].Merchant
	}
	var eps []webhookEndpoint
	if err := s.db.WithContext(ctx).Where("merchant IN ?", merchants).Find(&eps).Error; err != nil {
		// The rows stay claimed until their leases end, then are taken again.
		return nil, fmt.Errorf("claim webhooks: %w", err)
	}
	byMerchant := make(map[string]webhookEndpoint, len(eps))
	for _, e := range eps {
		byMerchant[e.Merchant] = e
	}
	out := make([]claimedDelivery, len(rows))
	for i := range rows {
		out[i] = claimedDelivery{webhookDelivery: rows[i], endpoint: byMerchant[rows[i].Merchant]}
	}
	return out, nil
}

// webhookOutcome is what a WebhookSender learned of a claimed delivery.
type webhookOutcome struct {
	row     *claimedDelivery
	attempt *webhookAttempt // nil when no POST was made (no endpoint)
	status  string          // hookDelivered, hookPending (retry) or hookFailed
	next    time.Time       // when a retry is due
	result  string          // what to tell Observe
}

// applyWebhook writes an outcome, and its attempt, in one transaction: the
// delivery only where it still carries the claim it was claimed with. It
// reports whether another sender had taken the delivery over (its lease ran
// out); the attempt is recorded either way, since it was made.
func (s *Store) applyWebhook(ctx context.Context, o webhookOutcome) (lost bool, err error) {
	now := time.Now().UTC()
	r := o.row
	set := map[string]any{"status": o.status, "updated_at": now, "claim": ""}
	if a := o.attempt; a != nil {
		set["attempts"] = gorm.Expr("attempts + 1")
		set["first_attempt_at"] = gorm.Expr("COALESCE(first_attempt_at, ?)", a.At.UTC())
		set["last_status"] = a.Status
		set["last_error"] = a.Error
		set["url"] = r.endpoint.URL
	} else {
		set["last_error"] = "the merchant has no webhook url"
	}
	switch o.status {
	case hookDelivered:
		set["delivered_at"] = now
		set["retries"] = 0
		set["next_attempt_at"] = now
	case hookFailed:
		set["next_attempt_at"] = now
	case hookPending:
		set["next_attempt_at"] = o.next.UTC()
		set["retries"] = gorm.Expr("retries + 1")
	}
	defer s.writing()()
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if o.attempt != nil {
			if err := tx.Create(o.attempt).Error; err != nil {
				return err
			}
		}
		res := tx.Model(&webhookDelivery{}).Where("id = ? AND claim = ? AND status = ?", r.ID, r.Claim, hookSending).
			Updates(set)
		if res.Error != nil {
			return res.Error
		}
		lost = res.RowsAffected == 0
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("record webhook outcome: %w", err)
	}
	return lost, nil
}

// purgeWebhooks deletes up to n deliveries delivered or failed before
// before, with their attempts, in one transaction, and returns how many it
// deleted. A delivery re-sent meanwhile is pending again, and kept. On
// PostgreSQL the rows are locked with SKIP LOCKED, so that purges running
// at once share the work rather than wait on each other.
func (s *Store) purgeWebhooks(ctx context.Context, before time.Time, n int) (int, error) {
	lock := ""
	if s.pg {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	finished := []string{hookDelivered, hookFailed}
	var deleted []string
	defer s.writing()()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var ids []string
		if err := tx.Raw(`SELECT id FROM webhook_deliveries WHERE status IN ? AND next_attempt_at < ? LIMIT ?`+lock,
			finished, before.UTC(), n).Scan(&ids).Error; err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		// Checked again as it is deleted: on SQLite nothing is locked
		// until the first write.
		if err := tx.Raw(`DELETE FROM webhook_deliveries WHERE id IN ? AND status IN ? AND next_attempt_at < ? RETURNING id`,
			ids, finished, before.UTC()).Scan(&deleted).Error; err != nil {
			return err
		}
		if len(deleted) == 0 {
			return nil
		}
		return tx.Exec(`DELETE FROM webhook_attempts WHERE delivery_id IN ?`, deleted).Error
	})
	if err != nil {
		return 0, fmt.Errorf("purge webhooks: %w", err)
	}
	return len(deleted), nil
}

// seqArg is a stream sequence as the seq column holds it (a signed 64-bit
// integer): one past its range is all of them.
func seqArg(seq uint64) int64 { return int64(min(seq, math.MaxInt64)) }

// webhooksBeyond reports whether a pending delivery is due but for its
// event's sequence, past through.
func (s *Store) webhooksBeyond(ctx context.Context, through uint64) (bool, error) {
	var ids []string
	err := s.db.WithContext(ctx).Model(&webhookDelivery{}).Where("status = ? AND next_attempt_at <= ? AND seq > ? AND attempts = 0",
		hookPending, time.Now().UTC(), seqArg(through)).Limit(1).Pluck("id", &ids).Error
	if err != nil {
		return false, fmt.Errorf("webhooks beyond %d: %w", through, err)
	}
	return len(ids) > 0, nil
}

// nextWebhookDue is the earliest time after now at which a delivery falls
// due or a claim's lease ends; zero when there is none.
func (s *Store) nextWebhookDue(ctx context.Context) (time.Time, error) {
	var rows []webhookDelivery
	err := s.db.WithContext(ctx).Select("next_attempt_at").
		Where("status IN ? AND next_attempt_at > ?", []string{hookPending, hookSending}, time.Now().UTC()).
		Order("next_attempt_at").Limit(1).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return time.Time{}, err
	}
	return rows[0].NextAttemptAt.UTC(), nil
}

// WebhookBacklog counts the deliveries not yet delivered or failed, for a
// gauge and for tests.
func (s *Store) WebhookBacklog(ctx context.Context) (int, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&webhookDelivery{}).Where("status IN ?", []string{hookPending, hookSending}).
		Count(&n).Error; err != nil {
		return 0, fmt.Errorf("webhook backlog: %w", err)
	}
	return int(n), nil
}
