package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/commerce"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// operatorCommand is one operator command, such as `kibubu agent add`.
type operatorCommand struct {
	synopsis string // what follows the command's name, e.g. "--phone P --name N"
	summary  string
	nargs    int // positional arguments: 0, or 1 (an account number or phone)
	// reason, when set, gives the command a --reason flag for the audit
	// log: optional or required.
	reason reasonFlag
	// setup registers the command's flags and returns what runs once they
	// are parsed. It validates its flags before it calls the server.
	setup func(fs *flag.FlagSet) func(ctx context.Context, o *operator, args []string) error
}

// operatorGroups are the operator commands, by group and verb.
var operatorGroups = map[string]map[string]operatorCommand{
	"agent": {"add": {
		synopsis: "--phone P --name N",
		summary:  "Open an agent account (e-float) operated from phone P and print its agent number and the\nstart key (also sent by SMS to P) its first PIN needs.",
		setup:    agentAdd,
		reason:   reasonOptional,
	}},
	"float": {"issue": {
		synopsis: "--agent A --amount X --ref R",
		summary: "Issue X of e-float to agent A (number or phone) against cash the agent deposited at the bank\n" +
			"under reference R. R is the idempotency key: issuing the same R again moves nothing and\n" +
			"prints the first transaction, marked as a replay.",
		setup:  floatIssue,
		reason: reasonOptional,
	}},
	"merchant": {"add": {
		synopsis: "--phone P --name N [--paybill]",
		summary:  "Open a till (buy goods) or, with --paybill, a paybill account and print its number.\nP is the merchant's contact phone for receipts.",
		setup:    merchantAdd,
		reason:   reasonOptional,
	}},
	"account": {
		"show": {synopsis: "NUMBER|PHONE", nargs: 1, summary: "Show an account: name, kind, number, phone, tier, status and balance.", setup: accountShow},
		"freeze": {synopsis: "NUMBER|PHONE --reason R", nargs: 1, summary: "Freeze an account: it can neither send nor receive money until unfrozen.",
			setup: accountStatus(wallet.StatusFrozen), reason: reasonRequired},
		"unfreeze": {synopsis: "NUMBER|PHONE --reason R", nargs: 1, summary: "Reactivate a frozen account (a PIN lockout stays: pin reset clears it).",
			setup: accountStatus(wallet.StatusActive), reason: reasonRequired},
	},
	"pin": {"reset": {
		synopsis: "PHONE --reason R", nargs: 1,
		summary: "Clear the PIN of the account PHONE operates and its lockout (not a freeze), and issue a new start key:\n" +
			"printed here and sent by SMS; the owner sets a new PIN with it. An earlier start key stops working.",
		setup:  pinReset,
		reason: reasonRequired,
	}},
	"apikey": {
		"create": {
			synopsis: "(--merchant NUMBER --scopes S,… | --operator [--scopes S,…]) [--expires D]",
			summary: "Create an API key for the merchant API: for till or paybill NUMBER with the given scopes\n" +
				"(" + scopeList() + "; \"all\" for every one), or with --operator an operator key\n" +
				"(scopes " + operatorScopeList() + " and the merchant scopes it may grant;\n" +
				"by default all but keys:operator:create). --expires 90d or 2027-01-31: the key stops working then.\n" +
				"The key is printed once and stored only as a hash: keep it safe.",
			setup:  apikeyCreate,
			reason: reasonOptional,
		},
		"list":   {synopsis: "[--merchant NUMBER]", summary: "List API keys (never their secrets): all, or one merchant's.", setup: apikeyList},
		"revoke": {synopsis: "ID --reason R", nargs: 1, summary: "Revoke an API key: it stops working within 30 seconds.", setup: apikeyRevoke, reason: reasonRequired},
	},
	"reversal": reversalCommands,
	"tariff":   {"show": {summary: "Print the fee and commission bands and the customer tier limits.", setup: tariffShow}},
	"ledger": {"check": {
		summary: "Verify every ledger invariant over the whole database and print a summary;\nexit status 1 and a list of the violations if any invariant is broken.",
		setup:   ledgerCheck,
	}},
}

