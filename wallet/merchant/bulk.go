package merchant

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/kibubu/kibubu/wallet"
)

const (
	// BulkBytesMax bounds a bulk payout file: 10,000 rows of a phone, an
	// amount and a reference take about half a megabyte.
	BulkBytesMax = 2 << 20
	// BulkRowsMax bounds the rows of one bulk payout: one transaction
	// stores them all, in well under a second on either database.
	BulkRowsMax = 10_000
	// bulkConcurrency bounds the payouts this process posts at once from
	// bulk files: enough to fill the wallet's group commit, few enough not
	// to crowd out the customers' own transfers.
	bulkConcurrency = 4
	// bulkClaimMax is how many rows a worker leases at a time.
	bulkClaimMax = 64
	// rowTimeout bounds the posting of one row; a row whose answer is lost
	// stays leased and is tried again, under the same key, when its lease
	// ends.
	rowTimeout = 10 * time.Second
)

// BulkPayout starts paying every row of a CSV file from p's merchant's
// balance and returns the batch at once, processing: workers pay each row
// as a payout under the key pb:<batch>:<line>, recording each row's result
// and the batch's progress (Bulk shows both), and write payout_batch.done
// when the last row is paid or failed.
//
// The file has a header row naming the columns phone, amount (in major
// units, as a person writes it: 1500 or 1500.50) and optionally reference,
// in any order and any case; other columns are ignored. A malformed file
// (not UTF-8 CSV, no such header, no rows, more than 10,000 rows, more than
// 2 MB) is CodeInvalid and nothing is paid; a malformed row (a bad phone
// or amount) becomes that row's failed result and does not stop the
// others. idem is the merchant's idempotency key: the same key with the
// same file returns the existing batch and pays nothing twice; with
// another file it is CodeConflict.
func (s *Service) BulkPayout(ctx context.Context, p Principal, idem string, file []byte) (*BulkPayout, error) {
	if err := checkIdem(idem); err != nil {
		return nil, err
	}
	m, err := s.merchant(ctx, p)
	if err != nil {
		return nil, err
	}
	lines, err := parseBulk(file, s.cur, s.region)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(file)
	now := s.now()
	b := &BatchRecord{
		BulkPayout: BulkPayout{ID: newID("pb", now), Merchant: m.Number, Status: BatchProcessing, Rows: len(lines), Created: now},
		Idem:       idem, Hash: sum[:16],
	}
	rows := make([]PayoutRecord, len(lines))
	for i, l := range lines {
		r := &rows[i]
		r.Payout = Payout{ID: newID("po", now), Merchant: m.Number, Phone: l.Phone, Amount: l.Amount, Reference: l.Reference,
			Status: PayoutPending, Batch: b.ID, Line: l.Line, Created: now, Updated: now}
		r.Key = "pb:" + b.ID + ":" + strconv.Itoa(l.Line)
		if l.err != nil {
			r.Status, r.Reason, r.Message = PayoutFailed, string(l.err.Code), failureMessage(l.err)
			b.Done++
			b.Failed++
			continue
		}
		b.Amount += l.Amount
	}
	var evs []OutboxEvent
	if b.Done == b.Rows { // nothing to pay
		b.Status, b.Finished = BatchDone, &now
		evs = append(evs, newEvent(EventBatchDone, m.Number, b.BulkPayout, now, "", ""))
	}
	got, err := s.st.CreateBatch(ctx, b, rows, evs)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(got.Hash, b.Hash) {
		return nil, wallet.Errorf(wallet.CodeConflict, "this idempotency key was used for a different file")
	}
	s.wakeBulk()
	out := got.BulkPayout
	return &out, nil
}

