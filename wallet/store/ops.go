package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/kibubu/kibubu/wallet"
)

// The back-office's tables: operators, their sessions, and maker-checker
// proposals (wallet.OperatorStore).

var _ wallet.OperatorStore = (*Store)(nil)

// opsModels are the back-office's tables.
var opsModels = []any{&operatorRow{}, &operatorSessionRow{}, &proposalRow{}}

// operatorRow is an operator. The password is an argon2id hash; the TOTP
// secret is kept as it is (a TOTP check needs it), so the table is as
// sensitive as the PIN pepper.
type operatorRow struct {
	ID           int64     `gorm:"primaryKey;autoIncrement"`
	Email        string    `gorm:"size:64;not null;uniqueIndex"`
	Role         string    `gorm:"size:16;not null"`
	Disabled     bool      `gorm:"not null;default:false"`
	PasswordHash []byte    `gorm:"not null"`
	PasswordSalt []byte    `gorm:"not null"`
	TotpSecret   string    `gorm:"size:64;not null;default:''"`
	TotpStep     int64     `gorm:"not null;default:0"`
	Failures     int       `gorm:"not null;default:0"`
	LockedUntil  time.Time `gorm:"not null"`
	LastSignIn   time.Time `gorm:"not null"`
	CreatedAt    time.Time `gorm:"not null"`
}

func (operatorRow) TableName() string { return "operators" }

func (r *operatorRow) record() *wallet.OperatorRecord {
	return &wallet.OperatorRecord{
		Operator: wallet.Operator{ID: r.ID, Email: r.Email, Role: wallet.OperatorRole(r.Role), Disabled: r.Disabled,
			TOTP: r.TotpSecret != "", LockedUntil: zeroTime(r.LockedUntil), LastSignIn: zeroTime(r.LastSignIn), Created: r.CreatedAt.UTC()},
		PasswordHash: r.PasswordHash, PasswordSalt: r.PasswordSalt, TOTPSecret: r.TotpSecret, TOTPStep: r.TotpStep, Failures: r.Failures,
	}
}

// zeroTime is t in UTC, or the zero time for the Unix epoch the rows keep
// for "never" (a NOT NULL column both databases compare alike).
func zeroTime(t time.Time) time.Time {
	if t.Unix() <= 0 {
		return time.Time{}
	}
	return t.UTC()
}

// operatorSessionRow is a session: the SHA-256 of its token, never the token.
type operatorSessionRow struct {
	TokenHash []byte    `gorm:"primaryKey;size:32"`
	Operator  int64     `gorm:"not null;index"`
	CreatedAt time.Time `gorm:"not null"`
	LastSeen  time.Time `gorm:"not null"`
}

func (operatorSessionRow) TableName() string { return "operator_sessions" }

// proposalRow is a maker-checker proposal. (kind, reference) is unique: a
// bank deposit is proposed once.
type proposalRow struct {
	ID            int64     `gorm:"primaryKey;autoIncrement"`
	Kind          string    `gorm:"size:16;not null;uniqueIndex:idx_proposals_reference,priority:1"`
	Target        string    `gorm:"size:32;not null"`
	Amount        int64     `gorm:"not null;default:0"`
	Reference     string    `gorm:"size:32;not null;uniqueIndex:idx_proposals_reference,priority:2"`
	Tier          int       `gorm:"not null;default:0"` // a tier change's new tier
	State         string    `gorm:"size:12;not null;index"`
	Maker         string    `gorm:"size:64;not null"`
	MakerReason   string    `gorm:"size:256;not null"`
	Checker       string    `gorm:"size:64;not null;default:''"`
	CheckerReason string    `gorm:"size:256;not null;default:''"`
	Result        string    `gorm:"size:200;not null;default:''"`
	CreatedAt     time.Time `gorm:"not null"`
	DecidedAt     time.Time `gorm:"not null"`
}

func (proposalRow) TableName() string { return "proposals" }

func (r *proposalRow) proposal() *wallet.Proposal {
	return &wallet.Proposal{ID: r.ID, Kind: wallet.ProposalKind(r.Kind), Target: r.Target, Amount: r.Amount, Reference: r.Reference, Tier: wallet.Tier(r.Tier),
		State: wallet.ProposalState(r.State), Maker: r.Maker, MakerReason: r.MakerReason, Checker: r.Checker,
		CheckerReason: r.CheckerReason, Result: r.Result, Created: r.CreatedAt.UTC(), Decided: zeroTime(r.DecidedAt)}
}