// runOperator runs `kibubu GROUP VERB args…` against the running server.
func runOperator(ctx context.Context, group string, verbs map[string]operatorCommand, args []string, stdout io.Writer) error {
	var names []string
	for v := range verbs {
		names = append(names, v)
	}
	sort.Strings(names)
	var groupUsage strings.Builder
	fmt.Fprintf(&groupUsage, "Usage:\n")
	for _, v := range names {
		fmt.Fprintf(&groupUsage, "  kibubu %s %s %s\n", group, v, verbs[v].synopsis)
	}
	if len(args) == 0 {
		return &usageError{msg: fmt.Sprintf("%s needs a command: %s", group, strings.Join(names, ", ")), usage: groupUsage.String()}
	}
	if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprint(stdout, groupUsage.String())
		return nil
	}
	verb := args[0]
	cmd, ok := verbs[verb]
	if !ok {
		return &usageError{msg: fmt.Sprintf("unknown command %q", group+" "+verb), usage: groupUsage.String()}
	}
	name := group + " " + verb
	cfg := DefaultConfig()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	cfg.connFlags(fs)
	act := cmd.setup(fs)
	op := operatorFlags(fs, cmd.reason)
	synopsis := fmt.Sprintf("kibubu %s %s [--data DIR | --nats URL [--nats-creds FILE]]\n\n%s\n", name, cmd.synopsis, cmd.summary)
	pos, err := parseInterleaved(fs, args[1:], synopsis, stdout)
	if err != nil {
		return err
	}
	if len(pos) != cmd.nargs {
		if cmd.nargs == 0 {
			return usagef(fs, "takes no arguments, got %q", pos[0])
		}
		return usagef(fs, "needs one argument: %s", cmd.synopsis)
	}
	if err := applyEnv(fs, os.LookupEnv); err != nil {
		return err
	}
	if ctx, err = op(ctx); err != nil {
		return err
	}
	o := &operator{cfg: cfg, out: stdout}
	defer o.close()
	return act(ctx, o, pos)
}

// parseFlags parses args into fs. On -h it prints synopsis and the flags
// to stdout and returns flag.ErrHelp; other errors are usage errors of one
// line (the flag package's own output, with the full flag list, is dropped).
func parseFlags(fs *flag.FlagSet, args []string, synopsis string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, "Usage: %s\nFlags (each also KIBUBU_<NAME>, e.g. --nats-creds is KIBUBU_NATS_CREDS):\n", synopsis)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		return err
	}
	if err != nil {
		return &usageError{msg: fmt.Sprintf("%s: %v (see kibubu %s -h)", fs.Name(), err, fs.Name())}
	}
	return nil
}

// parseCommand parses the flags of a command that takes no arguments, then
// fills the flags not given from their KIBUBU_* variables.
func parseCommand(fs *flag.FlagSet, args []string, synopsis string, stdout io.Writer) error {
	if err := parseFlags(fs, args, synopsis, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef(fs, "takes no arguments, got %q", fs.Arg(0))
	}
	return applyEnv(fs, os.LookupEnv)
}

// parseInterleaved parses flags and positional arguments in any order
// (`account show 123456 --data d` as well as `account show --data d 123456`)
// and returns the positional ones. After "--" everything is positional.
func parseInterleaved(fs *flag.FlagSet, args []string, synopsis string, stdout io.Writer) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args, synopsis, stdout); err != nil {
			return nil, err
		}
		rest := fs.Args()
		consumed := args[:len(args)-len(rest)]
		if len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usagef is a usage error of the command fs parses.
func usagef(fs *flag.FlagSet, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf("%s: %s (see kibubu %s -h)", fs.Name(), fmt.Sprintf(format, args...), fs.Name())}
}

// operator is one operator command's connection to the running server.
type operator struct {
	cfg Config
	out io.Writer
	nc  *nats.Conn
	c   *natsapi.Client
}

