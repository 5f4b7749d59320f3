// Package walletctl holds what the operator commands do (kibubu agent add,
// account show, apikey create, reversal list, audit list, …): each Setup
// registers its command's flags and returns the Action that calls the
// wallet's operator API through natsapi and prints the answer for a person.
// Groups is the table of those commands with their help text; Run runs
// one, with the --as and --reason flags the audit log keeps, against the
// server Server names. The root command only maps its NATS flags onto a
// Server; the rules stay in the wallet, which checks every request itself.
package walletctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kibubu/kibubu/internal/cmdline"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// Conn is an operator command's connection to the running wallet.
type Conn struct {
	Out io.Writer
	// Dial connects to the server, on the first call of Client.
	Dial func() (*natsapi.Client, error)
	c    *natsapi.Client
	nc   *nats.Conn // the connection Server.Conn dialled, closed by Close
}

// Close closes the connection, if one was dialled.
func (o *Conn) Close() {
	if o.nc != nil {
		o.nc.Close()
	}
}

// Client connects on first use and returns the wallet's API client.
func (o *Conn) Client() (*natsapi.Client, error) {
	if o.c != nil {
		return o.c, nil
	}
	c, err := o.Dial()
	if err != nil {
		return nil, err
	}
	o.c = c
	return c, nil
}

// Merchants returns the merchant services' client over Client's.
func (o *Conn) Merchants() (*merchantapi.Client, error) {
	c, err := o.Client()
	if err != nil {
		return nil, err
	}
	return merchantapi.NewClient(c), nil
}

// Currency is the server's currency, for parsing and formatting amounts.
func (o *Conn) Currency(ctx context.Context) (wallet.Currency, error) {
	c, err := o.Client()
	if err != nil {
		return wallet.Currency{}, err
	}
	t, err := c.Tariff(ctx)
	if err != nil {
		return wallet.Currency{}, Err(err)
	}
	return t.Currency, nil
}

// Action runs an operator command once its flags are parsed; args are its
// positional arguments.
type Action func(ctx context.Context, o *Conn, args []string) error

// Message is err for a person: a wallet error's message without its code.
func Message(err error) string {
	var we *wallet.Error
	if errors.As(err, &we) {
		return we.Message
	}
	return err.Error()
}

// AgentAdd is kibubu agent add: open an agent account and print its number and start key.
func AgentAdd(fs *flag.FlagSet) Action {
	phone := fs.String("phone", "", "the `phone` the agent dials from, e.g. 0712000001")
	name := fs.String("name", "", "the agent's business `name`")
	return func(ctx context.Context, o *Conn, _ []string) error {
		if *phone == "" || *name == "" {
			return cmdline.Usagef(fs, "--phone and --name are required")
		}
		c, err := o.Client()
		if err != nil {
			return err
		}
		a, err := c.AddAgent(ctx, *phone, *name)
		if err != nil {
			return Err(err)
		}
		fmt.Fprintf(o.Out, "agent %s opened: %s, phone %s\n", a.Number, a.Name, a.Phone)
		printStartKey(o.Out, a)
		return nil
	}
}

// CustomerOpen is kibubu customer open: open a customer account and print its start key.
func CustomerOpen(fs *flag.FlagSet) Action {
	phone := fs.String("phone", "", "the `phone` the customer dials from, e.g. 0722000001")
	name := fs.String("name", "", "the customer's `name` as on their ID")
	tier := fs.String("tier", "full", "`basic` or full (registered with ID)")
	lang := fs.String("lang", "", "the customer's `language`: en, sw or fr (default: the server's)")
	return func(ctx context.Context, o *Conn, _ []string) error {
		if *phone == "" || *name == "" {
			return cmdline.Usagef(fs, "--phone and --name are required")
		}
		tiers := map[string]wallet.Tier{"basic": wallet.TierBasic, "full": wallet.TierFull}
		t, ok := tiers[*tier]
		if !ok {
			return cmdline.Usagef(fs, "--tier is basic or full, not %q", *tier)
		}
		c, err := o.Client()
		if err != nil {
			return err
		}
		a, err := c.OpenCustomer(ctx, natsapi.RegisterRequest{Phone: *phone, Name: *name, Tier: t, Language: *lang})
		if err != nil {
			return Err(err)
		}
		fmt.Fprintf(o.Out, "customer %s opened: %s, tier %s\n", a.Phone, a.Name, *tier)
		printStartKey(o.Out, a)
		return nil
	}
}

