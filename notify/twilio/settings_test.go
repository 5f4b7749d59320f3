package twilio_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kibubu/kibubu/internal/cmdline"
	"github.com/kibubu/kibubu/notify/twilio"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "0123456789abcdef0123456789abcdef"
)

func TestValidateGiven(t *testing.T) {
	tests := []struct {
		name    string
		cfg     twilio.Config
		want    string // "" for none
		setting bool   // the error is a *cmdline.SettingError
	}{
		{name: "nothing: the local outbox"},
		{name: "account, token and number", cfg: twilio.Config{AccountSID: testSID, AuthToken: testToken, From: "KIBUBU"}},
		{name: "account and token only", cfg: twilio.Config{AccountSID: testSID, AuthToken: testToken}},
		{name: "token without account", cfg: twilio.Config{AuthToken: testToken}, want: "TWILIO_ACCOUNT_SID is not set: give it with TWILIO_AUTH_TOKEN"},
		{name: "sender without account", cfg: twilio.Config{From: "KIBUBU"}, want: "TWILIO_ACCOUNT_SID is not set"},
		{name: "account without token", cfg: twilio.Config{AccountSID: testSID}, want: "TWILIO_ACCOUNT_SID is set without TWILIO_AUTH_TOKEN"},
		{name: "number and service", cfg: twilio.Config{AccountSID: testSID, AuthToken: testToken, From: "KIBUBU", MessagingServiceSID: "MG0123"},
			want: "give one of TWILIO_FROM and TWILIO_MESSAGING_SERVICE_SID, not both"},
		{name: "api url without scheme", cfg: twilio.Config{APIURL: "api.twilio.com"}, want: `APIURL "api.twilio.com": want an http(s) URL`, setting: true},
		{name: "api url local", cfg: twilio.Config{APIURL: "http://127.0.0.1:8080/twilio"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.ValidateGiven()
			var se *cmdline.SettingError
			if got := errString(err); (tc.want == "") != (err == nil) || !strings.Contains(got, tc.want) || errors.As(err, &se) != tc.setting {
				t.Errorf("got %q (setting error %v), want %q (setting error %v)", got, errors.As(err, &se), tc.want, tc.setting)
			}
		})
	}
}

func TestRequireSender(t *testing.T) {
	tests := []struct {
		name string
		cfg  twilio.Config
		want string
	}{
		{name: "not configured", cfg: twilio.Config{}},
		{name: "number", cfg: twilio.Config{AccountSID: testSID, AuthToken: testToken, From: "KIBUBU"}},
		{name: "service", cfg: twilio.Config{AccountSID: testSID, AuthToken: testToken, MessagingServiceSID: "MG0123"}},
		{name: "no sender", cfg: twilio.Config{AccountSID: testSID, AuthToken: testToken}, want: "sending through Twilio needs TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := errString(tc.cfg.RequireSender()); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadEnv(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(" "+testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		want twilio.Config
		err  string
	}{
		{name: "none", want: twilio.Config{From: "kept"}},
		{name: "all", env: map[string]string{"TWILIO_ACCOUNT_SID": " " + testSID, "TWILIO_AUTH_TOKEN": testToken, "TWILIO_FROM": "KIBUBU", "TWILIO_MESSAGING_SERVICE_SID": "MG0123"},
			want: twilio.Config{AccountSID: testSID, AuthToken: testToken, From: "KIBUBU", MessagingServiceSID: "MG0123"}},
		{name: "token from a file", env: map[string]string{"TWILIO_ACCOUNT_SID": testSID, "TWILIO_AUTH_TOKEN_FILE": tokenFile},
			want: twilio.Config{AccountSID: testSID, AuthToken: testToken, From: "kept"}},
		{name: "both the variable and its file", env: map[string]string{"TWILIO_AUTH_TOKEN": testToken, "TWILIO_AUTH_TOKEN_FILE": tokenFile},
			err: "TWILIO_AUTH_TOKEN and TWILIO_AUTH_TOKEN_FILE are both set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := twilio.Config{From: "kept"}
			err := c.ReadEnv(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if got := errString(err); !strings.Contains(got, tc.err) || (tc.err == "") != (err == nil) {
				t.Fatalf("got error %q, want %q", got, tc.err)
			}
			if err == nil && c != tc.want {
				t.Errorf("got %+v, want %+v", c, tc.want)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