// client connects, on first use, to the server named by --nats or found
// through <data>/nats.json.
func (o *operator) client() (*natsapi.Client, error) {
	if o.c != nil {
		return o.c, nil
	}
	url, prefix := o.cfg.NATS, o.cfg.NATSPrefix
	if !natsapi.ValidPrefix(prefix) {
		return nil, fmt.Errorf("--nats-prefix %q: use at most 32 letters, digits, - and _", prefix)
	}
	opts := []nats.Option{nats.Name("kibubu operator"), nats.Timeout(natsConnectTimeout)}
	var hint string
	if url != "" {
		if err := checkNATSURLs(url); err != nil {
			return nil, fmt.Errorf("--nats: %w", err)
		}
		if err := o.cfg.checkNATSFiles(); err != nil {
			return nil, err
		}
		auth, err := o.cfg.natsAuthOptions()
		if err != nil {
			return nil, err
		}
		opts = append(opts, auth...)
		hint = "is a wallet connected to that NATS?"
	} else {
		if err := o.cfg.checkNATSFiles(); err != nil {
			return nil, err
		}
		info, err := readNATSInfo(o.cfg.Data)
		if err != nil {
			return nil, err
		}
		url = info.URL
		if prefix == "" {
			prefix = info.Prefix
		}
		opts = append(opts, nats.UserInfo(info.User, info.Password))
		hint = fmt.Sprintf("is `kibubu serve --data %s` running?", o.cfg.Data)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the server at %s (%s): %w", redact(url), hint, err)
	}
	o.nc, o.c = nc, natsapi.NewClient(nc, 0, natsapi.WithPrefix(prefix))
	return o.c, nil
}

func (o *operator) close() {
	if o.nc != nil {
		o.nc.Close()
	}
}

// currency is the server's currency, for parsing and formatting amounts.
func (o *operator) currency(ctx context.Context) (wallet.Currency, error) {
	c, err := o.client()
	if err != nil {
		return wallet.Currency{}, err
	}
	t, err := c.Tariff(ctx)
	if err != nil {
		return wallet.Currency{}, walletErr(err)
	}
	return t.Currency, nil
}

// walletError prints a wallet error as its code in words and its message:
// "insufficient funds: …".
type walletError struct{ err *wallet.Error }

func (e *walletError) Error() string {
	return strings.ReplaceAll(string(e.err.Code), "_", " ") + ": " + e.err.Message
}

func (e *walletError) Unwrap() error { return e.err }

func walletErr(err error) error {
	var we *wallet.Error
	if errors.As(err, &we) {
		return &walletError{we}
	}
	return err
}

func agentAdd(fs *flag.FlagSet) func(context.Context, *operator, []string) error {
	phone := fs.String("phone", "", "the `phone` the agent dials from, e.g. 0712000001")
	name := fs.String("name", "", "the agent's business `name`")
	return func(ctx context.Context, o *operator, _ []string) error {
		if *phone == "" || *name == "" {
			return usagef(fs, "--phone and --name are required")
		}
		c, err := o.client()
		if err != nil {
			return err
		}
		a, err := c.AddAgent(ctx, *phone, *name)
		if err != nil {
			return walletErr(err)
		}
		fmt.Fprintf(o.out, "agent %s opened: %s, phone %s\n", a.Number, a.Name, a.Phone)
		printStartKey(o.out, a)
		return nil
	}
}

func merchantAdd(fs *flag.FlagSet) func(context.Context, *operator, []string) error {
	phone := fs.String("phone", "", "the merchant's contact `phone`, for receipts")
	name := fs.String("name", "", "the business `name` customers see when they pay")
	paybill := fs.Bool("paybill", false, "open a paybill (payments carry an account reference) instead of a till")
	return func(ctx context.Context, o *operator, _ []string) error {
		if *phone == "" || *name == "" {
			return usagef(fs, "--phone and --name are required")
		}
		c, err := o.client()
		if err != nil {
			return err
		}
		a, err := c.AddMerchant(ctx, *phone, *name, *paybill)
		if err != nil {
			return walletErr(err)
		}
		fmt.Fprintf(o.out, "%s %s opened: %s, phone %s\n", a.Kind, a.Number, a.Name, a.Phone)
		return nil
	}
}

