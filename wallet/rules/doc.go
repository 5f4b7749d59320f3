// Package rules is the wallet's fraud rules engine: a TOML rules file,
// loaded and validated (Load), and an Engine that implements
// wallet.RuleChecker over it.
//
// The Engine keeps, per account, the transfers it debited within the
// longest window any rule looks at, in memory, fed by the wallet with each
// committed transfer (Committed); Check reads only that, under one mutex,
// so a check costs a few comparisons and no database query. A process
// restarted starts with empty windows (see Engine.Committed to warm them).
//
// It must not move money or read the database: what a rule decides, the
// wallet acts on (wallet.RuleChecker).
package rules
