package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/kibubu/kibubu/internal/cmdline"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
	"github.com/kibubu/kibubu/wallet/walletctl"
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
	setup func(fs *flag.FlagSet) walletctl.Action
}

// operatorGroups are the operator commands, by group and verb.
var operatorGroups = map[string]map[string]operatorCommand{
	"agent": {"add": {
		synopsis: "--phone P --name N",
		summary:  "Open an agent account (e-float) operated from phone P and print its agent number and the\nstart key (also sent by SMS to P) its first PIN needs.",
		setup:    walletctl.AgentAdd,
		reason:   reasonOptional,
	}},
	"customer": {"open": {
		synopsis: "--phone P --name N [--tier basic|full] [--lang L]",
		summary: "Open a customer account for phone P (tier full after checking the owner's ID) and print the\n" +
			"start key (also sent by SMS to P) its first PIN needs.",
		setup:  walletctl.CustomerOpen,
		reason: reasonOptional,
	}},
	"float": {"issue": {
		synopsis: "--agent A --amount X --ref R",
		summary: "Issue X of e-float to agent A (number or phone) against cash the agent deposited at the bank\n" +
			"under reference R. R is the idempotency key: issuing the same R again moves nothing and\n" +
			"prints the first transaction, marked as a replay.",
		setup:  walletctl.FloatIssue,
		reason: reasonOptional,
	}},
	"merchant": {"add": {
		synopsis: "--phone P --name N [--paybill]",
		summary:  "Open a till (buy goods) or, with --paybill, a paybill account and print its number.\nP is the merchant's contact phone for receipts.",
		setup:    walletctl.MerchantAdd,
		reason:   reasonOptional,
	}},
	"account": {
		"show": {synopsis: "NUMBER|PHONE", nargs: 1, summary: "Show an account: name, kind, number, phone, tier, status and balance.", setup: walletctl.AccountShow},
		"freeze": {synopsis: "NUMBER|PHONE --reason R", nargs: 1, summary: "Freeze an account: it can neither send nor receive money until unfrozen.",
			setup: walletctl.AccountStatus(wallet.StatusFrozen), reason: reasonRequired},
		"unfreeze": {synopsis: "NUMBER|PHONE --reason R", nargs: 1, summary: "Reactivate a frozen account (a PIN lockout stays: pin reset clears it).",
			setup: walletctl.AccountStatus(wallet.StatusActive), reason: reasonRequired},
	},
	"pin": {"reset": {
		synopsis: "PHONE --reason R", nargs: 1,
		summary: "Clear the PIN of the account PHONE operates and its lockout (not a freeze), and issue a new start key:\n" +
			"printed here and sent by SMS; the owner sets a new PIN with it. An earlier start key stops working.",
		setup:  walletctl.PINReset,
		reason: reasonRequired,
	}},
	"apikey": {
		"create": {
			synopsis: "(--merchant NUMBER --scopes S,… | --operator [--scopes S,…]) [--expires D]",
			summary: "Create an API key for the merchant API: for till or paybill NUMBER with the given scopes\n" +
				"(" + walletctl.ScopeList() + "; \"all\" for every one), or with --operator an operator key\n" +
				"(scopes " + walletctl.OperatorScopeList() + " and the merchant scopes it may grant;\n" +
				"by default all but keys:operator:create). --expires 90d or 2027-01-31: the key stops working then.\n" +
				"The key is printed once and stored only as a hash: keep it safe.",
			setup:  walletctl.APIKeyCreate,
			reason: reasonOptional,
		},
		"list":   {synopsis: "[--merchant NUMBER]", summary: "List API keys (never their secrets): all, or one merchant's.", setup: walletctl.APIKeyList},
		"revoke": {synopsis: "ID --reason R", nargs: 1, summary: "Revoke an API key: it stops working within 30 seconds.", setup: walletctl.APIKeyRevoke, reason: reasonRequired},
	},
	"reversal": reversalCommands,
	"tariff":   {"show": {summary: "Print the fee and commission bands and the customer tier limits.", setup: walletctl.TariffShow}},
	"ledger": {"check": {
		summary: "Verify every ledger invariant over the whole database and print a summary;\nexit status 1 and a list of the violations if any invariant is broken.",
		setup:   walletctl.LedgerCheck,
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
	cfg := DefaultConfig()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	cfg.connFlags(fs)
	act := cmd.setup(fs)
	op := operatorFlags(fs, cmd.reason)
	synopsis := fmt.Sprintf("kibubu %s %s [--data DIR | --nats URL [--nats-creds FILE]]\n\n%s\n", name, cmd.synopsis, cmd.summary)
	pos, err := cmdline.ParseInterleaved(fs, args[1:], synopsis, stdout)
	if err != nil {
		return err
	}
	if len(pos) != cmd.nargs {
		if cmd.nargs == 0 {
			return cmdline.Usagef(fs, "takes no arguments, got %q", pos[0])
		}
		return cmdline.Usagef(fs, "needs one argument: %s", cmd.synopsis)
	}
	if err := cmdline.ApplyEnv(fs, os.LookupEnv); err != nil {
		return err
	}
	if ctx, err = op(ctx); err != nil {
		return err
	}
	o := &operator{cfg: cfg}
	defer o.close()
	return (act(ctx, &walletctl.Conn{Out: stdout, Dial: o.client}, pos))
}

// operator is one operator command's connection to the running server.
type operator struct {
	cfg Config
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
	if !natsrpc.ValidPrefix(prefix) {
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
		return nil, fmt.Errorf("cannot reach the server at %s (%s): %w", cmdline.Redact(url), hint, err)
	}
	o.nc, o.c = nc, natsapi.NewClient(nc, 0, natsapi.WithPrefix(prefix))
	return o.c, nil
}

func (o *operator) close() {
	if o.nc != nil {
		o.nc.Close()
	}
}
