package wallet

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The audit log records every operator action: who (Actor), what (Action
// and Target), when (Time), why (Reason) and how it ended (Outcome). It is
// append-only (the store has no path that updates or deletes a record) and
// hash-chained: each record's Hash is SHA-256 over a canonical encoding of
// the record and the previous record's hash, so an edited, deleted or
// reordered record breaks the chain from there on, and `kibubu ledger check`
// (Check) names the first broken record.
//
// An operator request is recorded twice: once before it acts (Outcome
// AuditRequested, with the request's non-secret fields in Detail), and once
// when it is answered (its Outcome: AuditOK or the refusal's Code, Detail
// naming the request's Seq). A crash between the two leaves the request
// without an outcome, which is visible; an action is never taken unless
// its request was recorded first.
const (
	// AuditRequested is the Outcome of the record written before an action.
	AuditRequested = "requested"
	// AuditOK is the Outcome of an action that succeeded.
	AuditOK = "ok"
	// AuditGenesis is the PrevHash of the first record.
	AuditGenesis = "0000000000000000000000000000000000000000000000000000000000000000"

	// The sizes of an audit record's fields, in bytes. An actor is a
	// person's or a key's name; a reason a sentence or two; a detail the
	// non-secret fields of one request.
	AuditActorBytesMax   = 64
	AuditActionBytesMax  = 64
	AuditTargetBytesMax  = 64
	AuditReasonBytesMax  = 256
	AuditOutcomeBytesMax = 32
	AuditDetailBytesMax  = 1024
	// AuditPageMax bounds one page of audit records read at once.
	AuditPageMax = 1000
)

// AuditEntry is an operator action to record.
type AuditEntry struct {
	Actor   string `json:"actor"`            // the operator (a person's name, "apikey:<id>", "wallet@<host>")
	Action  string `json:"action"`           // what they did, e.g. "account.status"
	Target  string `json:"target,omitempty"` // an account number or phone, a key id, a transfer ref
	Reason  string `json:"reason,omitempty"` // why, as they gave it
	Outcome string `json:"outcome"`          // AuditRequested, AuditOK or an error Code
	Detail  string `json:"detail,omitempty"` // the request's non-secret fields, as JSON; never a PIN, secret or key
}

// AuditRecord is an AuditEntry as the chain holds it.
type AuditRecord struct {
	Seq  int64     `json:"seq"` // 1, 2, 3, … without gaps
	Time time.Time `json:"time"`
	AuditEntry
	PrevHash string `json:"prev_hash"` // hex SHA-256 of the record before; AuditGenesis for the first
	Hash     string `json:"hash"`      // hex SHA-256 of this record (ComputeHash)
}

// AuditQuery selects audit records: Seq above After, at or after Since when
// it is set, with Target one of Targets when that is set; at most Limit
// (AuditPageMax when 0).
type AuditQuery struct {
	After   int64     `json:"after,omitempty"`
	Since   time.Time `json:"since,omitempty"`
	Targets []string  `json:"targets,omitempty"`
	Limit   int       `json:"limit,omitempty"`
}

// auditDomain separates the audit hash from any other SHA-256 use.
const auditDomain = "kibubu audit v1\n"

// ComputeHash returns the hex SHA-256 of r's canonical encoding: the domain
// string, Seq and Time (Unix microseconds, what both databases keep) as
// 8-byte big-endian integers, each text field as a 4-byte big-endian length
// and its bytes, and PrevHash. The lengths make the encoding unambiguous:
// no two different records encode alike.
func (r *AuditRecord) ComputeHash() string {
	h := sha256.New()
	var n [8]byte
	h.Write([]byte(auditDomain))
	binary.BigEndian.PutUint64(n[:], uint64(r.Seq))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(r.Time.UnixMicro()))
	h.Write(n[:])
	for _, f := range []string{r.Actor, r.Action, r.Target, r.Reason, r.Outcome, r.Detail, r.PrevHash} {
		binary.BigEndian.PutUint32(n[:4], uint32(len(f)))
		h.Write(n[:4])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// AuditChain verifies audit records read in Seq order, one page after
// another. The zero value expects the chain's first record.
type AuditChain struct {
	Seq  int64  // the last record verified; 0 before the first
	Hash string // its hash; AuditGenesis before the first
}

// Next verifies r as the record after c's last one and advances c, or
// returns an error naming r (and leaves c) when the chain breaks there: a
// gap or reordering (Seq not the next), an edit of r (Hash not r's hash),
// or an edit or deletion before it (PrevHash not the last record's hash).
func (c *AuditChain) Next(r *AuditRecord) error {
	prev := c.Hash
	if prev == "" {
		prev = AuditGenesis
	}
	switch {
	case r.Seq != c.Seq+1:
		return fmt.Errorf("audit record %d: expected record %d (a record is missing or out of order)", r.Seq, c.Seq+1)
	case r.PrevHash != prev:
		return fmt.Errorf("audit record %d: its previous hash is not record %d's hash (a record before it was changed or removed)", r.Seq, c.Seq)
	case r.ComputeHash() != r.Hash:
		return fmt.Errorf("audit record %d: its hash does not match its content (the record was changed)", r.Seq)
	}
	c.Seq, c.Hash = r.Seq, r.Hash
	return nil
}

// Check reports whether e fits the audit log: every field within its size,
// Actor, Action and Outcome present, and no control characters (a record is
// printed to a terminal). Bad input from an operator, so a CodeInvalid
// *Error.
func (e *AuditEntry) Check() error {
	for _, f := range []struct {
		name     string
		v        string
		max      int
		required bool
	}{
		{"actor", e.Actor, AuditActorBytesMax, true},
		{"action", e.Action, AuditActionBytesMax, true},
		{"target", e.Target, AuditTargetBytesMax, false},
		{"reason", e.Reason, AuditReasonBytesMax, false},
		{"outcome", e.Outcome, AuditOutcomeBytesMax, true},
		{"detail", e.Detail, AuditDetailBytesMax, false},
	} {
		switch {
		case f.required && strings.TrimSpace(f.v) == "":
			return Errorf(CodeInvalid, "an operator action needs an %s", f.name)
		case len(f.v) > f.max:
			return Errorf(CodeInvalid, "the %s of an operator action is at most %d bytes", f.name, f.max)
		case !utf8.ValidString(f.v) || strings.IndexFunc(f.v, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }) >= 0:
			return Errorf(CodeInvalid, "the %s of an operator action has control characters", f.name)
		}
	}
	return nil
}

// Audit appends e to the audit log, stamped with the wallet's clock, and
// returns the record. CodeInvalid for an entry Check refuses.
func (s *Service) Audit(ctx context.Context, e AuditEntry) (*AuditRecord, error) {
	if err := e.Check(); err != nil {
		return nil, err
	}
	return s.store.AppendAudit(ctx, e, s.cfg.Now())
}

// AuditLog returns the audit records q selects, in Seq order.
func (s *Service) AuditLog(ctx context.Context, q AuditQuery) ([]AuditRecord, error) {
	if q.Limit <= 0 || q.Limit > AuditPageMax {
		q.Limit = AuditPageMax
	}
	if len(q.Targets) > 4 {
		return nil, Errorf(CodeInvalid, "at most 4 targets")
	}
	recs, err := s.store.AuditRecords(ctx, q)
	if recs == nil {
		recs = []AuditRecord{}
	}
	return recs, err
}

// AuditTariffLoad is the action a wallet records when it starts with a
// tariff other than the last one recorded; the record's target is
// auditTariffTarget and its detail TariffLoad as JSON.
const (
	AuditTariffLoad   = "tariff.load"
	auditTariffTarget = "tariff"
)

// TariffLoad says which tariff a wallet loaded: its file ("built-in" for
// the default) and the SHA-256 of its content.
type TariffLoad struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
}

