package main

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

	"gorm.io/gorm"

	"github.com/kibubu/kibubu/gateway/aggregator"
	"github.com/kibubu/kibubu/locales"
	"github.com/kibubu/kibubu/notify"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	notifystore "github.com/kibubu/kibubu/notify/store"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/walletctl"
)

// The SMS commands: `kibubu sms send` texts the keyword service as a phone
// would through Africa's Talking, `kibubu sms outbox` reads the SMS the
// notifier recorded, and `kibubu notify replay` records receipts the
// notifier missed.

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

// runSMS runs `kibubu sms VERB …`.
func runSMS(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return &usageError{msg: "sms needs a command: send, outbox, retry", usage: smsSynopsis}
	}
	switch args[0] {
	case "send":
		return smsSend(ctx, args[1:], stdout)
	case "outbox":
		return smsOutbox(ctx, args[1:], stdout)
	case "retry":
		return smsRetry(ctx, args[1:], stdout)
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, smsSynopsis)
		return nil
	}
	return &usageError{msg: fmt.Sprintf("unknown command %q", "sms "+args[0]), usage: smsSynopsis}
}

// smsStoreFlags registers the flags naming the database the notifier
// records SMS in.
func smsStoreFlags(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.Data, "data", c.Data, "data `dir`ectory of the running server")
	fs.StringVar(&c.DB, "db", c.DB, "the database: SQLite `path` or postgres:// URL (default <data>/kibubu.db)")
}

// openSMSStore opens the notifier's table in the database c names.
func openSMSStore(ctx context.Context, c *Config) (*notifystore.Store, func(), error) {
	dsn := c.DB
	if dsn == "" {
		dsn = filepath.Join(c.Data, "kibubu.db")
		if _, err := os.Stat(dsn); err != nil {
			return nil, nil, fmt.Errorf("no database at %s (is `kibubu serve --data %s` running? or pass --db)", dsn, c.Data)
		}
	}
	db, err := store.Connect(ctx, dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("--db %s: %w", redact(dsn), err)
	}
	closeDB := func() { closeGorm(db) }
	st, err := notifystore.Open(ctx, db)
	if err != nil {
		closeDB()
		return nil, nil, err
	}
	return st, closeDB, nil
}

func closeGorm(db *gorm.DB) {
	if sqlDB, err := db.DB(); err == nil {
		sqlDB.Close()
	}
}

// smsOutbox lists recorded SMS, newest first.
func smsOutbox(ctx context.Context, args []string, stdout io.Writer) error {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("sms outbox", flag.ContinueOnError)
	smsStoreFlags(fs, &cfg)
	phone := fs.String("phone", "", "only the SMS to this `phone`")
	status := fs.String("status", "", "only the SMS in this `status`: pending, sending, queued, sent, delivered, undelivered or failed")
	limit := fs.Int("limit", smsOutboxLimit, "at most this many `SMS`")
	synopsis := "kibubu sms outbox [--phone P] [--status S] [--limit N] [--data DIR | --db DB]\n\nLists the SMS the notifier recorded, newest first: the local outbox when no Twilio\ncredentials are configured, and every receipt and reply with its delivery status.\n"
	if err := parseCommand(fs, args, synopsis, stdout); err != nil {
		return err
	}
	f := notifystore.Filter{Status: *status, Limit: *limit}
	if *limit < 1 || *limit > 1000 {
		return usagef(fs, "--limit %d: must be 1 to 1000", *limit)
	}
	if *phone != "" {
		p, err := wallet.NormalizePhone(*phone, cfg.Region)
		if err != nil {
			return usagef(fs, "--phone %q is not a phone number", *phone)
		}
		f.Phone = p
	}
	st, done, err := openSMSStore(ctx, &cfg)
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
			state += " (" + oneLine(r.LastError) + ")"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d %s\t%s\n", r.ID, r.Created.Local().Format("2006-01-02 15:04:05"), r.To, state, via,
			r.Parts, r.Encoding, strings.ReplaceAll(r.Text, "\n", " / "))
	}
	return tw.Flush()
}

// smsRetry makes failed SMS pending again, for an operator who fixed what
// made them fail; the notifier sends them at its next poll.
func smsRetry(ctx context.Context, args []string, stdout io.Writer) error {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("sms retry", flag.ContinueOnError)
	smsStoreFlags(fs, &cfg)
	synopsis := "kibubu sms retry [--data DIR | --db DB] ID…\n\nSends again the failed SMS with these ids (from `kibubu sms outbox --status failed`),\nwith a fresh count of attempts. SMS that are not failed are left alone.\n"
	pos, err := parseInterleaved(fs, args, synopsis, stdout)
	if err != nil {
		return err
	}
	if err := applyEnv(fs, os.LookupEnv); err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef(fs, "give the ids of the failed SMS to send again")
	}
	ids := make([]int64, len(pos))
	for i, p := range pos {
		if ids[i], err = strconv.ParseInt(p, 10, 64); err != nil || ids[i] <= 0 {
			return usagef(fs, "%q is not an SMS id", p)
		}
	}
	st, done, err := openSMSStore(ctx, &cfg)
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

