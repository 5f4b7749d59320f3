// Package cmdline holds the kibubu command line's conventions, once, for
// the root command and every tool package (walletctl, smsctl, the dial
// command, the benches): every flag --x-y is also KIBUBU_X_Y, or the file
// KIBUBU_X_Y_FILE names, the flag winning; -h prints a synopsis and the
// flags on stdout; a command line that cannot be run is a *UsageError of
// one line (exit status 2); flags and positional arguments may interleave;
// a setting refused by the package that owns its bounds (a
// *SettingError) is named by its flag (Flagged); the database is
// <data>/kibubu.db unless --db says otherwise (DB). It knows no command;
// commands register their own flags.
package cmdline

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// EnvPrefix prefixes every flag's environment variable: --pepper-file is
// KIBUBU_PEPPER_FILE. A flag given on the command line wins over the variable.
const EnvPrefix = "KIBUBU_"

// envFileSuffix names the variable holding a file whose content is the
// value (KIBUBU_NATS_FILE, TWILIO_AUTH_TOKEN_FILE): the convention of
// Docker and Kubernetes secrets mounted as files, which keeps a secret out
// of the process's environment.
const envFileSuffix = "_FILE"

// envFileBytesMax bounds a value read through a *_FILE variable: a secret
// or a URL, never a document.
const envFileBytesMax = 64 << 10

// UsageError is a command line that cannot be run: exit status 2.
type UsageError struct {
	Msg   string
	Usage string // printed after the message, if set
}

func (e *UsageError) Error() string { return e.Msg }

// Usagef is a usage error of the command fs parses.
func Usagef(fs *flag.FlagSet, format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf("%s: %s (see kibubu %s -h)", fs.Name(), fmt.Sprintf(format, args...), fs.Name())}
}

// EnvName is the environment variable of a flag: --nats-creds is KIBUBU_NATS_CREDS.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// LookupEnv returns the value of the variable name, or the trimmed
// content of the file named by name_FILE; both set is an error.
func LookupEnv(name string, lookup func(string) (string, bool)) (string, bool, error) {
	v, ok := lookup(name)
	path, fromFile := lookup(name + envFileSuffix)
	switch {
	case ok && fromFile:
		return "", false, fmt.Errorf("%s and %s are both set: give one", name, name+envFileSuffix)
	case !fromFile:
		return v, ok, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", name+envFileSuffix, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, envFileBytesMax+1))
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", name+envFileSuffix, err)
	}
	if len(b) > envFileBytesMax {
		return "", false, fmt.Errorf("%s: %s is larger than %d bytes", name+envFileSuffix, path, envFileBytesMax)
	}
	return strings.TrimSpace(string(b)), true, nil
}

// ApplyEnv sets every flag not given on the command line from its
// KIBUBU_* variable, or from the file its KIBUBU_*_FILE variable names, if
// either is set.
func ApplyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] {
			return
		}
		v, ok, lerr := LookupEnv(EnvName(f.Name), lookup)
		if lerr != nil {
			err = lerr
			return
		}
		if ok {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: not a valid value for --%s (%w)", EnvName(f.Name), v, f.Name, serr)
			}
		}
	})
	return err
}

// Parse parses args into fs. On -h it prints synopsis and the flags to
// stdout and returns flag.ErrHelp; other errors are usage errors of one
// line (the flag package's own output, with the full flag list, is dropped).
func Parse(fs *flag.FlagSet, args []string, synopsis string, stdout io.Writer) error {
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
		return &UsageError{Msg: fmt.Sprintf("%s: %v (see kibubu %s -h)", fs.Name(), err, fs.Name())}
	}
	return nil
}

// ParseCommand parses the flags of a command that takes no arguments, then
// fills the flags not given from their KIBUBU_* variables.
func ParseCommand(fs *flag.FlagSet, args []string, synopsis string, stdout io.Writer) error {
	if err := Parse(fs, args, synopsis, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return Usagef(fs, "takes no arguments, got %q", fs.Arg(0))
	}
	return ApplyEnv(fs, os.LookupEnv)
}

// ParseInterleaved parses flags and positional arguments in any order
// (`account show 123456 --data d` as well as `account show --data d 123456`)
// and returns the positional ones. After "--" everything is positional.
func ParseInterleaved(fs *flag.FlagSet, args []string, synopsis string, stdout io.Writer) ([]string, error) {
	var pos []string
	for {
		if err := Parse(fs, args, synopsis, stdout); err != nil {
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

// ParseArgs is ParseInterleaved followed by the KIBUBU_* variables: the
// parse of a command that takes positional arguments.
func ParseArgs(fs *flag.FlagSet, args []string, synopsis string, stdout io.Writer) ([]string, error) {
	pos, err := ParseInterleaved(fs, args, synopsis, stdout)
	if err != nil {
		return nil, err
	}
	return pos, ApplyEnv(fs, os.LookupEnv)
}

// OneLine keeps an error to the one line promised on stderr.
func OneLine(s string) string {
	s = strings.ReplaceAll(s, ":\n", ": ")
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// Redact hides the password in a URL (a PostgreSQL DSN, a NATS URL) for logs.
func Redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// SettingError is a setting refused by the package that owns its bounds
// (notifyd.Config.Validate, walletd.Options.Validate,
// merchant.Config.Validate), naming it by its Go field. A command names it
// by its flag instead (Flagged), so the bounds are written once, where the
// setting is used, and the message still names what the operator typed.
type SettingError struct {
	Setting string // the field, such as "SMSRate" or "Merchant.RequestTTL"
	Value   string // the value refused, as the package prints it
	Want    string // what it must be, such as "must be 1 to 50"
}

func (e *SettingError) Error() string { return e.Setting + " " + e.Value + ": " + e.Want }

// Settingf returns a *SettingError for setting with value v (printed with
// %v) and what it must be.
func Settingf(setting string, v any, format string, args ...any) error {
	return &SettingError{Setting: setting, Value: fmt.Sprint(v), Want: fmt.Sprintf(format, args...)}
}

// Flag is how a command names a setting: its flag, and the value as the
// operator typed it (empty: the package's).
type Flag struct {
	Name  string // without dashes: "sms-rate"
	Value string
}

// Flagged returns err with a *SettingError among flags named by its flag
// ("--sms-rate 0: must be …"); err unchanged otherwise.
func Flagged(err error, flags map[string]Flag) error {
	var se *SettingError
	if !errors.As(err, &se) {
		return err
	}
	f, ok := flags[se.Setting]
	if !ok {
		return err
	}
	v := se.Value
	if f.Value != "" {
		v = f.Value
	}
	return fmt.Errorf("--%s %s: %s", f.Name, v, se.Want)
}

// ShortDuration writes d as a person would in a flag: 24h, 1h30m, 30s
// (time.Duration's String writes 24h0m0s).
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// DBFile is the SQLite database's file in a data directory when --db is
// not given: every command that opens the database (serve, wallet,
// notify, migrate, the notify tools, the benchmarks) finds it there.
const DBFile = "kibubu.db"

// DBDefault is the help text of a --db flag's default.
const DBDefault = "<data>/" + DBFile

// DB returns the database a command opens: db when given, else the SQLite
// file DBFile in dataDir.
func DB(dataDir, db string) string {
	if db != "" {
		return db
	}
	return filepath.Join(dataDir, DBFile)
}
