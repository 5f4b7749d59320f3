// Package smsctl holds the SMS commands: `kibubu sms send` texts the
// keyword service as a phone would through Africa's Talking (with
// gateway/aggregator's client), `kibubu sms outbox` and `kibubu sms retry`
// read and requeue the SMS the notifier recorded (notifystore.Store), and
// `kibubu notify replay` records receipts the notifier missed
// (notifyapi.Replay). Each is a thin command over those packages; the root
// command only dispatches to Run and Replay with its defaults.
package smsctl

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kibubu/kibubu/gateway/aggregator"
	"github.com/kibubu/kibubu/internal/cmdline"
	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/notify"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	notifystore "github.com/kibubu/kibubu/notify/store"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/walletctl"
)

const (
	// smsSendShortcode is the number the simulated phone texts.
	smsSendShortcode = "22334"
	// smsSendTimeout bounds the webhook call.
	smsSendTimeout = 15 * time.Second
	// smsReplyWait bounds the wait for the reply to be recorded: the
	// notifier records it from its stream at once.
	smsReplyWait = 3 * time.Second
	// smsSettle is how long to wait, once a first SMS arrived, for the
	// others (a send's receipt to the sender, then the recipient's).
	smsSettle = 300 * time.Millisecond
	// smsReplyPoll paces that wait.
	smsReplyPoll = 100 * time.Millisecond
	// smsBodyMax is Twilio's own bound on a message body, in characters.
	smsBodyMax = 1600
	// smsErrorBodyMax bounds how much of an error reply is quoted.
	smsErrorBodyMax = 120
	// smsOutboxLimit is how many SMS `sms outbox` shows by default.
	smsOutboxLimit = 20
)

const smsSynopsis = `Usage:
  kibubu sms send [--phone P] [--data DIR | --server URL --secret S --db DB] TEXT…
  kibubu sms outbox [--phone P] [--status S] [--limit N] [--data DIR | --db DB]
  kibubu sms retry [--data DIR | --db DB] ID…
`

// Defaults are the root command's defaults the SMS commands share: --data,
// --region (for phones written without a country code) and --tz.
type Defaults struct {
	Data, Region, TZ string
}

// Run runs `kibubu sms VERB …`.
func Run(ctx context.Context, args []string, stdout io.Writer, d Defaults) error {
	if len(args) == 0 {
		return &cmdline.UsageError{Msg: "sms needs a command: send, outbox, retry", Usage: smsSynopsis}
	}
	switch args[0] {
	case "send":
		return send(ctx, args[1:], stdout, d)
	case "outbox":
		return outbox(ctx, args[1:], stdout, d)
	case "retry":
		return retry(ctx, args[1:], stdout, d)
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, smsSynopsis)
		return nil
	}
	return &cmdline.UsageError{Msg: fmt.Sprintf("unknown command %q", "sms "+args[0]), Usage: smsSynopsis}
}

// database names the database the notifier records SMS in.
type database struct {
	Data, DB string
}

// flags registers the flags naming the database.
func (c *database) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Data, "data", c.Data, "data `dir`ectory of the running server")
	fs.StringVar(&c.DB, "db", c.DB, "the database: SQLite `path` or postgres:// URL (default "+cmdline.DBDefault+")")
}

// open opens the notifier's table in the database c names.
func (c *database) open(ctx context.Context) (*notifystore.Store, func(), error) {
	return OpenStore(ctx, c.Data, c.DB)
}

// OpenStore opens the notifier's table in the database dsn, or when dsn
// is empty in the SQLite database of the server serving from dataDir;
// close closes the database.
func OpenStore(ctx context.Context, dataDir, dsn string) (st *notifystore.Store, close func(), err error) {
	if dsn == "" {
		dsn = cmdline.DB(dataDir, "")
		if _, err := os.Stat(dsn); err != nil {
			return nil, nil, fmt.Errorf("no database at %s (is `kibubu serve --data %s` running? or pass --db)", dsn, dataDir)
		}
	}
	db, err := store.Connect(ctx, dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("--db %s: %w", cmdline.Redact(dsn), err)
	}
	close = func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	}
	if st, err = notifystore.Open(ctx, db); err != nil {
		close()
		return nil, nil, err
	}
	return st, close, nil
}