// smsSend texts the keyword service from a simulated phone through the
// Africa's Talking webhook and prints the reply, which the notifier records
// (and sends through Twilio or to the outbox).
func smsSend(ctx context.Context, args []string, stdout io.Writer) error {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("sms send", flag.ContinueOnError)
	smsStoreFlags(fs, &cfg)
	phone := fs.String("phone", dialPhoneDefault, "the `phone` number texting")
	server := fs.String("server", "", "the server's base `url` (default: read from <data>/http.url)")
	secret := fs.String("secret", "", "the webhook's shared `secret`, hex (default: read from <data>/sms.secret)")
	synopsis := "kibubu sms send [--phone P] [--data DIR | --server URL --secret S --db DB] TEXT…\n\nTexts TEXT to the SMS keyword service from a simulated phone, as Africa's Talking\nwould deliver it, and prints the reply. Try HELP, BAL, SEND 0712345678 100, then your PIN.\n"
	pos, err := parseInterleaved(fs, args, synopsis, stdout)
	if err != nil {
		return err
	}
	if err := applyEnv(fs, os.LookupEnv); err != nil {
		return err
	}
	text := strings.TrimSpace(strings.Join(pos, " "))
	switch {
	case text == "":
		return usagef(fs, "give the text to send, e.g. HELP")
	case len([]rune(text)) > smsBodyMax:
		return usagef(fs, "the text is %d characters; an SMS carries at most %d", len([]rune(text)), smsBodyMax)
	}
	base := *server
	if base == "" {
		if base, err = readServerURL(cfg.Data); err != nil {
			return err
		}
	} else if err := checkDialServerURL(base); err != nil {
		return usagef(fs, "--server %q: %v", base, err)
	}
	if *secret == "" {
		b, err := os.ReadFile(filepath.Join(cfg.Data, smsSecretFile))
		if err != nil {
			return fmt.Errorf("no SMS secret: %w (pass --secret)", err)
		}
		*secret = hex.EncodeToString(b)
	}
	st, done, err := openSMSStore(ctx, &cfg)
	if err != nil {
		return err
	}
	defer done()
	to, err := wallet.NormalizePhone(*phone, cfg.Region)
	if err != nil {
		return usagef(fs, "--phone %q is not a phone number", *phone)
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

// runReplay runs `kibubu notify replay --since T`.
func runReplay(ctx context.Context, args []string, stdout io.Writer) error {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("notify replay", flag.ContinueOnError)
	cfg.connFlags(fs)
	fs.StringVar(&cfg.DB, "db", cfg.DB, "the database the notifier records SMS in: SQLite `path` or postgres:// URL (default <data>/kibubu.db)")
	fs.StringVar(&cfg.TZ, "tz", cfg.TZ, "IANA time `zone` of the dates in receipts, as the notifier's --tz")
	since := fs.String("since", "", "`time` from which to re-derive receipts: RFC 3339 (2026-11-21T08:00:00+03:00), a date (2026-11-21, local midnight in --tz) or a duration ago (2h)")
	synopsis := "kibubu notify replay --since T [--data DIR | --nats URL --db DB]\n\nRe-derives from the wallet's database the receipts of every transfer created since T\nand records those the notifier has not, for when its event stream lost messages.\nReceipts already recorded are left alone: it is safe to run more than once.\n"
	if err := parseCommand(fs, args, synopsis, stdout); err != nil {
		return err
	}
	loc, err := time.LoadLocation(cfg.TZ)
	if err != nil || cfg.TZ == "" {
		return usagef(fs, "--tz %q: not an IANA time zone", cfg.TZ)
	}
	from, err := parseSince(*since, time.Now(), loc)
	if err != nil {
		return usagef(fs, "--since %q: %v", *since, err)
	}
	o := &operator{cfg: cfg}
	defer o.close()
	conn := &walletctl.Conn{Out: stdout, Dial: o.client}
	cur, err := conn.Currency(ctx)
	if err != nil {
		return err
	}
	client, _ := conn.Client() // connected by Currency
	st, done, err := openSMSStore(ctx, &cfg)
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
