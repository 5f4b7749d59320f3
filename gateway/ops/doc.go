// Package ops is the operator back-office (/ops): server-rendered
// html/template pages, embedded with their one CSS file, for the people who
// run the service (support, makers and checkers, finance, auditors, admins).
//
// It owns the pages, the sign-in form and the session cookie, the CSRF
// check, and the route × role matrix (routes), enforced by one middleware
// for every route. It holds no money or operator logic: operators, their
// passwords, TOTP secrets, lockouts and sessions, and the maker-checker
// proposals are the wallet's (wallet/operator*.go), reached over NATS with
// the operator's credentials; the wallet audits every sign-in and action,
// naming the signed-in operator. Words come from locales (ops.*.toml).
//
// The pages run no script and no inline style: the Content-Security-Policy
// is default-src 'self', and everything works as plain forms and links.
package ops
