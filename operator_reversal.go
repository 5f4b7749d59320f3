package main

import (
	"github.com/kibubu/kibubu/wallet/walletctl"
)

// reversalCommands are `kibubu reversal list|approve|reject` (issue 11): the
// operator's queue of reversal requests a recipient objected to, or that
// found the money gone.
var reversalCommands = map[string]operatorCommand{
	"list": {
		synopsis: "[--state S,…]",
		summary:  "List reversal requests, oldest first: by default the operator's queue (objected, review).",
		setup:    walletctl.ReversalList,
	},
	"approve": {
		synopsis: "ID --reason R", nargs: 1,
		summary: "Approve reversal request ID: the sender gets the money back, from the hold or, in review,\n" +
			"from the recipient's balance now. R is recorded with your name.",
		setup: walletctl.ReversalDecide(true),
	},
	"reject": {
		synopsis: "ID --reason R", nargs: 1,
		summary: "Reject reversal request ID: the held amount goes back to the recipient. R is recorded with your name.",
		setup:   walletctl.ReversalDecide(false),
	},
}