// Bulk returns one of p's merchant's bulk payouts with its progress and
// every row's result, in line order; another merchant's is CodeNotFound.
func (s *Service) Bulk(ctx context.Context, p Principal, id string) (*BulkPayout, error) {
	if p.Merchant == "" {
		return nil, wallet.Errorf(wallet.CodeForbidden, "an operator key cannot act for a merchant")
	}
	if !validID("pb", id) {
		return nil, notFound("bulk payout", id)
	}
	b, err := s.st.Batch(ctx, id)
	if wallet.ErrorCode(err) == wallet.CodeNotFound || err == nil && b.Merchant != p.Merchant {
		return nil, notFound("bulk payout", id)
	}
	if err != nil {
		return nil, err
	}
	if b.Results, err = s.st.BatchRows(ctx, id); err != nil {
		return nil, err
	}
	out := b.BulkPayout
	return &out, nil
}

func (s *Service) wakeBulk() {
	select {
	case s.bulkWake <- struct{}{}:
	default:
	}
}

// bulkWorker pays the rows of bulk payouts until ctx ends: it leases up to
// bulkClaimMax rows whose lease has ended (new rows, rows a stopped process
// had leased), pays them bulkConcurrency at a time, and leases more; with
// none left it waits for a new batch or the next sweep. Several wallet
// processes share the work: a leased row is not leased again until its
// lease ends, and its wallet key pays it at most once even then. Rows
// already leased when ctx ends are finished before it returns.
func (s *Service) bulkWorker(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Sweep)
	defer t.Stop()
	sem := make(chan struct{}, bulkConcurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		now := s.now()
		rows, err := s.st.ClaimRows(ctx, now, now.Add(leaseDuration), bulkClaimMax)
		if err != nil && ctx.Err() == nil {
			s.log.Error("bulk payout claim failed", "err", err)
		}
		if len(rows) == 0 {
			select {
			case <-ctx.Done():
			case <-s.bulkWake:
			case <-t.C:
			}
			continue
		}
		for i := range rows {
			sem <- struct{}{}
			wg.Add(1)
			go func(r *PayoutRecord) {
				defer func() { <-sem; wg.Done() }()
				// Not ctx: a row started is finished even during shutdown
				// (the wallet stops after the merchant services).
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rowTimeout)
				defer cancel()
				if err := s.pay(rctx, r); err != nil {
					s.log.Warn("bulk payout row left for a retry", "batch", r.Batch, "line", r.Line, "err", err)
				}
			}(&rows[i])
		}
		// Wait for this lease's rows before taking more, so that a slow
		// wallet is not handed more than bulkClaimMax rows at once.
		wg.Wait()
	}
	return nil
}

// bulkLine is one data row of a bulk payout file.
type bulkLine struct {
	PayoutRow
	err *wallet.Error // a malformed row, failed without being paid
}

// BulkFile is a bulk payout file read for its shape (ReadBulkFile): the
// columns its header names and its rows that are not blank. Whether a
// row's phone and amount are valid is BulkPayout's to say, row by row.
type BulkFile struct {
	col  map[string]int // "phone", "amount" and maybe "reference": their index
	rows []bulkRecord
}

// bulkRecord is one data row of a bulk payout file and its line.
type bulkRecord struct {
	line   int
	fields []string
}

// Rows returns the number of rows that are not blank.
func (f BulkFile) Rows() int { return len(f.rows) }

// field returns a row's column name, trimmed, or "" when the row is short
// or the header has no such column.
func (f BulkFile) field(rec bulkRecord, name string) string {
	i, ok := f.col[name]
	if !ok || i >= len(rec.fields) {
		return ""
	}
	return strings.TrimSpace(rec.fields[i])
}

