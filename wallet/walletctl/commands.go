package walletctl

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"sort"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/kibubu/kibubu/deploy/natsconn"
	"github.com/kibubu/kibubu/deploy/natsserver"
	"github.com/kibubu/kibubu/internal/cmdline"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// Command is one operator command, such as `kibubu agent add`.
type Command struct {
	Synopsis string // what follows the command's name, e.g. "--phone P --name N"
	Summary  string
	NArgs    int // positional arguments: 0, or 1 (an account number or phone)
	// Reason, when set, gives the command a --reason flag for the audit
	// log: optional or required.
	Reason ReasonFlag
	// Setup registers the command's flags and returns what runs once they
	// are parsed. It validates its flags before it calls the server.
	Setup func(fs *flag.FlagSet) Action
}

// Groups are the operator commands, by group and verb.
var Groups = map[string]map[string]Command{
	"agent": {"add": {
		Synopsis: "--phone P --name N",
		Summary:  "Open an agent account (e-float) operated from phone P and print its agent number and the\nstart key (also sent by SMS to P) its first PIN needs.",
		Setup:    AgentAdd,
		Reason:   ReasonOptional,
	}},
	"customer": {"open": {
		Synopsis: "--phone P --name N [--tier basic|full] [--lang L]",
		Summary: "Open a customer account for phone P (tier full after checking the owner's ID) and print the\n" +
			"start key (also sent by SMS to P) its first PIN needs.",
		Setup:  CustomerOpen,
		Reason: ReasonOptional,
	}},
	"float": {"issue": {
		Synopsis: "--agent A --amount X --ref R",
		Summary: "Issue X of e-float to agent A (number or phone) against cash the agent deposited at the bank\n" +
			"under reference R. R is the idempotency key: issuing the same R again moves nothing and\n" +
			"prints the first transaction, marked as a replay.",
		Setup:  FloatIssue,
		Reason: ReasonOptional,
	}},
	"merchant": {"add": {
		Synopsis: "--phone P --name N [--paybill]",
		Summary:  "Open a till (buy goods) or, with --paybill, a paybill account and print its number.\nP is the merchant's contact phone for receipts.",
		Setup:    MerchantAdd,
		Reason:   ReasonOptional,
	}},
	"account": {
		"show": {Synopsis: "NUMBER|PHONE", NArgs: 1, Summary: "Show an account: name, kind, number, phone, tier, status and balance.", Setup: AccountShow},
		"freeze": {Synopsis: "NUMBER|PHONE --reason R", NArgs: 1, Summary: "Freeze an account: it can neither send nor receive money until unfrozen.",
			Setup: AccountStatus(wallet.StatusFrozen), Reason: ReasonRequired},
		"unfreeze": {Synopsis: "NUMBER|PHONE --reason R", NArgs: 1, Summary: "Reactivate a frozen account (a PIN lockout stays: pin reset clears it).",
			Setup: AccountStatus(wallet.StatusActive), Reason: ReasonRequired},
		"clear-simswap": {Synopsis: "NUMBER|PHONE --reason R", NArgs: 1, Summary: "Clear the hold the SIM-swap check put on an account, after verifying its holder:\n" +
			"PIN resets, large transfers and detail changes work again (a later SIM change holds it again).",
			Setup: AccountClearSIMSwap, Reason: ReasonRequired},
	},
	"pin": {"reset": {
		Synopsis: "PHONE --reason R", NArgs: 1,
		Summary: "Clear the PIN of the account PHONE operates and its lockout (not a freeze), and issue a new start key:\n" +
			"printed here and sent by SMS; the owner sets a new PIN with it. An earlier start key stops working.",
		Setup:  PINReset,
		Reason: ReasonRequired,
	}},
	"apikey": {
		"create": {
			Synopsis: "(--merchant NUMBER --scopes S,… | --operator [--scopes S,…]) [--expires D]",
			Summary: "Create an API key for the merchant API: for till or paybill NUMBER with the given scopes\n" +
				"(" + ScopeList() + "; \"all\" for every one), or with --operator an operator key\n" +
				"(scopes " + OperatorScopeList() + " and the merchant scopes it may grant;\n" +
				"by default all but keys:operator:create). --expires 90d or 2027-01-31: the key stops working then.\n" +
				"The key is printed once and stored only as a hash: keep it safe.",
			Setup:  APIKeyCreate,
			Reason: ReasonOptional,
		},
		"list":   {Synopsis: "[--merchant NUMBER]", Summary: "List API keys (never their secrets): all, or one merchant's.", Setup: APIKeyList},
		"revoke": {Synopsis: "ID --reason R", NArgs: 1, Summary: "Revoke an API key: it stops working within 30 seconds.", Setup: APIKeyRevoke, Reason: ReasonRequired},
	},
	"reversal": reversalCommands,
	"review":   reviewCommands,
	"audit":    auditCommands,
	"tariff":   {"show": {Summary: "Print the fee and commission bands and the customer tier limits.", Setup: TariffShow}},
	"ledger": {"check": {
		Summary: "Verify every ledger invariant over the whole database and print a summary;\nexit status 1 and a list of the violations if any invariant is broken.",
		Setup:   LedgerCheck,
	}},
}