// outbox lists recorded SMS, newest first.
func outbox(ctx context.Context, args []string, stdout io.Writer, d Defaults) error {
	cfg := database{Data: d.Data}
	fs := flag.NewFlagSet("sms outbox", flag.ContinueOnError)
	cfg.flags(fs)
	phone := fs.String("phone", "", "only the SMS to this `phone`")
	status := fs.String("status", "", "only the SMS in this `status`: pending, sending, queued, sent, delivered, undelivered or failed")
	limit := fs.Int("limit", smsOutboxLimit, "at most this many `SMS`")
	synopsis := "kibubu sms outbox [--phone P] [--status S] [--limit N] [--data DIR | --db DB]\n\nLists the SMS the notifier recorded, newest first: the local outbox when no Twilio\ncredentials are configured, and every receipt and reply with its delivery status.\n"
	if err := cmdline.ParseCommand(fs, args, synopsis, stdout); err != nil {
		return err
	}
	f := notifystore.Filter{Status: *status, Limit: *limit}
	if *limit < 1 || *limit > 1000 {
		return cmdline.Usagef(fs, "--limit %d: must be 1 to 1000", *limit)
	}
	if *phone != "" {
		p, err := wallet.NormalizePhone(*phone, d.Region)
		if err != nil {
			return cmdline.Usagef(fs, "--phone %q is not a phone number", *phone)
		}
		f.Phone = p
	}
	st, done, err := cfg.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	rows, err := st.List(ctx, f)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "no SMS")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tTO\tSTATUS\tVIA\tPARTS\tTEXT")
	for _, r := range rows {
		via := r.Provider
		if via == "" {
			via = "-"
		}
		state := r.Status
		if r.LastError != "" && (r.Status == notify.StatusFailed || r.Status == notify.StatusUndelivered || r.Status == notify.StatusPending) {
			state += " (" + cmdline.OneLine(r.LastError) + ")"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d %s\t%s\n", r.ID, r.Created.Local().Format("2006-01-02 15:04:05"), r.To, state, via,
			r.Parts, r.Encoding, strings.ReplaceAll(r.Text, "\n", " / "))
	}
	return tw.Flush()
}

// retry makes failed SMS pending again, for an operator who fixed what
// made them fail; the notifier sends them at its next poll.
func retry(ctx context.Context, args []string, stdout io.Writer, d Defaults) error {
	cfg := database{Data: d.Data}
	fs := flag.NewFlagSet("sms retry", flag.ContinueOnError)
	cfg.flags(fs)
	synopsis := "kibubu sms retry [--data DIR | --db DB] ID…\n\nSends again the failed SMS with these ids (from `kibubu sms outbox --status failed`),\nwith a fresh count of attempts. SMS that are not failed are left alone.\n"
	pos, err := cmdline.ParseArgs(fs, args, synopsis, stdout)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return cmdline.Usagef(fs, "give the ids of the failed SMS to send again")
	}
	ids := make([]int64, len(pos))
	for i, p := range pos {
		if ids[i], err = strconv.ParseInt(p, 10, 64); err != nil || ids[i] <= 0 {
			return cmdline.Usagef(fs, "%q is not an SMS id", p)
		}
	}
	st, done, err := cfg.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	n, err := st.Requeue(ctx, ids...)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d of %d queued to send again\n", n, len(ids))
	if n < len(ids) {
		fmt.Fprintln(stdout, "the others are not failed SMS: they are sent, on their way, or unknown")
	}
	return nil
}