func floatIssue(fs *flag.FlagSet) func(context.Context, *operator, []string) error {
	agent := fs.String("agent", "", "the agent `number` (or the agent's phone)")
	amount := fs.String("amount", "", "the `amount` in major units, as banked: 100000 or 12.50")
	ref := fs.String("ref", "", "the bank deposit `reference`; issuing it twice moves money once")
	return func(ctx context.Context, o *operator, _ []string) error {
		if *agent == "" || *amount == "" || *ref == "" {
			return usagef(fs, "--agent, --amount and --ref are required")
		}
		cur, err := o.currency(ctx)
		if err != nil {
			return err
		}
		minor, err := cur.ParseAmount(*amount)
		if err != nil {
			return fmt.Errorf("--amount %q: %s", *amount, message(err))
		}
		res, err := o.c.IssueFloat(ctx, *agent, minor, *ref)
		if wallet.ErrorCode(err) == wallet.CodeConflict {
			return fmt.Errorf("--ref %s was already issued with another agent or amount: %w", *ref, walletErr(err))
		}
		if err != nil {
			return walletErr(err)
		}
		t := res.Transfer
		if res.Replayed {
			fmt.Fprintf(o.out, "%s replayed: --ref %s was already issued (%s to agent %s); nothing moved this time; float balance after it %s\n",
				t.Ref, *ref, cur.Format(t.Amount), *agent, cur.Format(res.Balance))
			return nil
		}
		fmt.Fprintf(o.out, "%s issued %s to agent %s; float balance %s\n", t.Ref, cur.Format(t.Amount), *agent, cur.Format(res.Balance))
		return nil
	}
}