// reversalCommands are `kibubu reversal list|approve|reject` (issue 11): the
// operator's queue of reversal requests a recipient objected to, or that
// found the money gone.
var reversalCommands = map[string]Command{
	"list": {
		Synopsis: "[--state S,…]",
		Summary:  "List reversal requests, oldest first: by default the operator's queue (objected, review).",
		Setup:    ReversalList,
	},
	"approve": {
		Synopsis: "ID --reason R", NArgs: 1,
		Summary: "Approve reversal request ID: the sender gets the money back, from the hold or, in review,\n" +
			"from the recipient's balance now. R is recorded with your name.",
		Setup: ReversalDecide(true),
	},
	"reject": {
		Synopsis: "ID --reason R", NArgs: 1,
		Summary: "Reject reversal request ID: the held amount goes back to the recipient. R is recorded with your name.",
		Setup:   ReversalDecide(false),
	},
}

// auditCommands are `kibubu audit list`.
var auditCommands = map[string]Command{"list": {
	Synopsis: "[--since T] [--account A]",
	Summary: "Print the audit log of operator actions, oldest first, and verify its hash chain:\n" +
		"exit status 1 if a record was changed, removed or reordered. --since a time (2026-12-01,\n" +
		"RFC 3339) or a duration back (24h, 7d); --account an account number or phone.",
	Setup: AuditList,
}}

// ReasonFlag says whether an operator command takes --reason.
type ReasonFlag int

const (
	ReasonNone     ReasonFlag = iota
	ReasonOptional            // the command changes something: the audit log keeps why, if given
	ReasonRequired            // the command is exceptional (freeze, PIN reset, revoke): say why
)

// OperatorEnv names the operator when --as is not given.
const OperatorEnv = "KIBUBU_OPERATOR"