// send texts the keyword service from a simulated phone through the
// Africa's Talking webhook and prints the reply, which the notifier records
// (and sends through Twilio or to the outbox).
func send(ctx context.Context, args []string, stdout io.Writer, d Defaults) error {
	cfg := database{Data: d.Data}
	fs := flag.NewFlagSet("sms send", flag.ContinueOnError)
	cfg.flags(fs)
	phone := fs.String("phone", aggregator.PhoneDefault, "the `phone` number texting")
	server := fs.String("server", "", "the server's base `url` (default: read from <data>/http.url)")
	secret := fs.String("secret", "", "the webhook's shared `secret`, hex (default: read from <data>/sms.secret)")
	synopsis := "kibubu sms send [--phone P] [--data DIR | --server URL --secret S --db DB] TEXT…\n\nTexts TEXT to the SMS keyword service from a simulated phone, as Africa's Talking\nwould deliver it, and prints the reply. Try HELP, BAL, SEND 0712345678 100, then your PIN.\n"
	pos, err := cmdline.ParseArgs(fs, args, synopsis, stdout)
	if err != nil {
		return err
	}
	text := strings.TrimSpace(strings.Join(pos, " "))
	switch {
	case text == "":
		return cmdline.Usagef(fs, "give the text to send, e.g. HELP")
	case len([]rune(text)) > smsBodyMax:
		return cmdline.Usagef(fs, "the text is %d characters; an SMS carries at most %d", len([]rune(text)), smsBodyMax)
	}
	base := *server
	if base == "" {
		if base, err = aggregator.ReadServerURL(cfg.Data); err != nil {
			return err
		}
	} else if err := aggregator.CheckServerURL(base); err != nil {
		return cmdline.Usagef(fs, "--server %q: %v", base, err)
	}
	if *secret == "" {
		b, err := os.ReadFile(filepath.Join(cfg.Data, aggregator.SMSSecretFile))
		if err != nil {
			return fmt.Errorf("no SMS secret: %w (pass --secret)", err)
		}
		*secret = hex.EncodeToString(b)
	}
	st, done, err := cfg.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	to, err := wallet.NormalizePhone(*phone, d.Region)
	if err != nil {
		return cmdline.Usagef(fs, "--phone %q is not a phone number", *phone)
	}
	var last int64
	if rows, err := st.List(ctx, notifystore.Filter{Phone: to, Limit: 1}); err != nil {
		return err
	} else if len(rows) == 1 {
		last = rows[0].ID
	}
	var idb [8]byte
	rand.Read(idb[:])
	id := "ATXid_sim" + hex.EncodeToString(idb[:])
	agg := &aggregator.Client{Base: base, HTTP: &http.Client{Timeout: smsSendTimeout}, SMSSecret: *secret}
	err = agg.SendSMS(ctx, aggregator.SMS{From: *phone, To: smsSendShortcode, Text: text, ID: id,
		Date: time.Now().UTC().Format("2006-01-02 15:04:05")})
	var re *aggregator.ReplyError
	if errors.As(err, &re) {
		body := re.Body[:min(len(re.Body), smsErrorBodyMax)]
		return fmt.Errorf("the server answered %s: %s", re.Status, strings.TrimSpace(string(body)))
	}
	if err != nil {
		return fmt.Errorf("cannot reach the server: %w", err)
	}
	// The reply, and any receipt the command caused, are SMS the notifier
	// records for this phone: show what arrives after the text was sent.
	deadline := time.Now().Add(smsReplyWait)
	var quiet time.Time // once something arrived, wait a little for the rest
	for {
		rows, err := st.List(ctx, notifystore.Filter{Phone: to, Limit: 10})
		if err != nil {
			return err
		}
		var fresh []notify.Stored
		for _, r := range rows {
			if r.ID > last {
				fresh = append(fresh, r)
			}
		}
		switch {
		case len(fresh) > 0 && quiet.IsZero():
			quiet = time.Now().Add(smsSettle)
		case len(fresh) > 0 && time.Now().After(quiet):
			for i := len(fresh) - 1; i >= 0; i-- {
				fmt.Fprintln(stdout, fresh[i].Text)
			}
			return nil
		case len(fresh) == 0 && time.Now().After(deadline):
			// A sender over the reply limit, or a duplicate, gets none.
			fmt.Fprintln(stdout, "(no reply)")
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(smsReplyPoll):
		}
	}
}

// Replay runs `kibubu notify replay --since T`; serverFlags are the root
// command's flags naming the running server.
func Replay(ctx context.Context, args []string, stdout io.Writer, d Defaults, serverFlags walletctl.ServerFlags) error {
	var cfg database
	fs := flag.NewFlagSet("notify replay", flag.ContinueOnError)
	server := serverFlags(fs)
	fs.StringVar(&cfg.DB, "db", cfg.DB, "the database the notifier records SMS in: SQLite `path` or postgres:// URL (default "+cmdline.DBDefault+")")
	tz := fs.String("tz", d.TZ, "IANA time `zone` of the dates in receipts, as the notifier's --tz")
	since := fs.String("since", "", "`time` from which to re-derive receipts: RFC 3339 (2026-11-21T08:00:00+03:00), a date (2026-11-21, local midnight in --tz) or a duration ago (2h)")
	synopsis := "kibubu notify replay --since T [--data DIR | --nats URL --db DB]\n\nRe-derives from the wallet's database the receipts of every transfer created since T\nand records those the notifier has not, for when its event stream lost messages.\nReceipts already recorded are left alone: it is safe to run more than once.\n"
	if err := cmdline.ParseCommand(fs, args, synopsis, stdout); err != nil {
		return err
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil || *tz == "" {
		return cmdline.Usagef(fs, "--tz %q: not an IANA time zone", *tz)
	}
	from, err := parseSince(*since, time.Now(), loc)
	if err != nil {
		return cmdline.Usagef(fs, "--since %q: %v", *since, err)
	}
	srv := server()
	cfg.Data = srv.Data
	conn := srv.Conn(stdout)
	defer conn.Close()
	cur, err := conn.Currency(ctx)
	if err != nil {
		return err
	}
	client, _ := conn.Client() // connected by Currency
	st, done, err := cfg.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	cat, err := locales.New()
	if err != nil {
		return err
	}
	res, err := notifyapi.Replay(ctx, client, st, cat, cur, loc, from)
	if err != nil {
		return walletctl.Err(err)
	}
	fmt.Fprintf(stdout, "since %s: %d transfers, %d receipts, %d recorded now (the others were already)\n",
		from.In(loc).Format(time.RFC3339), res.Events, res.Receipts, res.Recorded)
	return nil
}

// parseSince reads --since: RFC 3339, a date (midnight in loc) or a
// duration before now.
func parseSince(s string, now time.Time, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("required")
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, errors.New("want RFC 3339 (2026-11-21T08:00:00+03:00), a date (2026-11-21) or a duration ago (2h)")
}
