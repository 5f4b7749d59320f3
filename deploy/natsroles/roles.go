// Package natsroles holds the NATS permissions of each of Kibubu's
// processes, in one place: the embedded server gives its gateway user the
// Gateway role's, and deploy/nats/users.conf, the users of a NATS cluster,
// is generated from the same definitions (go generate ./deploy/natsroles), so the
// two cannot drift. A test fails when the committed file differs from what
// the code generates.
//
// Each role gets what its process does and no more: the wallet serves the
// wallet's requests and owns every stream and bucket; a gateway asks the
// wallet (never its operator subjects), keeps USSD sessions and merchant
// idempotency records in their buckets and hands SMS to the notifier; the
// notifier consumes the wallet's events and its own work queue and serves
// the merchant webhook requests; an operator asks the wallet anything,
// operator subjects included, and nothing else.
//
// Which of the wallet's subjects are an operator's is not listed here: it
// is read from the endpoints' declarations (natsapi.OperatorSubjects,
// merchantapi.OperatorSubjects, each derived from its natsrpc.Endpoint
// values), so declaring an operator endpoint denies it to gateways, and
// regenerating users.conf is all a deployment needs.
package natsroles

//go:generate go run ./gen -o ../nats/users.conf

import (
	"slices"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/kibubu/kibubu/gateway"
	notifyapi "github.com/kibubu/kibubu/notify/natsapi"
	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/natsrpc"
)

// Role is one kind of Kibubu process on NATS.
type Role string

const (
	// Wallet is `kibubu wallet` (and `kibubu migrate`, which creates the
	// streams and buckets as a wallet does).
	Wallet Role = "wallet"
	// Gateway is `kibubu gateway`: the part facing the aggregators.
	Gateway Role = "gateway"
	// Notify is `kibubu notify`.
	Notify Role = "notify"
	// Operator is the operator commands (`kibubu agent add`, `float issue`,
	// `ledger check`, …) run by a person.
	Operator Role = "operator"
)

// Roles lists every role, in the order deploy/nats/users.conf has them.
var Roles = []Role{Wallet, Gateway, Notify, Operator}

// Describe says in one line what the role is for (a comment in users.conf).
func (r Role) Describe() string {
	switch r {
	case Wallet:
		return "kibubu wallet and kibubu migrate: serve the wallet's requests, publish its events, create every stream and bucket"
	case Gateway:
		return "kibubu gateway: ask the wallet (no operator subjects), keep USSD sessions and idempotency records, hand SMS to the notifier"
	case Notify:
		return "kibubu notify: consume the wallet's events and the NOTIFY work queue, serve the merchant webhook requests and the back-office's (notify.ops.v1)"
	case Operator:
		return "the operator commands and kibubu ops: ask the wallet anything, operator subjects included, and the notifier's back-office subjects; nothing else"
	}
	return ""
}

// responseTTL bounds how long a serving role may answer a request it
// received (allow_responses): the callers wait at most this long anyway.
const responseTTL = time.Minute

// Permissions returns the role's permissions under a --nats-prefix (""
// for none), or nil for an unknown role.
func Permissions(r Role, prefix string) *server.Permissions {
	under := func(s string) string { return natsrpc.Subject(prefix, s) }
	// The streams and buckets, under the prefix as their makers name them.
	events := natsapi.EventStream(prefix)
	notifyStream := notifyapi.StreamName(prefix)
	bucket := func(b string) string { return natsrpc.Name(b, prefix) }
	sessionsBucket, idemBucket := bucket(sessions.BucketName), bucket(gateway.IdempotencyBucket)
	inbox := []string{nats.InboxPrefix + ">"}
	switch r {
	case Wallet:
		allow := []string{
			// Its events, which the relay publishes on the event stream, and
			// the PIN notices (a start key's SMS) it hands the notifier.
			under(wallet.EventSubjectPrefix + ">"), under(wallet.MerchantEventSubjectPrefix + ">"),
			under(notifyapi.SubjectSend),
			// CreateOrUpdateKeyValue asks for the account's JetStream info
			// (per-message TTL support) before it makes a bucket.
			"$JS.API.INFO",
		}
		// Every stream and bucket: it creates them, at the replicas the
		// deployment asks (--stream-replicas), before it serves.
		for _, s := range []string{events, notifyStream, "KV_" + sessionsBucket, "KV_" + idemBucket} {
			allow = append(allow, "$JS.API.STREAM.CREATE."+s, "$JS.API.STREAM.UPDATE."+s, "$JS.API.STREAM.INFO."+s)
		}
		return &server.Permissions{
			Publish: &server.SubjectPermission{Allow: allow},
			// The wallet's requests (a micro service: its queue group and
			// the $SRV discovery subjects), and replies to its own requests
			// (JetStream's acknowledgements and API answers).
			Subscribe: &server.SubjectPermission{Allow: append([]string{under(natsapi.SubjectPrefix + ".>"), "$SRV.>"}, inbox...)},
			// It answers whoever asked, on their reply subject only.
			Response: &server.ResponsePermission{MaxMsgs: 1, Expires: responseTTL},
		}
	case Gateway:
		return gatewayPermissions(under, sessionsBucket, idemBucket)
	case Notify:
		allow := []string{
			// The wallet's settings (the currency of receipts) and the
			// merchant key checks of the webhook requests it serves.
			under(natsapi.SubjectTariff), under(merchantapi.SubjectMerchantAuth),
		}
		// Bind to both streams (the wallet made them), make or update its
		// durable consumer on each, pull from it and acknowledge.
		for _, s := range []string{events, notifyStream} {
			allow = append(allow,
				"$JS.API.STREAM.INFO."+s,
				"$JS.API.CONSUMER.CREATE."+s+"."+notifyapi.Durable,
				"$JS.API.CONSUMER.INFO."+s+"."+notifyapi.Durable,
				"$JS.API.CONSUMER.MSG.NEXT."+s+"."+notifyapi.Durable,
				"$JS.ACK."+s+"."+notifyapi.Durable+".>",
			)
		}
		return &server.Permissions{
			Publish: &server.SubjectPermission{Allow: allow},
			// The webhook requests and the back-office's (micro services)
			// and its replies.
			Subscribe: &server.SubjectPermission{Allow: append([]string{under("notify.webhooks.v1.>"), under(notifyapi.OpsSubjectPrefix + ".>"), "$SRV.>"}, inbox...)},
			Response:  &server.ResponsePermission{MaxMsgs: 1, Expires: responseTTL},
		}
	case Operator:
		return &server.Permissions{
			// The wallet's subjects, and the notifier's back-office ones
			// (kibubu ops: the SMS outbox, webhook deliveries, failure rates).
			Publish:   &server.SubjectPermission{Allow: []string{under(natsapi.SubjectPrefix + ".>"), under(notifyapi.OpsSubjectPrefix + ".>")}},
			Subscribe: &server.SubjectPermission{Allow: inbox},
		}
	}
	return nil
}