// AuditTariff records that actor (a wallet process) loaded the tariff t,
// unless the last tariff record has the same SHA-256. It reports whether it
// recorded. Two wallets starting at once with a new tariff may both record
// it: the log then says so twice, which is true.
func (s *Service) AuditTariff(ctx context.Context, actor string, t TariffLoad) (bool, error) {
	var last TariffLoad
	q := AuditQuery{Targets: []string{auditTariffTarget}, Limit: AuditPageMax}
	for {
		recs, err := s.store.AuditRecords(ctx, q)
		if err != nil {
			return false, err
		}
		for _, r := range recs {
			if r.Action == AuditTariffLoad {
				last = TariffLoad{}
				json.Unmarshal([]byte(r.Detail), &last)
			}
		}
		if len(recs) < q.Limit {
			break
		}
		q.After = recs[len(recs)-1].Seq
	}
	if last.SHA256 == t.SHA256 {
		return false, nil
	}
	t.File = clipBytes(t.File, AuditDetailBytesMax/2)
	detail, err := json.Marshal(t)
	if err != nil {
		return false, err
	}
	_, err = s.Audit(ctx, AuditEntry{Actor: clipBytes(actor, AuditActorBytesMax), Action: AuditTariffLoad, Target: auditTariffTarget,
		Outcome: AuditOK, Detail: string(detail)})
	return err == nil, err
}

// clipBytes cuts s to at most n bytes, on a rune boundary.
func clipBytes(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