// MerchantAdd is kibubu merchant add: open a till or a paybill and print its number.
func MerchantAdd(fs *flag.FlagSet) Action {
	phone := fs.String("phone", "", "the merchant's contact `phone`, for receipts")
	name := fs.String("name", "", "the business `name` customers see when they pay")
	paybill := fs.Bool("paybill", false, "open a paybill (payments carry an account reference) instead of a till")
	return func(ctx context.Context, o *Conn, _ []string) error {
		if *phone == "" || *name == "" {
			return cmdline.Usagef(fs, "--phone and --name are required")
		}
		c, err := o.Client()
		if err != nil {
			return err
		}
		a, err := c.AddMerchant(ctx, *phone, *name, *paybill)
		if err != nil {
			return Err(err)
		}
		fmt.Fprintf(o.Out, "%s %s opened: %s, phone %s\n", a.Kind, a.Number, a.Name, a.Phone)
		return nil
	}
}

// FloatIssue is kibubu float issue: issue e-float to an agent against cash banked.
func FloatIssue(fs *flag.FlagSet) Action {
	agent := fs.String("agent", "", "the agent `number` (or the agent's phone)")
	amount := fs.String("amount", "", "the `amount` in major units, as banked: 100000 or 12.50")
	ref := fs.String("ref", "", "the bank deposit `reference`; issuing it twice moves money once")
	return func(ctx context.Context, o *Conn, _ []string) error {
		if *agent == "" || *amount == "" || *ref == "" {
			return cmdline.Usagef(fs, "--agent, --amount and --ref are required")
		}
		cur, err := o.Currency(ctx)
		if err != nil {
			return err
		}
		minor, err := cur.ParseAmount(*amount)
		if err != nil {
			return fmt.Errorf("--amount %q: %s", *amount, Message(err))
		}
		res, err := o.c.IssueFloat(ctx, *agent, minor, *ref)
		if wallet.ErrorCode(err) == wallet.CodeConflict {
			return fmt.Errorf("--ref %s was already issued with another agent or amount: %w", *ref, Err(err))
		}
		if err != nil {
			return Err(err)
		}
		t := res.Transfer
		if res.Replayed {
			fmt.Fprintf(o.Out, "%s replayed: --ref %s was already issued (%s to agent %s); nothing moved this time; float balance after it %s\n",
				t.Ref, *ref, cur.Format(t.Amount), *agent, cur.Format(res.Balance))
			return nil
		}
		fmt.Fprintf(o.Out, "%s issued %s to agent %s; float balance %s\n", t.Ref, cur.Format(t.Amount), *agent, cur.Format(res.Balance))
		return nil
	}
}

// AccountShow is kibubu account show: print an account.
func AccountShow(fs *flag.FlagSet) Action {
	return func(ctx context.Context, o *Conn, args []string) error {
		cur, err := o.Currency(ctx)
		if err != nil {
			return err
		}
		a, err := o.c.Show(ctx, args[0])
		if err != nil {
			return Err(err)
		}
		tier := "-"
		switch a.Tier {
		case wallet.TierBasic:
			tier = "basic (self-registered)"
		case wallet.TierFull:
			tier = "full (registered with ID)"
		}
		phone := a.Phone
		if phone == "" {
			phone = "-"
		}
		pin := "not set"
		switch {
		case a.HasPIN:
			pin = "set"
		case a.NeedsStartKey:
			pin = "not set (needs the start key)"
		}
		if a.PINLocked {
			pin += ", locked (pin reset unlocks it)"
		}
		tw := tabwriter.NewWriter(o.Out, 0, 0, 2, ' ', 0)
		for _, row := range [][2]string{
			{"name", a.Name}, {"kind", string(a.Kind)}, {"number", a.Number}, {"phone", phone}, {"tier", tier},
			{"status", string(a.Status)}, {"pin", pin}, {"balance", cur.Format(a.Balance)},
			{"opened", a.Created.UTC().Format(time.RFC3339)},
		} {
			fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
		}
		return tw.Flush()
	}
}

