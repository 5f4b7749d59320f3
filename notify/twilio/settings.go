package twilio

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/kibubu/kibubu/internal/cmdline"
)

// The environment variables Twilio's credentials and sender come from (or
// the files their _FILE variants name). They are never flags: a flag's
// value shows in the process list.
const (
	EnvAccountSID          = "TWILIO_ACCOUNT_SID"
	EnvAuthToken           = "TWILIO_AUTH_TOKEN"
	EnvFrom                = "TWILIO_FROM"
	EnvMessagingServiceSID = "TWILIO_MESSAGING_SERVICE_SID"
)

// ReadEnv fills the account, token and sender from the TWILIO_* variables
// found by lookup (os.LookupEnv), or from the files their TWILIO_*_FILE
// variables name, trimmed; a variable not set leaves its field as it is.
func (c *Config) ReadEnv(lookup func(string) (string, bool)) error {
	for _, v := range []struct {
		name  string
		field *string
	}{{EnvAccountSID, &c.AccountSID}, {EnvAuthToken, &c.AuthToken}, {EnvFrom, &c.From}, {EnvMessagingServiceSID, &c.MessagingServiceSID}} {
		s, ok, err := cmdline.LookupEnv(v.name, lookup)
		if err != nil {
			return err
		}
		if ok {
			*v.field = strings.TrimSpace(s)
		}
	}
	return nil
}

// Configured reports whether an account is given; without one a command
// sends SMS to the local outbox instead.
func (c *Config) Configured() bool { return c.AccountSID != "" }

// ValidateGiven checks settings an operator gave, before anything starts:
// the TWILIO_* variables go together (an account needs its token; a
// sender is one of TWILIO_FROM and TWILIO_MESSAGING_SERVICE_SID, not
// both), and an APIURL must be an absolute http(s) URL. The messages name
// the variables; a bad APIURL is a *cmdline.SettingError for "APIURL", so
// a command names its flag (cmdline.Flagged). It does not require a
// sender: a gateway verifies Twilio's webhooks with the account alone
// (RequireSender is the sending side's check).
func (c *Config) ValidateGiven() error {
	if c.APIURL != "" {
		if u, err := url.Parse(c.APIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return cmdline.Settingf("APIURL", fmt.Sprintf("%q", c.APIURL), "want an http(s) URL such as https://api.twilio.com")
		}
	}
	switch {
	case c.AccountSID == "" && (c.AuthToken != "" || c.From != "" || c.MessagingServiceSID != ""):
		return fmt.Errorf("%s is not set: give it with %s to send through Twilio, or unset the other TWILIO_* variables to use the local outbox", EnvAccountSID, EnvAuthToken)
	case c.AccountSID != "" && c.AuthToken == "":
		return fmt.Errorf("%s is set without %s", EnvAccountSID, EnvAuthToken)
	case c.AccountSID != "" && c.From != "" && c.MessagingServiceSID != "":
		return fmt.Errorf("give one of %s and %s, not both", EnvFrom, EnvMessagingServiceSID)
	}
	return nil
}

// RequireSender is the check of a configured account that is to send: it
// needs TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID.
func (c *Config) RequireSender() error {
	if c.Configured() && c.From == "" && c.MessagingServiceSID == "" {
		return fmt.Errorf("sending through Twilio needs %s or %s", EnvFrom, EnvMessagingServiceSID)
	}
	return nil
}