func accountShow(fs *flag.FlagSet) func(context.Context, *operator, []string) error {
	return func(ctx context.Context, o *operator, args []string) error {
		cur, err := o.currency(ctx)
		if err != nil {
			return err
		}
		a, err := o.c.Show(ctx, args[0])
		if err != nil {
			return walletErr(err)
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
		tw := tabwriter.NewWriter(o.out, 0, 0, 2, ' ', 0)
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

func accountStatus(st wallet.Status) func(fs *flag.FlagSet) func(context.Context, *operator, []string) error {
	return func(fs *flag.FlagSet) func(context.Context, *operator, []string) error {
		return func(ctx context.Context, o *operator, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			a, err := c.SetStatus(ctx, args[0], st)
			if err != nil {
				return walletErr(err)
			}
			fmt.Fprintf(o.out, "%s %s (%s) is %s\n", a.Kind, a.Number, a.Name, a.Status)
			return nil
		}
	}
}

func pinReset(fs *flag.FlagSet) func(context.Context, *operator, []string) error {
	return func(ctx context.Context, o *operator, args []string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		a, err := c.ResetPIN(ctx, args[0])
		if err != nil {
			return walletErr(err)
		}
		fmt.Fprintf(o.out, "PIN cleared and unlocked for %s (%s); status %s\n", a.Phone, a.Name, a.Status)
		printStartKey(o.out, a)
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

func tariffShow(fs *flag.FlagSet) func(context.Context, *operator, []string) error {
	return func(ctx context.Context, o *operator, _ []string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		t, err := c.Tariff(ctx)
		if err != nil {
			return walletErr(err)
		}
		fmt.Fprintf(o.out, "Tariff (%s)\n\n", t.Currency.Code)
		if err := t.Tariff.WriteTable(o.out, t.Currency); err != nil {
			return fmt.Errorf("tariff show: %w", err)
		}
		fmt.Fprintf(o.out, "\nCustomer limits\n")
		tw := tabwriter.NewWriter(o.out, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  Tier\tPer transaction\tDaily\tMaximum balance\n")
		for _, tier := range []struct {
			t    wallet.Tier
			name string
		}{{wallet.TierBasic, "basic (self-registered)"}, {wallet.TierFull, "full (registered with ID)"}} {
			l, ok := t.Limits[tier.t]
			if !ok {
				continue
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", tier.name, t.Currency.Format(l.PerTransaction), t.Currency.Format(l.Daily), t.Currency.Format(l.MaxBalance))
		}
		return tw.Flush()
	}
}

func ledgerCheck(fs *flag.FlagSet) func(context.Context, *operator, []string) error {
	return func(ctx context.Context, o *operator, _ []string) error {
		cur, err := o.currency(ctx)
		if err != nil {
			return err
		}
		r, err := o.c.Check(ctx)
		if err != nil {
			return walletErr(err)
		}
		tw := tabwriter.NewWriter(o.out, 0, 0, 2, ' ', 0)
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
			fmt.Fprintln(o.out, "ledger ok: every invariant holds")
			return nil
		}
		for _, v := range r.Violations {
			fmt.Fprintf(o.out, "violation: %s\n", v)
		}
		return fmt.Errorf("ledger check: %d invariant violations", len(r.Violations))
	}
}

// scopeList is the merchant scopes, comma-separated, for usage texts.
func scopeList() string {
	var names []string
	for _, sc := range commerce.MerchantScopes {
		names = append(names, string(sc))
	}
	return strings.Join(names, ", ")
}

func apikeyCreate(fs *flag.FlagSet) func(context.Context, *operator, []string) error {
	merchant := fs.String("merchant", "", "the till or paybill `number` the key acts for")
	scopes := fs.String("scopes", "", "comma-separated `scopes`: "+scopeList()+", or all")
	op := fs.Bool("operator", false, "create an operator key (the operator API) instead of a merchant key")
	expires := fs.String("expires", "", "when the key stops working: a `duration` (90d, 12h) or a date (2027-01-31, or RFC 3339)")
	return func(ctx context.Context, o *operator, _ []string) error {
		req := natsapi.APIKeyRequest{Merchant: *merchant, Operator: *op}
		if *expires != "" {
			at, err := parseExpiry(*expires, time.Now())
			if err != nil {
				return usagef(fs, "--expires %q: %v", *expires, err)
			}
			req.Expires = &at
		}
		switch {
		case *op && *merchant != "":
			return usagef(fs, "--operator takes no --merchant")
		case *op && *scopes == "all":
			req.Scopes = slices.Concat(commerce.OperatorScopes, commerce.MerchantScopes)
		case *op && *scopes != "":
			for _, sc := range strings.Split(*scopes, ",") {
				sc = strings.TrimSpace(sc)
				if !slices.Contains(commerce.MerchantScopes, commerce.Scope(sc)) && !slices.Contains(commerce.OperatorScopes, commerce.Scope(sc)) {
					return usagef(fs, "--scopes: unknown scope %q (have %s, %s)", sc, operatorScopeList(), scopeList())
				}
				req.Scopes = append(req.Scopes, commerce.Scope(sc))
			}
		case *op:
			req.Scopes = commerce.DefaultOperatorScopes
		case *merchant == "" || *scopes == "":
			return usagef(fs, "--merchant and --scopes are required (or --operator)")
		case *scopes == "all":
			req.Scopes = commerce.MerchantScopes
		default:
			for _, sc := range strings.Split(*scopes, ",") {
				sc = strings.TrimSpace(sc)
				if !slices.Contains(commerce.MerchantScopes, commerce.Scope(sc)) {
					return usagef(fs, "--scopes: unknown scope %q (have %s)", sc, scopeList())
				}
				req.Scopes = append(req.Scopes, commerce.Scope(sc))
			}
		}
		c, err := o.client()
		if err != nil {
			return err
		}
		k, err := c.CreateAPIKey(ctx, req)
		if err != nil {
			return walletErr(err)
		}
		who := "operator"
		if !k.Operator {
			who = "merchant " + k.Merchant
		}
		until := ""
		if k.Expires != nil {
			until = ", expires " + k.Expires.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(o.out, "API key %s for %s, scopes %s%s\n%s\nIt is shown only now: store it as a secret.\n",
			k.ID, who, joinScopes(k.Scopes), until, k.Secret)
		return nil
	}
}

func apikeyList(fs *flag.FlagSet) func(context.Context, *operator, []string) error {
	merchant := fs.String("merchant", "", "only the keys of till or paybill `number`")
	return func(ctx context.Context, o *operator, _ []string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		keys, err := c.APIKeys(ctx, *merchant)
		if err != nil {
			return walletErr(err)
		}
		tw := tabwriter.NewWriter(o.out, 0, 0, 2, ' ', 0)
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

func apikeyRevoke(fs *flag.FlagSet) func(context.Context, *operator, []string) error {
	return func(ctx context.Context, o *operator, args []string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		k, err := c.RevokeAPIKey(ctx, args[0])
		if err != nil {
			return walletErr(err)
		}
		fmt.Fprintf(o.out, "API key %s revoked\n", k.ID)
		return nil
	}
}

func joinScopes(scopes []commerce.Scope) string {
	var names []string
	for _, sc := range scopes {
		names = append(names, string(sc))
	}
	return strings.Join(names, ",")
}
