// Package natsrpc is how Kibubu's services talk over NATS, written once:
// the wallet's service (wallet/natsapi) and the notifier's webhooks service
// (notify) answer through a Responder, and their clients call them with
// Request.
//
// It owns:
//   - the deployment's prefix: which prefixes are valid (ValidPrefix), a
//     subject under one (Subject, Unprefixed), and a stream's or bucket's
//     name under one (Name);
//   - the answer: a value as JSON, or a refusal as a micro error whose
//     headers carry the code and whose body is the *wallet.Error
//     (Responder), read back by Request; a failure that is not a refusal
//     answered as unavailable when a dependency could not be reached, and
//     as internal otherwise;
//   - the answers' statistics, which micro's own cannot hold for a handler
//     that answers after it returned (Responder.EndpointStats);
//   - reading a replicated key-value bucket from its leader (ReadFromLeader);
//   - the shape of an endpoint's declaration (Endpoint): its subject,
//     request, reply, who may call it and its bounds (the request's bytes,
//     the handler's time), written once, from which its client side (Call),
//     its server side (Handle, on a service's Mux; a struct{} request is
//     not read) and a service's operator subjects (Routes,
//     OperatorSubjects) are derived. The wallet's ledger
//     (wallet/natsapi) and its merchant services
//     (wallet/merchant/merchantapi) declare theirs so.
//
// It must not know any service's subjects, requests or replies, nor hold
// money or merchant logic: those stay with the service that serves them.
//
// It lives under wallet/ because its refusals are the wallet's error
// vocabulary, *wallet.Error with its wallet.Code: the one set of codes
// Kibubu answers with, which the gateway translates once into HTTP and
// locales into words. The notifier's webhooks service answers in the same
// codes so that the gateway reads both services one way. It imports
// package wallet for that type alone, and nothing else of the wallet.
package natsrpc