// epoch is "never" in a NOT NULL time column.
var epoch = time.Unix(0, 0).UTC()

func orEpoch(t time.Time) time.Time {
	if t.IsZero() {
		return epoch
	}
	return t.UTC()
}

// CreateOperator inserts o.
func (s *Store) CreateOperator(ctx context.Context, o *wallet.OperatorRecord) error {
	row := &operatorRow{Email: o.Email, Role: string(o.Role), Disabled: o.Disabled, PasswordHash: o.PasswordHash,
		PasswordSalt: o.PasswordSalt, TotpSecret: o.TOTPSecret, LockedUntil: epoch, LastSignIn: epoch, CreatedAt: o.Created.UTC()}
	if err := s.gdb.WithContext(ctx).Create(row).Error; err != nil {
		if isUnique(err) {
			return wallet.Errorf(wallet.CodeExists, "an operator %s already exists", o.Email)
		}
		return fmt.Errorf("create operator: %w", err)
	}
	o.ID = row.ID
	return nil
}

func (s *Store) operatorWhere(ctx context.Context, query string, arg any) (*wallet.OperatorRecord, error) {
	r, err := first[operatorRow](s.gdb.WithContext(ctx), query, arg)
	if err != nil {
		return nil, fmt.Errorf("find operator: %w", err)
	}
	if r == nil {
		return nil, wallet.Errorf(wallet.CodeNotFound, "no such operator")
	}
	return r.record(), nil
}

// OperatorByEmail returns the operator with that (normalized) email.
func (s *Store) OperatorByEmail(ctx context.Context, email string) (*wallet.OperatorRecord, error) {
	return s.operatorWhere(ctx, "email = ?", email)
}

// OperatorByID returns operator id.
func (s *Store) OperatorByID(ctx context.Context, id int64) (*wallet.OperatorRecord, error) {
	return s.operatorWhere(ctx, "id = ?", id)
}

// Operators lists every operator by email.
func (s *Store) Operators(ctx context.Context) ([]wallet.OperatorRecord, error) {
	var rows []operatorRow
	if err := s.gdb.WithContext(ctx).Order("email").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list operators: %w", err)
	}
	return records(rows, (*operatorRow).record), nil
}

// SignInFailed counts a wrong sign-in and locks at failuresMax.
func (s *Store) SignInFailed(ctx context.Context, id int64, failuresMax int, lockUntil time.Time) (bool, error) {
	var locked bool
	err := s.gormTx(ctx, retryable, func(tx *gorm.DB) error {
		if err := tx.Model(&operatorRow{}).Where("id = ?", id).Update("failures", gorm.Expr("failures + 1")).Error; err != nil {
			return err
		}
		res := tx.Model(&operatorRow{}).Where("id = ? AND failures >= ?", id, failuresMax).
			Updates(map[string]any{"failures": 0, "locked_until": lockUntil.UTC()})
		locked = res.RowsAffected == 1
		return res.Error
	})
	if err != nil {
		return false, fmt.Errorf("count a failed sign-in: %w", err)
	}
	return locked, nil
}