// operatorName is who runs an operator command, for the audit log: $KIBUBU_OPERATOR,
// else the OS user's name.
func operatorName() string {
	if name := strings.TrimSpace(os.Getenv(OperatorEnv)); name != "" {
		return name
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// operatorFlags registers --as (every operator command) and --reason (when
// the command takes one) on fs, and returns what puts them on a request's
// context once fs is parsed: every request the command makes then names
// its operator and reason (natsapi.WithOperator).
func operatorFlags(fs *flag.FlagSet, need ReasonFlag) func(context.Context) (context.Context, error) {
	as := fs.String("as", operatorName(), "the `operator` the audit log names (default $"+OperatorEnv+", else your user name)")
	reason := new(string)
	if need != ReasonNone {
		fs.StringVar(reason, "reason", "", "why: the `reason` the audit log keeps (a ticket, a complaint)")
	}
	return func(ctx context.Context) (context.Context, error) {
		op := natsapi.Operator{Actor: strings.TrimSpace(*as), Reason: strings.TrimSpace(*reason)}
		switch {
		case op.Actor == "":
			return nil, cmdline.Usagef(fs, "--as: name the operator (or set %s)", OperatorEnv)
		case need == ReasonRequired && op.Reason == "":
			return nil, cmdline.Usagef(fs, "--reason is required: the audit log keeps why")
		}
		e := wallet.AuditEntry{Actor: op.Actor, Action: fs.Name(), Reason: op.Reason, Outcome: wallet.AuditRequested}
		if err := e.Check(); err != nil {
			return nil, cmdline.Usagef(fs, "%s", Message(err))
		}
		return natsapi.WithOperator(ctx, op), nil
	}
}

// Server names the running server an operator command talks to: an
// external NATS, or kibubu serve's embedded one found through
// <Data>/nats.json.
type Server struct {
	Data string
	NATS natsconn.Config
}

// ServerFlags registers, on an operator command's flags, the flags naming
// the server (the root command's, so that they read as serve's), and
// returns what reads them once parsed.
type ServerFlags func(fs *flag.FlagSet) func() Server

// Run runs `kibubu GROUP VERB args…` against the running server; group is
// one of Groups.
func Run(ctx context.Context, group string, args []string, stdout io.Writer, serverFlags ServerFlags) error {
	verbs := Groups[group]
	var names []string
	for v := range verbs {
		names = append(names, v)
	}
	sort.Strings(names)
	var groupUsage strings.Builder
	fmt.Fprintf(&groupUsage, "Usage:\n")
	for _, v := range names {
		fmt.Fprintf(&groupUsage, "  kibubu %s %s %s\n", group, v, verbs[v].Synopsis)
	}
	if len(args) == 0 {
		return &cmdline.UsageError{Msg: fmt.Sprintf("%s needs a command: %s", group, strings.Join(names, ", ")), Usage: groupUsage.String()}
	}
	if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprint(stdout, groupUsage.String())
		return nil
	}
	verb := args[0]
	cmd, ok := verbs[verb]
	if !ok {
		return &cmdline.UsageError{Msg: fmt.Sprintf("unknown command %q", group+" "+verb), Usage: groupUsage.String()}
	}
	name := group + " " + verb
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	server := serverFlags(fs)
	act := cmd.Setup(fs)
	op := operatorFlags(fs, cmd.Reason)
	synopsis := fmt.Sprintf("kibubu %s %s [--data DIR | --nats URL [--nats-creds FILE]]\n\n%s\n", name, cmd.Synopsis, cmd.Summary)
	pos, err := cmdline.ParseInterleaved(fs, args[1:], synopsis, stdout)
	if err != nil {
		return err
	}
	if len(pos) != cmd.NArgs {
		if cmd.NArgs == 0 {
			return cmdline.Usagef(fs, "takes no arguments, got %q", pos[0])
		}
		return cmdline.Usagef(fs, "needs one argument: %s", cmd.Synopsis)
	}
	if err := cmdline.ApplyEnv(fs, os.LookupEnv); err != nil {
		return err
	}
	if ctx, err = op(ctx); err != nil {
		return err
	}
	conn := server().Conn(stdout)
	defer conn.Close()
	return act(ctx, conn, pos)
}

// Conn is a connection to s that dials on first use; Close it.
func (s Server) Conn(out io.Writer) *Conn {
	c := &Conn{Out: out}
	c.Dial = func() (*natsapi.Client, error) {
		nc, client, err := s.dial()
		c.nc = nc
		return client, err
	}
	return c
}

// dial connects to the server named by --nats or found through
// <data>/nats.json.
func (s Server) dial() (*nats.Conn, *natsapi.Client, error) {
	if err := s.NATS.Validate(); err != nil {
		return nil, nil, err
	}
	url, prefix := s.NATS.URL, s.NATS.Prefix
	opts := []nats.Option{nats.Name("kibubu operator"), nats.Timeout(natsconn.ConnectTimeout)}
	var hint string
	if url != "" {
		auth, err := s.NATS.AuthOptions()
		if err != nil {
			return nil, nil, err
		}
		opts = append(opts, auth...)
		hint = "is a wallet connected to that NATS?"
	} else {
		info, err := natsserver.ReadInfo(s.Data)
		if err != nil {
			return nil, nil, err
		}
		url = info.URL
		if prefix == "" {
			prefix = info.Prefix
		}
		opts = append(opts, nats.UserInfo(info.User, info.Password))
		hint = fmt.Sprintf("is `kibubu serve --data %s` running?", s.Data)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach the server at %s (%s): %w", cmdline.Redact(url), hint, err)
	}
	return nc, natsapi.NewClient(nc, 0, natsapi.WithPrefix(prefix)), nil
}