// ReadBulkFile reads a bulk payout file's shape, as BulkPayout does before
// it pays anything: at most BulkBytesMax of UTF-8 CSV (a byte order mark,
// which spreadsheets write, is skipped) whose header row names the columns
// phone and amount, and optionally reference, once each, in any order and
// any case (other columns are ignored), then 1 to BulkRowsMax rows that are
// not blank. Anything else is CodeInvalid, with a message naming the line
// but never quoting the file. The gateway calls it too, so that a file the
// wallet would refuse is refused before it crosses NATS, in the same words.
func ReadBulkFile(data []byte) (BulkFile, error) {
	invalid := func(format string, args ...any) error { return wallet.Errorf(wallet.CodeInvalid, format, args...) }
	const empty = "the file is empty: want a header row phone,amount,reference and a row per payout"
	switch {
	case len(data) == 0:
		return BulkFile{}, invalid(empty)
	case len(data) > BulkBytesMax:
		return BulkFile{}, invalid("the file is larger than %d bytes", BulkBytesMax)
	case !utf8.Valid(data):
		return BulkFile{}, invalid("the file is not UTF-8")
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1 // a short row is that row's problem, not the file's
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return BulkFile{}, invalid(empty)
	}
	if err != nil {
		return BulkFile{}, csvError(err)
	}
	f := BulkFile{col: map[string]int{}}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		switch h {
		case "phone", "amount", "reference":
			if _, dup := f.col[h]; dup {
				return BulkFile{}, invalid("line 1: the header names the column %s twice", h)
			}
			f.col[h] = i
		}
	}
	_, hasPhone := f.col["phone"]
	_, hasAmount := f.col["amount"]
	if !hasPhone || !hasAmount {
		return BulkFile{}, invalid("line 1: the header must name the columns phone and amount (and optionally reference)")
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return BulkFile{}, csvError(err)
		}
		if blank(rec) {
			continue
		}
		if len(f.rows) == BulkRowsMax {
			return BulkFile{}, invalid("the file has more than %d rows", BulkRowsMax)
		}
		line, _ := r.FieldPos(0)
		f.rows = append(f.rows, bulkRecord{line: line, fields: rec})
	}
	if len(f.rows) == 0 {
		return BulkFile{}, invalid("the file has a header but no rows")
	}
	return f, nil
}

// parseBulk reads a bulk payout file (see BulkPayout): CodeInvalid for a
// malformed file (ReadBulkFile), a bulkLine with err set for each malformed
// row.
func parseBulk(data []byte, cur wallet.Currency, region string) ([]bulkLine, error) {
	f, err := ReadBulkFile(data)
	if err != nil {
		return nil, err
	}
	out := make([]bulkLine, 0, len(f.rows))
	var total int64
	for _, rec := range f.rows {
		l := bulkLine{PayoutRow: PayoutRow{Line: rec.line, Phone: excerpt(f.field(rec, "phone")), Reference: f.field(rec, "reference")}}
		phone, err := wallet.NormalizePhone(l.Phone, region)
		if err != nil {
			l.err = asError(err)
		} else {
			l.Phone = phone
		}
		if l.err == nil {
			if l.Amount, err = cur.ParseAmount(f.field(rec, "amount")); err != nil {
				l.err = asError(err)
			} else if total += l.Amount; total > wallet.AmountMax {
				return nil, wallet.Errorf(wallet.CodeInvalidAmount, "the file's rows add up to more than %s", cur.Format(wallet.AmountMax))
			}
		}
		if l.err == nil {
			if err := checkText("reference", l.Reference, false, wallet.ReferenceBytesMax, 0); err != nil {
				l.err = asError(err)
			}
		}
		if l.err != nil {
			l.Amount = 0
			l.Reference = excerpt(l.Reference)
		}
		out = append(out, l)
	}
	return out, nil
}

// csvError says where a CSV file is malformed, by its line, without
// echoing the file.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return wallet.Errorf(wallet.CodeInvalid, "line %d: malformed CSV: %v", pe.Line, pe.Err)
	}
	return wallet.Errorf(wallet.CodeInvalid, "malformed CSV")
}

func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// asError returns err as a *wallet.Error (the parsers return nothing else).
func asError(err error) *wallet.Error {
	var we *wallet.Error
	if errors.As(err, &we) {
		return we
	}
	return &wallet.Error{Code: wallet.CodeInvalid, Message: err.Error()}
}

// excerpt bounds a malformed row's field as stored with its result: at
// most 32 bytes, cut at a character boundary.
func excerpt(s string) string {
	const bytesMax = 32
	if len(s) <= bytesMax {
		return s
	}
	cut := bytesMax
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
