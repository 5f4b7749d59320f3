package notifyd_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kibubu/kibubu/internal/cmdline"
	"github.com/kibubu/kibubu/notify"
	"github.com/kibubu/kibubu/notify/notifyd"
	"github.com/kibubu/kibubu/notify/twilio"
)

// TestConfigValidate: a zero field takes the part's default; a value
// beyond a bound is refused, naming the field.
func TestConfigValidate(t *testing.T) {
	ok := func() notifyd.Config { return notifyd.Config{Currency: kes} }
	cases := []struct {
		name string
		edit func(*notifyd.Config)
		want string // in the error; "" for none
	}{
		{"defaults", func(*notifyd.Config) {}, ""},
		{"the command's defaults", func(c *notifyd.Config) {
			c.SMSRate, c.SMSPhoneRate, c.SMSAttempts, c.SMSTimeout = notify.DefaultSMSRate, notify.DefaultSMSPhoneRate, notify.DefaultSMSAttempts, twilio.DefaultTimeout
			c.WebhookTimeout, c.WebhookRetryFor, c.WebhookRetention = notify.DefaultWebhookTimeout, notify.DefaultWebhookRetryFor, notify.DefaultWebhookRetention
		}, ""},
		{"the bounds", func(c *notifyd.Config) {
			c.SMSRate, c.SMSPhoneRate, c.SMSAttempts, c.SMSTimeout = notifyd.SMSRateMax, notifyd.SMSPhoneRateMax, notifyd.SMSAttemptsMax, notifyd.SMSTimeoutMax
			c.WebhookTimeout, c.WebhookRetryFor, c.WebhookRetention = notifyd.WebhookTimeoutMax, notify.WebhookRetryForMax, notifyd.WebhookRetentionMax
		}, ""},
		{"no currency", func(c *notifyd.Config) { c.Currency.Code = "" }, "currency"},
		{"rate", func(c *notifyd.Config) { c.SMSRate = notifyd.SMSRateMax + 1 }, "SMSRate"},
		{"negative rate", func(c *notifyd.Config) { c.SMSRate = -1 }, "SMSRate"},
		{"phone rate", func(c *notifyd.Config) { c.SMSPhoneRate = notifyd.SMSPhoneRateMax + 1 }, "SMSPhoneRate"},
		{"attempts", func(c *notifyd.Config) { c.SMSAttempts = notifyd.SMSAttemptsMax + 1 }, "SMSAttempts"},
		{"sms timeout", func(c *notifyd.Config) { c.SMSTimeout = notifyd.SMSTimeoutMax + time.Second }, "SMSTimeout"},
		{"webhook timeout", func(c *notifyd.Config) { c.WebhookTimeout = -time.Second }, "WebhookTimeout"},
		{"retry for too short", func(c *notifyd.Config) { c.WebhookRetryFor = notify.WebhookRetryForMin - time.Hour }, "WebhookRetryFor"},
		{"retry for too long", func(c *notifyd.Config) { c.WebhookRetryFor = notify.WebhookRetryForMax + time.Hour }, "WebhookRetryFor"},
		{"retention", func(c *notifyd.Config) { c.WebhookRetention = time.Hour }, "WebhookRetention"},
		{"backoff", func(c *notifyd.Config) { c.WebhookBackoffMin = -time.Second }, "backoff"},
		{"twilio without a sender", func(c *notifyd.Config) { c.Twilio = &twilio.Config{AccountSID: "AC1", AuthToken: "t"} }, "Twilio"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok()
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// TestConfigValidateGiven: settings each given (a command's flags) take no
// defaults: a zero is a value, refused as a *cmdline.SettingError naming
// the field, which Validate lets through as the default.
func TestConfigValidateGiven(t *testing.T) {
	given := func() notifyd.Config {
		return notifyd.Config{Currency: kes, SMSRate: notify.DefaultSMSRate, SMSPhoneRate: notify.DefaultSMSPhoneRate,
			SMSAttempts: notify.DefaultSMSAttempts, SMSTimeout: twilio.DefaultTimeout, WebhookTimeout: notify.DefaultWebhookTimeout,
			WebhookRetryFor: notify.DefaultWebhookRetryFor, WebhookRetention: notify.DefaultWebhookRetention}
	}
	if c := given(); c.ValidateGiven() != nil {
		t.Fatalf("the defaults: %v", c.ValidateGiven())
	}
	cases := []struct {
		setting string
		zero    func(*notifyd.Config)
	}{
		{"SMSRate", func(c *notifyd.Config) { c.SMSRate = 0 }},
		{"SMSPhoneRate", func(c *notifyd.Config) { c.SMSPhoneRate = 0 }},
		{"SMSAttempts", func(c *notifyd.Config) { c.SMSAttempts = 0 }},
		{"SMSTimeout", func(c *notifyd.Config) { c.SMSTimeout = 0 }},
		{"WebhookTimeout", func(c *notifyd.Config) { c.WebhookTimeout = 0 }},
		{"WebhookRetryFor", func(c *notifyd.Config) { c.WebhookRetryFor = 0 }},
		{"WebhookRetention", func(c *notifyd.Config) { c.WebhookRetention = 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.setting, func(t *testing.T) {
			c := given()
			tc.zero(&c)
			var se *cmdline.SettingError
			if err := c.ValidateGiven(); !errors.As(err, &se) || se.Setting != tc.setting {
				t.Errorf("given zero: got %v, want a setting error naming %s", err, tc.setting)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("zero as the default: got %v, want none", err)
			}
		})
	}
}
