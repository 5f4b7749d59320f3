package notify

// WebhookOption adjusts ServeWebhooks and ValidateWebhookURL: what URLs a
// merchant may register.
type WebhookOption func(*webhookOptions)

type webhookOptions struct {
	requireHTTPS bool
	allowPrivate bool
}

// RequireHTTPS makes the webhook service refuse http URLs. Production should
// use it: the body carries payments, and the signature proves who sent it,
// not that nobody read it.
func RequireHTTPS() WebhookOption { return func(o *webhookOptions) { o.requireHTTPS = true } }

// AllowPrivate lets merchants register URLs whose host is a loopback,
// private, link-local or other non-public literal address, or a localhost
// name: for a developer's receiver on this machine, and tests. Without it
// they are refused (CodeInvalid), as a guarded WebhookSender refuses to
// connect to them; it goes with WebhookSenderConfig.AllowPrivate.
// Production must not use it.
func AllowPrivate() WebhookOption { return func(o *webhookOptions) { o.allowPrivate = true } }

func webhookOptionsOf(opts []WebhookOption) webhookOptions {
	var o webhookOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}