// AccountStatus is kibubu account freeze and unfreeze: set an account's status to st.
// An unfreeze refuses an account on a SIM-swap hold: setting it active
// would clear the hold, which is clear-simswap's, once the holder is
// verified.
func AccountStatus(st wallet.Status) func(fs *flag.FlagSet) Action {
	return func(fs *flag.FlagSet) Action {
		return func(ctx context.Context, o *Conn, args []string) error {
			c, err := o.Client()
			if err != nil {
				return err
			}
			if st == wallet.StatusActive {
				a, err := c.Show(ctx, args[0])
				if err != nil {
					return Err(err)
				}
				if a.Status == wallet.StatusSIMSwapHold {
					return Err(wallet.Errorf(wallet.CodeInvalidState, "%s %s is held for a SIM swap, not frozen: verify the holder, then `kibubu account clear-simswap %s`", a.Kind, a.Number, a.Number))
				}
			}
			a, err := c.SetStatus(ctx, args[0], st)
			if err != nil {
				return Err(err)
			}
			fmt.Fprintf(o.Out, "%s %s (%s) is %s\n", a.Kind, a.Number, a.Name, a.Status)
			return nil
		}
	}
}

// PINReset is kibubu pin reset: clear a PIN and its lockout, and print the new start key.
func PINReset(fs *flag.FlagSet) Action {
	return func(ctx context.Context, o *Conn, args []string) error {
		c, err := o.Client()
		if err != nil {
			return err
		}
		a, err := c.ResetPIN(ctx, args[0])
		if err != nil {
			return Err(err)
		}
		fmt.Fprintf(o.Out, "PIN cleared and unlocked for %s (%s); status %s\n", a.Phone, a.Name, a.Status)
		printStartKey(o.Out, a)
		return nil
	}
}

// printStartKey prints the start key an operator command issued, for the
// operator to hand over in person; the wallet also sent it by SMS.
func printStartKey(w io.Writer, a *wallet.Account) {
	if a.StartKey == "" {
		return
	}
	fmt.Fprintf(w, "start key %s: give it only to the account's owner; it was also sent by SMS to %s.\n"+
		"The owner dials the USSD code from that phone, enters the key, then chooses a PIN.\n", a.StartKey, a.Phone)
}