// gatewayPermissions are the gateway's: request the wallet's non-operator
// subjects (natsapi.OperatorSubjects and merchantapi.OperatorSubjects, the
// merchant services' on the same service, are denied, as the design asks of
// every deployment), keep USSD session state in its key-value bucket, and
// receive replies. Nothing else: it cannot serve (and so read) wallet
// requests, publish wallet events, create, change or remove a stream (the
// wallet creates them all), or touch another stream. The prefix moves the
// wallet's subjects and the buckets (sessions.EnsureBucket) alike.
//
// It may also hand the notifier inbound messages and the replies to them,
// delivery reports and consents (notifyapi.Client), but not free text, call the notifier's webhook service, and keep the merchant
// API's idempotency records in their bucket. It needs no publish to
// _INBOX.>: it sends requests, it answers none.
func gatewayPermissions(under func(string) string, buckets ...string) *server.Permissions {
	var deny []string
	for _, s := range slices.Concat(natsapi.OperatorSubjects, merchantapi.OperatorSubjects) {
		deny = append(deny, under(s))
	}
	// The notifier's back-office subjects are not in allow below; denied
	// all the same, so that a later allow cannot open them by mistake.
	deny = append(deny, under(notifyapi.OpsSubjectPrefix+".>"))
	allow := []string{
		under(natsapi.SubjectPrefix + ".>"),
		// Replies for the notifier to send (over Africa's Talking, late USSD
		// outcomes) as catalogue words to a phone that wrote in, never free
		// text (notifyapi.SubjectSend is the wallet's), Twilio's delivery
		// reports and STOP/START: publishes on the notifier's stream, which
		// the wallet creates.
		under(notifyapi.SubjectInbound), under(notifyapi.SubjectReply), under(notifyapi.SubjectReport), under(notifyapi.SubjectConsent),
		// The merchant API's webhook requests to the notifier.
		under(notifyapi.SubjectWebhookSet), under(notifyapi.SubjectWebhookGet),
		under(notifyapi.SubjectWebhookDeliveries), under(notifyapi.SubjectWebhookResend),
	}
	// Its key-value buckets: USSD session state, and the merchant API's
	// idempotency records. For each, exactly what nats.go's jetstream sends
	// for what the gateway does: KeyValue and Status (stream info: binding
	// to the bucket the wallet made), Get, and Create, Update and Delete (a
	// publish on the key). Get is a direct get of a key's last value on a
	// bucket with one replica, and a message get answered by the stream's
	// leader on a replicated one (natsrpc.ReadFromLeader: a follower may be
	// a write behind). A message get also reads by sequence; with one
	// revision kept per key that reaches nothing a direct get of the key
	// does not, in the gateway's own buckets only. Not stream create or
	// update, consumers (Watch, Keys) or purges.
	for _, bucket := range buckets {
		stream := "KV_" + bucket // the stream nats.go keeps a bucket in
		allow = append(allow,
			"$JS.API.STREAM.INFO."+stream,
			"$JS.API.DIRECT.GET."+stream+".>",
			"$JS.API.STREAM.MSG.GET."+stream,
			"$KV."+bucket+".>",
		)
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: allow, Deny: deny},
		Subscribe: &server.SubjectPermission{Allow: []string{nats.InboxPrefix + ">"}},
	}
}
