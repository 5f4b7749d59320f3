// Package simswap asks the mobile networks whether a phone's SIM changed
// recently, through the CAMARA SIM Swap API (GSMA Open Gateway): POST
// {base}/sim-swap/v2/check {"phoneNumber", "maxAge"} → {"swapped"}, and
// POST {base}/sim-swap/v2/retrieve-date {"phoneNumber"} →
// {"latestSimChange"}, each network with its own OAuth2 client credentials
// and the phone-number prefixes it serves.
//
// A Checker is the wallet's wallet.SIMSwapChecker. It owns the HTTP calls,
// their timeout, a short cache of answers, the policy per action when a
// network is slow or down (fail closed: refuse; fail open: allow, with a
// warning log line and the outcome "error_open" in the metrics), and the
// Prometheus metrics. It must not decide what an answer means for an
// account: the wallet holds the account and refuses the action.
//
// Package camaratest is a fake of the API for tests.
package simswap