// TariffShow is kibubu tariff show: print the fee and commission bands and the tier limits.
func TariffShow(fs *flag.FlagSet) Action {
	return func(ctx context.Context, o *Conn, _ []string) error {
		c, err := o.Client()
		if err != nil {
			return err
		}
		t, err := c.Tariff(ctx)
		if err != nil {
			return Err(err)
		}
		fmt.Fprintf(o.Out, "Tariff (%s)\n\n", t.Currency.Code)
		if err := t.Tariff.WriteTable(o.Out, t.Currency); err != nil {
			return fmt.Errorf("tariff show: %w", err)
		}
		fmt.Fprintf(o.Out, "\nCustomer limits\n")
		tw := tabwriter.NewWriter(o.Out, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  Tier\tPer transaction\tDaily\tMaximum balance\n")
		for _, tier := range []struct {
			t    wallet.Tier
			name string
		}{{wallet.TierBasic, "basic (self-registered)"}, {wallet.TierFull, "full (registered with ID)"}} {
			l, ok := t.Limits[tier.t]
			if !ok {
				continue
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", tier.name, t.Currency.Format(l.PerTransaction), t.Currency.Format(l.Daily), t.Currency.Format(l.BalanceMax))
		}
		return tw.Flush()
	}
}

// LedgerCheck is kibubu ledger check: verify every invariant; an error if one is broken.
func LedgerCheck(fs *flag.FlagSet) Action {
	return func(ctx context.Context, o *Conn, _ []string) error {
		cur, err := o.Currency(ctx)
		if err != nil {
			return err
		}
		r, err := o.c.Check(ctx)
		if err != nil {
			return Err(err)
		}
		tw := tabwriter.NewWriter(o.Out, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "accounts\t%d\n", r.Accounts)
		fmt.Fprintf(tw, "transfers\t%d\n", r.Transfers)
		fmt.Fprintf(tw, "postings\t%d\n", r.Postings)
		fmt.Fprintf(tw, "e-money issued\t%s\n", cur.Format(r.Issued))
		fmt.Fprintf(tw, "held for prepaid tabs\t%s\n", cur.Format(r.Held))
		fmt.Fprintf(tw, "events not yet published\t%d\n", r.Pending)
		fmt.Fprintf(tw, "audit records\t%d\n", r.Audit)
		if r.AuditHead != "" {
			fmt.Fprintf(tw, "audit head\t%s\n", r.AuditHead)
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("ledger check: %w", err)
		}
		if r.OK() {
			fmt.Fprintln(o.Out, "ledger ok: every invariant holds")
			return nil
		}
		for _, v := range r.Violations {
			fmt.Fprintf(o.Out, "violation: %s\n", v)
		}
		return fmt.Errorf("ledger check: %d invariant violations", len(r.Violations))
	}
}

// ScopeList is the merchant scopes, comma-separated, for usage texts.
func ScopeList() string {
	var names []string
	for _, sc := range merchant.MerchantScopes {
		names = append(names, string(sc))
	}
	return strings.Join(names, ", ")
}

// APIKeyCreate is kibubu apikey create: create a merchant or operator API key and print it, once.
func APIKeyCreate(fs *flag.FlagSet) Action {
	owner := fs.String("merchant", "", "the till or paybill `number` the key acts for")
	scopes := fs.String("scopes", "", "comma-separated `scopes`: "+ScopeList()+", or all")
	op := fs.Bool("operator", false, "create an operator key (the operator API) instead of a merchant key")
	expires := fs.String("expires", "", "when the key stops working: a `duration` (90d, 12h) or a date (2027-01-31, or RFC 3339)")
	return func(ctx context.Context, o *Conn, _ []string) error {
		req := merchantapi.APIKeyRequest{Merchant: *owner, Operator: *op}
		if *expires != "" {
			at, err := parseExpiry(*expires, time.Now())
			if err != nil {
				return cmdline.Usagef(fs, "--expires %q: %v", *expires, err)
			}
			req.Expires = &at
		}
		switch {
		case *op && *owner != "":
			return cmdline.Usagef(fs, "--operator takes no --merchant")
		case *op && *scopes == "all":
			req.Scopes = slices.Concat(merchant.OperatorScopes, merchant.MerchantScopes)
		case *op && *scopes != "":
			for _, sc := range strings.Split(*scopes, ",") {
				sc = strings.TrimSpace(sc)
				if !slices.Contains(merchant.MerchantScopes, merchant.Scope(sc)) && !slices.Contains(merchant.OperatorScopes, merchant.Scope(sc)) {
					return cmdline.Usagef(fs, "--scopes: unknown scope %q (have %s, %s)", sc, OperatorScopeList(), ScopeList())
				}
				req.Scopes = append(req.Scopes, merchant.Scope(sc))
			}
		case *op:
			req.Scopes = merchant.DefaultOperatorScopes
		case *owner == "" || *scopes == "":
			return cmdline.Usagef(fs, "--merchant and --scopes are required (or --operator)")
		case *scopes == "all":
			req.Scopes = merchant.MerchantScopes
		default:
			for _, sc := range strings.Split(*scopes, ",") {
				sc = strings.TrimSpace(sc)
				if !slices.Contains(merchant.MerchantScopes, merchant.Scope(sc)) {
					return cmdline.Usagef(fs, "--scopes: unknown scope %q (have %s)", sc, ScopeList())
				}
				req.Scopes = append(req.Scopes, merchant.Scope(sc))
			}
		}
		c, err := o.Merchants()
		if err != nil {
			return err
		}
		k, err := c.CreateAPIKey(ctx, req)
		if err != nil {
			return Err(err)
		}
		who := "operator"
		if !k.Operator {
			who = "merchant " + k.Merchant
		}
		until := ""
		if k.Expires != nil {
			until = ", expires " + k.Expires.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(o.Out, "API key %s for %s, scopes %s%s\n%s\nIt is shown only now: store it as a secret.\n",
			k.ID, who, joinScopes(k.Scopes), until, k.Secret)
		return nil
	}
}

// APIKeyList is kibubu apikey list: list API keys, never their secrets.
func APIKeyList(fs *flag.FlagSet) Action {
	owner := fs.String("merchant", "", "only the keys of till or paybill `number`")
	return func(ctx context.Context, o *Conn, _ []string) error {
		c, err := o.Merchants()
		if err != nil {
			return err
		}
		keys, err := c.APIKeys(ctx, *owner)
		if err != nil {
			return Err(err)
		}
		tw := tabwriter.NewWriter(o.Out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tMERCHANT\tSCOPES\tCREATED\tEXPIRES\tREVOKED")
		for _, k := range keys {
			m, revoked, expires := k.Merchant, "", ""
			if k.Operator {
				m = "(operator)"
			}
			if k.Revoked != nil {
				revoked = k.Revoked.UTC().Format(time.RFC3339)
			}
			if k.Expires != nil {
				expires = k.Expires.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, m, joinScopes(k.Scopes), k.Created.UTC().Format(time.RFC3339), expires, revoked)
		}
		return tw.Flush()
	}
}

// APIKeyRevoke is kibubu apikey revoke: revoke an API key.
func APIKeyRevoke(fs *flag.FlagSet) Action {
	return func(ctx context.Context, o *Conn, args []string) error {
		c, err := o.Merchants()
		if err != nil {
			return err
		}
		k, err := c.RevokeAPIKey(ctx, args[0])
		if err != nil {
			return Err(err)
		}
		fmt.Fprintf(o.Out, "API key %s revoked\n", k.ID)
		return nil
	}
}

func joinScopes(scopes []merchant.Scope) string {
	var names []string
	for _, sc := range scopes {
		names = append(names, string(sc))
	}
	return strings.Join(names, ",")
}

// WalletError prints a wallet error as its code in words and its message:
// "insufficient funds: …".
type WalletError struct{ err *wallet.Error }

func (e *WalletError) Error() string {
	return strings.ReplaceAll(string(e.err.Code), "_", " ") + ": " + e.err.Message
}

func (e *WalletError) Unwrap() error { return e.err }

func Err(err error) error {
	var we *wallet.Error
	if errors.As(err, &we) {
		return &WalletError{we}
	}
	return err
}

// AuditList is kibubu audit list: print the audit log and verify its hash chain; an error if it is broken.
func AuditList(fs *flag.FlagSet) Action {
	since := fs.String("since", "", "only records at or after this `time`: a date, RFC 3339, or a duration back (24h, 7d)")
	account := fs.String("account", "", "only records about this account `number` or phone")
	return func(ctx context.Context, o *Conn, _ []string) error {
		var from time.Time
		if *since != "" {
			d, err := parseDays(*since)
			if err == nil {
				from = time.Now().Add(-d)
			} else if from, err = parseDate(*since); err != nil {
				return cmdline.Usagef(fs, "--since %q: a date (2026-12-01), RFC 3339 or a duration (24h, 7d)", *since)
			}
		}
		c, err := o.Client()
		if err != nil {
			return err
		}
		var targets []string
		if *account != "" {
			a, err := c.Show(ctx, *account)
			if err != nil {
				return Err(err)
			}
			for _, t := range []string{a.Number, a.Phone, *account} {
				if t != "" {
					targets = append(targets, t)
				}
			}
		}
		// The whole chain is read and verified; the records asked for are
		// printed.
		tw := tabwriter.NewWriter(o.Out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tACTION\tTARGET\tOUTCOME\tREASON\tDETAIL")
		var chain wallet.AuditChain
		var broken error
		for broken == nil {
			page, err := c.AuditLog(ctx, natsapi.AuditRequest{AuditQuery: wallet.AuditQuery{After: chain.Seq}})
			if err != nil {
				return Err(err)
			}
			for i := range page {
				r := &page[i]
				if broken = chain.Next(r); broken != nil {
					break
				}
				if r.Time.Before(from) || len(targets) > 0 && !slices.Contains(targets, r.Target) {
					continue
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Time.UTC().Format(time.RFC3339), r.Actor, r.Action,
					orDash(r.Target), r.Outcome, orDash(r.Reason), orDash(r.Detail))
			}
			if len(page) < wallet.AuditPageMax {
				break
			}
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("audit list: %w", err)
		}
		if broken != nil {
			fmt.Fprintf(o.Out, "audit chain BROKEN after record %d: %v\n", chain.Seq, broken)
			return fmt.Errorf("audit list: the audit chain is broken: %w", broken)
		}
		fmt.Fprintf(o.Out, "audit chain ok: %d records, head %s\n", chain.Seq, orDash(chain.Hash))
		return nil
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// OperatorScopeList is the operator scopes, comma-separated, for usage texts.
func OperatorScopeList() string { return joinScopes(merchant.OperatorScopes) }

// apiKeyLifetimeMax bounds --expires: a key meant to last longer than ten
// years should not expire at all.
const apiKeyLifetimeMax = 10 * 365 * 24 * time.Hour

// parseExpiry reads --expires: a duration from now (90d, 36h, 1h30m) or a
// date (2027-01-31, the start of that day in UTC) or an RFC 3339 time; it
// must be in the future and within apiKeyLifetimeMax.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	var at time.Time
	if d, err := parseDays(s); err == nil {
		at = now.Add(d)
	} else if at, err = parseDate(s); err != nil {
		return time.Time{}, errors.New("want a duration (90d, 36h) or a date (2027-01-31)")
	}
	switch {
	case !at.After(now):
		return time.Time{}, errors.New("it is not in the future")
	case at.Sub(now) > apiKeyLifetimeMax:
		return time.Time{}, fmt.Errorf("at most %d days ahead", int(apiKeyLifetimeMax.Hours()/24))
	}
	return at, nil
}

// parseDays is time.ParseDuration that also takes whole days ("7d").
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > int(apiKeyLifetimeMax.Hours()/24) {
			return 0, errors.New("not a number of days")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errors.New("not a duration")
	}
	return d, nil
}

// parseDate reads a date (2027-01-31, midnight UTC) or an RFC 3339 time.
func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}

// reversalQueue is what `reversal list` shows by default.
var reversalQueue = []wallet.ReversalState{wallet.ReversalObjected, wallet.ReversalReview}

// ReversalList is kibubu reversal list: list reversal requests, by default the operator's queue.
func ReversalList(fs *flag.FlagSet) Action {
	states := fs.String("state", "", "comma-separated `states` to list (requested, held, objected, review, completed, rejected; \"all\"); default objected,review")
	return func(ctx context.Context, o *Conn, _ []string) error {
		want := reversalQueue
		switch *states {
		case "":
		case "all":
			want = nil
		default:
			want = nil
			for _, s := range strings.Split(*states, ",") {
				want = append(want, wallet.ReversalState(strings.TrimSpace(s)))
			}
		}
		cur, err := o.Currency(ctx)
		if err != nil {
			return err
		}
		c, err := o.Client()
		if err != nil {
			return err
		}
		rs, err := c.Reversals(ctx, want, 0)
		if err != nil {
			return Err(err)
		}
		if len(rs) == 0 {
			fmt.Fprintln(o.Out, "no reversal requests")
			return nil
		}
		tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tTRANSACTION\tKIND\tAMOUNT\tHELD\tDEADLINE\tREASON")
		for _, r := range rs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.State, r.OriginalRef, r.Kind, cur.Format(r.Amount),
				cur.Format(r.Held), r.Deadline.UTC().Format(time.RFC3339), r.Reason)
		}
		return tw.Flush()
	}
}

// ReversalDecide is kibubu reversal approve (approve) and reject: decide a reversal request.
func ReversalDecide(approve bool) func(fs *flag.FlagSet) Action {
	return func(fs *flag.FlagSet) Action {
		return decideByID(fs, "a reversal request's number, from kibubu reversal list", "the request", func(ctx context.Context, o *Conn, c *natsapi.Client, id int64) error {
			r, err := c.DecideReversal(ctx, id, approve)
			if err != nil {
				return Err(err)
			}
			fmt.Fprintf(o.Out, "reversal %d of %s: %s by %s (%s)\n", r.ID, r.OriginalRef, r.State, r.Actor, r.Reason)
			return nil
		})
	}
}