// SignedIn records a right sign-in with TOTP step step.
func (s *Store) SignedIn(ctx context.Context, id int64, at time.Time, step int64) (bool, error) {
	q := s.gdb.WithContext(ctx).Model(&operatorRow{}).Where("id = ?", id)
	if step > 0 {
		q = q.Where("totp_step < ?", step)
	}
	res := q.Updates(map[string]any{"failures": 0, "last_sign_in": at.UTC(), "totp_step": gorm.Expr("CASE WHEN totp_step < ? THEN ? ELSE totp_step END", step, step)})
	if res.Error != nil {
		return false, fmt.Errorf("record a sign-in: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// DisableOperator disables operator id and deletes its sessions.
func (s *Store) DisableOperator(ctx context.Context, id int64) error {
	err := s.gormTx(ctx, retryable, func(tx *gorm.DB) error {
		if err := tx.Model(&operatorRow{}).Where("id = ?", id).Update("disabled", true).Error; err != nil {
			return err
		}
		return tx.Where("operator = ?", id).Delete(&operatorSessionRow{}).Error
	})
	if err != nil {
		return fmt.Errorf("disable operator: %w", err)
	}
	return nil
}

// CreateOperatorSession inserts a session.
func (s *Store) CreateOperatorSession(ctx context.Context, r *wallet.OperatorSessionRecord) error {
	row := &operatorSessionRow{TokenHash: r.TokenHash, Operator: r.Operator, CreatedAt: r.Created.UTC(), LastSeen: r.LastSeen.UTC()}
	if err := s.gdb.WithContext(ctx).Create(row).Error; err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// OperatorSession returns the session with tokenHash.
func (s *Store) OperatorSession(ctx context.Context, tokenHash []byte) (*wallet.OperatorSessionRecord, error) {
	r, err := first[operatorSessionRow](s.gdb.WithContext(ctx), "token_hash = ?", tokenHash)
	if err != nil {
		return nil, fmt.Errorf("find session: %w", err)
	}
	if r == nil {
		return nil, wallet.Errorf(wallet.CodeNotFound, "no such session")
	}
	return &wallet.OperatorSessionRecord{TokenHash: r.TokenHash, Operator: r.Operator, Created: r.CreatedAt.UTC(), LastSeen: r.LastSeen.UTC()}, nil
}

// TouchOperatorSession stores the session's last use.
func (s *Store) TouchOperatorSession(ctx context.Context, tokenHash []byte, at time.Time) error {
	if err := s.gdb.WithContext(ctx).Model(&operatorSessionRow{}).Where("token_hash = ?", tokenHash).Update("last_seen", at.UTC()).Error; err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteOperatorSession deletes the session, if any.
func (s *Store) DeleteOperatorSession(ctx context.Context, tokenHash []byte) error {
	if err := s.gdb.WithContext(ctx).Where("token_hash = ?", tokenHash).Delete(&operatorSessionRow{}).Error; err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// CreateProposal inserts p.
func (s *Store) CreateProposal(ctx context.Context, p *wallet.Proposal) error {
	row := &proposalRow{Kind: string(p.Kind), Target: p.Target, Amount: p.Amount, Reference: p.Reference, Tier: int(p.Tier), State: string(p.State),
		Maker: p.Maker, MakerReason: p.MakerReason, CreatedAt: p.Created.UTC(), DecidedAt: epoch}
	if err := s.gdb.WithContext(ctx).Create(row).Error; err != nil {
		if isUnique(err) {
			return wallet.Errorf(wallet.CodeExists, "reference %s was already proposed", p.Reference)
		}
		return fmt.Errorf("create proposal: %w", err)
	}
	p.ID = row.ID
	return nil
}

// Proposal returns proposal id.
func (s *Store) Proposal(ctx context.Context, id int64) (*wallet.Proposal, error) {
	r, err := first[proposalRow](s.gdb.WithContext(ctx), "id = ?", id)
	if err != nil {
		return nil, fmt.Errorf("find proposal: %w", err)
	}
	if r == nil {
		return nil, wallet.Errorf(wallet.CodeNotFound, "no proposal %d", id)
	}
	return r.proposal(), nil
}

// Proposals lists proposals in states, newest first.
func (s *Store) Proposals(ctx context.Context, states []wallet.ProposalState, limit int) ([]wallet.Proposal, error) {
	q := s.gdb.WithContext(ctx).Order("id DESC").Limit(limit)
	if len(states) > 0 {
		ss := make([]string, len(states))
		for i, st := range states {
			ss[i] = string(st)
		}
		q = q.Where("state IN ?", ss)
	}
	var rows []proposalRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list proposals: %w", err)
	}
	return records(rows, (*proposalRow).proposal), nil
}

// UpdateProposal writes p's decision if its state is still from.
func (s *Store) UpdateProposal(ctx context.Context, p *wallet.Proposal, from wallet.ProposalState) (bool, error) {
	res := s.gdb.WithContext(ctx).Model(&proposalRow{}).Where("id = ? AND state = ?", p.ID, string(from)).
		Updates(map[string]any{"state": string(p.State), "checker": p.Checker, "checker_reason": p.CheckerReason,
			"result": p.Result, "decided_at": orEpoch(p.Decided)})
	if res.Error != nil {
		return false, fmt.Errorf("update proposal: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// SetTier moves account id from tier from to tier to, if it is still an
// active account in tier from. The batch writer never writes tier, so this
// one conditional update cannot be overwritten by a batch.
func (s *Store) SetTier(ctx context.Context, id int64, from, to wallet.Tier) (bool, error) {
	// The batch writer's cached accounts (cache.go) must see the new tier.
	s.accounts.drop()
	defer s.accounts.drop()
	res := s.gdb.WithContext(ctx).Model(&account{}).Where("id = ? AND tier = ? AND status = ?", id, int(from), string(wallet.StatusActive)).
		Update("tier", int(to))
	if res.Error != nil {
		return false, fmt.Errorf("set tier: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// SearchAccounts returns accounts whose name starts with name, any case,
// in name order (then id), read through an index:
//
//   - SQLite: idx_accounts_name_lower (declared on account's Name in
//     models.go), for a range (lower(name) from the prefix to the prefix
//     followed by the largest character; its text compares bytewise).
//   - PostgreSQL: idx_accounts_name_c (searchIndexPostgres), on lower(name)
//     under the C collation, which serves a left-anchored LIKE and the
//     order both, so a short prefix reads one page of the index, not every
//     match. (Under the database's default collation, say en_US.UTF-8, a
//     LIKE cannot use a plain index at all.)
//
// Case is folded as each database's lower() folds it: ASCII letters on
// SQLite, every letter on PostgreSQL. Both order bytewise.
func (s *Store) SearchAccounts(ctx context.Context, name string, offset, limit int) ([]wallet.AccountRecord, error) {
	var rows []account
	err := s.searchQuery(ctx, name).Offset(offset).Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("search accounts: %w", err)
	}
	out := make([]wallet.AccountRecord, len(rows))
	for i := range rows {
		out[i] = *rows[i].record()
	}
	return out, nil
}

// searchQuery is SearchAccounts' query, before its page.
func (s *Store) searchQuery(ctx context.Context, name string) *gorm.DB {
	q := s.gdb.WithContext(ctx).Model(&account{})
	if s.pg {
		return q.Where(`LOWER(name) COLLATE "C" LIKE ? ESCAPE '\'`, likeEscaper.Replace(strings.ToLower(name))+"%").
			Order(`LOWER(name) COLLATE "C", id`)
	}
	prefix := asciiLower(name)
	return q.Where("LOWER(name) >= ? AND LOWER(name) < ?", prefix, prefix+string(utf8.MaxRune)).Order("LOWER(name), id")
}

// searchIndexPostgres is the name search's index on PostgreSQL (see
// SearchAccounts); migrateWallet creates it there. gorm's index tags cannot
// name a collation SQLite lacks, so it is declared here.
const searchIndexPostgres = `CREATE INDEX IF NOT EXISTS idx_accounts_name_c ON accounts ((LOWER(name) COLLATE "C"))`

// merchantSearchIndex is the merchant name search's index (see
// SearchMerchants), per database: the merchant kinds first, so that a name
// prefix every customer shares reads the merchants' entries only, not the
// customers' (idx_accounts_name_lower walks them all). On PostgreSQL under
// the C collation, as idx_accounts_name_c, for a left-anchored LIKE. Both
// are declared here, not in a gorm tag: a tag cannot name the collation,
// and would put an index PostgreSQL cannot use for the LIKE beside it.
var merchantSearchIndex = map[bool]string{
	false: `CREATE INDEX IF NOT EXISTS idx_accounts_kind_name ON accounts (kind, LOWER(name))`,
	true:  `CREATE INDEX IF NOT EXISTS idx_accounts_kind_name_c ON accounts (kind, (LOWER(name) COLLATE "C"))`,
}

// walletDigest is the wallet's schema digest: its models' (Digest) and the
// indexes migrateSearch creates, so that adding one asks for `kibubu
// migrate` as a model change does (a process started with --migrate=false
// must not meet a schema without the index a query names: INDEXED BY
// fails without it).
func walletDigest(db *gorm.DB) (string, error) {
	d, err := Digest(db, walletModels()...)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{d, searchIndexPostgres, merchantSearchIndex[false], merchantSearchIndex[true]}, "\n")))
	return hex.EncodeToString(sum[:]), nil
}

// migrateSearch creates the name searches' indexes gorm's tags cannot
// declare: the account search's PostgreSQL one and the merchant search's.
func migrateSearch(ctx context.Context, gdb *gorm.DB) error {
	pg := gdb.Dialector.Name() == "postgres"
	if pg {
		if err := gdb.WithContext(ctx).Exec(searchIndexPostgres).Error; err != nil {
			return fmt.Errorf("name search index: %w", err)
		}
	}
	if err := gdb.WithContext(ctx).Exec(merchantSearchIndex[pg]).Error; err != nil {
		return fmt.Errorf("merchant name search index: %w", err)
	}
	return nil
}

// likeEscaper escapes LIKE's wildcards (and its escape character).
var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

// asciiLower folds A–Z only, as SQLite's lower() does.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}
